"""Benchmark section `tokens`: media tokens per clip against patch-token designs, and the LM prefill each implies.

Nano-EmoX hands the language model 69 media tokens per clip (full size); a LLaVA-style design hands it a grid of
patch tokens per frame. The LM's prefill is timed at the preset's size for each context length, and its FLOPs and
KV cache are counted at full size.
"""

from __future__ import annotations

import logging

import torch
from transformers import DynamicCache

from nanoemox.modeling.configuration_nanoemox import NanoEmoXConfig
from nanoemox.modeling.modeling_nanoemox import CACHE_KEY

from .context import Bench
from .prefill import full_size_flops
from .timing import interleaved

logger = logging.getLogger(__name__)


def bench_tokens(ctx: Bench) -> dict:
    """Media tokens per clip against patch tokens, and the LM prefill time and FLOPs each implies."""
    ctx.clip_inputs()
    cfg = ctx.config
    text = ctx.clip["prompt_tokens"] - cfg.media_tokens_per_clip
    full = NanoEmoXConfig()
    designs = {
        "nano-emox (69/clip at full size)": full.media_tokens_per_clip,
        "patch tokens, 8 x 256 (CLIP-L/14 at 224 px)": full.num_frames * (224 // 14) ** 2,
        "patch tokens, 8 x 576 (CLIP-L/14 at 336 px, LLaVA-style)": full.num_frames * 576,
    }
    lm = ctx.model.model.language_model
    text_cfg = cfg.text_config
    head_dim = getattr(text_cfg, "head_dim", None) or text_cfg.hidden_size // text_cfg.num_attention_heads
    kv_bytes_full = 2 * 28 * 2 * 128 * 2  # K and V, 28 layers, 2 KV heads of 128, bf16: Qwen2.5-1.5B
    rows = {}
    calls = {}
    for name, media_tokens in designs.items():
        n = text + media_tokens
        embeds = torch.randn(1, n, text_cfg.hidden_size, dtype=ctx.model.dtype)

        def prefill(embeds=embeds):
            with torch.no_grad():
                cache = DynamicCache(config=text_cfg)
                lm(inputs_embeds=embeds, use_cache=True, **{CACHE_KEY: cache})

        calls[name] = prefill
        meta_flops = full_size_flops(ctx, n - full.media_tokens_per_clip)["language model"]
        rows[name] = {
            "media_tokens": media_tokens,
            "context_tokens": n,
            "full_size_lm_prefill_gflops": meta_flops / 1e9,
            "full_size_kv_cache_mb_bf16": n * kv_bytes_full / 2**20,
        }
    logger.info("token economy: LM prefill at %s tokens", [r["context_tokens"] for r in rows.values()])
    times = interleaved(calls, ctx.preset.long_prefill_repeats, warmup=1 if ctx.preset.name != "full" else 0)
    base = next(iter(rows))
    for name, row in rows.items():
        row["lm_prefill_ms_at_preset_size"] = times[name] * 1e3
        row["time_vs_nanoemox"] = times[name] / times[base]
        row["flops_vs_nanoemox"] = row["full_size_lm_prefill_gflops"] / rows[base]["full_size_lm_prefill_gflops"]
    return {
        "text_tokens": text,
        "preset_media_tokens": cfg.media_tokens_per_clip,
        "preset_lm": f"hidden {text_cfg.hidden_size}, {text_cfg.num_hidden_layers} layers, head_dim {head_dim}",
        "designs": rows,
    }


# ---------------------------------------------------------------------------------------------------- batching
