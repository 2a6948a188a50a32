"""Numbers the code computes and the README quotes, pinned: a change to the model's shapes shows here first.

The exact integers were computed with the code as it stands (meta device, nothing downloaded); each README figure is
checked against them at the README's own rounding.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from nanoemox.cli import main as nanoemox_main
from nanoemox.modeling.modeling_nanoemox import NanoEmoXForConditionalGeneration
from nanoemox.modeling.related_nanoemox import qformer_alignment_macs
from nanoemox.train.ablate import design_config
from nanoemox.train.curriculum import parse_curriculum

README = Path(__file__).resolve().parents[1] / "README.md"

# `nanoemox init --preset full --dry-run`: row -> (parameters, the README's label for it)
FULL_SIZE = {
    "frame encoder (CLIP)": (303_179_776, "frame encoder (CLIP ViT-L/14)"),
    "speech encoder (HuBERT)": (315_438_720, "speech encoder (HuBERT-Large)"),
    "face backbone (Swin)": (86_747_064, "face backbone (Swin-B, four stages)"),
    "language model (Qwen2)": (1_543_714_304, "language model (Qwen2.5-1.5B, tied head)"),
    "frame adapter": (20_909_568, "frame adapter (Q-Former, 2 layers, 32 queries)"),
    "speech adapter": (20_909_568, "speech adapter (Q-Former, 2 layers, 32 queries)"),
    "face fusion + temporal block": (2_466_560, "face multi-scale fusion + temporal block"),
    "fusion encoder": (16_542_723, "fusion encoder (3 gated cross-attention experts)"),
    "LM head (untied part)": (0, None),
    "total": (2_309_908_283, "**total**"),
}
# Cat-MoD alignment multiply-adds per sample (`CatMoDAdapter.alignment_flops`)
FULL_KEYS = 8 * 257  # 8 frames x (256 patches + CLS) of CLIP ViT-L/14 at 224 px
CAT_MOD_FULL = {"cat_mod": 7_167_062_016, "qformer": 7_239_106_560}
CAT_MOD_TINY = {"keys": 136, "cat_mod": 848_000, "qformer": 876_544}


def _readme() -> str:
    return " ".join(README.read_text().split())  # one line: a figure may wrap


def _design(arch: dict, preset: str | None):
    """The `NanoEmoXConfig` a curriculum with this `model.init` composes (as `nanoemox train` / `ablate` build it)."""
    init = {"arch": arch, **({"preset": preset} if preset else {})}
    stage = {"name": "s", "data": ["d"], "mixture": {"mer": 1}, "trainable": ["fusion"]}
    curriculum = {"model": {"init": init}, "datasets": {"d": {"path": "unused"}}, "stages": [stage]}
    return design_config(parse_curriculum(curriculum))


def _cat_mod_adapter(preset: str | None):
    config = _design({"frame_adapter": "cat_mod", "audio_adapter": "cat_mod"}, preset)
    with torch.device("meta"):
        model = NanoEmoXForConditionalGeneration(config)
    return config, model.model.frame_adapter


def test_full_size_parameter_table(capsys):
    assert nanoemox_main(["init", "--preset", "full", "--dry-run"]) == 0
    rows = {}
    for line in capsys.readouterr().out.splitlines():
        found = re.match(r"^(.+?)\s{2,}([\d,]+)\s+\(", line)
        if found:
            rows[found[1]] = int(found[2].replace(",", ""))
    assert rows == {name: n for name, (n, _) in FULL_SIZE.items()}
    assert sum(n for name, n in rows.items() if name != "total") == rows["total"]
    readme = _readme()
    for name, (n, label) in FULL_SIZE.items():
        if label is None:
            continue
        figure = f"{n / 1e6:,.1f} M"
        quoted = f"| **{figure}** |" if name == "total" else f"| {figure} |"
        assert f"| {label} {quoted}" in readme, f"README's {label!r} row should read {figure}"


def test_cat_mod_alignment_saving_at_full_size():
    config, adapter = _cat_mod_adapter(preset=None)
    assert (adapter.num_queries, adapter.in_dim, config.num_frames) == (32, 1024, 8)
    flops = adapter.alignment_flops(FULL_KEYS)
    assert {k: int(flops[k]) for k in CAT_MOD_FULL} == CAT_MOD_FULL
    plain = qformer_alignment_macs(
        num_queries=adapter.num_queries,
        num_keys=FULL_KEYS,
        in_dim=adapter.in_dim,
        hidden=adapter.hidden,
        intermediate=adapter.intermediate,
        num_layers=len(adapter.layers),
        out_dim=adapter.out_dim,
    )
    assert plain == CAT_MOD_FULL["qformer"]
    assert flops["saving"] == pytest.approx(1 - CAT_MOD_FULL["cat_mod"] / CAT_MOD_FULL["qformer"])
    readme = _readme()
    assert f"saves **{flops['saving'] * 100:.1f} %**" in readme and f"{flops['saving'] * 100:.1f}" == "1.0"
    assert f"the {FULL_KEYS:,d} keys to K/V is {flops['kv_share'] * 100:.0f} % of the cost" in readme
    assert f"{flops['kv_share'] * 100:.0f}" == "89"


def test_cat_mod_alignment_saving_at_tiny_size():
    config, adapter = _cat_mod_adapter(preset="tiny")
    vision = config.vision_config
    keys = config.num_frames * ((vision.image_size // vision.patch_size) ** 2 + 1)
    assert keys == CAT_MOD_TINY["keys"]
    flops = adapter.alignment_flops(keys)
    assert {k: int(flops[k]) for k in ("cat_mod", "qformer")} == {k: CAT_MOD_TINY[k] for k in ("cat_mod", "qformer")}
    assert f"{flops['saving'] * 100:.1f}" == "3.3"
    assert f"({flops['saving'] * 100:.1f} % at tiny size)" in _readme()
