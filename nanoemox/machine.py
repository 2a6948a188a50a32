"""The machine we run on: the cores this process may use, and a description for benchmark and ablation reports.

    available_cores()        # len(os.sched_getaffinity(0)), else os.cpu_count()
    use_available_cores()    # torch's intra-op threads = available cores, unless OMP_NUM_THREADS says otherwise
    describe_machine()       # {"cpus", "available_cores", "cpu", "memory_gb", "load_average", versions}

`nanoemox bench` and `nanoemox ablate` record `describe_machine()` beside their figures; the `nanoemox` command
calls `use_available_cores()` before a subcommand that runs torch.
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


def use_available_cores() -> int | None:
    """Set torch's intra-op threads to the available cores, so that they do not oversubscribe a restricted CPU set.

    Left alone (returns None) when `OMP_NUM_THREADS` is set: the user chose. Returns the number of threads set.
    """
    if os.environ.get("OMP_NUM_THREADS"):
        return None
    import torch

    threads = available_cores()
    if torch.get_num_threads() != threads:
        logger.debug("torch threads: %d -> %d (available cores)", torch.get_num_threads(), threads)
        torch.set_num_threads(threads)
    return threads


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
