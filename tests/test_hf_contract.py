"""The Hugging Face contract: `return_dict=False` gives tuples all the way through, the loss honours `shift_labels`,
and the checkpoint's tokenizer loads as a plain tokenizer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoTokenizer

from nanoemox.modeling.configuration_nanoemox import NanoEmoXConfig
from nanoemox.modeling.modeling_nanoemox import NanoEmoXForConditionalGeneration
from tests.model_helpers import ALL, build_tiny_checkpoint, load_model, make_batch


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return build_tiny_checkpoint(tmp_path_factory.mktemp("contract"))


def _labels(batch) -> torch.Tensor:
    labels = batch["input_ids"].clone()
    labels[:, : labels.shape[1] - 4] = -100  # the last four tokens are the "answer"
    return labels


def test_return_dict_false_gives_tuples_all_the_way_through(ckpt):
    model = load_model(ckpt)
    batch = make_batch(model.config, [ALL, {"audio": True}])
    labels = _labels(batch)
    with torch.no_grad():
        as_dict = model(**batch, labels=labels)
        as_tuple = model(**batch, labels=labels, return_dict=False)
        base_dict = model.model(**batch)
        base_tuple = model.model(**batch, return_dict=False)
    assert isinstance(as_tuple, tuple) and isinstance(base_tuple, tuple)
    assert torch.equal(as_tuple[0], as_dict.loss) and torch.equal(as_tuple[1], as_dict.logits)
    assert torch.equal(base_tuple[0], base_dict.last_hidden_state)
    model.config.return_dict = False  # the config's setting counts too, as in transformers' own models
    with torch.no_grad():
        assert isinstance(model(**batch), tuple)


def test_the_loss_honours_shift_labels(ckpt):
    model = load_model(ckpt)
    batch = make_batch(model.config, [ALL, {}], seed=2)
    labels = _labels(batch)
    shifted = F.pad(labels, (0, 1), value=-100)[:, 1:]  # what a sequence-parallel collator hands over
    with torch.no_grad():
        from_labels = model(**batch, labels=labels).loss
        from_shifted = model(**batch, shift_labels=shifted).loss
        misread = model(**batch, shift_labels=labels).loss  # the unshifted targets, taken as already shifted
    torch.testing.assert_close(from_shifted, from_labels)
    assert not torch.allclose(misread, from_labels)


def test_the_sentiment_head_reads_the_same_position_from_shift_labels(ckpt):
    config = NanoEmoXConfig.from_pretrained(ckpt)
    config.sentiment_head = True
    torch.manual_seed(0)
    model = NanoEmoXForConditionalGeneration(config).eval()
    batch = make_batch(config, [ALL, {"frame": True}], seed=3)
    labels = _labels(batch)
    shifted = F.pad(labels, (0, 1), value=-100)[:, 1:]
    with torch.no_grad():
        a = model(**batch, labels=labels).sentiment_score
        b = model(**batch, shift_labels=shifted).sentiment_score
        prompt_end = model(**batch).sentiment_score  # the last attended token: not where the labels say
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, prompt_end)


def test_the_tokenizer_is_a_plain_tokenizer(ckpt):
    assert "auto_map" not in json.loads((Path(ckpt) / "tokenizer_config.json").read_text())
    tokenizer = AutoTokenizer.from_pretrained(ckpt, trust_remote_code=False)  # no custom code runs
    assert type(tokenizer).__name__ == "Qwen2Tokenizer"
    assert (
        tokenizer.convert_tokens_to_ids("<|frame_pad|>")
        == json.loads((Path(ckpt) / "config.json").read_text())["frame_token_id"]
    )
