"""Answer many rows: DataLoader workers read and prepare the next clips while the model answers the current batch.

    from nanoemox.evaluation.answering import answer_rows
    for answer in answer_rows(model, processor, rows, batch_size=8, num_workers=2, max_new_tokens=32):
        print(answer.id, answer.text or answer.error)

`answer_rows` is what `nanoemox evaluate --model` (through `runner.evaluate_model`) and `nanoemox predict` run. Each
row goes through the processor's one path: `prepare_row` (decoding, face track, normalisation) in a worker process,
`collate` and `generate` in this one. A row whose media cannot be read comes back with its `error` (row, file, reason)
and the batch goes on. Answers come in the order of the rows. Decoding is greedy unless `generate_kwargs` say
otherwise. A Multi-LoRA checkpoint answers each task with its own adapter.

With `scores=True` a closed-set row (a task in `processor.task_labels`: mer, mir, msa polarity) also gets its label
probabilities, scored on generate's own cache as the pipeline scores them (`scoring_nanoemox`); with `explain=True`
every answer gets its attribution over the branches (`attribution_nanoemox`; the media are still encoded once).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from nanoemox.modeling.attribution_nanoemox import (
    Attribution,
    answer_token_ids,
    check_explainable,
    encode_once,
    explain_answers,
)
from nanoemox.modeling.configuration_nanoemox import BRANCHES
from nanoemox.modeling.pipeline_nanoemox import single_threaded_opencv
from nanoemox.modeling.prepared_nanoemox import PreparedRow, RowError
from nanoemox.modeling.prompts_nanoemox import DEFAULT_TASK_LABELS, parse_answer
from nanoemox.modeling.scoring_nanoemox import generate_and_score, label_probabilities

logger = logging.getLogger(__name__)


@dataclass
class Answer:
    """One row's answer (or why it has none).

    index: the row's position in the rows given; id: its id (or position).
    text: the generated answer (None when the row could not be read: see `error`).
    modalities: branch -> used; fusion_gate_weights: the fusion gate (None without a fusion token);
    head_score: the sentiment head's score (None without the head).
    scores: the label probabilities of a closed-set row (`scores=True`), else None.
    attribution: why this answer (`explain=True`), else None.
    """

    index: int
    id: str
    task: str | None
    text: str | None = None
    error: RowError | None = None
    modalities: dict[str, bool] = field(default_factory=dict)
    fusion_gate_weights: list[float] | None = None
    head_score: float | None = None
    adapter: str | None = None
    scores: dict[str, float] | None = None
    attribution: Attribution | None = None

    def to_dict(self) -> dict[str, Any]:
        """As the `emotion-analysis` pipeline answers: generated_text, the parsed answer, modalities, gate."""
        if self.error is not None:
            return {"id": self.id, "task": self.task, "error": self.error.reason, "file": self.error.source}
        answer = parse_answer(self.task, self.text) if self.task else {"text": self.text}
        if self.head_score is not None and self.task == "msa":
            answer["head_score"] = round(self.head_score, 6)
        out = {"id": self.id, "task": self.task, "generated_text": self.text, "answer": answer}
        out.update(modalities=self.modalities, fusion_gate_weights=self.fusion_gate_weights)
        if self.scores is not None:
            out["scores"] = self.scores
        if self.attribution is not None:
            out.update(self.attribution.output())
        if self.adapter is not None:
            out["adapter"] = self.adapter
        return out


class PreparedRows(Dataset):
    """Rows as a map-style dataset whose items are prepared by the processor (in the DataLoader's workers)."""

    def __init__(self, rows: Sequence[dict], processor, **options):
        self.rows, self.processor, self.options = rows, processor, options

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> PreparedRow | RowError:
        return self.processor.prepare_row(self.rows[index], index, **self.options)


@torch.no_grad()
def answer_rows(
    model,
    processor,
    rows: Sequence[dict],
    *,
    batch_size: int = 8,
    num_workers: int = 0,
    media_root=None,
    drop_modalities: Sequence[str] = (),
    progress: bool | str = True,
    scores: bool = False,
    explain: bool = False,
    **generate_kwargs,
) -> Iterator[Answer]:
    """Yield one `Answer` per row, in order (see the module docstring). generate_kwargs: `max_new_tokens` etc.;
    decoding is greedy unless `do_sample=True` is given. scores: label probabilities for closed-set rows. explain:
    each answer's attribution over the branches."""
    model.eval()
    if explain:
        check_explainable(model)
    generate_kwargs.setdefault("do_sample", False)
    dataset = PreparedRows(rows, processor, media_root=media_root, drop_modalities=tuple(drop_modalities))
    if num_workers:
        single_threaded_opencv()
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=list)
    bar = tqdm(
        total=len(dataset),
        desc=progress if isinstance(progress, str) else "answering",
        leave=False,
        disable=not progress,
    )
    try:
        for items in loader:
            yield from _answer_batch(
                model,
                processor,
                items,
                generate_kwargs,
                rows=rows,
                media_root=media_root,
                scores=scores,
                explain=explain,
            )
            bar.update(len(items))
    finally:
        bar.close()


def _answer_batch(
    model, processor, items: list, generate_kwargs: dict, *, rows, media_root, scores: bool, explain: bool
) -> list[Answer]:
    answers: dict[int, Answer] = {}
    good = []
    for item in items:
        if hasattr(item, "reason"):  # a RowError (by shape: the processor may be a checkpoint's own remote code)
            answers[item.index] = Answer(index=item.index, id=item.id, task=None, error=item)
        else:
            good.append(item)
    groups: dict[str | None, list[PreparedRow]] = {}
    for item in good:  # a Multi-LoRA checkpoint answers each task with its own adapter
        groups.setdefault(item.task if model.task_adapters else None, []).append(item)
    for task, members in groups.items():
        adapter = model.use_task_adapter(task) if task is not None else None
        inputs = processor.collate(members).to(model.device)
        length = inputs["input_ids"].shape[1]
        task_labels = getattr(processor, "task_labels", DEFAULT_TASK_LABELS)
        candidates = [list(task_labels.get(item.task, [])) if scores else [] for item in members]
        with model.capture_prefill() as prefill:
            if explain:  # the encoders run once; generate and the masked conditions reuse their outputs
                inputs = encode_once(model, inputs)
            generated, log_likelihoods = generate_and_score(
                model,
                inputs,
                candidates,
                processor.tokenizer,
                complete=[item.task != "msa" for item in members],
                **generate_kwargs,
            )
        texts = processor.batch_decode(generated[:, length:], skip_special_tokens=True)
        record = prefill[0]
        explained = [None] * len(members)
        if explain:
            eos = generate_kwargs.get("eos_token_id", model.generation_config.eos_token_id)
            answers_ids = answer_token_ids(generated[:, length:], eos)
            explained = explain_answers(
                model, processor, [rows[m.index] for m in members], members, inputs, answers_ids, media_root=media_root
            )
        for k, (item, text) in enumerate(zip(members, texts)):
            mask = record.media_mask[k].tolist()
            answers[item.index] = Answer(
                index=item.index,
                id=item.id,
                task=item.task,
                text=text.strip(),
                modalities=dict(zip(BRANCHES, map(bool, mask))),
                fusion_gate_weights=[round(float(g), 6) for g in record.fusion_gate_weights[k]] if mask[3] else None,
                head_score=None if record.sentiment_score is None else float(record.sentiment_score[k]),
                adapter=adapter,
                scores=label_probabilities(log_likelihoods[k], candidates[k]) if candidates[k] else None,
                attribution=explained[k],
            )
    return [answers[i] for i in sorted(answers)]


__all__ = ["Answer", "PreparedRows", "answer_rows"]
