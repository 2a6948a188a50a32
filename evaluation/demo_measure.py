"""Two measurements of a trained checkpoint on the demo corpus, each written as JSON beside how it was made (the
command, the code's git commit, the machine, the date, the seed).

    nanoemox data demo-measure attribution --model runs/demo/train/4-phase3-multitask/final --data runs/demo/data \\
        --output results/demo-attribution.json
    nanoemox data demo-measure scoring --model runs/demo/train/4-phase3-multitask/final --data runs/demo/data \\
        --output results/demo-scoring.json

attribution: does the branch that decides a clip get the largest share of its answer's attribution? In every demo
clip one modality decides the emotion (face, voice or subtitle) and one the intent (subtitle or scene); the others
show their neutral value. Each mer and mir row of the split is answered (greedy) and explained
(`attribution_nanoemox`), and the branch with the largest share is compared with the deciding one (voice -> audio,
face -> face, scene -> frame, subtitle -> subtitle), per task and deciding modality, over all rows and over the rows
answered right. A row where no masking lowers the answer's likelihood has no largest share (`top` None). A neutral
clip decided by the face or the voice shows the neutral face or voice, which every other clip's non-deciding face and
voice show too: nothing in it singles the answer out. So each cell is also summarised over the rows whose deciding
modality shows a cue (`cued`: all rows but those; a subtitle says "calm" for neutral, and every intent has its object
and its phrases).

scoring: mer, mir and msa metrics with the generated answers and with likelihood scoring (`runner.evaluate_model`,
`scoring="generate"` / `"likelihood"`), and the mer / mir accuracy per deciding modality under each. Likelihood
scoring runs twice: over the checkpoint's label sets (`processor.task_labels`; a checkpoint that carries none has
the defaults, MER2023's emotions and MIntRec's 20 intents) and over the labels of the corpus's train split.

The checkpoint is loaded with this package's classes, not with its own copy of the code, so a checkpoint saved by an
older release is measured with the code of this commit. Decoding is greedy; the seed is set all the same.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import Counter

import torch

from nanoemox.modeling.attribution_nanoemox import ATTRIBUTED_BRANCHES

from .answering import answer_rows
from .runner import evaluate_model

logger = logging.getLogger(__name__)

# the branch that reads each deciding modality of the demo corpus
DECIDING_BRANCH = {"voice": "audio", "face": "face", "scene": "frame", "subtitle": "subtitle"}
GOLD_FIELD = {"mer": ("emotion", "emotion_modality"), "mir": ("intent", "intent_modality")}
SCORING_TASKS = ("mer", "mir", "msa")


def measure_attribution(
    model, processor, split, *, media_root, batch_size: int = 8, max_new_tokens: int = 48, num_workers: int = 0
) -> dict:
    """{"cells": {"mer/face": summary, ...}, "rows": [...]} for the mer and mir rows of `split` (a demo split).

    A cell's summary: n, how often the deciding branch has the largest share (`top_is_deciding`, `fraction`), the
    mean share of each branch, the count of each largest-share branch, and the rows without a positive drop; the same
    over the rows answered right (`correct`) and over the rows whose deciding modality shows a cue (`cued`).
    "overall" sums the cells.
    """
    rows = [row for row in split if row["task"] in GOLD_FIELD]
    records = []
    for answer in answer_rows(
        model,
        processor,
        rows,
        batch_size=batch_size,
        num_workers=num_workers,
        media_root=media_root,
        progress="explaining",
        explain=True,
        max_new_tokens=max_new_tokens,
    ):
        row = rows[answer.index]
        if answer.error is not None:
            logger.warning("%s left out: %s", row["id"], answer.error.reason)
            continue
        gold_key, modality_key = GOLD_FIELD[row["task"]]
        meta = json.loads(row["meta"])
        modality = meta[modality_key]
        shares = answer.attribution.shares
        records.append(
            {
                "id": row["id"],
                "task": row["task"],
                "deciding": modality,
                "deciding_branch": DECIDING_BRANCH[modality],
                "answer": answer.text,
                "gold": row["labels"][gold_key],
                "correct": answer.text.strip().lower() == str(row["labels"][gold_key]).strip().lower(),
                "cued": not (row["task"] == "mer" and modality in ("face", "voice") and meta["emotion"] == "neutral"),
                "top": max(shares, key=shares.get) if any(s > 0 for s in shares.values()) else None,
                "shares": {branch: round(share, 4) for branch, share in shares.items()},
                "absent": answer.attribution.absent,
            }
        )
    cells = {}
    for key in sorted({f"{r['task']}/{r['deciding']}" for r in records}):
        members = [r for r in records if f"{r['task']}/{r['deciding']}" == key]
        cells[key] = {
            "deciding_branch": members[0]["deciding_branch"],
            **_summary(members),
            "correct": _summary([r for r in members if r["correct"]]),
            "cued": _summary([r for r in members if r["cued"]]),
        }
    overall = {
        "n": sum(c["n"] for c in cells.values()),
        "top_is_deciding": sum(c["top_is_deciding"] for c in cells.values()),
    }
    overall["fraction"] = round(overall["top_is_deciding"] / overall["n"], 3) if overall["n"] else None
    return {"overall": overall, "cells": cells, "rows": records}


def _summary(records: list[dict]) -> dict:
    n = len(records)
    hits = sum(r["top"] == r["deciding_branch"] for r in records)
    return {
        "n": n,
        "top_is_deciding": hits,
        "fraction": round(hits / n, 3) if n else None,
        "mean_share": {
            branch: round(sum(r["shares"][branch] for r in records) / n, 3) if n else None
            for branch in ATTRIBUTED_BRANCHES
        },
        "top_counts": dict(Counter(str(r["top"]) for r in records).most_common()),
        "no_positive_drop": sum(r["top"] is None for r in records),
    }


def measure_scoring(
    model,
    processor,
    split,
    *,
    media_root,
    train_split=None,
    batch_size: int = 8,
    max_new_tokens: int = 48,
    num_workers: int = 0,
) -> dict:
    """{condition: {"label_sets", "metrics": {task: metrics}, "decided": {...}}} for the conditions generate,
    likelihood (the checkpoint's label sets) and, given `train_split`, likelihood_train_labels (its gold labels)."""
    from nanoemox.processing.demo_corpus import accuracy_by_decisive_modality

    own = {task: list(labels) for task, labels in processor.task_labels.items()}
    conditions = {"generate": ("generate", own), "likelihood": ("likelihood", own)}
    if train_split is not None:
        seen = {
            task: sorted({r["labels"][GOLD_FIELD[task][0]] for r in train_split if r["task"] == task})
            for task in GOLD_FIELD
        }
        conditions["likelihood_train_labels"] = ("likelihood", {**own, **seen})
    out: dict = {}
    try:
        for name, (mode, labels) in conditions.items():
            processor.task_labels = labels
            results = evaluate_model(
                model,
                processor,
                split,
                media_root=media_root,
                tasks=SCORING_TASKS,
                batch_size=batch_size,
                num_workers=num_workers,
                max_new_tokens=max_new_tokens,
                scoring=mode,
            )
            out[name] = {
                "label_sets": {task: labels.get(task) for task in SCORING_TASKS} if mode == "likelihood" else None,
                "metrics": results["tasks"],
                "decided": accuracy_by_decisive_modality(split, results["predictions"]),
            }
    finally:
        processor.task_labels = own
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nanoemox data demo-measure", description=__doc__.split("\n\n")[0])
    parser.add_argument("measure", choices=("attribution", "scoring"))
    parser.add_argument("--model", required=True, help="a trained checkpoint folder")
    parser.add_argument("--data", required=True, help="the demo corpus (nanoemox data demo)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--output", required=True, help="the JSON to write")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--num-workers", type=int, default=0, help="DataLoader processes decoding clips")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: list[str] | None = None) -> int:
    import sys

    from datasets import load_from_disk

    from nanoemox.modeling.modeling_nanoemox import NanoEmoXForConditionalGeneration
    from nanoemox.modeling.processing_nanoemox import NanoEmoXProcessor
    from nanoemox.results import write_result

    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    torch.manual_seed(args.seed)
    model = NanoEmoXForConditionalGeneration.from_pretrained(args.model).eval()
    processor = NanoEmoXProcessor.from_pretrained(args.model, trust_remote_code=True)
    data = load_from_disk(args.data)
    if args.split not in data:
        raise ValueError(f"{args.data}: no split {args.split!r} (has {list(data)})")
    measure = measure_attribution if args.measure == "attribution" else measure_scoring
    options = dict(batch_size=args.batch_size, max_new_tokens=args.max_new_tokens, num_workers=args.num_workers)
    if args.measure == "scoring" and "train" in data:
        options["train_split"] = data["train"]
    numbers = measure(model, processor, data[args.split], media_root=args.data, **options)
    write_result(
        args.output,
        f"demo-{args.measure}",
        {"model": args.model, "data": args.data, "split": args.split, **numbers},
        command="nanoemox data demo-measure " + " ".join(argv),
        seed=args.seed,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
