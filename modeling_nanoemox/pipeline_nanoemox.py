"""The `emotion-analysis` pipeline: a video (or audio, or text) in, a structured answer out.

    from transformers import pipeline
    analyse = pipeline("emotion-analysis", model="path/or/hub-id", trust_remote_code=True)
    analyse("clip.mp4", task="mer", subtitle="I can't believe you did that!")
    # {"task": "mer", "generated_text": "angry", "answer": {"emotion": "angry"},
    #  "fusion_gate_weights": [0.2, 0.5, 0.3], "modalities": {"frame": True, "face": True, ...}}

An input is a video path/bytes/frames, or a dict with any of `video`, `audio`, `subtitle`, `faces`, `task`.
Lists are answered one sample at a time (each clip has its own media). Media are encoded once: the pipeline
builds the prompt embeddings with `model.model.embed_inputs` (which also yields the fusion gate) and
generates from them. With a checkpoint that has the sentiment head (EGMF's regression head), an msa answer also
carries `head_score`, the head's continuous score read at the answer's prefill, beside `score` parsed from the text:

    analyse("clip.mp4", task="msa")["answer"]   # {"sentiment": "positive", "score": 1.2, "head_score": 1.37}

Multi-LoRA checkpoints (a `lora.per_task` curriculum stage) hold the shared base plus one PEFT adapter per task,
`adapters/<task>/`, listed in `config.task_adapters`. The pipeline loads them all as named adapters on first use
and answers each sample with its task's adapter (`"adapter"` in the output); a task without one is answered by
the base, with a warning. Without the pipeline, in the same way:

    model = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True)
    for task, subfolder in model.config.task_adapters.items():
        model.load_adapter(f"{folder}/{subfolder}", adapter_name=task)
    model.set_adapter("mer")
"""

from __future__ import annotations

import contextlib
import logging
import os

import torch
from transformers import Pipeline

from .prompts_nanoemox import parse_answer

logger = logging.getLogger(__name__)

BRANCH_NAMES = ("frame", "face", "audio", "fusion")


# ---------------------------------------------------------------------------------------------- per-task adapters
def task_adapters(model) -> dict[str, str]:
    """task -> adapter folder inside the checkpoint (`config.task_adapters`); empty for a single-model checkpoint."""
    return dict(getattr(model.config, "task_adapters", None) or {})


def load_task_adapters(model, source: str | os.PathLike | None = None, revision: str | None = None) -> list[str]:
    """Load every adapter of `config.task_adapters` as a PEFT adapter named after its task (those not loaded yet).

    source: the checkpoint folder or Hub id the adapters live in (default: the one the model was loaded from).
    revision: of a Hub id (with the default source: the commit the model was loaded from).
    Returns the names of the adapters the model holds.
    """
    if source is None:  # the checkpoint the model came from, at the same commit
        source, revision = model.name_or_path, getattr(model.config, "_commit_hash", None)
    source = str(source)
    loaded = set(getattr(model, "peft_config", None) or {})
    for task, subfolder in task_adapters(model).items():
        if task in loaded:
            continue
        if os.path.isdir(source):
            folder = os.path.join(source, subfolder)
            if not os.path.isfile(os.path.join(folder, "adapter_config.json")):
                raise ValueError(f"config.task_adapters lists {task!r} at {folder!r}, which holds no PEFT adapter")
            model.load_adapter(folder, adapter_name=task)
        else:  # a Hub repository: the adapter is a subfolder of the same revision
            kwargs = {"subfolder": subfolder, **({"revision": revision} if revision else {})}
            model.load_adapter(source, adapter_name=task, adapter_kwargs=kwargs)
        loaded.add(task)
    return sorted(loaded)


def use_task_adapter(model, task: str) -> str | None:
    """Make `model` answer `task` with its adapter (loading the checkpoint's adapters on first use).

    Returns the active adapter's name; None when the checkpoint has no per-task adapters, or none for `task` (the
    base answers then, with a warning once per task).
    """
    adapters = task_adapters(model)
    if not adapters:
        return None
    load_task_adapters(model)
    if task in adapters:
        model.enable_adapters()
        model.set_adapter(task)
        return task
    warned = model.__dict__.setdefault("_tasks_without_adapter", set())
    if task not in warned:
        warned.add(task)
        logger.warning(
            "no %r adapter in this checkpoint (adapters: %s); the base model answers", task, sorted(adapters)
        )
    model.disable_adapters()
    return None


class EmotionAnalysisPipeline(Pipeline):
    _load_processor = True
    _load_tokenizer = False
    _load_image_processor = False
    _load_feature_extractor = False
    _load_video_processor = False

    def _sanitize_parameters(self, task=None, subtitle=None, faces=None, max_new_tokens=None, **generate_kwargs):
        preprocess = {k: v for k, v in {"task": task, "subtitle": subtitle, "faces": faces}.items() if v is not None}
        forward = dict(generate_kwargs)
        if max_new_tokens is not None:
            forward["max_new_tokens"] = max_new_tokens
        return preprocess, forward, {}

    def preprocess(self, inputs, task: str = "mer", subtitle: str | None = None, faces=None):
        sample = dict(inputs) if isinstance(inputs, dict) else {"video": inputs}
        task = sample.pop("task", task)
        subtitle = sample.pop("subtitle", subtitle)
        faces = sample.pop("faces", faces)
        video, audio = sample.pop("video", None), sample.pop("audio", None)
        if sample:
            raise ValueError(f"unknown input keys {sorted(sample)}; use video, audio, subtitle, faces, task")
        path_like = video if isinstance(video, str) else None
        messages = self.processor.build_messages(
            task,
            subtitle=subtitle,
            video=path_like or ("<frames>" if video is not None else None),
            audio=audio if isinstance(audio, str) else ("<array>" if audio is not None else None),
        )
        text = self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        model_inputs = self.processor(text=[text], videos=[video], audio=[audio], faces=[faces], priors=[subtitle])
        model_inputs["task"] = task
        return model_inputs

    def _forward(self, model_inputs, **generate_kwargs):
        task = model_inputs.pop("task")
        adapter = use_task_adapter(self.model, task)
        media = {k: v for k, v in model_inputs.items() if k not in ("input_ids", "attention_mask")}
        head = contextlib.nullcontext([])
        if task == "msa" and getattr(self.model.config, "sentiment_head", False):
            head = self.model.capture_sentiment_scores()
        with torch.no_grad(), head as head_scores:
            embeds, media_mask, gate = self.model.model.embed_inputs(model_inputs["input_ids"], **media)
            generated = self.model.generate(
                inputs_embeds=embeds, attention_mask=model_inputs["attention_mask"], **generate_kwargs
            )
        return {
            "task": task,
            "generated": generated,
            "media_mask": media_mask,
            "gate": gate,
            "adapter": adapter,
            "head_score": head_scores[0][0].item() if head_scores else None,
        }

    def postprocess(self, model_outputs):
        text = self.processor.batch_decode(model_outputs["generated"], skip_special_tokens=True)[0].strip()
        mask = model_outputs["media_mask"][0].tolist()
        result = {
            "task": model_outputs["task"],
            "generated_text": text,
            "answer": parse_answer(model_outputs["task"], text),
            "fusion_gate_weights": [round(float(g), 6) for g in model_outputs["gate"][0]] if mask[3] else None,
            "modalities": dict(zip(BRANCH_NAMES, map(bool, mask))),
        }
        if model_outputs.get("head_score") is not None:  # msa with the sentiment head: its continuous score
            result["answer"]["head_score"] = round(model_outputs["head_score"], 6)
        if task_adapters(self.model):  # a Multi-LoRA checkpoint: which adapter answered (None: the base)
            result["adapter"] = model_outputs["adapter"]
        return result


__all__ = ["EmotionAnalysisPipeline", "load_task_adapters", "task_adapters", "use_task_adapter"]
