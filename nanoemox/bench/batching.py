"""Benchmark section `batching`: clips per second at batch 1, 8 and 32, through `generate` on prepared inputs and
through the `emotion-analysis` pipeline from the mp4 files (its own batching: `batch_size=`)."""

from __future__ import annotations

import logging
from typing import Any

import torch

from .context import Bench
from .timing import greedy, interleaved

logger = logging.getLogger(__name__)


def bench_batching(ctx: Bench) -> dict:
    """Clips per second for `generate` (prepared inputs) and the pipeline (from the mp4) at each batch size."""
    ctx.build()
    new = ctx.preset.new_tokens
    result: dict[str, Any] = {"new_tokens": new, "generate": {}, "pipeline": {}}
    clips = ctx.demo_clips(max(ctx.preset.batch_sizes))
    gen = greedy(new, ctx.pad_id)
    for b in ctx.preset.batch_sizes:
        inputs = ctx.prepare([dict(c, task="mer") for c in clips[:b]])
        with torch.no_grad():
            seconds = interleaved(
                {"g": lambda inputs=inputs: ctx.model.generate(**inputs, generation_config=gen)},
                max(1, ctx.preset.repeats // 2),
            )["g"]
        result["generate"][b] = {"clips_per_s": b / seconds, "s_per_batch": seconds}
        logger.info("batching: generate batch %d: %.2f clips/s", b, b / seconds)
    if ctx.folder is None:
        result["pipeline"] = {"skipped": "the full preset has no checkpoint folder (writing 9 GB is not worth it)"}
        result["skipped_batch_sizes"] = "full preset: batch 4 and 16 take minutes per batch on 2 CPU cores"
        return result
    from transformers import pipeline

    analyse = pipeline("emotion-analysis", model=ctx.folder, trust_remote_code=True)
    analyse.model.eval()
    items = [dict(c, task="mer") for c in clips]
    for b in ctx.preset.batch_sizes:
        seconds = interleaved(
            {
                "p": lambda b=b: analyse(
                    items, batch_size=b, max_new_tokens=new, min_new_tokens=new, do_sample=False, labels=False
                )
            },
            max(1, ctx.preset.repeats // 4),
        )["p"]
        result["pipeline"][b] = {"clips_per_s": len(items) / seconds, "s_per_clip": seconds / len(items)}
        logger.info("batching: pipeline, %d clips at batch %d: %.2f clips/s", len(items), b, len(items) / seconds)
    return result


# ---------------------------------------------------------------------------------------------------- preprocessing
