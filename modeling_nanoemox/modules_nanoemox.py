"""Adapters and fusion modules of Nano-EmoX, and the registries that pick them by name.

Dimension legend:
    b  batch (samples that have the modality)     t  frames          c  audio clips
    n  encoder tokens (keys)                      q  query tokens    d  widths

Every adapter maps encoder features `(b, n, d_in)` with a key mask `(b, n)` to `(b, q, d_lm)`;
every fusion module maps per-layer vision `(b, t, d_v)` and audio `(b, c, d_a)` features to
`(b, q, d_lm)` plus gate weights `(b, experts)`. The registries at the bottom are plain dicts, read by
`NanoEmoXModel` from the config's module names.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .configuration_nanoemox import IGNORE_INDEX


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """x (b, s, d), mask (b, s) bool -> (b, d), the mean over valid positions; rows with none give zeros."""
    w = mask.to(x.dtype)[:, :, None]
    return (x * w).sum(1) / w.sum(1).clamp_min(1.0)


class Attention(nn.Module):
    """Multi-head attention (self or cross) on `F.scaled_dot_product_attention`."""

    def __init__(self, *, dim: int, num_heads: int, key_dim: int | None = None, dropout: float = 0.0):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim={dim} must be divisible by num_heads={num_heads}")
        key_dim = key_dim or dim
        self.num_heads = num_heads
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(key_dim, dim)
        self.v_proj = nn.Linear(key_dim, dim)
        self.o_proj = nn.Linear(dim, dim)
        self.dropout = dropout

    def forward(self, queries: torch.Tensor, keys: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        """queries (b, q, dim), keys (b, n, key_dim), key_mask (b, n) bool, True = attend -> (b, q, dim)."""
        b, q, _ = queries.shape
        n = keys.shape[1]

        def heads(x, length):
            return x.view(b, length, self.num_heads, -1).transpose(1, 2)

        query, key, value = heads(self.q_proj(queries), q), heads(self.k_proj(keys), n), heads(self.v_proj(keys), n)
        mask = None
        if key_mask is not None:
            # a row whose keys are all masked attends to nothing; guard it so softmax stays finite
            safe = key_mask | ~key_mask.any(dim=1, keepdim=True)
            mask = safe[:, None, None, :]
        out = F.scaled_dot_product_attention(
            query, key, value, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0
        )
        return self.o_proj(out.transpose(1, 2).reshape(b, q, -1))


class FeedForward(nn.Sequential):
    def __init__(self, *, dim: int, hidden: int, out_dim: int | None = None):
        super().__init__(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, out_dim or dim))


class QFormerLayer(nn.Module):
    """Pre-norm block: self-attention over the queries, cross-attention to the encoder, feed-forward."""

    def __init__(self, *, dim: int, key_dim: int, num_heads: int, hidden: int):
        super().__init__()
        self.self_norm = nn.LayerNorm(dim)
        self.self_attn = Attention(dim=dim, num_heads=num_heads)
        self.cross_norm = nn.LayerNorm(dim)
        self.key_norm = nn.LayerNorm(key_dim)
        self.cross_attn = Attention(dim=dim, num_heads=num_heads, key_dim=key_dim)
        self.ffn_norm = nn.LayerNorm(dim)
        self.ffn = FeedForward(dim=dim, hidden=hidden)

    def forward(self, x: torch.Tensor, keys: torch.Tensor, key_mask: torch.Tensor | None) -> torch.Tensor:
        h = self.self_norm(x)
        x = x + self.self_attn(h, h)
        x = x + self.cross_attn(self.cross_norm(x), self.key_norm(keys), key_mask)
        return x + self.ffn(self.ffn_norm(x))


class QFormerAdapter(nn.Module):
    """Learned queries read the encoder features through a small Q-Former, then a linear maps to the LM.

    As in Nano-EmoX: 2 layers, 32 queries, hidden 768, a linear projection to the LM width. Keys carry
    a learned position per group (frame or audio clip) so the queries can tell time apart.
    """

    def __init__(
        self,
        *,
        in_dim: int,
        out_dim: int,
        num_queries: int,
        hidden: int,
        num_layers: int,
        num_heads: int,
        intermediate: int,
        num_groups: int,
    ):
        super().__init__()
        self.queries = nn.Parameter(torch.zeros(1, num_queries, hidden))
        self.group_embedding = nn.Embedding(num_groups, in_dim)
        self.layers = nn.ModuleList(
            QFormerLayer(dim=hidden, key_dim=in_dim, num_heads=num_heads, hidden=intermediate)
            for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(hidden)
        self.proj = nn.Linear(hidden, out_dim)
        self.gradient_checkpointing = False

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """features (b, g, n, d_in) for g groups of n tokens, mask (b, g) bool -> (b, q, d_lm)."""
        b, g, n, d = features.shape
        groups = self.group_embedding(torch.arange(g, device=features.device))
        keys = (features + groups[None, :, None, :].to(features.dtype)).reshape(b, g * n, d)
        key_mask = mask[:, :, None].expand(b, g, n).reshape(b, g * n)
        x = self.queries.expand(b, -1, -1).to(features.dtype)
        for layer in self.layers:
            if self.gradient_checkpointing and self.training:
                x = torch.utils.checkpoint.checkpoint(layer, x, keys, key_mask, use_reentrant=False)
            else:
                x = layer(x, keys, key_mask)
        return self.proj(self.norm(x))


class MLPAdapter(nn.Module):
    """A lighter alternative: masked mean per group, pooled to `num_queries` slots, two-layer MLP."""

    def __init__(self, *, in_dim: int, out_dim: int, num_queries: int, hidden: int, **_unused):
        super().__init__()
        self.num_queries = num_queries
        self.mlp = nn.Sequential(
            nn.LayerNorm(in_dim), nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, out_dim)
        )

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """features (b, g, n, d_in), mask (b, g) -> (b, q, d_lm)."""
        per_group = features.mean(dim=2)  # (b, g, d)
        weights = mask.to(per_group.dtype)[:, :, None]
        # resample the g group vectors onto q slots; masked groups contribute nothing
        pooled = F.adaptive_avg_pool1d((per_group * weights).transpose(1, 2), self.num_queries)
        norm = F.adaptive_avg_pool1d(weights.transpose(1, 2), self.num_queries).clamp_min(1e-6)
        return self.mlp((pooled / norm).transpose(1, 2))


class MultiScaleFaceFusion(nn.Module):
    """FaceXFormer-style fusion of the backbone's stages: project each, resize to the finest, MLP, pool.

    stage maps [(n, C_s, H_s, W_s)] -> (n, face_feature_size)
    """

    def __init__(self, *, in_channels: list[int], dim: int):
        super().__init__()
        self.stage_proj = nn.ModuleList(nn.Linear(c, dim) for c in in_channels)
        self.fuse = nn.Sequential(nn.Linear(dim * len(in_channels), dim), nn.GELU(), nn.Linear(dim, dim))
        self.norm = nn.LayerNorm(dim)

    def forward(self, feature_maps: list[torch.Tensor]) -> torch.Tensor:
        size = feature_maps[0].shape[-2:]
        stages = []
        for proj, fmap in zip(self.stage_proj, feature_maps):
            fmap = proj(fmap.flatten(2).transpose(1, 2)).transpose(1, 2).reshape(fmap.shape[0], -1, *fmap.shape[-2:])
            stages.append(F.interpolate(fmap, size=size, mode="bilinear", align_corners=False))
        fused = self.fuse(torch.cat(stages, dim=1).flatten(2).transpose(1, 2))  # (n, h*w, dim)
        return self.norm(fused.mean(dim=1))


class FaceTemporalAdapter(nn.Module):
    """Nano-EmoX's temporal block: learned queries cross-attend over the per-frame face features, MLP to LM.

    (b, t, d_face) with mask (b, t) -> (b, num_queries, d_lm)
    """

    def __init__(self, *, dim: int, out_dim: int, num_queries: int, num_heads: int, hidden: int, num_frames: int):
        super().__init__()
        self.queries = nn.Parameter(torch.zeros(1, num_queries, dim))
        self.frame_embedding = nn.Embedding(num_frames, dim)
        self.attn = Attention(dim=dim, num_heads=num_heads)
        self.norm = nn.LayerNorm(dim)
        self.mlp = FeedForward(dim=dim, hidden=hidden, out_dim=out_dim)

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        t = features.shape[1]
        keys = features + self.frame_embedding(torch.arange(t, device=features.device)).to(features.dtype)
        queries = self.queries.expand(features.shape[0], -1, -1).to(features.dtype)
        return self.mlp(self.norm(queries + self.attn(queries, keys, mask)))


class CrossModalExpert(nn.Module):
    """One fusion expert: audio clips query the frames (cross-attention + FFN), pooled over clips."""

    def __init__(self, *, vision_dim: int, audio_dim: int, dim: int, num_heads: int):
        super().__init__()
        self.audio_proj = nn.Linear(audio_dim, dim)
        self.vision_proj = nn.Linear(vision_dim, dim)
        self.attn_norm = nn.LayerNorm(dim)
        self.attn = Attention(dim=dim, num_heads=num_heads)
        self.ffn_norm = nn.LayerNorm(dim)
        self.ffn = FeedForward(dim=dim, hidden=4 * dim)

    def forward(self, vision, vision_mask, audio, audio_mask) -> torch.Tensor:
        """vision (b, t, d_v), audio (b, c, d_a), masks (b, t)/(b, c) -> (b, dim)."""
        queries = self.audio_proj(audio)
        keys = self.vision_proj(vision)
        x = queries + self.attn(self.attn_norm(queries), keys, vision_mask)
        x = x + self.ffn(self.ffn_norm(x))
        weights = audio_mask.to(x.dtype)[:, :, None]
        return (x * weights).sum(1) / weights.sum(1).clamp_min(1.0)


class GatedExpertsFusion(nn.Module):
    """Nano-EmoX's fusion encoder: one cross-attention expert per (vision layer, audio layer) pair, and a
    softmax gating network; E = sum_i G_i * E_i, projected to `num_tokens` LM tokens.
    """

    def __init__(
        self,
        *,
        vision_dim: int,
        audio_dim: int,
        dim: int,
        num_heads: int,
        num_experts: int,
        out_dim: int,
        num_tokens: int,
    ):
        super().__init__()
        self.experts = nn.ModuleList(
            CrossModalExpert(vision_dim=vision_dim, audio_dim=audio_dim, dim=dim, num_heads=num_heads)
            for _ in range(num_experts)
        )
        self.gate = nn.Sequential(
            nn.Linear(num_experts * (vision_dim + audio_dim), dim), nn.GELU(), nn.Linear(dim, num_experts)
        )
        self.norm = nn.LayerNorm(dim)
        self.proj = nn.Linear(dim, out_dim * num_tokens)
        self.num_tokens = num_tokens

    def forward(
        self,
        vision_layers: list[torch.Tensor],
        vision_mask: torch.Tensor,
        audio_layers: list[torch.Tensor],
        audio_mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """vision_layers [(b, t, d_v)] and audio_layers [(b, c, d_a)], one per expert
        -> tokens (b, num_tokens, d_lm), gate weights (b, experts)."""

        summary = torch.cat(
            [masked_mean(v, vision_mask) for v in vision_layers] + [masked_mean(a, audio_mask) for a in audio_layers],
            dim=-1,
        )
        gate = torch.softmax(self.gate(summary).float(), dim=-1).to(summary.dtype)
        experts = torch.stack(
            [e(v, vision_mask, a, audio_mask) for e, v, a in zip(self.experts, vision_layers, audio_layers)], dim=1
        )  # (b, experts, dim)
        fused = (gate[:, :, None] * experts).sum(1)
        tokens = self.proj(self.norm(fused)).view(fused.shape[0], self.num_tokens, -1)
        return tokens, gate


def last_prompt_positions(
    attention_mask: torch.Tensor | None, length: int, labels: torch.LongTensor | None = None
) -> torch.LongTensor:
    """(b,) index of each row's last prompt token in a (b, n) batch.

    With `labels` (training: targets on the answer only), the token just before the first supervised one, i.e. the
    end of `<|im_start|>assistant\\n`; rows without a usable label fall back to the last attended token, which is
    where a prompt built with `add_generation_prompt=True` ends at inference (left or right padding alike).
    """
    if attention_mask is None:
        device = labels.device if labels is not None else None
        batch = labels.shape[0] if labels is not None else 1
        last = torch.full((batch,), length - 1, dtype=torch.long, device=device)
        attended = None
    else:
        attended = attention_mask.bool()
        last = length - 1 - attended.flip(1).long().argmax(1)
    if labels is None:
        return last
    supervised = labels != IGNORE_INDEX
    before = supervised.long().argmax(1) - 1
    usable = supervised.any(1) & (before >= 0)
    if attended is not None:
        usable &= attended.gather(1, before.clamp_min(0)[:, None]).squeeze(1)
    return torch.where(usable, before, last.to(before.device))


class SentimentHead(nn.Sequential):
    """EGMF's regression head: `LayerNorm -> Linear(d_lm, hidden) -> GELU -> Linear(hidden, 1)`, (b, d_lm) -> (b,).

    It reads the LM's final hidden state at the last prompt position: the one vector that has attended to the
    instruction, the subtitle and every media token (the fusion module's pseudo tokens included), and the state the
    text answer is generated from. So the subtitle counts (text is the strongest MSA modality), the fusion module
    gets the head's gradient through the LM's attention to its tokens, and the score is available at prefill from
    `inputs_embeds` alone (the pipeline embeds media once). Reading the fusion output directly would ignore the
    subtitle and would not be recoverable from `inputs_embeds`. Scores are on the schema's [-3, 3] scale (MOSI/MOSEI;
    CH-SIMS labels are stored times 3) and are not clipped, as in MMSA's regression models.
    """

    def __init__(self, *, dim: int, hidden: int):
        super().__init__(nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, 1))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return super().forward(hidden).squeeze(-1)


ADAPTERS: dict[str, type[nn.Module]] = {"qformer": QFormerAdapter, "mlp": MLPAdapter}
FUSIONS: dict[str, type[nn.Module]] = {"gated_experts": GatedExpertsFusion}
# the related systems' modules (related_nanoemox.py) join these in modeling_nanoemox.py
