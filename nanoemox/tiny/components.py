"""The tiny demo components on disk: random (or pre-trained) CLIP, HuBERT, Swin and Qwen2 stand-ins, ready to compose.

    paths = save_tiny_components("components/")                        # random, hidden 32, 2 layers: seconds
    paths = save_tiny_components("components/", lm_pretrain_steps=2000, encoder_pretrain_steps=200)   # the demo's
    compose_checkpoint("ckpt/", **paths, arch=TINY_ARCH)

The demo asks for pre-training in its curriculum's `model.init` (train/configs/demo.yaml); tests mostly do not.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
from transformers import CLIPVisionModel, HubertModel, Qwen2ForCausalLM, SwinBackbone

from .configs import TINY_ARCH, tiny_component_configs
from .encoder_pretrain import pretrain_face_backbone, pretrain_frame_encoder, pretrain_speech_encoder
from .lm_pretrain import pretrain_tiny_lm
from .tokenizer import train_tiny_tokenizer

logger = logging.getLogger(__name__)

COMPONENTS = ("vision", "audio", "face", "lm")
CLASSES = {"vision": CLIPVisionModel, "audio": HubertModel, "face": SwinBackbone, "lm": Qwen2ForCausalLM}


def _make(
    folder: Path,
    *,
    seed: int,
    lm: dict | None,
    lm_pretrain_steps: int,
    encoder_pretrain_steps: int,
    vision_pretrain_steps: int,
) -> None:
    """Write the components (and the tiny tokenizer beside the LM) to `folder`, pre-training what the steps ask."""
    torch.manual_seed(seed)
    tokenizer = train_tiny_tokenizer()
    for name, config in tiny_component_configs(vocab_size=len(tokenizer), lm=lm).items():
        model = CLASSES[name](config)
        if name == "lm" and lm_pretrain_steps:
            pretrain_tiny_lm(model, tokenizer, steps=lm_pretrain_steps, seed=seed)
        if name == "vision" and vision_pretrain_steps:
            pretrain_frame_encoder(model, steps=vision_pretrain_steps, seed=seed)
        if name == "face" and encoder_pretrain_steps:
            pretrain_face_backbone(model, steps=encoder_pretrain_steps, seed=seed)
        if name == "audio" and encoder_pretrain_steps:
            pool = TINY_ARCH["audio_pool_layers"]
            pretrain_speech_encoder(model, steps=encoder_pretrain_steps, pool_layers=pool, seed=seed)
        model.save_pretrained(folder / name)
    tokenizer.save_pretrained(folder / "lm")


def save_tiny_components(
    folder: str | os.PathLike,
    *,
    seed: int = 0,
    lm_pretrain_steps: int = 0,
    lm: dict | None = None,
    encoder_pretrain_steps: int = 0,
    vision_pretrain_steps: int = 0,
) -> dict[str, str]:
    """Write tiny component checkpoints (and the tiny tokenizer beside the LM) to `folder`.

    `lm_pretrain_steps` > 0 pre-trains the tiny LM on text first (see `pretrain_tiny_lm`); the demo does, tests
    mostly do not. `lm` overrides the LM's shape (`TINY_LM` keys, e.g. {"hidden_size": 96}); the encoders are
    the same whatever the LM. `encoder_pretrain_steps` > 0 pre-trains the tiny face and speech encoders on drawn
    faces and synthesized voices (`nanoemox.tiny.encoder_pretrain`; the demo does); `vision_pretrain_steps` > 0 the
    tiny CLIP on drawn scenes (opt-in, see demo.yaml). Returns {component: path}, ready for `compose_checkpoint`.
    """
    folder = Path(folder)
    _make(
        folder,
        seed=seed,
        lm=lm,
        lm_pretrain_steps=lm_pretrain_steps,
        encoder_pretrain_steps=encoder_pretrain_steps,
        vision_pretrain_steps=vision_pretrain_steps,
    )
    return {name: str(folder / name) for name in COMPONENTS}
