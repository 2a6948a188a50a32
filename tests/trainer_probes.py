"""Trainer callbacks that let the training tests see inside a run: where a resumed run starts, which steps it runs.

saved = load_checkpoint_state("runs/x/1-s/checkpoints/checkpoint-4")   # after a kill, before resuming
probe = ResumeProbe()
run_stage(stage, ..., callbacks=[probe])          # the resumed run
assert probe.steps == [5, 6]                       # only the remaining steps
assert_starts_from(probe, saved)                   # from the checkpoint's optimizer, scheduler and RNG state
"""

from __future__ import annotations

import copy
import random
from pathlib import Path

import numpy as np
import torch
from transformers import TrainerCallback


class ResumeProbe(TrainerCallback):
    """Records the optimizer, scheduler and RNG state at the first step a run takes, and every step it finishes."""

    def __init__(self):
        self.runs = 0
        self.first: dict | None = None
        self.steps: list[int] = []

    def on_train_begin(self, args, state, control, **kwargs):
        self.runs += 1

    def on_step_begin(self, args, state, control, optimizer=None, lr_scheduler=None, **kwargs):
        if self.first is None:
            self.first = {
                "global_step": state.global_step,
                "optimizer": copy.deepcopy(optimizer.state_dict()),
                "scheduler": copy.deepcopy(lr_scheduler.state_dict()),
                "lr": [group["lr"] for group in optimizer.param_groups],
                "torch_rng": torch.random.get_rng_state().clone(),
                "python_rng": random.getstate(),
                "numpy_rng": np.random.get_state(),
            }

    def on_step_end(self, args, state, control, **kwargs):
        self.steps.append(state.global_step)


def load_checkpoint_state(checkpoint: str | Path) -> dict:
    """What a Trainer checkpoint holds for resuming: optimizer, scheduler and RNG state (read before it is rotated)."""
    checkpoint = Path(checkpoint)
    load = lambda name: torch.load(checkpoint / name, weights_only=False)  # files this test run just wrote
    return {
        "name": checkpoint.name,
        "optimizer": load("optimizer.pt"),
        "scheduler": load("scheduler.pt"),
        "rng": load("rng_state.pth"),
    }


def assert_starts_from(probe: ResumeProbe, saved: dict) -> None:
    """The probed run's first step starts from exactly the optimizer moments, scheduler position, learning rate and
    RNG states of the checkpoint `saved` (`load_checkpoint_state`), not from a fresh optimizer or seed."""
    first = probe.first
    assert first is not None, "the run took no step"
    step = int(saved["name"].split("-")[-1])
    assert first["global_step"] == step, (first["global_step"], saved["name"])
    state, expected = first["optimizer"]["state"], saved["optimizer"]["state"]
    assert expected and state.keys() == expected.keys(), "the optimizer does not hold the checkpoint's moments"
    for index, moments in expected.items():
        assert moments.keys() == state[index].keys()
        for name, value in moments.items():
            torch.testing.assert_close(state[index][name], value, rtol=0, atol=0, msg=f"param {index} {name}")
    assert first["optimizer"]["param_groups"] == saved["optimizer"]["param_groups"]
    assert first["scheduler"]["last_epoch"] == saved["scheduler"]["last_epoch"] == step
    assert first["lr"] == saved["scheduler"]["_last_lr"]
    assert torch.equal(first["torch_rng"], saved["rng"]["cpu"])
    assert first["python_rng"] == saved["rng"]["python"]
    numpy_now, numpy_saved = first["numpy_rng"], saved["rng"]["numpy"]
    assert numpy_now[0] == numpy_saved[0] and np.array_equal(numpy_now[1], numpy_saved[1])
    assert tuple(numpy_now[2:]) == tuple(numpy_saved[2:])
