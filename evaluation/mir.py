"""Multimodal intent recognition (MIR) metrics: accuracy, macro and weighted F1 / precision / recall.

Shapes: `preds` and `golds` are N intent strings (`None` for an unparsed answer).

As in MIntRec / MIntRec2.0 (`utils/metrics.py`: `sklearn.metrics` with `average="macro"`, and `"weighted"` for
MIntRec2.0). Intents are compared lower-cased and stripped. Which classes the averages run over:

- with the dataset's intent inventory (`labels=`, e.g. `intent_inventory("mintrec")`, the 20 MIntRec intents):
  every intent of the inventory is a class, so a predicted-only intent counts as a zero-F1 class, as in the
  reference. A prediction outside the inventory (free text is not a classifier) is an error, never a class of its
  own (`n_out_of_set`). An intent absent from both gold and predictions of the split also counts, with F1 0 (what
  sklearn does when given `labels`); on a benchmark's full test set every intent is in the gold labels, so this
  is the reference's number.
- without an inventory: the union of the gold and predicted intents, sklearn's default in the reference. Every
  distinct predicted string is then a class; pass the inventory to keep free-text slips from becoming classes.

The result says which was used (`label_set`: "inventory" or "gold+predicted", `n_classes`). An unparsed answer
is an error and no class (`n_unparsed`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sklearn.metrics import accuracy_score, precision_recall_fscore_support

from nanoemox.modeling.prompts_nanoemox import JX4MEI_INTENTS, MINTREC2_INTENTS, MINTREC_INTENTS

logger = logging.getLogger(__name__)

NO_INTENT = "<none>"

INTENT_INVENTORIES: dict[str, tuple[str, ...]] = {
    "mintrec": MINTREC_INTENTS,  # the benchmarks' own label lists (prompts_nanoemox says where they come from)
    "mintrec2": MINTREC2_INTENTS,
    "jx4mei": JX4MEI_INTENTS,
}


def intent_inventory(name: str) -> tuple[str, ...]:
    """The intent label set of a benchmark: "mintrec" (20), "mintrec2" or "mintrec2.0" (30), "jx4mei" (9)."""
    key = str(name).lower().replace("-", "").replace("_", "").replace(".0", "")
    if key not in INTENT_INVENTORIES:
        raise ValueError(f"unknown intent inventory {name!r}; known: {', '.join(INTENT_INVENTORIES)}")
    return INTENT_INVENTORIES[key]


def _norm(intent: str | None) -> str:
    return str(intent).lower().strip() if intent else NO_INTENT


def intent_metrics(
    preds: Sequence[str | None], golds: Sequence[str], labels: Sequence[str] | None = None
) -> dict[str, float | int | str]:
    """Accuracy and macro / weighted precision, recall and F1 of N predicted intents against N gold intents.

    Args:
        preds: predicted intents (`None` for an unparsed answer).
        golds: gold intents.
        labels: the dataset's intent inventory; the averages run over all of it. Default: the union of the gold
            and predicted intents (sklearn's default). Changed: the default used to be the gold intents only,
            which left predicted-only intents out of the macro average and so raised it.

    Returns `accuracy`, `{macro,weighted}_{f1,precision,recall}`, `label_set` ("inventory" or "gold+predicted"),
    `n_classes`, `n_samples`, `n_unparsed` and `n_out_of_set` (parsed predictions outside the inventory, or, without
    one, outside the gold intents).
    """
    if len(preds) != len(golds):
        raise ValueError(f"preds and golds differ in length: {len(preds)} vs {len(golds)}")
    if not golds:
        raise ValueError("no samples to score")
    y_true = [_norm(g) for g in golds]
    y_pred = [_norm(p) for p in preds]
    if NO_INTENT in y_true:
        raise ValueError(
            f"gold intent of sample {y_true.index(NO_INTENT)} is empty: {golds[y_true.index(NO_INTENT)]!r}"
        )
    if labels:
        classes = sorted({_norm(label) for label in labels})
        outside = sorted(set(y_true) - set(classes))
        if outside:
            raise ValueError(f"gold intents {outside} are not in the intent inventory of {len(classes)} labels")
        label_set, known = "inventory", set(classes)
    else:
        classes = sorted((set(y_true) | set(y_pred)) - {NO_INTENT})
        label_set, known = "gold+predicted", set(y_true)
    results: dict[str, float | int | str] = {"accuracy": float(accuracy_score(y_true, y_pred))}
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=classes, average=average, zero_division=0)
        results[f"{average}_f1"] = float(f)
        results[f"{average}_precision"] = float(p)
        results[f"{average}_recall"] = float(r)
    results["label_set"] = label_set
    results["n_classes"] = len(classes)
    results["n_samples"] = len(golds)
    results["n_unparsed"] = y_pred.count(NO_INTENT)
    results["n_out_of_set"] = sum(1 for p in y_pred if p != NO_INTENT and p not in known)
    return results


__all__ = ["INTENT_INVENTORIES", "intent_inventory", "intent_metrics"]
