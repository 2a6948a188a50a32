"""Why this answer: each branch's share of the answer's log-likelihood drop when it is masked, from media encoded
once and one batched forward over the masked conditions (see `attribution_nanoemox`)."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from transformers import pipeline

from nanoemox.evaluation.answering import answer_rows
from nanoemox.modeling.attribution_nanoemox import (
    ATTRIBUTED_BRANCHES,
    answer_token_ids,
    encode_once,
    explain_answers,
    shares_of,
)
from nanoemox.modeling.processing_nanoemox import NanoEmoXProcessor
from nanoemox.modeling.rows_nanoemox import without_subtitle
from nanoemox.predict import main as predict_main
from tests.model_helpers import build_lively_checkpoint, load_model

GREEDY = {"max_new_tokens": 3, "do_sample": False}


@pytest.fixture(scope="module")
def lively(tmp_path_factory):
    return build_lively_checkpoint(tmp_path_factory.mktemp("explain"))


@pytest.fixture(scope="module")
def parts(lively):
    return load_model(lively), NanoEmoXProcessor.from_pretrained(lively, trust_remote_code=True)


@pytest.fixture(scope="module")
def analyse(parts):
    model, processor = parts
    return pipeline(task="emotion-analysis", model=model, processor=processor)


def _brute_force(model, processor, row: dict, answer: list[int], drop: tuple[str, ...] = ()) -> float:
    """log p(answer | prompt) by another route: the row decoded again through `prepare` (pixels and waveforms, the
    branch dropped there), a prefill with a cache, then the answer's tokens as decode steps on that cache."""
    inputs = processor.prepare([row], drop_modalities=drop).inputs
    with torch.no_grad():
        prefill = model(**inputs, use_cache=True)
        cache = getattr(prefill, "past_key_values", None) or prefill.cache
        rest = model(input_ids=torch.tensor([answer[:-1]]), past_key_values=cache) if len(answer) > 1 else None
    logits = prefill.logits[0, -1:] if rest is None else torch.cat([prefill.logits[0, -1:], rest.logits[0]])
    return float(F.log_softmax(logits.float(), dim=-1).gather(1, torch.tensor(answer)[:, None]).sum())


def test_masked_condition_batch_equals_a_forward_per_condition(parts, speech_media):
    """Two clips (one without audio) in one batch: every condition's log-likelihood equals its own brute-force run."""
    model, processor = parts
    rows = [
        {"id": "talking", "video": str(speech_media["talking"]), "task": "mer", "subtitle": "what a day"},
        {"id": "mute", "video": str(speech_media["video_only"]), "task": "mir", "subtitle": "could you pass the salt"},
    ]
    batch = processor.prepare(rows)
    inputs = encode_once(model, batch.inputs)
    length = inputs["input_ids"].shape[1]
    with torch.no_grad():
        generated = model.generate(**inputs, **GREEDY)
    answers = answer_token_ids(generated[:, length:], model.generation_config.eos_token_id)
    prepared = [processor.prepare_row(row, i) for i, row in enumerate(rows)]
    explained = explain_answers(model, processor, rows, prepared, inputs, answers)
    assert explained[1].absent == ["audio", "fusion"] and explained[0].absent == []
    for row, answer, attribution in zip(rows, answers, explained):
        full = _brute_force(model, processor, row, answer)
        assert attribution.log_likelihood == pytest.approx(full, abs=2e-3)
        for branch in ATTRIBUTED_BRANCHES:
            if branch in attribution.absent:
                continue
            if branch == "subtitle":
                masked = _brute_force(model, processor, without_subtitle(row), answer)
            else:
                masked = _brute_force(model, processor, row, answer, drop=(branch,))
            assert attribution.drops[branch] == pytest.approx(full - masked, abs=2e-3), branch
        assert any(d for d in attribution.drops.values())  # the conditions differ: the comparison means something


def test_shares_sum_to_one_over_the_branches(analyse, speech_media):
    result = analyse({"video": str(speech_media["talking"]), "subtitle": "what a day"}, explain=True, **GREEDY)
    shares = result["attribution"]
    assert list(shares) == list(ATTRIBUTED_BRANCHES)
    assert sum(shares.values()) == pytest.approx(1.0, abs=1e-5)
    assert all(s >= 0 for s in shares.values()) and result["explanation"]["absent"] == []
    drops = result["explanation"]["drops"]
    positive = sum(d for d in drops.values() if d > 0)
    assert shares == pytest.approx({b: max(d, 0) / positive for b, d in drops.items()}, abs=1e-5)
    assert "fusion_gate_weights" in result and result["fusion_gate_weights"] is not None


def test_no_positive_drop_gives_zero_shares():
    assert shares_of({"frame": -1.0, "face": 0.0, "audio": None}) == {"frame": 0.0, "face": 0.0, "audio": 0.0}
    assert shares_of({"frame": 3.0, "face": -1.0, "audio": 1.0}) == {"frame": 0.75, "face": 0.0, "audio": 0.25}


def test_a_branch_masked_in_the_input_gets_no_share(parts, speech_media):
    model, processor = parts
    row = {"id": "clip", "video": str(speech_media["talking"]), "task": "mer", "subtitle": "what a day"}
    for dropped, absent in ((("face",), ["face"]), (("fusion",), ["fusion"]), (("audio",), ["audio", "fusion"])):
        (answer,) = answer_rows(
            model, processor, [row], drop_modalities=dropped, explain=True, progress=False, **GREEDY
        )
        out = answer.to_dict()
        assert out["explanation"]["absent"] == absent, dropped
        assert all(out["attribution"][b] == 0 and out["explanation"]["drops"][b] is None for b in absent)
        assert sum(out["attribution"].values()) == pytest.approx(1.0, abs=1e-5)


def test_media_are_encoded_once(analyse, speech_media):
    """Two clips, batched, explained: each frozen encoder runs once (generate and the masked conditions reuse it)."""
    model = analyse.model.model
    calls = {name: 0 for name in ("vision_tower", "audio_tower", "face_backbone")}
    hooks = [
        getattr(model, name).register_forward_hook(lambda *_, name=name: calls.__setitem__(name, calls[name] + 1))
        for name in calls
    ]
    inputs = [{"video": str(speech_media["talking"]), "subtitle": "hi"}, {"video": str(speech_media["talking"])}]
    try:
        results = analyse(inputs, explain=True, batch_size=2, **GREEDY)
    finally:
        for hook in hooks:
            hook.remove()
    assert all("attribution" in r for r in results)
    assert calls == {"vision_tower": 1, "audio_tower": 1, "face_backbone": 1}


def test_explaining_inputs_that_lack_branches(analyse, speech_media):
    text_only = analyse({"subtitle": "thanks a lot, really"}, task="mir", explain=True, **GREEDY)
    assert text_only["explanation"]["absent"] == ["frame", "face", "audio", "fusion"]
    assert text_only["attribution"]["subtitle"] in (0.0, 1.0)
    no_face = analyse(str(speech_media["no_face"]), explain=True, **GREEDY)  # no face, no audio track, no subtitle
    assert no_face["explanation"]["absent"] == ["face", "audio", "fusion", "subtitle"]
    assert sum(no_face["attribution"].values()) == no_face["attribution"]["frame"] in (0.0, 1.0)
    nothing = analyse({"prompt": "How are you today?"}, explain=True, **GREEDY)  # no branch at all: nothing to share
    assert nothing["explanation"]["absent"] == list(ATTRIBUTED_BRANCHES)
    assert set(nothing["attribution"].values()) == {0.0}
    with pytest.raises(ValueError, match="explain='yes': give True or False"):
        analyse({"subtitle": "hi"}, explain="yes", **GREEDY)


def test_predict_explain_for_one_clip_and_for_many(lively, speech_media, tmp_path, capsys):
    video = str(speech_media["talking"])
    assert predict_main(["--model", lively, "--video", video, "--greedy", "--max-new-tokens", "3", "--explain"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert sum(one["attribution"].values()) == pytest.approx(1.0, abs=1e-5)
    output = tmp_path / "answers.jsonl"
    argv = ["--model", lively, "--videos", video, str(speech_media["video_only"]), "--output", str(output)]
    assert predict_main([*argv, "--greedy", "--max-new-tokens", "3", "--explain"]) == 0
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    assert [line["explanation"]["absent"] for line in lines] == [["subtitle"], ["audio", "fusion", "subtitle"]]
    assert lines[0]["attribution"] == pytest.approx(one["attribution"], abs=1e-4)  # the same clip, the same shares
