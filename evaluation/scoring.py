"""One entry point for every task: `score(task, predictions, references, wheels=None) -> dict`.

Predictions are free-text answers, read with `parse_answer` of the task prompts, except: msa answers with
`msa.parse_sentiment_answer` (numbers, "score: -0.6", JSON objects...); mer and mir answers are matched to the label
set (`emotion_labels` / `intent_labels`, default the gold labels): "The speaker seems angry." reads "angry", an
answer naming no label is unparsed (`n_unparsed`). References are the structured gold labels:

| task | reference | metrics |
|---|---|---|
| msa | float score | MOSI/MOSEI regression (or CH-SIMS buckets with `msa_scheme="sims"`) + MLLM-style WAF |
| mer | label, or label list / comma string | wheel hit rate (needs wheels) + WAF / WAR / UAR (one-label golds) |
| ov-mer | list of labels or comma string | OV-MER set P/R/F over wheels; without wheels only `exact_set_*` |
| eri | reason text | LLM-judge clue/label overlap when `judge` is given, always the offline `proxy_` scores |
| mir | intent string | accuracy, macro and weighted F1/P/R over `intent_labels` (e.g. "mintrec") |
| erg | {"emotion", "response"} or string | emotion accuracy, coarse hit rate, Dist-1/2 |
| jx4mei | {"emotion", "intent", "explanation"} | each label's accuracy, F1; joint accuracy; explanation proxies |

    from nanoemox.evaluation.scoring import score
    score("mer", ["happy", "I feel sad"], ["happy", "sad"], wheels="shared/reference/emotion_wheel")

The same scores as a 🤗 evaluate module, one config per task (`EVALUATE_MODULE` is its folder, as installed):

    import evaluate
    metric = evaluate.load(str(EVALUATE_MODULE), "mer", wheels="shared/reference/emotion_wheel")
    metric.compute(predictions=["happy", "I feel sad"], references=["happy", "sad"])

A checkpoint with the sentiment head (EGMF's regression head) also gives a continuous score per msa sample;
`msa_views` then reports MSA from the head and keeps the text-parsed metrics as a second view.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from nanoemox.modeling.prompts_nanoemox import normalize_task, parse_answer

from .erg import erg_metrics, parse_erg_answer
from .eri import Judge, emotion_words, eri_proxy_metrics, judge_eri
from .jx4mei import jx4mei_metrics
from .mer import classification_metrics, hit_rate
from .mir import intent_inventory, intent_metrics
from .msa import mllm_sentiment_metrics, mosi_regression_metrics, parse_sentiment_answer, sims_regression_metrics
from .ovmer import exact_set_metrics, ovmer_metrics
from .wheels import EmotionWheels, as_wheels, normalize_label, split_labels

logger = logging.getLogger(__name__)

MSA_SCHEMES = ("mosi", "sims")
# how model mode (`runner.evaluate_model`) answers the closed-set tasks: the generated text, or the most probable label
SCORING_MODES = ("generate", "likelihood")
EVALUATE_MODULE = Path(__file__).resolve().parent / "modules" / "nanoemox"
_WORD = re.compile(r"[a-z][a-z\-']*")


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


def _read_label(text: str, inventory: Collection[str]) -> str | None:
    """The label a free-text answer gives, or `None` when it names none.

    The whole answer when it is a label of `inventory` ("Ask for help."); else the inventory label it names first,
    as whole words ("The speaker seems angry." -> "angry"); else a one-word answer as it stands (a label outside
    the inventory: wrong, but read); else `None`, an unparsed answer.
    """
    lowered = " ".join(text.lower().split())
    whole = lowered.strip(" .!?;:\"'")
    if whole in inventory:
        return whole
    named = [
        (match.start(), -len(label), label)
        for label in inventory
        if (match := re.search(rf"(?<![\w-]){re.escape(label)}(?![\w-])", lowered))
    ]
    if named:
        return min(named)[2]
    words = _WORD.findall(lowered)
    return words[0] if len(words) == 1 else None


def _emotion_label_set(text: str, wheels: EmotionWheels) -> list[str]:
    # the comma-separated labels; an item that is no known emotion form (free text) gives the emotion words in it
    labels = []
    for item in parse_answer("ov-mer", text)["emotions"]:
        labels.extend([item] if wheels.is_emotion_word(item) else emotion_words(item, wheels))
    return labels


def _score_mer(
    predictions: Sequence[str],
    references: Sequence[Any],
    wheels: EmotionWheels | None,
    emotion_labels: Sequence[str] | None,
) -> dict:
    gold_sets = [split_labels(r) for r in references]
    empty = next((i for i, labels in enumerate(gold_sets) if not labels), None)
    if empty is not None:
        raise ValueError(f"mer reference {empty} has no label: {references[empty]!r}")
    inventory = {normalize_label(label) for label in emotion_labels or [] if str(label).strip()}
    inventory = inventory or {label for labels in gold_sets for label in labels}
    read = [_read_label(p, inventory) for p in predictions]
    # the classic metrics are single-label: they run over the samples whose gold is one label
    single = [i for i, labels in enumerate(gold_sets) if len(labels) == 1]
    if single:
        results = classification_metrics([read[i] for i in single], [gold_sets[i][0] for i in single])
    else:
        results = {"waf": None, "war": None, "uar": None}
    results |= {
        "n_samples": len(predictions),
        "n_unparsed": read.count(None),
        "n_gold_multi_label": len(predictions) - len(single),
    }
    if wheels is None:
        logger.warning("mer: no emotion wheels given, the hit rate is not computed")
        return results
    # the hit rate reads every emotion the answer names, as the reference reads a label set
    label_sets = [_emotion_label_set(p, wheels) for p in predictions]
    return {**hit_rate(label_sets, gold_sets, wheels), **results}


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
        emotion_labels: the emotion label set. mer: the labels a free-text answer is matched against (default: the
            gold labels present). jx4mei: the inventory the averages run over (default: the gold and predicted
            emotions).
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
        results = _score_mer(predictions, references, wheels, emotion_labels)
    elif task == "ov-mer":
        preds = [parse_answer("ov-mer", p)["emotions"] for p in predictions]
        golds = [split_labels(r) for r in references]
        if wheels is None:
            logger.warning("ov-mer: no emotion wheels given; reporting the exact-set F, not the OV-MER F")
            results = exact_set_metrics(preds, golds)
        else:
            results = ovmer_metrics(preds, golds, wheels)
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
        results = intent_metrics([_read_label(p, inventory) for p in predictions], golds, labels)
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


__all__ = ["EVALUATE_MODULE", "MSA_SCHEMES", "SCORING_MODES", "msa_views", "normalize_task", "score"]
