"""`nanoemox timeline`: a long video's emotion over time, as timeline.json, timeline.vtt and timeline.png.

    nanoemox timeline talk.mp4 --model ckpt/ --task mer --output talk-timeline/
    nanoemox timeline talk.mp4 --model ckpt/ --task msa --output out/ --window 6 --stride 3 --explain
    nanoemox timeline talk.mp4 --model ckpt/ --task eri --labels "a joke" "bad news" --output out/

The video is cut into windows of --window seconds every --stride seconds, their edges moved (by at most --snap
seconds) into speech pauses where the audio has them; each window is decoded by seeking and answered by the batched
`emotion-analysis` pipeline (greedy decoding unless --sample), with a progress bar. Memory does not grow with the
video's length. A stretch that cannot be decoded is a gap in the JSON and the WebVTT, and the rest is still
answered. The file, the task and the window sizes are checked before the model loads: a file that cannot be read, a
video shorter than one window, a raw stream without timestamps is one line on stderr.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from nanoemox.cli_inputs import FILE, CLIError, check_path
from nanoemox.modeling.prompts_nanoemox import TASKS

from .windows import check_window, probe_media

logger = logging.getLogger(__name__)

DTYPES = ("float32", "bfloat16", "float16")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nanoemox timeline", description=__doc__.split("\n")[0])
    parser.add_argument("video", help="the video file")
    parser.add_argument("--model", required=True, help="checkpoint folder or Hub id")
    parser.add_argument("--task", default="mer", choices=TASKS)
    parser.add_argument("--output", help="folder for timeline.json/.vtt/.png (default: VIDEO's name + -timeline)")
    parser.add_argument("--window", type=float, default=4.0, help="seconds per window (default 4)")
    parser.add_argument("--stride", type=float, default=2.0, help="seconds between window starts (default 2)")
    parser.add_argument("--snap", type=float, default=1.0, help="how far an edge may move into a pause (0: never)")
    parser.add_argument("--labels", nargs="+", help="candidate answers to score (default: the task's label set)")
    parser.add_argument("--explain", action="store_true", help="each branch's share of every answer (attribution)")
    parser.add_argument("--batch-size", type=int, default=4, help="windows per forward pass")
    parser.add_argument("--max-new-tokens", type=int, default=None)
    parser.add_argument("--sample", action="store_true", help="the checkpoint's sampling instead of greedy decoding")
    parser.add_argument("--dtype", choices=DTYPES, default="float32")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (auto: cuda when there is one)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    check_path(args.video, FILE, "VIDEO")
    if args.batch_size < 1:
        raise CLIError(f"--batch-size must be at least 1, got {args.batch_size}")
    info = probe_media(args.video)  # a bad file or window is reported before the model loads
    check_window(info.duration, args.window, args.stride, info.path)
    output = Path(args.output or f"{Path(args.video).stem}-timeline")

    from nanoemox.analyser import load_analyser, supports_explain

    from .outputs import write_timeline
    from .run import Timeline

    if args.explain and not supports_explain():
        raise CLIError("--explain: this version of the emotion-analysis pipeline gives no attribution")
    analyse = load_analyser(args.model, device=args.device, dtype=args.dtype)
    generate = {"do_sample": True} if args.sample else {}
    if args.max_new_tokens:
        generate["max_new_tokens"] = args.max_new_tokens
    timeline = Timeline(
        analyse,
        args.video,
        task=args.task,
        labels=args.labels,
        window=args.window,
        stride=args.stride,
        snap=args.snap,
        explain=args.explain,
        batch_size=args.batch_size,
        generate=generate,
    )
    document = timeline.run()
    paths = write_timeline(document, output)
    for note in document["notes"]:
        logger.warning("%s: %s", info.path, note)
    for gap in document["gaps"]:
        reason = gap["errors"][0] if gap["errors"] else "no window answered"
        logger.warning("gap %.2f-%.2f s: %s", gap["start"], gap["end"], reason)
    logger.info(
        "%s: %d windows, %d answered, %d unreadable; %.1f of %.1f s covered -> %s",
        info.path,
        len(document["windows"]),
        document["answered"],
        document["unreadable"],
        document["covered_seconds"],
        document["duration"],
        ", ".join(str(p) for p in paths.values() if p is not None),
    )
    return 0
