"""Shared builders for model tests: a tiny checkpoint composed through the same route as Hub ids, and
batches whose placeholders match the media each sample carries."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import torch

from nanoemox.compose import compose_checkpoint
from nanoemox.modeling.modeling_nanoemox import NanoEmoXForConditionalGeneration
from nanoemox.tiny.components import save_tiny_components
from nanoemox.tiny.configs import TINY_ARCH


def build_tiny_checkpoint(folder, seed: int = 0) -> str:
    """Tiny components saved to `folder/components`, composed into `folder/ckpt` (the `--vision PATH` route)."""
    paths = save_tiny_components(folder / "components", seed=seed)
    compose_checkpoint(folder / "ckpt", **paths, arch=TINY_ARCH, seed=seed)
    return str(folder / "ckpt")


def make_batch(
    config, samples: list[dict], *, text_len: int = 6, seed: int = 0, pad_id: int = 0
) -> dict[str, torch.Tensor]:
    """Inputs for `samples`, each a dict with bool keys frame/face/audio (fusion follows frame & audio).

    Rows are left-padded. Media tensors have random content; absent media is zero with a False mask.
    """
    g = torch.Generator().manual_seed(seed)
    vocab = min(config.frame_token_id, config.face_token_id, config.audio_token_id, config.fusion_token_id)
    rows = []
    for s in samples:
        ids = torch.randint(3, vocab, (text_len,), generator=g).tolist()
        media = []
        if s.get("frame"):
            media += [config.frame_token_id] * config.num_frame_tokens
        if s.get("face"):
            media += [config.face_token_id] * config.num_face_tokens
        if s.get("audio"):
            media += [config.audio_token_id] * config.num_audio_tokens
        if s.get("frame") and s.get("audio"):
            media += [config.fusion_token_id] * config.num_fusion_tokens
        rows.append(ids[:2] + media + ids[2:])
    width = max(map(len, rows))
    input_ids = torch.full((len(rows), width), pad_id)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        input_ids[i, width - len(row) :] = torch.tensor(row)
        attention_mask[i, width - len(row) :] = 1
    b, t, c = len(samples), config.num_frames, config.num_audio_clips
    vs, fs = config.vision_config.image_size, config.face_config.image_size
    batch = {"input_ids": input_ids, "attention_mask": attention_mask}
    if any(s.get("frame") for s in samples):
        batch["pixel_values_videos"] = torch.randn(b, t, 3, vs, vs, generator=g)
        batch["frame_mask"] = torch.tensor([[bool(s.get("frame"))] * t for s in samples])
    if any(s.get("face") for s in samples):
        batch["face_pixel_values"] = torch.randn(b, t, 3, fs, fs, generator=g)
        batch["face_mask"] = torch.tensor([[bool(s.get("face"))] * t for s in samples])
    if any(s.get("audio") for s in samples):
        batch["input_values"] = torch.randn(b, c, config.audio_clip_samples, generator=g)
        batch["audio_mask"] = torch.tensor([[bool(s.get("audio"))] * c for s in samples])
    return batch


def select(batch: dict[str, torch.Tensor], i: int) -> dict[str, torch.Tensor]:
    """Sample i alone, its left padding removed."""
    keep = batch["attention_mask"][i].bool()
    out = {
        "input_ids": batch["input_ids"][i : i + 1, keep],
        "attention_mask": batch["attention_mask"][i : i + 1, keep],
    }
    for key, value in batch.items():
        if key not in out:
            out[key] = value[i : i + 1]
    return out


def load_model(path: str, **kwargs) -> NanoEmoXForConditionalGeneration:
    return NanoEmoXForConditionalGeneration.from_pretrained(path, **kwargs).eval()


def build_lively_checkpoint(folder, seed: int = 1) -> str:
    """A tiny checkpoint (in `folder/lively`) whose random LM has large weights (std 0.5), so answers, label
    probabilities and log-likelihoods depend on the input (a freshly initialised tiny LM answers "\n" to everything
    and scores every label almost alike): equality tests on it mean something."""
    folder = Path(folder)
    model = load_model(build_tiny_checkpoint(folder))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.model.language_model.parameters():
            if param.dim() == 2:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.5)
    model.save_pretrained(folder / "lively")
    return str(folder / "lively")


ALL = {"frame": True, "face": True, "audio": True}


# Prepended to a script that must run with `nanoemox` (and `tests`) unimportable: only a checkpoint's own remote
# code, transformers and torch, as a user who has nothing but the checkpoint.
BLOCK_PACKAGE = """\
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in ("nanoemox", "tests"):
            raise ImportError("blocked " + name)
sys.meta_path.insert(0, Block())
sys.path = [p for p in sys.path if p not in ("", ".")]
"""


def run_without_package(script: str, *args, folder, check: bool = True) -> subprocess.CompletedProcess:
    """Run `script` (its body; the package block is prepended) in a fresh interpreter with `args` as sys.argv[1:].

    Offline, with the same number of torch threads as this process, so that results compare bit for bit.
    """
    path = Path(folder) / "blocked_script.py"
    path.write_text(BLOCK_PACKAGE + textwrap.dedent(script))
    env = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": str(torch.get_num_threads())}
    run = subprocess.run(
        [sys.executable, str(path), *map(str, args)], cwd=folder, env=env, capture_output=True, text=True, timeout=600
    )
    if check and run.returncode:
        raise AssertionError(f"the blocked script failed:\n{run.stderr[-4000:]}")
    return run
