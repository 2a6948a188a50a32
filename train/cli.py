"""`nanoemox train`: run a P2E curriculum, stage after stage, then score the held-out split.

    # the demo: four phases on the embedded demo corpus, on a CPU
    nanoemox data demo --output runs/demo/data
    nanoemox train --config demo --output runs/demo/train
    # the paper's curriculum, checked against the full-size model without data or downloads
    nanoemox train --config paper --dry-run
    # any value of the YAML can be overridden; --wheels scores the OV-MER F (otherwise its exact-set F)
    nanoemox train --config demo --set stages.3.epochs=2 --set seed=1 --wheels shared/reference/emotion_wheel

`--config` takes a YAML file or the name of a shipped preset (paper, joint, reverse, demo, emotion_qwen, egmf).
Every stage's datasets (and the wheels) are checked before anything trains. Running the same command again after
an interruption resumes: finished stages are skipped, the interrupted one continues from its last checkpoint.
"""

from __future__ import annotations

import argparse
import logging

from .curriculum import load_curriculum
from .data import check_datasets
from .engine import dry_run, load_wheels, run_curriculum

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nanoemox train", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--config", required=True, help="curriculum YAML or preset name (paper, joint, reverse, demo, emotion_qwen)"
    )
    parser.add_argument("--output", help="output folder (overrides output_dir)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a YAML value")
    parser.add_argument(
        "--wheels",
        metavar="DIR",
        help="emotion wheel folder for the held-out evaluation (overrides evaluation.wheels): MER hit rate, OV-MER F",
    )
    parser.add_argument("--dry-run", action="store_true", help="validate against the full-size model; print stages")
    parser.add_argument("--no-eval", action="store_true", help="skip the held-out evaluation after the last stage")
    return parser


def print_dry_run(report: dict) -> None:
    """One line per stage (trainable total, steps, learning rate), then its trainable parameters per module."""
    print(f"{'stage / trainable':<36} {'parameters':>14} {'steps':>8}  lr")
    for s in report["stages"]:
        lr = f"{s['learning_rate'][0]:g}" + (f" -> {s['learning_rate'][1]:g}" if s["learning_rate"][1] else "")
        counts = s["trainable_parameters"]
        print(f"{s['name']:<36} {counts['total']:>14,d} {s['steps']:>8}  {lr}")
        for key, n in counts.items():
            if key != "total":
                print(f"  {key:<34} {n:>14,d}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    overrides = list(args.set)
    if args.output:
        overrides.append(f"output_dir={args.output}")
    evaluate = not args.no_eval
    try:
        config = load_curriculum(args.config, overrides)
        if args.wheels:
            config.evaluation.wheels = args.wheels
        if args.dry_run:
            print_dry_run(dry_run(config))
            return 0
        # before anything is composed or trained; a problem is one line naming the dataset, stage and path
        check_datasets(config)
        wheels = load_wheels(config) if evaluate else None
    except ValueError as err:
        raise SystemExit(f"nanoemox train: {err}") from err
    final = run_curriculum(config, evaluate=evaluate, wheels=wheels)
    print(f"final checkpoint: {final}")
    return 0
