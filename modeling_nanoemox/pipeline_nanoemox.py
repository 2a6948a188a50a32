"""The `emotion-analysis` pipeline: a video (or audio, or text) in, a structured answer out.

    from transformers import pipeline
    analyse = pipeline("emotion-analysis", model="path/or/hub-id", trust_remote_code=True)
    analyse("clip.mp4", task="mer", subtitle="I can't believe you did that!")
    # {"task": "mer", "generated_text": "angry", "answer": {"emotion": "angry"},
    #  "fusion_gate_weights": [0.2, 0.5, 0.3], "modalities": {"frame": True, "face": True, ...}}
    analyse = pipeline(task="emotion-analysis", model=model, processor=processor)   # from objects, the same

An input is a video path/bytes/frames, or a row dict (`video`, `audio`, `faces`, `subtitle`, `task`, or
`messages` / `prompt`; see `rows_nanoemox`). It goes through the processor's one path (`prepare`), and `generate`
encodes its media once, at prefill; the modalities used and the fusion gate are read from that prefill
(`capture_prefill`). With a checkpoint that has the sentiment head (EGMF's regression head), an msa answer also
carries `head_score`, the head's continuous score read at the same prefill, beside `score` parsed from the text:

    analyse("clip.mp4", task="msa")["answer"]   # {"sentiment": "positive", "score": 1.2, "head_score": 1.37}

A Multi-LoRA checkpoint answers each task with its own adapter (`"adapter"` in the output; see
`adapters_nanoemox`). `save_pretrained` writes the model, the processor and this code: a complete checkpoint.
"""

from __future__ import annotations

import logging

import torch
from transformers import Pipeline

from .configuration_nanoemox import BRANCHES
from .prompts_nanoemox import parse_answer
from .rows_nanoemox import DATA_FIELDS, ROW_FIELDS

logger = logging.getLogger(__name__)


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

    def preprocess(self, inputs, task: str | None = None, subtitle: str | None = None, faces=None):
        row = dict(inputs) if isinstance(inputs, dict) else {"video": inputs}
        unknown = set(row) - set(ROW_FIELDS) - set(DATA_FIELDS)
        if unknown:
            raise ValueError(f"unknown input keys {sorted(unknown)}; use {', '.join(ROW_FIELDS)}")
        if row.get("task") is None:  # a conversation or prompt of the caller's own needs no task; otherwise mer
            row["task"] = task or (None if row.get("messages") or row.get("prompt") else "mer")
        for key, value in (("subtitle", subtitle), ("faces", faces)):
            if value is not None:
                row.setdefault(key, value)
        batch = self.processor.prepare([row])
        if batch.errors:
            raise ValueError(str(batch.errors[0]))
        model_inputs = batch.inputs
        model_inputs["task"] = batch.tasks[0]
        return model_inputs

    def _forward(self, model_inputs, **generate_kwargs):
        task = model_inputs.pop("task")
        adapter = self.model.use_task_adapter(task)
        prompt_length = model_inputs["input_ids"].shape[1]
        with torch.no_grad(), self.model.capture_prefill() as prefill:
            generated = self.model.generate(**model_inputs, **generate_kwargs)
        record = prefill[0]
        return {
            "task": task,
            "generated": generated[:, prompt_length:],
            "media_mask": record.media_mask,
            "gate": record.fusion_gate_weights,
            "adapter": adapter,
            "head_score": None if record.sentiment_score is None else record.sentiment_score[0].item(),
        }

    def postprocess(self, model_outputs):
        text = self.processor.batch_decode(model_outputs["generated"], skip_special_tokens=True)[0].strip()
        mask = model_outputs["media_mask"][0].tolist()
        task = model_outputs["task"]
        result = {
            "task": task,
            "generated_text": text,
            "answer": parse_answer(task, text) if task else {"text": text},
            "fusion_gate_weights": [round(float(g), 6) for g in model_outputs["gate"][0]] if mask[3] else None,
            "modalities": dict(zip(BRANCHES, map(bool, mask))),
        }
        if model_outputs.get("head_score") is not None and task == "msa":  # the sentiment head's continuous score
            result["answer"]["head_score"] = round(model_outputs["head_score"], 6)
        if self.model.task_adapters:  # a Multi-LoRA checkpoint: which adapter answered (None: the base)
            result["adapter"] = model_outputs["adapter"]
        return result

    def save_pretrained(self, save_directory, **kwargs):
        """The model, its processor and the checkpoint's code: a folder `pipeline("emotion-analysis", ...)` loads."""
        self.processor.save_pretrained(save_directory)
        super().save_pretrained(save_directory, **kwargs)


__all__ = ["EmotionAnalysisPipeline"]
