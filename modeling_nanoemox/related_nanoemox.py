"""Adapters and a fusion module after the related systems (issue 7), selectable by name like the defaults.

Dimension legend:
    b  batch (samples that have the modality)     g  groups (frames or audio clips)
    n  encoder tokens per group                   q  query tokens / output slots
    k  prior (guide) slots                        L  prior text tokens
    t  frames          c  audio clips             E  experts
    d_in encoder width   d hidden width   d_lm language-model width

Adapters keep the interface of `modules_nanoemox`: `adapter(features (b, g, n, d_in), mask (b, g)) -> (b, q, d_lm)`;
the two prior-aware ones take `prior_embeds (b, L, d_lm)` and `prior_mask (b, L)` as extra, optional arguments.
The fusion module keeps `fusion(vision_layers, vision_mask, audio_layers, audio_mask) -> (tokens, gate)`.

- `HybridCompressorAdapter`   Emotion-Qwen's hybrid compressor: emotion and general MLP experts, attention gate.
- `LQFormerAdapter`           XMEI-Qwen's LQ-Former: Q-Former whose first queries come from caption/subtitle priors.
- `CatMoDAdapter`             Cat-MoD: guide + explorer queries and an asymmetric mixture of depths.
- `EGMFFusion`                EGMF: bidirectional cross-attention, three bottleneck experts, hierarchical gating.

These are our own designs after the papers (and, for XMEI-Qwen, its public code); the docstrings say where each
departs from them. The registries at the bottom are plain dicts for `NanoEmoXModel` to merge into its own.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from torch import nn

from .modules_nanoemox import Attention, QFormerAdapter, masked_mean

PRIOR_MODES = ("tokens", "attention")


def _group_keys(
    features: torch.Tensor, mask: torch.Tensor, group_embedding: nn.Embedding
) -> tuple[torch.Tensor, torch.Tensor]:
    """features (b, g, n, d_in), mask (b, g) -> keys (b, g*n, d_in) with a learned position per group, key mask."""
    b, g, n, d = features.shape
    groups = group_embedding(torch.arange(g, device=features.device))
    keys = (features + groups[None, :, None, :].to(features.dtype)).reshape(b, g * n, d)
    key_mask = mask[:, :, None].expand(b, g, n).reshape(b, g * n)
    return keys, key_mask


# ---------------------------------------------------------------------------------------------------------------
# Emotion-Qwen: hybrid compressor


class HybridCompressorAdapter(nn.Module):
    """Emotion-Qwen's hybrid compressor as a projector: `out = G * V_emo + (1 - G) * V_gen`.

    1. Resampling to `num_queries` slots: the `g * n` encoder tokens are read in temporal order (group by group,
       tokens in encoder order) and average-pooled into `num_queries` contiguous spans (`adaptive_avg_pool1d`),
       weighting each token by its group's mask, so masked groups contribute nothing. With 8 frames x 257 CLIP
       tokens and 32 slots each slot averages about 64 tokens (4 slots per frame); with 8 audio clips of 1 token the
       pooling repeats each clip over 4 slots. A learned slot embedding tells repeated or similar slots apart.
    2. Two experts on the normalised slots, each `Linear -> GELU -> Linear` followed by `LayerNorm`:
       `emotion_expert` (V_emo) and `general_expert` (V_gen), both `(b, q, d_lm)`.
    3. Attention-based gate: the slots are projected to `hidden`, self-attend (slots whose span is fully masked are
       not attended to), and a linear + sigmoid gives one weight per slot, `G (b, q, 1)` in [0, 1] (0.5 at init).

    After each forward, `last_gate` holds the per-sample mean gate over valid slots, `(b,)`, detached: the model
    reports its mean per task (how much each task leans on the emotion expert). The submodule names
    (`emotion_expert`, `general_expert`, `gate_*`) let a curriculum preset warm one expert before the other.
    Unused model kwargs (`num_layers`, `intermediate`, `num_groups`) are accepted and ignored.
    """

    def __init__(self, *, in_dim: int, out_dim: int, num_queries: int, hidden: int, num_heads: int, **_unused):
        super().__init__()
        self.num_queries = num_queries
        self.input_norm = nn.LayerNorm(in_dim)
        self.slot_embedding = nn.Embedding(num_queries, in_dim)
        self.emotion_expert = self._expert(in_dim, hidden, out_dim)
        self.general_expert = self._expert(in_dim, hidden, out_dim)
        self.gate_in = nn.Linear(in_dim, hidden)
        self.gate_norm = nn.LayerNorm(hidden)
        self.gate_attn = Attention(dim=hidden, num_heads=num_heads)
        self.gate_out = nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, 1))
        self.last_gate: torch.Tensor | None = None

    @staticmethod
    def _expert(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
        return nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, out_dim), nn.LayerNorm(out_dim))

    def resample(self, features: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """features (b, g, n, d_in), mask (b, g) -> slots (b, q, d_in) (masked means), slot mask (b, q) bool."""
        b, g, n, d = features.shape
        tokens = features.reshape(b, g * n, d)
        weights = mask[:, :, None].expand(b, g, n).reshape(b, 1, g * n).to(tokens.dtype)
        summed = F.adaptive_avg_pool1d(tokens.transpose(1, 2) * weights, self.num_queries)  # (b, d, q)
        norm = F.adaptive_avg_pool1d(weights, self.num_queries)  # (b, 1, q)
        slots = (summed / norm.clamp_min(1e-6)).transpose(1, 2)
        return slots, norm[:, 0] > 0

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """features (b, g, n, d_in), mask (b, g) bool -> (b, q, d_lm); sets `last_gate` (b,)."""
        slots, slot_mask = self.resample(features, mask)
        positions = self.slot_embedding(torch.arange(self.num_queries, device=features.device))
        x = self.input_norm(slots) + positions.to(slots.dtype)
        v_emo, v_gen = self.emotion_expert(x), self.general_expert(x)
        h = self.gate_in(x)
        hn = self.gate_norm(h)
        h = h + self.gate_attn(hn, hn, slot_mask)
        gate = torch.sigmoid(self.gate_out(h).float()).to(x.dtype)  # (b, q, 1)
        self.last_gate = masked_mean(gate, slot_mask)[:, 0].detach()
        return gate * v_emo + (1 - gate) * v_gen


# ---------------------------------------------------------------------------------------------------------------
# Language priors -> query slots (shared by the LQ-Former and Cat-MoD)


class PriorQueries(nn.Module):
    """Maps prior-text token embeddings `(b, L, d_lm)` to `k` query slots `(b, k, d)`.

    Each prior token goes through `LayerNorm -> Linear(d_lm, d)`. Then, by `mode`:
      - "tokens" (XMEI-Qwen's choice: the caption's first tokens are the queries): slot j holds the j-th valid prior
        token plus a learned slot position; slots past the prior's length take the fallback slot.
      - "attention": the fallback slots attend over all prior tokens (masked) and add the result, so a long subtitle
        is summarised instead of truncated.
    Samples with no prior (no `prior_embeds`, or an all-False row of `prior_mask`) get the fallback slots unchanged.
    """

    def __init__(self, *, prior_dim: int, dim: int, num_slots: int, num_heads: int, mode: str = "tokens"):
        super().__init__()
        if mode not in PRIOR_MODES:
            raise ValueError(f"prior mode must be one of {PRIOR_MODES}, got {mode!r}")
        self.mode = mode
        self.num_slots = num_slots
        self.proj = nn.Sequential(nn.LayerNorm(prior_dim), nn.Linear(prior_dim, dim))
        if mode == "tokens":
            self.slot_embedding = nn.Embedding(num_slots, dim)
        else:
            self.norm = nn.LayerNorm(dim)
            self.attn = Attention(dim=dim, num_heads=num_heads)

    def forward(
        self, fallback: torch.Tensor, prior_embeds: torch.Tensor | None, prior_mask: torch.Tensor | None
    ) -> torch.Tensor:
        """fallback (b, k, d), prior_embeds (b, L, d_lm) or None, prior_mask (b, L) bool or None -> (b, k, d)."""
        if prior_embeds is None or self.num_slots == 0:
            return fallback
        b, length, _ = prior_embeds.shape
        if prior_mask is None:
            prior_mask = torch.ones(b, length, dtype=torch.bool, device=prior_embeds.device)
        prior_mask = prior_mask.to(torch.bool)
        tokens = self.proj(prior_embeds.to(fallback.dtype))  # (b, L, d)
        k = self.num_slots
        if self.mode == "tokens":
            # valid tokens first, in their order (works for left or right padding)
            order = torch.argsort((~prior_mask).to(torch.int8), dim=1, stable=True)[:, :k]
            tokens = tokens.gather(1, order[:, :, None].expand(-1, -1, tokens.shape[-1]))
            valid = prior_mask.gather(1, order)
            if tokens.shape[1] < k:  # prior shorter than the slots: pad with invalid slots
                pad = k - tokens.shape[1]
                tokens = F.pad(tokens, (0, 0, 0, pad))
                valid = F.pad(valid, (0, pad), value=False)
            positions = self.slot_embedding(torch.arange(k, device=tokens.device)).to(tokens.dtype)
            return torch.where(valid[:, :, None], tokens + positions, fallback)
        pooled = fallback + self.attn(self.norm(fallback), tokens, prior_mask)
        return torch.where(prior_mask.any(1)[:, None, None], pooled, fallback)


def _resolve_prior_slots(num_prior_queries: int | None, num_queries: int) -> int:
    k = num_queries // 2 if num_prior_queries is None else num_prior_queries
    if not 0 <= k <= num_queries:
        raise ValueError(f"num_prior_queries={k} must be within [0, num_queries={num_queries}]")
    return k


# ---------------------------------------------------------------------------------------------------------------
# XMEI-Qwen: LQ-Former


class LQFormerAdapter(QFormerAdapter):
    """XMEI-Qwen's Language-Query Former: a Q-Former whose first `num_prior_queries` queries are built from a
    language prior (a modality caption or the subtitle), followed by `num_queries - num_prior_queries` learned
    queries; output `(b, num_queries, d_lm)` as the plain Q-Former.

    The prior arrives as token embeddings from the LM's own embedding table, `prior_embeds (b, L, d_lm)` with
    `prior_mask (b, L)`, mapped to the Q-Former width by `PriorQueries` (`prior_mode` "tokens", the XMEI-Qwen way,
    or "attention"). The parent's `queries` parameter keeps all `num_queries` slots: its first `num_prior_queries`
    rows are the fallback prior slots used without a prior, the rest are the learned queries. So a `qformer`
    checkpoint loads into this adapter with only `prior.*` missing.

    Extras: `num_prior_queries` (default `num_queries // 2`: XMEI-Qwen uses 16 caption + 16 learned of 32),
    `prior_dim` (default `out_dim`, the LM width), `prior_mode`.
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
        num_prior_queries: int | None = None,
        prior_dim: int | None = None,
        prior_mode: str = "tokens",
    ):
        super().__init__(
            in_dim=in_dim,
            out_dim=out_dim,
            num_queries=num_queries,
            hidden=hidden,
            num_layers=num_layers,
            num_heads=num_heads,
            intermediate=intermediate,
            num_groups=num_groups,
        )
        self.num_prior_queries = _resolve_prior_slots(num_prior_queries, num_queries)
        self.prior = PriorQueries(
            prior_dim=prior_dim or out_dim,
            dim=hidden,
            num_slots=self.num_prior_queries,
            num_heads=num_heads,
            mode=prior_mode,
        )

    def initial_queries(
        self, batch: int, dtype: torch.dtype, prior_embeds: torch.Tensor | None, prior_mask: torch.Tensor | None
    ) -> torch.Tensor:
        """-> (b, q, d): prior slots (or their fallback) followed by the learned queries."""
        queries = self.queries.expand(batch, -1, -1).to(dtype)
        k = self.num_prior_queries
        return torch.cat([self.prior(queries[:, :k], prior_embeds, prior_mask), queries[:, k:]], dim=1)

    def forward(
        self,
        features: torch.Tensor,
        mask: torch.Tensor,
        prior_embeds: torch.Tensor | None = None,
        prior_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """features (b, g, n, d_in), mask (b, g), prior_embeds (b, L, d_lm), prior_mask (b, L) -> (b, q, d_lm)."""
        keys, key_mask = _group_keys(features, mask, self.group_embedding)
        x = self.initial_queries(features.shape[0], features.dtype, prior_embeds, prior_mask)
        for layer in self.layers:
            if self.gradient_checkpointing and self.training:
                x = torch.utils.checkpoint.checkpoint(layer, x, keys, key_mask, use_reentrant=False)
            else:
                x = layer(x, keys, key_mask)
        return self.proj(self.norm(x))


# ---------------------------------------------------------------------------------------------------------------
# Cat-MoD: caption-token guided asymmetric mixture of depths


def qformer_layer_macs(
    *, num_queries: int, active_queries: int, num_keys: int, dim: int, key_dim: int, intermediate: int
) -> int:
    """Multiply-adds of one `QFormerLayer` where `active_queries` of `num_queries` take cross-attention + FFN.

    Counted: every linear layer and the two attention products (scores, weighted sum); not counted: norms,
    softmax, GELU, additions. Self-attention always runs over all queries; the keys' K/V projections always run.
    """
    q, a, n, d = num_queries, active_queries, num_keys, dim
    self_attn = 4 * q * d * d + 2 * q * q * d
    cross_attn = 2 * a * d * d + 2 * n * key_dim * d + 2 * a * n * d
    ffn = 2 * a * d * intermediate
    return self_attn + cross_attn + ffn


def qformer_alignment_macs(
    *, num_queries: int, num_keys: int, in_dim: int, hidden: int, intermediate: int, num_layers: int, out_dim: int
) -> int:
    """Multiply-adds of the plain `QFormerAdapter` for one sample with `num_keys` valid keys (incl. output proj)."""
    layer = qformer_layer_macs(
        num_queries=num_queries,
        active_queries=num_queries,
        num_keys=num_keys,
        dim=hidden,
        key_dim=in_dim,
        intermediate=intermediate,
    )
    return num_layers * layer + num_queries * hidden * out_dim


class CatMoDAdapter(LQFormerAdapter):
    """Cat-MoD: hybrid queries and an asymmetric mixture of depths, in the Q-Former shape of Nano-EmoX.

    Hybrid queries: the first `num_guide_queries` are guide tokens, built from a caption prior exactly as the
    LQ-Former's prior slots (same `prior_embeds`/`prior_mask` interface, learned fallback without a prior); the
    others are explorer tokens, learned (random at init). As in `LQFormerAdapter`, all of them live in `queries`.

    Asymmetric mixture of depths: the first `dense_layers` layers are ordinary Q-Former layers (the guides need them
    to anchor the global context). In each later layer, every query takes self-attention, explorers always take
    cross-attention and the FFN, and a router keeps only `round(guide_capacity * num_guide_queries)` guides for
    them; the other guides skip both and pass through the residual (they keep their context through
    self-attention). Router score of guide i: `w . LN(x_i) - similarity_penalty * max_{j != i} cos(x_i, x_j)` over
    all queries j, so a guide that duplicates another query is dropped first; kept guides are sorted by position and
    their update is scaled by `sigmoid(score)` (as in Mixture-of-Depths) so the router is trained by the loss.
    Selection is a plain top-k: deterministic in train and eval. `last_routing` maps each routed layer's index to
    the kept guide indices `(b, keep)` of the last forward.

    `alignment_flops(num_keys)` counts multiply-adds at this capacity against the plain Q-Former with as many queries.
    Weight names match the Q-Former's, so a `qformer` checkpoint loads with only `prior.*` and `routers.*` missing.
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
        num_guide_queries: int | None = None,
        guide_capacity: float = 0.5,
        dense_layers: int = 1,
        similarity_penalty: float = 1.0,
        prior_dim: int | None = None,
        prior_mode: str = "tokens",
    ):
        super().__init__(
            in_dim=in_dim,
            out_dim=out_dim,
            num_queries=num_queries,
            hidden=hidden,
            num_layers=num_layers,
            num_heads=num_heads,
            intermediate=intermediate,
            num_groups=num_groups,
            num_prior_queries=num_guide_queries,
            prior_dim=prior_dim,
            prior_mode=prior_mode,
        )
        if not 0.0 <= guide_capacity <= 1.0:
            raise ValueError(f"guide_capacity must be within [0, 1], got {guide_capacity}")
        if not 0 <= dense_layers <= num_layers:
            raise ValueError(f"dense_layers={dense_layers} must be within [0, num_layers={num_layers}]")
        self.num_queries, self.in_dim, self.hidden = num_queries, in_dim, hidden
        self.intermediate, self.out_dim = intermediate, out_dim
        self.dense_layers = dense_layers
        self.similarity_penalty = similarity_penalty
        self.guide_keep = round(guide_capacity * self.num_prior_queries)
        # no router when no guide can be kept (guide_capacity 0 or no guides): it would get no gradient
        num_routers = (num_layers - dense_layers) if self.guide_keep else 0
        self.routers = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, 1)) for _ in range(num_routers)
        )
        self.last_routing: dict[int, torch.Tensor] = {}

    @property
    def num_guide_queries(self) -> int:
        return self.num_prior_queries

    def route(self, router: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (b, q, d) -> kept guide indices (b, keep) sorted, and their router weights (b, keep) in (0, 1)."""
        k = self.num_prior_queries
        guides = x[:, :k]
        unit = F.normalize(x.float(), dim=-1)
        similarity = unit[:, :k] @ unit.transpose(1, 2)  # (b, k, q)
        self_pairs = torch.eye(k, x.shape[1], dtype=torch.bool, device=x.device)
        redundancy = similarity.masked_fill(self_pairs, float("-inf")).amax(-1)  # (b, k)
        score = router(guides).squeeze(-1).float() - self.similarity_penalty * redundancy
        index = score.topk(self.guide_keep, dim=1).indices.sort(dim=1).values
        return index, torch.sigmoid(score.gather(1, index)).to(x.dtype)

    def routed_layer(self, index: int, x: torch.Tensor, keys: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        """One asymmetric layer: self-attention over all queries, cross-attention + FFN over explorers and the kept
        guides only. index: the layer's position in `layers`; x (b, q, d) -> (b, q, d)."""
        layer = self.layers[index]
        h = layer.self_norm(x)
        x = x + layer.self_attn(h, h)
        k, d = self.num_prior_queries, x.shape[-1]
        guides, explorers = x[:, :k], x[:, k:]
        if self.guide_keep:
            kept, weight = self.route(self.routers[index - self.dense_layers], x)
            self.last_routing[index] = kept.detach()
            gather = kept[:, :, None].expand(-1, -1, d)
            active = torch.cat([guides.gather(1, gather), explorers], dim=1)
        else:
            active = explorers
        updated = active + layer.cross_attn(layer.cross_norm(active), layer.key_norm(keys), key_mask)
        updated = updated + layer.ffn(layer.ffn_norm(updated))
        delta = updated - active
        explorers = explorers + delta[:, self.guide_keep :]
        if self.guide_keep:
            kept = guides.gather(1, gather) + weight[:, :, None] * delta[:, : self.guide_keep]
            guides = guides.scatter(1, gather, kept)
        return torch.cat([guides, explorers], dim=1)

    def forward(
        self,
        features: torch.Tensor,
        mask: torch.Tensor,
        prior_embeds: torch.Tensor | None = None,
        prior_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """features (b, g, n, d_in), mask (b, g), prior_embeds (b, L, d_lm), prior_mask (b, L) -> (b, q, d_lm)."""
        keys, key_mask = _group_keys(features, mask, self.group_embedding)
        x = self.initial_queries(features.shape[0], features.dtype, prior_embeds, prior_mask)
        self.last_routing = {}
        checkpointing = self.gradient_checkpointing and self.training
        for i, layer in enumerate(self.layers):
            if i < self.dense_layers:
                fn, args = layer, (x, keys, key_mask)
            else:
                fn, args = self.routed_layer, (i, x, keys, key_mask)
            if checkpointing:
                x = torch.utils.checkpoint.checkpoint(fn, *args, use_reentrant=False)
            else:
                x = fn(*args)
        return self.proj(self.norm(x))

    def alignment_flops(self, num_keys: int) -> dict[str, float]:
        """Multiply-adds for one sample with `num_keys` valid encoder tokens (e.g. 8 frames x 257 = 2056).

        `cat_mod` at this capacity (router included), `qformer` for the plain Q-Former with as many queries,
        `saving` = 1 - cat_mod / qformer. Both include the output projection; the prior projection (it depends on the
        caption's length), norms and softmax are left out. The keys' K/V projections run in every layer whichever
        queries are routed, so they bound the saving: `kv_share` is their fraction of the Q-Former's count and
        `query_saving` the saving on the rest (the query-side work that routing can remove).
        """
        q, k = self.num_queries, self.num_prior_queries
        common = dict(num_queries=q, num_keys=num_keys, dim=self.hidden, key_dim=self.in_dim)
        dense = qformer_layer_macs(active_queries=q, intermediate=self.intermediate, **common)
        routed_queries = q - k + self.guide_keep
        routed = qformer_layer_macs(active_queries=routed_queries, intermediate=self.intermediate, **common)
        router = (k * self.hidden + k * q * self.hidden) if self.guide_keep else 0
        head = q * self.hidden * self.out_dim
        num_routed = len(self.layers) - self.dense_layers
        cat_mod = self.dense_layers * dense + num_routed * (routed + router) + head
        qformer = len(self.layers) * dense + head
        kv = len(self.layers) * 2 * num_keys * self.in_dim * self.hidden
        return {
            "cat_mod": float(cat_mod),
            "qformer": float(qformer),
            "saving": 1.0 - cat_mod / qformer,
            "kv_share": kv / qformer,
            "query_saving": 1.0 - (cat_mod - kv) / (qformer - kv),
        }


# ---------------------------------------------------------------------------------------------------------------
# EGMF: expert-guided multimodal fusion

# (bottleneck fraction of the width, activation): local (Mish), semantic correlation (GELU), global context (SiLU)
EGMF_EXPERTS = ((1 / 8, nn.Mish), (1 / 4, nn.GELU), (1 / 2, nn.SiLU))


class LayerMix(nn.Module):
    """Content-weighted mix of per-layer features: a score per layer from its masked mean, softmax over layers.

    [(b, s, d_in)] x L, mask (b, s) -> (b, s, d_in); works for any number of layers.
    """

    def __init__(self, *, dim: int):
        super().__init__()
        # no bias: one shared offset on every layer's score cancels in the softmax, so it could never learn
        self.score = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 1, bias=False))

    def forward(self, layers: list[torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
        stacked = torch.stack(layers, dim=1)  # (b, L, s, d)
        summaries = torch.stack([masked_mean(x, mask) for x in layers], dim=1)  # (b, L, d)
        weights = torch.softmax(self.score(summaries).float(), dim=1).to(stacked.dtype)  # (b, L, 1)
        return (weights[:, :, :, None] * stacked).sum(1)


class BottleneckExpert(nn.Sequential):
    """`LayerNorm -> Linear(d, r*d) -> activation -> Linear(r*d, d)`."""

    def __init__(self, *, dim: int, ratio: float, activation: type[nn.Module]):
        width = max(1, round(dim * ratio))
        super().__init__(nn.LayerNorm(dim), nn.Linear(dim, width), activation(), nn.Linear(width, dim))


class EGMFFusion(nn.Module):
    """Fusion after EGMF (expert-guided multimodal fusion), same interface as `GatedExpertsFusion`.

    1. Per modality, the fusion layers are mixed with content-based layer weights (`LayerMix`) and projected to
       `dim`: vision (b, t, dim), audio (b, c, dim).
    2. Bidirectional cross-attention: audio clips attend to the frames and frames attend to the clips (pre-norm,
       residual, then an FFN each); masked means give `a` and `v` (b, dim), fused by a linear into `h` (b, dim).
    3. Experts on `h` with bottlenecks of 1/8 (Mish, local detail), 1/4 (GELU, cross-modal correlation) and 1/2
       (SiLU = Swish, global context) of the width; with `num_experts` != 3 the three designs repeat in turn.
    4. Hierarchical gating: a feature-driven gate `g1 = softmax(W1 h)`, refined by a context-aware gate
       `g = softmax(MLP([a, v, h, g1]))`; `E = h + sum_i g_i * expert_i(h)`.
    5. `E` is projected to `num_tokens` pseudo tokens of the LM width.

    Returns tokens (b, num_tokens, d_lm) and the final gate `g` (b, experts), rows summing to 1.
    The default `GatedExpertsFusion` instead runs one audio->vision cross-attention expert per layer pair with a
    single softmax gate; here the layers are mixed first and the experts specialise by bottleneck and activation.
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
        if num_experts < 1:
            raise ValueError(f"num_experts must be >= 1, got {num_experts}")
        self.num_tokens = num_tokens
        self.vision_mix = LayerMix(dim=vision_dim)
        self.audio_mix = LayerMix(dim=audio_dim)
        self.vision_proj = nn.Linear(vision_dim, dim)
        self.audio_proj = nn.Linear(audio_dim, dim)
        self.audio_norm = nn.LayerNorm(dim)
        self.vision_norm = nn.LayerNorm(dim)
        self.audio_to_vision = Attention(dim=dim, num_heads=num_heads)
        self.vision_to_audio = Attention(dim=dim, num_heads=num_heads)
        self.audio_ffn = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.vision_ffn = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.joint = nn.Linear(2 * dim, dim)
        self.experts = nn.ModuleList(
            BottleneckExpert(dim=dim, ratio=ratio, activation=act)
            for ratio, act in (EGMF_EXPERTS[i % len(EGMF_EXPERTS)] for i in range(num_experts))
        )
        self.feature_gate = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, num_experts))
        self.context_gate = nn.Sequential(
            nn.Linear(3 * dim + num_experts, dim), nn.GELU(), nn.Linear(dim, num_experts)
        )
        self.norm = nn.LayerNorm(dim)
        self.proj = nn.Linear(dim, out_dim * num_tokens)

    def forward(
        self,
        vision_layers: list[torch.Tensor],
        vision_mask: torch.Tensor,
        audio_layers: list[torch.Tensor],
        audio_mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """vision_layers [(b, t, d_v)], vision_mask (b, t), audio_layers [(b, c, d_a)], audio_mask (b, c)
        -> tokens (b, num_tokens, d_lm), gate (b, experts)."""
        vision = self.vision_proj(self.vision_mix(vision_layers, vision_mask))
        audio = self.audio_proj(self.audio_mix(audio_layers, audio_mask))
        an, vn = self.audio_norm(audio), self.vision_norm(vision)
        audio = audio + self.audio_to_vision(an, vn, vision_mask)
        vision = vision + self.vision_to_audio(vn, an, audio_mask)
        audio = audio + self.audio_ffn(audio)
        vision = vision + self.vision_ffn(vision)
        a, v = masked_mean(audio, audio_mask), masked_mean(vision, vision_mask)
        h = self.joint(torch.cat([a, v], dim=-1))
        first = torch.softmax(self.feature_gate(h).float(), dim=-1).to(h.dtype)
        logits = self.context_gate(torch.cat([a, v, h, first], dim=-1))
        gate = torch.softmax(logits.float(), dim=-1).to(h.dtype)
        experts = torch.stack([expert(h) for expert in self.experts], dim=1)  # (b, E, dim)
        fused = h + (gate[:, :, None] * experts).sum(1)
        tokens = self.proj(self.norm(fused)).view(fused.shape[0], self.num_tokens, -1)
        return tokens, gate


RELATED_ADAPTERS: dict[str, type[nn.Module]] = {
    "hybrid_compressor": HybridCompressorAdapter,
    "lq_former": LQFormerAdapter,
    "cat_mod": CatMoDAdapter,
}
RELATED_FUSIONS: dict[str, type[nn.Module]] = {"egmf": EGMFFusion}
