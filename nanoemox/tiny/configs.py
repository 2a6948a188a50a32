"""Shapes of the tiny demo components: the new modules (`TINY_ARCH`) and the four pretrained stand-ins.

    configs = tiny_component_configs(vocab_size=len(tokenizer), lm={"hidden_size": 64})
    # {"vision": CLIPVisionConfig, "audio": HubertConfig, "face": SwinConfig, "lm": Qwen2Config}

Every width 32 and two layers (the tests' size); the demo asks for a wider LM through `lm`.
"""

from __future__ import annotations

from transformers import CLIPVisionConfig, HubertConfig, Qwen2Config, SwinConfig

# Tiny components: every width 32, two layers; sizes chosen so that 8 frames, 8 x 2 s clips and the
# face crops run in milliseconds on a CPU.
TINY_ARCH = {
    "num_frame_tokens": 8,
    "num_audio_tokens": 8,
    "adapter_hidden_size": 32,
    "adapter_num_layers": 2,
    "adapter_num_heads": 2,
    "adapter_intermediate_size": 64,
    "audio_pool_layers": 2,
    "face_feature_size": 32,
    "face_num_heads": 2,
    "face_mlp_hidden_size": 64,
    "fusion_vision_layers": [1, 2, 2],
    "fusion_audio_layers": [1, 2, 2],
    "fusion_hidden_size": 32,
    "fusion_num_heads": 2,
}


# The tiny LM's shape; `save_tiny_components(lm=...)` / the curriculum's `model.init.lm_config` override it (the demo
# asks for a wider, deeper LM than the tests' hidden-32 one).
TINY_LM = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
}


def tiny_component_configs(vocab_size: int, *, lm: dict | None = None) -> dict:
    """Configs of tiny random components (hidden 32, 2 layers); `lm` overrides Qwen2Config fields of the LM."""
    return {
        "vision": CLIPVisionConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=64,
            patch_size=16,
            projection_dim=32,
        ),
        "audio": HubertConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            conv_dim=(32, 32, 32),
            conv_kernel=(10, 8, 4),
            conv_stride=(5, 8, 4),
            conv_bias=True,
            num_conv_pos_embeddings=16,
            num_conv_pos_embedding_groups=4,
            feat_extract_norm="layer",
            do_stable_layer_norm=True,
            vocab_size=32,
        ),
        "face": SwinConfig(
            image_size=64,
            patch_size=4,
            embed_dim=16,
            depths=[1, 1, 1],
            num_heads=[1, 2, 2],
            window_size=4,
            out_features=["stage1", "stage2", "stage3"],
        ),
        "lm": Qwen2Config(
            vocab_size=vocab_size,
            max_position_embeddings=4096,
            tie_word_embeddings=True,
            **{**TINY_LM, **(lm or {})},
        ),
    }
