"""Evaluation JSON for a model card: any shape our evaluators write, as records and as the card's `model-index`."""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult

logger = logging.getLogger(__name__)

TASK_NAMES = {
    "msa": "Multimodal sentiment analysis (MSA)",
    "mer": "Multimodal emotion recognition (MER)",
    "ov-mer": "Open-vocabulary emotion recognition (OV-MER)",
    "eri": "Emotion reasoning (ERI)",
    "mir": "Multimodal intent recognition (MIR)",
    "erg": "Empathic response generation (ERG)",
}


def _numeric_metrics(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Flatten nested metric dicts to dotted keys; keep finite numbers; drop counts (`n_*`)."""
    flat: dict[str, float] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_numeric_metrics(value, prefix=f"{name}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            if not str(key).startswith("n_"):
                flat[name] = value
    return flat


def eval_records(payload: Any, *, default_dataset: str | None = None) -> list[dict[str, Any]]:
    """The adapter from evaluation JSON to `[{"task", "dataset", "metrics", ...}]`; change it when the shape does.

    Accepted shapes:
        {"task": "mer", "dataset": "MER2023", "metrics": {"hit_rate": 0.7}, "split": "test", "dataset_id": ...}
        {"split": "test", "datasets": {name: {condition: {task: metrics}}}}   (a curriculum's eval_results.json)
        a list of those
        {"results": [...those...]}
        {"meta": {"dataset": ...}, "results": {"mer": {"hit_rate": 0.7, ...}}}   (the `nanoemox evaluate` file)
    Nested metric dicts become dotted names; non-numeric values and counts (`n_*`) are dropped.
    """
    if isinstance(payload, list):
        return [record for item in payload for record in eval_records(item, default_dataset=default_dataset)]
    if not isinstance(payload, Mapping):
        raise ValueError(f"evaluation results: expected a mapping or a list, got {type(payload).__name__}")
    if isinstance(payload.get("datasets"), Mapping) and "metrics" not in payload:  # a curriculum's eval_results.json
        records = []
        for name, conditions in payload["datasets"].items():
            for condition, tasks in conditions.items():
                label = name if condition == "all_modalities" else f"{name} ({condition.replace('_', ' ')})"
                records += eval_records(
                    [
                        {"task": t, "dataset": label, "split": payload.get("split"), "metrics": m}
                        for t, m in tasks.items()
                    ]
                )
        return records
    if "results" in payload and "metrics" not in payload:
        meta = payload.get("meta") or {}
        dataset = payload.get("dataset") or meta.get("dataset") or default_dataset
        results = payload["results"]
        if isinstance(results, Mapping):  # {task: metrics}
            results = [{"task": task, "dataset": dataset, "metrics": metrics} for task, metrics in results.items()]
        return eval_records(results, default_dataset=dataset)
    if "task" not in payload or not isinstance(payload.get("metrics"), Mapping):
        raise ValueError(f"evaluation results: each entry needs 'task' and a 'metrics' mapping, got {list(payload)}")
    metrics = _numeric_metrics(payload["metrics"])
    if not metrics:
        logger.warning("evaluation results: no numeric metrics for task %s", payload["task"])
    return [
        {
            "task": str(payload["task"]),
            "dataset": str(payload.get("dataset") or default_dataset or "unspecified"),
            "dataset_id": payload.get("dataset_id"),
            "split": payload.get("split"),
            "metrics": metrics,
            "source_url": payload.get("source_url"),
        }
    ]


def load_eval(paths: Iterable[str | os.PathLike]) -> list[dict[str, Any]]:
    records = []
    for path in paths:
        records += eval_records(json.loads(Path(path).read_text(encoding="utf-8")), default_dataset=Path(path).stem)
    return records


def to_eval_results(records: Sequence[Mapping[str, Any]]) -> list[EvalResult]:
    """huggingface_hub `EvalResult`s (the card's `model-index`): task type = the NanoEmoX task key."""
    results = []
    for record in records:
        for metric, value in record["metrics"].items():
            results.append(
                EvalResult(
                    task_type=record["task"],
                    task_name=TASK_NAMES.get(record["task"], record["task"]),
                    dataset_type=record.get("dataset_id") or record["dataset"],
                    dataset_name=record["dataset"],
                    dataset_split=record.get("split"),
                    metric_type=metric,
                    metric_value=value,
                    source_url=record.get("source_url"),
                )
            )
    return results
