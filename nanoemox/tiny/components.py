"""The tiny demo components on disk: random (or pre-trained) CLIP, HuBERT, Swin and Qwen2 stand-ins, ready to compose.

    paths = save_tiny_components("components/")                        # random, hidden 32, 2 layers: seconds
    paths = save_tiny_components("components/", lm_pretrain_steps=2000, encoder_pretrain_steps=200)   # the demo's
    compose_checkpoint("ckpt/", **paths, arch=TINY_ARCH)

The demo asks for pre-training in its curriculum's `model.init` (train/configs/demo.yaml); tests mostly do not.

Pre-trained components take minutes to make and are fully determined by their settings, so they are cached
(`nanoemox.tiny.cache`: `~/.cache/nanoemox/tiny-components/<key>/`, or under `$NANOEMOX_CACHE`) and copied from
there by later runs with the same settings; the key covers the seed, the LM's shape, the pre-training steps, the
source of every module that shapes the result and the versions of the libraries that run it. Random components are
made afresh each time.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import logging
import os
import shutil
from pathlib import Path

import torch
from transformers import CLIPVisionModel, HubertModel, Qwen2ForCausalLM, SwinBackbone

from .cache import cached_folder
from .configs import TINY_ARCH, TINY_LM, tiny_component_configs
from .encoder_pretrain import pretrain_face_backbone, pretrain_frame_encoder, pretrain_speech_encoder
from .lm_pretrain import pretrain_tiny_lm
from .tokenizer import train_tiny_tokenizer

logger = logging.getLogger(__name__)

COMPONENTS = ("vision", "audio", "face", "lm")
CLASSES = {"vision": CLIPVisionModel, "audio": HubertModel, "face": SwinBackbone, "lm": Qwen2ForCausalLM}
# the modules whose code decides what the pre-trained components hold: their sources are part of the cache key
SOURCES = (
    "nanoemox.tiny.components",
    "nanoemox.tiny.configs",
    "nanoemox.tiny.tokenizer",
    "nanoemox.tiny.lm_pretrain",
    "nanoemox.tiny.encoder_pretrain",
    "nanoemox.chat_template",
    "nanoemox.modeling.configuration_nanoemox",
    "nanoemox.modeling.prompts_nanoemox",
    "nanoemox.modeling.faces_nanoemox",
    "nanoemox.processing.demo_media",
)
LIBRARIES = ("torch", "transformers", "tokenizers", "numpy", "pillow", "av")
RNG_FILE = "torch_rng_state.pt"


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


def code_version() -> dict:
    """What, besides the settings, decides the components: the package version, a digest of the source of
    `SOURCES` and the versions of `LIBRARIES` (random initialisation and kernels change between releases)."""
    digest = hashlib.sha256()
    for name in SOURCES:
        digest.update(Path(importlib.util.find_spec(name).origin).read_bytes())
    versions = {}
    for library in ("nanoemox", *LIBRARIES):
        try:
            versions[library] = importlib.metadata.version(library)
        except importlib.metadata.PackageNotFoundError:
            versions[library] = None
    return {"source_sha256": digest.hexdigest(), "versions": versions}


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
    tiny CLIP on drawn scenes (opt-in, see demo.yaml). Anything pre-trained comes from the cache when an earlier run
    made it with the same settings. Returns {component: path}, ready for `compose_checkpoint`.
    """
    folder = Path(folder)
    steps = {
        "lm_pretrain_steps": lm_pretrain_steps,
        "encoder_pretrain_steps": encoder_pretrain_steps,
        "vision_pretrain_steps": vision_pretrain_steps,
    }
    if not any(steps.values()):
        _make(folder, seed=seed, lm=lm, **steps)
        return {name: str(folder / name) for name in COMPONENTS}

    def make(partial: Path) -> None:
        _make(partial, seed=seed, lm=lm, **steps)
        torch.save(torch.get_rng_state(), partial / RNG_FILE)

    settings = {"seed": seed, "lm": {**TINY_LM, **(lm or {})}, **steps, "code": code_version()}
    entry = cached_folder("tiny-components", settings, make)
    for name in COMPONENTS:
        shutil.copytree(entry / name, folder / name, dirs_exist_ok=True)
    # Leave torch's global RNG where making the components leaves it, cached or not: what a caller draws next (the
    # placeholder embeddings `compose_checkpoint` adds) is then the same on the first run and on later ones.
    torch.set_rng_state(torch.load(entry / RNG_FILE))
    return {name: str(folder / name) for name in COMPONENTS}
