"""`nanoemox bench`: measure Nano-EmoX against its floor and against the obvious alternatives.

    nanoemox bench --preset tiny                                   # every section, a few minutes on a CPU
    nanoemox bench --preset tiny --sections decode tokens --json bench.json
    nanoemox bench --preset full --sections prefill budget         # full-size FLOPs on the meta device, no download
    nanoemox bench --preset full                                   # + the full-size model with random weights (~10 GB)

Absolute times vary from run to run and machine to machine, so every figure that matters is a RATIO measured
within one run: timings are medians over repeats, with the two sides of a ratio interleaved (A B B A ...) to
cancel drift, at a fixed number of threads. Sections:

    decode         time per decode step, full model with media in context / bare language model, same context
    prefill        time and FLOPs per branch for one clip (timed at the preset's size; full-size FLOPs on meta)
    tokens         media tokens per clip against a patch-token design, and the LM prefill time each implies
    batching       clips/s at batch 1, 4, 16 for `generate` and for the `emotion-analysis` pipeline
    preprocessing  per-clip decode, face detection, audio, tokenisation against model time; data loader vs step
    budget         the P2E curriculum at full size on paper: memory and time on one 24 GB GPU
    training       examples/s per curriculum stage (hook; wired by the training issue)

Presets: `tiny` (hidden 32, 2 layers, the test checkpoint), `small` (random components of a few tens of millions
of parameters at the real frame, face and audio sizes), `full` (the published shapes, random weights; ~9.2 GB
in fp32). Checkpoints are composed offline in a temporary folder through `compose_checkpoint`.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode
from transformers import (
    AutoModelForCausalLM,
    CLIPVisionConfig,
    CLIPVisionModel,
    DynamicCache,
    GenerationConfig,
    HubertConfig,
    HubertModel,
    Qwen2Config,
    Qwen2ForCausalLM,
    StoppingCriteria,
    StoppingCriteriaList,
    SwinBackbone,
    SwinConfig,
)

from nanoemox.chat_template import add_placeholder_tokens
from nanoemox.compose import NEW_MODULES, compose_checkpoint, count_parameters
from nanoemox.machine import describe_machine
from nanoemox.modeling import audio_nanoemox, faces_nanoemox, video_nanoemox
from nanoemox.modeling.configuration_nanoemox import NanoEmoXConfig
from nanoemox.modeling.modeling_nanoemox import CACHE_KEY, NanoEmoXForConditionalGeneration
from nanoemox.modeling.processing_nanoemox import NanoEmoXProcessor
from nanoemox.tiny.components import save_tiny_components
from nanoemox.tiny.configs import TINY_ARCH
from nanoemox.tiny.tokenizer import train_tiny_tokenizer

logger = logging.getLogger(__name__)

SECTIONS = ("decode", "prefill", "tokens", "batching", "preprocessing", "budget", "training")
BRANCHES = ("frame encoder", "face backbone", "speech encoder", "adapters", "fusion", "language model")
ENCODERS = ("vision_tower", "audio_tower", "face_backbone")
SUBTITLE = "I can't believe you actually did that for me!"

# The P2E curriculum as published (reference NOTES.md): iterations, batch 3, what each phase trains, and the text
# tokens per example we assume (prompt + answer; phase 3 answers are captions and chains of thought).
P2E_PHASES = {
    "1.1 audio alignment": {"iters": 3 * 5000, "trainable": ("audio_adapter",), "lora": False, "text_tokens": 80},
    "1.2 visual alignment": {
        "iters": 5 * 5000,
        "trainable": ("frame_adapter", "face_fusion", "face_adapter"),
        "lora": False,
        "text_tokens": 80,
    },
    "2 fusion (MIR)": {"iters": 1 * 5000, "trainable": NEW_MODULES, "lora": False, "text_tokens": 96},
    "3 instruction tuning": {"iters": 60 * 5000, "trainable": NEW_MODULES, "lora": True, "text_tokens": 320},
}
P2E_BATCH = 3
PUBLISHED_HOURS = 32.0
LORA_RANK = 16
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


# ---------------------------------------------------------------------------------------------------- presets
@dataclass(frozen=True)
class Preset:
    name: str
    repeats: int = field(metadata={"help": "timing repeats (medians are reported)"})
    decode_steps: int = field(metadata={"help": "decode steps timed per repeat"})
    new_tokens: int = field(metadata={"help": "greedy new tokens per answer in the batching section"})
    batch_sizes: tuple[int, ...] = (1, 4, 16)
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


def _small_component_configs(vocab_size: int) -> dict:
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


def _save_small_components(folder: Path, seed: int = 0) -> dict[str, str]:
    torch.manual_seed(seed)
    tokenizer = train_tiny_tokenizer()
    classes = {"vision": CLIPVisionModel, "audio": HubertModel, "face": SwinBackbone, "lm": Qwen2ForCausalLM}
    paths = {}
    for name, config in _small_component_configs(len(tokenizer)).items():
        classes[name](config).save_pretrained(folder / name)
        paths[name] = str(folder / name)
    tokenizer.save_pretrained(folder / "lm")
    return paths


# ---------------------------------------------------------------------------------------------------- timing
def _median(values: list[float]) -> float:
    return float(statistics.median(values))


def interleaved(fns: dict[str, Callable[[], Any]], repeats: int, warmup: int = 1) -> dict[str, float]:
    """Median seconds of each callable, run in alternating order (A B, B A, ...) after `warmup` rounds."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    names = list(fns)
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - start)
    return {k: _median(v) for k, v in times.items()}


def count_flops(fn: Callable[[], Any]) -> int:
    """FLOPs of `fn()` by `torch.utils.flop_counter` (works on real and on meta tensors)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


class StepClock(StoppingCriteria):
    """Records the time at each generation step (never stops generation): per-step intervals without our code."""

    def __init__(self):
        self.times: list[float] = []

    def __call__(self, input_ids, scores, **kwargs):
        self.times.append(time.perf_counter())
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)

    def step_times(self) -> list[float]:
        return list(np.diff(self.times))


def greedy(new_tokens: int, pad_token_id: int | None) -> GenerationConfig:
    """Exactly `new_tokens` greedy tokens (min = max, so a random model's EOS cannot end a run early)."""
    return GenerationConfig(
        do_sample=False, max_new_tokens=new_tokens, min_new_tokens=new_tokens, pad_token_id=pad_token_id
    )


# ---------------------------------------------------------------------------------------------------- context
@dataclass
class Bench:
    """What the sections share: the preset, the model (built once), the processor, a clip and its inputs."""

    preset: Preset
    workdir: Path
    threads: int
    video: str | None = None
    model: NanoEmoXForConditionalGeneration | None = None
    processor: NanoEmoXProcessor | None = None
    folder: str | None = None  # checkpoint folder (tiny/small): the pipeline loads from it
    clip: dict | None = None
    inputs: dict | None = None
    demo: Path | None = None
    notes: list[str] = field(default_factory=list)
    cache: dict = field(default_factory=dict)

    # ---------------------------------------------------------------- model
    def build(self) -> None:
        if self.model is not None:
            return
        start = time.perf_counter()
        if self.preset.name in ("tiny", "small"):
            components = self.workdir / "components"
            if self.preset.name == "tiny":
                paths, arch = save_tiny_components(components), TINY_ARCH
            else:
                paths, arch = _save_small_components(components), SMALL_ARCH
            self.folder = str(self.workdir / f"ckpt-{self.preset.name}")
            compose_checkpoint(self.folder, **paths, arch=arch)
            self.model = NanoEmoXForConditionalGeneration.from_pretrained(self.folder).eval()
            self.processor = NanoEmoXProcessor.from_pretrained(self.folder, trust_remote_code=True)
        else:
            # the published shapes with random weights; the tiny tokenizer stands in for Qwen's (no download),
            # so the placeholder ids are the tiny tokenizer's (all inside Qwen's vocabulary)
            tokenizer = train_tiny_tokenizer()
            ids = add_placeholder_tokens(tokenizer)
            config = NanoEmoXConfig(**{f"{k}_token_id": v for k, v in ids.items()})
            logger.info("building the full-size model with random weights (fp32, ~9.2 GB; about a minute)")
            torch.manual_seed(0)
            self.model = NanoEmoXForConditionalGeneration(config).eval()
            self.model.generation_config = GenerationConfig(pad_token_id=tokenizer.pad_token_id)
            self.processor = NanoEmoXProcessor.from_model_config(config, tokenizer)
            self.notes.append("full preset: random weights, tiny tokenizer in place of Qwen's (prompt lengths differ)")
        self.model.requires_grad_(False)  # inference; the loader section enables the adapters it trains
        self.cache["build_seconds"] = time.perf_counter() - start
        logger.info("%s model ready in %.1f s", self.preset.name, self.cache["build_seconds"])

    @property
    def config(self) -> NanoEmoXConfig:
        return self.model.config

    @property
    def pad_id(self) -> int | None:
        return self.processor.tokenizer.pad_token_id

    # ---------------------------------------------------------------- media
    def demo_corpus(self, num_clips: int = 16) -> Path:
        if self.demo is None:
            from nanoemox.processing.demo_corpus import generate_demo_corpus

            self.demo = self.workdir / "demo"
            generate_demo_corpus(self.demo, num_clips=num_clips, seed=0, progress=False)
        return self.demo

    def demo_clips(self, n: int) -> list[dict]:
        """n demo clips as pipeline inputs: video path, face track and subtitle (clips repeat if n > corpus)."""
        from datasets import load_from_disk

        root = self.demo_corpus()
        rows = []
        for split in load_from_disk(str(root)).values():
            rows += [r for r in split if r["task"] == "mer"]
        rows.sort(key=lambda r: r["id"])
        out = []
        for i in range(n):
            r = rows[i % len(rows)]
            out.append(
                {"video": str(root / r["video"]), "faces": str(root / r["face_track"]), "subtitle": r["subtitle"]}
            )
        return out

    def clip_path(self) -> tuple[str, str]:
        """A real clip: `--video`, else the astronaut + espeak-ng clip of tests/media.py (a source checkout with
        espeak-ng), else a demo-corpus clip. Returns (path, description)."""
        if self.video:
            return self.video, "--video"
        builder = _tests_media()
        if builder is not None and shutil.which("espeak-ng"):
            (self.workdir / "media").mkdir(parents=True, exist_ok=True)
            path = builder.talking_mp4(self.workdir / "media")
            return str(path), "tests/media.py talking.mp4 (astronaut photo, espeak-ng speech, 320x320, 25 fps)"
        return self.demo_clips(1)[0]["video"], "demo corpus clip (160x128, 8 fps, 3 s)"

    def clip_inputs(self) -> dict:
        """Processor outputs for one clip with the MER prompt (the context of the decode and prefill sections)."""
        if self.inputs is None:
            self.build()
            path, source = self.clip_path()
            messages = self.processor.build_messages("mer", video=path, subtitle=SUBTITLE)
            self.inputs = dict(self.processor.apply_chat_template(messages, tokenize=True))
            self.clip = {"path": path, "source": source, "prompt_tokens": int(self.inputs["input_ids"].shape[1])}
            logger.info("clip: %s (%d prompt tokens)", source, self.clip["prompt_tokens"])
        return self.inputs


def _tests_media():
    """tests/media.py of a source checkout (not installed with the package), or None."""
    try:
        from tests import media as builder

        return builder
    except ImportError:
        pass
    path = Path(__file__).resolve().parents[1] / "tests" / "media.py"
    if not path.exists():
        return None
    import importlib.util

    spec = importlib.util.spec_from_file_location("nanoemox_bench_test_media", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except ImportError:  # scikit-image missing
        return None
    return module


def bare_language_model(model: NanoEmoXForConditionalGeneration):
    """The model's own language model and head (same weights) as a plain causal LM."""
    with torch.device("meta"):
        lm = AutoModelForCausalLM.from_config(model.config.text_config)
    lm.model = model.model.language_model
    lm.lm_head = model.lm_head
    lm.generation_config = copy.deepcopy(model.generation_config)  # same EOS/pad: same logits processors and stops
    return lm.eval()


# ---------------------------------------------------------------------------------------------------- decode
def bench_decode(ctx: Bench) -> dict:
    """Per decode step: Nano-EmoX with media in context against the bare LM at the same context length."""
    inputs = ctx.clip_inputs()
    model, steps, repeats = ctx.model, ctx.preset.decode_steps, ctx.preset.repeats
    lm = bare_language_model(model)
    length = inputs["input_ids"].shape[1]
    vocab_limit = min(getattr(ctx.config, f"{b}_token_id") for b in ("frame", "face", "audio", "fusion"))
    text_ids = torch.randint(3, vocab_limit, (1, length), generator=torch.Generator().manual_seed(0))
    lm_inputs = {"input_ids": text_ids, "attention_mask": torch.ones_like(text_ids)}
    gen = greedy(steps + 1, ctx.pad_id)
    media_kw = {k: v for k, v in inputs.items() if k not in ("input_ids", "attention_mask")}

    calls = {name: 0 for name in ENCODERS}
    hooks = [
        getattr(model.model, name).register_forward_hook(lambda *_, n=name: calls.__setitem__(n, calls[n] + 1))
        for name in ENCODERS
    ]
    generate_steps: dict[str, list[float]] = {"nanoemox": [], "bare_lm": []}

    def run_generate(which: str) -> Callable[[], None]:
        def run():
            clock = StepClock()
            with torch.no_grad():
                if which == "nanoemox":
                    model.generate(**inputs, generation_config=gen, stopping_criteria=StoppingCriteriaList([clock]))
                else:
                    lm.generate(**lm_inputs, generation_config=gen, stopping_criteria=StoppingCriteriaList([clock]))
            generate_steps[which].append(clock.step_times())

        return run

    try:
        logger.info("decode floor: generate, %d steps x %d repeats", steps, repeats)
        interleaved({"nanoemox": run_generate("nanoemox"), "bare_lm": run_generate("bare_lm")}, repeats)
    finally:
        for h in hooks:
            h.remove()
    runs = repeats + 1  # the warm-up round counts for the encoder calls
    encoder_calls_per_answer = {k: v / runs for k, v in calls.items()}
    gen_full = _median([t for run in generate_steps["nanoemox"][1:] for t in run])  # [0]: the warm-up round
    gen_bare = _median([t for run in generate_steps["bare_lm"][1:] for t in run])

    # the forward alone (no generate): prefill both, then alternate single-token steps on their KV caches
    forward_steps: dict[str, list[float]] = {"nanoemox": [], "bare_lm": []}
    nets = {"nanoemox": (model, inputs), "bare_lm": (lm, lm_inputs)}
    logger.info("decode floor: forward on the KV cache, %d steps x %d repeats, steps alternated", steps, repeats)
    with torch.no_grad():
        for r in range(repeats + 1):
            state = {}
            for name, (net, feed) in nets.items():
                out = net(**feed, use_cache=True, logits_to_keep=1)
                state[name] = [getattr(out, CACHE_KEY), feed["attention_mask"], out.logits[:, -1:].argmax(-1)]
            for i in range(steps):
                for name in list(nets) if (i + r) % 2 == 0 else list(nets)[::-1]:
                    cache, mask, token = state[name]
                    mask = torch.cat([mask, mask.new_ones(1, 1)], dim=1)
                    start = time.perf_counter()
                    out = nets[name][0](input_ids=token, attention_mask=mask, use_cache=True, **{CACHE_KEY: cache})
                    token = out.logits[:, -1:].argmax(-1)
                    if r > 0:  # round 0 warms up
                        forward_steps[name].append(time.perf_counter() - start)
                    state[name] = [cache, mask, token]
    fwd_full, fwd_bare = _median(forward_steps["nanoemox"]), _median(forward_steps["bare_lm"])

    # our own per-step work, isolated: embed_inputs on a decode step (no media) and the generate input preparation
    token = inputs["input_ids"][:, -1:]
    cache = getattr(model(**inputs, use_cache=True, logits_to_keep=1), CACHE_KEY)
    reps = 200
    with torch.no_grad():
        ours = interleaved(
            {
                "embed_inputs": lambda: [model.model.embed_inputs(token, is_prefill=False) for _ in range(reps)],
                "embedding lookup": lambda: [model.get_input_embeddings()(token) for _ in range(reps)],
                "prepare_inputs (ours)": lambda: [
                    model.prepare_inputs_for_generation(token, use_cache=True, **{CACHE_KEY: cache}, **media_kw)
                    for _ in range(reps)
                ],
                "prepare_inputs (bare LM)": lambda: [
                    lm.prepare_inputs_for_generation(token, use_cache=True, **{CACHE_KEY: cache}) for _ in range(reps)
                ],
            },
            repeats,
        )
    overhead_us = {k: v / reps * 1e6 for k, v in ours.items()}
    return {
        "context_tokens": length,
        "media_tokens": ctx.config.media_tokens_per_clip,
        "dtype": str(model.dtype).replace("torch.", ""),
        "threads": ctx.threads,
        "generate_step_ms": {"nanoemox": gen_full * 1e3, "bare_lm": gen_bare * 1e3},
        "generate_ratio": gen_full / gen_bare,
        "forward_step_ms": {"nanoemox": fwd_full * 1e3, "bare_lm": fwd_bare * 1e3},
        "forward_ratio": fwd_full / fwd_bare,
        "encoder_calls_per_answer": encoder_calls_per_answer,
        "per_step_python_us": overhead_us,
    }


# ---------------------------------------------------------------------------------------------------- prefill
def branch_calls(model: NanoEmoXForConditionalGeneration, clip: dict) -> dict[str, Callable[[], Any]]:
    """One clip's prefill split into its branches, each a callable (real or meta tensors).

    clip: frames (t, 3, H, W), faces (t, 3, h, w), audio (c, s), embeds (1, n, d_lm). The encoders run once
    here to give the adapters and the fusion their inputs.
    """
    mm, cfg = model.model, model.config
    frames, faces, audio, embeds = clip["frames"], clip["faces"], clip["audio"], clip["embeds"]
    t, c = frames.shape[0], audio.shape[0]

    def frame_encoder():
        return mm.vision_tower(pixel_values=frames, output_hidden_states=True).hidden_states

    def face_backbone():
        return mm.face_backbone(pixel_values=faces).feature_maps

    def speech_encoder():
        return mm.audio_tower(input_values=audio, output_hidden_states=True).hidden_states

    with torch.no_grad():
        vision, maps, speech = frame_encoder(), face_backbone(), speech_encoder()
    device = frames.device
    frame_mask = torch.ones(1, t, dtype=torch.bool, device=device)
    audio_mask = torch.ones(1, c, dtype=torch.bool, device=device)
    vision_feats = vision[cfg.vision_feature_layer][None]
    speech_feats = torch.stack(speech[-cfg.audio_pool_layers :]).mean(0).mean(1).view(1, c, 1, -1)
    vision_layers = [vision[i].mean(1)[None] for i in cfg.fusion_vision_layers]
    speech_layers = [speech[i].mean(1)[None] for i in cfg.fusion_audio_layers]

    def adapters():
        frame = mm.frame_adapter(vision_feats, frame_mask)
        speech_tokens = mm.audio_adapter(speech_feats, audio_mask)
        face = mm.face_adapter(mm.face_fusion(list(maps)).view(1, t, -1), frame_mask)
        return frame, speech_tokens, face

    def fusion():
        return mm.fusion(vision_layers, frame_mask, speech_layers, audio_mask)

    def language_model():
        return lm_prefill(model, embeds)

    return dict(zip(BRANCHES, (frame_encoder, face_backbone, speech_encoder, adapters, fusion, language_model)))


def meta_clip(config: NanoEmoXConfig, text_tokens: int, dtype=torch.float32) -> dict:
    t, c = config.num_frames, config.num_audio_clips
    size, face = config.vision_config.image_size, config.face_config.image_size
    with torch.device("meta"):
        return {
            "frames": torch.empty(t, 3, size, size, dtype=dtype),
            "faces": torch.empty(t, 3, face, face, dtype=dtype),
            "audio": torch.empty(c, config.audio_clip_samples, dtype=dtype),
            "embeds": torch.empty(1, text_tokens + config.media_tokens_per_clip, config.text_config.hidden_size),
        }


def full_size_meta_model() -> NanoEmoXForConditionalGeneration:
    with torch.device("meta"):
        model = NanoEmoXForConditionalGeneration(NanoEmoXConfig()).eval()
    return model.requires_grad_(False)


def meta_model(ctx: Bench) -> NanoEmoXForConditionalGeneration:
    """The full-size model on the meta device, built once per run."""
    if "meta_model" not in ctx.cache:
        ctx.cache["meta_model"] = full_size_meta_model()
    return ctx.cache["meta_model"]


def full_size_flops(ctx: Bench, text_tokens: int) -> dict[str, int]:
    """Forward FLOPs per branch of one clip at full size, counted on the meta device (media branches once, the
    language model once per prompt length)."""
    model = meta_model(ctx)
    if "full_flops_media" not in ctx.cache:
        calls = branch_calls(model, meta_clip(model.config, text_tokens))
        ctx.cache["full_flops_media"] = {k: count_flops(fn) for k, fn in calls.items() if k != "language model"}
    key = ("full_flops_lm", text_tokens)
    if key not in ctx.cache:
        ctx.cache[key] = count_flops(lambda: lm_prefill(model, meta_clip(model.config, text_tokens)["embeds"]))
    return {**ctx.cache["full_flops_media"], "language model": ctx.cache[key]}


def lm_prefill(model: NanoEmoXForConditionalGeneration, embeds: torch.Tensor) -> torch.Tensor:
    """The language model's prefill and the head on the last position (what `generate` computes at prefill)."""
    cache = DynamicCache(config=model.config.text_config)  # a cache also keeps the mask code off data-dependent paths
    hidden = model.model.language_model(inputs_embeds=embeds, use_cache=True, **{CACHE_KEY: cache}).last_hidden_state
    return model.lm_head(hidden[:, -1:])


def real_clip(ctx: Bench, dtype: torch.dtype) -> dict:
    inputs = ctx.clip_inputs()
    with torch.no_grad():
        embeds, _, _ = ctx.model.model.embed_inputs(
            inputs["input_ids"], **{k: v for k, v in inputs.items() if k not in ("input_ids", "attention_mask")}
        )
    return {
        "frames": inputs["pixel_values_videos"][0].to(dtype),
        "faces": inputs["face_pixel_values"][0].to(dtype),
        "audio": inputs["input_values"][0].to(dtype),
        "embeds": embeds.to(dtype),
    }


def bench_prefill(ctx: Bench) -> dict:
    """Per-branch time and FLOPs of one clip's prefill at the preset's size, and full-size FLOPs on meta."""
    ctx.clip_inputs()
    result: dict[str, Any] = {"flops_method": "torch.utils.flop_counter.FlopCounterMode (meta device at full size)"}
    text_tokens = ctx.clip["prompt_tokens"] - ctx.config.media_tokens_per_clip
    result["full_size_gflops"] = {k: v / 1e9 for k, v in full_size_flops(ctx, text_tokens).items()}
    result["full_size_gflops"]["total"] = sum(result["full_size_gflops"].values())
    dtypes = [torch.float32, torch.bfloat16] if ctx.preset.name == "full" else [torch.float32]
    inputs = ctx.inputs
    for dtype in dtypes:
        name = str(dtype).replace("torch.", "")
        if ctx.model.dtype != dtype:
            logger.info("prefill: converting the model to %s", name)
            ctx.model.to(dtype)
        calls = branch_calls(ctx.model, real_clip(ctx, dtype))
        calls["end to end"] = lambda: ctx.model(**inputs, use_cache=True, logits_to_keep=1)
        logger.info("prefill (%s): timing %d branches x %d repeats", name, len(calls), ctx.preset.repeats)
        with torch.no_grad():
            times = interleaved(calls, ctx.preset.repeats)
            flops = {k: count_flops(fn) for k, fn in calls.items() if k != "end to end"}
        branch_sum = sum(v for k, v in times.items() if k != "end to end")
        result[name] = {
            "ms": {k: v * 1e3 for k, v in times.items()},
            "gflops": {k: v / 1e9 for k, v in flops.items()},
            "share": {k: times[k] / branch_sum for k in BRANCHES},
            "glue_ms": (times["end to end"] - branch_sum) * 1e3,
        }
    result["tokens"] = ctx.clip["prompt_tokens"]
    return result


# ---------------------------------------------------------------------------------------------------- tokens
def bench_tokens(ctx: Bench) -> dict:
    """Media tokens per clip against patch tokens, and the LM prefill time and FLOPs each implies."""
    ctx.clip_inputs()
    cfg = ctx.config
    text = ctx.clip["prompt_tokens"] - cfg.media_tokens_per_clip
    full = NanoEmoXConfig()
    designs = {
        "nano-emox (69/clip at full size)": full.media_tokens_per_clip,
        "patch tokens, 8 x 256 (CLIP-L/14 at 224 px)": full.num_frames * (224 // 14) ** 2,
        "patch tokens, 8 x 576 (CLIP-L/14 at 336 px, LLaVA-style)": full.num_frames * 576,
    }
    lm = ctx.model.model.language_model
    text_cfg = cfg.text_config
    head_dim = getattr(text_cfg, "head_dim", None) or text_cfg.hidden_size // text_cfg.num_attention_heads
    kv_bytes_full = 2 * 28 * 2 * 128 * 2  # K and V, 28 layers, 2 KV heads of 128, bf16: Qwen2.5-1.5B
    rows = {}
    calls = {}
    for name, media_tokens in designs.items():
        n = text + media_tokens
        embeds = torch.randn(1, n, text_cfg.hidden_size, dtype=ctx.model.dtype)

        def prefill(embeds=embeds):
            with torch.no_grad():
                cache = DynamicCache(config=text_cfg)
                lm(inputs_embeds=embeds, use_cache=True, **{CACHE_KEY: cache})

        calls[name] = prefill
        meta_flops = full_size_flops(ctx, n - full.media_tokens_per_clip)["language model"]
        rows[name] = {
            "media_tokens": media_tokens,
            "context_tokens": n,
            "full_size_lm_prefill_gflops": meta_flops / 1e9,
            "full_size_kv_cache_mb_bf16": n * kv_bytes_full / 2**20,
        }
    logger.info("token economy: LM prefill at %s tokens", [r["context_tokens"] for r in rows.values()])
    times = interleaved(calls, ctx.preset.long_prefill_repeats, warmup=1 if ctx.preset.name != "full" else 0)
    base = next(iter(rows))
    for name, row in rows.items():
        row["lm_prefill_ms_at_preset_size"] = times[name] * 1e3
        row["time_vs_nanoemox"] = times[name] / times[base]
        row["flops_vs_nanoemox"] = row["full_size_lm_prefill_gflops"] / rows[base]["full_size_lm_prefill_gflops"]
    return {
        "text_tokens": text,
        "preset_media_tokens": cfg.media_tokens_per_clip,
        "preset_lm": f"hidden {text_cfg.hidden_size}, {text_cfg.num_hidden_layers} layers, head_dim {head_dim}",
        "designs": rows,
    }


# ---------------------------------------------------------------------------------------------------- batching
def bench_batching(ctx: Bench) -> dict:
    """Clips per second for `generate` (prepared inputs) and the pipeline (from the mp4) at each batch size."""
    ctx.build()
    new = ctx.preset.new_tokens
    result: dict[str, Any] = {"new_tokens": new, "generate": {}, "pipeline": {}}
    clips = ctx.demo_clips(max(ctx.preset.batch_sizes))
    gen = greedy(new, ctx.pad_id)
    for b in ctx.preset.batch_sizes:
        batch = clips[:b]
        inputs = ctx.processor(
            text=[
                ctx.processor.apply_chat_template(
                    ctx.processor.build_messages("mer", video=c["video"], subtitle=c["subtitle"]), tokenize=False
                )
                for c in batch
            ],
            videos=[c["video"] for c in batch],
            faces=[c["faces"] for c in batch],
        )
        with torch.no_grad():
            seconds = interleaved(
                {"g": lambda inputs=inputs: ctx.model.generate(**inputs, generation_config=gen)},
                max(1, ctx.preset.repeats // 2),
            )["g"]
        result["generate"][b] = {"clips_per_s": b / seconds, "s_per_batch": seconds}
        logger.info("batching: generate batch %d: %.2f clips/s", b, b / seconds)
    if ctx.folder is None:
        result["pipeline"] = {"skipped": "the full preset has no checkpoint folder (writing 9 GB is not worth it)"}
        result["skipped_batch_sizes"] = "full preset: batch 4 and 16 take minutes per batch on 2 CPU cores"
        return result
    from transformers import pipeline

    analyse = pipeline("emotion-analysis", model=ctx.folder, trust_remote_code=True)
    analyse.model.eval()
    for b in ctx.preset.batch_sizes:
        items = [dict(c, task="mer") for c in clips[:b]]
        seconds = interleaved(
            {"p": lambda items=items: analyse(items, max_new_tokens=new, min_new_tokens=new, do_sample=False)},
            max(1, ctx.preset.repeats // 2),
        )["p"]
        result["pipeline"][b] = {"clips_per_s": b / seconds, "s_per_batch": seconds}
        logger.info("batching: pipeline over %d clips: %.2f clips/s", b, b / seconds)
    return result


# ---------------------------------------------------------------------------------------------------- preprocessing
def preprocess_stages(processor: NanoEmoXProcessor, path: str, faces=None) -> dict[str, Callable[[], Any]]:
    """The processor's per-clip steps, each a callable, as `_sample_media` + `assemble` run them."""
    n, rate = processor.num_frames, processor.sampling_rate
    frames = video_nanoemox.load_video_frames(path, n)
    face_size = int(processor.face_image_processor.size.get("height", 224))
    messages = processor.build_messages("mer", video=path, subtitle=SUBTITLE)
    text = processor.apply_chat_template(messages, tokenize=False)
    loaded = processor.load_media(0, path, None, faces)

    def audio():
        track = audio_nanoemox.load_audio(path, sampling_rate=rate)
        return audio_nanoemox.cut_audio_clips(
            track.waveform,
            num_clips=processor.num_audio_clips,
            clip_seconds=processor.audio_clip_seconds,
            sampling_rate=rate,
        )

    def tokenise():
        expanded = processor.expand_text(0, processor.apply_chat_template(messages, tokenize=False), loaded)
        return processor.tokenizer([expanded], return_tensors="pt")

    return {
        "decode 8 frames": lambda: video_nanoemox.load_video_frames(path, n),
        "face track + crops": lambda: faces_nanoemox.get_face_crops(frames, faces, size=face_size),
        "audio track + clips": audio,
        "pixel/feature normalisation": lambda: processor._batch_media([loaded]),
        "tokenisation": tokenise,
        "processor total": lambda: processor(text=[text], videos=[path], faces=[faces]),
    }


def bench_preprocessing(ctx: Bench) -> dict:
    """Per-clip media preparation against the model's prefill and answer time; the data loader against a step."""
    inputs = ctx.clip_inputs()
    result: dict[str, Any] = {"clips": {}}
    gen = greedy(ctx.preset.new_tokens, ctx.pad_id)
    with torch.no_grad():
        model_times = interleaved(
            {
                "prefill": lambda: ctx.model(**inputs, use_cache=True, logits_to_keep=1),
                "answer": lambda: ctx.model.generate(**inputs, generation_config=gen),
            },
            ctx.preset.repeats,
        )
    result["model_ms"] = {"prefill": model_times["prefill"] * 1e3, f"generate {gen.max_new_tokens}": 0.0}
    result["model_ms"][f"generate {gen.max_new_tokens}"] = model_times["answer"] * 1e3
    demo = ctx.demo_clips(1)[0]
    sources = {ctx.clip["source"]: (ctx.clip["path"], None)}
    sources["demo clip, face track given"] = (demo["video"], demo["faces"])
    for name, (path, faces) in sources.items():
        logger.info("preprocessing: %s", name)
        times = interleaved(preprocess_stages(ctx.processor, path, faces), ctx.preset.repeats)
        total = times["processor total"]
        result["clips"][name] = {
            "ms": {k: v * 1e3 for k, v in times.items()},
            "share_of_prefill": total / (total + model_times["prefill"]),
            "share_of_answer": total / (total + model_times["answer"]),
        }
    result["loader"] = bench_loader(ctx)
    return result


def bench_loader(ctx: Bench) -> dict:
    """Data time (waiting on the loader) against step time (forward + backward + AdamW, adapters trainable)."""
    from torch.utils.data import DataLoader

    if ctx.preset.name == "full":
        return {"skipped": "a full-size training step on 2 CPU cores takes minutes and says nothing of a GPU step"}
    try:
        from nanoemox.modeling.collator_nanoemox import NanoEmoXCollator
        from nanoemox.train.curriculum import CurriculumConfig

        configured = CurriculumConfig(stages=[]).dataloader_num_workers
    except Exception as err:  # the training code is being written concurrently
        return {"skipped": f"collator / train.curriculum not importable: {err}"}
    from datasets import load_from_disk

    root = ctx.demo_corpus()
    rows = [r for r in load_from_disk(str(root))["train"] if r["task"] == "mer"]
    collator = NanoEmoXCollator(ctx.processor, media_root=str(root))
    model = ctx.model
    for name, param in model.named_parameters():
        param.requires_grad_(name.split(".")[1] in NEW_MODULES if name.startswith("model.") else False)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    model.train()
    n = ctx.preset.loader_batches
    out = {"batch_size": P2E_BATCH, "configured_num_workers": configured, "workers": {}}
    try:
        for workers in sorted({configured, min(2, os.cpu_count() or 1)}):
            loader = DataLoader(
                rows, batch_size=P2E_BATCH, shuffle=False, num_workers=workers, collate_fn=collator, drop_last=True
            )
            data, step = [], []
            it = iter(loader)
            for _ in range(min(n + 1, len(loader))):
                start = time.perf_counter()
                batch = next(it)
                got = time.perf_counter()
                batch = {k: v for k, v in batch.items() if k != "task_index"}
                loss = model(**batch).loss
                loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                data.append(got - start)
                step.append(time.perf_counter() - got)
            del it
            data_ms, step_ms = _median(data[1:]) * 1e3, _median(step[1:]) * 1e3  # the first batch starts the workers
            out["workers"][workers] = {
                "data_ms_per_batch": data_ms,
                "step_ms": step_ms,
                "first_batch_ms": data[0] * 1e3,
                "data_share": data_ms / (data_ms + step_ms),
                "keeps_model_fed": data_ms <= 0.1 * step_ms,
            }
            logger.info("loader: %d workers: data %.1f ms, step %.1f ms", workers, data_ms, step_ms)
    finally:
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        optimizer.zero_grad(set_to_none=True)
    return out


# ---------------------------------------------------------------------------------------------------- budget
def lora_parameters(text_config, rank: int = LORA_RANK) -> int:
    h, layers = text_config.hidden_size, text_config.num_hidden_layers
    head_dim = getattr(text_config, "head_dim", None) or h // text_config.num_attention_heads
    kv = text_config.num_key_value_heads * head_dim
    inter = text_config.intermediate_size
    shapes = {"q_proj": (h, h), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (h, h)}
    shapes.update({"gate_proj": (h, inter), "up_proj": (h, inter), "down_proj": (inter, h)})
    return layers * sum(rank * (i + o) for i, o in (shapes[t] for t in LORA_TARGETS))


def lm_activation_bytes_per_token(text_config, bytes_per_value: int = 2) -> dict[str, float]:
    """Activations one Qwen2 layer keeps for backward per token (analytic; SDPA/flash, so no n^2 scores).

    Kept: norm inputs and outputs (4h), q (h), k and v (2 kv), attention output (h), gate, up, SiLU and product
    (4 I). With gradient checkpointing only each layer's input (h) is kept, plus one layer during recompute.
    """
    h, inter = text_config.hidden_size, text_config.intermediate_size
    head_dim = getattr(text_config, "head_dim", None) or h // text_config.num_attention_heads
    kv = text_config.num_key_value_heads * head_dim
    per_layer = (6 * h + 2 * kv + 4 * inter) * bytes_per_value
    layers = text_config.num_hidden_layers
    return {"full": per_layer * layers, "checkpointed": h * bytes_per_value * layers + per_layer}


def adapter_activation_bytes(meta: NanoEmoXForConditionalGeneration, clip: dict) -> int:
    """Bytes autograd saves for backward in the adapters and the fusion of one clip (meta device, bf16)."""
    saved = {}

    def pack(tensor):
        saved[id(tensor)] = tensor.numel() * 2  # as bf16
        return tensor

    calls = branch_calls(meta, clip)
    for module in NEW_MODULES:
        getattr(meta.model, module).requires_grad_(True)
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            calls["adapters"]()
            calls["fusion"]()
    finally:
        meta.requires_grad_(False)
    return sum(saved.values())


def bench_budget(ctx: Bench, *, gpu_tflops: float, mfu: float, gpu_gb: float) -> dict:
    """The P2E curriculum at full size on paper: memory and time on one GPU against the published 32 h."""
    meta = meta_model(ctx)
    cfg = meta.config
    text_cfg = cfg.text_config
    counts = count_parameters(meta)
    lora = lora_parameters(text_cfg)
    encoders = sum(counts[k] for k in ("frame encoder (CLIP)", "speech encoder (HuBERT)", "face backbone (Swin)"))
    per_module = {m: sum(p.numel() for p in getattr(meta.model, m).parameters()) for m in NEW_MODULES}
    sustained = gpu_tflops * 1e12 * mfu
    act = lm_activation_bytes_per_token(text_cfg)
    adapters_act = adapter_activation_bytes(meta, meta_clip(cfg, 0, dtype=torch.float32))
    vocab = text_cfg.vocab_size
    gb = 1e9
    phases = {}
    totals = {"no_cache_h": 0.0, "cache_h": 0.0}
    for name, phase in P2E_PHASES.items():
        n = phase["text_tokens"] + cfg.media_tokens_per_clip
        flops = full_size_flops(ctx, phase["text_tokens"])
        lm_fwd = flops["language model"] + 2 * text_cfg.hidden_size * vocab * (n - 1)  # all logits in training
        encoder_fwd = flops["frame encoder"] + flops["face backbone"] + flops["speech encoder"]
        trainable_fwd = flops["adapters"] + flops["fusion"]
        lora_fwd = 2 * lora * n if phase["lora"] else 0
        # trainable modules: forward + backward (2x) = 3x; the LM is on the gradient path: forward + input grads
        # (2x; base weights frozen), +1x forward again with gradient checkpointing; LoRA 3x; encoders forward only
        train_no_ckpt = 3 * trainable_fwd + 2 * lm_fwd + 3 * lora_fwd
        train_ckpt = train_no_ckpt + lm_fwd + lora_fwd
        trainable = sum(per_module[m] for m in phase["trainable"]) + (lora if phase["lora"] else 0)
        examples = phase["iters"] * P2E_BATCH
        tokens = n * P2E_BATCH
        memory = {
            "weights_bf16_gb": (counts["total"] - sum(per_module.values())) * 2 / gb,
            "weights_bf16_with_cache_gb": (counts["total"] - encoders - sum(per_module.values())) * 2 / gb,
            "trainable_fp32_weights_grads_adamw_gb": trainable * 16 / gb,
            "frozen_adapters_bf16_gb": sum(per_module.values()) * 2 / gb,
            "lm_activations_gb": tokens * act["full"] / gb,
            "lm_activations_checkpointed_gb": tokens * act["checkpointed"] / gb,
            "adapter_activations_gb": P2E_BATCH * adapters_act / gb,
            "logits_and_loss_gb": tokens * vocab * (2 + 4 + 4) / gb,  # bf16 logits, fp32 upcast, fp32 grad
        }
        fixed = memory["trainable_fp32_weights_grads_adamw_gb"] + memory["frozen_adapters_bf16_gb"]
        fixed += memory["adapter_activations_gb"] + memory["logits_and_loss_gb"]
        peaks = {
            "no checkpointing, no cache": memory["weights_bf16_gb"] + fixed + memory["lm_activations_gb"],
            "checkpointing, no cache": memory["weights_bf16_gb"] + fixed + memory["lm_activations_checkpointed_gb"],
            "checkpointing + cache": memory["weights_bf16_with_cache_gb"]
            + fixed
            + memory["lm_activations_checkpointed_gb"],
        }
        hours = {
            "no cache": examples * (train_no_ckpt + encoder_fwd) / sustained / 3600,
            "cache": examples * train_no_ckpt / sustained / 3600,
            "checkpointing, no cache": examples * (train_ckpt + encoder_fwd) / sustained / 3600,
            "checkpointing + cache": examples * train_ckpt / sustained / 3600,
        }
        totals["no_cache_h"] += hours["no cache"]
        totals["cache_h"] += hours["cache"]
        phases[name] = {
            "iters": phase["iters"],
            "examples": examples,
            "tokens_per_example": n,
            "trainable_parameters": trainable,
            "tflops_per_example": {
                "encoders_forward": encoder_fwd / 1e12,
                "lm_forward": lm_fwd / 1e12,
                "train_without_encoders": train_no_ckpt / 1e12,
            },
            "memory_gb": memory,
            "peak_gb": peaks,
            "fits": {k: v < gpu_gb * 0.9 for k, v in peaks.items()},
            "hours": hours,
        }
    needed = sum(
        p["examples"]
        * (p["tflops_per_example"]["train_without_encoders"] + p["tflops_per_example"]["encoders_forward"])
        for p in phases.values()
    )
    return {
        "assumptions": {
            "gpu_peak_tflops_bf16_dense": gpu_tflops,
            "mfu": mfu,
            "sustained_tflops": sustained / 1e12,
            "gpu_memory_gb": gpu_gb,
            "fits_means": "peak < 90 % of GPU memory (allocator, CUDA context)",
            "precision": "frozen weights bf16, trainable fp32 + fp32 grads + AdamW (16 B/param), bf16 autocast",
            "flops": "forward FLOPs counted on meta (FlopCounterMode); training multipliers are analytic",
            "lm_activations": "analytic per token and layer (SDPA, no n^2 scores); adapters measured on meta",
            "text_tokens_per_example": {k: v["text_tokens"] for k, v in P2E_PHASES.items()},
            "batch": P2E_BATCH,
        },
        "parameters": {**counts, "lora r16 (q,k,v,o,gate,up,down)": lora},
        "phases": phases,
        "total_hours": totals,
        "published_hours": PUBLISHED_HOURS,
        "sustained_tflops_needed_for_32h_no_cache": needed * 1e12 / (PUBLISHED_HOURS * 3600) / 1e12,
    }


# ---------------------------------------------------------------------------------------------------- training
def bench_training(ctx: Bench) -> dict:
    """Examples per second of each demo-curriculum stage from raw media and from the feature cache (cold: first
    epoch, encoding and storing; warm: later epochs and stages), and peak resident memory.

    Each stage runs its real trainable set (`train.stage.apply_trainable`, PEFT LoRA for phase 3) for a few
    optimizer steps on the demo corpus with the curriculum's collator, one process, no loader workers.
    """
    if ctx.preset.name == "full":
        return {"skipped": "full-size training steps on 2 CPU cores say nothing of a GPU; see the budget section"}
    import resource
    import tempfile

    from datasets import load_from_disk

    from nanoemox.modeling.collator_nanoemox import NanoEmoXCollator
    from nanoemox.train.curriculum import load_curriculum
    from nanoemox.train.feature_cache import FeatureCache
    from nanoemox.train.stage import apply_trainable

    ctx.build()
    root = ctx.demo_corpus()
    rows = [dict(r) for r in load_from_disk(str(root))["train"]]
    batch_size, steps = 8, ctx.preset.loader_batches
    out: dict = {"batch_size": batch_size, "steps": steps, "stages": {}}
    with tempfile.TemporaryDirectory() as cache_dir:
        for stage in load_curriculum("demo").stages:
            tasks = set(stage.mixture)
            pool = [r for r in rows if r["task"] in tasks][: batch_size * steps]
            batches = [pool[i : i + batch_size] for i in range(0, len(pool), batch_size)]
            model = NanoEmoXForConditionalGeneration.from_pretrained(ctx.folder)
            model = apply_trainable(model, stage)
            optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
            model.train()
            cache = FeatureCache(cache_dir, model, ctx.processor)
            collators = {
                "raw media": NanoEmoXCollator(ctx.processor, media_root=str(root)),
                "cache, cold": NanoEmoXCollator(ctx.processor, media_root=str(root), feature_cache=cache),
                "cache, warm": NanoEmoXCollator(ctx.processor, media_root=str(root), feature_cache=cache),
            }
            timings = {}
            for name, collator in collators.items():
                start = time.perf_counter()
                for chunk in batches:
                    batch = {k: v for k, v in collator(chunk).items() if k != "task_index"}
                    model(**batch).loss.backward()
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
                timings[name] = len(pool) / (time.perf_counter() - start)
            out["stages"][stage.name] = {
                "examples_per_s": timings,
                "cache_speedup_per_epoch": timings["cache, warm"] / timings["raw media"],
            }
            logger.info("training %s: %s", stage.name, {k: round(v, 1) for k, v in timings.items()})
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


# ---------------------------------------------------------------------------------------------------- report
def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value == 0:
            return "0"
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def table(results: dict) -> str:
    """The printed summary: one row per headline figure."""
    rows: list[tuple[str, str, str]] = []
    s = results["sections"]
    if "training" in s and "skipped" not in s["training"]:
        for stage, t in s["training"]["stages"].items():
            ex = t["examples_per_s"]
            rows.append(
                (
                    "training",
                    f"{stage}: examples/s raw / cache cold / warm",
                    f"{_fmt(ex['raw media'])} / {_fmt(ex['cache, cold'])} / {_fmt(ex['cache, warm'])}",
                )
            )
            rows.append(("training", f"{stage}: cache speed-up per epoch", _fmt(t["cache_speedup_per_epoch"])))
        rows.append(("training", "peak resident memory (MB)", _fmt(s["training"]["peak_rss_mb"])))
    if "decode" in s and "skipped" not in s["decode"]:
        d = s["decode"]
        rows.append(
            (
                "decode",
                f"step ms, generate (nanoemox / bare LM, {d['context_tokens']} tokens)",
                f"{_fmt(d['generate_step_ms']['nanoemox'])} / {_fmt(d['generate_step_ms']['bare_lm'])}",
            )
        )
        rows.append(("decode", "ratio generate (goal ~1.0)", _fmt(d["generate_ratio"])))
        rows.append(("decode", "ratio forward on KV cache", _fmt(d["forward_ratio"])))
        rows.append(("decode", "encoder calls per answer", _fmt(d["encoder_calls_per_answer"])))
        for k, v in d["per_step_python_us"].items():
            rows.append(("decode", f"per-step python: {k} (us)", _fmt(v)))
    if "prefill" in s and "skipped" not in s["prefill"]:
        p = s["prefill"]
        for dtype in ("float32", "bfloat16"):
            if dtype in p:
                for k, v in p[dtype]["ms"].items():
                    share = p[dtype]["share"].get(k)
                    extra = f" ({share:.0%})" if share is not None else ""
                    rows.append(("prefill", f"{k} ms, {dtype}", _fmt(v) + extra))
                rows.append(("prefill", f"glue ms (end to end - branches), {dtype}", _fmt(p[dtype]["glue_ms"])))
        for k, v in p["full_size_gflops"].items():
            rows.append(("prefill", f"full-size GFLOPs: {k}", _fmt(v)))
    if "tokens" in s and "skipped" not in s["tokens"]:
        for k, v in s["tokens"]["designs"].items():
            rows.append(("tokens", f"{k}: context", str(v["context_tokens"])))
            rows.append(
                (
                    "tokens",
                    f"{k}: LM prefill ms / x",
                    f"{_fmt(v['lm_prefill_ms_at_preset_size'])} / "
                    f"{_fmt(v['time_vs_nanoemox'])}x (FLOPs {_fmt(v['flops_vs_nanoemox'])}x)",
                )
            )
    if "batching" in s and "skipped" not in s["batching"]:
        for route in ("generate", "pipeline"):
            for b, v in s["batching"][route].items():
                if isinstance(v, dict):
                    rows.append(("batching", f"{route} clips/s at batch {b}", _fmt(v["clips_per_s"])))
    if "preprocessing" in s and "skipped" not in s["preprocessing"]:
        p = s["preprocessing"]
        for k, v in p["model_ms"].items():
            rows.append(("preprocessing", f"model {k} ms", _fmt(v)))
        for clip, v in p["clips"].items():
            for k, ms in v["ms"].items():
                rows.append(("preprocessing", f"{clip[:28]}: {k} ms", _fmt(ms)))
            rows.append(("preprocessing", f"{clip[:28]}: share of prefill", f"{v['share_of_prefill']:.0%}"))
        loader = p["loader"]
        if "workers" in loader:
            for w, v in loader["workers"].items():
                rows.append(
                    (
                        "preprocessing",
                        f"loader {w} workers: data / step ms",
                        f"{_fmt(v['data_ms_per_batch'])} / {_fmt(v['step_ms'])} (fed: {_fmt(v['keeps_model_fed'])})",
                    )
                )
    if "budget" in s and "skipped" not in s["budget"]:
        b = s["budget"]
        a = b["assumptions"]
        rows.append(
            (
                "budget",
                "assumed sustained TFLOPS",
                f"{_fmt(a['sustained_tflops'])} ({a['mfu']:.0%} of {_fmt(a['gpu_peak_tflops_bf16_dense'])})",
            )
        )
        for name, ph in b["phases"].items():
            rows.append(
                (
                    "budget",
                    f"{name}: h no cache / cache",
                    f"{_fmt(ph['hours']['no cache'])} / {_fmt(ph['hours']['cache'])}",
                )
            )
            rows.append(
                (
                    "budget",
                    f"{name}: peak GB (none / ckpt / ckpt+cache)",
                    " / ".join(_fmt(v) for v in ph["peak_gb"].values()),
                )
            )
        rows.append(
            (
                "budget",
                "total h no cache / cache (published 32 h)",
                f"{_fmt(b['total_hours']['no_cache_h'])} / {_fmt(b['total_hours']['cache_h'])}",
            )
        )
    for name, v in s.items():
        if isinstance(v, dict) and "skipped" in v:
            rows.append((name, "skipped", v["skipped"]))
    w0 = max([len(r[0]) for r in rows] + [7])
    w1 = max([len(r[1]) for r in rows] + [6])
    lines = [f"{'section':<{w0}}  {'metric':<{w1}}  value", "-" * (w0 + w1 + 30)]
    lines += [f"{a:<{w0}}  {b:<{w1}}  {c}" for a, b, c in rows]
    return "\n".join(lines)


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value


# ---------------------------------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nanoemox bench", description=__doc__.split("\n")[0])
    parser.add_argument("--preset", choices=list(PRESETS), default="tiny")
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument(
        "--sections", nargs="+", default=list(SECTIONS), help=f"any of {', '.join(SECTIONS)} (default: all)"
    )
    parser.add_argument("--repeats", type=int, help="timing repeats (default: the preset's)")
    parser.add_argument("--decode-steps", type=int, help="decode steps per repeat (default: the preset's)")
    parser.add_argument("--new-tokens", type=int, help="new tokens per answer in batching (default: the preset's)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", help="batching section sizes (default: 1 4 16)")
    parser.add_argument("--loader-batches", type=int, help="batches timed per data-loader setting")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    parser.add_argument("--video", help="an mp4 for the decode/prefill/preprocessing clip (default: built offline)")
    parser.add_argument("--gpu-tflops", type=float, default=165.2, help="GPU peak bf16 dense TFLOPS (RTX 4090)")
    parser.add_argument("--mfu", type=float, default=0.4, help="model FLOPs utilisation assumed sustained")
    parser.add_argument("--gpu-memory-gb", type=float, default=24.0)
    parser.add_argument("--workdir", help="keep the checkpoint and media here (default: a temporary folder)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    sections = [s for item in args.sections for s in item.split(",") if s]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        raise SystemExit(f"nanoemox bench: unknown sections {unknown}; choose from {', '.join(SECTIONS)}")
    overrides = {
        k: v
        for k, v in {
            "repeats": args.repeats,
            "decode_steps": args.decode_steps,
            "new_tokens": args.new_tokens,
            "batch_sizes": tuple(args.batch_sizes) if args.batch_sizes else None,
            "loader_batches": args.loader_batches,
            "long_prefill_repeats": args.repeats,
        }.items()
        if v is not None
    }
    preset = Preset(**{**asdict(PRESETS[args.preset]), **overrides})
    if preset.repeats < 1 or preset.decode_steps < 2:
        raise SystemExit(f"nanoemox bench: need --repeats >= 1 and --decode-steps >= 2, got {preset}")
    threads = args.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    started = time.perf_counter()
    results: dict[str, Any] = {
        "preset": preset.name,
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": describe_machine(),
        "threads": threads,
        "settings": asdict(preset),
        "sections": {},
    }
    order = [s for s in ("decode", "tokens", "batching", "preprocessing", "prefill", "budget", "training")]
    with tempfile.TemporaryDirectory(prefix="nanoemox-bench-") as tmp:
        workdir = Path(args.workdir or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        ctx = Bench(preset=preset, workdir=workdir, threads=threads, video=args.video)
        runners = {
            "decode": bench_decode,
            "prefill": bench_prefill,
            "tokens": bench_tokens,
            "batching": bench_batching,
            "preprocessing": bench_preprocessing,
            "budget": lambda c: bench_budget(c, gpu_tflops=args.gpu_tflops, mfu=args.mfu, gpu_gb=args.gpu_memory_gb),
            "training": bench_training,
        }
        # the full preset's timed sections need ~10 GB; with --sections prefill budget only meta parts run
        meta_only = preset.name == "full" and not ({"decode", "tokens", "batching", "preprocessing"} & set(sections))
        for name in order:
            if name not in sections:
                continue
            logger.info("section %s", name)
            section_start = time.perf_counter()
            if meta_only and name == "prefill":
                flops = full_size_flops(ctx, 64)
                out = {
                    "flops_method": "torch.utils.flop_counter.FlopCounterMode on the meta device",
                    "full_size_gflops": {**{k: v / 1e9 for k, v in flops.items()}, "total": sum(flops.values()) / 1e9},
                    "note": "timed parts skipped (run with the decode/tokens/... sections to build the model)",
                    "tokens": 64 + NanoEmoXConfig().media_tokens_per_clip,
                }
            else:
                out = runners[name](ctx)
            out["seconds"] = time.perf_counter() - section_start
            results["sections"][name] = out
        if ctx.clip:
            results["clip"] = ctx.clip
        results["notes"] = ctx.notes + [
            "medians over repeats, the two sides of each ratio interleaved; the machine may be shared",
        ]
        if "build_seconds" in ctx.cache:
            results["build_seconds"] = ctx.cache["build_seconds"]
    results["seconds"] = time.perf_counter() - started
    results["sections"] = {k: results["sections"][k] for k in SECTIONS if k in results["sections"]}
    results = _jsonable(results)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2))
    print(table(results))
    print(
        f"\npreset {preset.name}, {threads} threads, {results['seconds']:.0f} s"
        + (f"; JSON: {args.json}" if args.json else "")
    )
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    sys.exit(main())
