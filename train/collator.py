"""NanoEmoXCollator: rows of the dataset schema -> a training batch (labels on the assistant's answer only).

    from nanoemox.train.collator import NanoEmoXCollator
    collator = NanoEmoXCollator(processor, media_root="data/demo")
    batch = collator([dataset[0], dataset[1]])      # input_ids, attention_mask, labels, media tensors, task_index
    model(**batch).loss

`sentiment_labels` (b,) carries the gold score of msa rows (NaN for the others) for models with the sentiment head
(EGMF's regression head, `config.sentiment_head`); models without it ignore the key.

Plugs into `Trainer(data_collator=collator)` (with `remove_unused_columns=False`, since the rows' columns are not
model inputs). A row whose media file is missing or unreadable is skipped and counted (`collator.skipped`), never a
crash mid-epoch. With a `FeatureCache`, the frozen encoders' outputs are read from the cache instead of decoding
and encoding the media (same inputs to the adapters, so the same loss).
"""

from __future__ import annotations

import logging
import os
from collections import Counter

import torch
from transformers import BatchFeature

from nanoemox.modeling.prompts_nanoemox import TASKS
from nanoemox.processing.schema import resolve_media

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100


def gold_sentiment(row: dict) -> float:
    """The gold sentiment score of an msa row (schema `labels.sentiment`, [-3, 3]); NaN for any other row."""
    value = (row.get("labels") or {}).get("sentiment")
    return float(value) if row.get("task") == "msa" and value is not None else float("nan")


def _resolved_messages(messages: list[dict], root) -> list[dict]:
    out = []
    for message in messages:
        content = message["content"]
        if not isinstance(content, str):
            content = [dict(part, path=resolve_media(part.get("path"), root)) for part in content]
        out.append({"role": message["role"], "content": content})
    return out


class NanoEmoXCollator:
    """Args:
    processor: the checkpoint's `NanoEmoXProcessor`.
    media_root: folder that relative media paths in the rows are relative to (the dataset folder).
    feature_cache: optional `FeatureCache` of the frozen encoders.
    drop_modalities: branches to leave out of every sample (ablations).
    """

    def __init__(self, processor, *, media_root=None, feature_cache=None, drop_modalities=()):
        self.processor = processor
        self.media_root = media_root
        self.feature_cache = feature_cache
        self.drop = frozenset(drop_modalities)
        self.skipped: Counter = Counter()
        tokenizer = processor.tokenizer
        self._im_start = tokenizer.convert_tokens_to_ids("<|im_start|>")
        self._answer_offset = len(tokenizer("<|im_start|>assistant\n", add_special_tokens=False)["input_ids"])

    # ------------------------------------------------------------------ one row
    def _row_sources(self, row: dict) -> tuple:
        video = resolve_media(row.get("video"), self.media_root)
        audio = resolve_media(row.get("audio"), self.media_root)
        faces = resolve_media(row.get("face_track"), self.media_root)
        for path in (video, audio, faces):
            if path and not os.path.exists(path):
                raise ValueError(f"{path}: file not found")
        return video, audio, faces

    def _load(self, index: int, row: dict) -> dict:
        video, audio, faces = self._row_sources(row)
        if self.feature_cache is not None:
            return self.feature_cache.get_or_compute(index, video, audio, faces, self.drop)
        return self.processor.load_media(index, video, audio, faces, self.drop)

    def _labels(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Targets are the tokens after the last `<|im_start|>assistant\\n` (the answer and its `<|im_end|>`)."""
        labels = torch.full_like(input_ids, IGNORE_INDEX)
        for i, row in enumerate(input_ids):
            starts = (row == self._im_start).nonzero().flatten()
            if len(starts) == 0:
                continue
            begin = int(starts[-1]) + self._answer_offset
            labels[i, begin:] = row[begin:]
        return labels.masked_fill(attention_mask == 0, IGNORE_INDEX)

    # ------------------------------------------------------------------ batch
    def __call__(self, rows: list[dict]) -> BatchFeature:
        texts, media, tasks, priors, sentiments = [], [], [], [], []
        for index, row in enumerate(rows):
            try:
                loaded = self._load(index, row)
            except ValueError as err:
                self.skipped["missing" if "file not found" in str(err) else "unreadable"] += 1
                logger.warning("skipping row %s: %s", row.get("id"), err)
                continue
            messages = _resolved_messages(row["messages"], self.media_root)
            texts.append(self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=False))
            media.append(loaded)
            tasks.append(TASKS.index(row["task"]))
            priors.append(row.get("subtitle"))
            sentiments.append(gold_sentiment(row))
        if not texts:
            # every row of this batch was unusable: train on the first row's text alone rather than stop the epoch
            row = rows[0]
            logger.warning("every row of the batch was skipped; using %s without its media", row.get("id"))
            everything = frozenset({"frame", "face", "audio"})
            loaded = self.processor.load_media(0, None, None, None, everything)
            messages = _resolved_messages(row["messages"], self.media_root)
            texts.append(self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=False))
            given = dict.fromkeys(("frame", "face", "audio"), True)
            if self.feature_cache is not None:
                loaded = {"tensors": {}, "missing": loaded["missing"]}
            media.append({**loaded, "given": given})
            tasks.append(TASKS.index(row["task"]))
            priors.append(row.get("subtitle"))
            sentiments.append(gold_sentiment(row))
        if self.feature_cache is not None:
            batch = self.feature_cache.assemble(texts, media, priors=priors)
        else:
            batch = self.processor.assemble(texts, media, priors=priors)
        batch["labels"] = self._labels(batch["input_ids"], batch["attention_mask"])
        batch["task_index"] = torch.tensor(tasks)
        batch["sentiment_labels"] = torch.tensor(sentiments, dtype=torch.float32)
        return batch

    @property
    def num_skipped(self) -> int:
        return sum(self.skipped.values())
