"""Benchmark section `preprocessing`: what preparing one clip costs against what the model does with it, and
whether the training data loader keeps a training step fed.

The per-clip steps are the public ones the processor runs: frame decoding (`video_nanoemox`), the face track and
crops (`faces_nanoemox`), the audio track and its clips (`audio_nanoemox`), batching the decoded media
(`processor.media_tensors`), tokenisation, and `processor.prepare` end to end.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import torch

from nanoemox.compose import NEW_MODULES
from nanoemox.machine import available_cores
from nanoemox.modeling import audio_nanoemox, faces_nanoemox, video_nanoemox
from nanoemox.modeling.collator_nanoemox import NanoEmoXCollator
from nanoemox.modeling.processing_nanoemox import NanoEmoXProcessor
from nanoemox.train.curriculum import CurriculumConfig, load_curriculum

from .context import SUBTITLE, Bench
from .timing import greedy, interleaved, median

logger = logging.getLogger(__name__)


def preprocess_stages(processor: NanoEmoXProcessor, path: str, faces=None) -> dict[str, Callable[[], Any]]:
    """The processor's per-clip steps for the MER prompt on the clip at `path`, each a callable, and `prepare` end to
    end (`processor total`). `faces`: a face-track file, or None to detect the face."""
    n, rate = processor.num_frames, processor.sampling_rate
    row = {"task": "mer", "video": path, "faces": faces, "subtitle": SUBTITLE}
    frames = video_nanoemox.load_video_frames(path, n)
    size = processor.face_image_processor.size
    face_size = int(size.get("height", size.get("shortest_edge", 224)))
    media = processor.load_media(path, None, faces)
    prepared = processor.prepare([row])
    if prepared.errors:
        raise ValueError(f"benchmark clip unreadable: {prepared.errors[0]}")
    prompt = processor.tokenizer.decode(prepared.inputs["input_ids"][0])  # placeholders expanded

    def audio():
        track = audio_nanoemox.load_audio(path, sampling_rate=rate)
        return audio_nanoemox.cut_audio_clips(
            track.waveform,
            num_clips=processor.num_audio_clips,
            clip_seconds=processor.audio_clip_seconds,
            sampling_rate=rate,
        )

    return {
        f"decode {n} frames": lambda: video_nanoemox.load_video_frames(path, n),
        "face track + crops": lambda: faces_nanoemox.get_face_crops(
            frames, faces, margin=processor.face_margin, size=face_size
        ),
        "audio track + clips": audio,
        "pixel/feature normalisation": lambda: processor.media_tensors([media]),
        "tokenisation": lambda: processor.tokenizer([prompt], return_tensors="pt"),
        "processor total": lambda: processor.prepare([row]),
    }


def bench_preprocessing(ctx: Bench) -> dict:
    """Per-clip media preparation against the model's prefill and answer time; the data loader against a step."""
    inputs = ctx.clip_inputs()
    result: dict[str, Any] = {"clips": {}}
    gen = greedy(ctx.preset.new_tokens, ctx.pad_id)
    with torch.no_grad():
        model_times = interleaved(
            {
                "prefill": lambda: ctx.model(**inputs, use_cache=True, logits_to_keep=1),
                "answer": lambda: ctx.model.generate(**inputs, generation_config=gen),
            },
            ctx.preset.repeats,
        )
    result["model_ms"] = {"prefill": model_times["prefill"] * 1e3, f"generate {gen.max_new_tokens}": 0.0}
    result["model_ms"][f"generate {gen.max_new_tokens}"] = model_times["answer"] * 1e3
    demo = ctx.demo_clips(1)[0]
    sources = {ctx.clip["source"]: (ctx.clip["path"], None)}
    sources["demo clip, face track given"] = (demo["video"], demo["faces"])
    for name, (path, faces) in sources.items():
        logger.info("preprocessing: %s", name)
        times = interleaved(preprocess_stages(ctx.processor, path, faces), ctx.preset.repeats)
        total = times["processor total"]
        result["clips"][name] = {
            "ms": {k: v * 1e3 for k, v in times.items()},
            "share_of_prefill": total / (total + model_times["prefill"]),
            "share_of_answer": total / (total + model_times["answer"]),
        }
    result["loader"] = bench_loader(ctx)
    return result


def bench_loader(ctx: Bench) -> dict:
    """Data time (waiting on the loader) against step time (forward + backward + AdamW, adapters trainable)."""
    from torch.utils.data import DataLoader

    if ctx.preset.name == "full":
        return {"skipped": "a full-size training step on 2 CPU cores takes minutes and says nothing of a GPU step"}
    from datasets import load_from_disk

    configured = CurriculumConfig(stages=[]).dataloader_num_workers
    batch_size = load_curriculum("paper").stages[0].batch_size  # the paper's batch

    root = ctx.demo_corpus()
    rows = [r for r in load_from_disk(str(root))["train"] if r["task"] == "mer"]
    collator = NanoEmoXCollator(ctx.processor, media_root=str(root))
    model = ctx.model
    for name, param in model.named_parameters():
        param.requires_grad_(name.split(".")[1] in NEW_MODULES if name.startswith("model.") else False)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    model.train()
    n = ctx.preset.loader_batches
    out = {"batch_size": batch_size, "configured_num_workers": configured, "workers": {}}
    try:
        for workers in sorted({configured, min(2, available_cores())}):
            loader = DataLoader(
                rows, batch_size=batch_size, shuffle=False, num_workers=workers, collate_fn=collator, drop_last=True
            )
            data, step = [], []
            it = iter(loader)
            for _ in range(min(n + 1, len(loader))):
                start = time.perf_counter()
                batch = next(it)
                got = time.perf_counter()
                batch = {k: v for k, v in batch.items() if k != "task_index"}
                loss = model(**batch).loss
                loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                data.append(got - start)
                step.append(time.perf_counter() - got)
            del it
            data_ms, step_ms = median(data[1:]) * 1e3, median(step[1:]) * 1e3  # the first batch starts the workers
            out["workers"][workers] = {
                "data_ms_per_batch": data_ms,
                "step_ms": step_ms,
                "first_batch_ms": data[0] * 1e3,
                "data_share": data_ms / (data_ms + step_ms),
                "keeps_model_fed": data_ms <= 0.1 * step_ms,
            }
            logger.info("loader: %d workers: data %.1f ms, step %.1f ms", workers, data_ms, step_ms)
    finally:
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        optimizer.zero_grad(set_to_none=True)
    return out


# ---------------------------------------------------------------------------------------------------- budget
