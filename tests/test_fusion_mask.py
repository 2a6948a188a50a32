"""Fusion-only masking: `drop_modalities=("fusion",)` removes exactly the fusion token (frames and audio stay), and the
model honours it through `fusion_mask`, row by row."""

from __future__ import annotations

import pytest
import torch

from nanoemox.modeling.configuration_nanoemox import PLACEHOLDER_TOKENS
from nanoemox.modeling.processing_nanoemox import NanoEmoXProcessor
from tests.model_helpers import build_tiny_checkpoint, load_model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = build_tiny_checkpoint(tmp_path_factory.mktemp("fusion-mask"))
    return load_model(folder), NanoEmoXProcessor.from_pretrained(folder, trust_remote_code=True)


def _counts(processor, ids: torch.Tensor) -> dict[str, int]:
    return {b: int((ids == processor.tokenizer.convert_tokens_to_ids(t)).sum()) for b, t in PLACEHOLDER_TOKENS.items()}


def test_dropping_the_fusion_removes_exactly_its_token(tiny, speech_media):
    model, processor = tiny
    row = {"video": str(speech_media["talking"]), "task": "mer", "subtitle": "what a day"}
    full = processor.prepare([row]).inputs
    masked = processor.prepare([row], drop_modalities=("fusion",)).inputs
    fusion_id = model.config.fusion_token_id
    assert torch.equal(full["input_ids"][full["input_ids"] != fusion_id], masked["input_ids"][0])
    before, after = _counts(processor, full["input_ids"]), _counts(processor, masked["input_ids"])
    assert after == {**before, "fusion": 0} and before["fusion"] == model.config.num_fusion_tokens
    for key in ("pixel_values_videos", "face_pixel_values", "input_values"):  # the media stay as they were
        assert torch.equal(full[key], masked[key])
    assert "fusion_mask" not in full and masked["fusion_mask"].tolist() == [False]
    with torch.no_grad():
        out = model(**masked)
    assert out.media_mask.tolist() == [[True, True, True, False]]
    assert out.fusion_gate_weights.abs().sum() == 0


def test_dropping_the_frames_or_audio_still_drops_the_fusion_without_a_mask(tiny, speech_media):
    _, processor = tiny
    row = {"video": str(speech_media["talking"]), "task": "mer"}
    for branch in ("frame", "audio"):
        inputs = processor.prepare([row], drop_modalities=(branch,)).inputs
        counts = _counts(processor, inputs["input_ids"])
        assert counts["fusion"] == 0 and counts[branch] == 0 and "fusion_mask" not in inputs


def test_fusion_mask_is_per_row(tiny, speech_media):
    """A batch where one row dropped its fusion token: the other row is answered as it would be alone."""
    model, processor = tiny
    row = {"video": str(speech_media["talking"]), "task": "mer"}
    kept = processor.prepare_row(row, 0)
    dropped = processor.prepare_row(row, 1, drop_modalities=("fusion",))
    batch = processor.collate([kept, dropped])
    assert batch["fusion_mask"].tolist() == [True, False]
    alone = {"kept": processor.collate([kept]), "dropped": processor.collate([dropped])}
    with torch.no_grad():
        out = model(**batch)
        singles = {name: model(**inputs).logits[0, -1] for name, inputs in alone.items()}
    assert out.media_mask[:, 3].tolist() == [True, False]
    assert torch.allclose(out.logits[0, -1], singles["kept"], atol=1e-4)
    assert torch.allclose(out.logits[1, -1], singles["dropped"], atol=1e-4)
    assert not torch.allclose(singles["kept"], singles["dropped"], atol=1e-4)


def test_unknown_branch_names_the_choices(tiny):
    _, processor = tiny
    with pytest.raises(ValueError, match=r"unknown branches \['voice'\]; use frame, face, audio, fusion"):
        processor.prepare([{"subtitle": "hi", "task": "mer"}], drop_modalities=("voice",))
