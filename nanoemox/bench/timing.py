"""Timing and counting for the benchmark: interleaved medians, FLOP counts, per-step generation clocks.

Every figure that matters is a ratio within one run, so the two sides of a ratio are timed in alternating order
(A B, B A, ...) and the median of each side is reported.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode
from transformers import GenerationConfig, StoppingCriteria


def median(values: list[float]) -> float:
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
    return {k: median(v) for k, v in times.items()}


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
