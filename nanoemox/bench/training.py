"""Benchmark section `training`: examples per second of each stage of the demo curriculum, from raw media and from
the feature cache (cold: first epoch, encoding and storing; warm: later epochs and stages), and peak memory."""

from __future__ import annotations

import logging
import resource
import tempfile
import time

import torch

from nanoemox.modeling.collator_nanoemox import NanoEmoXCollator
from nanoemox.modeling.modeling_nanoemox import NanoEmoXForConditionalGeneration
from nanoemox.train.curriculum import load_curriculum
from nanoemox.train.feature_cache import FeatureCache
from nanoemox.train.freezing import apply_trainable

from .context import Bench

logger = logging.getLogger(__name__)


def bench_training(ctx: Bench) -> dict:
    """Examples per second of each demo-curriculum stage from raw media and from the feature cache, and peak
    resident memory.

    Each stage runs its real trainable set (`train.freezing.apply_trainable`, PEFT LoRA for phase 3) for a few
    optimizer steps on the demo corpus with the curriculum's collator, one process, no loader workers.
    """
    if ctx.preset.name == "full":
        return {"skipped": "full-size training steps on 2 CPU cores say nothing of a GPU; see the budget section"}
    from datasets import load_from_disk

    ctx.build()
    root = ctx.demo_corpus()
    rows = [dict(r) for r in load_from_disk(str(root))["train"]]
    batch_size, steps = 8, ctx.preset.loader_batches
    out: dict = {"batch_size": batch_size, "steps": steps, "stages": {}}
    with tempfile.TemporaryDirectory() as cache_dir:
        for stage in load_curriculum("demo").stages:
            tasks = set(stage.mixture)
            pool = [r for r in rows if r["task"] in tasks][: batch_size * steps]
            batches = [pool[i : i + batch_size] for i in range(0, len(pool), batch_size)]
            model = NanoEmoXForConditionalGeneration.from_pretrained(ctx.folder)
            model = apply_trainable(model, stage)
            optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
            model.train()
            cache = FeatureCache(cache_dir, model, ctx.processor)
            collators = {
                "raw media": NanoEmoXCollator(ctx.processor, media_root=str(root)),
                "cache, cold": NanoEmoXCollator(ctx.processor, media_root=str(root), feature_cache=cache),
                "cache, warm": NanoEmoXCollator(ctx.processor, media_root=str(root), feature_cache=cache),
            }
            timings = {}
            for name, collator in collators.items():
                start = time.perf_counter()
                for chunk in batches:
                    batch = {k: v for k, v in collator(chunk).items() if k != "task_index"}
                    model(**batch).loss.backward()
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
                timings[name] = len(pool) / (time.perf_counter() - start)
            out["stages"][stage.name] = {
                "examples_per_s": timings,
                "cache_speedup_per_epoch": timings["cache, warm"] / timings["raw media"],
            }
            logger.info("training %s: %s", stage.name, {k: round(v, 1) for k, v in timings.items()})
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


# ---------------------------------------------------------------------------------------------------- report
