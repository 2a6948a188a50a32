"""Dataset-scale pipeline: a list, a generator or a `datasets.Dataset`, in batches, with DataLoader workers; the
answers equal the one-at-a-time answers under greedy decoding; an unreadable clip is an error entry, not a crash."""

from __future__ import annotations

import pytest
import torch
from datasets import Dataset
from transformers import pipeline

from tests.model_helpers import build_tiny_checkpoint


@pytest.fixture(scope="module")
def analyse(tmp_path_factory):
    ckpt = build_tiny_checkpoint(tmp_path_factory.mktemp("batched"))
    analyse = pipeline("emotion-analysis", model=ckpt, trust_remote_code=True)
    # A freshly initialised tiny LM (std 0.02) answers "\n\n\n..." whatever it is shown, which would make any two
    # answers equal. With larger random weights its greedy tokens change with any change of the prompt or the media,
    # so equal answers mean equal computations.
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for param in analyse.model.model.language_model.parameters():
            if param.dim() == 2:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.5)
    return analyse


@pytest.fixture
def inputs(speech_media):
    m = speech_media
    return [
        {"video": str(m["talking"]), "task": "mer", "subtitle": "what a day"},
        {"video": str(m["video_only"]), "task": "mir"},  # no audio track: frames and face only
        {"subtitle": "Thanks so much for coming!", "task": "msa"},  # text only: the shortest prompt
        {"video": str(m["no_face"]), "task": "mer"},
        {"audio": str(m["speech_wav"]), "task": "erg"},
    ]


GREEDY = {"max_new_tokens": 6, "do_sample": False}


def _same(batched: list[dict], single: list[dict]) -> None:
    assert len(batched) == len(single)
    for b, s in zip(batched, single):
        assert b["generated_text"] == s["generated_text"]
        assert b["modalities"] == s["modalities"] and b["task"] == s["task"]
        if s["fusion_gate_weights"] is None:
            assert b["fusion_gate_weights"] is None
        else:
            assert b["fusion_gate_weights"] == pytest.approx(s["fusion_gate_weights"], abs=1e-5)


def test_batches_and_workers_answer_as_one_at_a_time(analyse, inputs):
    single = [analyse(x, **GREEDY) for x in inputs]
    assert [s["modalities"]["audio"] for s in single] == [True, False, False, False, True]
    assert len({s["generated_text"] for s in single}) > 2 and all(s["generated_text"] for s in single)
    for batch_size, workers in ((2, 0), (4, 2), (8, 0)):
        _same(analyse(inputs, batch_size=batch_size, num_workers=workers, **GREEDY), single)
    _same(list(analyse((x for x in inputs), batch_size=3, **GREEDY)), single)  # a generator streams
    dataset = Dataset.from_list([{"video": x.get("video"), "task": x["task"]} for x in inputs[:2]])
    _same(
        list(analyse(dataset, batch_size=2, **GREEDY)),
        [analyse({"video": x["video"], "task": x["task"]}, **GREEDY) for x in inputs[:2]],
    )


def test_an_unreadable_clip_is_an_error_entry_and_the_batch_goes_on(analyse, inputs, real_media):
    broken = str(real_media["random"])
    mixed = [inputs[0], {"video": broken, "task": "mer", "id": "bad-1"}, inputs[2]]
    results = analyse(mixed, batch_size=3, **GREEDY)
    assert results[1]["id"] == "bad-1" and results[1]["file"] == broken
    assert "not a readable media file" in results[1]["error"]
    _same([results[0], results[2]], [analyse(inputs[0], **GREEDY), analyse(inputs[2], **GREEDY)])
    with pytest.raises(ValueError, match="random.mp4: not a readable media file"):  # one input alone: an error
        analyse(broken, **GREEDY)
