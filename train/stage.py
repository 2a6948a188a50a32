"""One curriculum stage = one `Trainer` run: freeze what the stage says, train, leave a loadable checkpoint.

A stage starts from the previous stage's checkpoint (`final/` of its folder), and leaves its own:

    <output_dir>/<i>-<name>/checkpoints/checkpoint-N   Trainer checkpoints (optimizer, scheduler, RNG): resume points
    <output_dir>/<i>-<name>/final/                     the merged model + processor + remote code (AutoModel loads it)
    <output_dir>/<i>-<name>/stage.json                 what was trained, parameter counts, losses, processes, skips

A finished stage (its `stage.json` exists) is not rerun; an interrupted one resumes from its last checkpoint with
the same data order. LoRA stages use PEFT (`modules_to_save` for the adapters and fusion) and are merged before
`final/` is written, so every stage's checkpoint is a plain Nano-EmoX. The Trainer itself is set up in `trainer`
(shared with the per-task LoRA stages of `multi_lora`).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from nanoemox.compose import save_checkpoint
from nanoemox.modeling.prompts_nanoemox import DEFAULT_TASK_LABELS

from .curriculum import StageConfig
from .trainer import build_trainer

logger = logging.getLogger(__name__)


def write_card(checkpoint: Path, *, curriculum: dict | None = None, eval_results=None) -> None:
    """Render the model card into `checkpoint/README.md` (the phase's card; updated with results at the end)."""
    from nanoemox.model_cards.render import render_card

    render_card(checkpoint, curriculum=curriculum, eval_results=eval_results).save(checkpoint / "README.md")


def training_note(stage: StageConfig, index: int, curriculum: dict | None) -> dict:
    """What the stage did, for the checkpoint's `training_history` (and so its model card)."""
    stages = (curriculum or {}).get("stages") or []
    mixture = ", ".join(f"{task} {ratio:g}" for task, ratio in stage.mixture.items())
    return {
        "stage": stage.name,
        "index": index,
        "of": len(stages) or None,
        "curriculum": (curriculum or {}).get("name") or None,
        "data": {name: mixture for name in stage.data},
        "trained": list(stage.trainable),
    }


# Closed-set tasks whose label set a checkpoint learns from its training rows: task -> the gold label's field.
LEARNED_LABELS = {"mer": "emotion", "mir": "intent"}


def learn_task_labels(processor, rows: list[dict]) -> dict[str, list[str]]:
    """Set `processor.task_labels` (the labels the pipeline and `--scoring likelihood` score) to the gold labels the
    stage's rows use, with those an earlier stage learned (sorted); a task the rows lack keeps its set. Returns the
    change."""
    learned = {}
    for task, field in LEARNED_LABELS.items():
        golds = sorted(
            {
                str(r["labels"][field]).strip()
                for r in rows
                if r.get("task") == task and (r.get("labels") or {}).get(field)
            }
        )
        if not golds:
            continue
        before = list(processor.task_labels.get(task, []))
        earlier = [] if before == list(DEFAULT_TASK_LABELS.get(task, ())) else before  # defaults were not learned
        processor.task_labels[task] = learned[task] = sorted(set(earlier) | set(golds))
    return learned


def publish_checkpoint(
    model, processor, final: Path, *, stage: str, curriculum: dict | None, hub: dict | None, note: dict | None = None
):
    """Save the stage's checkpoint to `final/` with its model card; with `hub`, push it as the revision `stage`.

    One Hub revision (branch) per phase. Not Trainer's own push: it uploads the training folder (a PEFT adapter for
    LoRA stages), while users need the merged checkpoint with its processor and remote code. `note` (see
    `training_note`) is recorded in the checkpoint's training history."""
    save_checkpoint(model, processor, final, training_note=note)
    write_card(final, curriculum=curriculum)
    if hub:
        from nanoemox.model_cards.hub import push_checkpoint

        push_checkpoint(final, hub["repo_id"], revision=stage, private=hub.get("private"))


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
    run = build_trainer(
        stage,
        source=source,
        rows=rows,
        folder=folder,
        seed=seed,
        feature_cache_dir=feature_cache_dir,
        workers=workers,
        callbacks=callbacks,
    )
    result = run.train()
    trainer = run.trainer
    if trainer.is_world_process_zero():
        trained = trainer.model
        if hasattr(trained, "merge_and_unload"):
            trained = trained.merge_and_unload()
        note = training_note(stage, index, curriculum)
        learn_task_labels(run.processor, rows)
        publish_checkpoint(trained, run.processor, final, stage=stage.name, curriculum=curriculum, hub=hub, note=note)
        summary = {"stage": stage.name, "source": str(source), "trainable": stage.trainable, **run.summary(result)}
        (folder / "stage.json").write_text(json.dumps(summary, indent=2))
    trainer.accelerator.wait_for_everyone()
    return final
