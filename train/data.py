"""The rows a curriculum stage trains on: its datasets checked, pooled, filtered by `where`, mixed by task.

    check_datasets(config)                     # before anything trains: every stage's datasets exist and load
    pool = load_pool(config, stage.data, "train")
    rows = stage_rows(stage, pool, seed=1)     # `rows_per_epoch` rows (per process) in the stage's task ratios
    rows, skipped = filter_rows(rows)          # rows whose media files are missing or do not open are left out

Every row carries `_media_root`, the folder of its dataset, which the collator resolves its media paths against.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from dataclasses import replace
from pathlib import Path

import torch

from nanoemox.processing.schema import resolve_media

from .curriculum import CurriculumConfig, StageConfig

logger = logging.getLogger(__name__)

TRAIN_SPLIT = "train"


def check_datasets(config: CurriculumConfig) -> None:
    """Every stage's `data` names a declared dataset whose folder exists and holds a dataset with a train split
    (`dataset_dict.json`, as `nanoemox data` writes it). `ValueError`, one line naming the dataset, the stage and the
    path, for the first that does not: cheap (reads no rows), so `nanoemox train` calls it before anything trains."""
    for stage in config.stages:
        for name in stage.data:
            if name not in config.datasets:
                raise ValueError(
                    f"stage {stage.name!r}: dataset {name!r} is not declared under datasets {list(config.datasets)}"
                )
            path = Path(config.datasets[name]["path"])
            if not path.is_dir():
                raise ValueError(
                    f"dataset {name!r} not found at {path} (stage {stage.name!r}): make it first "
                    f"(the demo corpus: nanoemox data demo --output {path})"
                )
            where = f"dataset {name!r} at {path} (stage {stage.name!r})"
            index = path / "dataset_dict.json"
            if not index.is_file():
                raise ValueError(f"{where}: no dataset_dict.json there; expected a folder written by `nanoemox data`")
            try:
                splits = json.loads(index.read_text())["splits"]
            except (ValueError, KeyError, TypeError) as err:
                raise ValueError(f"{where}: unreadable dataset_dict.json ({err!r})") from err
            if TRAIN_SPLIT not in splits:
                raise ValueError(f"{where}: no {TRAIN_SPLIT!r} split (has {splits})")


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


def stage_rows(stage: StageConfig, pool: list[dict], seed: int, world_size: int | None = None) -> list[dict]:
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


def task_rows(stage: StageConfig, pool: list[dict], seed: int) -> dict[str, list[dict]]:
    """A `lora.per_task` stage's rows: task -> that task's rows only, the stage's full budget for each."""
    return {task: stage_rows(replace(stage, mixture={task: 1}), pool, seed=seed) for task in stage.mixture}


def _probe(path: str) -> str | None:
    """Why the media file at `path` cannot be used (None if it opens): cheap, reads headers only."""
    import av

    if not os.path.exists(path):
        return "missing"
    try:
        with av.open(path) as container:
            if not container.streams.video and not container.streams.audio:
                return "unreadable"
    except (av.error.FFmpegError, OSError, ValueError):
        return "unreadable"
    return None


def filter_rows(rows: list[dict]) -> tuple[list[dict], Counter]:
    """Drop rows whose media files are missing or do not open (each file probed once); count them by reason.

    Files that open but fail to decode are caught later by the collator, which skips them the same way.
    """
    verdicts: dict[str, str | None] = {}
    kept, skipped = [], Counter()
    for row in rows:
        reason = None
        for key in ("video", "audio"):
            path = resolve_media(row.get(key), row.get("_media_root"))
            if path:
                if path not in verdicts:
                    verdicts[path] = _probe(path)
                reason = reason or verdicts[path]
        if reason:
            skipped[reason] += 1
        else:
            kept.append(row)
    if skipped:
        logger.warning("skipping %d rows whose media cannot be used: %s", sum(skipped.values()), dict(skipped))
    return kept, skipped


class RowsDataset(torch.utils.data.Dataset):
    """Schema rows (dicts) as a map-style dataset; each row may carry `_media_root`."""

    def __init__(self, rows: list[dict]):
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        return self.rows[i]
