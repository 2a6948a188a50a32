"""Multi-LoRA: a `lora.per_task` stage trains one named LoRA adapter per task on one shared, frozen base.

    stages:
      - name: phase3-per-task-lora
        mixture: {mer: 45, mir: 30, ov-mer: 7, eri: 5, erg: 7, msa: 6}   # the tasks; ratios are not used
        trainable: [lora]
        lora: {r: 16, alpha: 32, per_task: true}

    # the demo's phase 3 as per-task adapters, after the demo's phases 1-2 (reused when already trained there)
    nanoemox train --config demo --set stages.3.name=phase3-per-task-lora --set "stages.3.trainable=[lora]" \
        --set stages.3.lora.per_task=true

Each adapter starts from the same base checkpoint and the same seed (so from the same LoRA initialisation), and
trains on its own task's rows only for the stage's full step budget (`epochs * steps_per_epoch` steps of
`batch_size` rows): with k tasks the stage costs k times a shared adapter's stage, and each adapter sees as many
rows of its task as the shared adapter sees of all tasks together. Only LoRA trains: the adapters and fusion are
the previous stage's, frozen, so the base stays one checkpoint that every task shares (PEFT's `modules_to_save`
would instead give each task its own copy of them, and a task switch would swap media encoders too).

    <output_dir>/<i>-<name>/tasks/<task>/checkpoints/   Trainer resume points of the task's adapter
    <output_dir>/<i>-<name>/tasks/<task>/adapter.json   written when the adapter is done: it is not retrained
    <output_dir>/<i>-<name>/final/                      the base (the previous stage's weights), loadable as before
    <output_dir>/<i>-<name>/final/adapters/<task>/      adapter_config.json + adapter_model.safetensors
    <output_dir>/<i>-<name>/stage.json                  per adapter: rows, steps, losses, parameter counts, processes

`final/config.json` lists the adapters as `task_adapters: {task: "adapters/<task>"}`; the `emotion-analysis`
pipeline, `nanoemox predict` and the evaluation runner switch to a task's adapter by themselves
(`pipeline_nanoemox.use_task_adapter`).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from nanoemox.modeling.modeling_nanoemox import NanoEmoXForConditionalGeneration
from nanoemox.modeling.processing_nanoemox import NanoEmoXProcessor

from .curriculum import StageConfig
from .stage import learn_task_labels, publish_checkpoint, training_note
from .trainer import build_trainer

logger = logging.getLogger(__name__)

ADAPTERS_DIR = "adapters"


def train_task_adapter(
    stage: StageConfig,
    task: str,
    *,
    source: str | Path,
    rows: list[dict],
    folder: Path,
    final: Path,
    seed: int = 0,
    feature_cache_dir: Path | None = None,
    workers: int = 0,
    callbacks: list | None = None,
) -> dict:
    """Train the LoRA adapter of `task` on `rows` from the base at `source`; save it to `final/adapters/<task>/`.

    Returns its summary (also written to `folder/tasks/<task>/adapter.json`); a finished adapter is not retrained,
    an interrupted one resumes from its last Trainer checkpoint.
    """
    work = folder / "tasks" / task
    done = work / "adapter.json"
    if done.exists():
        logger.info("stage %s: the %s adapter is already trained", stage.name, task)
        return json.loads(done.read_text())
    logger.info("stage %s: training the %s adapter", stage.name, task)
    run = build_trainer(  # the same seed for every task: every adapter starts from the same LoRA initialisation
        stage,
        source=source,
        rows=rows,
        folder=work,
        seed=seed,
        feature_cache_dir=feature_cache_dir,
        workers=workers,
        callbacks=callbacks,
    )
    result = run.train()
    summary = {"task": task, "path": f"{ADAPTERS_DIR}/{task}", **run.summary(result)}
    trainer = run.trainer
    if trainer.is_world_process_zero():
        trainer.model.save_pretrained(final / ADAPTERS_DIR / task, safe_serialization=True)
        (final / ADAPTERS_DIR / task / "README.md").unlink(missing_ok=True)  # PEFT's stub card; final/ has the card
        done.write_text(json.dumps(summary, indent=2))
    trainer.accelerator.wait_for_everyone()
    return summary


def run_task_adapters(
    stage: StageConfig,
    *,
    index: int,
    source: str | Path,
    rows: dict[str, list[dict]],
    output_dir: Path,
    seed: int = 0,
    feature_cache_dir: Path | None = None,
    workers: int = 0,
    hub: dict | None = None,
    callbacks: list | None = None,
    curriculum: dict | None = None,
) -> Path:
    """Run a `lora.per_task` stage: one adapter per task of `rows` (task -> that task's rows), then the checkpoint.

    Same contract as `run_stage`: returns `final/`, skips a finished stage, resumes an interrupted one.
    """
    if not stage.lora.per_task or stage.trainable != ["lora"]:
        raise ValueError(
            f"stage {stage.name!r}: run_task_adapters needs lora.per_task and trainable [lora], "
            f"got {stage.lora} and {stage.trainable}"
        )
    folder = output_dir / f"{index}-{stage.name}"
    final = folder / "final"
    if (folder / "stage.json").exists():
        logger.info("stage %s already finished; using %s", stage.name, final)
        return final
    adapters = {}
    for task, task_rows in rows.items():
        adapters[task] = train_task_adapter(
            stage,
            task,
            source=source,
            rows=task_rows,
            folder=folder,
            final=final,
            seed=seed,
            feature_cache_dir=feature_cache_dir,
            workers=workers,
            callbacks=callbacks,
        )
    base = NanoEmoXForConditionalGeneration.from_pretrained(source)
    processor = NanoEmoXProcessor.from_pretrained(source, trust_remote_code=True)
    base.config.task_adapters = {task: summary["path"] for task, summary in adapters.items()}
    if torch.distributed.is_available() and torch.distributed.is_initialized() and torch.distributed.get_rank():
        return final
    # the base and its adapters folder, as one revision named after the stage
    note = {**training_note(stage, index, curriculum), "per_task_adapters": sorted(adapters)}
    learn_task_labels(processor, [row for task_rows in rows.values() for row in task_rows])
    publish_checkpoint(base, processor, final, stage=stage.name, curriculum=curriculum, hub=hub, note=note)
    summary = {
        "stage": stage.name,
        "source": str(source),
        "trainable": stage.trainable,
        "per_task": True,
        "adapters": adapters,
        "steps": sum(a["steps"] for a in adapters.values()),
        "world_size": max(a["world_size"] for a in adapters.values()),
        "train_loss": {task: a["train_loss"] for task, a in adapters.items()},
    }
    (folder / "stage.json").write_text(json.dumps(summary, indent=2))
    return final
