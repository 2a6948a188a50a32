"""`nanoemox card`: render a checkpoint's model card (README.md) from its files.

    nanoemox card --model ckpt/                                   # writes ckpt/README.md
    nanoemox card --model ckpt/ --curriculum train/configs/p2e.yaml --eval runs/mer.json runs/erg.json \
        --repo-id me/nanoemox-base --output ckpt/README.md
    # a tiny CPU run
    nanoemox init --preset tiny --output ckpt-tiny && nanoemox card --model ckpt-tiny

Inputs, all read as plain data (nothing here imports torch or the model classes):

    config.json              architecture, branch modules, token counts, the components' `_name_or_path`
    *.safetensors headers    parameter counts per branch (shapes only, no tensor is loaded)
    generation_config.json   decoding defaults (optional)
    curriculum YAML          any mapping with a top-level `stages` list; rendered as a table (optional)
    evaluation JSON          `{"task", "dataset", "metrics"}`, a list of them, or `{"results": ...}`; goes into the
                             card's `model-index` and an evaluation table (optional; see `eval_records`)

The card text comes from `template.md` (Jinja) beside this file; the YAML front matter is huggingface_hub's
`ModelCardData`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
import yaml
from huggingface_hub import ModelCard, ModelCardData
from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id

from nanoemox.modeling.requirements_nanoemox import pip_install_line

from .eval_records import TASK_NAMES, eval_records, load_eval, to_eval_results
from .parameters import count_parameters, format_count

logger = logging.getLogger(__name__)

TEMPLATE_PATH = Path(__file__).with_name("template.md")

# Mirror of nanoemox.compose.PUBLISHED_COMPONENTS (a test checks that both agree); copied so that rendering a
# card does not import torch and the model.
PUBLISHED_COMPONENTS = {
    "vision": "openai/clip-vit-large-patch14",
    "audio": "facebook/hubert-large-ll60k",
    "face": "microsoft/swin-base-patch4-window7-224",
    "lm": "Qwen/Qwen2.5-1.5B-Instruct",
}
# component -> (sub-config key, branch label)
COMPONENTS = {
    "vision": ("vision_config", "frame encoder"),
    "audio": ("audio_config", "speech encoder"),
    "face": ("face_config", "face backbone"),
    "lm": ("text_config", "language model"),
}
# The fields that identify the published full-size component, when `_name_or_path` says nothing.
PUBLISHED_ARCH = {
    "vision": {"model_type": "clip_vision_model", "hidden_size": 1024, "num_hidden_layers": 24, "patch_size": 14},
    "audio": {"model_type": "hubert", "hidden_size": 1024, "num_hidden_layers": 24},
    "face": {"model_type": "swin", "embed_dim": 128, "depths": [2, 2, 18, 2]},
    "lm": {"model_type": "qwen2", "hidden_size": 1536, "num_hidden_layers": 28, "vocab_size": 151936},
}
BASE_TAGS = [
    "emotion-recognition",
    "multimodal",
    "nanoemox",
    "custom_code",
    "affective-computing",
    "sentiment-analysis",
    "video",
    "audio",
]


# --------------------------------------------------------------------------------------------- components


def is_hub_id(name: Any) -> bool:
    """True for a string shaped like a Hub repo id (`owner/name`) that is not a local path."""
    if not isinstance(name, str) or name.count("/") != 1 or name.startswith((".", "/", "~")):
        return False
    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return not os.path.exists(name)


def _matches(config: Mapping[str, Any], reference: Mapping[str, Any]) -> bool:
    return all(config.get(key) == value for key, value in reference.items())


def _size(key: str, sub: Mapping[str, Any]) -> str:
    if key == "face":
        return f"embed {sub.get('embed_dim', '?')}, depths {sub.get('depths', '?')}"
    size = f"hidden {sub.get('hidden_size', '?')}, {sub.get('num_hidden_layers', '?')} layers"
    if key == "vision":
        size += f", {sub.get('image_size', '?')} px, patch {sub.get('patch_size', '?')}"
    if key == "lm":
        size += f", vocab {sub.get('vocab_size', '?')}"
    return size


def describe_components(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per pretrained component: where it came from and how big it is.

    `base_model` is the component's `_name_or_path` when that is a Hub id; else the published default when the
    sub-config has the published architecture; else None (a local folder or random weights, e.g. the tiny preset).
    """
    rows = []
    for key, (sub_key, label) in COMPONENTS.items():
        sub = config.get(sub_key) or {}
        name = sub.get("_name_or_path") or ""
        if is_hub_id(name):
            base, origin = name, f"[`{name}`](https://huggingface.co/{name})"
        elif _matches(sub, PUBLISHED_ARCH[key]):
            base = PUBLISHED_COMPONENTS[key]
            origin = f"[`{base}`](https://huggingface.co/{base}) (published default; inferred from the architecture)"
        else:
            base = None
            origin = "local folder, not on the Hub" if name else "randomly initialised"
        rows.append(
            {
                "key": key,
                "label": label,
                "model_type": sub.get("model_type", "?"),
                "size": _size(key, sub),
                "base_model": base,
                "origin": origin,
            }
        )
    return rows


def checkpoint_kind(components: Sequence[Mapping[str, Any]], config: Mapping[str, Any]) -> str:
    """ "pretrained" (every component known), "partial" (some), "tiny" or "random" (none)."""
    known = sum(c["base_model"] is not None for c in components)
    if known == len(components):
        return "pretrained"
    if known:
        return "partial"
    return "tiny" if (config.get("text_config") or {}).get("hidden_size", 0) < 256 else "random"


# --------------------------------------------------------------------------------------------- training

MODULE_LABELS = {
    "vision_tower": "frame encoder",
    "audio_tower": "speech encoder",
    "face_backbone": "face backbone",
    "language_model": "language model",
    "frame_adapter": "frame adapter",
    "audio_adapter": "speech adapter",
    "face_fusion": "face fusion",
    "face_adapter": "face temporal block",
    "fusion": "fusion encoder",
    "sentiment_head": "sentiment head",
    "lm_head": "LM head",
}


def training_state(config: Mapping[str, Any]) -> dict[str, Any]:
    """What the checkpoint's weights have been through, from `config.training_history` (recorded by every save).

    Returns {"state", "summary", "entries"}; state is "untrained" (no training recorded: the new modules hold their
    initial weights), "partly trained" (some stages of a curriculum), "trained" (every stage of one) or "fine-tuned"
    (weights changed after loading another checkpoint, outside a curriculum) or "not recorded" (saved from a
    checkpoint written before the history was recorded).
    """
    entries = [dict(e) for e in (config.get("training_history") or [])]
    for entry in entries:
        changed = entry.get("changed")
        entry["changed_labels"] = None if changed is None else [MODULE_LABELS.get(m, m) for m in changed]
        entry["data_text"] = _format_data(entry["data"]) if entry.get("data") else None
    if not entries:
        return {
            "state": "untrained",
            "summary": "untrained: no training is recorded for these weights; the adapters, "
            "the face modules and the fusion encoder hold the weights they were initialised with",
            "entries": [],
        }
    last = entries[-1]
    if "stage" not in last and last.get("changed") is None:
        return {
            "state": "not recorded",
            "entries": entries,
            "summary": f"saved from `{last.get('from') or 'unknown'}`, a checkpoint that did not record its "
            "weights; what they went through is not known",
        }
    if "stage" not in last:
        changed = last["changed_labels"]
        what = (
            "changes not recorded"
            if changed is None
            else ("no weights changed" if not changed else "changed: " + ", ".join(changed))
        )
        data = f"; data: {_format_data(last['data'])}" if last.get("data") else "; data not recorded"
        return {
            "state": "fine-tuned",
            "entries": entries,
            "summary": f"fine-tuned from `{last.get('from') or 'unknown'}` ({what}){data}",
        }
    stages = [e for e in entries if "stage" in e and e.get("curriculum") == last.get("curriculum")]
    names = ", ".join(f"`{e['stage']}`" for e in stages)
    total = last.get("of")
    done = last.get("index")
    if total and done == total:
        return {
            "state": "trained",
            "entries": entries,
            "summary": f"trained with every stage of the `{last.get('curriculum')}` curriculum ({names})",
        }
    return {
        "state": "partly trained",
        "entries": entries,
        "summary": f"partly trained: stage {done} of {total or '?'} of the `{last.get('curriculum')}` curriculum "
        f"({names}); the later stages have not run",
    }


def _format_data(data: Any) -> str:
    if isinstance(data, Mapping):
        return ", ".join(f"{k} ({v})" for k, v in data.items())
    if isinstance(data, (list, tuple)):
        return ", ".join(map(str, data))
    return str(data)


# ------------------------------------------------------------------------------------------- curriculum


def load_curriculum(path: str | os.PathLike) -> dict[str, Any]:
    """A curriculum YAML: any mapping with a top-level `stages` list."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, Mapping) or not isinstance(data.get("stages"), list):
        raise ValueError(f"{path}: a curriculum needs a top-level 'stages' list, got {type(data).__name__}")
    return dict(data)


def _cell(value: Any) -> str:
    """Markdown table cell: short, no pipes or newlines."""
    if value is None or value == "" or value == [] or value == {}:
        return "–"
    if isinstance(value, float):
        text = f"{value:g}"
    elif isinstance(value, Mapping):
        text = ", ".join(f"{k}={_cell(v)}" for k, v in value.items())
    elif isinstance(value, (list, tuple)):
        text = ", ".join(_cell(v) for v in value)
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\n", " ").strip()


def _format_mixture(mixture: Any) -> str:
    """`{name: weight}`, `[{name, weight}]`, `[name]` or a string -> "a 76 %, b 24 %"."""
    pairs: list[tuple[str, Any]] = []
    if isinstance(mixture, Mapping):
        pairs = [(str(k), v) for k, v in mixture.items()]
    elif isinstance(mixture, (list, tuple)):
        for item in mixture:
            if isinstance(item, Mapping):
                name = next((item[k] for k in ("name", "dataset", "task", "source") if k in item), "?")
                weight = next((item[k] for k in ("weight", "ratio", "share", "probability") if k in item), None)
                pairs.append((str(name), weight))
            else:
                pairs.append((str(item), None))
    else:
        return _cell(mixture)
    weights = [w for _, w in pairs if isinstance(w, (int, float)) and not isinstance(w, bool)]
    total = sum(weights) if len(weights) == len(pairs) else 0
    if total > 0:
        return _cell(", ".join(f"{name} {100 * w / total:.0f} %" for name, w in pairs))
    return _cell(", ".join(name if w is None else f"{name} ({_cell(w)})" for name, w in pairs))


def _format_lr(stage: Mapping[str, Any]) -> str:
    lr = next((stage[k] for k in ("lr", "learning_rate") if k in stage), None)
    floor = next((stage[k] for k in ("min_lr", "min_learning_rate") if k in stage), None)
    if floor is not None and isinstance(lr, (int, float)):
        return f"{_cell(lr)} → {_cell(floor)}"
    if isinstance(lr, Mapping):  # {start: 3e-4, end: 1e-4} or similar; YAML dumpers may sort the keys
        ordered = [lr[k] for k in ("start", "initial", "peak", "max", "end", "final", "min") if k in lr]
        return _cell(" → ".join(_cell(v) for v in (ordered if len(ordered) == len(lr) else lr.values())))
    if isinstance(lr, (list, tuple)):
        return _cell(" → ".join(_cell(v) for v in lr))
    return _cell(lr)


def _format_length(stage: Mapping[str, Any]) -> str:
    epochs = next((stage[k] for k in ("epochs", "num_train_epochs") if k in stage), None)
    steps = next((stage[k] for k in ("steps", "steps_per_epoch", "max_steps", "iters") if k in stage), None)
    parts = [
        f"{_cell(epochs)} epoch{'' if epochs == 1 else 's'}" if epochs is not None else "",
        f"{_cell(steps)} steps" if steps is not None else "",
    ]
    return " × ".join(p for p in parts if p) or "–"


STAGE_KEYS = {
    "name",
    "description",
    "mixture",
    "data",
    "datasets",
    "trainable",
    "trains",
    "steps",
    "steps_per_epoch",
    "max_steps",
    "iters",
    "epochs",
    "num_train_epochs",
    "lr",
    "learning_rate",
    "min_lr",
    "min_learning_rate",
    "where",
}


def curriculum_rows(curriculum: Mapping[str, Any]) -> list[dict[str, str]]:
    """One table row per stage; every key is optional, unknown keys land in `other`."""
    rows = []
    for number, stage in enumerate(curriculum.get("stages") or [], start=1):
        if not isinstance(stage, Mapping):
            stage = {"name": stage}
        trainable = next((stage[k] for k in ("trainable", "trains") if k in stage), None)
        if isinstance(trainable, Mapping):
            trainable = [k for k, v in trainable.items() if v]
        mixture = next((stage[k] for k in ("mixture", "data", "datasets") if k in stage), None)
        pool = next((stage[k] for k in ("data", "datasets") if k in stage), None) if "mixture" in stage else None
        data = _format_mixture(mixture) if mixture is not None else "–"
        if pool:  # `mixture` weighs tasks, `data` names the datasets they are drawn from
            data += f" (from {_cell(pool)})"
        if stage.get("where"):  # only the rows whose column / meta key matches
            data += " where " + ", ".join(f"{k} = {_cell(v)}" for k, v in stage["where"].items())
        other = {k: v for k, v in stage.items() if k not in STAGE_KEYS}
        rows.append(
            {
                "name": _cell(stage.get("name") or f"stage {number}"),
                "trainable": _cell(trainable),
                "mixture": data,
                "length": _format_length(stage),
                "lr": _format_lr(stage),
                "other": _cell(other),
                "description": _cell(stage.get("description")) if stage.get("description") else "",
            }
        )
    return rows


def curriculum_settings(curriculum: Mapping[str, Any]) -> list[str]:
    """Top-level keys other than `stages`, as `key: value` lines."""
    skip = ("stages", "datasets", "name", "description", "output_dir")
    return [f"`{key}`: {_cell(value)}" for key, value in curriculum.items() if key not in skip]


def _curriculum_datasets(curriculum: Mapping[str, Any]) -> list[str]:
    names = list(curriculum.get("datasets") or [])  # a list of ids or a mapping {name: {path: ...}}
    for stage in curriculum.get("stages") or []:
        mixture = stage.get("mixture") if isinstance(stage, Mapping) else None
        if isinstance(mixture, Mapping):
            names += list(mixture)
        elif isinstance(mixture, list):
            names += [m.get("dataset") or m.get("name") if isinstance(m, Mapping) else m for m in mixture]
    return [n for n in names if is_hub_id(n)]


# ------------------------------------------------------------------------------------------- the card


def _read_json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


# What each selectable module is, for the card (the names of the adapter and fusion registries).
MODULE_DESCRIPTIONS = {
    "qformer": "Q-Former with learned queries (Nano-EmoX)",
    "mlp": "MLP projector (pooled to the query count)",
    "hybrid_compressor": "Emotion-Qwen hybrid compressor: emotion and general MLP experts mixed by an attention gate",
    "lq_former": "XMEI-Qwen LQ-Former: queries initialised from language priors (subtitle / captions) + learned",
    "cat_mod": "Cat-MoD: guide (prior) + explorer queries, similarity router skipping cross-attention per token",
    "gated_experts": "Nano-EmoX gated experts: one audio-queries-vision cross-attention expert per layer pair, "
    "softmax gate",
    "egmf": "EGMF: bidirectional cross-attention, 1/8-1/4-1/2 bottleneck experts, hierarchical gating",
}


def architecture(config: Mapping[str, Any]) -> dict[str, Any]:
    """The branch modules, token counts and layer choices the card shows, with the published defaults."""
    get = config.get
    tokens = {b: get(f"num_{b}_tokens", d) for b, d in (("frame", 32), ("audio", 32), ("face", 4), ("fusion", 1))}
    text_hidden = (get("text_config") or {}).get("hidden_size", "?")
    placeholders = {b: get(f"{b}_token_id") for b in ("frame", "face", "audio", "fusion")}
    return {
        "frame_adapter": get("frame_adapter", "qformer"),
        "audio_adapter": get("audio_adapter", "qformer"),
        "fusion": get("fusion", "gated_experts"),
        "modules": {
            name: MODULE_DESCRIPTIONS.get(get(key, default), get(key, default))
            for name, key, default in (
                ("frame", "frame_adapter", "qformer"),
                ("audio", "audio_adapter", "qformer"),
                ("fusion", "fusion", "gated_experts"),
            )
        },
        "num_key_frames": get("num_key_frames", 0),
        "fec_scorer": get("fec_scorer", "haar_smile"),
        "sentiment_head": bool(get("sentiment_head", False)),
        "tokens": tokens,
        "media_tokens": sum(tokens.values()),
        "num_frames": get("num_frames", 8),
        "num_audio_clips": get("num_audio_clips", 8),
        "audio_clip_seconds": get("audio_clip_seconds", 2.0),
        "audio_sampling_rate": get("audio_sampling_rate", 16000),
        "adapter": {k: get(f"adapter_{k}") for k in ("hidden_size", "num_layers", "num_heads", "intermediate_size")},
        "vision_feature_layer": get("vision_feature_layer", -1),
        "audio_pool_layers": get("audio_pool_layers", 4),
        "face_feature_size": get("face_feature_size", 256),
        "face_num_heads": get("face_num_heads", 4),
        "face_mlp_hidden_size": get("face_mlp_hidden_size", 768),
        "fusion_vision_layers": get("fusion_vision_layers", [12, 16, 22]),
        "fusion_audio_layers": get("fusion_audio_layers", [16, 18, 22]),
        "fusion_hidden_size": get("fusion_hidden_size", 512),
        "fusion_num_heads": get("fusion_num_heads", 8),
        "fusion_num_experts": get("fusion_num_experts", 3),
        "text_hidden_size": text_hidden,
        "placeholders": {b: i for b, i in placeholders.items() if i is not None},
    }


def render_card(
    model_dir: str | os.PathLike,
    *,
    curriculum: str | os.PathLike | Mapping[str, Any] | None = None,
    eval_results: Sequence[str | os.PathLike] | Any = None,
    repo_id: str | None = None,
    model_name: str | None = None,
    base_model: str | list[str] | None = None,
    datasets: list[str] | None = None,
    language: str | list[str] | None = None,
    extra_tags: Sequence[str] = (),
    template_path: str | os.PathLike | None = None,
) -> ModelCard:
    """The model card of the checkpoint in `model_dir`.

    curriculum: a YAML path or an already loaded mapping with a `stages` list.
    eval_results: a list of JSON paths, or already loaded JSON (any shape `eval_records` accepts).
    repo_id: the Hub id used in the usage snippet (default: `<namespace>/<folder name>`).
    base_model: overrides what the components' configs say.
    """
    model_dir = Path(model_dir)
    config = _read_json(model_dir / "config.json")
    if config is None:
        raise ValueError(f"{model_dir}: no config.json; is this a checkpoint folder?")
    if config.get("model_type") != "nanoemox":
        logger.warning("%s: model_type is %r, not 'nanoemox'", model_dir, config.get("model_type"))

    components = describe_components(config)
    kind = checkpoint_kind(components, config)
    training = training_state(config)
    if eval_results is None and (model_dir / "eval_results.json").is_file():  # the curriculum's held-out scores
        eval_results = [model_dir / "eval_results.json"]
    if base_model is None:
        bases = [c["base_model"] for c in components if c["base_model"]]
        base_model = bases or None
    if isinstance(curriculum, (str, os.PathLike)):
        curriculum = load_curriculum(curriculum)
    if eval_results is None:
        records = []
    elif isinstance(eval_results, (list, tuple)) and all(isinstance(p, (str, os.PathLike)) for p in eval_results):
        records = load_eval(eval_results)
    elif isinstance(eval_results, (str, os.PathLike)):
        records = load_eval([eval_results])
    else:
        records = eval_records(eval_results)

    repo_id = repo_id or f"<namespace>/{model_dir.resolve().name}"
    model_name = model_name or repo_id.split("/")[-1]
    dataset_ids = list(
        dict.fromkeys(
            [
                *(datasets or []),
                *_curriculum_datasets(curriculum or {}),
                *(r["dataset_id"] for r in records if is_hub_id(r.get("dataset_id"))),
            ]
        )
    )
    tags = [*BASE_TAGS, *extra_tags] + (["tiny-random"] if kind in ("tiny", "random") else [])
    card_data = ModelCardData(
        base_model=base_model,
        datasets=dataset_ids or None,
        language=language,
        library_name="transformers",
        license="mit",
        pipeline_tag="video-text-to-text",
        tags=tags,
        model_name=model_name if records else None,  # only model-index uses it
        eval_results=to_eval_results(records) or None,
    )
    context = {
        "card_data": card_data.to_yaml(),
        "model_name": model_name,
        "repo_id": repo_id,
        "kind": kind,
        "training": training,
        "pip_install": pip_install_line(),
        "components": components,
        "arch": architecture(config),
        "text_config": config.get("text_config") or {},
        "parameters": count_parameters(model_dir),
        "format_count": format_count,
        "generation": _read_json(model_dir / "generation_config.json"),
        "curriculum": curriculum,
        "curriculum_rows": curriculum_rows(curriculum) if curriculum else [],
        "curriculum_settings": curriculum_settings(curriculum) if curriculum else [],
        "evaluations": records,
        "task_names": TASK_NAMES,
        "has_pipeline": "emotion-analysis" in (config.get("custom_pipelines") or {}),
    }
    environment = jinja2.Environment(
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined
    )
    template = environment.from_string(Path(template_path or TEMPLATE_PATH).read_text(encoding="utf-8"))
    return ModelCard(template.render(**context))


# ------------------------------------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nanoemox card", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="checkpoint folder (config.json, *.safetensors)")
    parser.add_argument("--curriculum", help="curriculum YAML with a top-level 'stages' list")
    parser.add_argument(
        "--eval",
        nargs="+",
        action="extend",
        default=[],
        metavar="FILE.json",
        help="evaluation result JSON files (repeatable)",
    )
    parser.add_argument("--output", help="where to write the card (default: MODEL/README.md)")
    parser.add_argument("--repo-id", help="Hub id shown in the usage snippet")
    parser.add_argument("--model-name", help="name used in model-index (default: the repo name)")
    parser.add_argument("--base-model", nargs="+", help="override the base models read from the config")
    parser.add_argument("--datasets", nargs="+", help="Hub dataset ids the model was trained on")
    parser.add_argument("--language", nargs="+", help="ISO 639 codes of the training data")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    card = render_card(
        args.model,
        curriculum=args.curriculum,
        eval_results=args.eval or None,
        repo_id=args.repo_id,
        model_name=args.model_name,
        base_model=args.base_model,
        datasets=args.datasets,
        language=args.language,
    )
    output = Path(args.output) if args.output else Path(args.model) / "README.md"
    output.parent.mkdir(parents=True, exist_ok=True)
    card.save(output)
    logger.info("wrote %s", output)
    print(output)
    return 0


__all__ = ["render_card", "count_parameters", "eval_records", "load_curriculum", "curriculum_rows", "main"]
