"""Configuration of Nano-EmoX: a composite config with one sub-config per pretrained component.

    vision_config  CLIP vision tower (frames)           default: CLIP ViT-L/14, 224 px
    audio_config   HuBERT (speech)                      default: HuBERT-Large
    face_config    a transformers backbone (faces)      default: Swin-B with its four stages as outputs
    text_config    Qwen2 (language model)               default: Qwen2.5-1.5B-Instruct

The defaults are the published full-size model (about 2.2B parameters); `nanoemox init --preset tiny`
writes a config with every width at 32 and two layers for tests.

Layer indices (`fusion_*_layers`, `vision_feature_layer`) index `hidden_states` as transformers returns
them: 0 is the embedding output, i is the output of layer i, -1 the last layer.
"""

from __future__ import annotations

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

# The names a config may use. modeling_nanoemox.py maps each name to a module class; a test checks
# that both lists agree. New systems (issue: related systems as modules) add their names here.
# qformer / gated_experts: Nano-EmoX. mlp: a light baseline. hybrid_compressor: Emotion-Qwen. lq_former: XMEI-Qwen
# (queries from language priors). cat_mod: Cat-MoD (guide + explorer queries, mixture of depths). egmf: EGMF.
FRAME_ADAPTERS = ("qformer", "mlp", "hybrid_compressor", "lq_former", "cat_mod")
AUDIO_ADAPTERS = FRAME_ADAPTERS
FUSION_MODULES = ("gated_experts", "egmf")
# Key-frame scorers of Emotion-Qwen's facial emotion capture; faces_nanoemox.FEC_SCORERS maps each to a function.
FEC_SCORERS = ("haar_smile", "expression_energy")
# Losses of the optional sentiment regression head: l1 (MMSA's convention for MOSI/MOSEI/SIMS) or mse.
SENTIMENT_LOSSES = ("l1", "mse")

# The four branches, in the order of `media_mask` and of the placeholders in a prompt. The first three read a
# modality of their own (and can be dropped or missing per sample); the fusion token needs both frames and audio.
BRANCHES = ("frame", "face", "audio", "fusion")
MEDIA_BRANCHES = ("frame", "face", "audio")
PLACEHOLDER_TOKENS = {branch: f"<|{branch}_pad|>" for branch in BRANCHES}
# Label value of the positions that carry no loss (prompt, media placeholders, padding), as in transformers.
IGNORE_INDEX = -100

# The model inputs that carry media (everything the processor returns beside input_ids and attention_mask). Only the
# prefill forward needs them: generate() drops them on decode steps. `encoder_features` is the feature cache's
# `EncoderFeatures` (features_nanoemox.py), standing in for the pixels and waveforms of the frozen encoders.
MEDIA_INPUTS = (
    "pixel_values_videos",
    "frame_mask",
    "face_pixel_values",
    "face_mask",
    "input_values",
    "audio_mask",
    "encoder_features",
    "prior_input_ids",
    "prior_mask",
    "fusion_mask",
)

CLIP_VIT_L_14 = {
    "hidden_size": 1024,
    "intermediate_size": 4096,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
    "patch_size": 14,
    "image_size": 224,
    "projection_dim": 768,
    "hidden_act": "quick_gelu",
}
HUBERT_LARGE = {
    "hidden_size": 1024,
    "intermediate_size": 4096,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
    "feat_extract_norm": "layer",
    "do_stable_layer_norm": True,
    "conv_bias": True,
    "vocab_size": 32,
}
SWIN_BASE = {
    "image_size": 224,
    "patch_size": 4,
    "embed_dim": 128,
    "depths": [2, 2, 18, 2],
    "num_heads": [4, 8, 16, 32],
    "window_size": 7,
    "out_features": ["stage1", "stage2", "stage3", "stage4"],
}
QWEN25_15B_INSTRUCT = {
    "vocab_size": 151936,
    "hidden_size": 1536,
    "intermediate_size": 8960,
    "num_hidden_layers": 28,
    "num_attention_heads": 12,
    "num_key_value_heads": 2,
    "max_position_embeddings": 32768,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": True,
    "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0},
    "bos_token_id": 151643,
    "eos_token_id": 151645,
}


@strict
class NanoEmoXConfig(PreTrainedConfig):
    r"""
    Composite configuration of [`NanoEmoXForConditionalGeneration`].

    Media layout:
        num_frames (`int`): frames sampled per clip (8).
        image_size of `vision_config` is the frame size; `face_config.image_size` the face-crop size.
        num_audio_clips (`int`), audio_clip_seconds (`float`), audio_sampling_rate (`int`): speech is cut
            into `num_audio_clips` windows of `audio_clip_seconds` at `audio_sampling_rate` (8 x 2 s, 16 kHz).
        num_key_frames (`int`): Emotion-Qwen's facial emotion capture (FEC): this many of the sampled frames whose
            faces look most expressive are appended again, masked to the face region, after the regular frames
            (0, off; Emotion-Qwen-style: 2). The frame branch then carries num_frames + num_key_frames frames, each
            with its own learned position; its LM token count is unchanged.
        fec_scorer (`str`): how FEC scores a frame's expressiveness, one of `FEC_SCORERS` ("haar_smile").
    Branches:
        frame_adapter / audio_adapter (`str`): module names, one of `FRAME_ADAPTERS` / `AUDIO_ADAPTERS`.
        num_frame_tokens / num_audio_tokens / num_face_tokens / num_fusion_tokens (`int`): LM tokens per
            branch (32 / 32 / 4 / 1).
        adapter_hidden_size, adapter_num_layers, adapter_num_heads, adapter_intermediate_size: Q-Former
            widths (768, 2 layers, 12 heads, 3072).
        vision_feature_layer (`int`): CLIP hidden state the frame adapter reads (-1: last layer).
        audio_pool_layers (`int`): per-clip speech feature = mean of the last N HuBERT layers (4).
        face_feature_size (`int`): per-frame face feature after multi-scale fusion (256).
        face_num_heads (`int`), face_mlp_hidden_size (`int`): temporal block heads (4) and output MLP (768).
        fusion (`str`): fusion module name, one of `FUSION_MODULES`.
        fusion_vision_layers / fusion_audio_layers (`list[int]`): layers read by the fusion encoder
            (12, 16, 22 / 16, 18, 22); one expert per pair.
        fusion_hidden_size, fusion_num_heads, fusion_num_experts: 512, 8, 3.
    Sentiment head (EGMF's regression head; off by default, on in the `egmf` curriculum preset):
        sentiment_head (`bool`): add a small MLP that regresses the sentiment score (MOSI/MOSEI scale, [-3, 3],
            as the schema's `labels.sentiment`) from the LM's last hidden state at the last prompt position; the
            outputs then carry `sentiment_score` (b,).
        sentiment_hidden_size (`int`): width of the head's hidden layer (256).
        sentiment_loss (`str`): "l1" (MMSA's convention) or "mse", on the rows that carry a gold score.
        sentiment_loss_weight (`float`): weight of that loss added to the LM loss (1.0).
    Tokens:
        frame_token_id, face_token_id, audio_token_id, fusion_token_id: placeholder ids in the tokenizer.
    """

    model_type = "nanoemox"
    sub_configs_defaults = {
        "vision_config": SubConfigSpec(AutoConfig, model_type="clip_vision_model", init_kwargs=CLIP_VIT_L_14),
        "audio_config": SubConfigSpec(AutoConfig, model_type="hubert", init_kwargs=HUBERT_LARGE),
        "face_config": SubConfigSpec(AutoConfig, model_type="swin", init_kwargs=SWIN_BASE),
        "text_config": SubConfigSpec(AutoConfig, model_type="qwen2", init_kwargs=QWEN25_15B_INSTRUCT),
    }

    vision_config: dict | PreTrainedConfig | None = None
    audio_config: dict | PreTrainedConfig | None = None
    face_config: dict | PreTrainedConfig | None = None
    text_config: dict | PreTrainedConfig | None = None

    num_frames: int = 8
    num_audio_clips: int = 8
    audio_clip_seconds: float = 2.0
    audio_sampling_rate: int = 16000
    num_key_frames: int = 0
    fec_scorer: str = "haar_smile"

    frame_adapter: str = "qformer"
    audio_adapter: str = "qformer"
    num_frame_tokens: int = 32
    num_audio_tokens: int = 32
    num_face_tokens: int = 4
    num_fusion_tokens: int = 1
    adapter_hidden_size: int = 768
    adapter_num_layers: int = 2
    adapter_num_heads: int = 12
    adapter_intermediate_size: int = 3072
    vision_feature_layer: int = -1
    audio_pool_layers: int = 4

    face_feature_size: int = 256
    face_num_heads: int = 4
    face_mlp_hidden_size: int = 768

    fusion: str = "gated_experts"
    fusion_vision_layers: list[int] | None = None
    fusion_audio_layers: list[int] | None = None
    fusion_hidden_size: int = 512
    fusion_num_heads: int = 8
    fusion_num_experts: int = 3

    sentiment_head: bool = False
    sentiment_hidden_size: int = 256
    sentiment_loss: str = "l1"
    sentiment_loss_weight: float = 1.0

    frame_token_id: int | None = None
    face_token_id: int | None = None
    audio_token_id: int | None = None
    fusion_token_id: int | None = None

    initializer_range: float = 0.02
    tie_word_embeddings: bool = True

    def __post_init__(self, **kwargs):
        if self.fusion_vision_layers is None:
            self.fusion_vision_layers = [12, 16, 22]
        if self.fusion_audio_layers is None:
            self.fusion_audio_layers = [16, 18, 22]
        super().__post_init__(**kwargs)
        self.tie_word_embeddings = bool(getattr(self.text_config, "tie_word_embeddings", self.tie_word_embeddings))
        self.validate_nanoemox()

    # ------------------------------------------------------------------ validation
    def _fail(self, field: str, value, why: str):
        raise ValueError(f"NanoEmoXConfig.{field}={value!r}: {why}")

    def validate_nanoemox(self) -> None:
        """Raise `ValueError` naming the first field whose value cannot build a model."""
        for field in (
            "num_frames",
            "num_audio_clips",
            "audio_sampling_rate",
            "num_frame_tokens",
            "num_audio_tokens",
            "num_face_tokens",
            "num_fusion_tokens",
            "adapter_hidden_size",
            "adapter_num_layers",
            "adapter_num_heads",
            "adapter_intermediate_size",
            "audio_pool_layers",
            "face_feature_size",
            "face_num_heads",
            "face_mlp_hidden_size",
            "fusion_hidden_size",
            "fusion_num_heads",
            "fusion_num_experts",
            "sentiment_hidden_size",
        ):
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                self._fail(field, value, "must be a positive integer")
        if (
            not isinstance(self.num_key_frames, int)
            or isinstance(self.num_key_frames, bool)
            or not 0 <= self.num_key_frames <= self.num_frames
        ):
            self._fail("num_key_frames", self.num_key_frames, f"must be an integer in 0..num_frames={self.num_frames}")
        if self.fec_scorer not in FEC_SCORERS:
            self._fail("fec_scorer", self.fec_scorer, f"expected one of {FEC_SCORERS}")
        if not self.audio_clip_seconds > 0:
            self._fail("audio_clip_seconds", self.audio_clip_seconds, "must be positive")
        if self.frame_adapter not in FRAME_ADAPTERS:
            self._fail("frame_adapter", self.frame_adapter, f"expected one of {FRAME_ADAPTERS}")
        if self.audio_adapter not in AUDIO_ADAPTERS:
            self._fail("audio_adapter", self.audio_adapter, f"expected one of {AUDIO_ADAPTERS}")
        if self.fusion not in FUSION_MODULES:
            self._fail("fusion", self.fusion, f"expected one of {FUSION_MODULES}")
        if not isinstance(self.sentiment_head, bool):
            self._fail("sentiment_head", self.sentiment_head, "must be true or false")
        if self.sentiment_loss not in SENTIMENT_LOSSES:
            self._fail("sentiment_loss", self.sentiment_loss, f"expected one of {SENTIMENT_LOSSES}")
        weight = self.sentiment_loss_weight
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight < float("inf"):
            self._fail("sentiment_loss_weight", weight, "must be a finite number >= 0")
        for field, heads in (
            ("adapter_hidden_size", self.adapter_num_heads),
            ("face_feature_size", self.face_num_heads),
            ("fusion_hidden_size", self.fusion_num_heads),
        ):
            if getattr(self, field) % heads:
                self._fail(field, getattr(self, field), f"must be divisible by its number of heads ({heads})")
        vision_layers = self.vision_config.num_hidden_layers
        audio_layers = self.audio_config.num_hidden_layers
        if not -vision_layers <= self.vision_feature_layer <= vision_layers or self.vision_feature_layer == 0:
            self._fail(
                "vision_feature_layer", self.vision_feature_layer, f"the vision tower has {vision_layers} layers"
            )
        if self.audio_pool_layers > audio_layers:
            self._fail("audio_pool_layers", self.audio_pool_layers, f"the speech encoder has {audio_layers} layers")
        for field, layers, depth in (
            ("fusion_vision_layers", self.fusion_vision_layers, vision_layers),
            ("fusion_audio_layers", self.fusion_audio_layers, audio_layers),
        ):
            if len(layers) != self.fusion_num_experts:
                self._fail(field, layers, f"needs one layer per expert (fusion_num_experts={self.fusion_num_experts})")
            if any(not isinstance(i, int) or not 1 <= i <= depth for i in layers):
                self._fail(field, layers, f"layer indices must lie in 1..{depth}")
        out_features = getattr(self.face_config, "out_features", None)
        if not out_features:
            self._fail("face_config.out_features", out_features, "the face backbone must return multi-scale features")
        ids = {k: getattr(self, f"{k}_token_id") for k in PLACEHOLDER_TOKENS}
        given = [v for v in ids.values() if v is not None]
        if len(set(given)) != len(given):
            self._fail("*_token_id", ids, "placeholder token ids must be distinct")
        vocab = self.text_config.vocab_size
        for key, value in ids.items():
            if value is not None and not 0 <= value < vocab:
                self._fail(f"{key}_token_id", value, f"outside the vocabulary (size {vocab})")

    @property
    def audio_clip_samples(self) -> int:
        return int(round(self.audio_clip_seconds * self.audio_sampling_rate))

    @property
    def media_tokens_per_clip(self) -> int:
        return self.num_frame_tokens + self.num_audio_tokens + self.num_face_tokens + self.num_fusion_tokens


__all__ = ["NanoEmoXConfig"]
