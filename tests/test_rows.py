"""Rows: the dataset schema, TRL-style conversations that name their media, LLaMA-Factory's `<video>` layout, and
clear errors for rows that cannot make a prompt; a bad clip in a batch is reported, not raised."""

from __future__ import annotations

import pytest
import torch

from nanoemox.modeling.processing_nanoemox import NanoEmoXProcessor
from tests.model_helpers import build_tiny_checkpoint

MEDIA_KEYS = ("pixel_values_videos", "frame_mask", "face_pixel_values", "face_mask", "input_values", "audio_mask")


@pytest.fixture(scope="module")
def processor(tmp_path_factory):
    ckpt = build_tiny_checkpoint(tmp_path_factory.mktemp("rows"))
    return NanoEmoXProcessor.from_pretrained(ckpt, trust_remote_code=True)


def _conversation(video, prompt="How does the speaker feel?", answer="happy"):
    return [
        {"role": "user", "content": [{"type": "video", "path": video}, {"type": "text", "text": prompt}]},
        {"role": "assistant", "content": [{"type": "text", "text": answer}]},
    ]


def test_a_trl_conversation_names_its_media(processor, speech_media):
    folder = speech_media["talking"].parent
    trl_row = {"messages": _conversation("talking.mp4")}  # relative to the dataset folder
    task_row = {"task": "mer", "video": "talking.mp4", "answer": "happy"}
    batch = processor.collator(media_root=folder)([trl_row, task_row])
    for key in MEDIA_KEYS:  # the same clip, read from the conversation and from the column
        assert torch.equal(batch[key][0], batch[key][1]), key
    assert batch["frame_mask"].all() and batch["audio_mask"][0].any()
    answers = [processor.decode(ids[labels != -100]) for ids, labels in zip(batch["input_ids"], batch["labels"])]
    assert [a.split("<|im_end|>")[0] for a in answers] == ["happy", "happy"]
    prompt = processor.decode(batch["input_ids"][0])
    assert "How does the speaker feel?" in prompt and "<|frame_pad|>" in prompt
    assert batch["task_index"].tolist() == [-1, 1]  # no task column: -1; mer is TASKS[1]


def test_llama_factory_video_tags_take_the_videos_column(processor, speech_media):
    row = {
        "messages": [
            {"role": "user", "content": "<video>What is the speaker's intent?"},
            {"role": "assistant", "content": "Inform"},
        ],
        "videos": [str(speech_media["talking"])],
    }
    batch = processor.prepare([row], training=True)
    assert not batch.errors and batch.inputs["frame_mask"].all()
    text = processor.decode(batch.inputs["input_ids"][0])
    assert "What is the speaker's intent?" in text and "<video>" not in text


@pytest.mark.parametrize(
    "row, training, message",
    [
        ({"id": "clip-7", "video": "a.mp4"}, False, r"row 'clip-7': no column to make a prompt from: give 'task'"),
        ({"task": "mer", "video": "a.mp4"}, True, r"row 0: nothing to train on: .* an 'answer' column"),
        ({"id": 3, "task": "joy", "answer": "x"}, True, r"row '3': column 'task': unknown task 'joy'"),
        ({"messages": "hello"}, False, r"row 0: 'messages' must be a list"),
    ],
)
def test_a_row_that_cannot_make_a_prompt_names_the_row_and_the_column(processor, row, training, message):
    with pytest.raises(ValueError, match=message):
        processor.prepare([row], training=training)


def test_a_bad_clip_is_reported_and_the_batch_goes_on(processor, speech_media, real_media):
    rows = [
        {"id": "good-1", "task": "mer", "video": str(speech_media["talking"])},
        {"id": "broken", "task": "mer", "video": str(real_media["random"])},
        {"id": "missing", "task": "mir", "video": "/nowhere/clip.mp4"},
        {"id": "good-2", "task": "msa", "subtitle": "Thanks so much!"},
    ]
    batch = processor.prepare(rows)
    assert batch.rows == [0, 3] and batch.tasks == ["mer", "msa"]
    assert batch.inputs["input_ids"].shape[0] == 2
    assert [(e.id, e.index) for e in batch.errors] == [("broken", 1), ("missing", 2)]
    broken, missing = batch.errors
    assert broken.source == str(real_media["random"]) and "not a readable media file" in broken.reason
    assert str(missing) == "row 'missing': /nowhere/clip.mp4: no such file"
    assert missing.to_dict() == {"index": 2, "id": "missing", "file": "/nowhere/clip.mp4", "reason": missing.reason}
