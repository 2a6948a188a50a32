"""Open-vocabulary MER (OV-MER) set metrics, averaged over the emotion wheels.

Shapes: `golds` and `preds` are N label sets, each a list of strings or a comma-separated string.

Definition (AffectGPT / MERTools `calculate_openset_overlap_rate` + `wheel_metric_calculation`): on each
wheel, every label of a sample is mapped to its cluster (`EmotionWheels`; labels that miss a map are
dropped), giving sets Y (gold) and Ŷ (prediction). Then per sample

    P = |Y ∩ Ŷ| / |Ŷ|,   R = |Y ∩ Ŷ| / |Y|;   a sample with empty Y is skipped; an empty Ŷ scores P = R = 0.

P and R are averaged over the samples, F = 2PR / (P + R), and F, P, R are averaged over wheels 1-5. This is
done at level 1 (the headline `fscore`) and at level 2 (`level2_*`).

Difference from the reference: F is 0 (not NaN) when P + R = 0, and a wheel with no scored sample is `None`
and left out of the means.

Only `ovmer_metrics` gives the OV-MER F (keys `fscore`, `precision`, `recall`, `level2_*`). Without the wheels,
`exact_set_metrics` gives the same set P/R/F on the labels as written (no synonym merging: "happy" and "joyful"
differ), a different and usually lower figure; its keys say so (`exact_set_fscore`, ...), and each result's `note`
names the figure it holds.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from .wheels import LEVELS, EmotionWheels, split_labels

logger = logging.getLogger(__name__)

OVMER_NOTE = "OV-MER F: label sets mapped onto emotion wheels 1-5, level 1 (level2_*: level 2)"
EXACT_SET_NOTE = "exact-set F: labels compared as written, no emotion wheels; not the OV-MER F (pass wheels for it)"


def fscore(precision: float, recall: float) -> float:
    """Harmonic mean 2PR / (P + R), 0 when both are 0."""
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def set_prf(pred_sets: Iterable[set[str]], gold_sets: Iterable[set[str]]) -> dict[str, float | int | None]:
    """Sample-averaged set precision and recall, and F of the averages (empty gold skipped, empty pred = 0).

    Returns `precision`, `recall`, `fscore` (`None` when no sample has a gold label) and `n_scored`.
    """
    precisions, recalls = [], []
    for pred, gold in zip(pred_sets, gold_sets, strict=True):
        if not gold:
            continue
        overlap = len(pred & gold)
        precisions.append(overlap / len(pred) if pred else 0.0)
        recalls.append(overlap / len(gold))
    if not precisions:
        return {"precision": None, "recall": None, "fscore": None, "n_scored": 0}
    p, r = float(np.mean(precisions)), float(np.mean(recalls))
    return {"precision": p, "recall": r, "fscore": fscore(p, r), "n_scored": len(precisions)}


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def ovmer_metrics(
    preds: Sequence[str | Sequence[str] | None],
    golds: Sequence[str | Sequence[str] | None],
    wheels: EmotionWheels,
    levels: Sequence[str] = LEVELS,
) -> dict:
    """OV-MER precision/recall/F of N predicted label sets against N gold sets on every wheel.

    Returns `fscore`/`precision`/`recall` (level 1, mean over wheels), `level2_fscore`/... (level 2),
    `per_wheel` ({wheel: {level: set_prf result}}), `n_samples`, and the misses by step tallied over
    every (label, wheel, level) lookup: `gold_misses`, `pred_misses`.
    """
    if len(preds) != len(golds):
        raise ValueError(f"preds and golds differ in length: {len(preds)} vs {len(golds)}")
    gold_lists = [split_labels(g) for g in golds]
    pred_lists = [split_labels(p) for p in preds]
    gold_misses: Counter = Counter()
    pred_misses: Counter = Counter()
    per_wheel: dict[str, dict] = {wheel: {} for wheel in wheels.wheel_names}
    results: dict = {}
    for level in levels:
        for wheel in wheels.wheel_names:
            gold_sets = [wheels.map_labels(labels, wheel, level, gold_misses) for labels in gold_lists]
            pred_sets = [wheels.map_labels(labels, wheel, level, pred_misses) for labels in pred_lists]
            per_wheel[wheel][level] = set_prf(pred_sets, gold_sets)
        prefix = "" if level == "level1" else f"{level}_"
        for key in ("fscore", "precision", "recall"):
            results[prefix + key] = _mean([per_wheel[w][level][key] for w in wheels.wheel_names])
    results["per_wheel"] = per_wheel
    results["n_samples"] = len(golds)
    results["n_gold_empty"] = sum(1 for labels in gold_lists if not labels)
    results["n_pred_empty"] = sum(1 for labels in pred_lists if not labels)
    results["gold_misses"] = dict(gold_misses)
    results["pred_misses"] = dict(pred_misses)
    results["note"] = OVMER_NOTE
    return results


def exact_set_metrics(
    preds: Sequence[str | Sequence[str] | None], golds: Sequence[str | Sequence[str] | None]
) -> dict:
    """The same set P/R/F on the raw lower-cased labels, without any wheel (no synonym merging).

    Not the OV-MER F: the keys are `exact_set_fscore`, `exact_set_precision`, `exact_set_recall`,
    `exact_set_n_scored` (they were `exact_*`), with `n_samples` and a `note` saying what was computed.
    """
    if len(preds) != len(golds):
        raise ValueError(f"preds and golds differ in length: {len(preds)} vs {len(golds)}")
    result = set_prf([set(split_labels(p)) for p in preds], [set(split_labels(g)) for g in golds])
    return {f"exact_set_{k}": v for k, v in result.items()} | {"n_samples": len(golds), "note": EXACT_SET_NOTE}


__all__ = ["EXACT_SET_NOTE", "OVMER_NOTE", "exact_set_metrics", "fscore", "ovmer_metrics", "set_prf"]
