"""Benchmark section `decode`: time per decode step, Nano-EmoX with a clip in context against the bare LM.

Media are encoded once, at prefill; a decode step should cost what the language model's step costs. Measured
through `generate` (per-step clock) and on the KV cache directly (single-token forwards, steps alternated), plus
our own per-step Python work in isolation.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable

import torch
from transformers import AutoModelForCausalLM, StoppingCriteriaList

from nanoemox.modeling.modeling_nanoemox import CACHE_KEY, NanoEmoXForConditionalGeneration

from .context import Bench
from .timing import StepClock, greedy, interleaved, median

logger = logging.getLogger(__name__)

ENCODERS = ("vision_tower", "audio_tower", "face_backbone")


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
    gen_full = median([t for run in generate_steps["nanoemox"][1:] for t in run])  # [0]: the warm-up round
    gen_bare = median([t for run in generate_steps["bare_lm"][1:] for t in run])

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
    fwd_full, fwd_bare = median(forward_steps["nanoemox"]), median(forward_steps["bare_lm"])

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
