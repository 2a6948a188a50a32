"""Benchmark section `throughput`: from a folder of real clips to answers, a clip at a time against DataLoader workers
plus batching; the processor's time per clip on one core; and how many CPU cores one GPU would need.

    serial       for each clip: `processor.prepare` then `generate` (batch 1), all in this process
    workers      `evaluation.answering.answer_rows`: workers decode the next clips while the model answers batches
    one core     `processor.prepare` of the talking clip with one torch and one OpenCV thread, per face detector
    projection   full-size prefill FLOPs per clip (counted on the meta device) at a GPU's sustained rate, against the
                 one-core preprocessing rate: the CPU cores that keep one GPU busy (an estimate, not a measurement)
"""

from __future__ import annotations

import logging
import time
from typing import Any

import torch

from nanoemox.evaluation.answering import answer_rows
from nanoemox.machine import available_cores

from .context import SUBTITLE, Bench, _tests_media
from .prefill import full_size_flops
from .timing import greedy

logger = logging.getLogger(__name__)

CLIPS = 64
BATCH = 8


def real_clip_rows(ctx: Bench, n: int = CLIPS) -> list[dict]:
    """n rows over the real test clips (the talking astronaut, a clip without audio, one without a face, a silent
    one), cycled: every row is decoded from its file, as a folder of clips would be."""
    builder = _tests_media()
    folder = ctx.workdir / "media"
    folder.mkdir(parents=True, exist_ok=True)
    if builder is None:
        clips = [c["video"] for c in ctx.demo_clips(4)]
    else:
        clips = [
            str(builder.video_only_mp4(folder)),
            str(builder.no_face_mp4(folder)),
            str(builder.silent_mp4(folder)),
        ]
        path, _ = ctx.clip_path()
        clips.insert(0, path)
    return [{"id": str(i), "task": "mer", "video": clips[i % len(clips)], "subtitle": SUBTITLE} for i in range(n)]


def _one_core(ctx: Bench, detector: str, anchors: int, repeats: int) -> float:
    """ms of `processor.prepare` for the talking clip with one thread, with this face detector and track."""
    from nanoemox.modeling.requirements_nanoemox import require

    cv2 = require("cv2")
    processor = ctx.processor
    saved = (torch.get_num_threads(), cv2.getNumThreads(), processor.face_detector, processor.face_anchor_frames)
    path, _ = ctx.clip_path()
    row = {"task": "mer", "video": path, "subtitle": SUBTITLE}
    try:
        torch.set_num_threads(1)
        cv2.setNumThreads(1)
        processor.face_detector, processor.face_anchor_frames = detector, anchors
        processor.prepare([row])
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            processor.prepare([row])
            times.append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(saved[0])
        cv2.setNumThreads(saved[1])
        processor.face_detector, processor.face_anchor_frames = saved[2], saved[3]
    return sorted(times)[len(times) // 2] * 1e3


def bench_throughput(ctx: Bench, *, gpu_tflops: float, mfu: float) -> dict:
    ctx.build()
    result: dict[str, Any] = {"clips": CLIPS, "batch_size": BATCH}
    gen = greedy(ctx.preset.new_tokens, ctx.pad_id)
    rows = real_clip_rows(ctx)
    model, processor = ctx.model, ctx.processor

    start = time.perf_counter()
    with torch.no_grad():
        for row in rows:
            inputs = processor.prepare([row]).inputs
            model.generate(**inputs, generation_config=gen)
    serial = time.perf_counter() - start
    workers = min(2, available_cores())
    start = time.perf_counter()
    answered = sum(
        a.error is None
        for a in answer_rows(
            model, processor, rows, batch_size=BATCH, num_workers=workers, progress=False, generation_config=gen
        )
    )
    parallel = time.perf_counter() - start
    result["serial_clips_per_s"] = CLIPS / serial
    result["workers_batching_clips_per_s"] = CLIPS / parallel
    result["num_workers"] = workers
    result["answered"] = answered
    result["speedup"] = serial / parallel
    logger.info(
        "throughput: serial %.2f clips/s, %d workers + batch %d: %.2f clips/s (%.2fx)",
        CLIPS / serial,
        workers,
        BATCH,
        CLIPS / parallel,
        serial / parallel,
    )

    repeats = max(3, ctx.preset.repeats)
    one_core = {"haar, 2 anchor frames + tracking (default)": _one_core(ctx, "haar", 2, repeats)}
    one_core["haar, every frame (the previous release)"] = _one_core(ctx, "haar", 0, repeats)
    try:
        import dlib  # noqa: F401

        one_core["hog"] = _one_core(ctx, "hog", 0, repeats)
    except ImportError:
        one_core["hog"] = None
    result["processor_ms_one_core"] = one_core

    flops = sum(full_size_flops(ctx, 64).values())  # the media branches and the LM over 64 text tokens
    gpu_ms = flops / (gpu_tflops * 1e12 * mfu) * 1e3
    result["projection"] = {
        "estimate": True,
        "full_size_prefill_gflops_per_clip": flops / 1e9,
        "gpu_tflops": gpu_tflops,
        "mfu": mfu,
        "gpu_prefill_ms_per_clip": gpu_ms,
        "cores_per_gpu": {name: None if ms is None else ms / gpu_ms for name, ms in one_core.items()},
        "note": "prefill only (the answer's few decode steps and the frozen encoders' share are in the FLOPs); "
        "preprocessing rate from the one-core processor time above",
    }
    return result
