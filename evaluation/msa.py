"""Multimodal sentiment analysis (MSA) metrics: MOSI/MOSEI regression, CH-SIMS buckets, MLLM-style WAF; the
reader of sentiment answers.

Shapes: `preds` and `golds` are 1-D sequences of N sentiment scores (floats; a pred is `None` where the answer
gave no score). MOSI/MOSEI scores lie in [-3, 3], CH-SIMS scores in [-1, 1].

Definitions follow MMSA `utils/metricsTop.py` (`__eval_mosei_regression`, `__eval_sims_regression`):

| metric | definition |
|---|---|
| has0_acc2 / has0_f1 | gold >= 0 vs gold < 0 (same for preds); accuracy and weighted F1 over all samples |
| non0_acc2 / non0_f1 | samples with gold == 0 dropped; gold > 0 vs pred > 0; accuracy and weighted F1 |
| acc7 / acc5 | scores clipped to [-3, 3] / [-2, 2], then `np.round` (half to even, like numpy) and compared |
| mae / corr | mean absolute error and Pearson r of the unclipped scores |
| SIMS acc2/3/5 | scores clipped to [-1, 1] and bucketed by the MMSA thresholds below; f1 = weighted F1 of acc2 |

The MLLM-style metric (AffectGPT's MER-UniBench) reads a sentiment word from the answer: gold scores > 0 are
"positive", < 0 "negative", gold zeros are dropped, and the weighted F1 of the predicted words is reported
(a predicted "neutral" or an unparsed answer is simply a wrong class).

A missing score (`None`: the answer named no number) is a *miss*: wrong in every accuracy and F1 above (it falls in
no class and no bucket), left out of `mae` and `corr` (which run over the answered samples), and counted in
`n_score_missing`. It is never replaced by 0.0, which would be right whenever the gold is neutral.

`parse_sentiment_answer` reads the forms other models and annotation files give: a number (int or float), a
numeric string ("-0.6", "+1.5"), "Sentiment score: -0.6", "positive (2.0)", "positive (score 1.20)", a JSON
object (`{"score": 1.5}`, also as text) or a bare sentiment word.

Differences from MMSA: results are not rounded to 4 decimals, and an undefined value (Pearson r of a constant
sequence, non-0 scores when every gold score is 0) is `None` instead of NaN.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping, Sequence
from numbers import Real
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

logger = logging.getLogger(__name__)

# MMSA's CH-SIMS bucket edges: a score s goes to bucket i when edges[i] < s <= edges[i + 1]
SIMS_EDGES = {
    "acc2": (-1.01, 0.0, 1.01),
    "acc3": (-1.01, -0.1, 0.1, 1.01),
    "acc5": (-1.01, -0.7, -0.1, 0.1, 0.7, 1.01),
}
UNPARSED = "<unparsed>"
MISS = -1  # the class (bucket) of a missing score: never a gold class, so always wrong


def _as_arrays(preds: Sequence[float | None], golds: Sequence[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(preds with NaN where missing, golds, answered mask), each of shape (N,)."""
    values = list(np.asarray(preds, dtype=object).reshape(-1))
    answered = np.array([v is not None for v in values], dtype=bool)
    p = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    g = np.asarray(golds, dtype=np.float64).reshape(-1)
    if p.shape != g.shape:
        raise ValueError(f"preds and golds differ in length: {p.shape[0]} vs {g.shape[0]}")
    if p.size == 0:
        raise ValueError("no samples to score")
    bad = [float(v) for v in np.concatenate([p[answered], g]) if not np.isfinite(v)]
    if bad:
        raise ValueError(f"scores must be finite numbers, got {bad[0]!r}")
    return p, g, answered


def _classes(golds: np.ndarray, preds: np.ndarray, answered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer gold classes and predicted classes with `MISS` where no score was given."""
    return golds.astype(np.int64), np.where(answered, preds, MISS).astype(np.int64)


def _weighted_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    # weights are gold supports, so averaging over the gold classes equals MMSA's default over all classes present
    return float(f1_score(y_true, y_pred, labels=sorted(set(y_true.tolist())), average="weighted", zero_division=0))


def _mae_corr(p: np.ndarray, g: np.ndarray, answered: np.ndarray) -> dict[str, float | None]:
    if not answered.any():
        return {"mae": None, "corr": None}
    return {"mae": float(np.mean(np.abs(p[answered] - g[answered]))), "corr": _pearson(p[answered], g[answered])}


def _pearson(p: np.ndarray, g: np.ndarray) -> float | None:
    if p.size < 2 or np.std(p) == 0 or np.std(g) == 0:
        return None
    return float(np.corrcoef(p, g)[0, 1])


def multiclass_acc(preds: np.ndarray, golds: np.ndarray) -> float:
    """Fraction of samples with `np.round(pred) == np.round(gold)` (MMSA `__multiclass_acc`); a NaN pred is wrong."""
    return float(np.mean(np.round(preds) == np.round(golds)))


def mosi_regression_metrics(preds: Sequence[float | None], golds: Sequence[float]) -> dict[str, float | None]:
    """MOSI/MOSEI metrics of N predicted vs gold scores in [-3, 3] (see the module table).

    A `None` pred is a miss: wrong in every accuracy and F1, outside `mae`/`corr`, counted in `n_score_missing`.
    """
    p, g, answered = _as_arrays(preds, golds)
    results: dict[str, float | None] = {}
    y_true, y_pred = _classes(g >= 0, p >= 0, answered)
    results["has0_acc2"] = float(accuracy_score(y_true, y_pred))
    results["has0_f1"] = _weighted_f1(y_true, y_pred)
    nonzero = g != 0
    if nonzero.any():
        y_true, y_pred = _classes(g[nonzero] > 0, p[nonzero] > 0, answered[nonzero])
        results["non0_acc2"] = float(accuracy_score(y_true, y_pred))
        results["non0_f1"] = _weighted_f1(y_true, y_pred)
    else:
        results["non0_acc2"] = results["non0_f1"] = None
    results["acc7"] = multiclass_acc(np.clip(p, -3.0, 3.0), np.clip(g, -3.0, 3.0))
    results["acc5"] = multiclass_acc(np.clip(p, -2.0, 2.0), np.clip(g, -2.0, 2.0))
    results.update(_mae_corr(p, g, answered))
    results["n_samples"] = int(p.size)
    results["n_gold_zero"] = int((~nonzero).sum())
    results["n_score_missing"] = int((~answered).sum())
    return results


def sims_bucket(scores: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """Bucket index i of each score with `edges[i] < score <= edges[i + 1]` (scores already in [-1, 1])."""
    buckets = np.full(scores.shape, -1, dtype=np.int64)
    for i in range(len(edges) - 1):
        buckets[(scores > edges[i]) & (scores <= edges[i + 1])] = i
    return buckets


def sims_regression_metrics(preds: Sequence[float | None], golds: Sequence[float]) -> dict[str, float | None]:
    """CH-SIMS metrics (MMSA `__eval_sims_regression`): clip to [-1, 1], bucket, accuracy per bucketing.

    Buckets: acc2 {[-1, 0], (0, 1]}; acc3 {[-1, -0.1], (-0.1, 0.1], (0.1, 1]};
    acc5 {[-1, -0.7], (-0.7, -0.1], (-0.1, 0.1], (0.1, 0.7], (0.7, 1]}. `f1` is the weighted F1 of the
    2-bucket labels; `mae` and `corr` use the clipped scores. A `None` pred is a miss, as in
    `mosi_regression_metrics`.
    """
    p, g, answered = _as_arrays(preds, golds)
    p, g = np.clip(p, -1.0, 1.0), np.clip(g, -1.0, 1.0)
    results: dict[str, float | None] = {}
    for name, edges in SIMS_EDGES.items():
        y_true, y_pred = _classes(sims_bucket(g, edges), sims_bucket(p, edges), answered)
        results[name] = float(np.mean(y_true == y_pred))
    y_true, y_pred = _classes(sims_bucket(g, SIMS_EDGES["acc2"]), sims_bucket(p, SIMS_EDGES["acc2"]), answered)
    results["f1"] = _weighted_f1(y_true, y_pred)
    results.update(_mae_corr(p, g, answered))
    results["n_samples"] = int(p.size)
    results["n_score_missing"] = int((~answered).sum())
    return results


def sentiment_of(score: float) -> str:
    """ "positive" for a score > 0, "negative" for < 0, "neutral" for 0."""
    return "positive" if score > 0 else "negative" if score < 0 else "neutral"


def mllm_sentiment_metrics(pred_labels: Sequence[str | None], golds: Sequence[float]) -> dict[str, float | None]:
    """MLLM-style MSA: weighted F1 and accuracy of predicted sentiment words on the non-zero gold scores.

    Args:
        pred_labels: N words ("positive" / "negative" / "neutral"), `None` for an unparsed answer.
        golds: N gold scores; zeros are dropped (`n_gold_zero` tells how many).
    """
    if len(pred_labels) != len(golds):
        raise ValueError(f"pred_labels and golds differ in length: {len(pred_labels)} vs {len(golds)}")
    pairs = [
        (sentiment_of(float(g)), (p or UNPARSED).lower().strip() or UNPARSED)
        for p, g in zip(pred_labels, golds, strict=True)
        if float(g) != 0
    ]
    results: dict[str, float | None] = {
        "n_samples": len(golds),
        "n_gold_zero": len(golds) - len(pairs),
        "n_unparsed": sum(1 for p in pred_labels if not p),
    }
    if not pairs:
        results["waf"] = results["accuracy"] = None
        return results
    y_true, y_pred = zip(*pairs, strict=True)
    results["waf"] = float(f1_score(y_true, y_pred, average="weighted", labels=sorted(set(y_true)), zero_division=0))
    results["accuracy"] = float(accuracy_score(y_true, y_pred))
    return results


# ---------------------------------------------------------------------------------------------------------
# reading answers

_NUMBER = r"[-+\u2212]?(?:\d+(?:\.\d*)?|\.\d+)"
_MARKED_SCORE = re.compile(rf"\bscore\b\s*(?:is\b|of\b|[:=])?\s*\(?\s*({_NUMBER})", re.I)
_ANY_NUMBER = re.compile(rf"(?<![\w.])({_NUMBER})(?!\w)")
_SENTIMENT = re.compile(r"\b(positive|negative|neutral)\b", re.I)
# keys of a JSON answer, read in this order: the first score and the first sentiment word found win
ANSWER_KEYS = ("score", "sentiment_score", "sentiment", "label", "prediction", "pred", "value", "answer")


def _number(text: str) -> float:
    return float(text.replace("\u2212", "-"))


def _as_score(value: Real) -> float | None:
    score = float(value)
    return score if math.isfinite(score) else None


def parse_sentiment_answer(answer: Any) -> tuple[str | None, float | None]:
    """(sentiment word, score) of one MSA answer; either is `None` when the answer does not give it.

    Numbers are taken as numbers (`-0.6`, `2`; `bool` and non-finite values are no scores). In text the score is
    the number after "score" ("Sentiment score: -0.6", "positive (score 1.20)"), else the first number ("-0.6",
    "positive (2.0)"). The word is the first of positive / negative / neutral the answer names, else the sign of
    the score. A JSON object (or its text) is read through `ANSWER_KEYS`.
    """
    word, score = _read_answer(answer)
    if word is None and score is not None:
        word = sentiment_of(score)
    return word, score


def _read_answer(answer: Any) -> tuple[str | None, float | None]:
    """(the sentiment word the answer names, its score), without deriving one from the other."""
    if answer is None or isinstance(answer, bool):
        return None, None
    if isinstance(answer, Real):
        return None, _as_score(answer)
    if isinstance(answer, Mapping):
        word = score = None
        for key in ANSWER_KEYS:
            if key in answer:
                found_word, found_score = _read_answer(answer[key])
                word = word or found_word
                score = found_score if score is None else score
        return word, score
    text = str(answer).strip()
    if text.startswith("{"):
        try:
            decoded = json.loads(text)
        except json.JSONDecodeError:
            decoded = None
        if isinstance(decoded, Mapping):
            return _read_answer(decoded)
    number = _MARKED_SCORE.search(text) or _ANY_NUMBER.search(text)
    word = _SENTIMENT.search(text)
    return (word.group(1).lower() if word else None), (_as_score(_number(number.group(1))) if number else None)


__all__ = [
    "ANSWER_KEYS",
    "SIMS_EDGES",
    "mllm_sentiment_metrics",
    "mosi_regression_metrics",
    "multiclass_acc",
    "parse_sentiment_answer",
    "sentiment_of",
    "sims_bucket",
    "sims_regression_metrics",
]
