"""The machine we run on: the cores this process may use, and a description for benchmark and ablation reports.

    available_cores()        # len(os.sched_getaffinity(0)), else os.cpu_count()
    describe_machine()       # {"cpus", "available_cores", "cpu", "memory_gb", "load_average", versions}

`nanoemox bench` and `nanoemox ablate` record `describe_machine()` beside their figures.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
from pathlib import Path

logger = logging.getLogger(__name__)


def available_cores() -> int:
    """Cores this process may run on: its CPU affinity (a container or `taskset` may allow fewer than the machine)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def describe_machine() -> dict:
    """CPU count and model, memory, load average and library versions, as plain JSON values."""
    import torch

    info = {
        "cpus": os.cpu_count(),
        "available_cores": available_cores(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
    try:
        import transformers

        info["transformers"] = transformers.__version__
    except ImportError:
        pass
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory_gb"] = round(int(line.split()[1]) / 2**20, 1)
    with contextlib.suppress(OSError):
        info["load_average"] = os.getloadavg()
    return info
