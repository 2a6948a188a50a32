"""The demo's pre-trained tiny components are made once per settings and reused from the cache afterwards."""

from __future__ import annotations

import os

import pytest
import torch

from nanoemox.tiny import cache as tiny_cache
from nanoemox.tiny import components


@pytest.fixture
def pretraining(monkeypatch, tmp_path):
    """The cache under tmp_path, and the LM pre-training replaced by a counter that still moves the weights and
    draws from torch's RNG (as the real one does)."""
    monkeypatch.setenv("NANOEMOX_CACHE", str(tmp_path / "cache"))
    calls = []

    def pretrain(lm, tokenizer, *, steps, seed=0):
        calls.append((steps, seed))
        with torch.no_grad():
            for p in lm.parameters():
                p.add_(torch.randn_like(p))
        return 0.0

    monkeypatch.setattr(components, "pretrain_tiny_lm", pretrain)
    return calls


def _weights(folder) -> bytes:
    return (folder / "lm" / "model.safetensors").read_bytes()


def test_same_settings_pretrain_once_and_give_the_same_components(pretraining, tmp_path):
    first = components.save_tiny_components(tmp_path / "a", lm_pretrain_steps=3)
    drawn_after_first = torch.rand(4)
    second = components.save_tiny_components(tmp_path / "b", lm_pretrain_steps=3)
    drawn_after_second = torch.rand(4)
    assert pretraining == [(3, 0)]  # the second call came from the cache
    assert first == {name: str(tmp_path / "a" / name) for name in components.COMPONENTS}
    for name in components.COMPONENTS:
        assert (tmp_path / "b" / name / "config.json").exists()
    assert _weights(tmp_path / "a") == _weights(tmp_path / "b")
    assert (tmp_path / "b" / "lm" / "tokenizer.json").exists() and second["lm"] == str(tmp_path / "b" / "lm")
    # torch's RNG is left where making the components leaves it: what the caller draws next does not depend on the
    # cache (compose_checkpoint draws the placeholder embeddings from it)
    torch.testing.assert_close(drawn_after_first, drawn_after_second)


@pytest.mark.parametrize(
    "change", [{"seed": 1}, {"lm_pretrain_steps": 4}, {"lm": {"hidden_size": 64}}, {"encoder_pretrain_steps": 0}]
)
def test_different_settings_do_not_share(pretraining, tmp_path, change, monkeypatch):
    monkeypatch.setattr(components, "pretrain_face_backbone", lambda *a, **k: 0.0)
    monkeypatch.setattr(components, "pretrain_speech_encoder", lambda *a, **k: 0.0)
    base = {"seed": 0, "lm_pretrain_steps": 3, "encoder_pretrain_steps": 1}
    components.save_tiny_components(tmp_path / "a", **base)
    components.save_tiny_components(tmp_path / "b", **{**base, **change})
    assert len(pretraining) == 2
    assert len(list((tmp_path / "cache" / "tiny-components").iterdir())) == 2


def test_a_change_of_code_is_a_new_entry(pretraining, tmp_path, monkeypatch):
    components.save_tiny_components(tmp_path / "a", lm_pretrain_steps=3)
    version = components.code_version()
    monkeypatch.setattr(components, "code_version", lambda: {**version, "source_sha256": "edited"})
    components.save_tiny_components(tmp_path / "b", lm_pretrain_steps=3)
    assert len(pretraining) == 2


def test_random_components_are_not_cached(pretraining, tmp_path):
    paths = components.save_tiny_components(tmp_path / "a")
    assert pretraining == [] and os.path.isdir(paths["lm"])
    assert not (tmp_path / "cache").exists()


def test_an_interrupted_run_leaves_no_entry(pretraining, tmp_path, monkeypatch):
    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(components, "pretrain_tiny_lm", killed)
    with pytest.raises(KeyboardInterrupt):
        components.save_tiny_components(tmp_path / "a", lm_pretrain_steps=3)
    root = tmp_path / "cache" / "tiny-components"
    assert list(root.iterdir()) == []  # neither an entry nor the partial folder


def test_a_partial_folder_of_a_dead_run_is_ignored_and_removed(pretraining, tmp_path):
    settings_entry = {}

    def make(folder):
        settings_entry["made"] = True
        (folder / "x").write_text("complete")

    root = tmp_path / "cache" / "kind"
    key = tiny_cache.settings_key({"a": 1})
    root.mkdir(parents=True)
    dead = root / f".{key}.999999999.partial"  # no such process
    dead.mkdir()
    (dead / "x").write_text("half")
    entry = tiny_cache.cached_folder("kind", {"a": 1}, make)
    assert settings_entry == {"made": True} and (entry / "x").read_text() == "complete"
    assert not dead.exists() and entry == root / key
    assert sorted(p.name for p in root.iterdir()) == [key]


def test_cache_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("NANOEMOX_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert tiny_cache.cache_root() == tmp_path / "xdg" / "nanoemox"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert tiny_cache.cache_root() == tmp_path / "home" / ".cache" / "nanoemox"
    monkeypatch.setenv("NANOEMOX_CACHE", str(tmp_path / "mine"))
    assert tiny_cache.cache_root() == tmp_path / "mine"
