"""The processor issue: real footage in, model inputs out; bad input gets a clear error; remote code; pipeline."""

from __future__ import annotations

import json
import logging
import textwrap

import numpy as np
import pytest
import torch

from nanoemox.modeling.processing_nanoemox import NanoEmoXProcessor
from nanoemox.modeling.prompts_nanoemox import DEFAULT_TASK_PROMPTS
from nanoemox.predict import main as predict_main
from tests.model_helpers import build_tiny_checkpoint, load_model, run_without_package


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return build_tiny_checkpoint(tmp_path_factory.mktemp("tiny-proc"))


@pytest.fixture(scope="module")
def processor(ckpt):
    return NanoEmoXProcessor.from_pretrained(ckpt, trust_remote_code=True)


def _prompt(processor, task="mer", **media):
    return processor.apply_chat_template(processor.build_messages(task, subtitle="I did not expect this", **media))


def _count(inputs, processor, branch, row=0):
    token = processor.tokenizer.convert_tokens_to_ids(f"<|{branch}_pad|>")
    return int((inputs["input_ids"][row] == token).sum())


def test_talking_clip_uses_every_branch(processor, speech_media):
    video = str(speech_media["talking"])
    inputs = processor(text=[_prompt(processor, video=video)], videos=[video])
    assert inputs["pixel_values_videos"].shape == (1, processor.num_frames, 3, 64, 64)
    assert inputs["frame_mask"].all()
    # the astronaut's face is found on the footage, in (nearly) every sampled frame
    assert inputs["face_mask"].sum() >= processor.num_frames - 1
    # the speech carries into the audio branch: its clips are marked and hold signal
    assert inputs["audio_mask"].any()
    speech = inputs["input_values"][0][inputs["audio_mask"][0]]
    assert speech.abs().mean() > 0.1
    for branch, n in (("frame", 8), ("face", 4), ("audio", 8), ("fusion", 1)):
        assert _count(inputs, processor, branch) == n


def test_face_crops_show_the_face_region(processor, speech_media):
    from nanoemox.modeling.faces_nanoemox import get_face_crops
    from nanoemox.modeling.video_nanoemox import load_video_frames

    frames = load_video_frames(str(speech_media["talking"]), 8)
    crops, mask = get_face_crops(frames, None, size=64)
    assert mask.sum() >= 7
    # a face crop is skin-toned in its middle, unlike the frame's mean colour (the astronaut's suit and flag)
    centre = crops[mask][:, 24:40, 24:40].reshape(-1, 3).mean(0)
    assert centre[0] > centre[2] + 20  # red over blue: skin


def test_video_without_audio_track_masks_audio_with_a_warning(processor, real_media, caplog):
    video = str(real_media["video_only"])
    with caplog.at_level(logging.WARNING):
        inputs = processor(text=[_prompt(processor, video=video)], videos=[video])
    assert "has no audio track" in caplog.text and "video_only.mp4" in caplog.text
    assert "input_values" not in inputs
    assert _count(inputs, processor, "audio") == 0 and _count(inputs, processor, "fusion") == 0
    assert _count(inputs, processor, "frame") == 8


def test_silence_and_no_face_are_masked(processor, real_media, caplog):
    silent, no_face = str(real_media["silent"]), str(real_media["no_face"])
    with caplog.at_level(logging.WARNING):
        inputs = processor(
            text=[_prompt(processor, video=silent), _prompt(processor, video=no_face)], videos=[silent, no_face]
        )
    assert "is silent" in caplog.text and "no face found" in caplog.text
    assert _count(inputs, processor, "audio", row=0) == 0
    assert _count(inputs, processor, "face", row=1) == 0


def test_audio_only_file(processor, speech_media):
    wav = str(speech_media["speech_wav"])
    inputs = processor(text=[_prompt(processor, audio=wav)], audio=[wav])
    assert "pixel_values_videos" not in inputs and inputs["audio_mask"].any()
    assert _count(inputs, processor, "audio") == 8 and _count(inputs, processor, "frame") == 0


def test_audio_array_with_its_rate(processor):
    rate = 22050
    t = np.arange(int(3.0 * rate)) / rate
    tone = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    inputs = processor(text=[_prompt(processor, audio="x")], audio=[(tone, rate)])
    assert inputs["audio_mask"][0, :2].all()
    with pytest.raises(ValueError, match="sampl"):
        processor(text=[_prompt(processor, audio="x")], audio=[(tone, -5)])


@pytest.mark.parametrize("name", ["random", "truncated_video_only", "empty"])
def test_broken_files_raise_naming_the_file_and_sample(processor, real_media, name):
    path = str(real_media[name])
    good = _prompt(processor)
    with pytest.raises(ValueError) as err:
        processor(text=[good, _prompt(processor, video=path)], videos=[None, path])
    assert path.split("/")[-1] in str(err.value) and "sample 1" in str(err.value)


def test_unsupported_input_type(processor):
    with pytest.raises(ValueError, match="sample 0"):
        processor(text=[_prompt(processor, video="x")], videos=[12345])


def test_placeholder_mismatches(processor, real_media):
    video = str(real_media["video_only"])
    with pytest.raises(ValueError, match="no <\\|frame_pad\\|>"):
        processor(text=["no placeholders here"], videos=[video])
    with pytest.raises(ValueError, match="no frame media was given"):
        processor(text=[_prompt(processor, video=video)])
    with pytest.raises(ValueError, match="2 <\\|frame_pad\\|>"):
        processor(text=["<|frame_pad|><|frame_pad|>"], videos=[video])
    with pytest.raises(ValueError, match="entries for 2 texts"):
        processor(text=["a", "b"], videos=[video])


def test_mixed_batch_padding_and_masks(processor, ckpt, speech_media):
    talking, video_only = str(speech_media["talking"]), str(speech_media["video_only"])
    messages = [
        processor.build_messages("mer", video=talking, subtitle="what a day"),
        processor.build_messages("mir", video=video_only, subtitle="could you pass the salt"),
        processor.build_messages("erg", subtitle="my cat is ill"),
    ]
    inputs = processor.apply_chat_template(messages, tokenize=True)
    assert inputs["attention_mask"][:, -1].all()  # left padding
    assert inputs["attention_mask"][2, 0] == 0  # the text-only prompt is the shortest
    assert inputs["frame_mask"].any(1).tolist() == [True, True, False]
    assert inputs["audio_mask"].any(1).tolist() == [True, False, False]
    assert [_count(inputs, processor, "fusion", row=i) for i in range(3)] == [1, 0, 0]
    model = load_model(ckpt)
    with torch.no_grad():
        out = model(**inputs)
    assert out.media_mask.tolist() == [[True, True, True, True], [True, True, False, False], [False] * 4]
    generated = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    assert generated.shape[0] == 3


def test_save_round_trip(processor, tmp_path):
    processor.task_prompts["mer"] = "[Recognition] Custom prompt: {subtitle}"
    try:
        processor.save_pretrained(tmp_path)
        again = NanoEmoXProcessor.from_pretrained(tmp_path, trust_remote_code=True)
    finally:
        processor.task_prompts["mer"] = DEFAULT_TASK_PROMPTS["mer"]
    assert again.task_prompts["mer"] == "[Recognition] Custom prompt: {subtitle}"
    assert again.chat_template == processor.chat_template
    assert again.image_processor.to_dict() == processor.image_processor.to_dict()
    assert again.face_image_processor.image_mean == processor.face_image_processor.image_mean
    assert again.feature_extractor.sampling_rate == 16000
    assert again.tokenizer.get_vocab() == processor.tokenizer.get_vocab()
    assert (again.num_frames, again.num_frame_tokens) == (processor.num_frames, processor.num_frame_tokens)


REMOTE = textwrap.dedent(
    """
    import sys
    import json
    import torch
    from transformers import AutoProcessor
    folder, video, out = sys.argv[1:4]
    processor = AutoProcessor.from_pretrained(folder, trust_remote_code=True)
    messages = processor.build_messages("mer", video=video, subtitle="hello")
    inputs = processor.apply_chat_template(messages, tokenize=True)
    torch.save({"cls": type(processor).__name__, **dict(inputs)}, out)
    """
)


def test_auto_processor_remote_code_with_the_package_blocked(ckpt, processor, speech_media, tmp_path):
    video = str(speech_media["talking"])
    run_without_package(REMOTE, ckpt, video, tmp_path / "out.pt", folder=tmp_path)
    remote = torch.load(tmp_path / "out.pt")
    local = processor.apply_chat_template(
        processor.build_messages("mer", video=video, subtitle="hello"), tokenize=True
    )
    assert remote.pop("cls") == "NanoEmoXProcessor"
    assert set(remote) == set(local.keys())
    for key, value in local.items():
        assert torch.equal(remote[key], value), key


def test_pipeline_and_predict(ckpt, speech_media, capsys):
    from transformers import pipeline

    video = str(speech_media["talking"])
    analyse = pipeline("emotion-analysis", model=ckpt, trust_remote_code=True)
    result = analyse(video, task="mer", subtitle="hello", max_new_tokens=4, do_sample=False)
    assert set(result) == {"task", "generated_text", "answer", "fusion_gate_weights", "modalities", "scores"}
    assert result["modalities"] == {"frame": True, "face": True, "audio": True, "fusion": True}
    assert abs(sum(result["fusion_gate_weights"]) - 1) < 1e-4 and "emotion" in result["answer"]
    batch = analyse([video, {"subtitle": "thank you so much", "task": "msa"}], max_new_tokens=3, do_sample=False)
    assert [r["task"] for r in batch] == ["mer", "msa"]
    assert batch[1]["fusion_gate_weights"] is None and not any(batch[1]["modalities"].values())
    assert predict_main(["--model", ckpt, "--video", video, "--task", "mir", "--max-new-tokens", "3", "--greedy"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["task"] == "mir" and "intent" in printed["answer"]
