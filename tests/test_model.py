"""The model issue: config, branches, placeholders, missing modalities, gradients, generation, remote code."""

from __future__ import annotations

import json
import textwrap

import pytest
import torch
from safetensors.torch import load_file

from nanoemox.compose import dry_run
from nanoemox.compose import main as init_main
from nanoemox.modeling import modeling_nanoemox, modules_nanoemox
from nanoemox.modeling.configuration_nanoemox import (
    AUDIO_ADAPTERS,
    FRAME_ADAPTERS,
    FUSION_MODULES,
    NanoEmoXConfig,
)
from tests.model_helpers import ALL, build_tiny_checkpoint, load_model, make_batch, run_without_package, select

TRAINABLE = ("frame_adapter", "audio_adapter", "face_fusion", "face_adapter", "fusion")
ENCODERS = ("vision_tower", "audio_tower", "face_backbone")


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return build_tiny_checkpoint(tmp_path_factory.mktemp("tiny"))


@pytest.fixture()
def model(ckpt):
    torch.manual_seed(0)
    return load_model(ckpt)


# ---------------------------------------------------------------- config
def test_config_round_trip(ckpt, tmp_path):
    config = NanoEmoXConfig.from_pretrained(ckpt)
    config.save_pretrained(tmp_path)
    again = NanoEmoXConfig.from_pretrained(tmp_path)
    assert again.to_dict() == config.to_dict()
    assert type(again.vision_config).__name__ == "CLIPVisionConfig"
    assert type(again.audio_config).__name__ == "HubertConfig"
    assert type(again.face_config).__name__ == "SwinConfig"
    assert type(again.text_config).__name__ == "Qwen2Config"
    assert again.face_config.out_features == ["stage1", "stage2", "stage3"]


def test_full_size_defaults_match_the_paper():
    config = NanoEmoXConfig()
    assert (config.num_frames, config.num_audio_clips, config.audio_clip_seconds) == (8, 8, 2.0)
    assert config.media_tokens_per_clip == 32 + 32 + 4 + 1 == 69
    assert config.fusion_vision_layers == [12, 16, 22] and config.fusion_audio_layers == [16, 18, 22]
    assert (config.fusion_hidden_size, config.fusion_num_heads, config.fusion_num_experts) == (512, 8, 3)
    assert config.text_config.hidden_size == 1536 and config.vision_config.hidden_size == 1024
    assert config.face_feature_size == 256 and config.face_num_heads == 4


@pytest.mark.parametrize(
    "field, value",
    [
        ("num_frames", 0),
        ("num_frame_tokens", -1),
        ("frame_adapter", "resampler"),
        ("fusion", "concat"),
        ("fusion_vision_layers", [12, 16]),
        ("fusion_audio_layers", [16, 18, 40]),
        ("vision_feature_layer", 99),
        ("adapter_hidden_size", 770),
        ("audio_clip_seconds", 0.0),
        ("audio_pool_layers", 30),
    ],
)
def test_config_rejects_bad_values_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        NanoEmoXConfig(**{field: value})


def test_config_rejects_clashing_placeholder_ids():
    with pytest.raises(ValueError, match="distinct"):
        NanoEmoXConfig(frame_token_id=5, audio_token_id=5)


def test_registries_match_config_names():
    assert set(FRAME_ADAPTERS) == set(AUDIO_ADAPTERS) == set(modeling_nanoemox.ADAPTER_CLASSES)
    assert set(FUSION_MODULES) == set(modeling_nanoemox.FUSION_CLASSES)
    assert set(modules_nanoemox.ADAPTERS) < set(FRAME_ADAPTERS)


def test_full_dry_run_is_about_2_2b(capsys):
    counts = dry_run()
    assert 2.0e9 <= counts["total"] <= 2.4e9
    assert counts["language model (Qwen2)"] > 1.4e9 and counts["frame encoder (CLIP)"] > 3.0e8
    assert init_main(["--preset", "full", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "fusion encoder" in out and json.loads(out.strip().splitlines()[-1])["total_parameters"] == counts["total"]


# ---------------------------------------------------------------- composing from components
def test_init_loads_the_pretrained_components(ckpt):
    from pathlib import Path

    components = Path(ckpt).parent / "components"
    weights = load_file(Path(ckpt) / "model.safetensors")
    vision = load_file(components / "vision" / "model.safetensors")
    key = next(k for k in vision if k.endswith("encoder.layers.0.self_attn.q_proj.weight"))
    assert torch.equal(weights[f"model.vision_tower.{key}"], vision[key])
    lm = load_file(components / "lm" / "model.safetensors")
    assert torch.equal(
        weights["model.language_model.layers.1.mlp.up_proj.weight"], lm["model.layers.1.mlp.up_proj.weight"]
    )
    config = json.loads((Path(ckpt) / "config.json").read_text())
    assert config["auto_map"]["AutoModelForCausalLM"] == "modeling_nanoemox.NanoEmoXForConditionalGeneration"
    for name in ("modeling_nanoemox.py", "configuration_nanoemox.py", "modules_nanoemox.py"):
        assert (Path(ckpt) / name).exists()


def test_init_cli_tiny(tmp_path):
    assert init_main(["--preset", "tiny", "--output", str(tmp_path / "c"), "--adapter", "mlp"]) == 0
    config = NanoEmoXConfig.from_pretrained(tmp_path / "c")
    assert config.frame_adapter == config.audio_adapter == "mlp"


# ---------------------------------------------------------------- branches and placeholders
def test_branch_shapes(model):
    config = model.config
    batch = make_batch(config, [ALL, ALL])
    media = {k: v for k, v in batch.items() if k not in ("input_ids", "attention_mask")}
    tokens, present, gate = model.model.get_media_features(batch_size=2, **media)
    d = config.text_config.hidden_size
    assert tokens["frame"].shape == (2, config.num_frame_tokens, d)
    assert tokens["audio"].shape == (2, config.num_audio_tokens, d)
    assert tokens["face"].shape == (2, config.num_face_tokens, d)
    assert tokens["fusion"].shape == (2, config.num_fusion_tokens, d)
    assert gate.shape == (2, config.fusion_num_experts)
    torch.testing.assert_close(gate.sum(-1), torch.ones(2))
    assert all(p.all() for p in present.values())


def test_placeholder_count_mismatch_is_a_clear_error(model):
    batch = make_batch(model.config, [ALL, ALL])
    ids = batch["input_ids"].clone()
    first = (ids[1] == model.config.audio_token_id).nonzero()[0, 0]
    ids[1, first] = 5  # one audio placeholder fewer in sample 1
    with pytest.raises(ValueError, match=r"<\|audio_pad\|>.*sample 1: 7 found, 8 expected"):
        model(**{**batch, "input_ids": ids})
    text_only = make_batch(model.config, [{}])
    with pytest.raises(ValueError, match="frame_pad"):  # media given, but no placeholders in the text
        model(**{**text_only, "pixel_values_videos": torch.zeros(1, 8, 3, 64, 64)})


def test_mixed_modalities_in_one_batch(model):
    samples = [ALL, {"frame": True, "face": True}, {"audio": True}, {}, {"frame": True, "audio": True}]
    batch = make_batch(model.config, samples)
    with torch.no_grad():
        out = model(**batch)
    expected = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0], [1, 0, 1, 1]], dtype=torch.bool)
    assert torch.equal(out.media_mask, expected)
    assert torch.all(out.fusion_gate_weights[[1, 2, 3]] == 0)
    torch.testing.assert_close(out.fusion_gate_weights[[0, 4]].sum(-1), torch.ones(2))
    assert torch.isfinite(out.logits).all()
    # no garbage: each sample's logits are what it gets alone (padding and neighbours change nothing)
    for i in range(len(samples)):
        with torch.no_grad():
            alone = model(**select(batch, i)).logits[0]
        keep = batch["attention_mask"][i].bool()
        torch.testing.assert_close(out.logits[i, keep], alone, atol=1e-4, rtol=1e-4)


def test_partly_masked_frames_and_clips(model):
    batch = make_batch(model.config, [ALL])
    batch["frame_mask"][0, 5:] = False
    batch["audio_mask"][0, 3:] = False
    batch["face_mask"][0, ::2] = False
    with torch.no_grad():
        out = model(**batch)
        changed = dict(batch)
        changed["pixel_values_videos"] = batch["pixel_values_videos"].clone()
        changed["pixel_values_videos"][0, 6] += 5.0  # a masked frame must not matter
        changed["input_values"] = batch["input_values"].clone()
        changed["input_values"][0, 4] += 5.0  # nor a masked clip
        again = model(**changed)
    torch.testing.assert_close(out.logits, again.logits)


# ---------------------------------------------------------------- training behaviour
def test_gradients_reach_every_trainable_module(model):
    model.train()
    batch = make_batch(model.config, [ALL, {"frame": True, "audio": True}])
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    out = model(**batch, labels=labels)
    out.loss.backward()
    for name in TRAINABLE + ENCODERS + ("language_model",):
        grads = [p.grad for p in getattr(model.model, name).parameters() if p.requires_grad]
        assert any(g is not None and g.abs().sum() > 0 for g in grads), name
    for name in TRAINABLE:
        missing = [n for n, p in getattr(model.model, name).named_parameters() if p.grad is None]
        assert not missing, (name, missing[:3])


def test_gradient_checkpointing_gives_the_same_loss_and_grads(ckpt):
    batch = make_batch(NanoEmoXConfig.from_pretrained(ckpt), [ALL, {"audio": True}])
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    results = []
    for checkpointing in (False, True):
        model = load_model(ckpt)
        model.train()
        # take randomness out of training mode (dropout, HuBERT's layer drop and time masking) so the
        # comparison is exact; checkpointing itself must not change the math
        for module in model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
        model.model.audio_tower.config.layerdrop = 0.0
        model.model.audio_tower.config.mask_time_prob = 0.0
        if checkpointing:
            model.activation_checkpointing_enable()
            assert model.model.language_model.layers[0].gradient_checkpointing
        loss = model(**batch, labels=labels).loss
        loss.backward()
        grad = model.model.frame_adapter.queries.grad.clone()
        results.append((loss.detach(), grad))
    torch.testing.assert_close(results[0][0], results[1][0])
    torch.testing.assert_close(results[0][1], results[1][1])


# ---------------------------------------------------------------- generation
def _greedy(model, batch, steps):
    ids, mask = batch["input_ids"], batch["attention_mask"]
    media = {k: v for k, v in batch.items() if k not in ("input_ids", "attention_mask")}
    for _ in range(steps):
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask, use_cache=False, **media).logits[:, -1]
        nxt = logits.argmax(-1, keepdim=True)
        ids = torch.cat([ids, nxt], dim=1)
        mask = torch.cat([mask, torch.ones_like(nxt)], dim=1)
    return ids


@pytest.mark.parametrize("samples", [[ALL, {"audio": True}], [{}, {}]], ids=["media", "text-only"])
def test_generate_equals_a_manual_greedy_loop(model, samples):
    batch = make_batch(model.config, samples)
    expected = _greedy(model, batch, steps=6)
    out = model.generate(**batch, max_new_tokens=6, do_sample=False, min_new_tokens=6, eos_token_id=None)
    assert torch.equal(out, expected)


def test_decode_steps_never_run_an_encoder(model):
    calls = {name: 0 for name in ENCODERS + TRAINABLE}

    def counter(name):
        def hook(*_):
            calls[name] += 1

        return hook

    for name in calls:
        getattr(model.model, name).register_forward_hook(counter(name))
    batch = make_batch(model.config, [ALL, ALL])
    model.generate(**batch, max_new_tokens=8, min_new_tokens=8, do_sample=False, eos_token_id=None)
    assert calls == {name: 1 for name in calls}


def test_generation_defaults_follow_the_paper(ckpt):
    model = load_model(ckpt)
    gen = model.generation_config
    assert (gen.do_sample, gen.top_p, gen.temperature, gen.max_new_tokens) == (True, 0.9, 1.0, 1200)


# ---------------------------------------------------------------- loading
def test_dtype_and_attention_implementations(ckpt):
    batch = make_batch(NanoEmoXConfig.from_pretrained(ckpt), [ALL])
    eager = load_model(ckpt, attn_implementation="eager")
    sdpa = load_model(ckpt, attn_implementation="sdpa")
    assert sdpa.config.text_config._attn_implementation == "sdpa"
    with torch.no_grad():
        torch.testing.assert_close(eager(**batch).logits, sdpa(**batch).logits, atol=1e-4, rtol=1e-4)
    bf16 = load_model(ckpt, dtype=torch.bfloat16)
    assert bf16.model.vision_tower.dtype == torch.bfloat16 and bf16.model.fusion.proj.weight.dtype == torch.bfloat16
    with torch.no_grad():
        out = bf16(**batch)
    assert out.logits.dtype == torch.bfloat16 and torch.isfinite(out.logits.float()).all()


REMOTE_SCRIPT = textwrap.dedent(
    """
    import sys
    import torch
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForImageTextToText
    folder, batch_file, out_file = sys.argv[1:4]
    batch = torch.load(batch_file)
    config = AutoConfig.from_pretrained(folder, trust_remote_code=True)
    out = {"config": type(config).__name__}
    with torch.no_grad():
        for name, cls in (("causal", AutoModelForCausalLM), ("itt", AutoModelForImageTextToText)):
            out[name] = cls.from_pretrained(folder, trust_remote_code=True).eval()(**batch).logits
        out["base"] = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()(**batch).last_hidden_state
    try:
        import nanoemox  # noqa: F401
        out["blocked"] = False
    except ImportError:
        out["blocked"] = True
    torch.save(out, out_file)
    """
)


def test_remote_code_load_with_the_package_blocked(ckpt, tmp_path):
    model = load_model(ckpt)
    batch = make_batch(model.config, [ALL, {"audio": True}, {}])
    with torch.no_grad():
        expected = model(**batch)
    torch.save(batch, tmp_path / "batch.pt")
    run_without_package(REMOTE_SCRIPT, ckpt, tmp_path / "batch.pt", tmp_path / "out.pt", folder=tmp_path)
    out = torch.load(tmp_path / "out.pt")
    assert out["blocked"] and out["config"] == "NanoEmoXConfig"
    assert torch.equal(out["causal"], expected.logits)
    assert torch.equal(out["itt"], expected.logits)
    with torch.no_grad():
        base = model.model(**batch).last_hidden_state
    assert torch.equal(out["base"], base)
