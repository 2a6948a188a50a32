"""One path from a video to model inputs: the pipeline, the evaluation runner, the training collator and the feature
cache all go through `NanoEmoXProcessor.prepare`, and give the same inputs for the same raw `.mp4`."""

from __future__ import annotations

import pytest
import torch
from transformers import pipeline

from nanoemox.evaluation.runner import generate_answers
from nanoemox.modeling.collator_nanoemox import NanoEmoXCollator
from nanoemox.modeling.processing_nanoemox import NanoEmoXProcessor
from nanoemox.processing.schema import make_example
from nanoemox.train.feature_cache import FeatureCache
from tests.model_helpers import build_tiny_checkpoint, load_model

MEDIA_KEYS = ("pixel_values_videos", "frame_mask", "face_pixel_values", "face_mask", "input_values", "audio_mask")


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return build_tiny_checkpoint(tmp_path_factory.mktemp("one-path"))


@pytest.fixture(scope="module")
def processor(ckpt):
    return NanoEmoXProcessor.from_pretrained(ckpt, trust_remote_code=True)


@pytest.fixture
def row(speech_media):
    """A dataset-schema row for the real talking clip (astronaut photo, espeak-ng speech), with its gold answer."""
    folder = speech_media["talking"].parent
    return make_example(
        id="talk-1",
        task="mer",
        source="test",
        video="talking.mp4",
        subtitle="I did not expect this at all",
        labels={"emotion": "surprise"},
    ) | {"_media_root": str(folder)}


def test_the_four_callers_give_the_same_inputs(ckpt, processor, row, tmp_path, monkeypatch):
    model = load_model(ckpt)

    # 1. the pipeline, built from objects: its preprocess (a DataLoader worker's part), then its collation
    analyse = pipeline(task="emotion-analysis", model=model, processor=processor)
    prepared = analyse.preprocess(row)["prepared"]
    assert prepared.task == "mer" and prepared.id == "talk-1"
    from_pipeline = processor.collate([prepared])

    # 2. the evaluation runner: the inputs it hands to generate
    seen = []
    real_generate = model.generate

    def spy(**inputs):
        seen.append(inputs)
        return real_generate(**inputs)

    monkeypatch.setattr(model, "generate", spy)
    answers, skipped, _ = generate_answers(model, processor, [row], max_new_tokens=2)
    monkeypatch.undo()
    assert skipped == 0 and answers[0] is not None
    from_runner = {k: v for k, v in seen[0].items() if k not in ("max_new_tokens", "do_sample")}

    assert set(from_pipeline) == set(from_runner)
    for key in from_pipeline:
        assert torch.equal(from_pipeline[key], from_runner[key]), key
    for key in MEDIA_KEYS:  # every branch of the real clip is there
        assert key in from_runner, key
    assert from_runner["frame_mask"].all() and from_runner["audio_mask"].any() and from_runner["face_mask"].any()

    # 3. the training collator: the same prompt and media, then the answer, with labels on the answer only
    train = NanoEmoXCollator(processor)([row])
    prompt = from_runner["input_ids"]
    n = prompt.shape[1]
    assert torch.equal(train["input_ids"][:, :n], prompt)
    answer = processor.decode(train["input_ids"][0, n:])
    assert answer.startswith("surprise") and answer.rstrip().endswith("<|im_end|>")
    assert (train["labels"][:, :n] == -100).all() and torch.equal(train["labels"][:, n:], train["input_ids"][:, n:])
    for key in MEDIA_KEYS:
        assert torch.equal(train[key], from_runner[key]), key
    assert torch.equal(train["prior_input_ids"], from_runner["prior_input_ids"])

    # 4. the feature cache: the same text, the encoders' outputs in place of the pixels, the same loss
    cache = FeatureCache(tmp_path / "cache", model, processor)
    cached = NanoEmoXCollator(processor, feature_cache=cache)([row])
    assert cache.misses == 1
    assert torch.equal(cached["input_ids"], train["input_ids"]) and torch.equal(cached["labels"], train["labels"])
    assert not any(key in cached for key in ("pixel_values_videos", "face_pixel_values", "input_values"))
    for key in ("frame_mask", "face_mask", "audio_mask"):
        assert torch.equal(cached[key], train[key]), key
    with torch.no_grad():
        encoded = model.model.encode_media(**{k: train[k] for k in MEDIA_KEYS})
        torch.testing.assert_close(cached["encoder_features"]["frame"]["adapter"], encoded["frame"]["adapter"])
        torch.testing.assert_close(cached["encoder_features"]["audio"]["fusion"], encoded["audio"]["fusion"])
        raw_loss = model(**{k: v for k, v in train.items() if k != "task_index"}).loss
        cache_loss = model(**{k: v for k, v in cached.items() if k != "task_index"}).loss
    torch.testing.assert_close(cache_loss, raw_loss, rtol=1e-5, atol=1e-6)
