"""Whether a timeline's memory grows with the video: memory sampled after every window, and its trend.

    python -m nanoemox.timeline.memory long.mp4 --model ckpt/ --output results/timeline_memory.json

    memory = memory_per_window(timeline)   # {"rss_mb": (windows,), "traced_mb": (windows,)}, after each window
    trend(memory["traced_mb"])             # {"windows", "first_mb", "peak_middle_mb", "peak_late_mb",
                                           #  "late_minus_middle_mb", "slope_late_mb_per_window"}

Two measures. `traced_mb` is what Python and numpy hold in live objects (tracemalloc): frames, audio, entries; a
window's frames or audio kept past their window would make it climb by their size per window (8 frames of
320 x 320 are 2.4 MB). `rss_mb` is the process's resident memory (psutil), which also counts torch, OpenCV and
FFmpeg buffers and what the allocator keeps: on a first pass over a video it rises while those reach their working
size (about 150 MB over the first 200 windows of the test minute repeated), then levels; a second pass over the same
video in the same process stays level from its first window. The trend compares the peaks of the second and last
thirds of the windows and fits a line through the last half.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import shlex
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)


def memory_per_window(timeline) -> dict[str, np.ndarray]:
    """Answer every window of `timeline` (a `run.Timeline`), reading resident and traced memory (MB) after each."""
    import psutil

    process = psutil.Process()
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    rss, traced = [], []
    try:
        for _ in timeline:
            rss.append(process.memory_info().rss / 2**20)
            traced.append(tracemalloc.get_traced_memory()[0] / 2**20)
    finally:
        if started:
            tracemalloc.stop()
    return {"rss_mb": np.array(rss), "traced_mb": np.array(traced)}


def trend(values: np.ndarray) -> dict:
    """Level and slope after the warm-up (see the module docstring)."""
    n = len(values)
    if n < 9:
        raise ValueError(f"{n} windows are too few to tell a trend; use a video of at least 9 windows")
    middle, late = values[n // 3 : 2 * n // 3], values[2 * n // 3 :]
    half = np.arange(n // 2, n)
    return {
        "windows": n,
        "first_mb": round(float(values[0]), 2),
        "peak_middle_mb": round(float(middle.max()), 2),
        "peak_late_mb": round(float(late.max()), 2),
        "late_minus_middle_mb": round(float(late.max() - middle.max()), 2),
        "slope_late_mb_per_window": round(float(np.polyfit(half, values[n // 2 :], 1)[0]), 4),
    }


def _commit() -> str | None:
    """The checked-out commit, with "+dirty" when tracked files differ from it (None outside a git work tree)."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "-uno"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nanoemox.timeline.memory", description=__doc__.split("\n")[0])
    parser.add_argument("video")
    parser.add_argument("--model", required=True)
    parser.add_argument("--output", required=True, help="results JSON")
    parser.add_argument("--max-new-tokens", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--video-made-by", help="how the video was made (recorded with the results)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    import torch

    from nanoemox.analyser import load_analyser
    from nanoemox.machine import describe_machine

    from .run import Timeline

    commit = _commit()  # before the run: the code that was measured
    torch.manual_seed(args.seed)
    analyse = load_analyser(args.model, device="cpu")
    passes = []
    for number in (1, 2):  # the second pass over the same video shows the level once buffers are warm
        timeline = Timeline(analyse, args.video, generate={"max_new_tokens": args.max_new_tokens})
        memory = memory_per_window(timeline)
        passes.append(
            {
                "pass": number,
                "rss": trend(memory["rss_mb"]),
                "traced": trend(memory["traced_mb"]),
                "rss_mb_every_10_windows": [round(float(v), 1) for v in memory["rss_mb"][::10]],
            }
        )
        logger.info("pass %d: rss %s; traced %s", number, passes[-1]["rss"], passes[-1]["traced"])
    document = timeline.document()
    result = {
        "kind": "timeline-memory",
        "command": "python -m nanoemox.timeline.memory " + shlex.join(sys.argv[1:] if argv is None else argv),
        "commit": commit,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "seed": args.seed,
        "machine": describe_machine(),
        "video": {
            "path": args.video,
            "made_by": args.video_made_by,
            "duration_s": document["duration"],
            "windows": len(document["windows"]),
        },
        "passes": passes,
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
