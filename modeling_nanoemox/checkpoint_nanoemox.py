"""What makes a folder a complete NanoEmoX checkpoint, written by every save.

A checkpoint folder loads with `AutoModelForCausalLM`, `AutoProcessor` and `pipeline("emotion-analysis", ...)`
(`trust_remote_code=True`) without this package when it holds:

    config.json              with `auto_map` (every auto class) and `custom_pipelines` (emotion-analysis)
    model.safetensors        the weights
    *_nanoemox.py            the checkpoint's code: this folder's files, copied by `write_code`
    processor_config.json    the processor (with its own `auto_map`), tokenizer files, chat template
    requirements.txt         what the code needs beyond torch and transformers (see `requirements_nanoemox`)

`NanoEmoXPreTrainedModel.save_pretrained` writes all of it, so `model.save_pretrained`, `Trainer.save_model`, a merged
PEFT model's `save_pretrained` and `push_to_hub` all leave a complete folder; when the model was not given a processor
to save, the one of the checkpoint it was loaded from is copied beside it.

Every save also records what happened to the weights (`record_training`): `config.weights_fingerprint` holds a short
hash per module, and when the weights differ from the ones the model was loaded with, `config.training_history`
gains an entry (from which checkpoint, which modules changed, and what the caller says it did: a curriculum stage,
its data). The model card is rendered from that history: untrained, partly trained, or fine-tuned from a base.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import os
import shutil
from pathlib import Path

import torch
from transformers.dynamic_module_utils import get_relative_import_files

from .requirements_nanoemox import MEDIA_REQUIREMENTS

logger = logging.getLogger(__name__)

AUTO_MAP = {
    "AutoConfig": "configuration_nanoemox.NanoEmoXConfig",
    "AutoModel": "modeling_nanoemox.NanoEmoXModel",
    "AutoModelForCausalLM": "modeling_nanoemox.NanoEmoXForConditionalGeneration",
    "AutoModelForImageTextToText": "modeling_nanoemox.NanoEmoXForConditionalGeneration",
}
PROCESSOR_AUTO_MAP = {"AutoProcessor": "processing_nanoemox.NanoEmoXProcessor"}
PIPELINE_TASK = "emotion-analysis"
CUSTOM_PIPELINES = {
    PIPELINE_TASK: {
        "impl": "pipeline_nanoemox.EmotionAnalysisPipeline",
        "pt": ["AutoModelForCausalLM"],
        "type": "multimodal",
    }
}
PROCESSOR_FILE = "processor_config.json"


def point_config_at_code(config) -> None:
    """Set the config's `auto_map` and `custom_pipelines` to this code (kept for other auto classes already there)."""
    config.auto_map = {**(getattr(config, "auto_map", None) or {}), **AUTO_MAP}
    config.custom_pipelines = {**(getattr(config, "custom_pipelines", None) or {}), **CUSTOM_PIPELINES}


def code_files(modeling_file: str | os.PathLike) -> list[Path]:
    """The checkpoint's code files: the modeling file and every file it reaches by relative import (the model reaches
    this module, which reaches the pipeline and the processor, which reach the rest)."""
    files = [Path(modeling_file), *map(Path, get_relative_import_files(modeling_file))]
    return sorted(set(files), key=lambda p: p.name)


def write_code(folder: str | os.PathLike, modeling_file: str | os.PathLike) -> list[str]:
    """Copy the checkpoint's code and its `requirements.txt` into `folder`; returns the file names written."""
    folder = Path(folder)
    names = []
    for path in code_files(modeling_file):
        if path.resolve() != (folder / path.name).resolve():
            shutil.copyfile(path, folder / path.name)
        names.append(path.name)
    lines = ["# NanoEmoX's checkpoint code needs these beside torch and transformers", *MEDIA_REQUIREMENTS.values()]
    (folder / "requirements.txt").write_text("\n".join(lines) + "\n")
    return names


def save_processor_beside(model, folder: str | os.PathLike) -> bool:
    """Save the processor of the checkpoint `model` was loaded from into `folder`, unless `folder` has one already.

    Returns whether `folder` now holds a processor. A model that was not loaded from a checkpoint with a processor
    (built in Python, or from a Hub id that cannot be reached) leaves the folder without one, with a warning.
    """
    folder = Path(folder)
    if (folder / PROCESSOR_FILE).exists():
        return True
    origin = getattr(model.config, "_name_or_path", None) or getattr(model, "name_or_path", None)
    if not origin or Path(origin).resolve() == folder.resolve():
        return _warn_no_processor(folder)
    from .processing_nanoemox import NanoEmoXProcessor

    try:
        processor = NanoEmoXProcessor.from_pretrained(origin, trust_remote_code=True)  # this is that code
    except (OSError, ValueError) as err:
        logger.debug("no processor at %s: %s", origin, err)
        return _warn_no_processor(folder)
    NanoEmoXProcessor.register_for_auto_class("AutoProcessor")
    processor.save_pretrained(folder)
    logger.debug("saved the processor of %s beside the weights in %s", origin, folder)
    return True


def _warn_no_processor(folder: Path) -> bool:
    logger.warning(
        "%s has no processor: save it too (processor.save_pretrained(%r)) so that AutoProcessor and the "
        "emotion-analysis pipeline can load this folder",
        folder,
        str(folder),
    )
    return False


def module_fingerprints(model) -> dict[str, str]:
    """A short hash of each module's weights: the children of `model.model` (encoders, adapters, fusion, language
    model) and `lm_head`. Each tensor counts by its name, shape, dtype, float64 sum and up to 4,096 evenly spaced
    values, so that any training step or merge shows while a 2B model hashes in seconds."""
    inner = getattr(model, "model", model)
    modules = dict(inner.named_children())
    if getattr(model, "lm_head", None) is not None:
        modules["lm_head"] = model.lm_head
    out = {}
    with torch.no_grad():
        for name, module in modules.items():
            digest = hashlib.blake2b(digest_size=8)
            for key, tensor in sorted(module.state_dict().items()):
                if tensor.is_meta:
                    continue
                flat = tensor.detach().reshape(-1)
                sample = flat[:: max(1, flat.numel() // 4096)].to("cpu", torch.float64)
                total = torch.sum(flat, dtype=torch.float64).item() if flat.is_floating_point() else 0.0
                digest.update(f"{key}{tuple(tensor.shape)}{tensor.dtype}{total:.10e}".encode())
                digest.update(sample.numpy().tobytes())
            out[name] = digest.hexdigest()
    return out


def record_training(model, note: dict | None = None) -> None:
    """Before a save: update `config.training_history` and `config.weights_fingerprint` (see the module docstring).

    note: what the caller did, kept in the entry (e.g. {"stage": "1.1-audio", "index": 1, "of": 4, "curriculum":
        "demo", "data": [...]}); a note is recorded even when no weights changed.
    A checkpoint without a fingerprint (saved before this was recorded) gives an entry whose `changed` is None
    (unknown). Consecutive saves of the same run (Trainer checkpoints) update one entry instead of adding one each.
    """
    config = model.config
    before = getattr(config, "weights_fingerprint", None)
    now = module_fingerprints(model)
    if not now:
        return
    history = [dict(e) for e in (getattr(config, "training_history", None) or [])]
    origin = str(getattr(config, "_name_or_path", "") or getattr(model, "name_or_path", "") or "") or None
    changed = None if before is None else sorted(k for k in now if before.get(k) != now[k])
    if changed == [] and not note:
        config.weights_fingerprint = now
        return
    if before is None and not note and not origin:  # a model built in Python: nothing to compare with
        config.weights_fingerprint = now
        return
    entry = {"from": origin, "changed": changed, "date": datetime.date.today().isoformat(), **(note or {})}
    last = history[-1] if history else None
    if last is not None and not note and last.get("from") == origin and "stage" not in last:
        entry["changed"] = (
            None if changed is None or last.get("changed") is None else sorted({*last["changed"], *changed})
        )
        history[-1] = entry
    else:
        history.append(entry)
    config.training_history = history
    config.weights_fingerprint = now


def register_pipeline() -> None:
    """Make `pipeline(task="emotion-analysis", model=<a NanoEmoX model object>, processor=...)` work: transformers
    knows a custom task from a checkpoint's config only when it loads the model by name, so the task is registered
    when a NanoEmoX model is built (idempotent)."""
    from transformers import AutoModelForCausalLM
    from transformers.pipelines import PIPELINE_REGISTRY

    from .pipeline_nanoemox import EmotionAnalysisPipeline

    if PIPELINE_TASK in PIPELINE_REGISTRY.get_supported_tasks():
        return
    PIPELINE_REGISTRY.register_pipeline(
        PIPELINE_TASK, pipeline_class=EmotionAnalysisPipeline, pt_model=AutoModelForCausalLM, type="multimodal"
    )


__all__ = [
    "AUTO_MAP",
    "CUSTOM_PIPELINES",
    "PIPELINE_TASK",
    "PROCESSOR_AUTO_MAP",
    "code_files",
    "module_fingerprints",
    "point_config_at_code",
    "record_training",
    "register_pipeline",
    "save_processor_beside",
    "write_code",
]
