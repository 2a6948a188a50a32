"""The machine we run on: the cores this process may use, and a description for benchmark and ablation reports.

    available_cores()        # len(os.sched_getaffinity(0)), else os.cpu_count()
    idle_cores()             # of those, how many are idle now (another program's busy cores do not count)
    use_available_cores()    # torch's intra-op threads = idle cores, unless OMP_NUM_THREADS says otherwise
    describe_machine()       # {"cpus", "available_cores", "cpu", "memory_gb", "load_average", versions}
    leave_process_group()    # after a command under `accelerate launch`: wait for the others, destroy the group

`nanoemox bench` and `nanoemox ablate` record `describe_machine()` beside their figures; the `nanoemox` command
calls `use_available_cores()` before a subcommand that runs torch.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import sys
import time
from pathlib import Path

logger = logging.getLogger(__name__)


def available_cores() -> int:
    """Cores this process may run on: its CPU affinity (a container or `taskset` may allow fewer than the machine)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _cpu_times() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat (None off Linux)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def idle_cores(window: float = 0.3) -> int:
    """How many of `available_cores()` are idle: the machine's busy share over `window` seconds (from /proc/stat;
    the 1-minute load average where that is missing) is taken off. At least 1.

    A second CPU-bound program on a 2-core machine leaves 1: torch's threads then do not fight it for a core, which
    slows a training step far more than running on one thread (measured on the demo curriculum, docs/results.md).
    """
    cores = available_cores()
    before = _cpu_times()
    if before is not None:
        time.sleep(window)
        after = _cpu_times()
        total = after[1] - before[1]
        busy_share = (after[0] - before[0]) / total if total > 0 else 0.0
        busy = busy_share * (os.cpu_count() or cores)
    else:
        try:
            busy = os.getloadavg()[0]
        except OSError:
            busy = 0.0
    return max(1, min(cores, cores - int(busy + 0.5)))


def use_available_cores() -> int | None:
    """Set torch's intra-op threads to the idle available cores, so that they oversubscribe neither a restricted CPU
    set nor cores another program keeps busy.

    Left alone (returns None) when `OMP_NUM_THREADS` is set: the user chose. Returns the number of threads set.
    """
    if os.environ.get("OMP_NUM_THREADS"):
        return None
    import torch

    threads = idle_cores()
    if torch.get_num_threads() != threads:
        logger.info("torch threads: %d (of %d available cores, %d idle)", threads, available_cores(), threads)
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


def process_state():
    """accelerate's `PartialState` of this process: which of the `accelerate launch` processes it is. On a machine
    without CUDA the processes join over gloo on the CPU (the shipped `cpu_2proc` config spawns them through
    accelerate's torch.distributed route, which would otherwise leave each one thinking it is alone)."""
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


def leave_process_group() -> None:
    """Leave the `accelerate launch` process group, if this process joined one: every process waits for the others,
    then the group is destroyed. Left to interpreter exit, gloo's threads can be torn down while still running
    ("terminate called without an active exception", exit -6) after all the work is done."""
    if "torch" not in sys.modules:
        return
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
