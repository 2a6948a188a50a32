"""Label probabilities: every candidate answer scored from the answer's own prefill (media encoded once) in one
batched forward over the shared KV cache; the distribution sums to one and equals a brute-force forward per label."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from transformers import pipeline

from nanoemox.modeling.processing_nanoemox import NanoEmoXProcessor
from tests.model_helpers import build_lively_checkpoint

GREEDY = {"max_new_tokens": 3, "do_sample": False}


@pytest.fixture(scope="module")
def lively(tmp_path_factory):
    """A tiny checkpoint whose random LM has large weights, so label probabilities are far from uniform and differ
    between clips (a freshly initialised tiny LM scores every label almost alike)."""
    return build_lively_checkpoint(tmp_path_factory.mktemp("label-scores"))


@pytest.fixture(scope="module")
def analyse(lively):
    return pipeline("emotion-analysis", model=lively, trust_remote_code=True)


def _brute_force(model, processor, row: dict, labels: list[str], complete: bool) -> torch.Tensor:
    """Each label's log-likelihood from its own full forward: prompt + label (+ <|im_end|>), no cache, no batch."""
    prompt = processor.prepare([row]).inputs
    end = processor.tokenizer.convert_tokens_to_ids("<|im_end|>")
    scores = []
    for label in labels:
        ids = processor.tokenizer(label, add_special_tokens=False)["input_ids"] + ([end] if complete else [])
        inputs = dict(prompt)
        inputs["input_ids"] = torch.cat([prompt["input_ids"], torch.tensor([ids])], dim=1)
        inputs["attention_mask"] = torch.ones_like(inputs["input_ids"])
        with torch.no_grad():
            logits = model(**inputs).logits[0]
        n = prompt["input_ids"].shape[1]
        log_probs = F.log_softmax(logits[n - 1 : -1].float(), dim=-1)
        scores.append(log_probs.gather(1, torch.tensor(ids)[:, None]).sum())
    return torch.softmax(torch.stack(scores).double(), dim=0)


@pytest.mark.parametrize("task", ["mer", "mir", "msa"])
def test_probabilities_sum_to_one_and_equal_a_forward_per_label(lively, analyse, speech_media, task):
    video = str(speech_media["talking"])
    result = analyse({"video": video, "subtitle": "what a day", "task": task}, **GREEDY)
    labels = analyse.processor.task_labels[task]
    assert list(result["scores"]) == labels
    assert sum(result["scores"].values()) == pytest.approx(1.0, abs=1e-4)
    assert max(result["scores"].values()) > 2 / len(labels)  # a real preference, not a uniform spread
    expected = _brute_force(
        analyse.model,
        analyse.processor,
        {"video": video, "subtitle": "what a day", "task": task},
        labels,
        complete=task != "msa",
    )
    assert list(result["scores"].values()) == pytest.approx(expected.tolist(), abs=2e-4)


def test_one_prefill_one_batched_forward_for_all_candidates(analyse, speech_media, monkeypatch):
    model = analyse.model
    calls = []

    def count(module, args, kwargs):
        ids = kwargs.get("input_ids")
        calls.append((None if ids is None else tuple(ids.shape), kwargs.get("pixel_values_videos") is not None))

    hook = model.register_forward_pre_hook(count, with_kwargs=True)
    labels = ["joy", "fear", "calm down", "surprise"]
    try:
        result = analyse({"video": str(speech_media["talking"]), "task": "mer"}, labels=labels, **GREEDY)
    finally:
        hook.remove()
    assert list(result["scores"]) == labels
    with_media = [c for c in calls if c[1]]
    assert len(with_media) == 1  # the media are encoded once, at the answer's prefill
    assert calls[-1][0][0] == len(labels) and len(calls) == 1 + 2 + 1  # prefill, 2 decode steps, the candidates


def test_batched_scores_equal_one_at_a_time(analyse, speech_media):
    inputs = [
        {"video": str(speech_media["talking"]), "task": "mer"},
        {"subtitle": "could you pass the salt", "task": "mir"},
        {"video": str(speech_media["video_only"]), "task": "msa"},
    ]
    single = [analyse(x, **GREEDY)["scores"] for x in inputs]
    batched = [r["scores"] for r in analyse(inputs, batch_size=3, **GREEDY)]
    for b, s in zip(batched, single, strict=True):
        assert list(b) == list(s) and list(b.values()) == pytest.approx(list(s.values()), abs=1e-4)
    assert single[0] != single[1]


def test_bad_label_lists_are_clear_errors(analyse, speech_media):
    video = str(speech_media["talking"])
    with pytest.raises(ValueError, match="give a list of candidate answers"):
        analyse(video, labels=[], **GREEDY)
    with pytest.raises(ValueError, match="the candidate label '' has no tokens"):
        analyse(video, labels=["happy", ""], **GREEDY)
    assert "scores" not in analyse(video, labels=False, **GREEDY)
    assert "scores" not in analyse({"video": video, "task": "eri"}, **GREEDY)  # open-ended: no label set


def test_a_checkpoint_carries_its_own_label_sets(lively, tmp_path):
    processor = NanoEmoXProcessor.from_pretrained(lively, trust_remote_code=True)
    processor.task_labels["mer"] = ["calm", "furious"]
    processor.save_pretrained(tmp_path)
    again = NanoEmoXProcessor.from_pretrained(tmp_path, trust_remote_code=True)
    assert again.task_labels["mer"] == ["calm", "furious"] and again.task_labels["msa"] == [
        "negative",
        "neutral",
        "positive",
    ]
