"""Smoke tests of the related-system modules (issue 7) at tiny sizes: shapes, masking, gradients, determinism,
Cat-MoD's FLOPs count, the hybrid compressor's gate and EGMF's gate weights."""

from __future__ import annotations

import inspect

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from modeling_nanoemox.modules_nanoemox import GatedExpertsFusion, QFormerAdapter
from modeling_nanoemox.related_nanoemox import (
    RELATED_ADAPTERS,
    RELATED_FUSIONS,
    CatMoDAdapter,
    EGMFFusion,
    HybridCompressorAdapter,
    LQFormerAdapter,
    qformer_alignment_macs,
)

B, G, N, D_IN, D_LM, Q, L = 3, 3, 4, 12, 16, 6, 5
# exactly the keyword arguments NanoEmoXModel passes to an adapter
ADAPTER_KWARGS = dict(
    in_dim=D_IN, out_dim=D_LM, num_queries=Q, hidden=16, num_layers=2, num_heads=2, intermediate=32, num_groups=G
)
FUSION_KWARGS = dict(vision_dim=10, audio_dim=14, dim=16, num_heads=2, num_experts=3, out_dim=D_LM, num_tokens=2)
PRIOR_ADAPTERS = ("lq_former", "cat_mod")


def build(name: str, **extra) -> torch.nn.Module:
    torch.manual_seed(0)
    return RELATED_ADAPTERS[name](**ADAPTER_KWARGS, **extra)


def inputs(seed: int = 0) -> dict[str, torch.Tensor]:
    """Features with partly masked groups, and priors: sample 0 full, sample 1 padded, sample 2 none."""
    g = torch.Generator().manual_seed(seed)
    return {
        "features": torch.randn(B, G, N, D_IN, generator=g),
        "mask": torch.tensor([[True, True, True], [True, False, True], [True, True, False]]),
        "prior_embeds": torch.randn(B, L, D_LM, generator=g),
        "prior_mask": torch.tensor([[True] * L, [False, True, True, False, False], [False] * L]),
    }


def call(module, batch, prior: bool = True):
    if prior and isinstance(module, LQFormerAdapter):
        return module(batch["features"], batch["mask"], batch["prior_embeds"], batch["prior_mask"])
    return module(batch["features"], batch["mask"])


def fusion_inputs(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    t, c = 4, 5
    vision = [torch.randn(B, t, 10, generator=g) for _ in range(3)]
    audio = [torch.randn(B, c, 14, generator=g) for _ in range(3)]
    vision_mask = torch.tensor([[True] * t, [True, True, False, False], [True, False, True, True]])
    audio_mask = torch.tensor([[True] * c, [True, False, True, True, False], [False, True, True, True, True]])
    return vision, vision_mask, audio, audio_mask


def test_registries_and_keyword_only_constructors():
    assert set(RELATED_ADAPTERS) == {"hybrid_compressor", "lq_former", "cat_mod"}
    assert RELATED_FUSIONS == {"egmf": EGMFFusion}
    for cls in [*RELATED_ADAPTERS.values(), EGMFFusion]:
        kinds = {p.kind for name, p in inspect.signature(cls.__init__).parameters.items() if name != "self"}
        assert kinds <= {inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.VAR_KEYWORD}, cls


@pytest.mark.parametrize("name", sorted(RELATED_ADAPTERS))
@pytest.mark.parametrize("prior", [True, False])
def test_adapter_shapes(name, prior):
    out = call(build(name).eval(), inputs(), prior=prior)
    assert out.shape == (B, Q, D_LM)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("mode", ["tokens", "attention"])
@pytest.mark.parametrize("name", PRIOR_ADAPTERS)
def test_prior_modes_and_prior_changes_output(name, mode):
    adapter = build(name, prior_mode=mode).eval()
    batch = inputs()
    with_prior, without = call(adapter, batch), call(adapter, batch, prior=False)
    assert with_prior.shape == without.shape == (B, Q, D_LM)
    assert not torch.allclose(with_prior[0], without[0])  # the prior is used ...
    torch.testing.assert_close(with_prior[2], without[2])  # ... and an empty prior falls back to learned slots


def test_prior_longer_and_shorter_than_slots():
    adapter = build("lq_former", num_prior_queries=4).eval()
    batch = inputs()
    for length in (2, 9):
        out = adapter(batch["features"], batch["mask"], torch.randn(B, length, D_LM), None)
        assert out.shape == (B, Q, D_LM)
    with pytest.raises(ValueError, match="num_prior_queries"):
        build("lq_former", num_prior_queries=Q + 1)


@pytest.mark.parametrize("name", sorted(RELATED_ADAPTERS))
def test_masked_group_does_not_change_output(name):
    adapter = build(name).eval()
    batch = inputs()
    reference = call(adapter, batch)
    perturbed = dict(batch, features=batch["features"].clone())
    perturbed["features"][~batch["mask"]] = 100 * torch.randn(int((~batch["mask"]).sum()), N, D_IN)
    torch.testing.assert_close(call(adapter, perturbed), reference)
    # and a valid group does change it (by noise: a constant shift of every feature is undone by an input LayerNorm)
    perturbed["features"][0, 0] += torch.randn(N, D_IN, generator=torch.Generator().manual_seed(1))
    assert not torch.allclose(call(adapter, perturbed)[0], reference[0])


@pytest.mark.parametrize("name", sorted(RELATED_ADAPTERS))
def test_gradients_reach_every_parameter(name):
    """The batch mixes a full prior, a padded prior and no prior, so every parameter is on some path. By design,
    with priors for every sample the fallback prior slots (`queries[:, :k]`) covered by prior tokens get no
    gradient, and without any prior `prior.*` gets none; Cat-MoD's dropped guides skip cross-attention and FFN
    in the routed layer but every parameter still sees the kept guides and the explorers."""
    adapter = build(name).train()
    batch = inputs()
    out = call(adapter, batch)
    (out * torch.randn_like(out)).sum().backward()
    for pname, param in adapter.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, pname
    if name == "cat_mod":
        assert adapter.queries.grad[0, : adapter.num_guide_queries].abs().sum(-1).gt(0).all()


@pytest.mark.parametrize("name", sorted(RELATED_ADAPTERS))
def test_deterministic_in_eval(name):
    first, second = build(name).eval(), build(name).eval()
    batch = inputs()
    a = call(first, batch)
    torch.testing.assert_close(call(first, batch), a, rtol=0, atol=0)
    torch.testing.assert_close(call(second, batch), a, rtol=0, atol=0)


@pytest.mark.parametrize("name", PRIOR_ADAPTERS)
def test_qformer_weights_load(name):
    """Same weight names as the plain Q-Former: a `qformer` state dict loads, only the new parts missing."""
    torch.manual_seed(0)
    qformer = QFormerAdapter(**ADAPTER_KWARGS)
    result = build(name).load_state_dict(qformer.state_dict(), strict=False)
    assert not result.unexpected_keys
    assert all(k.startswith(("prior.", "routers.")) for k in result.missing_keys)


def test_gradient_checkpointing_matches():
    adapter = build("cat_mod").train()
    batch = inputs()
    plain = call(adapter, batch)
    adapter.gradient_checkpointing = True
    checkpointed = call(adapter, batch)
    torch.testing.assert_close(checkpointed, plain)
    checkpointed.sum().backward()


def test_hybrid_compressor_gate():
    adapter = build("hybrid_compressor").eval()
    assert isinstance(adapter, HybridCompressorAdapter) and adapter.last_gate is None
    captured = {}
    adapter.gate_out.register_forward_hook(lambda m, args, out: captured.update(gate=torch.sigmoid(out)))
    adapter.emotion_expert.register_forward_hook(lambda m, args, out: captured.update(emo=out))
    adapter.general_expert.register_forward_hook(lambda m, args, out: captured.update(gen=out))
    out = call(adapter, inputs())
    assert out.shape == (B, Q, D_LM)
    # per-slot gate in [0, 1], output = G * V_emo + (1 - G) * V_gen
    g = captured["gate"]
    assert g.shape == (B, Q, 1) and ((g >= 0) & (g <= 1)).all()
    torch.testing.assert_close(out, g * captured["emo"] + (1 - g) * captured["gen"])
    # the exposed gate: per-sample mean over valid slots, detached
    gate = adapter.last_gate
    assert gate.shape == (B,) and not gate.requires_grad
    assert ((gate >= 0) & (gate <= 1)).all()
    torch.testing.assert_close(gate[0], g[0].mean())


def test_cat_mod_routes_fewer_queries_through_cross_attention():
    adapter = build("cat_mod", num_guide_queries=4, guide_capacity=0.5).eval()
    seen = []
    for layer in adapter.layers:
        layer.cross_attn.register_forward_hook(lambda m, args, out: seen.append(args[0].shape[1]))
    call(adapter, inputs())
    assert seen == [Q, Q - 4 + 2]  # dense first layer, then 2 explorers + 2 of 4 guides
    kept = adapter.last_routing[1]
    assert kept.shape == (B, 2) and (kept.diff(dim=1) > 0).all() and kept.max() < 4

    # capacity 0: every guide skips the routed layer's cross-attention, and no router is built
    adapter = build("cat_mod", num_guide_queries=4, guide_capacity=0.0).eval()
    seen.clear()
    for layer in adapter.layers:
        layer.cross_attn.register_forward_hook(lambda m, args, out: seen.append(args[0].shape[1]))
    assert call(adapter, inputs()).shape == (B, Q, D_LM)
    assert seen == [Q, Q - 4] and len(adapter.routers) == 0 and adapter.last_routing == {}


def test_cat_mod_flops_saving():
    adapter = build("cat_mod")
    flops = adapter.alignment_flops(G * N)
    plain = qformer_alignment_macs(
        num_queries=Q, num_keys=G * N, in_dim=D_IN, hidden=16, intermediate=32, num_layers=2, out_dim=D_LM
    )
    assert flops["qformer"] == plain
    assert flops["cat_mod"] < flops["qformer"] and 0 < flops["saving"] < flops["query_saving"] < 1

    # check the count against torch's FLOP counter on the linear layers (addmm/mm); add the attention products
    # (inside SDPA, which the counter may or may not see) and the router's similarity matmul from the formula
    def linear_macs(module):
        with FlopCounterMode(display=False) as counter:
            module(torch.randn(1, G, N, D_IN), torch.ones(1, G, dtype=torch.bool))
        ops = counter.get_flop_counts()["Global"]
        return sum(v for op, v in ops.items() if str(op).split(".")[-1] in ("addmm", "mm")) / 2

    h, n, layers = 16, G * N, 2
    k, keep = adapter.num_guide_queries, adapter.guide_keep
    self_products = layers * 2 * Q * Q * h
    torch.manual_seed(0)
    assert linear_macs(QFormerAdapter(**ADAPTER_KWARGS)) + self_products + layers * 2 * Q * n * h == flops["qformer"]
    cross_products = 2 * Q * n * h + 2 * (Q - k + keep) * n * h  # dense first layer, routed second
    router_similarity = k * Q * h
    assert linear_macs(adapter.eval()) + self_products + cross_products + router_similarity == flops["cat_mod"]

    full = CatMoDAdapter(
        in_dim=1024, out_dim=1536, num_queries=32, hidden=768, num_layers=2, num_heads=12, intermediate=3072,
        num_groups=8,
    )  # fmt: skip
    full_flops = full.alignment_flops(8 * 257)
    assert 0 < full_flops["saving"] < full_flops["query_saving"]
    assert full_flops["kv_share"] > 0.5  # at full size the keys' K/V projections dominate


def test_egmf_shapes_gate_masking_gradients_determinism():
    torch.manual_seed(0)
    fusion = EGMFFusion(**FUSION_KWARGS).eval()
    vision, vision_mask, audio, audio_mask = fusion_inputs()
    tokens, gate = fusion(vision, vision_mask, audio, audio_mask)
    assert tokens.shape == (B, 2, D_LM) and gate.shape == (B, 3)
    assert (gate >= 0).all()
    torch.testing.assert_close(gate.sum(-1), torch.ones(B))
    again, _ = fusion(vision, vision_mask, audio, audio_mask)
    torch.testing.assert_close(again, tokens, rtol=0, atol=0)

    # masked frames and clips do not matter
    vision_p = [v.masked_fill(~vision_mask[:, :, None], 50.0) for v in vision]
    audio_p = [a.masked_fill(~audio_mask[:, :, None], -50.0) for a in audio]
    perturbed, perturbed_gate = fusion(vision_p, vision_mask, audio_p, audio_mask)
    torch.testing.assert_close(perturbed, tokens)
    torch.testing.assert_close(perturbed_gate, gate)

    fusion.train()
    tokens, gate = fusion(vision, vision_mask, audio, audio_mask)
    ((tokens * torch.randn_like(tokens)).sum() + (gate * torch.randn_like(gate)).sum()).backward()
    for name, param in fusion.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_egmf_experts_differ_from_default_and_cycle():
    torch.manual_seed(0)
    fusion = EGMFFusion(**dict(FUSION_KWARGS, num_experts=4))
    widths = [expert[1].out_features for expert in fusion.experts]
    assert widths == [2, 4, 8, 2]  # 1/8, 1/4, 1/2 of dim=16, then the cycle restarts
    acts = [type(expert[2]).__name__ for expert in fusion.experts]
    assert acts == ["Mish", "GELU", "SiLU", "Mish"]
    vision, vision_mask, audio, audio_mask = fusion_inputs()
    _, gate = fusion(vision, vision_mask, audio, audio_mask)
    assert gate.shape == (B, 4)
    default = GatedExpertsFusion(**FUSION_KWARGS)
    assert {n for n, _ in default.named_parameters()} != {n for n, _ in EGMFFusion(**FUSION_KWARGS).named_parameters()}
    with pytest.raises(ValueError, match="num_experts"):
        EGMFFusion(**dict(FUSION_KWARGS, num_experts=0))
