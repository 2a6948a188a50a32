"""JX4MEI joint emotion-intent explanation metrics: both labels, their joint accuracy, and explanation overlap.

Shapes: N parsed answers and N gold references, each `{"emotion", "intent", "explanation"}` (free text; `None`
where an answer lacks a field).

- emotion and intent, each scored as classification: accuracy, macro and weighted F1 / precision / recall, through
  `mir.intent_metrics` (lower-cased). The averages run over the label inventory when given (`emotion_labels=
  JX4MEI_EMOTIONS`, `intent_labels=JX4MEI_INTENTS`), else over the gold and predicted labels; an unparsed
  prediction only counts as an error. Keys `emotion_*` and `intent_*`.
- `joint_accuracy`: the share of samples whose emotion and intent are both right.
- explanation overlap: the XMEI-Qwen paper reports BLEU-4, ROUGE-L, METEOR, BERTScore, BLEURT and CIDEr. None of
  these is computed here; the offline overlap proxies of ERI (`eri.token_f1`, `eri.rouge_l`) stand in and are
  named `explanation_proxy_*`, never to be confused with the published scores.
- unparsable answers are counted, never raised: `n_missing_emotion`, `n_missing_intent`, `n_missing_explanation`
  per field, and `n_unparsable`, the answers that miss at least one of the three.

Labels are mapped onto the JX4MEI spellings before comparison (`normalize_emotion`, `normalize_intent`: `"angry"` ->
`"anger"`, `"Con"` -> `"consoling"`); labels outside the 7 emotions / 9 intents compare as they are. The converter
(`processing/converters/jx4mei.py`) maps the gold labels with the same two functions, so both sides agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .eri import rouge_l, token_f1
from .mir import intent_metrics

FIELDS = ("emotion", "intent", "explanation")

# other spellings seen for the same classes: inflections, and the three-letter abbreviations of MC-EIU's figures
EMOTION_ALIASES = {
    "happiness": "happy",
    "joy": "happy",
    "joyful": "happy",
    "hap": "happy",
    "surprised": "surprise",
    "sur": "surprise",
    "sadness": "sad",
    "disgusted": "disgust",
    "dis": "disgust",
    "angry": "anger",
    "ang": "anger",
    "fearful": "fear",
    "afraid": "fear",
    "scared": "fear",
    "fea": "fear",
    "neu": "neutral",
}
INTENT_ALIASES = {
    "question": "questioning",
    "que": "questioning",
    "agree": "agreeing",
    "agreement": "agreeing",
    "agr": "agreeing",
    "acknowledge": "acknowledging",
    "acknowledgement": "acknowledging",
    "acknowledgment": "acknowledging",
    "ack": "acknowledging",
    "encourage": "encouraging",
    "encouragement": "encouraging",
    "enc": "encouraging",
    "console": "consoling",
    "consolation": "consoling",
    "con": "consoling",
    "suggest": "suggesting",
    "suggestion": "suggesting",
    "sug": "suggesting",
    "wish": "wishing",
    "wis": "wishing",
    "sympathize": "sympathizing",
    "sympathise": "sympathizing",
    "sympathising": "sympathizing",
    "sympathy": "sympathizing",
    "sym": "sympathizing",
    "neu": "neutral",
}


def normalize_emotion(word: str | None) -> str | None:
    """`"Happiness"`, `"Hap"` -> `"happy"`; a word outside `JX4MEI_EMOTIONS` comes back lower-cased."""
    key = str(word or "").strip().strip(".").lower()
    return EMOTION_ALIASES.get(key, key) or None


def normalize_intent(word: str | None) -> str | None:
    """`"Consoling"`, `"Con"` -> `"consoling"`; a word outside `JX4MEI_INTENTS` comes back lower-cased."""
    key = str(word or "").strip().strip(".").lower()
    return INTENT_ALIASES.get(key, key) or None


def _field(answer: Mapping[str, Any] | None, key: str) -> str | None:
    value = (answer or {}).get(key)
    return (str(value).strip() or None) if value is not None else None


def jx4mei_metrics(
    preds: Sequence[Mapping[str, Any] | None],
    golds: Sequence[Mapping[str, Any]],
    *,
    emotion_labels: Sequence[str] | None = None,
    intent_labels: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Scores of N parsed joint answers against N gold `{"emotion", "intent", "explanation"}` references.

    Args:
        preds: parsed answers (`parse_answer("jx4mei", text)`); `None` or missing keys count as unparsed fields.
        golds: gold references with the same keys.
        emotion_labels: emotion inventory to average over (default: the gold and predicted emotions).
        intent_labels: intent inventory to average over (default: the gold and predicted intents).
    """
    if len(preds) != len(golds):
        raise ValueError(f"preds and golds differ in length: {len(preds)} vs {len(golds)}")
    if not golds:
        raise ValueError("no samples to score")
    pred_emotions = [normalize_emotion(_field(p, "emotion")) for p in preds]
    pred_intents = [normalize_intent(_field(p, "intent")) for p in preds]
    gold_emotions = [normalize_emotion(_field(g, "emotion")) for g in golds]
    gold_intents = [normalize_intent(_field(g, "intent")) for g in golds]
    if None in gold_emotions or None in gold_intents:
        raise ValueError("every reference needs an emotion and an intent")
    emotion_inventory = [normalize_emotion(label) for label in emotion_labels] if emotion_labels else None
    intent_inventory = [normalize_intent(label) for label in intent_labels] if intent_labels else None

    results: dict[str, Any] = {}
    for name, predicted, gold, inventory in (
        ("emotion", pred_emotions, gold_emotions, emotion_inventory),
        ("intent", pred_intents, gold_intents, intent_inventory),
    ):
        scores = intent_metrics(predicted, gold, inventory)
        results.update({f"{name}_{key}": value for key, value in scores.items() if key != "n_samples"})
    both = [pe == ge and pi == gi for pe, ge, pi, gi in zip(pred_emotions, gold_emotions, pred_intents, gold_intents)]
    results["joint_accuracy"] = float(np.mean(both))

    pred_texts = [_field(p, "explanation") for p in preds]
    gold_texts = [_field(g, "explanation") for g in golds]
    results["explanation_proxy_token_f1"] = float(np.mean([token_f1(p, g) for p, g in zip(pred_texts, gold_texts)]))
    results["explanation_proxy_rouge_l"] = float(np.mean([rouge_l(p, g) for p, g in zip(pred_texts, gold_texts)]))

    missing = {key: [_field(p, key) is None for p in preds] for key in FIELDS}
    for key in FIELDS:
        results[f"n_missing_{key}"] = sum(missing[key])
    results["n_unparsable"] = sum(any(flags) for flags in zip(*missing.values()))
    results["n_samples"] = len(golds)
    results["note"] = "explanation scores are offline proxies, not the published BLEU/ROUGE/METEOR/BERTScore"
    return results


__all__ = ["EMOTION_ALIASES", "FIELDS", "INTENT_ALIASES", "jx4mei_metrics", "normalize_emotion", "normalize_intent"]
