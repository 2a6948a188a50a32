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

With `explain=True` the output also says why this answer (`attribution_nanoemox`): each branch's share of the drop in
the answer's log-likelihood when it is masked (frames, face, audio, the fusion token, the subtitle), at the cost of one
extra batched forward over those conditions; the media are still encoded once.

    analyse("clip.mp4", task="mer", explain=True)
    # {..., "attribution": {"frame": 0.08, "face": 0.0, "audio": 0.71, "fusion": 0.02, "subtitle": 0.19},
    #  "explanation": {"answer_log_likelihood": -0.4, "drops": {"frame": 0.2, ...}, "absent": []}}

A Multi-LoRA checkpoint answers each task with its own adapter (`"adapter"` in the output; see
`adapters_nanoemox`). `save_pretrained` writes the model, the processor and this code: a complete checkpoint.
"""

from __future__ import annotations

import collections.abc
import logging
import os

import torch
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset
from transformers import Pipeline
from transformers.pipelines.pt_utils import PipelineDataset, PipelineIterator

from .attribution_nanoemox import answer_token_ids, check_explainable, encode_once, explain_answers
from .configuration_nanoemox import BRANCHES
from .prompts_nanoemox import parse_answer
from .requirements_nanoemox import require
from .rows_nanoemox import DATA_FIELDS, ROW_FIELDS
from .scoring_nanoemox import generate_and_score, label_probabilities

logger = logging.getLogger(__name__)


class EmotionAnalysisPipeline(Pipeline):
    _load_processor = True
    _load_tokenizer = False
    _load_image_processor = False
    _load_feature_extractor = False
    _load_video_processor = False

    def _sanitize_parameters(
        self, task=None, subtitle=None, faces=None, max_new_tokens=None, labels=None, explain=None, **generate_kwargs
    ):
        preprocess = {k: v for k, v in {"task": task, "subtitle": subtitle, "faces": faces}.items() if v is not None}
        forward = dict(generate_kwargs)
        if explain is not None:
            if not isinstance(explain, bool):
                raise ValueError(f"explain={explain!r}: give True or False")
            if explain:
                check_explainable(self.model)
            preprocess["explain"] = forward["explain"] = explain
        if max_new_tokens is not None:
            forward["max_new_tokens"] = max_new_tokens
        if labels is not None:
            if labels is not False and (isinstance(labels, str) or not list(labels)):
                raise ValueError(f"labels={labels!r}: give a list of candidate answers (or False for none)")
            forward["labels"] = labels if labels is False else [str(label) for label in labels]
        return preprocess, forward, {}

    def _candidates(self, task: str | None, labels) -> list[str]:
        """The labels to score for a row: the caller's, else the checkpoint's for a closed-set task, else none."""
        if labels is False:
            return []
        if labels is not None:
            return labels
        return list(getattr(self.processor, "task_labels", {}).get(task, []))

    def __call__(self, inputs, *args, **kwargs):
        """One input (a dict), or many: a list, a generator, a torch `Dataset` or a `datasets.Dataset` of them, with
        `batch_size=` and `num_workers=` (DataLoader workers do the decoding while the model answers)."""
        if _is_hf_dataset(inputs):  # rows of a datasets.Dataset, streamed by index like a torch Dataset
            inputs = _RowsDataset(inputs) if hasattr(inputs, "__len__") else (row for row in inputs)
        return super().__call__(inputs, *args, **kwargs)

    # ------------------------------------------------------------------ one input -> one prepared row
    def preprocess(
        self, inputs, task: str | None = None, subtitle: str | None = None, faces=None, explain: bool = False
    ):
        """Read one input and do all of its per-clip work (decoding, face track, normalisation): in a DataLoader worker
        when `num_workers` > 0. Returns {"prepared": PreparedRow or RowError}, and the row read when explaining (its
        masked conditions are made from it)."""
        row = dict(inputs) if isinstance(inputs, dict) else {"video": inputs}
        unknown = set(row) - set(ROW_FIELDS) - set(DATA_FIELDS)
        if unknown:
            raise ValueError(f"unknown input keys {sorted(unknown)}; use {', '.join(ROW_FIELDS)}")
        if row.get("task") is None:  # a conversation or prompt of the caller's own needs no task; otherwise mer
            row["task"] = task or (None if row.get("messages") or row.get("prompt") else "mer")
        for key, value in (("subtitle", subtitle), ("faces", faces)):
            if value is not None:
                row.setdefault(key, value)
        return {"prepared": self.processor.prepare_row(row), **({"row": row} if explain else {})}

    def run_single(self, inputs, preprocess_params, forward_params, postprocess_params):
        """One input: an input that cannot be read is a `ValueError` naming the file (in a list or a dataset it is an
        `{"error": ...}` entry instead, and the other inputs are still answered)."""
        prepared = self.preprocess(inputs, **preprocess_params)
        if _is_error(prepared["prepared"]):
            raise ValueError(str(prepared["prepared"]))
        return self.postprocess(self.forward(prepared, **forward_params), **postprocess_params)

    def get_iterator(self, inputs, num_workers, batch_size, preprocess_params, forward_params, postprocess_params):
        """transformers' DataLoader-based iteration, with the processor's own collation (left-padded text, stacked
        media; `preprocess` runs in the workers) instead of the generic tokenizer / feature-extractor padding."""
        if isinstance(inputs, collections.abc.Sized):
            dataset = PipelineDataset(inputs, self.preprocess, preprocess_params)
        else:
            dataset = PipelineIterator(inputs, self.preprocess, preprocess_params)
            num_workers = min(num_workers, 1)  # an iterable cannot be split between workers
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        if num_workers:
            single_threaded_opencv()
        loader = DataLoader(dataset, num_workers=num_workers, batch_size=batch_size, collate_fn=_collate_prepared)
        model_iterator = PipelineIterator(loader, self.forward, forward_params, loader_batch_size=batch_size)
        return PipelineIterator(model_iterator, self.postprocess, postprocess_params)

    # ------------------------------------------------------------------ a batch of prepared rows -> answers
    def _forward(self, model_inputs, labels=None, explain=False, **generate_kwargs):
        prepared = model_inputs["prepared"]
        items = list(prepared) if isinstance(prepared, (list, tuple)) else [prepared]
        rows = model_inputs.get("row")
        rows = list(rows) if isinstance(rows, (list, tuple)) else [rows]
        answers: list[dict] = [{"error": p} for p in items]
        good = [i for i, p in enumerate(items) if not _is_error(p)]
        # a Multi-LoRA checkpoint answers each task with its own adapter: one generate per task
        groups = {}
        for i in good:
            groups.setdefault(items[i].task if self.model.task_adapters else None, []).append(i)
        for task, members in groups.items():
            adapter = self.model.use_task_adapter(task) if task is not None else None
            inputs = self.processor.collate([items[i] for i in members]).to(self.device)
            prompt_length = inputs["input_ids"].shape[1]
            candidates = [self._candidates(items[i].task, labels) for i in members]
            with torch.no_grad(), self.model.capture_prefill() as prefill:
                if explain:  # the encoders run once; generate and the masked conditions reuse their outputs
                    inputs = encode_once(self.model, inputs)
                # label scores from the prompt's own cache (generation cropped off): no second prefill
                generated, log_likelihoods = generate_and_score(
                    self.model,
                    inputs,
                    candidates,
                    self.processor.tokenizer,
                    complete=[items[i].task != "msa" for i in members],
                    **generate_kwargs,
                )
            record = prefill[0]
            explained = [None] * len(members)
            if explain:
                eos = generate_kwargs.get("eos_token_id", self.model.generation_config.eos_token_id)
                explained = explain_answers(
                    self.model,
                    self.processor,
                    [rows[i] for i in members],
                    [items[i] for i in members],
                    inputs,
                    answer_token_ids(generated[:, prompt_length:], eos),
                )
            for k, i in enumerate(members):
                answers[i] = {
                    "task": items[i].task,
                    "id": items[i].id,
                    "generated": generated[k, prompt_length:].cpu(),
                    "media_mask": record.media_mask[k].cpu(),
                    "gate": record.fusion_gate_weights[k].cpu(),
                    "adapter": adapter,
                    "head_score": None if record.sentiment_score is None else float(record.sentiment_score[k]),
                    "scores": label_probabilities(log_likelihoods[k], candidates[k]) if candidates[k] else None,
                    "attribution": explained[k],
                }
        return {"answers": answers}

    def postprocess(self, model_outputs):
        answer = model_outputs["answers"]
        answer = answer[0] if isinstance(answer, list) else answer
        if "error" in answer:
            error = answer["error"]
            return {"error": error.reason, "file": error.source, "id": error.id}
        text = self.processor.decode(answer["generated"], skip_special_tokens=True).strip()
        mask = answer["media_mask"].tolist()
        task = answer["task"]
        result = {
            "task": task,
            "generated_text": text,
            "answer": parse_answer(task, text) if task else {"text": text},
            "fusion_gate_weights": [round(float(g), 6) for g in answer["gate"]] if mask[3] else None,
            "modalities": dict(zip(BRANCHES, map(bool, mask))),
        }
        if answer.get("scores"):  # the label set's probabilities (closed-set tasks, or the caller's labels)
            result["scores"] = answer["scores"]
        if answer.get("attribution") is not None:  # why this answer (explain=True)
            result.update(answer["attribution"].output())
        if answer.get("head_score") is not None and task == "msa":  # the sentiment head's continuous score
            result["answer"]["head_score"] = round(answer["head_score"], 6)
        if self.model.task_adapters:  # a Multi-LoRA checkpoint: which adapter answered (None: the base)
            result["adapter"] = answer["adapter"]
        return result

    def save_pretrained(self, save_directory, **kwargs):
        """The model, its processor and the checkpoint's code: a folder `pipeline("emotion-analysis", ...)` loads."""
        self.processor.save_pretrained(save_directory)
        super().save_pretrained(save_directory, **kwargs)


def _is_hf_dataset(inputs) -> bool:
    return type(inputs).__name__ in ("Dataset", "IterableDataset") and hasattr(inputs, "column_names")


class _RowsDataset(TorchDataset):
    """A `datasets.Dataset` as a torch map-style dataset of row dicts (a `datasets.IterableDataset` is iterated)."""

    def __init__(self, rows):
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict:
        return self.rows[index]


def _is_error(prepared) -> bool:
    """A `RowError` rather than a `PreparedRow` (by shape: the processor's classes may come from another copy of this
    code, e.g. a checkpoint's remote code beside the installed package)."""
    return hasattr(prepared, "reason")


def _collate_prepared(items: list[dict]) -> dict:
    """A DataLoader batch of `preprocess` outputs: the prepared rows (collated by the processor in `_forward`), and
    the rows read when explaining."""
    return {key: [item[key] for item in items] for key in items[0]}


def single_threaded_opencv() -> None:
    """One OpenCV thread, set before DataLoader workers fork: a worker forked from a process whose OpenCV thread pool
    is running hangs at its first parallel call (the pool's threads do not exist in the child). The workers decode
    clips side by side instead; torch already runs one thread in each."""
    try:
        cv2 = require("cv2")
    except ImportError:
        return
    cv2.setNumThreads(1)


__all__ = ["EmotionAnalysisPipeline", "single_threaded_opencv"]
