"""The one `Trainer` set-up of every curriculum stage: freezing, LoRA, arguments, collator, feature cache, resume.

    run = build_trainer(stage, source="runs/x/1-a/final", rows=rows, folder=Path("runs/x/2-b"), seed=0)
    result = run.train()          # continues from the last checkpoint under `folder/checkpoints/`, if any
    run.summary(result)           # what stage.json records: parameters, loss, steps, world size, skipped rows, ...

An ordinary stage (`stage.run_stage`) trains one of these; a per-task LoRA stage (`multi_lora`) one per task, each
in its own folder. Either way the model is loaded from `source` after seeding (so LoRA starts from the same
initialisation for the same seed), the feature cache is keyed on the frozen encoders before anything is wrapped,
rows whose media cannot be opened are left out and counted, and a resumed run restores the optimizer, scheduler,
RNG state and data position the Trainer saved.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import Trainer, TrainingArguments

from nanoemox.modeling.collator_nanoemox import NanoEmoXCollator
from nanoemox.modeling.configuration_nanoemox import IGNORE_INDEX
from nanoemox.modeling.modeling_nanoemox import NanoEmoXForConditionalGeneration
from nanoemox.modeling.processing_nanoemox import NanoEmoXProcessor
from nanoemox.modeling.prompts_nanoemox import TASKS

from .curriculum import StageConfig
from .data import RowsDataset, filter_rows
from .freezing import apply_trainable, trainable_counts

logger = logging.getLogger(__name__)


class NanoEmoXTrainer(Trainer):
    """`Trainer` that also logs the loss per task (`task_loss/<task>`) and the rows skipped for bad media."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._task_sums: dict[int, list[float]] = defaultdict(lambda: [0.0, 0.0])

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        task_index = inputs.pop("task_index", None)
        outputs = model(**inputs)
        loss = outputs.loss
        if task_index is not None and model.training:
            with torch.no_grad():
                logits = outputs.logits[:, :-1].float()
                labels = inputs["labels"][:, 1:]
                tokens = F.cross_entropy(
                    logits.reshape(-1, logits.shape[-1]),
                    labels.reshape(-1),
                    ignore_index=IGNORE_INDEX,
                    reduction="none",
                ).view(labels.shape)
                counts = (labels != IGNORE_INDEX).sum(1)
                for task, total, n in zip(task_index.tolist(), tokens.sum(1).tolist(), counts.tolist()):
                    if n:
                        self._task_sums[task][0] += total / n
                        self._task_sums[task][1] += 1
        return (loss, outputs) if return_outputs else loss

    def log(self, logs: dict, *args, **kwargs) -> None:
        if "loss" in logs:
            for task, (total, n) in self._task_sums.items():
                if n:
                    logs[f"task_loss/{TASKS[task]}"] = round(total / n, 4)
            self._task_sums.clear()
            collator = self.data_collator
            if getattr(collator, "num_skipped", 0):
                logs["skipped_rows"] = collator.num_skipped
        super().log(logs, *args, **kwargs)


def training_arguments(stage: StageConfig, folder: Path, *, seed: int, workers: int) -> TrainingArguments:
    """The stage's optimisation as `TrainingArguments`; checkpoints (resume points) go to `folder/checkpoints/`."""
    total_steps = math.ceil(stage.epochs * stage.steps_per_epoch)
    scheduler, scheduler_kwargs = "cosine", {}
    if stage.min_learning_rate is not None:
        scheduler, scheduler_kwargs = "cosine_with_min_lr", {"min_lr": stage.min_learning_rate}
    return TrainingArguments(
        output_dir=str(folder / "checkpoints"),
        per_device_train_batch_size=stage.batch_size,
        gradient_accumulation_steps=stage.gradient_accumulation_steps,
        num_train_epochs=stage.epochs,
        learning_rate=stage.learning_rate,
        weight_decay=stage.weight_decay,
        warmup_steps=int(stage.warmup_ratio * total_steps),
        lr_scheduler_type=scheduler,
        lr_scheduler_kwargs=scheduler_kwargs,
        logging_steps=stage.logging_steps,
        save_steps=stage.save_steps,
        save_total_limit=2,
        report_to=["tensorboard"],
        remove_unused_columns=False,
        dataloader_num_workers=workers,
        seed=seed,
        data_seed=seed,
        bf16=torch.cuda.is_available() and torch.cuda.is_bf16_supported(),
        use_cpu=not torch.cuda.is_available(),
        disable_tqdm=False,
    )


def last_checkpoint(folder: Path) -> str | None:
    """The Trainer checkpoint with the most steps in `folder` (`checkpoint-N`), or None."""
    checkpoints = sorted(Path(folder).glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    return str(checkpoints[-1]) if checkpoints else None


@dataclass
class StageTrainer:
    """A Trainer ready to train one stage (or one task's adapter) in `folder`, with what its summary reports."""

    trainer: NanoEmoXTrainer
    processor: NanoEmoXProcessor
    collator: NanoEmoXCollator
    cache: object | None  # a `FeatureCache`, or None without one
    counts: dict[str, int]
    rows: list[dict]
    folder: Path

    def train(self):
        """`trainer.train()`, continuing from the last checkpoint of an interrupted run; its `TrainOutput`."""
        resume = last_checkpoint(self.folder / "checkpoints")
        if resume:
            logger.info("resuming %s from %s", self.folder, resume)
        return self.trainer.train(resume_from_checkpoint=resume)

    def summary(self, result) -> dict:
        """Rows, trainable parameters, loss, steps, processes, logged losses, skipped rows, feature-cache use."""
        state = self.trainer.state
        return {
            "rows": len(self.rows),
            "trainable_parameters": self.counts,
            "train_loss": result.training_loss,
            "steps": state.global_step,
            "world_size": self.trainer.args.world_size,
            "torch_threads": torch.get_num_threads(),
            "log_history": [log for log in state.log_history if "loss" in log],
            "skipped_rows": dict(self.collator.skipped),
            "feature_cache": {"hits": self.cache.hits, "misses": self.cache.misses} if self.cache else None,
        }


def build_trainer(
    stage: StageConfig,
    *,
    source: str | Path,
    rows: list[dict],
    folder: Path,
    seed: int = 0,
    feature_cache_dir: Path | None = None,
    workers: int = 0,
    callbacks: list | None = None,
) -> StageTrainer:
    """Load the checkpoint at `source`, freeze it as `stage` says (LoRA-wrapped when it trains `lora`) and set up its
    Trainer on `rows` (those with unusable media left out), with checkpoints under `folder/checkpoints/`."""
    torch.manual_seed(seed)  # the same LoRA initialisation for the same seed and base
    model = NanoEmoXForConditionalGeneration.from_pretrained(source)
    processor = NanoEmoXProcessor.from_pretrained(source, trust_remote_code=True)
    cache = None
    if feature_cache_dir is not None:
        from .feature_cache import FeatureCache

        cache = FeatureCache(feature_cache_dir, model, processor)  # keyed on the encoders, before any wrapping
    model = apply_trainable(model, stage)
    counts = trainable_counts(model)
    rows, skipped = filter_rows(rows)
    logger.info("stage %s trains %s on %d rows", stage.name, counts, len(rows))
    collator = NanoEmoXCollator(processor, feature_cache=cache)  # rows carry their `_media_root`
    collator.skipped.update(skipped)
    trainer = NanoEmoXTrainer(
        model=model,
        args=training_arguments(stage, folder, seed=seed, workers=workers),
        train_dataset=RowsDataset(rows),
        data_collator=collator,
        callbacks=callbacks,
    )
    return StageTrainer(trainer, processor, collator, cache, counts, rows, folder)
