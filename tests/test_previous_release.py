"""A checkpoint written by the previous release (v0, commit 6bcb766) still loads with this code and gives the same
logits; its processor still loads; saving it again gives a complete checkpoint of today's layout.

`tests/fixtures/v0-checkpoint/` is a tiny checkpoint composed and saved by the v0 code (weights, config, processor,
tokenizer; the v0 remote-code files are left out: a user loading it with this package runs this code), with the
logits v0 computed on `make_batch(config, [ALL, frame only, audio only, text only], seed=5)`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors import safe_open

from nanoemox.modeling.modeling_nanoemox import NanoEmoXForConditionalGeneration
from nanoemox.modeling.processing_nanoemox import NanoEmoXProcessor
from tests.model_helpers import ALL, make_batch

V0 = Path(__file__).parent / "fixtures" / "v0-checkpoint"


def _expected():
    with safe_open(str(V0 / "expected_outputs.safetensors"), framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, f.metadata()


def test_a_v0_checkpoint_gives_the_same_logits(tmp_path):
    expected, meta = _expected()
    model = NanoEmoXForConditionalGeneration.from_pretrained(V0).eval()
    batch = make_batch(model.config, [ALL, {"frame": True}, {"audio": True}, {}], seed=5)
    digests = {k: hashlib.sha256(v.numpy().tobytes()).hexdigest()[:16] for k, v in batch.items()}
    assert digests == json.loads(meta["input_sha256"])  # the very inputs v0 was given
    with torch.no_grad():
        out = model(**batch)
    torch.testing.assert_close(out.logits, expected["logits"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.fusion_gate_weights, expected["fusion_gate_weights"], rtol=1e-5, atol=1e-6)

    # its processor loads with today's settings filled in, and saving the model again gives today's layout
    processor = NanoEmoXProcessor.from_pretrained(V0, trust_remote_code=True)
    assert (processor.num_frame_tokens, processor.face_detector) == (model.config.num_frame_tokens, "haar")
    processor.save_pretrained(tmp_path)
    model.save_pretrained(tmp_path)
    names = {p.name for p in tmp_path.iterdir()}
    assert {"pipeline_nanoemox.py", "video_nanoemox.py", "collator_nanoemox.py", "requirements.txt"} <= names
    again = NanoEmoXForConditionalGeneration.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        torch.testing.assert_close(again(**batch).logits, expected["logits"], rtol=1e-5, atol=1e-5)
