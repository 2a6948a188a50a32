"""One curriculum stage = one `Trainer` run: freeze what the stage says, train, leave a loadable checkpoint.

A stage starts from the previous stage's checkpoint (`final/` of its folder), and leaves its own:

    <output_dir>/<i>-<name>/checkpoints/checkpoint-N   Trainer checkpoints (optimizer, scheduler, RNG): resume points
    <output_dir>/<i>-<name>/final/                     the merged model + processor + remote code (AutoModel loads it)
    <output_dir>/<i>-<name>/stage.json                 what was trained, parameter counts, losses, skipped rows

A finished stage (its `stage.json` exists) is not rerun; an interrupted one resumes from its last checkpoint with
the same data order. LoRA stages use PEFT (`modules_to_save` for the adapters and fusion) and are merged before
`final/` is written, so every stage's checkpoint is a plain Nano-EmoX.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections import Counter, defaultdict
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import Trainer, TrainingArguments

from nanoemox.compose import save_checkpoint
from nanoemox.modeling.collator_nanoemox import NanoEmoXCollator
from nanoemox.modeling.configuration_nanoemox import IGNORE_INDEX
from nanoemox.modeling.modeling_nanoemox import NanoEmoXForConditionalGeneration
from nanoemox.modeling.processing_nanoemox import NanoEmoXProcessor
from nanoemox.modeling.prompts_nanoemox import TASKS
from nanoemox.processing.schema import resolve_media

from .curriculum import OPTIONAL_MODULES, SUBMODULE_GROUPS, TRAINABLE_MODULES, StageConfig, module_paths

logger = logging.getLogger(__name__)

LM_LINEAR = r".*language_model\.layers\.\d+\.(self_attn|mlp)\.({targets})"


class RowsDataset(torch.utils.data.Dataset):
    """Schema rows (dicts) as a map-style dataset; each row may carry `_media_root`."""

    def __init__(self, rows: list[dict]):
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        return self.rows[i]


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


def _probe(path: str) -> str | None:
    """Why the media file at `path` cannot be used (None if it opens): cheap, reads headers only."""
    import av

    if not os.path.exists(path):
        return "missing"
    try:
        with av.open(path) as container:
            if not container.streams.video and not container.streams.audio:
                return "unreadable"
    except (av.error.FFmpegError, OSError, ValueError):
        return "unreadable"
    return None


def filter_rows(rows: list[dict]) -> tuple[list[dict], Counter]:
    """Drop rows whose media files are missing or do not open (each file probed once); count them by reason.

    Files that open but fail to decode are caught later by the collator, which skips them the same way.
    """
    verdicts: dict[str, str | None] = {}
    kept, skipped = [], Counter()
    for row in rows:
        reason = None
        for key in ("video", "audio"):
            path = resolve_media(row.get(key), row.get("_media_root"))
            if path:
                if path not in verdicts:
                    verdicts[path] = _probe(path)
                reason = reason or verdicts[path]
        if reason:
            skipped[reason] += 1
        else:
            kept.append(row)
    if skipped:
        logger.warning("skipping %d rows whose media cannot be used: %s", sum(skipped.values()), dict(skipped))
    return kept, skipped


def write_card(checkpoint: Path, *, curriculum: dict | None = None, eval_results=None) -> None:
    """Render the model card into `checkpoint/README.md` (the phase's card; updated with results at the end)."""
    from nanoemox.model_cards.render import render_card

    render_card(checkpoint, curriculum=curriculum, eval_results=eval_results).save(checkpoint / "README.md")


def resolve_trainable(model: NanoEmoXForConditionalGeneration, stage: StageConfig) -> list[str]:
    """Paths under `model.model` of the modules `stage` trains, each checked to exist in this model and to hold
    parameters (`frame_adapter.general_expert` needs a hybrid compressor): `ValueError` naming the stage otherwise."""
    paths = []
    for name in stage.trainable:
        for path in module_paths([name]):
            head, _, child = path.partition(".")
            try:
                found = any(True for _ in model.model.get_submodule(path).parameters())
            except AttributeError:
                found = False
            if not found:
                adapter = model.model.get_submodule(head)
                raise ValueError(
                    f"stage {stage.name!r}: trainable {name!r}: the {head} is a {type(adapter).__name__} "
                    f"({head}: {getattr(model.config, head, '?')}) without a submodule {child!r} that has parameters; "
                    f"its submodules: {[n for n, _ in adapter.named_children()]}"
                )
            paths.append(path)
    optional = [m for name in stage.trainable for m in OPTIONAL_MODULES.get(name, ())]
    paths += [m for m in optional if getattr(model.model, m, None) is not None]  # e.g. the sentiment head
    return paths


def apply_trainable(model: NanoEmoXForConditionalGeneration, stage: StageConfig):
    """Freeze everything, then unfreeze what the stage trains; wrap with PEFT LoRA when it trains `lora`.

    Returns the model to train (a `PeftModel` for LoRA stages).
    """
    model.requires_grad_(False)
    modules = resolve_trainable(model, stage)
    for name in modules:
        model.model.get_submodule(name).requires_grad_(True)
    if "lora" not in stage.trainable:
        return model
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=stage.lora.r,
        lora_alpha=stage.lora.alpha,
        lora_dropout=stage.lora.dropout,
        target_modules=LM_LINEAR.format(targets="|".join(stage.lora.targets)),
        # PEFT matches these as suffixes of module names: qualified, so that `fusion` does not also catch `face_fusion`
        modules_to_save=[f"model.{m}" for m in modules] or None,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def trainable_counts(model) -> dict[str, int]:
    """Trainable parameters by module (`frame_adapter`, `face_fusion`, ...), `lora` and `total`. A module trained
    only in part is counted by child instead (`frame_adapter.general_expert`, `frame_adapter.gate`, ...)."""
    modules = {m for names in (*TRAINABLE_MODULES.values(), *OPTIONAL_MODULES.values()) for m in names}
    group_of = {child: group for group, children in SUBMODULE_GROUPS.items() for child in children}
    found: list[tuple[str, str | None, int]] = []  # (module or first name part, child, numel) per trainable tensor
    partial: set[str] = set()
    for name, p in model.named_parameters():
        parts = name.split(".")
        if "original_module" in parts:  # PEFT's frozen copy beside a `modules_to_save` module
            continue
        i = next((i for i, x in enumerate(parts) if x in modules), None)
        if not p.requires_grad:
            if i is not None:
                partial.add(parts[i])
            continue
        if "lora_" in name or i is None:
            found.append(("lora" if "lora_" in name else parts[0], None, p.numel()))
            continue
        rest = parts[i + 1 :]
        if rest[0] == "modules_to_save":  # a PEFT-wrapped module: modules_to_save.<adapter>.<child>...
            rest = rest[2:]
        found.append((parts[i], group_of.get(rest[0], rest[0]), p.numel()))
    counts: dict[str, int] = defaultdict(int)
    for module, child, n in found:
        counts[f"{module}.{child}" if module in partial and child else module] += n
    counts["total"] = sum(counts.values())
    return dict(counts)


def training_arguments(stage: StageConfig, folder: Path, *, seed: int, workers: int):
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


def run_stage(
    stage: StageConfig,
    *,
    index: int,
    source: str | Path,
    rows: list[dict],
    output_dir: Path,
    seed: int = 0,
    feature_cache_dir: Path | None = None,
    workers: int = 0,
    hub: dict | None = None,
    callbacks: list | None = None,
    curriculum: dict | None = None,
) -> Path:
    """Train `stage` starting from the checkpoint at `source`; return the folder of its final checkpoint."""
    folder = output_dir / f"{index}-{stage.name}"
    final = folder / "final"
    if (folder / "stage.json").exists():
        logger.info("stage %s already finished; using %s", stage.name, final)
        return final
    torch.manual_seed(seed)
    model = NanoEmoXForConditionalGeneration.from_pretrained(source)
    processor = NanoEmoXProcessor.from_pretrained(source, trust_remote_code=True)
    cache = None
    if feature_cache_dir is not None:
        from .feature_cache import FeatureCache

        cache = FeatureCache(feature_cache_dir, model, processor)
    model = apply_trainable(model, stage)
    counts = trainable_counts(model)
    logger.info("stage %s trains %s", stage.name, counts)
    rows, skipped = filter_rows(rows)
    collator = NanoEmoXCollator(processor, feature_cache=cache)  # rows carry their `_media_root`
    collator.skipped.update(skipped)
    args = training_arguments(stage, folder, seed=seed, workers=workers)
    trainer = NanoEmoXTrainer(
        model=model, args=args, train_dataset=RowsDataset(rows), data_collator=collator, callbacks=callbacks
    )
    checkpoints = sorted((folder / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    resume = str(checkpoints[-1]) if checkpoints else None
    if resume:
        logger.info("resuming stage %s from %s", stage.name, resume)
    result = trainer.train(resume_from_checkpoint=resume)
    if trainer.is_world_process_zero():
        trained = trainer.model
        if hasattr(trained, "merge_and_unload"):
            trained = trained.merge_and_unload()
        save_checkpoint(trained, processor, final)
        write_card(final, curriculum=curriculum)
        if hub:
            # One Hub revision (branch) per phase. Not Trainer's own push: it uploads the training folder (a PEFT
            # adapter for LoRA stages), while users need the merged checkpoint with its processor and remote code.
            from nanoemox.model_cards.hub import push_checkpoint

            push_checkpoint(final, hub["repo_id"], revision=stage.name, private=hub.get("private"))
        history = [log for log in trainer.state.log_history if "loss" in log]
        summary = {
            "stage": stage.name,
            "source": str(source),
            "trainable": stage.trainable,
            "trainable_parameters": counts,
            "train_loss": result.training_loss,
            "steps": trainer.state.global_step,
            "log_history": history,
            "skipped_rows": dict(collator.skipped),
            "feature_cache": {"hits": cache.hits, "misses": cache.misses} if cache else None,
        }
        (folder / "stage.json").write_text(json.dumps(summary, indent=2))
    trainer.accelerator.wait_for_everyone()
    return final
