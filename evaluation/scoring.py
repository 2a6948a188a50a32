"""One entry point for every task: `score(task, predictions, references, wheels=None) -> dict`.

Predictions are the model's free-text answers (parsed with `parse_answer` from the task prompts; msa answers with
`msa.parse_sentiment_answer`, which also takes numbers and JSON objects); references are the structured gold labels:

| task | reference | metrics |
|---|---|---|
| msa | float score | MOSI/MOSEI regression (or CH-SIMS buckets with `msa_scheme="sims"`) + MLLM-style WAF |
| mer | label string | wheel hit rate (needs wheels) + WAF / WAR / UAR |
| ov-mer | list of labels or comma string | set P/R/F over wheels (exact-label set scores without wheels) |
| eri | reason text | LLM-judge clue/label overlap when `judge` is given, always the offline `proxy_` scores |
| mir | intent string | accuracy, macro and weighted F1/P/R over `intent_labels` (e.g. "mintrec") |
| erg | {"emotion", "response"} or string | emotion accuracy, coarse hit rate, Dist-1/2 |
| jx4mei | {"emotion", "intent", "explanation"} | each label's accuracy, F1; joint accuracy; explanation proxies |

    from nanoemox.evaluation.scoring import score
    score("mer", ["happy", "I feel sad"], ["happy", "sad"], wheels="shared/reference/emotion_wheel")

A checkpoint with the sentiment head (EGMF's regression head) also gives a continuous score per msa sample;
`msa_views` then reports MSA from the head and keeps the text-parsed metrics as a second view.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nanoemox.modeling.prompts_nanoemox import TASKS, parse_answer

from .erg import erg_metrics, parse_erg_answer
from .eri import Judge, eri_proxy_metrics, judge_eri
from .jx4mei import jx4mei_metrics
from .mer import classification_metrics, hit_rate
from .mir import intent_inventory, intent_metrics
from .msa import mllm_sentiment_metrics, mosi_regression_metrics, parse_sentiment_answer, sims_regression_metrics
from .ovmer import exact_set_metrics, ovmer_metrics
from .wheels import EmotionWheels, as_wheels, split_labels

logger = logging.getLogger(__name__)

MSA_SCHEMES = ("mosi", "sims")


def normalize_task(task: str) -> str:
    """ "OV_MER", "ovmer", "ov-mer" -> "ov-mer"; `ValueError` for an unknown task."""
    key = str(task).lower().replace("_", "-")
    key = "ov-mer" if key == "ovmer" else key
    if key not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    return key


def _gold_scores(references: Sequence[Any]) -> list[float]:
    golds = []
    for i, reference in enumerate(references):
        try:
            golds.append(float(reference))
        except (TypeError, ValueError):
            raise ValueError(f"msa reference {i} is not a sentiment score: {reference!r}") from None
    return golds


def _score_msa(predictions: Sequence[Any], references: Sequence[Any], scheme: str) -> dict:
    if scheme not in MSA_SCHEMES:
        raise ValueError(f"msa_scheme must be one of {MSA_SCHEMES}, got {scheme!r}")
    golds = _gold_scores(references)
    parsed = [parse_sentiment_answer(p) for p in predictions]
    # an answer without a score is a miss (wrong, counted in n_score_missing), never a 0.0 that could be right
    scores = [score for _, score in parsed]
    regression = (sims_regression_metrics if scheme == "sims" else mosi_regression_metrics)(scores, golds)
    mllm = mllm_sentiment_metrics([word for word, _ in parsed], golds)
    results = dict(regression)
    results.update({f"mllm_{k}": v for k, v in mllm.items() if k != "n_samples"})
    results["scheme"] = scheme
    return results


def msa_views(
    text_metrics: dict,
    references: Sequence[Any],
    head_scores: Sequence[float] | None = None,
    *,
    msa_scheme: str = "mosi",
) -> dict:
    """MSA results that say where their score comes from (`score_source`).

    Without head scores: `text_metrics` (from `score("msa", ...)`, scores parsed from the answers) with
    `score_source: "text"`. With them (N floats, one per reference): the regression metrics of the sentiment head's
    continuous scores at the top level (`score_source: "sentiment_head"`; MAE and Corr are then meaningful), and the
    text-parsed metrics, MLLM-style WAF included, under `text_parsed`. Non-finite head scores (a diverged head) fall
    back to the text view with a warning.
    """
    if head_scores is None:
        return {**text_metrics, "score_source": "text"}
    if len(head_scores) != len(references):
        raise ValueError(f"{len(head_scores)} head scores but {len(references)} references")
    golds = _gold_scores(references)
    try:
        regression = (sims_regression_metrics if msa_scheme == "sims" else mosi_regression_metrics)(head_scores, golds)
    except ValueError as err:
        logger.warning("msa: the sentiment head's scores cannot be scored (%s); reporting the text view", err)
        return {**text_metrics, "score_source": "text", "sentiment_head_error": str(err)}
    return {**regression, "scheme": msa_scheme, "score_source": "sentiment_head", "text_parsed": dict(text_metrics)}


def _score_mer(predictions: Sequence[str], references: Sequence[str], wheels: EmotionWheels | None) -> dict:
    first_words = [parse_answer("mer", p)["emotion"] for p in predictions]
    results = classification_metrics(first_words, [str(r) for r in references])
    if wheels is None:
        logger.warning("mer: no emotion wheels given, the hit rate is not computed")
        return results
    # the hit rate reads every emotion the answer names (comma separated), as the reference reads a label set
    label_sets = [parse_answer("ov-mer", p)["emotions"] for p in predictions]
    return {**hit_rate(label_sets, [str(r) for r in references], wheels), **results}


def _parse_intent(text: str, inventory: set[str]) -> str | None:
    # multi-word intents ("Ask for help") are matched whole; otherwise the first word, as parse_answer reads it
    whole = text.strip().strip(" .!\"'").lower()
    if whole in inventory:
        return whole
    return parse_answer("mir", text)["intent"]


def _intent_labels(labels: Sequence[str] | str | None) -> Sequence[str] | None:
    # a string names a benchmark's inventory ("mintrec"); a sequence is the inventory itself
    return intent_inventory(labels) if isinstance(labels, str) else labels


def _erg_gold(reference: Any) -> str | None:
    if isinstance(reference, Mapping):
        return reference.get("emotion") or reference.get("response_emotion")
    text = str(reference or "")
    if "<think>" in text.lower():
        return parse_erg_answer(text)[0]
    return text.strip() or None


def _jx4mei_gold(reference: Any) -> Mapping[str, Any]:
    if isinstance(reference, Mapping):
        return reference
    return parse_answer("jx4mei", str(reference or ""))  # a gold answer "emotion: ...; intent: ...; because: ..."


def score(
    task: str,
    predictions: Sequence[str],
    references: Sequence[Any],
    wheels: EmotionWheels | str | Path | None = None,
    *,
    judge: Judge | None = None,
    msa_scheme: str = "mosi",
    intent_labels: Sequence[str] | str | None = None,
    emotion_labels: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Score N free-text answers of `task` against N gold references (see the module table).

    Args:
        task: one of msa, mer, ov-mer, eri, mir, erg, jx4mei.
        predictions: the model's answers (for msa also numbers or JSON objects: other systems' score files).
        references: structured gold labels.
        wheels: an `EmotionWheels` or its directory (mer hit rate, ov-mer, erg fallback, eri label proxy).
        judge: a prompt -> reply callable for the ERI LLM judge (`OpenAIJudge`, `TransformersJudge`, ...).
        msa_scheme: "mosi" (MOSI/MOSEI metrics) or "sims" (CH-SIMS buckets).
        intent_labels: the MIR / JX4MEI intent inventory the averages run over: a benchmark's name ("mintrec",
            "mintrec2", "jx4mei"; see `mir.INTENT_INVENTORIES`) or the labels. Default for mir: the union of gold
            and predicted intents (sklearn's default; `label_set` in the result says which); for jx4mei: see
            `jx4mei_metrics`.
        emotion_labels: the JX4MEI emotion inventory (default: the gold and predicted emotions).
    """
    task = normalize_task(task)
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    if not len(predictions):
        raise ValueError("no predictions to score")
    if task == "msa":  # numbers stay numbers: other systems' files give bare scores
        return _score_msa(list(predictions), references, msa_scheme)
    predictions = ["" if p is None else str(p) for p in predictions]
    wheels = as_wheels(wheels)
    if task == "mer":
        results = _score_mer(predictions, references, wheels)
    elif task == "ov-mer":
        preds = [parse_answer("ov-mer", p)["emotions"] for p in predictions]
        golds = [split_labels(r) for r in references]
        results = ovmer_metrics(preds, golds, wheels) if wheels is not None else exact_set_metrics(preds, golds)
    elif task == "eri":
        golds = [str(r or "") for r in references]
        preds = [parse_answer("eri", p)["reason"] for p in predictions]
        results = eri_proxy_metrics(preds, golds, wheels)
        if judge is not None:
            results.update(judge_eri(preds, golds, judge))
    elif task == "mir":
        golds = [str(r) for r in references]
        labels = _intent_labels(intent_labels)
        inventory = {label.lower().strip() for label in (labels or golds)}
        preds = [_parse_intent(p, inventory) for p in predictions]
        results = intent_metrics(preds, golds, labels)
    elif task == "jx4mei":
        results = jx4mei_metrics(
            [parse_answer("jx4mei", p) for p in predictions],
            [_jx4mei_gold(r) for r in references],
            emotion_labels=emotion_labels,
            intent_labels=_intent_labels(intent_labels),
        )
    else:
        parsed = [parse_erg_answer(p) for p in predictions]
        results = erg_metrics(
            [e for e, _ in parsed], [r for _, r in parsed], [_erg_gold(r) for r in references], wheels
        )
    return results


__all__ = ["MSA_SCHEMES", "msa_views", "normalize_task", "score"]
