"""Nano-EmoX: frames, faces and speech read by frozen encoders, adapted to a Qwen2 language model.

Dimension legend:
    b batch    t frames per clip    c audio clips    s samples per audio clip    q tokens of a branch
    n tokens of an encoder output   d width (d_lm: language model)

Per clip the language model sees `num_frame_tokens` (32) + `num_face_tokens` (4) + `num_audio_tokens` (32)
+ `num_fusion_tokens` (1) media tokens, placed where the processor expanded each branch's placeholder.
A branch whose modality a sample lacks (no face, no audio track, text only) has no placeholders in that
sample's text and is not encoded for it; the fusion token needs both frames and audio (and `fusion_mask`, if given).

Media enters only at prefill: `prepare_inputs_for_generation` drops every media input on decode steps, so
generation reuses the KV cache and never re-runs an encoder.

With `config.sentiment_head` (EGMF's regression head) the outputs also carry `sentiment_score` (b,), computed at
prefill from the LM's last hidden state at the last prompt position (see `SentimentHead`).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoBackbone, AutoModel, GenerationMixin, PreTrainedModel
from transformers.cache_utils import Cache
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast
from transformers.utils.generic import can_return_tuple

from .adapters_nanoemox import TaskAdaptersMixin
from .configuration_nanoemox import BRANCHES, IGNORE_INDEX, MEDIA_INPUTS, PLACEHOLDER_TOKENS, NanoEmoXConfig
from .features_nanoemox import EncoderFeatures
from .modules_nanoemox import (
    ADAPTERS,
    FUSIONS,
    FaceTemporalAdapter,
    MultiScaleFaceFusion,
    SentimentHead,
    last_prompt_positions,
)
from .prefill_nanoemox import PrefillMixin, PrefillRecord
from .related_nanoemox import RELATED_ADAPTERS, RELATED_FUSIONS

ADAPTER_CLASSES = {**ADAPTERS, **RELATED_ADAPTERS}
FUSION_CLASSES = {**FUSIONS, **RELATED_FUSIONS}
# adapters whose queries start from language priors (XMEI-Qwen's LQ-Former, Cat-MoD's guide tokens)
PRIOR_ADAPTERS = ("lq_former", "cat_mod")

# The KV cache's name in forward arguments, outputs and generate's model kwargs: transformers 5.24 renamed
# `past_key_values` to `cache`. Both releases are supported: the outputs inherit transformers' own field, the
# forwards accept either name, and the language model is called with the name its release expects.
CACHE_KEY = "cache" if "cache" in BaseModelOutputWithPast.__dataclass_fields__ else "past_key_values"


@dataclass
class NanoEmoXModelOutputWithPast(BaseModelOutputWithPast):
    """
    The language model's outputs (last_hidden_state, the KV cache, hidden_states, attentions), plus:
    fusion_gate_weights (`(b, experts)`): the fusion gate per sample (zeros where the fusion token is absent).
    media_mask (`(b, 4)` bool): which branches (frame, face, audio, fusion) each sample used.
    sentiment_score (`(b,)`): the sentiment head's score (None without the head, and on decode steps).
    """

    fusion_gate_weights: torch.FloatTensor | None = None
    media_mask: torch.BoolTensor | None = None
    sentiment_score: torch.FloatTensor | None = None


@dataclass
class NanoEmoXCausalLMOutputWithPast(CausalLMOutputWithPast):
    """
    loss: the LM loss, plus `sentiment_loss_weight * sentiment_loss` when the head has gold scores to fit.
    logits, the KV cache, hidden_states, attentions: as the language model's; then the branch outputs as in
    `NanoEmoXModelOutputWithPast`.
    sentiment_loss: the head's L1 (or MSE) loss on the rows with a gold score (None when there are none).
    """

    fusion_gate_weights: torch.FloatTensor | None = None
    media_mask: torch.BoolTensor | None = None
    sentiment_score: torch.FloatTensor | None = None
    sentiment_loss: torch.FloatTensor | None = None


class NanoEmoXPreTrainedModel(PreTrainedModel):
    config: NanoEmoXConfig
    config_class = NanoEmoXConfig
    base_model_prefix = "model"
    input_modalities = ("video", "audio", "text")
    supports_gradient_checkpointing = True
    _skip_keys_device_placement = [CACHE_KEY]
    _no_split_modules = ["Qwen2DecoderLayer", "CLIPEncoderLayer", "HubertEncoderLayerStableLayerNorm", "SwinStage"]
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_attention_backend = True

    def enable_input_require_grads(self):
        """Make the LM's input embeddings require grad (for PEFT / checkpointing with a frozen LM).

        Only the language model's embeddings: the generic version also hooks the encoders' patch embeddings,
        and Swin's returns a tuple. Media features reach the LM through `inputs_embeds`, so this one hook
        is enough for gradients to flow back into the adapters.
        """

        def make_inputs_require_grads(module, inputs, output):
            output.requires_grad_(True)

        self._require_grads_hooks = [self.get_input_embeddings().register_forward_hook(make_inputs_require_grads)]
        self._require_grads_hook = self._require_grads_hooks[0]

    def save_pretrained(self, save_directory, *args, is_main_process: bool = True, **kwargs):
        """`PreTrainedModel.save_pretrained`, then what makes the folder a complete checkpoint
        (`checkpoint_nanoemox`): the config's `auto_map` and `custom_pipelines`, every code file, `requirements.txt`,
        and, when the folder has no processor yet, the processor of the checkpoint this model was loaded from; the
        config records what changed since the model was loaded (`training_history`; `training_note=` adds what the
        caller did). Every save route goes through here: `Trainer.save_model`, a merged PEFT model, `push_to_hub`
        (which saves to a folder first)."""
        from .checkpoint_nanoemox import point_config_at_code, record_training, save_processor_beside, write_code

        point_config_at_code(self.config)
        record_training(self, kwargs.pop("training_note", None))  # the history the model card is rendered from
        super().save_pretrained(save_directory, *args, is_main_process=is_main_process, **kwargs)
        if is_main_process:
            write_code(save_directory, __file__)
            save_processor_beside(self, save_directory)

    def _init_weights(self, module):
        super()._init_weights(module)
        std = self.config.initializer_range
        for name in ("queries",):
            param = getattr(module, name, None)
            if isinstance(param, nn.Parameter):
                nn.init.normal_(param, std=std)


def _scatter_rows(values: torch.Tensor, rows: torch.Tensor, batch: int) -> torch.Tensor:
    """Place `values` (len(rows), ...) at `rows` of a zero tensor with `batch` rows."""
    out = values.new_zeros((batch, *values.shape[1:]))
    return out.index_copy(0, rows, values)


class NanoEmoXModel(NanoEmoXPreTrainedModel):
    """Encoders, adapters, fusion and the language model (no LM head)."""

    def __init__(self, config: NanoEmoXConfig):
        super().__init__(config)
        lm_dim = config.text_config.hidden_size
        vision_dim = config.vision_config.hidden_size
        audio_dim = config.audio_config.hidden_size

        self.vision_tower = AutoModel.from_config(config.vision_config)
        self.audio_tower = AutoModel.from_config(config.audio_config)
        self.face_backbone = AutoBackbone.from_config(config.face_config)
        self.language_model = AutoModel.from_config(config.text_config)

        adapter_kwargs = dict(
            out_dim=lm_dim,
            hidden=config.adapter_hidden_size,
            num_layers=config.adapter_num_layers,
            num_heads=config.adapter_num_heads,
            intermediate=config.adapter_intermediate_size,
        )
        self.frame_adapter = ADAPTER_CLASSES[config.frame_adapter](
            in_dim=vision_dim,
            num_queries=config.num_frame_tokens,
            num_groups=config.num_frames + config.num_key_frames,
            **adapter_kwargs,
        )
        self.audio_adapter = ADAPTER_CLASSES[config.audio_adapter](
            in_dim=audio_dim, num_queries=config.num_audio_tokens, num_groups=config.num_audio_clips, **adapter_kwargs
        )
        self.face_fusion = MultiScaleFaceFusion(
            in_channels=list(self.face_backbone.channels), dim=config.face_feature_size
        )
        self.face_adapter = FaceTemporalAdapter(
            dim=config.face_feature_size,
            out_dim=lm_dim,
            num_queries=config.num_face_tokens,
            num_heads=config.face_num_heads,
            hidden=config.face_mlp_hidden_size,
            num_frames=config.num_frames,
        )
        self.fusion = FUSION_CLASSES[config.fusion](
            vision_dim=vision_dim,
            audio_dim=audio_dim,
            dim=config.fusion_hidden_size,
            num_heads=config.fusion_num_heads,
            num_experts=config.fusion_num_experts,
            out_dim=lm_dim,
            num_tokens=config.num_fusion_tokens,
        )
        self.sentiment_head = (
            SentimentHead(dim=lm_dim, hidden=config.sentiment_hidden_size) if config.sentiment_head else None
        )
        self.post_init()

    def train(self, mode: bool = True):
        """Like `nn.Module.train`, but a fully frozen encoder stays in eval mode.

        A frozen HuBERT in train mode would still drop layers and mask time steps at random, and a frozen
        CLIP or Swin would still apply dropout: frozen encoders must behave as fixed feature extractors (and
        must match the feature cache).
        """
        super().train(mode)
        for name in ("vision_tower", "audio_tower", "face_backbone"):
            tower = getattr(self, name)
            if mode and not any(p.requires_grad for p in tower.parameters()):
                tower.eval()
        return self

    def get_input_embeddings(self):
        return self.language_model.get_input_embeddings()

    def set_input_embeddings(self, value):
        self.language_model.set_input_embeddings(value)

    # ------------------------------------------------------------------ encoders
    def encode_frames(self, pixel_values_videos: torch.Tensor, frame_mask: torch.Tensor) -> dict:
        """pixel_values_videos (b, t, 3, H, W), frame_mask (b, t) -> encoder features of the valid frames:
        `adapter` (b, t, n, d_v) and `fusion` [(b, t, d_v)] per fusion layer (zeros at masked frames)."""
        b, t = frame_mask.shape
        flat_mask = frame_mask.reshape(-1)
        pixels = pixel_values_videos.reshape(b * t, *pixel_values_videos.shape[2:])[flat_mask]
        pixels = pixels.to(self.vision_tower.dtype)
        hidden = self.vision_tower(pixel_values=pixels, output_hidden_states=True).hidden_states
        rows = flat_mask.nonzero().squeeze(1)
        adapter = _scatter_rows(hidden[self.config.vision_feature_layer], rows, b * t)
        fusion = [
            _scatter_rows(hidden[i].mean(1), rows, b * t).view(b, t, -1) for i in self.config.fusion_vision_layers
        ]
        return {"adapter": adapter.view(b, t, *adapter.shape[1:]), "fusion": fusion}

    def encode_audio(self, input_values: torch.Tensor, audio_mask: torch.Tensor) -> dict:
        """input_values (b, c, s) waveform clips, audio_mask (b, c) -> `adapter` (b, c, 1, d_a) the mean of the
        last `audio_pool_layers` layers averaged over time, and `fusion` [(b, c, d_a)] per fusion layer."""
        b, c = audio_mask.shape
        flat_mask = audio_mask.reshape(-1)
        clips = input_values.reshape(b * c, -1)[flat_mask].to(self.audio_tower.dtype)
        hidden = self.audio_tower(input_values=clips, output_hidden_states=True).hidden_states
        rows = flat_mask.nonzero().squeeze(1)
        pooled = torch.stack(hidden[-self.config.audio_pool_layers :]).mean(0).mean(1)
        adapter = _scatter_rows(pooled, rows, b * c).view(b, c, 1, -1)
        fusion = [
            _scatter_rows(hidden[i].mean(1), rows, b * c).view(b, c, -1) for i in self.config.fusion_audio_layers
        ]
        return {"adapter": adapter, "fusion": fusion}

    def encode_faces(self, face_pixel_values: torch.Tensor, face_mask: torch.Tensor) -> dict:
        """face_pixel_values (b, t, 3, h, w), face_mask (b, t) -> `maps`: the backbone's multi-scale feature maps
        of the valid crops, and `rows`, their flat (b*t) positions."""
        b, t = face_mask.shape
        flat_mask = face_mask.reshape(-1)
        crops = face_pixel_values.reshape(b * t, *face_pixel_values.shape[2:])[flat_mask]
        maps = self.face_backbone(pixel_values=crops.to(self.face_backbone.dtype)).feature_maps
        return {"maps": list(maps), "rows": flat_mask.nonzero().squeeze(1)}

    def encode_media(
        self,
        *,
        pixel_values_videos: torch.Tensor | None = None,
        frame_mask: torch.Tensor | None = None,
        face_pixel_values: torch.Tensor | None = None,
        face_mask: torch.Tensor | None = None,
        input_values: torch.Tensor | None = None,
        audio_mask: torch.Tensor | None = None,
        **_other_inputs,
    ) -> EncoderFeatures:
        """The frozen encoders' outputs of a batch's media inputs (what a feature cache stores), for the branches
        some sample has; other model inputs (input_ids, priors, ...) are ignored."""
        features: EncoderFeatures = {}
        if pixel_values_videos is not None and frame_mask is not None and frame_mask.any():
            features["frame"] = self.encode_frames(pixel_values_videos, frame_mask)
        if input_values is not None and audio_mask is not None and audio_mask.any():
            features["audio"] = self.encode_audio(input_values, audio_mask)
        if face_pixel_values is not None and face_mask is not None and face_mask.any():
            features["face"] = self.encode_faces(face_pixel_values, face_mask)
        return features

    # ------------------------------------------------------------------ branch features
    def get_media_features(
        self,
        *,
        batch_size: int,
        pixel_values_videos: torch.Tensor | None = None,
        frame_mask: torch.Tensor | None = None,
        face_pixel_values: torch.Tensor | None = None,
        face_mask: torch.Tensor | None = None,
        input_values: torch.Tensor | None = None,
        audio_mask: torch.Tensor | None = None,
        encoder_features: EncoderFeatures | None = None,
        prior_input_ids: torch.LongTensor | None = None,
        prior_mask: torch.Tensor | None = None,
        fusion_mask: torch.Tensor | None = None,
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor | None]:
        """LM tokens of every branch for the samples that have it.

        `encoder_features` (an `EncoderFeatures`, e.g. from a feature cache) may carry the outputs of
        `encode_frames` / `encode_audio` / `encode_faces` under "frame" / "audio" / "face"; those encoders are then
        not run. `fusion_mask` (b,): False leaves a sample without its fusion token, though it has frames and audio.

        Returns (tokens, present, gate): tokens[branch] (n_present, q, d_lm) in batch order,
        present[branch] (b,) bool, gate (b, experts) or None.
        """
        encoder_features = dict(encoder_features or {})
        device = self.get_input_embeddings().weight.device
        no = torch.zeros(batch_size, dtype=torch.bool, device=device)
        tokens, present = {}, {name: no for name in BRANCHES}
        vision = audio = None
        prior = None
        if prior_input_ids is not None:
            prior_mask = (
                torch.ones_like(prior_input_ids, dtype=torch.bool) if prior_mask is None else prior_mask.bool()
            )
            prior = (self.get_input_embeddings()(prior_input_ids), prior_mask)

        def adapt(adapter, name: str, feats, mask, rows):
            if name in PRIOR_ADAPTERS and prior is not None:
                return adapter(feats, mask, prior_embeds=prior[0][rows], prior_mask=prior[1][rows])
            return adapter(feats, mask)

        def as_mask(mask, values, groups):
            if mask is None:
                return torch.ones(values.shape[0], groups, dtype=torch.bool, device=values.device)
            return mask.to(torch.bool)

        if pixel_values_videos is not None or "frame" in encoder_features:
            ref = pixel_values_videos if pixel_values_videos is not None else encoder_features["frame"]["adapter"]
            frame_mask = as_mask(frame_mask, ref, ref.shape[1])
            present["frame"] = frame_mask.any(1)
            if present["frame"].any():
                vision = encoder_features.get("frame") or self.encode_frames(pixel_values_videos, frame_mask)
                rows = present["frame"]
                tokens["frame"] = adapt(
                    self.frame_adapter, self.config.frame_adapter, vision["adapter"][rows], frame_mask[rows], rows
                )
        if input_values is not None or "audio" in encoder_features:
            ref = input_values if input_values is not None else encoder_features["audio"]["adapter"]
            audio_mask = as_mask(audio_mask, ref, ref.shape[1])
            present["audio"] = audio_mask.any(1)
            if present["audio"].any():
                audio = encoder_features.get("audio") or self.encode_audio(input_values, audio_mask)
                rows = present["audio"]
                tokens["audio"] = adapt(
                    self.audio_adapter, self.config.audio_adapter, audio["adapter"][rows], audio_mask[rows], rows
                )
        if face_pixel_values is not None or "face" in encoder_features:
            ref = face_pixel_values if face_pixel_values is not None else face_mask
            face_mask = as_mask(face_mask, ref, ref.shape[1])
            present["face"] = face_mask.any(1)
            if present["face"].any():
                faces = encoder_features.get("face") or self.encode_faces(face_pixel_values, face_mask)
                b, t = face_mask.shape
                per_frame = _scatter_rows(self.face_fusion(faces["maps"]), faces["rows"], b * t).view(b, t, -1)
                rows = present["face"]
                tokens["face"] = self.face_adapter(per_frame[rows], face_mask[rows])
        gate = None
        present["fusion"] = present["frame"] & present["audio"]
        if fusion_mask is not None:
            present["fusion"] = present["fusion"] & fusion_mask.to(device=device, dtype=torch.bool)
        if present["fusion"].any():
            rows = present["fusion"]
            fusion_tokens, gate_rows = self.fusion(
                [v[rows] for v in vision["fusion"]],
                frame_mask[rows],
                [a[rows] for a in audio["fusion"]],
                audio_mask[rows],
            )
            tokens["fusion"] = fusion_tokens
            gate = _scatter_rows(gate_rows, rows.nonzero().squeeze(1), batch_size)
        return tokens, present, gate

    def get_placeholder_mask(
        self, input_ids: torch.LongTensor | None, inputs_embeds: torch.Tensor, branch: str, present: torch.Tensor
    ) -> torch.Tensor:
        """(b, n) mask of the `branch` placeholders, after checking that each sample has exactly as many as
        its features need (`num_<branch>_tokens` when it has the modality, none otherwise)."""
        token_id = getattr(self.config, f"{branch}_token_id")
        if token_id is None:
            if present.any():
                raise ValueError(f"config.{branch}_token_id is not set, so {branch} features cannot be placed")
            return torch.zeros(inputs_embeds.shape[:2], dtype=torch.bool, device=inputs_embeds.device)
        if input_ids is None:
            target = self.get_input_embeddings()(torch.tensor(token_id, device=inputs_embeds.device))
            mask = (inputs_embeds == target).all(-1)
        else:
            mask = input_ids == token_id
        found = mask.sum(1)
        expected = present.to(found.device).long() * getattr(self.config, f"num_{branch}_tokens")
        if not torch.equal(found, expected):
            bad = (found != expected).nonzero().flatten().tolist()
            details = ", ".join(f"sample {i}: {found[i].item()} found, {expected[i].item()} expected" for i in bad)
            raise ValueError(
                f"{PLACEHOLDER_TOKENS[branch]} placeholders do not match the {branch} features ({details}). "
                "Let the processor expand the placeholders, and give a sample media only when its text has them."
            )
        return mask

    def embed_inputs(
        self,
        input_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.FloatTensor | None = None,
        *,
        is_prefill: bool = True,
        **media,
    ) -> tuple[torch.FloatTensor, torch.BoolTensor, torch.FloatTensor | None]:
        """Token embeddings with every branch's features in place of its placeholders.

        `media` takes the media arguments of `forward`. Returns (inputs_embeds (b, n, d_lm),
        media_mask (b, 4) for frame/face/audio/fusion, fusion gate weights (b, experts) or None). Callers that
        need the gate before generating (the pipeline) use this and pass `inputs_embeds` to `generate`.
        """
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("give exactly one of input_ids and inputs_embeds")
        if inputs_embeds is None:
            inputs_embeds = self.get_input_embeddings()(input_ids)
        batch = inputs_embeds.shape[0]
        tokens, present, gate = self.get_media_features(batch_size=batch, **media)
        for branch in BRANCHES:
            # decode steps carry only new text tokens; placeholders can only appear at prefill
            if not is_prefill and branch not in tokens:
                continue
            mask = self.get_placeholder_mask(input_ids, inputs_embeds, branch, present[branch])
            if branch in tokens:
                feats = tokens[branch].to(inputs_embeds.device, inputs_embeds.dtype)
                inputs_embeds = inputs_embeds.masked_scatter(mask.unsqueeze(-1), feats)
        media_mask = torch.stack([present[b] for b in BRANCHES], dim=1)
        if gate is None:
            gate = inputs_embeds.new_zeros(batch, self.config.fusion_num_experts)
        return inputs_embeds, media_mask, gate

    # ------------------------------------------------------------------ forward
    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.FloatTensor | None = None,
        pixel_values_videos: torch.FloatTensor | None = None,
        frame_mask: torch.BoolTensor | None = None,
        face_pixel_values: torch.FloatTensor | None = None,
        face_mask: torch.BoolTensor | None = None,
        input_values: torch.FloatTensor | None = None,
        audio_mask: torch.BoolTensor | None = None,
        encoder_features: EncoderFeatures | None = None,
        prior_input_ids: torch.LongTensor | None = None,
        prior_mask: torch.Tensor | None = None,
        fusion_mask: torch.BoolTensor | None = None,
        use_cache: bool | None = None,
        sentiment_positions: torch.LongTensor | None = None,
        past_key_values: Cache | None = None,
        **kwargs,
    ) -> NanoEmoXModelOutputWithPast:
        r"""
        cache: the KV cache (`past_key_values` before transformers 5.24; either name is accepted).
        sentiment_positions (`(b,)`): where the sentiment head reads the last hidden state (default: each row's last
            attended token, the end of a generation prompt). Ignored without `config.sentiment_head`.
        """
        media_given = any(
            x is not None
            for x in (pixel_values_videos, face_pixel_values, input_values, encoder_features, prior_input_ids)
        )
        cache = past_key_values if cache is None else cache
        is_prefill = cache is None or cache.get_seq_length() == 0
        if not is_prefill and not media_given and inputs_embeds is None:
            # a decode step: new text tokens only, no media to place; the bare embedding lookup
            return self._language_model_output(
                self.get_input_embeddings()(input_ids),
                attention_mask,
                position_ids,
                cache,
                use_cache,
                None,
                None,
                **kwargs,
            )
        inputs_embeds, media_mask, gate = self.embed_inputs(
            input_ids,
            inputs_embeds,
            is_prefill=is_prefill,
            pixel_values_videos=pixel_values_videos,
            frame_mask=frame_mask,
            face_pixel_values=face_pixel_values,
            face_mask=face_mask,
            input_values=input_values,
            audio_mask=audio_mask,
            encoder_features=encoder_features,
            prior_input_ids=prior_input_ids,
            prior_mask=prior_mask,
            fusion_mask=fusion_mask,
        )
        outputs = self._language_model_output(
            inputs_embeds, attention_mask, position_ids, cache, use_cache, gate, media_mask, **kwargs
        )
        if self.sentiment_head is not None and is_prefill:
            hidden = outputs.last_hidden_state
            if sentiment_positions is None:
                sentiment_positions = last_prompt_positions(attention_mask, hidden.shape[1])
            rows = torch.arange(hidden.shape[0], device=hidden.device)
            picked = hidden[rows, sentiment_positions.to(hidden.device).expand(hidden.shape[0])]
            outputs.sentiment_score = self.sentiment_head(picked)
        return outputs

    def _language_model_output(
        self, inputs_embeds, attention_mask, position_ids, cache, use_cache, gate, media_mask, **kwargs
    ) -> NanoEmoXModelOutputWithPast:
        outputs = self.language_model(
            attention_mask=attention_mask,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            return_dict=True,
            **{CACHE_KEY: cache},
            **kwargs,
        )
        return NanoEmoXModelOutputWithPast(
            last_hidden_state=outputs.last_hidden_state,
            **{CACHE_KEY: getattr(outputs, CACHE_KEY)},
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
            fusion_gate_weights=gate,
            media_mask=media_mask,
        )


class NanoEmoXForConditionalGeneration(TaskAdaptersMixin, PrefillMixin, NanoEmoXPreTrainedModel, GenerationMixin):
    """Nano-EmoX with its language-model head: `forward` for training, `generate` for answers; per-task LoRA adapters
    of a Multi-LoRA checkpoint are chosen with `use_task_adapter` (`adapters_nanoemox`)."""

    _tied_weights_keys = {"lm_head.weight": "model.language_model.embed_tokens.weight"}

    def __init__(self, config: NanoEmoXConfig):
        super().__init__(config)
        from .checkpoint_nanoemox import register_pipeline

        register_pipeline()  # pipeline(task="emotion-analysis", model=<this object>) then knows the task
        self.model = NanoEmoXModel(config)
        self.lm_head = nn.Linear(config.text_config.hidden_size, config.text_config.vocab_size, bias=False)
        self.post_init()

    def get_input_embeddings(self):
        return self.model.get_input_embeddings()

    def set_input_embeddings(self, value):
        self.model.set_input_embeddings(value)

    def get_output_embeddings(self):
        return self.lm_head

    def set_output_embeddings(self, new_embeddings):
        self.lm_head = new_embeddings

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.FloatTensor | None = None,
        labels: torch.LongTensor | None = None,
        pixel_values_videos: torch.FloatTensor | None = None,
        frame_mask: torch.BoolTensor | None = None,
        face_pixel_values: torch.FloatTensor | None = None,
        face_mask: torch.BoolTensor | None = None,
        input_values: torch.FloatTensor | None = None,
        audio_mask: torch.BoolTensor | None = None,
        encoder_features: EncoderFeatures | None = None,
        prior_input_ids: torch.LongTensor | None = None,
        prior_mask: torch.Tensor | None = None,
        fusion_mask: torch.BoolTensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        sentiment_labels: torch.FloatTensor | None = None,
        past_key_values: Cache | None = None,
        **kwargs,
    ) -> NanoEmoXCausalLMOutputWithPast:
        r"""
        cache: the KV cache (`past_key_values` before transformers 5.24; either name is accepted).
        labels (`(b, n)`): next-token targets, -100 where no loss is taken (prompt, padding, media tokens).
        shift_labels (`(b, n)`, in kwargs): the same targets already shifted left by one (transformers 5's convention
            for sequence / context parallelism), instead of `labels`.
        return_dict (in kwargs): False gives tuples (loss first when there is one), as every transformers model.
        pixel_values_videos (`(b, t, 3, H, W)`), frame_mask (`(b, t)`): sampled frames and which are real.
        face_pixel_values (`(b, t, 3, h, w)`), face_mask (`(b, t)`): face crops and which frames have a face.
        input_values (`(b, c, s)`), audio_mask (`(b, c)`): 16 kHz speech clips and which carry speech.
        prior_input_ids, prior_mask (`(b, l)`): language priors (the subtitle or a caption) for adapters whose
            queries start from text (`lq_former`, `cat_mod`); ignored by the others.
        fusion_mask (`(b,)` bool): False: no fusion token for that sample, though it has frames and audio (the
            processor's `drop_modalities=("fusion",)`); None: every sample with both gets one.
        sentiment_labels (`(b,)` float): gold sentiment scores, NaN for rows without one (the collator fills them for
            msa rows). With `config.sentiment_head`, the head's loss on those rows is added to the loss; the head then
            reads the token before the first supervised label. Ignored without the head.
        """
        num_items_in_batch = kwargs.pop("num_items_in_batch", None)  # Trainer's loss normaliser, not a model input
        shift_labels = kwargs.pop("shift_labels", None)  # targets already shifted (sequence / context parallelism)
        cache = past_key_values if cache is None else cache
        if (
            labels is None
            and shift_labels is None
            and inputs_embeds is None
            and cache is not None
            and pixel_values_videos is None
            and face_pixel_values is None
            and input_values is None
            and encoder_features is None
            and prior_input_ids is None
            and cache.get_seq_length() > 0
        ):
            # A decode step: new text tokens on the KV cache, nothing to place or encode. The language model and
            # its head alone, so that a step costs what the bare LM's step costs (`nanoemox bench`, decode).
            outputs = self.model.language_model(
                input_ids=input_ids,
                attention_mask=attention_mask,
                position_ids=position_ids,
                use_cache=use_cache,
                return_dict=True,
                **{CACHE_KEY: cache},
                **kwargs,
            )
            keep = slice(-logits_to_keep, None) if isinstance(logits_to_keep, int) else logits_to_keep
            return NanoEmoXCausalLMOutputWithPast(
                logits=self.lm_head(outputs.last_hidden_state[:, keep, :]),
                **{CACHE_KEY: getattr(outputs, CACHE_KEY)},
                hidden_states=outputs.hidden_states,
                attentions=outputs.attentions,
            )
        if labels is None and shift_labels is not None:  # the same targets, unshifted: what the sentiment head reads
            labels_seen = F.pad(shift_labels, (1, 0), value=IGNORE_INDEX)[:, :-1]
        else:
            labels_seen = labels
        if self.model.sentiment_head is not None and labels_seen is not None and "sentiment_positions" not in kwargs:
            length = labels_seen.shape[1]
            kwargs["sentiment_positions"] = last_prompt_positions(attention_mask, length, labels_seen)
        outputs = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=past_key_values if cache is None else cache,
            inputs_embeds=inputs_embeds,
            pixel_values_videos=pixel_values_videos,
            frame_mask=frame_mask,
            face_pixel_values=face_pixel_values,
            face_mask=face_mask,
            input_values=input_values,
            audio_mask=audio_mask,
            encoder_features=encoder_features,
            prior_input_ids=prior_input_ids,
            prior_mask=prior_mask,
            fusion_mask=fusion_mask,
            use_cache=use_cache,
            return_dict=True,
            **kwargs,
        )
        hidden = outputs.last_hidden_state
        keep = slice(-logits_to_keep, None) if isinstance(logits_to_keep, int) else logits_to_keep
        logits = self.lm_head(hidden[:, keep, :])
        loss = None
        if labels is not None or shift_labels is not None:
            loss = self.loss_function(
                logits,
                labels,
                vocab_size=self.config.text_config.vocab_size,
                num_items_in_batch=num_items_in_batch,
                shift_labels=None if shift_labels is None else shift_labels.contiguous(),
            )
        sentiment_loss = None
        if outputs.sentiment_score is not None and sentiment_labels is not None:
            sentiment_loss = self.sentiment_loss(outputs.sentiment_score, sentiment_labels)
            if sentiment_loss is not None:
                weighted = self.config.sentiment_loss_weight * sentiment_loss
                loss = weighted if loss is None else loss + weighted.to(loss.dtype)
        return NanoEmoXCausalLMOutputWithPast(
            loss=loss,
            logits=logits,
            **{CACHE_KEY: getattr(outputs, CACHE_KEY)},
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
            fusion_gate_weights=outputs.fusion_gate_weights,
            media_mask=outputs.media_mask,
            sentiment_score=outputs.sentiment_score,
            sentiment_loss=sentiment_loss,
        )

    def sentiment_loss(self, scores: torch.Tensor, golds: torch.Tensor) -> torch.Tensor | None:
        """Mean L1 (or MSE) of `scores` (b,) against `golds` (b,) over the rows whose gold is not NaN; None if none.

        Rows without a gold score contribute nothing, not even a zero: a batch without msa rows leaves the head
        without a gradient (so AdamW does not decay it either).
        """
        golds = golds.to(scores.device, torch.float32)
        rows = ~torch.isnan(golds)
        if not rows.any():
            return None
        loss = F.l1_loss if self.config.sentiment_loss == "l1" else F.mse_loss
        return loss(scores.float()[rows], golds[rows])

    def prepare_inputs_for_generation(
        self,
        input_ids: torch.LongTensor,
        inputs_embeds: torch.FloatTensor | None = None,
        is_first_iteration: bool | None = False,
        **kwargs,
    ):
        # the cache and the attention mask pass through `kwargs` under the names of the installed transformers
        model_inputs = super().prepare_inputs_for_generation(
            input_ids, inputs_embeds=inputs_embeds, is_first_iteration=is_first_iteration, **kwargs
        )
        if not is_first_iteration and kwargs.get("use_cache", True):
            for name in MEDIA_INPUTS:
                model_inputs.pop(name, None)
        return model_inputs


# GenerationMixin inspects `self.forward`'s signature on every decode step of a remote-code model; computing it
# once here takes that off the decode path (measured by `nanoemox bench`: about 50 us of a 1 ms tiny step).
NanoEmoXForConditionalGeneration.forward.__signature__ = inspect.signature(NanoEmoXForConditionalGeneration.forward)

__all__ = [
    "NanoEmoXPreTrainedModel",
    "NanoEmoXModel",
    "NanoEmoXForConditionalGeneration",
    "PrefillRecord",
    "SentimentHead",
]
