"""`nanoemox train`: run a P2E curriculum, stage after stage, then score the held-out split.

    # the demo: four phases on the embedded demo corpus, on a CPU
    nanoemox data demo --output runs/demo/data
    nanoemox train --config demo --output runs/demo/train
    # the paper's curriculum, checked against the full-size model without data or downloads
    nanoemox train --config paper --dry-run
    # any value of the YAML can be overridden
    nanoemox train --config demo --set stages.3.epochs=2 --set seed=1

`--config` takes a YAML file or the name of a shipped preset (paper, joint, reverse, demo, emotion_qwen). Running
the same command again after an interruption resumes: finished stages are skipped, the interrupted one continues
from its last checkpoint.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
from dataclasses import replace
from pathlib import Path

import torch

from .curriculum import CurriculumConfig, load_curriculum

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nanoemox train", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--config", required=True, help="curriculum YAML or preset name (paper, joint, reverse, demo, emotion_qwen)"
    )
    parser.add_argument("--output", help="output folder (overrides output_dir)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a YAML value")
    parser.add_argument("--dry-run", action="store_true", help="validate against the full-size model; print stages")
    parser.add_argument("--no-eval", action="store_true", help="skip the held-out evaluation after the last stage")
    return parser


# ---------------------------------------------------------------------------------------------- model and data
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


def load_pool(config: CurriculumConfig, names: list[str], split: str) -> list[dict]:
    """Rows of `split` of the named datasets, each tagged with its dataset folder as `_media_root`."""
    from datasets import load_from_disk

    rows = []
    for name in names:
        path = config.datasets[name]["path"]
        data = load_from_disk(path)
        if split not in data:
            raise ValueError(f"dataset {name!r} at {path} has no {split!r} split (has {list(data)})")
        rows.extend(dict(row, _media_root=path) for row in data[split])
    return rows


def select_rows(pool: list[dict], where: dict, stage: str = "") -> list[dict]:
    """The rows of `pool` that match every `where` key (a column, or `meta.<key>` of the row's meta JSON) on one of
    its accepted values. `ValueError` when a key is absent from every row or nothing matches."""
    if not where:
        return pool

    def values(row: dict) -> dict:
        meta = json.loads(row.get("meta") or "{}") if any(k.startswith("meta.") for k in where) else {}
        return {k: meta.get(k[5:]) if k.startswith("meta.") else row.get(k) for k in where}

    accepted = {k: {str(v) for v in (w if isinstance(w, list) else [w])} for k, w in where.items()}
    found = [values(row) for row in pool]
    for key in accepted:
        if all(f[key] is None for f in found):
            raise ValueError(f"stage {stage!r}: where key {key!r} is in none of the {len(pool)} rows of its data")
    kept = [r for r, f in zip(pool, found) if all(str(f[k]) in vals for k, vals in accepted.items())]
    if not kept:
        raise ValueError(f"stage {stage!r}: no row of its data matches where={where}")
    logger.info("stage %s: %d of %d rows match where=%s", stage, len(kept), len(pool), where)
    return kept


def stage_rows(stage, pool: list[dict], seed: int, world_size: int | None = None) -> list[dict]:
    """`stage.rows_per_epoch` rows per process mixed by task ratio (TaskMixture), deterministic in `seed`.

    With several processes the Trainer shards the rows, so the epoch holds `world_size` times as many.
    """
    from nanoemox.processing.mixture import TaskMixture

    world_size = world_size or int(os.environ.get("WORLD_SIZE", "1"))
    pool = select_rows(pool, stage.where, stage.name)
    by_task: dict[str, list[dict]] = {}
    for row in pool:
        if row["task"] in stage.mixture:
            by_task.setdefault(row["task"], []).append(row)
    mixture = TaskMixture(by_task, ratios=stage.mixture, seed=seed)
    picks = mixture.sample_indices(stage.rows_per_epoch * world_size)
    logger.info("stage %s mixture: %s", stage.name, mixture.report(stage.rows_per_epoch * world_size))
    return [by_task[task][i] for task, i in picks]


# ---------------------------------------------------------------------------------------------- dry run
def dry_run(config: CurriculumConfig) -> dict:
    """Stage order and trainable parameters per stage on the full-size model (meta device, nothing loaded), built
    with the curriculum's `model.init.arch` (adapters, fusion, token counts) when it has one."""
    from nanoemox.modeling.configuration_nanoemox import NanoEmoXConfig
    from nanoemox.modeling.modeling_nanoemox import NanoEmoXForConditionalGeneration

    from .stage import apply_trainable, trainable_counts

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


def _print_dry_run(report: dict) -> None:
    """One line per stage (trainable total, steps, learning rate), then its trainable parameters per module."""
    print(f"{'stage / trainable':<36} {'parameters':>14} {'steps':>8}  lr")
    for s in report["stages"]:
        lr = f"{s['learning_rate'][0]:g}" + (f" -> {s['learning_rate'][1]:g}" if s["learning_rate"][1] else "")
        counts = s["trainable_parameters"]
        print(f"{s['name']:<36} {counts['total']:>14,d} {s['steps']:>8}  {lr}")
        for key, n in counts.items():
            if key != "total":
                print(f"  {key:<34} {n:>14,d}")


# ---------------------------------------------------------------------------------------------- evaluation
def evaluate_final(config: CurriculumConfig, checkpoint: Path, output_dir: Path) -> dict:
    """Score the held-out split with the final checkpoint; modality ablations as configured."""
    from datasets import load_from_disk

    from nanoemox.evaluation.runner import evaluate_model
    from nanoemox.modeling.modeling_nanoemox import NanoEmoXForConditionalGeneration
    from nanoemox.modeling.processing_nanoemox import NanoEmoXProcessor

    settings = config.evaluation
    model = NanoEmoXForConditionalGeneration.from_pretrained(checkpoint).eval()
    processor = NanoEmoXProcessor.from_pretrained(checkpoint, trust_remote_code=True)
    names = list(dict.fromkeys(d for s in config.stages for d in s.data))
    results: dict = {"checkpoint": str(checkpoint), "split": settings.split, "datasets": {}}
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
    from .stage import write_card

    write_card(checkpoint, curriculum=config.to_dict(), eval_results=card_records(results))
    return results


def write_predictions(path: Path, predictions: list[dict]) -> None:
    """One JSON object per line: `id`, `task`, `prediction`, `reference` (what the scores were computed from)."""
    path.write_text("\n".join(json.dumps(p, default=str) for p in predictions) + "\n")


def card_records(results: dict) -> list[dict]:
    """`eval_results.json` of a curriculum as model-card records (one per dataset, condition and task)."""
    records = []
    for name, conditions in results["datasets"].items():
        for condition, tasks in conditions.items():
            label = name if condition == "all_modalities" else f"{name} ({condition.replace('_', ' ')})"
            for task, metrics in tasks.items():
                records.append({"task": task, "dataset": label, "split": results["split"], "metrics": metrics})
    return records


# ---------------------------------------------------------------------------------------------- main
def run_curriculum(config: CurriculumConfig, *, evaluate: bool = True) -> Path:
    from .multi_lora import run_task_adapters
    from .stage import run_stage

    output_dir = Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "curriculum.json").write_text(json.dumps(config.to_dict(), indent=2, default=str))
    source = initial_checkpoint(config, output_dir)
    cache_dir = output_dir / "feature_cache" if config.feature_cache else None
    for i, stage in enumerate(config.stages, start=1):
        pool = load_pool(config, stage.data, "train")
        if stage.lora.per_task:  # Multi-LoRA: task -> that task's rows only, the stage's full budget for each
            run = run_task_adapters
            rows = {t: stage_rows(replace(stage, mixture={t: 1}), pool, seed=config.seed + i) for t in stage.mixture}
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
        evaluate_final(config, source, output_dir)
    return source


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    overrides = list(args.set)
    if args.output:
        overrides.append(f"output_dir={args.output}")
    config = load_curriculum(args.config, overrides)
    if args.dry_run:
        report = dry_run(config)
        _print_dry_run(report)
        return 0
    final = run_curriculum(config, evaluate=not args.no_eval)
    print(f"final checkpoint: {final}")
    return 0
