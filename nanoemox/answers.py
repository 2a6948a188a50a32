"""`nanoemox answers`: a trained run's held-out answers beside their gold labels, as a small table.

    nanoemox answers --run runs/demo/train                  # 5 held-out rows, the tasks taken in turn
    nanoemox answers --run runs/demo/train --num 12 --tasks mer mir

Reads `predictions-<dataset>.jsonl`, which `nanoemox train` writes beside the run after its held-out evaluation: one
row per answered example (`id`, `task`, `prediction`, `reference`). Long answers and labels are cut to `--width`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from nanoemox.cli_inputs import CLIError

COLUMNS = ("id", "task", "gold", "answer")


def predictions_file(run: str | Path, dataset: str | None = None) -> Path:
    """`run/predictions-<dataset>.jsonl`; without `dataset`, the run's only one (ablation files left aside)."""
    run = Path(run)
    if dataset is not None:
        path = run / f"predictions-{dataset}.jsonl"
        if not path.is_file():
            raise CLIError(f"no predictions for dataset {dataset!r} in {run} ({path.name} not found)")
        return path
    found = sorted(p for p in run.glob("predictions-*.jsonl") if "-without_" not in p.name)
    if not found:
        raise CLIError(
            f"no predictions-<dataset>.jsonl in {run}: run `nanoemox train` to the end (without --no-eval) first"
        )
    if len(found) > 1:
        names = ", ".join(p.name.removeprefix("predictions-").removesuffix(".jsonl") for p in found)
        raise CLIError(f"{run} holds predictions for several datasets ({names}); choose one with --dataset")
    return found[0]


def read_predictions(path: str | Path) -> list[dict]:
    rows = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            row = json.loads(line)
            if not isinstance(row, dict) or "prediction" not in row or "reference" not in row:
                raise ValueError(f"{path}:{number}: expected a row with prediction and reference, got {line[:80]!r}")
            rows.append(row)
    return rows


def pick(rows: list[dict], num: int, tasks: list[str] | None = None) -> list[dict]:
    """`num` rows, the tasks (those given, else all, in order of appearance) taken in turn, each in file order."""
    by_task: dict[str, list[dict]] = {}
    for row in rows:
        by_task.setdefault(str(row.get("task")), []).append(row)
    order = [t for t in tasks if t in by_task] if tasks else list(by_task)
    picked, depth = [], 0
    while len(picked) < num and any(depth < len(by_task[t]) for t in order):
        picked += [by_task[t][depth] for t in order if depth < len(by_task[t])]
        depth += 1
    return picked[:num]


def show(value: Any, width: int) -> str:
    """One cell: numbers to two decimals, lists joined, dicts as `key: value; ...`, one line, cut to `width`; an
    answer the evaluation could not get is `(no answer)`, an empty one `(empty)`."""
    if value is None:
        text = "(no answer)"
    elif isinstance(value, float):
        text = f"{value:+.2f}"
    elif isinstance(value, (list, tuple)):
        text = ", ".join(map(str, value))
    elif isinstance(value, dict):
        text = "; ".join(f"{k}: {show(v, width)}" for k, v in value.items())
    else:
        text = str(value)
    text = " ".join(text.split()) or "(empty)"
    return text if len(text) <= width else text[: width - 1] + "…"


def answers_table(rows: list[dict], width: int = 48) -> str:
    """The rows as a plain-text table: id, task, gold label, the model's answer."""
    cells = [
        (show(r.get("id"), 24), show(r.get("task"), 8), show(r["reference"], width), show(r["prediction"], width))
        for r in rows
    ]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(COLUMNS)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(COLUMNS, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nanoemox answers", description="a trained run's held-out answers beside their gold labels"
    )
    parser.add_argument("--run", required=True, help="the output folder of `nanoemox train`")
    parser.add_argument("--dataset", help="whose predictions (default: the run's only dataset)")
    parser.add_argument("--num", type=int, default=5, help="rows to show (default: 5)")
    parser.add_argument("--tasks", nargs="+", help="only these tasks (default: all, taken in turn)")
    parser.add_argument("--width", type=int, default=48, help="cut gold labels and answers to this many characters")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.num < 1 or args.width < 8:
        raise CLIError(f"--num must be at least 1 and --width at least 8, got {args.num} and {args.width}")
    path = predictions_file(args.run, args.dataset)
    rows = pick(read_predictions(path), args.num, args.tasks)
    if not rows:
        raise CLIError(f"{path}: no rows" + (f" of tasks {args.tasks}" if args.tasks else ""))
    print(f"{len(rows)} held-out answers from {path}:\n")
    print(answers_table(rows, args.width))
    return 0
