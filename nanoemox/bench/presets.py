"""The benchmark's presets: how many repeats and steps each runs, and the `small` preset's random components.

tiny   hidden 32, 2 layers (the test checkpoint; `nanoemox.tiny`)
small  random components of a few tens of millions of parameters at the real frame, face and audio sizes
full   the published shapes with random weights (~9.2 GB in fp32)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import (
    CLIPVisionConfig,
    CLIPVisionModel,
    HubertConfig,
    HubertModel,
    Qwen2Config,
    Qwen2ForCausalLM,
    SwinBackbone,
    SwinConfig,
)

from nanoemox.tiny.tokenizer import train_tiny_tokenizer


@dataclass(frozen=True)
class Preset:
    name: str
    repeats: int = field(metadata={"help": "timing repeats (medians are reported)"})
    decode_steps: int = field(metadata={"help": "decode steps timed per repeat"})
    new_tokens: int = field(metadata={"help": "greedy new tokens per answer in the batching section"})
    batch_sizes: tuple[int, ...] = (1, 8, 32)
    loader_batches: int = 6
    long_prefill_repeats: int = 3


PRESETS = {
    "tiny": Preset("tiny", repeats=9, decode_steps=64, new_tokens=16),
    "small": Preset("small", repeats=5, decode_steps=24, new_tokens=16),
    "full": Preset(
        "full", repeats=3, decode_steps=8, new_tokens=4, batch_sizes=(1,), loader_batches=4, long_prefill_repeats=1
    ),
}

SMALL_ARCH = {
    "adapter_hidden_size": 256,
    "adapter_num_layers": 2,
    "adapter_num_heads": 4,
    "adapter_intermediate_size": 1024,
    "face_feature_size": 64,
    "face_num_heads": 4,
    "face_mlp_hidden_size": 256,
    "fusion_vision_layers": [2, 3, 4],
    "fusion_audio_layers": [2, 3, 4],
    "fusion_hidden_size": 128,
    "fusion_num_heads": 4,
}


def small_component_configs(vocab_size: int) -> dict:
    """Random components of a few tens of millions of parameters at the real media sizes (224 px, 20 ms audio)."""
    return {
        "vision": CLIPVisionConfig(
            hidden_size=256, intermediate_size=1024, num_hidden_layers=4, num_attention_heads=4, patch_size=14
        ),
        "audio": HubertConfig(
            hidden_size=256,
            intermediate_size=1024,
            num_hidden_layers=4,
            num_attention_heads=4,
            conv_dim=(128,) * 7,
            num_conv_pos_embeddings=64,
            num_conv_pos_embedding_groups=16,
            feat_extract_norm="layer",
            do_stable_layer_norm=True,
            conv_bias=True,
            vocab_size=32,
        ),
        "face": SwinConfig(
            embed_dim=32,
            depths=[2, 2, 2, 2],
            num_heads=[1, 2, 4, 8],
            out_features=["stage1", "stage2", "stage3", "stage4"],
        ),
        "lm": Qwen2Config(
            vocab_size=vocab_size,
            hidden_size=512,
            intermediate_size=1536,
            num_hidden_layers=6,
            num_attention_heads=8,
            num_key_value_heads=2,
            max_position_embeddings=8192,
            tie_word_embeddings=True,
        ),
    }


def save_small_components(folder: Path, seed: int = 0) -> dict[str, str]:
    """Random `small` components (and the tiny tokenizer beside the LM) in `folder`; returns {component: path}."""
    torch.manual_seed(seed)
    tokenizer = train_tiny_tokenizer()
    classes = {"vision": CLIPVisionModel, "audio": HubertModel, "face": SwinBackbone, "lm": Qwen2ForCausalLM}
    paths = {}
    for name, config in small_component_configs(len(tokenizer)).items():
        classes[name](config).save_pretrained(folder / name)
        paths[name] = str(folder / name)
    tokenizer.save_pretrained(folder / "lm")
    return paths
