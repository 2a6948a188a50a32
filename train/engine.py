"""The curriculum engine: check the data, compose the first checkpoint, run the stages in order, score the result.

    config = load_curriculum("demo", ["output_dir=runs/demo/train"])
    final = run_curriculum(config)          # what `nanoemox train --config demo --output runs/demo/train` runs
    dry_run(load_curriculum("paper"))       # stage order and trainable parameters on the full-size model

Everything that can be checked without training is checked first (every stage's datasets, the emotion wheels of
the evaluation), so a missing folder is reported before minutes of encoder pre-training. A stage whose
`stage.json` exists is skipped and an interrupted one resumes (see `stage`), so running a curriculum again after an
interruption continues where it stopped. After the last stage, the held-out split of every dataset is scored with
the final checkpoint (`eval_results.json`, `predictions-<dataset>.jsonl`, the model card's results).
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import torch

from .curriculum import CurriculumConfig
from .data import check_datasets, load_pool, stage_rows, task_rows

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------- checks
def load_wheels(config: CurriculumConfig):
    """The emotion wheels of `evaluation.wheels` (an `EmotionWheels`), or None when none are given. `ValueError` for
    a folder that is missing or lacks a table."""
    if not config.evaluation.wheels:
        return None
    from nanoemox.evaluation.wheels import EmotionWheels

    return EmotionWheels.from_dir(config.evaluation.wheels)


# ---------------------------------------------------------------------------------------------- the first checkpoint
def initial_checkpoint(config: CurriculumConfig, output_dir: Path) -> Path:
    """The checkpoint the first stage starts from: a given folder, or one composed by `nanoemox init`."""
    spec = config.model
    if "path" in spec:
        return Path(spec["path"])
    target = output_dir / "0-init"
    if (target / "config.json").exists():
        return target
    from nanoemox.compose import compose_checkpoint
    from nanoemox.tiny.components import save_tiny_components
    from nanoemox.tiny.configs import TINY_ARCH

    init = dict(spec.get("init", {}))
    preset = init.pop("preset", None)
    arch = init.pop("arch", {})
    pretrain = init.pop("lm_pretrain_steps", 0)
    lm_config = init.pop("lm_config", None)  # tiny preset: the LM's shape (TINY_LM keys)
    encoder_pretrain = init.pop("encoder_pretrain_steps", 0)  # tiny preset: face/speech encoder pre-training
    vision_pretrain = init.pop("vision_pretrain_steps", 0)  # tiny preset: frame encoder (CLIP) pre-training
    if preset == "tiny":
        with tempfile.TemporaryDirectory() as tmp:
            paths = save_tiny_components(
                tmp,
                seed=config.seed,
                lm_pretrain_steps=pretrain,
                lm=lm_config,
                encoder_pretrain_steps=encoder_pretrain,
                vision_pretrain_steps=vision_pretrain,
            )
            compose_checkpoint(target, **paths, arch={**TINY_ARCH, **arch}, seed=config.seed)
    else:
        compose_checkpoint(target, **init, arch=arch, seed=config.seed)
    return target


# ---------------------------------------------------------------------------------------------- running
def run_curriculum(config: CurriculumConfig, *, evaluate: bool = True, wheels=None) -> Path:
    """Check the datasets (and the wheels), compose, train every stage, evaluate; the final checkpoint's folder.

    `wheels`: the evaluation's `EmotionWheels` when already loaded (default: `evaluation.wheels`, loaded here)."""
    from .multi_lora import run_task_adapters
    from .stage import run_stage

    check_datasets(config)
    if evaluate and wheels is None:
        wheels = load_wheels(config)
    output_dir = Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "curriculum.json").write_text(json.dumps(config.to_dict(), indent=2, default=str))
    source = initial_checkpoint(config, output_dir)
    cache_dir = output_dir / "feature_cache" if config.feature_cache else None
    for i, stage in enumerate(config.stages, start=1):
        pool = load_pool(config, stage.data, "train")
        if stage.lora.per_task:  # Multi-LoRA: one adapter per task, each on that task's rows only
            run, rows = run_task_adapters, task_rows(stage, pool, seed=config.seed + i)
        else:
            run, rows = run_stage, stage_rows(stage, pool, seed=config.seed + i)
        source = run(
            stage,
            index=i,
            source=source,
            rows=rows,
            output_dir=output_dir,
            seed=config.seed,
            feature_cache_dir=cache_dir,
            workers=config.dataloader_num_workers,
            hub=config.hub,
            curriculum=config.to_dict(),
        )
    if evaluate and torch.distributed.is_available() and torch.distributed.is_initialized():
        evaluate = torch.distributed.get_rank() == 0
    if evaluate:
        evaluate_final(config, source, output_dir, wheels=wheels)
    return source


# ---------------------------------------------------------------------------------------------- dry run
def dry_run(config: CurriculumConfig) -> dict:
    """Stage order and trainable parameters per stage on the full-size model (meta device, nothing loaded), built
    with the curriculum's `model.init.arch` (adapters, fusion, token counts) when it has one."""
    from nanoemox.modeling.configuration_nanoemox import NanoEmoXConfig
    from nanoemox.modeling.modeling_nanoemox import NanoEmoXForConditionalGeneration

    from .freezing import apply_trainable, trainable_counts

    arch = config.model.get("init", {}).get("arch", {})
    report = {"stages": []}
    for stage in config.stages:
        with torch.device("meta"):
            model = NanoEmoXForConditionalGeneration(NanoEmoXConfig(**arch))
            trained = apply_trainable(model, stage)
        counts = trainable_counts(trained)
        report["stages"].append(
            {
                "name": stage.name,
                "data": stage.data,
                "mixture": stage.mixture,
                "trainable": stage.trainable,
                "trainable_parameters": counts,
                "steps": int(stage.epochs * stage.steps_per_epoch),
                "learning_rate": [stage.learning_rate, stage.min_learning_rate],
            }
        )
    return report


# ---------------------------------------------------------------------------------------------- evaluation
def evaluate_final(config: CurriculumConfig, checkpoint: Path, output_dir: Path, *, wheels=None) -> dict:
    """Score the held-out split with the final checkpoint; modality ablations as configured.

    `wheels` (an `EmotionWheels`; default: those of `evaluation.wheels`) give the MER hit rate and the OV-MER F;
    without them OV-MER is scored by its exact-set F (`exact_set_fscore`), under that name.
    """
    from datasets import load_from_disk

    from nanoemox.evaluation.runner import evaluate_model
    from nanoemox.modeling.modeling_nanoemox import NanoEmoXForConditionalGeneration
    from nanoemox.modeling.processing_nanoemox import NanoEmoXProcessor

    from .stage import write_card

    settings = config.evaluation
    wheels = wheels if wheels is not None else load_wheels(config)
    model = NanoEmoXForConditionalGeneration.from_pretrained(checkpoint).eval()
    processor = NanoEmoXProcessor.from_pretrained(checkpoint, trust_remote_code=True)
    names = list(dict.fromkeys(d for s in config.stages for d in s.data))
    results: dict = {
        "checkpoint": str(checkpoint),
        "split": settings.split,
        "wheels": None if wheels is None else (settings.wheels or "given by the caller"),
        "datasets": {},
    }
    for name in names:
        path = config.datasets[name]["path"]
        data = load_from_disk(path)
        if settings.split not in data:
            logger.warning("dataset %s has no %s split; not evaluated", name, settings.split)
            continue
        kwargs = dict(
            media_root=path,
            max_samples=settings.max_samples,
            batch_size=settings.batch_size,
            max_new_tokens=settings.max_new_tokens,
            wheels=wheels,
        )
        full = evaluate_model(model, processor, data[settings.split], tasks=settings.tasks, **kwargs)
        entry = {"all_modalities": full["tasks"]}
        write_predictions(output_dir / f"predictions-{name}.jsonl", full["predictions"])
        for branch in settings.ablate:
            ablated = evaluate_model(
                model,
                processor,
                data[settings.split],
                tasks=settings.ablation_tasks,
                drop_modalities=[branch],
                **kwargs,
            )
            entry[f"without_{branch}"] = ablated["tasks"]
            write_predictions(output_dir / f"predictions-{name}-without_{branch}.jsonl", ablated["predictions"])
        results["datasets"][name] = entry
    for folder in (output_dir, checkpoint):
        (folder / "eval_results.json").write_text(json.dumps(results, indent=2, default=str))
    write_card(checkpoint, curriculum=config.to_dict(), eval_results=results)
    return results


def write_predictions(path: Path, predictions: list[dict]) -> None:
    """One JSON object per line: `id`, `task`, `prediction`, `reference` (what the scores were computed from)."""
    path.write_text("\n".join(json.dumps(p, default=str) for p in predictions) + "\n")
