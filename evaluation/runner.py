"""Model mode of the evaluator: generate answers on a schema dataset, parse them per task, score them.

    from nanoemox.evaluation.runner import evaluate_model
    results = evaluate_model(model, processor, dataset["test"], media_root="data/demo", tasks=["mer", "mir"])

Also what `nanoemox train` runs on the held-out split after its last stage, and `nanoemox evaluate --model DIR
--data DIR --tasks mer,mir` from the shell. Decoding is greedy (deterministic scores); rows whose media cannot be
read are skipped and counted, never a crash. A Multi-LoRA checkpoint (per-task adapters) answers each task with
its own adapter, the base where a task has none (`results["adapters"]` says which).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Any

import torch
from tqdm.auto import tqdm

from nanoemox.modeling.pipeline_nanoemox import use_task_adapter
from nanoemox.processing.schema import resolve_media

from .hybrid_gate import HybridGateRecorder
from .scoring import msa_views, score

logger = logging.getLogger(__name__)


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


def _head_scores(model, task: str):
    """A context collecting the sentiment head's scores while msa answers are generated (one (b,) tensor per batch,
    in the order of the rows that were answered); an empty list for other tasks or models without the head."""
    if task == "msa" and getattr(model.config, "sentiment_head", False):
        return model.capture_sentiment_scores()
    return contextlib.nullcontext([])


def _user_turn(messages: list[dict], root) -> list[dict]:
    user = [m for m in messages if m["role"] != "assistant"]
    return [
        {
            "role": m["role"],
            "content": m["content"]
            if isinstance(m["content"], str)
            else [dict(p, path=resolve_media(p.get("path"), root)) for p in m["content"]],
        }
        for m in user
    ]


@torch.no_grad()
def generate_answers(
    model,
    processor,
    rows: Sequence[dict],
    *,
    media_root=None,
    batch_size: int = 8,
    max_new_tokens: int = 48,
    drop_modalities: Sequence[str] = (),
    desc: str = "generating",
) -> tuple[list[str | None], int]:
    """Greedy answers for `rows` (None where the row's media could not be read); returns (answers, skipped)."""
    model.eval()
    answers: list[str | None] = [None] * len(rows)
    skipped = 0
    drop = frozenset(drop_modalities)
    for start in tqdm(range(0, len(rows), batch_size), desc=desc, leave=False):
        chunk = rows[start : start + batch_size]
        texts, media, index, priors = [], [], [], []
        for i, row in enumerate(chunk):
            try:
                loaded = processor.load_media(
                    i,
                    resolve_media(row.get("video"), media_root),
                    resolve_media(row.get("audio"), media_root),
                    resolve_media(row.get("face_track"), media_root),
                    drop,
                )
            except ValueError as err:
                skipped += 1
                logger.warning("skipping %s: %s", row.get("id"), err)
                continue
            messages = _user_turn(row["messages"], media_root)
            texts.append(processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
            media.append(loaded)
            index.append(start + i)
            priors.append(row.get("subtitle"))
        if not texts:
            continue
        inputs = processor.assemble(texts, media, priors=priors)
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
        decoded = processor.batch_decode(out[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
        for j, text in zip(index, decoded):
            answers[j] = text.strip()
    return answers, skipped


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
    max_new_tokens: int = 48,
    drop_modalities: Sequence[str] = (),
) -> dict[str, Any]:
    """Scores per task on `dataset` (a schema split): {"tasks": {task: metrics}, "predictions": [...]}

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
        if getattr(model.config, "task_adapters", None):  # Multi-LoRA: this task's adapter, or the base
            results.setdefault("adapters", {})[task] = use_task_adapter(model, task)
        # the hybrid compressors' mean gate G over this task's samples; msa: the sentiment head's scores
        with HybridGateRecorder(model) as gates, _head_scores(model, task) as head:
            answers, skipped = generate_answers(
                model,
                processor,
                rows,
                media_root=media_root,
                batch_size=batch_size,
                max_new_tokens=max_new_tokens,
                drop_modalities=drop_modalities,
                desc=f"{task}{' -' + ','.join(drop_modalities) if drop_modalities else ''}",
            )
        kept = [(r, a) for r, a in zip(rows, answers) if a is not None]
        preds = [a for _, a in kept]
        refs = [reference_for(task, r["labels"]) for r, _ in kept]
        metrics = score(task, preds, refs, wheels=wheels) if kept else {}
        head = torch.cat(head).tolist() if head else None
        if head is not None and len(head) != len(kept):  # one prefill per generate call is what aligns them
            logger.warning("msa: %d head scores for %d answers; reporting the text view only", len(head), len(kept))
            head = None
        if task == "msa" and kept:  # from the head when the checkpoint has one, the text-parsed view kept beside
            metrics = msa_views(metrics, refs, head)
        metrics["n_skipped_media"] = skipped
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
