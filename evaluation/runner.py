"""Model mode of the evaluator: generate answers on a schema dataset, parse them per task, score them.

    from nanoemox.evaluation.runner import evaluate_model
    results = evaluate_model(model, processor, dataset["test"], media_root="data/demo", tasks=["mer", "mir"])

Also what `nanoemox train` runs on the held-out split after its last stage, and `nanoemox evaluate --model DIR
--data DIR --tasks mer,mir` from the shell. Decoding is greedy (deterministic scores); rows whose media cannot be
read are skipped and counted, never a crash. A Multi-LoRA checkpoint (per-task adapters) answers each task with
its own adapter, the base where a task has none (`results["adapters"]` says which).

`scoring="likelihood"` (`nanoemox evaluate --scoring likelihood`) answers the closed-set tasks (those with a label set
in `processor.task_labels`: mer, mir, msa polarity) with the label the model finds most probable, scored on generate's
own cache as the pipeline's `scores` (`scoring_nanoemox`), so none of their answers is unparsable. For msa the label
is the polarity word; the score beside it is still the one the generated answer gives (see `likelihood_answer`).
Other tasks, and the default `scoring="generate"`, are scored on the generated text.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from .answering import answer_rows
from .hybrid_gate import HybridGateRecorder
from .msa import parse_sentiment_answer
from .scoring import SCORING_MODES, msa_views, score

logger = logging.getLogger(__name__)


def likelihood_answer(task: str, generated: str, scores: dict[str, float]) -> str:
    """The answer of likelihood scoring: the most probable label of `scores` (the first of equals, in label order).
    For msa that label is the polarity word, followed by the score the generated answer gives ("positive (score
    1.20)"; the word alone when the answer gives none): the regression metrics still read the generated score, the
    polarity metrics (`mllm_*`) the most probable word."""
    if not scores:
        raise ValueError(f"{task}: no label probabilities to answer from (the task has no label set)")
    label = max(scores, key=scores.get)
    if task != "msa":
        return label
    _, value = parse_sentiment_answer(generated)
    return label if value is None else f"{label} (score {value:.2f})"


def reference_for(task: str, labels: dict) -> Any:
    """The gold reference `score` expects for `task`, from a schema row's `labels`."""
    if task == "msa":
        return labels["sentiment"]
    if task == "mer":
        return labels["emotion"]
    if task == "ov-mer":
        return labels["ov_emotions"] or [labels["emotion"]]
    if task == "eri":
        return labels["reason"]
    if task == "mir":
        return labels["intent"]
    if task == "jx4mei":
        return {"emotion": labels["emotion"], "intent": labels["intent"], "explanation": labels["reason"]}
    return {"emotion": labels["response_emotion"] or labels["emotion"], "response": labels["response"]}


def generate_answers(
    model,
    processor,
    rows: Sequence[dict],
    *,
    media_root=None,
    batch_size: int = 8,
    num_workers: int = 0,
    max_new_tokens: int = 48,
    drop_modalities: Sequence[str] = (),
    desc: str = "generating",
    scoring: str = "generate",
) -> tuple[list[str | None], int, list[float | None]]:
    """Greedy answers for `rows` (None where the row's media could not be read), through `answering.answer_rows`;
    with `scoring="likelihood"` a closed-set row's answer is its most probable label (`likelihood_answer`).

    Under `accelerate launch` each process answers every `num_processes`-th row and the answers are gathered, so
    every process returns all of them, in the order of `rows`.

    Returns (answers, skipped, head scores): the sentiment head's score per row, read at each batch's prefill (None
    without the head, and for skipped rows).
    """
    from nanoemox.machine import process_state

    if scoring not in SCORING_MODES:
        raise ValueError(f"scoring={scoring!r}: expected one of {', '.join(SCORING_MODES)}")
    state = process_state()
    rank, world = state.process_index, state.num_processes
    mine = [rows[i] for i in range(rank, len(rows), world)]
    answers: list[str | None] = [None] * len(rows)
    head: list[float | None] = [None] * len(rows)
    found: list[tuple[int, str, float | None]] = []
    skipped = 0
    for answer in answer_rows(
        model,
        processor,
        mine,
        batch_size=batch_size,
        num_workers=num_workers,
        media_root=media_root,
        drop_modalities=drop_modalities,
        progress=desc,
        max_new_tokens=max_new_tokens,
        scores=scoring == "likelihood",
    ):
        if answer.error is not None:
            skipped += 1
            continue
        text = answer.text if answer.scores is None else likelihood_answer(answer.task, answer.text, answer.scores)
        found.append((rank + answer.index * world, text, answer.head_score))
    if world > 1:
        from accelerate.utils import gather_object

        found = gather_object(found)
        skipped = sum(gather_object([skipped]))
    for index, text, head_score in found:
        answers[index], head[index] = text, head_score
    return answers, skipped, head


def evaluate_model(
    model,
    processor,
    dataset,
    *,
    media_root=None,
    tasks: Sequence[str] = ("mer", "mir"),
    max_samples: int | None = None,
    wheels=None,
    batch_size: int = 8,
    num_workers: int = 0,
    max_new_tokens: int = 48,
    drop_modalities: Sequence[str] = (),
    scoring: str = "generate",
) -> dict[str, Any]:
    """Scores per task on `dataset` (a schema split): {"tasks": {task: metrics}, "predictions": [...]}

    scoring: "generate" (the generated answers) or "likelihood" (closed-set tasks answered by their most probable
    label; each such task's metrics say `"answered_by": "likelihood"`).

    With a hybrid-compressor adapter, each task's metrics also carry `hybrid_gate`: {"frame": G, "audio": G}, the
    mean gate over the task's samples that have the branch (1 = all emotion expert, 0 = all general expert).
    """
    results: dict[str, Any] = {"tasks": {}, "predictions": [], "dropped_modalities": list(drop_modalities)}
    for task in tasks:
        rows = [r for r in dataset if r["task"] == task]
        if max_samples is not None:
            rows = rows[:max_samples]
        if not rows:
            logger.warning("no %s rows to evaluate", task)
            continue
        if model.task_adapters:  # Multi-LoRA: this task's adapter, or the base
            results.setdefault("adapters", {})[task] = model.use_task_adapter(task)
        # the hybrid compressors' mean gate G over this task's samples
        with HybridGateRecorder(model) as gates:
            answers, skipped, head_scores = generate_answers(
                model,
                processor,
                rows,
                media_root=media_root,
                batch_size=batch_size,
                num_workers=num_workers,
                max_new_tokens=max_new_tokens,
                drop_modalities=drop_modalities,
                desc=f"{task}{' -' + ','.join(drop_modalities) if drop_modalities else ''}",
                scoring=scoring,
            )
        kept = [(r, a) for r, a in zip(rows, answers) if a is not None]
        preds = [a for _, a in kept]
        refs = [reference_for(task, r["labels"]) for r, _ in kept]
        metrics = score(task, preds, refs, wheels=wheels) if kept else {}
        head = [h for h, a in zip(head_scores, answers) if a is not None]
        head = head if task == "msa" and kept and all(h is not None for h in head) else None
        if task == "msa" and kept:  # from the head when the checkpoint has one, the text-parsed view kept beside
            metrics = msa_views(metrics, refs, head)
        metrics["n_skipped_media"] = skipped
        if scoring == "likelihood" and task in getattr(processor, "task_labels", {}):
            metrics["answered_by"] = "likelihood"
        if gates.means():
            metrics["hybrid_gate"] = gates.means()
            logger.info("%s: mean hybrid-compressor gate (emotion expert share) %s", task, metrics["hybrid_gate"])
        results["tasks"][task] = metrics
        results["predictions"].extend(
            {"id": r["id"], "task": task, "prediction": a, "reference": reference_for(task, r["labels"])}
            for r, a in kept
        )
        for prediction, value in zip(results["predictions"][-len(kept) :], head or []):
            prediction["sentiment_score"] = value
    return results
