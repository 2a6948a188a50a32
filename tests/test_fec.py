"""Emotion-Qwen's facial emotion capture (FEC): the most expressive frames, masked to the face, appended to the frames.

Real footage: the talking astronaut clip (a real face) and the coffee-cup clip (no face), built by `tests/media.py`.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
import torch

from nanoemox.compose import main as init_main
from nanoemox.modeling import configuration_nanoemox, faces_nanoemox
from nanoemox.modeling.configuration_nanoemox import NanoEmoXConfig
from nanoemox.modeling.faces_nanoemox import (
    Box,
    capture_key_frames,
    detect_faces,
    face_region,
    score_expression_energy,
    score_haar_smile,
    select_face_track,
    select_key_frames,
    track_face,
)
from nanoemox.modeling.processing_nanoemox import NanoEmoXProcessor
from nanoemox.modeling.video_nanoemox import load_video_frames
from tests.media import talking_face_box
from tests.model_helpers import build_tiny_checkpoint, load_model, run_without_package

K = 2


@pytest.fixture(scope="module")
def fec_ckpt(tmp_path_factory):
    """A tiny checkpoint written by `nanoemox init --preset tiny --fec-key-frames 2`."""
    folder = tmp_path_factory.mktemp("fec") / "ckpt"
    assert init_main(["--preset", "tiny", "--output", str(folder), "--fec-key-frames", str(K)]) == 0
    return str(folder)


@pytest.fixture(scope="module")
def base_ckpt(tmp_path_factory):
    return build_tiny_checkpoint(tmp_path_factory.mktemp("fec-base"))


@pytest.fixture(scope="module")
def processor(fec_ckpt):
    return NanoEmoXProcessor.from_pretrained(fec_ckpt, trust_remote_code=True)


def _inputs(processor, video):
    messages = processor.build_messages("mer", video=video, subtitle="I am so happy to be here")
    return processor.apply_chat_template(messages, tokenize=True)


def _fill_value(processor) -> torch.Tensor:
    """The processed value of a frame made entirely of the FEC fill colour (the image processor's mean)."""
    fill = [round(255 * m) for m in processor.image_processor.image_mean]
    plain = np.broadcast_to(np.asarray(fill, dtype=np.uint8), (320, 320, 3)).copy()
    return processor.image_processor(images=[plain], return_tensors="pt")["pixel_values"][0]


def test_key_frames_on_the_talking_clip(processor, speech_media):
    video = str(speech_media["talking"])
    t = processor.num_frames
    assert processor.num_key_frames == K and processor.fec_scorer == "haar_smile"

    # the chosen frames: the K best smile scores over the faces of the sampled frames, in temporal order
    frames = load_video_frames(video, t)
    boxes = track_face(frames.frames)  # the processor's face track
    scores = score_haar_smile(frames.frames, boxes)
    assert np.isfinite(scores).sum() >= t - 1  # the face is found in (nearly) every frame
    best = sorted(np.flatnonzero(np.isfinite(scores)), key=lambda i: (-scores[i], i))[:K]
    media = processor.load_media(video)
    keys = media.key_frames
    assert keys.indices.tolist() == sorted(best)
    assert np.all(np.diff(keys.indices) > 0)
    np.testing.assert_array_equal(keys.scores, scores)

    fill = np.asarray([round(255 * m) for m in processor.image_processor.image_mean], dtype=np.uint8)
    for frame, index, (x0, y0, x1, y1) in zip(keys.frames, keys.indices, keys.regions):
        # the region holds the astronaut's real face, where the test footage put it
        fx0, fy0, fx1, fy1 = talking_face_box(speech_media["talking"].parent, frames.timestamps[index])
        assert x0 <= fx0 + 8 and y0 <= fy0 + 8 and x1 >= fx1 - 8 and y1 >= fy1 - 8
        assert (x1 - x0) * (y1 - y0) < 0.5 * frame.shape[0] * frame.shape[1]
        # inside: the frame itself; outside: only the fill colour
        np.testing.assert_array_equal(frame[y0:y1, x0:x1], frames.frames[index][y0:y1, x0:x1])
        outside = np.ones(frame.shape[:2], dtype=bool)
        outside[y0:y1, x0:x1] = False
        assert (frame[outside] == fill).all()

    inputs = _inputs(processor, video)
    pixels, mask = inputs["pixel_values_videos"], inputs["frame_mask"]
    assert pixels.shape == (1, t + K, 3, 64, 64)
    assert mask.tolist() == [[True] * (t + K)]
    # the appended frames are the masked key frames, processed like every frame
    expected = processor.image_processor(images=list(keys.frames), return_tensors="pt")["pixel_values"]
    assert torch.equal(pixels[0, t:], expected)
    # far from the face (2+ processed pixels past the region: beyond the resampling kernel) pixels equal the fill
    scale = 64 / frames.frames.shape[2]
    for slot, (x0, y0, x1, y1) in enumerate(keys.regions):
        far = torch.ones(64, 64, dtype=torch.bool)
        top, left = max(int(y0 * scale) - 3, 0), max(int(x0 * scale) - 3, 0)
        far[top : int(y1 * scale) + 4, left : int(x1 * scale) + 4] = False
        value = pixels[0, t + slot]
        assert far.sum() > 1000 and torch.equal(value[:, far], _fill_value(processor)[:, far])
        assert value[:, ~far].abs().sum() > 0
    # the regular frames and the placeholder count are those of FEC off
    plain = processor.image_processor(images=list(frames.frames), return_tensors="pt")["pixel_values"]
    assert torch.equal(pixels[0, :t], plain)
    frame_token = processor.tokenizer.convert_tokens_to_ids("<|frame_pad|>")
    assert int((inputs["input_ids"] == frame_token).sum()) == processor.num_frame_tokens


def test_no_face_adds_no_key_frames(processor, real_media, caplog):
    video = str(real_media["no_face"])
    t = processor.num_frames
    media = processor.load_media(video)
    assert len(media.key_frames) == 0 and np.isneginf(media.key_frames.scores).all()
    inputs = _inputs(processor, video)
    assert inputs["pixel_values_videos"].shape[1] == t + K
    assert inputs["frame_mask"][0, :t].all() and not inputs["frame_mask"][0, t:].any()
    assert not inputs["pixel_values_videos"][0, t:].any()


def test_drop_frame_drops_key_frames_too(processor, speech_media):
    media = processor.load_media(str(speech_media["talking"]), drop=frozenset({"frame"}))
    assert media.frames is None and media.key_frames is None and media.faces is not None


def test_key_frame_selection_rules():
    # highest first, ties to the earlier frame, frames without a face never, output in temporal order
    scores = np.array([1.0, 3.0, -np.inf, 3.0, 2.0, 3.0])
    assert select_key_frames(scores, 2).tolist() == [1, 3]
    assert select_key_frames(scores, 4).tolist() == [1, 3, 4, 5]
    assert select_key_frames(np.full(4, -np.inf), 2).tolist() == []
    assert select_key_frames(np.array([0.5, -np.inf, 0.5]), 5).tolist() == [0, 2]


def test_capture_with_any_scorer_and_fill():
    frames = np.full((4, 40, 60, 3), 200, dtype=np.uint8)
    boxes = [Box(10, 5, 30, 25), None, [20, 10, 40, 30], Box(0, 0, 20, 20)]
    keys = capture_key_frames(frames, boxes, 2, scorer=lambda f, b: np.array([6.0, 9.0, 5.0, 5.0]), fill=(1, 2, 3))
    assert keys.indices.tolist() == [0, 2]  # frame 1 scores highest but has no face; 2 ties 3: the earlier
    assert keys.regions[0] == face_region(Box(10, 5, 30, 25), (40, 60)) == (5, 0, 35, 30)
    x0, y0, x1, y1 = keys.regions[1]
    assert (keys.frames[1, y0:y1, x0:x1] == 200).all() and (keys.frames[1, :, :x0] == [1, 2, 3]).all()
    with pytest.raises(ValueError, match="unknown key-frame scorer 'nope'"):
        capture_key_frames(frames, boxes, 2, scorer="nope")
    with pytest.raises(ValueError, match="num_key_frames"):
        capture_key_frames(frames, boxes, -1)


def test_expression_energy_scores_the_face_that_departs_from_the_average(speech_media):
    frames = load_video_frames(str(speech_media["talking"]), 8).frames.copy()
    boxes = select_face_track(detect_faces(frames), frames.shape[1:3])
    face = next(i for i, b in enumerate(boxes) if b is not None)
    b = boxes[face]
    y, x = int(b.y0 + b.height * 0.6), int(b.x0 + b.width * 0.3)
    frames[face, y : y + int(b.height * 0.2), x : x + int(b.width * 0.4)] = 0  # an open, dark mouth
    scores = score_expression_energy(frames, boxes)
    assert np.isfinite(scores[[bx is not None for bx in boxes]]).all()
    assert int(np.argmax(scores)) == face


def test_scorer_names_agree_between_config_and_media():
    assert set(configuration_nanoemox.FEC_SCORERS) == set(faces_nanoemox.FEC_SCORERS)


@pytest.mark.parametrize(
    ("field", "value"),
    [("num_key_frames", -1), ("num_key_frames", 9), ("num_key_frames", True), ("num_key_frames", 1.5)]
    + [("fec_scorer", "face_head")],
)
def test_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=f"NanoEmoXConfig.{field}="):
        NanoEmoXConfig(**{field: value})


def test_processor_rejects_bad_values():
    with pytest.raises(ValueError, match="num_key_frames"):
        NanoEmoXProcessor(num_key_frames=-2)
    with pytest.raises(ValueError, match="fec_scorer"):
        NanoEmoXProcessor(fec_scorer="nope")


def test_tiny_model_forward_and_generate_from_a_video_path(fec_ckpt, processor, speech_media):
    model = load_model(fec_ckpt)
    assert model.config.num_key_frames == K
    assert model.model.frame_adapter.group_embedding.num_embeddings == model.config.num_frames + K
    inputs = _inputs(processor, str(speech_media["talking"]))
    with torch.no_grad():
        out = model(**inputs)
        assert torch.isfinite(out.logits).all()
        # the key frames are read: hiding them changes the output
        hidden = {**inputs, "frame_mask": inputs["frame_mask"].clone()}
        hidden["frame_mask"][:, model.config.num_frames :] = False
        assert not torch.allclose(model(**hidden).logits, out.logits)
        generated = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    assert generated.shape[1] > inputs["input_ids"].shape[1]


def test_off_is_todays_behaviour(base_ckpt, processor, speech_media, monkeypatch):
    """num_key_frames=0 (the default): t frames, no scoring at all, the same frame adapter as before."""
    monkeypatch.setitem(faces_nanoemox.FEC_SCORERS, "haar_smile", lambda *a: pytest.fail("FEC ran while off"))
    off = NanoEmoXProcessor.from_pretrained(base_ckpt, trust_remote_code=True)
    model = load_model(base_ckpt)
    assert off.num_key_frames == 0 and model.config.num_key_frames == 0
    assert model.model.frame_adapter.group_embedding.num_embeddings == model.config.num_frames
    video = str(speech_media["talking"])
    assert off.load_media(video).key_frames is None
    inputs = _inputs(off, video)
    t = off.num_frames
    assert inputs["pixel_values_videos"].shape[1] == t and inputs["frame_mask"].shape == (1, t)
    # and the FEC processor's first t frames, faces, audio and text are exactly these
    monkeypatch.undo()
    on = _inputs(processor, video)
    assert torch.equal(on["pixel_values_videos"][:, :t], inputs["pixel_values_videos"])
    for key in ("input_ids", "face_pixel_values", "face_mask", "input_values", "audio_mask"):
        assert torch.equal(on[key], inputs[key]), key


REMOTE = textwrap.dedent(
    """
    import sys
    import torch
    from transformers import AutoModelForCausalLM, AutoProcessor
    folder, video, out = sys.argv[1:4]
    processor = AutoProcessor.from_pretrained(folder, trust_remote_code=True)
    model = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True).eval()
    messages = processor.build_messages("mer", video=video, subtitle="I am so happy to be here")
    inputs = processor.apply_chat_template(messages, tokenize=True)
    with torch.no_grad():
        logits = model(**inputs).logits
    torch.save({"inputs": dict(inputs), "logits": logits}, out)
    """
)


@pytest.mark.slow
def test_remote_code_with_the_package_blocked(fec_ckpt, processor, speech_media, tmp_path):
    video = str(speech_media["talking"])
    run_without_package(REMOTE, fec_ckpt, video, tmp_path / "out.pt", folder=tmp_path)
    remote = torch.load(tmp_path / "out.pt")
    local = _inputs(processor, video)
    assert remote["inputs"]["pixel_values_videos"].shape[1] == processor.num_frames + K
    for key, value in local.items():
        assert torch.equal(remote["inputs"][key], value), key
    with torch.no_grad():
        assert torch.equal(remote["logits"], load_model(fec_ckpt)(**local).logits)
