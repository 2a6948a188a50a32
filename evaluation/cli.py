"""`nanoemox evaluate`: score a predictions file, or compare result files side by side.

    # score one task; FILE is JSONL with rows {"id", "prediction", "reference"}
    nanoemox evaluate --task mer --predictions preds.jsonl --wheels shared/reference/emotion_wheel \\
        --output runs/mer.json                      # writes runs/mer.json and runs/mer.md

    # ERI with an LLM judge on any OpenAI-compatible server (offline proxies are always reported)
    nanoemox evaluate --task eri --predictions eri.jsonl --judge-url http://127.0.0.1:8000/v1 --judge-model qwen

    # print several result files as one markdown table per task
    nanoemox evaluate --compare runs/a.json runs/b.json

    # model mode: generate answers on a schema dataset (greedy, batched), then score them
    nanoemox evaluate --model ckpt/ --data data/ --tasks mer,msa --output runs/eval.json
    # closed-set tasks (mer, mir, msa polarity) answered by their most probable label instead
    nanoemox evaluate --model ckpt/ --data data/ --tasks mer,mir,msa --scoring likelihood

A result file is `{"meta": {...}, "results": {task: {metric: value}}}`; `render_markdown(results)` turns the
`results` part into markdown and is shared with model mode.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .scoring import MSA_SCHEMES, SCORING_MODES, normalize_task, score

logger = logging.getLogger(__name__)


def read_jsonl(path: str | Path) -> list[dict]:
    """Rows of a JSONL file; every row needs `prediction` and `reference` (`id` is optional)."""
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            row = json.loads(line)
            if not isinstance(row, dict) or "prediction" not in row or "reference" not in row:
                raise ValueError(f"{path}:{number}: each row needs 'prediction' and 'reference', got {line[:80]!r}")
            rows.append(row)
    if not rows:
        raise ValueError(f"{path}: no rows")
    return rows


def flatten_metrics(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested metric dicts as dotted keys (`per_wheel.wheel1.hit_rate`); lists are dropped."""
    flat: dict[str, Any] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_metrics(value, prefix=f"{name}."))
        elif not isinstance(value, (list, tuple)):
            flat[name] = value
    return flat


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4f}"
    return str(value)


# ---------------------------------------------------------------------------------------------------------
# shared with model mode: keep the signature stable


def render_markdown(results: Mapping[str, Mapping[str, Any]], title: str | None = None) -> str:
    """Markdown for `{task: {metric: value}}`: one `| metric | value |` table per task (nested keys dotted).

    Used by scoring mode and by model mode (`--model/--data/--tasks`), so both write the same report.
    """
    lines = [f"# {title}", ""] if title else []
    for task, metrics in results.items():
        lines += [f"## {task}", "", "| metric | value |", "|---|---|"]
        lines += [f"| {key} | {_cell(value)} |" for key, value in flatten_metrics(metrics).items()]
        lines.append("")
    return "\n".join(lines)


def render_comparison(named_results: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> str:
    """Markdown comparing several result sets `{name: {task: metrics}}`: per task, metrics by row, names by column."""
    names = list(named_results)
    tasks = list(dict.fromkeys(task for results in named_results.values() for task in results))
    lines: list[str] = []
    for task in tasks:
        flat = {name: flatten_metrics(named_results[name].get(task, {})) for name in names}
        keys = list(dict.fromkeys(key for metrics in flat.values() for key in metrics))
        lines += [f"## {task}", "", "| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        lines += ["| " + key + " | " + " | ".join(_cell(flat[n].get(key)) for n in names) + " |" for key in keys]
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------


def run_model_mode(args: argparse.Namespace) -> int:
    """Generate answers with `--model` on `--data` for `--tasks` (greedy, batched, DataLoader workers, progress bar),
    then score them. Under `accelerate launch` the processes share the rows and the first one writes the results."""
    from datasets import load_from_disk
    from transformers import AutoModelForCausalLM, AutoProcessor

    from .runner import evaluate_model

    if not args.data:
        raise SystemExit("nanoemox evaluate: --model needs --data (a dataset folder in the NanoEmoX schema)")
    tasks = [normalize_task(t) for t in (args.tasks or "mer,mir").split(",") if t]
    model = AutoModelForCausalLM.from_pretrained(args.model, trust_remote_code=True).eval()
    processor = AutoProcessor.from_pretrained(args.model, trust_remote_code=True)
    data = load_from_disk(args.data)
    split = data[args.split] if hasattr(data, "keys") else data
    results = evaluate_model(
        model,
        processor,
        split,
        media_root=args.data,
        tasks=tasks,
        max_samples=args.max_samples,
        wheels=args.wheels,
        batch_size=args.batch_size,
        num_workers=args.num_workers,
        max_new_tokens=args.max_new_tokens,
        scoring=args.scoring,
    )
    from nanoemox.machine import process_state

    if not process_state().is_main_process:  # every process scored the gathered answers; the first one reports
        return 0
    payload = {
        "meta": {
            "model": str(args.model),
            "data": str(args.data),
            "split": args.split,
            "wheels": args.wheels,
            "scoring": args.scoring,
        },
        "results": results["tasks"],
    }
    markdown = render_markdown(payload["results"], title=f"{Path(args.model).name} on {Path(args.data).name}")
    if args.output:
        output = Path(args.output)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
        output.with_suffix(".md").write_text(markdown, encoding="utf-8")
        output.with_suffix(".predictions.jsonl").write_text(
            "".join(json.dumps(p, default=str) + "\n" for p in results["predictions"]), encoding="utf-8"
        )
    print(markdown)
    return 0


def _labels_argument(value: str | None) -> str | list[str] | None:
    """`--intent-labels`: an inventory name ("mintrec") or comma-separated labels ("inform,thank")."""
    if value is None or "," not in value:
        return value
    return [label.strip() for label in value.split(",") if label.strip()]


def run_scoring_mode(args: argparse.Namespace) -> int:
    """Score `--predictions` for `--task`; write `--output` (JSON) and the markdown beside it, or print."""
    task = normalize_task(args.task)
    rows = read_jsonl(args.predictions)
    judge = None
    if args.judge_url:
        from .eri import OpenAIJudge

        judge = OpenAIJudge(args.judge_url, args.judge_model)
    metrics = score(
        task,
        [row["prediction"] for row in rows],
        [row["reference"] for row in rows],
        wheels=args.wheels,
        judge=judge,
        msa_scheme=args.msa_scheme,
        intent_labels=_labels_argument(args.intent_labels),
    )
    payload = {
        "meta": {"predictions": str(args.predictions), "wheels": args.wheels, "n_rows": len(rows)},
        "results": {task: metrics},
    }
    markdown = render_markdown(payload["results"], title=f"{task} — {Path(args.predictions).name}")
    if args.output:
        output = Path(args.output)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        output.with_suffix(".md").write_text(markdown, encoding="utf-8")
        logger.info("wrote %s and %s", output, output.with_suffix(".md"))
    print(markdown)
    return 0


def run_compare_mode(paths: Sequence[str]) -> int:
    """Print result files side by side, one markdown table per task."""
    named: dict[str, Mapping[str, Any]] = {}
    for path in paths:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
        if "results" not in payload:
            raise ValueError(f"{path}: not a result file (no 'results' key)")
        name = Path(path).stem
        while name in named:
            name += "'"
        named[name] = payload["results"]
    print(render_comparison(named))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nanoemox evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("--task", help="msa, mer, ov-mer, eri, mir, erg or jx4mei (scoring mode)")
    parser.add_argument("--predictions", help="JSONL with rows {id, prediction, reference}")
    parser.add_argument("--wheels", help="emotion wheel directory (wheel1..5.xlsx, synonym.xlsx, format.csv)")
    parser.add_argument("--output", help="result JSON path; the markdown report is written beside it (.md)")
    parser.add_argument("--msa-scheme", default="mosi", choices=MSA_SCHEMES, help="MOSI/MOSEI or CH-SIMS metrics")
    parser.add_argument(
        "--intent-labels",
        help="mir/jx4mei intent inventory the averages run over: mintrec, mintrec2, jx4mei, or comma-separated labels "
        "(default: the gold and predicted intents)",
    )
    parser.add_argument("--judge-url", help="OpenAI-compatible base URL for the ERI judge (e.g. http://host/v1)")
    parser.add_argument("--judge-model", default="gpt-4o-mini", help="model name sent to the ERI judge")
    parser.add_argument("--compare", nargs="+", metavar="RESULT_JSON", help="print result files side by side")
    parser.add_argument("--model", help="(model mode) checkpoint directory")
    parser.add_argument("--data", help="(model mode) dataset directory")
    parser.add_argument("--tasks", help="(model mode) comma-separated tasks")
    parser.add_argument("--split", default="test", help="(model mode) dataset split")
    parser.add_argument("--max-samples", type=int, help="(model mode) rows per task")
    parser.add_argument("--batch-size", type=int, default=8, help="(model mode) generation batch")
    parser.add_argument("--num-workers", type=int, default=0, help="(model mode) DataLoader processes decoding clips")
    parser.add_argument("--max-new-tokens", type=int, default=48, help="(model mode) greedy decoding length")
    parser.add_argument(
        "--scoring",
        choices=SCORING_MODES,
        default="generate",
        help="(model mode) generate: score the generated answers; likelihood: answer closed-set tasks (mer, mir, msa "
        "polarity) with their most probable label",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.model or args.data or args.tasks:
        return run_model_mode(args)
    if args.compare:
        return run_compare_mode(args.compare)
    if not args.task or not args.predictions:
        parser.error("scoring mode needs --task and --predictions (or use --compare, or --model/--data/--tasks)")
    return run_scoring_mode(args)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    sys.exit(main())
