"""Benchmark section `prefill`: time and FLOPs of one clip's prefill, branch by branch (frame, face and speech
encoders, adapters, fusion, language model), at the preset's size; full-size FLOPs counted on the meta device.

Also what the `tokens` and `budget` sections build on: the branch split (`branch_calls`), a clip of meta tensors
(`meta_clip`), the full-size model on meta (`meta_model`) and its FLOPs per branch (`full_size_flops`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch
from transformers import DynamicCache

from nanoemox.modeling.configuration_nanoemox import NanoEmoXConfig
from nanoemox.modeling.modeling_nanoemox import CACHE_KEY, NanoEmoXForConditionalGeneration

from .context import Bench
from .timing import count_flops, interleaved

logger = logging.getLogger(__name__)

BRANCHES = ("frame encoder", "face backbone", "speech encoder", "adapters", "fusion", "language model")


def branch_calls(model: NanoEmoXForConditionalGeneration, clip: dict) -> dict[str, Callable[[], Any]]:
    """One clip's prefill split into its branches, each a callable (real or meta tensors).

    clip: frames (t, 3, H, W), faces (t, 3, h, w), audio (c, s), embeds (1, n, d_lm). The encoders run once
    here to give the adapters and the fusion their inputs.
    """
    mm, cfg = model.model, model.config
    frames, faces, audio, embeds = clip["frames"], clip["faces"], clip["audio"], clip["embeds"]
    t, c = frames.shape[0], audio.shape[0]

    def frame_encoder():
        return mm.vision_tower(pixel_values=frames, output_hidden_states=True).hidden_states

    def face_backbone():
        return mm.face_backbone(pixel_values=faces).feature_maps

    def speech_encoder():
        return mm.audio_tower(input_values=audio, output_hidden_states=True).hidden_states

    with torch.no_grad():
        vision, maps, speech = frame_encoder(), face_backbone(), speech_encoder()
    device = frames.device
    frame_mask = torch.ones(1, t, dtype=torch.bool, device=device)
    audio_mask = torch.ones(1, c, dtype=torch.bool, device=device)
    vision_feats = vision[cfg.vision_feature_layer][None]
    speech_feats = torch.stack(speech[-cfg.audio_pool_layers :]).mean(0).mean(1).view(1, c, 1, -1)
    vision_layers = [vision[i].mean(1)[None] for i in cfg.fusion_vision_layers]
    speech_layers = [speech[i].mean(1)[None] for i in cfg.fusion_audio_layers]

    def adapters():
        frame = mm.frame_adapter(vision_feats, frame_mask)
        speech_tokens = mm.audio_adapter(speech_feats, audio_mask)
        face = mm.face_adapter(mm.face_fusion(list(maps)).view(1, t, -1), frame_mask)
        return frame, speech_tokens, face

    def fusion():
        return mm.fusion(vision_layers, frame_mask, speech_layers, audio_mask)

    def language_model():
        return lm_prefill(model, embeds)

    return dict(zip(BRANCHES, (frame_encoder, face_backbone, speech_encoder, adapters, fusion, language_model)))


def meta_clip(config: NanoEmoXConfig, text_tokens: int, dtype=torch.float32) -> dict:
    t, c = config.num_frames, config.num_audio_clips
    size, face = config.vision_config.image_size, config.face_config.image_size
    with torch.device("meta"):
        return {
            "frames": torch.empty(t, 3, size, size, dtype=dtype),
            "faces": torch.empty(t, 3, face, face, dtype=dtype),
            "audio": torch.empty(c, config.audio_clip_samples, dtype=dtype),
            "embeds": torch.empty(1, text_tokens + config.media_tokens_per_clip, config.text_config.hidden_size),
        }


def full_size_meta_model() -> NanoEmoXForConditionalGeneration:
    with torch.device("meta"):
        model = NanoEmoXForConditionalGeneration(NanoEmoXConfig()).eval()
    return model.requires_grad_(False)


def meta_model(ctx: Bench) -> NanoEmoXForConditionalGeneration:
    """The full-size model on the meta device, built once per run."""
    if "meta_model" not in ctx.cache:
        ctx.cache["meta_model"] = full_size_meta_model()
    return ctx.cache["meta_model"]


def full_size_flops(ctx: Bench, text_tokens: int) -> dict[str, int]:
    """Forward FLOPs per branch of one clip at full size, counted on the meta device (media branches once, the
    language model once per prompt length)."""
    model = meta_model(ctx)
    if "full_flops_media" not in ctx.cache:
        calls = branch_calls(model, meta_clip(model.config, text_tokens))
        ctx.cache["full_flops_media"] = {k: count_flops(fn) for k, fn in calls.items() if k != "language model"}
    key = ("full_flops_lm", text_tokens)
    if key not in ctx.cache:
        ctx.cache[key] = count_flops(lambda: lm_prefill(model, meta_clip(model.config, text_tokens)["embeds"]))
    return {**ctx.cache["full_flops_media"], "language model": ctx.cache[key]}


def lm_prefill(model: NanoEmoXForConditionalGeneration, embeds: torch.Tensor) -> torch.Tensor:
    """The language model's prefill and the head on the last position (what `generate` computes at prefill)."""
    cache = DynamicCache(config=model.config.text_config)  # a cache also keeps the mask code off data-dependent paths
    hidden = model.model.language_model(inputs_embeds=embeds, use_cache=True, **{CACHE_KEY: cache}).last_hidden_state
    return model.lm_head(hidden[:, -1:])


def real_clip(ctx: Bench, dtype: torch.dtype) -> dict:
    inputs = ctx.clip_inputs()
    with torch.no_grad():
        embeds, _, _ = ctx.model.model.embed_inputs(
            inputs["input_ids"], **{k: v for k, v in inputs.items() if k not in ("input_ids", "attention_mask")}
        )
    return {
        "frames": inputs["pixel_values_videos"][0].to(dtype),
        "faces": inputs["face_pixel_values"][0].to(dtype),
        "audio": inputs["input_values"][0].to(dtype),
        "embeds": embeds.to(dtype),
    }


def bench_prefill(ctx: Bench) -> dict:
    """Per-branch time and FLOPs of one clip's prefill at the preset's size, and full-size FLOPs on meta."""
    ctx.clip_inputs()
    result: dict[str, Any] = {"flops_method": "torch.utils.flop_counter.FlopCounterMode (meta device at full size)"}
    text_tokens = ctx.clip["prompt_tokens"] - ctx.config.media_tokens_per_clip
    result["full_size_gflops"] = {k: v / 1e9 for k, v in full_size_flops(ctx, text_tokens).items()}
    result["full_size_gflops"]["total"] = sum(result["full_size_gflops"].values())
    dtypes = [torch.float32, torch.bfloat16] if ctx.preset.name == "full" else [torch.float32]
    inputs = ctx.inputs
    for dtype in dtypes:
        name = str(dtype).replace("torch.", "")
        if ctx.model.dtype != dtype:
            logger.info("prefill: converting the model to %s", name)
            ctx.model.to(dtype)
        calls = branch_calls(ctx.model, real_clip(ctx, dtype))
        calls["end to end"] = lambda: ctx.model(**inputs, use_cache=True, logits_to_keep=1)
        logger.info("prefill (%s): timing %d branches x %d repeats", name, len(calls), ctx.preset.repeats)
        with torch.no_grad():
            times = interleaved(calls, ctx.preset.repeats)
            flops = {k: count_flops(fn) for k, fn in calls.items() if k != "end to end"}
        branch_sum = sum(v for k, v in times.items() if k != "end to end")
        result[name] = {
            "ms": {k: v * 1e3 for k, v in times.items()},
            "gflops": {k: v / 1e9 for k, v in flops.items()},
            "share": {k: times[k] / branch_sum for k in BRANCHES},
            "glue_ms": (times["end to end"] - branch_sum) * 1e3,
        }
    result["tokens"] = ctx.clip["prompt_tokens"]
    return result


# ---------------------------------------------------------------------------------------------------- tokens
