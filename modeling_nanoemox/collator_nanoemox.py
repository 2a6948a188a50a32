"""NanoEmoXCollator: dataset rows -> a training batch with labels on the answer only. Ships with every checkpoint.

    processor = AutoProcessor.from_pretrained(checkpoint, trust_remote_code=True)
    collator = processor.collator(media_root="my-dataset")     # this class, from the checkpoint's own code
    trainer = Trainer(model=model, args=TrainingArguments(..., remove_unused_columns=False),
                      train_dataset=dataset, data_collator=collator, processing_class=processor)

Rows are what `NanoEmoXProcessor.prepare` reads (see `rows_nanoemox`): the dataset schema of `nanoemox data`
(task, video, audio, face_track, subtitle, messages with the answer, labels), or TRL-style conversational rows whose
`messages` name their media (`{"type": "video", "path": ...}`) and end with the assistant's answer.
`remove_unused_columns=False` keeps those columns for the collator (they are not model inputs).

A row whose media file is missing or unreadable is left out and counted (`collator.skipped`), never a crash
mid-epoch. Beside the processor's inputs the batch carries `task_index` (b,) (the row's position in `TASKS`, -1
without a task; the curriculum logs a loss per task from it) and `sentiment_labels` (b,), the gold score of msa
rows (NaN for the others) for a model with the sentiment head; other models ignore it. With a feature cache, the
frozen encoders' outputs are read from the cache instead of decoding and encoding the media (the same loss).
"""

from __future__ import annotations

import logging
from collections import Counter

import torch

from .configuration_nanoemox import MEDIA_BRANCHES
from .prompts_nanoemox import TASKS

logger = logging.getLogger(__name__)


def gold_sentiment(row: dict) -> float:
    """The gold sentiment score of an msa row (schema `labels.sentiment`, [-3, 3]); NaN for any other row."""
    value = (row.get("labels") or {}).get("sentiment")
    return float(value) if row.get("task") == "msa" and value is not None else float("nan")


class NanoEmoXCollator:
    """Args:
    processor: the checkpoint's `NanoEmoXProcessor`.
    media_root: the folder relative media paths in the rows are relative to (the dataset folder); a row's
        `_media_root` overrides it (rows pooled from several datasets).
    feature_cache: optional feature cache of the frozen encoders (anything with `load(sample, drop)`, such as
        `nanoemox.train.feature_cache.FeatureCache`).
    drop_modalities: branches to leave out of every row (ablations).
    """

    def __init__(self, processor, *, media_root=None, feature_cache=None, drop_modalities=()):
        self.processor = processor
        self.media_root = media_root
        self.feature_cache = feature_cache
        self.drop = frozenset(drop_modalities)
        self.skipped: Counter = Counter()

    def __call__(self, rows: list[dict]):
        load = self.feature_cache.load if self.feature_cache is not None else None
        batch = self.processor.prepare(
            rows, training=True, media_root=self.media_root, drop_modalities=self.drop, load=load
        )
        for error in batch.errors:
            self.skipped["missing" if "no such file" in error.reason else "unreadable"] += 1
        if batch.inputs is None:
            # every row of this batch was unusable: train on the first row's text alone rather than stop the epoch
            logger.warning("every row of the batch was skipped; using %s without its media", rows[0].get("id", 0))
            batch = self.processor.prepare(
                rows[:1], training=True, media_root=self.media_root, drop_modalities=MEDIA_BRANCHES
            )
        inputs = batch.inputs
        kept = [rows[i] for i in batch.rows]
        inputs["task_index"] = torch.tensor([TASKS.index(t) if t in TASKS else -1 for t in batch.tasks])
        inputs["sentiment_labels"] = torch.tensor([gold_sentiment(r) for r in kept], dtype=torch.float32)
        return inputs

    @property
    def num_skipped(self) -> int:
        return sum(self.skipped.values())


__all__ = ["NanoEmoXCollator", "gold_sentiment"]
