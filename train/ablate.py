"""`nanoemox ablate`: train architecture variants through one curriculum, same data, seed and budget; one table.

    nanoemox data demo --output runs/demo/data
    nanoemox ablate --config demo --variants nanoemox mlp hybrid_compressor lq_former cat_mod egmf fec
    # an ad-hoc variant: NAME:key=value,key=value (any `--set` key of the curriculum)
    nanoemox ablate --config demo --variants nanoemox "q16:model.init.arch.num_frame_tokens=16"
    # a tiny CPU check (about a minute per variant): untrained LM, two steps per stage, four clips per task
    nanoemox ablate --config demo --variants nanoemox mlp --output /tmp/ablation --set model.init.lm_pretrain_steps=0 \
        --set stages.0.steps_per_epoch=2 --set stages.1.steps_per_epoch=2 --set stages.2.steps_per_epoch=2 \
        --set stages.3.steps_per_epoch=2 --set evaluation.max_samples=4

Each variant is `nanoemox train` with the variant's overrides on top of `--set`, in `<output>/<variant>/` (the
default output is `ablation/` beside the curriculum's `output_dir`). A built-in variant names the whole design
(frame and speech adapters, fusion, FEC key frames), so a row means the same whatever the curriculum's own
`model.init.arch` says; its other arch values (token counts, widths) are kept. Shared by all variants:

    the datasets            read where the curriculum names them; never regenerated (a missing one is an error)
    <output>/components/    tiny preset: the tiny encoders and LM (pre-trained as `model.init` says), made once per
                            seed and settings, so every variant starts from the same weights (as `nanoemox train`)
    <output>/feature_cache/ the frozen encoders' outputs, keyed by the encoders' fingerprint and media settings

Everything is checked before anything trains: variant names and overrides, the curriculum, the arch values, that
every stage's trainable modules exist in every variant's model, that the datasets exist, the wheels when given. A
variant whose stages and held-out evaluation are finished is not rerun (the curriculum's own resume skips finished
stages but evaluates again); an unfinished one resumes from its last stage checkpoint. So running the same command
again after an interruption continues where it stopped, and then only collects the table. A variant folder made
with different settings is an error, never silently mixed.

The table (stdout, `<output>/ablation.md`, `<output>/ablation.json`), one row per variant, measured from the run's
files: the held-out headline metric per task (`eval_results.json`), parameters (total, and new: adapters, face
modules, fusion), media tokens per clip (the final `config.json`), the last stage's step time (median seconds per
optimizer step between the Trainer's logged steps, from its TensorBoard events; the mean, which includes checkpoint
saves, is in the JSON) and examples/s, and the modality-ablation deltas (masked branch minus all branches).
"""

from __future__ import annotations

import argparse
import copy
import datetime
import functools
import hashlib
import inspect
import json
import logging
import os
import re
import shutil
import statistics
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import torch

from .curriculum import CurriculumConfig, load_curriculum
from .data import check_datasets

logger = logging.getLogger(__name__)

ARCH = "model.init.arch"
# the design keys a built-in variant fixes, at Nano-EmoX's values
BASELINE = {"frame_adapter": "qformer", "audio_adapter": "qformer", "fusion": "gated_experts", "num_key_frames": 0}


def _design(**changes) -> dict[str, Any]:
    return {f"{ARCH}.{key}": value for key, value in {**BASELINE, **changes}.items()}


# name -> `--set`-style overrides
VARIANTS: dict[str, dict[str, Any]] = {
    "nanoemox": _design(),
    "mlp": _design(frame_adapter="mlp", audio_adapter="mlp"),
    "hybrid_compressor": _design(frame_adapter="hybrid_compressor", audio_adapter="hybrid_compressor"),
    "lq_former": _design(frame_adapter="lq_former", audio_adapter="lq_former"),
    "cat_mod": _design(frame_adapter="cat_mod", audio_adapter="cat_mod"),
    "egmf": _design(fusion="egmf"),
    "fec": _design(num_key_frames=2),
}
VARIANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# commas that start the next key=value of an ad-hoc variant (a value may hold commas: stages.0.trainable=[a,b])
NEXT_OVERRIDE = re.compile(r",(?=\s*[A-Za-z_][\w.-]*=)")

# task -> (metric key in eval_results.json, column label): the headline figures of the table
HEADLINE = {
    "mer": (("waf", "MER WAF"),),
    "mir": (("accuracy", "MIR Acc"),),
    "msa": (("has0_acc2", "MSA Acc2"), ("mae", "MSA MAE")),
    # the OV-MER F needs the emotion wheels (`evaluation.wheels`); without them the scoring reports the exact-set F
    "ov-mer": (("fscore", "OV-MER F"), ("exact_set_fscore", "OV-MER exact-set F (no wheels)")),
    "eri": (("proxy_token_f1", "ERI token-F1"),),
    "erg": (("emotion_accuracy", "ERG emotion Acc"),),
    "jx4mei": (("joint_accuracy", "JX4MEI joint Acc"),),
}
MEASURED = ("params total", "params new", "media tokens/clip", "s/step", "examples/s")


@dataclass(frozen=True)
class Variant:
    name: str
    overrides: tuple[str, ...]


@dataclass
class Plan:
    """A variant ready to run: its curriculum (output_dir = its folder) and what identifies its settings."""

    variant: Variant
    config: CurriculumConfig
    folder: Path
    settings: dict


# ---------------------------------------------------------------------------------------------- variants
def parse_variant(spec: str) -> Variant:
    """`mlp` (a built-in) or `NAME:key=value,key=value` (ad-hoc, on top of the curriculum and `--set`)."""
    name, colon, body = spec.partition(":")
    name = name.strip()
    if not VARIANT_NAME.match(name):
        raise ValueError(f"variant {spec!r}: the name must be letters, digits, '_', '.', '-' (it names a folder)")
    if not colon:
        if name not in VARIANTS:
            raise ValueError(
                f"unknown variant {name!r}: built-ins are {', '.join(VARIANTS)}; "
                "or give an ad-hoc one as NAME:key=value,key=value"
            )
        return Variant(name, tuple(f"{k}={v}" for k, v in VARIANTS[name].items()))
    overrides = tuple(o.strip() for o in NEXT_OVERRIDE.split(body) if o.strip())
    bad = [o for o in overrides if "=" not in o or not o.split("=", 1)[0]]
    if bad:
        raise ValueError(f"variant {name!r}: overrides {bad} are not key=value")
    return Variant(name, overrides)


@functools.cache
def _tiny_vocab_size() -> int:
    from nanoemox.tiny.tokenizer import train_tiny_tokenizer

    return len(train_tiny_tokenizer())


def design_config(config: CurriculumConfig):
    """The `NanoEmoXConfig` the curriculum starts from: that of `model.path`, or the one `model.init` composes (tiny
    preset: its shapes; otherwise the published shapes, as `nanoemox train --dry-run` assumes). Raises `ValueError`
    for a missing checkpoint and for unknown or invalid arch values."""
    from nanoemox.modeling.configuration_nanoemox import NanoEmoXConfig
    from nanoemox.tiny.configs import TINY_ARCH, tiny_component_configs

    if "path" in config.model:
        path = Path(config.model["path"])
        if not (path / "config.json").exists():
            raise ValueError(f"model.path={str(path)!r}: no checkpoint there (config.json)")
        return NanoEmoXConfig.from_pretrained(path)
    init = config.model.get("init", {})
    arch = dict(init.get("arch") or {})
    unknown = sorted(set(arch) - {f.name for f in fields(NanoEmoXConfig)})
    if unknown:
        raise ValueError(f"{ARCH}: unknown keys {unknown} (NanoEmoXConfig fields: frame_adapter, fusion, ...)")
    if init.get("preset") != "tiny":
        return NanoEmoXConfig(**arch)
    components = tiny_component_configs(_tiny_vocab_size(), lm=init.get("lm_config"))
    return NanoEmoXConfig(
        vision_config=components["vision"].to_dict(),
        audio_config=components["audio"].to_dict(),
        face_config=components["face"].to_dict(),
        text_config=components["lm"].to_dict(),
        **{**TINY_ARCH, **arch},
    )


def check_stages(config: CurriculumConfig, design) -> None:
    """Every stage's trainable modules exist in the model `design` builds (meta device, nothing allocated)."""
    from nanoemox.modeling.modeling_nanoemox import NanoEmoXForConditionalGeneration

    from .freezing import apply_trainable

    with torch.device("meta"):
        model = NanoEmoXForConditionalGeneration(design)
    for stage in config.stages:  # LoRA wraps the LM whatever the design: not needed to check the modules
        apply_trainable(model, replace(stage, trainable=[t for t in stage.trainable if t != "lora"]))


def _settings(config: CurriculumConfig, variant: Variant) -> dict:
    """What makes a variant's results: its curriculum (but the folder) and overrides, as JSON data."""
    curriculum = json.loads(json.dumps(config.to_dict(), default=str))
    curriculum.pop("output_dir")
    return {"variant": variant.name, "overrides": list(variant.overrides), "curriculum": curriculum}


def _load(config_path: str, overrides: list[str], where: str) -> CurriculumConfig:
    """`load_curriculum`, with every bad override (a key the YAML lacks, a list index too far) as a `ValueError`."""
    try:
        return load_curriculum(config_path, overrides)
    except (KeyError, IndexError, TypeError, AttributeError) as err:  # `_set` walking a key the YAML lacks
        raise ValueError(f"{where}: overrides {overrides}: {err!r}") from err
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from err


def plan_variants(config_path: str, overrides: list[str], specs: list[str], output: Path) -> list[Plan]:
    """Parse and check every variant; nothing is written. `ValueError` naming the variant for anything wrong."""
    variants = [parse_variant(s) for s in specs]
    names = [v.name for v in variants]
    if not variants or len(set(names)) != len(names):
        raise ValueError(f"variants must be given and named uniquely, got {names}")
    plans = []
    for variant in variants:
        where = f"variant {variant.name!r}"
        config = _load(config_path, [*overrides, *variant.overrides, f"output_dir={output / variant.name}"], where)
        if "path" in config.model and any(o.startswith("model.init") for o in variant.overrides):
            raise ValueError(
                f"variant {variant.name!r} changes model.init, but the curriculum starts from "
                f"model.path={config.model['path']!r}; compose the model with model.init instead"
            )
        try:
            check_stages(config, design_config(config))
        except ValueError as err:
            raise ValueError(f"variant {variant.name!r}: {err}") from err
        folder = output / variant.name
        plan = Plan(variant, config, folder, _settings(config, variant))
        recorded = folder / "variant.json"
        if recorded.exists() and json.loads(recorded.read_text()) != plan.settings:
            raise ValueError(
                f"variant {variant.name!r}: {folder} holds a run with other settings (see {recorded}); "
                "choose another --output or delete that folder"
            )
        if not recorded.exists() and folder.is_dir() and any(folder.iterdir()):
            raise ValueError(f"variant {variant.name!r}: {folder} is not empty and was not made by nanoemox ablate")
        plans.append(plan)
    from nanoemox.evaluation.wheels import as_wheels

    for plan in plans:  # the variants share the datasets (never regenerated) and the wheels
        check_datasets(plan.config)
    for wheels in {plan.config.evaluation.wheels for plan in plans}:
        as_wheels(wheels)
    return plans


# ---------------------------------------------------------------------------------------------- running
def tiny_component_kwargs(init: dict) -> dict:
    """`save_tiny_components` arguments of a tiny-preset `model.init`, read as `nanoemox train` reads them: each key
    by its name (`lm_pretrain_steps`, `encoder_pretrain_steps`, ...), `lm_config` as `lm`; other keys are ignored."""
    from nanoemox.tiny.components import save_tiny_components

    accepted = set(inspect.signature(save_tiny_components).parameters) - {"folder", "seed"}
    kwargs = {("lm" if key == "lm_config" else key): value for key, value in init.items()}
    return {key: value for key, value in kwargs.items() if key in accepted}


def shared_components(config: CurriculumConfig, root: Path) -> dict[str, str]:
    """Tiny preset: the random encoders and tiny LM (pre-trained as `model.init` says) every variant starts from,
    made once under `root/components/<key>/` as `nanoemox train` makes them; returns {component: folder}."""
    from nanoemox.tiny.components import save_tiny_components

    spec = {"seed": config.seed, **tiny_component_kwargs(config.model["init"])}
    key = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:12]
    folder = root / "components" / key
    if not (folder / "components.json").exists():
        partial = folder.with_name(f"{key}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        logger.info("making the shared tiny components %s in %s", spec, folder)
        save_tiny_components(partial, **spec)
        (partial / "components.json").write_text(json.dumps(spec, indent=2, default=str))
        partial.rename(folder)
    return {name: str(folder / name) for name in ("vision", "audio", "face", "lm")}


def finished(plan: Plan) -> bool:
    """Every stage and the held-out evaluation are done (`eval_results.json` is written after the last stage)."""
    stages = [plan.folder / f"{i}-{s.name}" / "stage.json" for i, s in enumerate(plan.config.stages, start=1)]
    return (plan.folder / "eval_results.json").exists() and all(p.exists() for p in stages)


def run_variant(plan: Plan, output: Path) -> None:
    """Train and evaluate one variant in `plan.folder` (resuming an interrupted run), sharing what can be shared."""
    from nanoemox.tiny.configs import TINY_ARCH

    from .engine import run_curriculum

    config = copy.deepcopy(plan.config)
    init = config.model.get("init", {})
    if init.get("preset") == "tiny":  # the same components for every variant, composed as `nanoemox train` does
        arch = {**TINY_ARCH, **(init.get("arch") or {})}
        config.model = {"init": {**shared_components(config, output), "arch": arch}}
    plan.folder.mkdir(parents=True, exist_ok=True)
    (plan.folder / "variant.json").write_text(json.dumps(plan.settings, indent=2))
    cache = plan.folder / "feature_cache"
    if config.feature_cache and not cache.exists() and not cache.is_symlink():
        (output / "feature_cache").mkdir(parents=True, exist_ok=True)
        cache.symlink_to(Path("..") / "feature_cache", target_is_directory=True)
    started = time.perf_counter()
    # composing draws the new placeholder tokens' embeddings before it seeds: the same draw for every variant
    torch.manual_seed(config.seed)
    run_curriculum(config)
    logger.info("variant %s: trained and evaluated in %.0f s", plan.variant.name, time.perf_counter() - started)


# ---------------------------------------------------------------------------------------------- measuring
def parameter_counts(checkpoint: Path) -> dict:
    """Parameters of the checkpoint's model, built from its config on the meta device: total (tied counted once) and
    new (the modules `nanoemox init` initialises fresh: adapters, face modules, fusion, optional heads), by module."""
    from nanoemox.compose import NEW_MODULES, OPTIONAL_NEW_MODULES
    from nanoemox.modeling.configuration_nanoemox import NanoEmoXConfig
    from nanoemox.modeling.modeling_nanoemox import NanoEmoXForConditionalGeneration

    with torch.device("meta"):
        model = NanoEmoXForConditionalGeneration(NanoEmoXConfig.from_pretrained(checkpoint))
    by_module = {}
    for name in NEW_MODULES + OPTIONAL_NEW_MODULES:
        module = getattr(model.model, name, None)
        if module is not None:
            by_module[name] = sum(p.numel() for p in module.parameters())
    return {
        "total": sum(p.numel() for p in model.parameters()),
        "new": sum(by_module.values()),
        "new_by_module": by_module,
    }


def media_tokens(checkpoint: Path) -> dict:
    config = json.loads((checkpoint / "config.json").read_text())
    keys = ("num_frame_tokens", "num_audio_tokens", "num_face_tokens", "num_fusion_tokens")
    tokens = {key: config[key] for key in keys}
    return {
        **tokens,
        "per_clip": sum(tokens.values()),
        "num_frames": config["num_frames"],
        "num_key_frames": config.get("num_key_frames", 0),
    }


def _logged_steps(events: Path) -> list[tuple[int, float]]:
    """(step, wall time) of each `train/loss` the Trainer logged to one TensorBoard events file."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    points = {}
    for event in EventFileLoader(str(events)).Load():
        if any(v.tag == "train/loss" for v in event.summary.value):
            points[event.step] = event.wall_time
    return sorted(points.items())


def stage_timing(folder: Path, stage) -> dict:
    """Seconds per optimizer step of a finished stage, from the wall times of the Trainer's logged steps (one events
    file per session, so the pause of an interruption is never counted). The median over logging intervals is the
    step time; the mean (checkpoint saves included) and the Trainer's own `train_runtime` are kept beside it."""
    per_step, seconds, steps = [], 0.0, 0
    for events in sorted(folder.rglob("events.out.tfevents.*")):
        points = _logged_steps(events)
        for (s0, t0), (s1, t1) in zip(points, points[1:]):
            per_step.append((t1 - t0) / (s1 - s0))
            seconds += t1 - t0
            steps += s1 - s0
    summary = json.loads((folder / "stage.json").read_text())
    examples = stage.batch_size * stage.gradient_accumulation_steps
    median = statistics.median(per_step) if per_step else None
    return {
        "steps": summary.get("steps"),
        "logged_intervals": len(per_step),
        "step_seconds": median,
        "step_seconds_mean": seconds / steps if steps else None,
        "examples_per_step": examples,
        "examples_per_second": examples / median if median else None,
        "trainable_parameters": summary.get("trainable_parameters", {}).get("total"),
    }


def _headline(task: str, metrics: dict) -> list[tuple[str, str]]:
    """(metric key, label) of a task's headline figures; an unlisted task shows its first numeric metric."""
    if task in HEADLINE:
        return [(k, label) for k, label in HEADLINE[task] if k in metrics]
    for key, value in metrics.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not key.startswith("n_"):
            return [(key, f"{task.upper()} {key}")]
    return []


def headline_metrics(results: dict) -> tuple[dict[str, float | None], dict[str, float | None]]:
    """({label: value}, {ablation label: masked minus all}) from `eval_results.json`; labels carry the dataset's
    name when there are several datasets."""
    datasets = results.get("datasets", {})
    values, deltas = {}, {}
    for dataset, conditions in datasets.items():
        prefix = f"{dataset} " if len(datasets) > 1 else ""
        full = conditions.get("all_modalities", {})
        for task, metrics in full.items():
            for key, label in _headline(task, metrics):
                values[prefix + label] = metrics[key]
        for condition, tasks in conditions.items():
            if not condition.startswith("without_"):
                continue
            branch = condition.removeprefix("without_")
            for task, metrics in tasks.items():
                for key, label in _headline(task, metrics):
                    masked, whole = metrics.get(key), full.get(task, {}).get(key)
                    delta = masked - whole if masked is not None and whole is not None else None
                    deltas[f"Δ {prefix}{label} −{branch}"] = delta
    return values, deltas


def decisive_shares(plan: Plan) -> dict[str, float]:
    """On the demo corpus, MER / MIR accuracy on the clips each modality decides ("MER voice-decided": a branch
    the model ignores is near chance on its share); {} for other datasets or without the predictions file."""
    from datasets import load_from_disk

    from nanoemox.processing.demo_corpus import accuracy_by_decisive_modality

    out = {}
    datasets = plan.config.datasets
    for name, spec in datasets.items():
        predictions_file = plan.folder / f"predictions-{name}.jsonl"
        if not predictions_file.exists():
            continue
        split = load_from_disk(spec["path"])[plan.config.evaluation.split]
        if not len(split) or "emotion_modality" not in json.loads(split[0]["meta"] or "{}"):
            continue
        predictions = [json.loads(line) for line in predictions_file.read_text().splitlines() if line.strip()]
        prefix = f"{name} " if len(datasets) > 1 else ""
        for task, cells in accuracy_by_decisive_modality(split, predictions).items():
            for modality, cell in cells.items():
                out[f"{prefix}{task.upper()} {modality}-decided"] = cell["accuracy"]
    return out


def collect(plan: Plan, status: str) -> dict:
    """One row of the table, measured from the files of a finished variant."""
    config = plan.config
    last = len(config.stages)
    final = plan.folder / f"{last}-{config.stages[-1].name}" / "final"
    results = json.loads((plan.folder / "eval_results.json").read_text())
    metrics, deltas = headline_metrics(results)
    timing = {s.name: stage_timing(plan.folder / f"{i}-{s.name}", s) for i, s in enumerate(config.stages, start=1)}
    model_config = json.loads((final / "config.json").read_text())
    return {
        "variant": plan.variant.name,
        "overrides": list(plan.variant.overrides),
        "design": {key: model_config.get(key) for key in BASELINE},
        "status": status,
        "folder": str(plan.folder),
        "metrics": metrics,
        "ablation_deltas": deltas,
        "decisive": decisive_shares(plan),
        "parameters": parameter_counts(final),
        "media_tokens": media_tokens(final),
        "last_stage": config.stages[-1].name,
        "timing": timing,
        "eval_results": results.get("datasets", {}),
    }


def machine() -> dict:
    from nanoemox.machine import describe_machine as bench_machine

    return {
        **bench_machine(),
        "torch_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
    }


# ---------------------------------------------------------------------------------------------- the table
def _design_label(design: dict) -> str:
    frame, audio = design.get("frame_adapter"), design.get("audio_adapter")
    text = f"{frame}" if frame == audio else f"{frame} / {audio}"
    text += f" + {design.get('fusion')}"
    return text + (f", FEC {design['num_key_frames']}" if design.get("num_key_frames") else "")


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,d}"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def table_rows(report: dict) -> tuple[list[str], list[list[str]]]:
    """Columns and formatted cells, one row per variant."""
    rows = report["variants"]
    metrics = list(dict.fromkeys(k for r in rows for k in r["metrics"]))
    deltas = list(dict.fromkeys(k for r in rows for k in r["ablation_deltas"]))
    shares = list(dict.fromkeys(k for r in rows for k in r.get("decisive", {})))
    columns = ["variant", "design", *metrics, *shares, *MEASURED, *deltas]
    cells = []
    for r in rows:
        last = r["timing"][r["last_stage"]]
        measured = [
            _fmt(r["parameters"]["total"]),
            _fmt(r["parameters"]["new"]),
            _fmt(r["media_tokens"]["per_clip"]),
            _fmt(last["step_seconds"], 3),
            _fmt(last["examples_per_second"], 1),
        ]
        cells.append(
            [
                r["variant"],
                _design_label(r["design"]),
                *[_fmt(r["metrics"].get(m)) for m in metrics],
                *[_fmt(r.get("decisive", {}).get(k), 2) for k in shares],
                *measured,
                *[f"{d:+.3f}" if (d := r["ablation_deltas"].get(k)) is not None else "—" for k in deltas],
            ]
        )
    return columns, cells


def table_lines(report: dict) -> list[str]:
    """The table as Markdown lines (what `nanoemox ablate` prints)."""
    columns, cells = table_rows(report)
    return [
        "| " + " | ".join(columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
        *("| " + " | ".join(row) + " |" for row in cells),
    ]


def markdown(report: dict) -> str:
    """The table as Markdown, with the machine, date and how each column was measured."""
    m = report["machine"]
    overrides = "".join(f" `--set {o}`" for o in report["overrides"])
    lines = [
        f"Machine: {m.get('cpu', 'unknown CPU')}, {m.get('cpus')} cores, torch {m.get('torch')} "
        f"({m['torch_threads']} threads), transformers {m.get('transformers', '?')}; {report['date']}. "
        f"Curriculum `{report['config']}`{overrides}, seed {report['seed']}.",
        "",
        *table_lines(report),
        "",
        f"Metrics: held-out split `{report['split']}`, greedy decoding. Parameters: total (tied embeddings once) and "
        "new (adapters, face modules, fusion). s/step: median seconds per optimizer step of the last stage "
        f"(`{report['variants'][0]['last_stage']}`) between the Trainer's logged steps; examples/s = batch × "
        "accumulation / s/step. Δ: the metric with one branch masked at evaluation minus with all branches.",
    ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------- main
@dataclass
class Ablation:
    """Checked variants, ready to run."""

    config: str
    overrides: list[str]
    base: CurriculumConfig
    output: Path
    plans: list[Plan]


def prepare(
    config_path: str, specs: list[str], *, output: str | Path | None = None, overrides: list[str] | None = None
) -> Ablation:
    """Check the curriculum and every variant; nothing is written or trained. `ValueError` for anything wrong."""
    overrides = list(overrides or [])
    base = _load(config_path, overrides, "--set")  # the base alone first: its errors are not a variant's
    output = Path(output) if output else Path(base.output_dir).parent / "ablation"
    return Ablation(str(config_path), overrides, base, output, plan_variants(config_path, overrides, specs, output))


def run(ablation: Ablation, *, json_path: str | Path | None = None, markdown_path: str | Path | None = None) -> dict:
    """Train the unfinished variants one after another, then measure every variant and write the report."""
    plans, output = ablation.plans, ablation.output
    statuses = {}
    for i, plan in enumerate(plans, start=1):
        name = plan.variant.name
        if finished(plan):
            logger.info("variant %s (%d/%d) is finished in %s; not rerun", name, i, len(plans), plan.folder)
            statuses[name] = "reused"
            continue
        logger.info("variant %s (%d/%d): %s -> %s", name, i, len(plans), list(plan.variant.overrides), plan.folder)
        run_variant(plan, output)
        statuses[name] = "run"
    report = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": machine(),
        "config": ablation.config,
        "overrides": ablation.overrides,
        "seed": ablation.base.seed,
        "split": ablation.base.evaluation.split,
        "output": str(output),
        "variants": [collect(plan, statuses[plan.variant.name]) for plan in plans],
    }
    json_path = Path(json_path) if json_path else output / "ablation.json"
    markdown_path = Path(markdown_path) if markdown_path else output / "ablation.md"
    report["files"] = {"json": str(json_path), "markdown": str(markdown_path)}
    for path, text in ((json_path, json.dumps(report, indent=2, default=str)), (markdown_path, markdown(report))):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return report


def run_ablation(
    config_path: str,
    specs: list[str],
    *,
    output: str | Path | None = None,
    overrides: list[str] | None = None,
    json_path: str | Path | None = None,
    markdown_path: str | Path | None = None,
) -> dict:
    """`prepare` then `run`: every variant is checked before any trains. Returns the report (as in the JSON)."""
    ablation = prepare(config_path, specs, output=output, overrides=overrides)
    return run(ablation, json_path=json_path, markdown_path=markdown_path)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nanoemox ablate", description=__doc__.split("\n")[0])
    parser.add_argument("--config", required=True, help="curriculum YAML or preset name (e.g. demo)")
    parser.add_argument(
        "--variants",
        nargs="+",
        required=True,
        metavar="VARIANT",
        help=f"built-ins ({', '.join(VARIANTS)}) or NAME:key=value,key=value",
    )
    parser.add_argument("--output", help="folder of the variants' runs (default: ablation/ beside output_dir)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override for every variant")
    parser.add_argument("--json", help="write the report here (default: <output>/ablation.json)")
    parser.add_argument("--markdown", help="write the table here (default: <output>/ablation.md)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        ablation = prepare(args.config, args.variants, output=args.output, overrides=args.set)
    except ValueError as err:
        raise SystemExit(f"nanoemox ablate: {err}") from err
    report = run(ablation, json_path=args.json, markdown_path=args.markdown)
    print("\n".join(table_lines(report)))
    files = report["files"]
    print(f"\n{len(report['variants'])} variants in {report['output']}; {files['json']}, {files['markdown']}")
    return 0
