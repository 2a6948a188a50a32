"""The related systems' modules selected by name: built by `nanoemox init`, trained, saved, reloaded as remote code."""

from __future__ import annotations

import pytest
import torch

from nanoemox.compose import compose_checkpoint
from nanoemox.modeling.modeling_nanoemox import NanoEmoXForConditionalGeneration
from nanoemox.tiny.components import save_tiny_components
from nanoemox.tiny.configs import TINY_ARCH
from tests.model_helpers import ALL, make_batch, run_without_package
from tests.test_model import REMOTE_SCRIPT

VARIANTS = [
    {"frame_adapter": "hybrid_compressor", "audio_adapter": "hybrid_compressor"},
    {"frame_adapter": "lq_former", "audio_adapter": "lq_former"},
    {"frame_adapter": "cat_mod", "audio_adapter": "cat_mod"},
    {"frame_adapter": "mlp", "audio_adapter": "mlp", "fusion": "egmf"},
]


@pytest.fixture(scope="module")
def components(tmp_path_factory):
    return save_tiny_components(tmp_path_factory.mktemp("components"))


def _with_priors(batch, vocab: int, length: int = 5):
    b = batch["input_ids"].shape[0]
    ids = torch.randint(3, vocab, (b, length), generator=torch.Generator().manual_seed(1))
    mask = torch.ones(b, length, dtype=torch.bool)
    mask[1:, 3:] = False  # a shorter prior in the other rows
    return {**batch, "prior_input_ids": ids, "prior_mask": mask}


@pytest.mark.parametrize("arch", VARIANTS, ids=lambda a: "+".join(sorted(set(a.values()))))
def test_module_trains_saves_and_reloads(components, tmp_path, arch):
    folder = tmp_path / "ckpt"
    model = compose_checkpoint(folder, **components, arch={**TINY_ARCH, **arch})
    assert type(model.model.frame_adapter).__name__ != "QFormerAdapter"
    config = model.config
    batch = _with_priors(make_batch(config, [ALL, {"frame": True, "audio": True}, {"audio": True}]), 200)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    model.train()
    out = model(**batch, labels=labels)
    out.loss.backward()
    for name in ("frame_adapter", "audio_adapter", "fusion"):
        grads = [p.grad for p in getattr(model.model, name).parameters() if p.requires_grad]
        assert any(g is not None and g.abs().sum() > 0 for g in grads), name
    assert out.fusion_gate_weights.shape[0] == 3
    torch.testing.assert_close(out.fusion_gate_weights[:2].sum(-1), torch.ones(2))
    if arch["frame_adapter"] == "hybrid_compressor":
        gate = model.model.frame_adapter.last_gate
        assert gate.shape == (2,) and ((gate >= 0) & (gate <= 1)).all()
    if arch["frame_adapter"] in ("lq_former", "cat_mod"):  # the language prior reaches the queries
        model.eval()
        with torch.no_grad():
            with_prior = model(**batch).logits
            without = model(**{k: v for k, v in batch.items() if not k.startswith("prior_")}).logits
        assert not torch.allclose(with_prior, without)
    # save -> reload -> identical logits (as remote code with the package blocked, for one variant: every
    # checkpoint carries the same files, related_nanoemox.py included)
    model.eval()
    with torch.no_grad():
        trained = model(**batch).logits
    model.save_pretrained(folder)
    reloaded = NanoEmoXForConditionalGeneration.from_pretrained(folder).eval()
    with torch.no_grad():
        expected = reloaded(**batch).logits
    assert torch.equal(trained, expected)
    if arch["frame_adapter"] != "cat_mod":
        return
    torch.save(batch, tmp_path / "batch.pt")
    run_without_package(REMOTE_SCRIPT, folder, tmp_path / "batch.pt", tmp_path / "o.pt", folder=tmp_path)
    remote = torch.load(tmp_path / "o.pt")
    assert remote["blocked"] and torch.equal(remote["causal"], expected)


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory):
    from nanoemox.processing.demo_corpus import generate_demo_corpus

    folder = tmp_path_factory.mktemp("demo") / "data"
    generate_demo_corpus(folder, num_clips=12, seed=0, progress=False)
    return folder


@pytest.mark.slow  # an end-to-end run: the second CI step (pytest -m slow)
@pytest.mark.parametrize("adapter", ["lq_former", "cat_mod"])
def test_tiny_curriculum_with_the_module(demo_data, tmp_path, adapter):
    """The module goes through `nanoemox train` end to end: an adapter stage, a LoRA stage, held-out scoring."""
    import json

    from safetensors.torch import load_file

    from nanoemox.train.cli import main as train_main

    stage = {"data": ["demo"], "steps_per_epoch": 2, "batch_size": 2, "learning_rate": 1e-2, "save_steps": 2}
    config = {
        "model": {"init": {"preset": "tiny", "arch": {"frame_adapter": adapter, "audio_adapter": adapter}}},
        "datasets": {"demo": {"path": str(demo_data)}},
        "output_dir": str(tmp_path / "run"),
        "stages": [
            {**stage, "name": "align", "mixture": {"mer": 1}, "trainable": ["frame_adapter", "audio_adapter"]},
            {**stage, "name": "tune", "mixture": {"mer": 1, "mir": 1}, "trainable": ["fusion", "lora"]},
        ],
        "evaluation": {"tasks": ["mer", "mir"], "max_new_tokens": 3, "max_samples": 2},
    }
    (tmp_path / "c.yaml").write_text(json.dumps(config))
    assert train_main(["--config", str(tmp_path / "c.yaml")]) == 0
    run = tmp_path / "run"
    final = json.loads((run / "2-tune" / "final" / "config.json").read_text())
    assert final["frame_adapter"] == final["audio_adapter"] == adapter
    before = load_file(run / "0-init" / "model.safetensors")
    after = load_file(run / "1-align" / "final" / "model.safetensors")
    changed = {k.split(".")[1] for k in after if not torch.equal(after[k], before[k])}
    assert changed == {"frame_adapter", "audio_adapter"}
    results = json.loads((run / "eval_results.json").read_text())["datasets"]["demo"]["all_modalities"]
    assert results["mer"]["n_samples"] == 2 and results["mir"]["n_samples"] == 2
