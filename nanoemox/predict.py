"""`nanoemox predict`: one clip through the `emotion-analysis` pipeline, printed as JSON.

    nanoemox predict --model ckpt/ --video clip.mp4 --task mer --subtitle "I can't believe it"
    nanoemox predict --model ckpt/ --audio speech.wav --task msa
    nanoemox predict --model ckpt/ --subtitle "Thanks so much!" --task erg   # text only

Decoding follows the checkpoint's generation config (the paper's: sampling, top_p 0.9); `--greedy` makes the
answer deterministic. A Multi-LoRA checkpoint (per-task adapters, `lora.per_task` in training) answers with the
adapter of `--task` (`"adapter"` in the output), or with the base and a warning when that task has none.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from nanoemox.cli_inputs import CLIError
from nanoemox.modeling.prompts_nanoemox import TASKS

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nanoemox predict", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="checkpoint folder or Hub id")
    parser.add_argument("--video", help="video file (its audio track is the speech unless --audio is given)")
    parser.add_argument("--audio", help="audio file")
    parser.add_argument("--subtitle", help="what is said in the clip")
    parser.add_argument("--task", default="mer", choices=TASKS)
    parser.add_argument("--faces", help="face-track JSON for the video ([{'time': s, 'box': [x0, y0, x1, y1]}])")
    parser.add_argument("--max-new-tokens", type=int, default=None)
    parser.add_argument("--greedy", action="store_true", help="greedy decoding instead of sampling")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not (args.video or args.audio or args.subtitle):
        raise CLIError("give --video, --audio or --subtitle")
    from transformers import pipeline

    analyse = pipeline("emotion-analysis", model=args.model, trust_remote_code=True)
    kwargs = {"task": args.task}
    if args.max_new_tokens:
        kwargs["max_new_tokens"] = args.max_new_tokens
    if args.greedy:
        kwargs["do_sample"] = False
    sample = {"video": args.video, "audio": args.audio, "subtitle": args.subtitle, "faces": args.faces}
    result = analyse({k: v for k, v in sample.items() if v is not None}, **kwargs)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0
