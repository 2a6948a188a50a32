"""Cards tell the truth: the model card is rendered from what the folder's weights went through, as every save
records it (`training_history`): untrained, partly trained (which stages), trained, or fine-tuned (from which base,
which modules changed, on what)."""

from __future__ import annotations

import json

import pytest
import torch

from nanoemox.model_cards.render import render_card, training_state
from tests.model_helpers import build_tiny_checkpoint, load_model

UNTRAINED_WARNING = "its answers are meaningless"


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return build_tiny_checkpoint(tmp_path_factory.mktemp("cards"))


def _config(folder) -> dict:
    return json.loads((folder / "config.json").read_text())


def _nudge(module: torch.nn.Module) -> None:
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.01)


def test_a_composed_checkpoint_is_untrained_and_says_so(base):
    config = json.loads(open(f"{base}/config.json").read())
    assert training_state(config)["state"] == "untrained"
    text = str(render_card(base))
    assert "Training state: untrained" in text and UNTRAINED_WARNING in text


def test_saving_without_changes_records_nothing(base, tmp_path):
    load_model(base).save_pretrained(tmp_path / "again")
    assert training_state(_config(tmp_path / "again"))["state"] == "untrained"


def test_changed_weights_make_a_fine_tuned_card_naming_the_base_and_the_modules(base, tmp_path):
    model = load_model(base)
    _nudge(model.model.frame_adapter)
    _nudge(model.model.fusion)
    model.save_pretrained(tmp_path / "tuned")
    config = _config(tmp_path / "tuned")
    state = training_state(config)
    assert state["state"] == "fine-tuned"
    (entry,) = config["training_history"]
    assert entry["from"] == base and entry["changed"] == ["frame_adapter", "fusion"]
    text = str(render_card(tmp_path / "tuned"))
    assert f"fine-tuned from `{base}` (changed: frame adapter, fusion encoder); data not recorded" in text
    assert UNTRAINED_WARNING not in text and "tiny demo-size checkpoint, fine-tuned" in text

    # saving again during the same run (Trainer checkpoints) keeps one entry; a further change is added to it
    _nudge(model.model.audio_adapter)
    model.save_pretrained(tmp_path / "tuned-later")
    (entry,) = _config(tmp_path / "tuned-later")["training_history"]
    assert entry["changed"] == ["audio_adapter", "frame_adapter", "fusion"]

    # and a model loaded from the fine-tuned folder, trained again, adds a second entry from that folder
    again = load_model(str(tmp_path / "tuned"))
    _nudge(again.model.face_adapter)
    again.save_pretrained(tmp_path / "tuned-twice")
    history = _config(tmp_path / "tuned-twice")["training_history"]
    assert [e["from"] for e in history] == [base, str(tmp_path / "tuned")]
    assert history[1]["changed"] == ["face_adapter"]


def test_curriculum_stages_make_partly_trained_then_trained(base, tmp_path):
    model = load_model(base)
    note = {"curriculum": "demo", "of": 2, "data": {"demo": "mer 1.0"}}
    _nudge(model.model.audio_adapter)
    model.save_pretrained(tmp_path / "1", training_note={"stage": "1.1-audio", "index": 1, **note})
    text = str(render_card(tmp_path / "1"))
    assert "partly trained: stage 1 of 2 of the `demo` curriculum (`1.1-audio`)" in text
    assert UNTRAINED_WARNING not in text
    _nudge(model.model.frame_adapter)
    model.save_pretrained(tmp_path / "2", training_note={"stage": "1.2-visual", "index": 2, **note})
    state = training_state(_config(tmp_path / "2"))
    assert state["state"] == "trained"
    assert state["summary"] == "trained with every stage of the `demo` curriculum (`1.1-audio`, `1.2-visual`)"
    text = str(render_card(tmp_path / "2"))
    assert "| 2 | stage `1.2-visual` (2 of 2, curriculum `demo`)" in text and "demo (mer 1.0)" in text


def test_a_checkpoint_without_a_record_is_not_called_untrained(base, tmp_path):
    model = load_model(base)
    del model.config.weights_fingerprint  # as saved by a release before the history was recorded
    model.save_pretrained(tmp_path / "old")
    state = training_state(_config(tmp_path / "old"))
    assert state["state"] == "not recorded" and "did not record its weights" in state["summary"]


def test_the_card_carries_the_evaluation_results_in_the_folder(base, tmp_path):
    model = load_model(base)
    _nudge(model.model.fusion)
    model.save_pretrained(tmp_path / "scored")
    results = {
        "split": "test",
        "datasets": {
            "demo": {"all_modalities": {"mer": {"accuracy": 0.7}}, "without_audio": {"mer": {"accuracy": 0.45}}}
        },
    }
    (tmp_path / "scored" / "eval_results.json").write_text(json.dumps(results))
    text = str(render_card(tmp_path / "scored"))
    assert "| Multimodal emotion recognition (MER) | demo (test) | accuracy | 0.7 |" in text
    assert "demo (without audio) (test) | accuracy | 0.45" in text
    assert 'pip install "pillow>=10" "av>=12" "opencv-python-headless>=4.8,<5"' in text
