"""Parameters per branch of a saved checkpoint, read from its safetensors headers (shapes only, no tensor loaded)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

# Mirror of nanoemox.compose.BRANCH_MODULES, as safetensors key prefixes (a test checks that both agree).
BRANCH_PREFIXES = {
    "frame encoder (CLIP)": ("model.vision_tower.",),
    "speech encoder (HuBERT)": ("model.audio_tower.",),
    "face backbone (Swin)": ("model.face_backbone.",),
    "language model (Qwen2)": ("model.language_model.",),
    "frame adapter": ("model.frame_adapter.",),
    "speech adapter": ("model.audio_adapter.",),
    "face fusion + temporal block": ("model.face_fusion.", "model.face_adapter."),
    "fusion encoder": ("model.fusion.",),
    "LM head (untied part)": ("lm_head.",),
}


def safetensors_files(model_dir: Path) -> list[Path]:
    index = model_dir / "model.safetensors.index.json"
    if index.is_file():
        weight_map = json.loads(index.read_text(encoding="utf-8")).get("weight_map", {})
        return [model_dir / name for name in sorted(set(weight_map.values()))]
    return sorted(model_dir.glob("*.safetensors"))


def count_parameters(model_dir: str | os.PathLike) -> dict[str, Any] | None:
    """Parameters per branch from the safetensors headers (shapes only); None without weights.

    Returns `{"branches": {label: n}, "total": n, "dtypes": {dtype: n}, "bytes": size on disk}`. Tied weights are
    stored once, so they are counted once, like `nanoemox.compose.count_parameters`.
    """
    from safetensors import safe_open  # light: reads the JSON header, never the tensors

    files = safetensors_files(Path(model_dir))
    if not files:
        return None
    branches = dict.fromkeys(BRANCH_PREFIXES, 0)
    dtypes: dict[str, int] = {}
    total = 0
    for file in files:
        with safe_open(str(file), framework="numpy") as handle:
            for name in handle.keys():
                tensor = handle.get_slice(name)
                numel = math.prod(tensor.get_shape())
                label = next((b for b, prefixes in BRANCH_PREFIXES.items() if name.startswith(prefixes)), "other")
                branches[label] = branches.get(label, 0) + numel
                dtypes[tensor.get_dtype()] = dtypes.get(tensor.get_dtype(), 0) + numel
                total += numel
    return {"branches": branches, "total": total, "dtypes": dtypes, "bytes": sum(f.stat().st_size for f in files)}


def format_count(n: int) -> str:
    if n >= 1e9:
        return f"{n / 1e9:.2f} B"
    if n >= 1e6:
        return f"{n / 1e6:.1f} M"
    if n >= 1e3:
        return f"{n / 1e3:.1f} K"
    return str(n)
