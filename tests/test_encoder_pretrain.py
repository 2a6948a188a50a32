"""The demo's tiny encoders learn to expose the face and voice cues that random tiny encoders wash out."""

from __future__ import annotations

import pytest
import torch
from transformers import CLIPVisionModel, HubertModel, SwinBackbone

from nanoemox.tiny.configs import tiny_component_configs
from nanoemox.tiny.encoder_pretrain import (
    face_examples,
    frame_examples,
    pretrain_face_backbone,
    pretrain_frame_encoder,
    pretrain_speech_encoder,
    voice_examples,
)


@pytest.mark.slow
def test_face_pretraining_makes_expression_geometry_readable():
    torch.manual_seed(0)
    backbone = SwinBackbone(tiny_component_configs(100)["face"])
    x, y = face_examples(4, size=backbone.config.image_size, seed=0)
    assert x.shape == (4, 3, 64, 64) and y.shape == (4, 6)
    r2 = pretrain_face_backbone(backbone, steps=200, batch_size=16, num_examples=640, seed=0)
    assert not backbone.training
    assert r2 > 0.5  # held-out faces: the pooled maps carry mouth, eye and brow geometry


def test_voice_examples_and_speech_pretraining_keep_the_encoder_config():
    x, y = voice_examples(6, seconds=2.0, sample_rate=16000, seed=0)
    assert x.shape == (6, 32000) and y.shape == (6, 3)
    torch.testing.assert_close(x.mean(1), torch.zeros(6), atol=1e-4, rtol=0)  # normalised like the processor's
    torch.testing.assert_close(x.std(1), torch.ones(6), atol=1e-2, rtol=0)
    torch.manual_seed(0)
    encoder = HubertModel(tiny_component_configs(100)["audio"])
    drop, mask = encoder.config.layerdrop, encoder.config.mask_time_prob
    start = {k: v.clone() for k, v in encoder.state_dict().items()}
    r2 = pretrain_speech_encoder(encoder, steps=4, pool_layers=2, batch_size=2, num_examples=16)
    assert r2 == r2  # finite, not NaN
    assert (encoder.config.layerdrop, encoder.config.mask_time_prob) == (drop, mask) and not encoder.training
    changed = [
        k for k, v in encoder.state_dict().items() if v.dtype.is_floating_point and not torch.equal(v, start[k])
    ]
    assert any("encoder.layers" in k for k in changed) and any("feature_extractor" in k for k in changed)


@pytest.mark.slow
def test_frame_pretraining_makes_the_scene_object_readable():
    pixels, objects, sides, geometry = frame_examples(4, size=64, seed=0)
    assert pixels.shape == (4, 3, 64, 64) and objects.shape == sides.shape == (4,) and geometry.shape == (4, 6)
    torch.manual_seed(0)
    encoder = CLIPVisionModel(tiny_component_configs(100)["vision"])
    accuracy, _ = pretrain_frame_encoder(encoder, steps=200, seed=0)
    assert not encoder.training
    assert accuracy > 0.8  # held-out frames: 7 scene objects (chance 0.14), read from the adapter's layer
