"""A tiny checkpoint whose answers depend on the clip: the "lively" trick of tests/test_label_scores.py, shared.

A freshly initialised tiny LM scores every label almost alike, whatever the clip; re-randomising its matrices with
std 0.5 makes label probabilities far from uniform and different from window to window, so a timeline or a chart
built from them shows something to check.

    path = build_lively_checkpoint(tmp_path)    # folder of a complete checkpoint (weights, processor, code)
"""

from __future__ import annotations

from pathlib import Path

import torch

from tests.model_helpers import build_tiny_checkpoint, load_model


def build_lively_checkpoint(folder: Path, seed: int = 1) -> str:
    model = load_model(build_tiny_checkpoint(Path(folder)))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.model.language_model.parameters():
            if param.dim() == 2:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.5)
    model.save_pretrained(Path(folder) / "lively")
    return str(Path(folder) / "lively")
