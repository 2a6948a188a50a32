"""Discrete multimodal emotion recognition (MER) metrics: wheel hit rate, WAF, WAR/UAR.

Shapes: `golds` is N gold labels, each a label ("happy") or a label set (`["happy", "sad"]` or "happy, sad");
`preds` is N predictions, each a label string or a list of labels (an MLLM may name several emotions).

Hit rate, as AffectGPT / MER-UniBench compute it: `calculate_openset_onehot_hitrate` (per wheel) averaged by
`hitrate_metric_calculation` over the `case3_wheelK_level1` metrics, K = 1..5 (MERTools / AffectGPT,
`my_affectgpt/evaluation/wheel.py`). On each of the 5 wheels, gold and predicted labels go through format map ->
synonym map -> wheel level-1 cluster (`EmotionWheels`), giving cluster sets Y (gold) and Ŷ (prediction). A sample
whose gold labels map to nothing on that wheel is skipped (the reference skips it; this is how "neutral", which is
on no wheel, is left out). Otherwise the sample scores |Y ∩ Ŷ|, the number of gold clusters the prediction meets:
1 or 0 for a one-label gold, up to |Y| for a multi-label gold. A predicted label that misses a map simply cannot
hit. The hit rate is the mean over scored samples, then the mean over the wheels; with multi-label golds it can
exceed 1, as in the reference.

`mscore` is the reference's companion number: |Y ∩ Ŷ| / |Ŷ ∩ candidates| per sample, where the candidates are the
clusters of every gold label in the set (0 when the prediction has no candidate cluster). Difference from the
reference: a multi-label gold contributes each of its labels to the candidates (the reference looks the whole gold
string up, which finds nothing for "happy, sad"); with one-label golds the two agree.

Classic metrics on exact (lower-cased) labels: WAF = weighted F1, WAR = accuracy (weighted average recall),
UAR = recall averaged over the gold classes (unweighted average recall, DFEW/MAFW).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, recall_score

from .wheels import EmotionWheels, normalize_label, split_labels

logger = logging.getLogger(__name__)

NO_LABEL = "<none>"


def _label_list(value: str | Sequence[str] | None) -> list[str]:
    return split_labels(value) if value is not None else []


def hit_rate(
    preds: Sequence[str | Sequence[str] | None],
    golds: Sequence[str | Sequence[str]],
    wheels: EmotionWheels,
    level: str = "level1",
) -> dict:
    """Wheel hit rate of N predictions against N gold labels (each a label or a label set), averaged over samples
    then over wheels (see the module docstring).

    A sample scores |Y ∩ Ŷ|, the number of its gold clusters the prediction meets (the reference's
    `calculate_openset_onehot_hitrate`). With one-label golds this is the 1/0 hit of earlier versions; with a
    multi-label gold it is the size of the overlap, so the hit rate can exceed 1 (before, a sample scored 1 when the
    sets met at all).

    Returns `hit_rate`, `mscore` (means over wheels), `per_wheel` ({wheel: {hit_rate, mscore, n_scored}}),
    `n_samples`, `n_gold_skipped` ({wheel: samples whose gold label missed that wheel}) and the misses by
    step (`format`/`synonym`/`wheel`) tallied over every (label, wheel) lookup: `gold_misses`, `pred_misses`.
    A wheel with no scored sample has `None` scores and is left out of the means.
    """
    if len(preds) != len(golds):
        raise ValueError(f"preds and golds differ in length: {len(preds)} vs {len(golds)}")
    gold_lists = [_label_list(g) for g in golds]
    pred_lists = [_label_list(p) for p in preds]
    candidates_raw = sorted({label for labels in gold_lists for label in labels})
    per_wheel: dict[str, dict] = {}
    skipped: dict[str, int] = {}
    gold_misses: Counter = Counter()
    pred_misses: Counter = Counter()
    for wheel in wheels.wheel_names:
        candidates = wheels.map_labels(candidates_raw, wheel, level)
        hits, mscores = [], []
        for gold, pred in zip(gold_lists, pred_lists, strict=True):
            gold_set = wheels.map_labels(gold, wheel, level, gold_misses)
            pred_set = wheels.map_labels(pred, wheel, level, pred_misses)
            if not gold_set:
                continue
            overlap = len(pred_set & gold_set)
            hits.append(float(overlap))  # |Y ∩ Ŷ|, as calculate_openset_onehot_hitrate counts it
            reachable = len(pred_set & candidates)
            mscores.append(overlap / reachable if reachable else 0.0)
        skipped[wheel] = len(golds) - len(hits)
        per_wheel[wheel] = {
            "hit_rate": float(np.mean(hits)) if hits else None,
            "mscore": float(np.mean(mscores)) if mscores else None,
            "n_scored": len(hits),
        }
    scored = [w for w in per_wheel.values() if w["hit_rate"] is not None]
    if not scored:
        logger.warning("hit rate: no gold label maps onto any wheel; nothing scored")
    return {
        "hit_rate": float(np.mean([w["hit_rate"] for w in scored])) if scored else None,
        "mscore": float(np.mean([w["mscore"] for w in scored])) if scored else None,
        "per_wheel": per_wheel,
        "n_samples": len(golds),
        "n_gold_skipped": skipped,
        "gold_misses": dict(gold_misses),
        "pred_misses": dict(pred_misses),
    }


def classification_metrics(preds: Sequence[str | None], golds: Sequence[str]) -> dict[str, float | int]:
    """WAF (weighted F1), WAR (accuracy) and UAR (recall averaged over gold classes) of exact labels.

    Labels are compared lower-cased; a `None` prediction is the class "<none>" (always wrong).
    """
    if len(preds) != len(golds):
        raise ValueError(f"preds and golds differ in length: {len(preds)} vs {len(golds)}")
    if not golds:
        raise ValueError("no samples to score")
    y_true = [normalize_label(g) for g in golds]
    y_pred = [normalize_label(p) if p else NO_LABEL for p in preds]
    gold_classes = sorted(set(y_true))
    return {
        "waf": float(f1_score(y_true, y_pred, average="weighted", labels=gold_classes, zero_division=0)),
        "war": float(accuracy_score(y_true, y_pred)),
        "uar": float(recall_score(y_true, y_pred, average="macro", labels=gold_classes, zero_division=0)),
        "n_samples": len(golds),
        "n_unparsed": sum(1 for p in preds if not p),
    }


__all__ = ["classification_metrics", "hit_rate"]
