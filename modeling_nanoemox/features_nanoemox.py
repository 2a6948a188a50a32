"""`EncoderFeatures`: what the frozen encoders produce, the contract between the model and a feature cache.

While CLIP, HuBERT and the face backbone are frozen, their outputs for a clip never change. A feature cache stores
them per clip (`clip_entry`) and hands a batch of them to the model as `encoder_features` (`batch_entries`), which
then skips those encoders; the adapters, the face fusion and the fusion encoder see exactly what they would have
seen from the pixels and waveforms.

    features = model.model.encode_media(**media_inputs)           # EncoderFeatures of a batch
    entry = clip_entry(features, media_inputs, row=0)              # flat tensors of one clip (safetensors-ready)
    encoder_features, masks = batch_entries([entry, None, entry], num_frames=8)
    model(input_ids=..., encoder_features=encoder_features, **masks)

Shapes (b clips, t frames (+ FEC key frames), c audio clips, n CLIP tokens, m crops with a face in the batch):
    frame  {"adapter": (b, t, n, d_v), "fusion": [(b, t, d_v)] per fusion layer}
    audio  {"adapter": (b, c, 1, d_a), "fusion": [(b, c, d_a)] per fusion layer}
    face   {"maps": [(m, C_s, H_s, W_s)] per backbone stage, "rows": (m,) flat b*t positions of those crops}
Zeros stand at masked frames and clips. A branch is present only when at least one clip of the batch has it.

One clip's entry (`clip_entry`) is a flat dict: `frame_mask` (t,), `frame.adapter`, `frame.fusion.K`; `audio_mask`
(c,), `audio.adapter`, `audio.fusion.K`; `face_mask` (t,), `face.maps.S` (crops with a face only).
"""

from __future__ import annotations

from typing import TypedDict

import torch


class BranchFeatures(TypedDict):
    """A frame or audio branch: what its adapter reads, and the per-layer means its fusion expert reads."""

    adapter: torch.Tensor
    fusion: list[torch.Tensor]


class FaceFeatures(TypedDict):
    """The face backbone's multi-scale maps of the crops that hold a face, and where those crops sit."""

    maps: list[torch.Tensor]
    rows: torch.Tensor


class EncoderFeatures(TypedDict, total=False):
    """The frozen encoders' outputs of a batch, per branch (`frame`, `audio`, `face`); see the module docstring."""

    frame: BranchFeatures
    audio: BranchFeatures
    face: FaceFeatures


def clip_entry(features: EncoderFeatures, masks: dict[str, torch.Tensor], row: int = 0) -> dict[str, torch.Tensor]:
    """The flat tensors of clip `row` of a batch's `features`, with its `frame_mask` / `audio_mask` / `face_mask`
    taken from `masks`; detached, on the CPU, contiguous (ready for `safetensors.torch.save_file`). A branch that
    other clips of the batch have but this one lacks (its mask all False) is not in the entry."""
    out: dict[str, torch.Tensor] = {}
    for branch in ("frame", "audio"):
        if branch in features and masks[f"{branch}_mask"][row].any():
            out[f"{branch}_mask"] = masks[f"{branch}_mask"][row]
            out[f"{branch}.adapter"] = features[branch]["adapter"][row]
            out.update({f"{branch}.fusion.{k}": f[row] for k, f in enumerate(features[branch]["fusion"])})
    if "face" in features and masks["face_mask"][row].any():
        mask = masks["face_mask"]
        t = mask.shape[1]
        keep = (features["face"]["rows"] // t) == row
        out["face_mask"] = mask[row]
        out.update({f"face.maps.{k}": m[keep] for k, m in enumerate(features["face"]["maps"])})
    return {k: v.detach().cpu().contiguous() for k, v in out.items()}


def entry_branches(entry: dict[str, torch.Tensor]) -> set[str]:
    """The branches (frame, face, audio) a clip entry holds."""
    return {branch for branch in ("frame", "face", "audio") if f"{branch}_mask" in entry}


def without_branches(entry: dict[str, torch.Tensor], branches) -> dict[str, torch.Tensor]:
    """A clip entry with the tensors of `branches` (frame, face, audio) left out, as for a clip that lacks them."""
    return {k: v for k, v in entry.items() if k.split(".")[0].removesuffix("_mask") not in branches}


def _count(entry: dict[str, torch.Tensor], prefix: str) -> int:
    return sum(1 for key in entry if key.startswith(prefix))


def batch_entries(
    entries: list[dict[str, torch.Tensor] | None], *, num_frames: int
) -> tuple[EncoderFeatures, dict[str, torch.Tensor]]:
    """`EncoderFeatures` of a batch of clip entries (None: a clip without media, e.g. text only) and the masks the
    model takes beside them: `frame_mask`, `audio_mask`, `face_mask` (b, ...), for the branches some clip has."""
    b = len(entries)
    features: EncoderFeatures = {}
    masks: dict[str, torch.Tensor] = {}
    for branch in ("frame", "audio"):
        rows = [i for i, e in enumerate(entries) if e is not None and f"{branch}_mask" in e]
        if not rows:
            continue
        first = entries[rows[0]]
        groups = first[f"{branch}_mask"].shape[0]  # frames include FEC key frames when they are on
        mask = torch.zeros(b, groups, dtype=torch.bool)
        adapter = first[f"{branch}.adapter"].new_zeros((b, *first[f"{branch}.adapter"].shape))
        layers = _count(first, f"{branch}.fusion.")
        fusion = [
            first[f"{branch}.fusion.{k}"].new_zeros((b, *first[f"{branch}.fusion.{k}"].shape)) for k in range(layers)
        ]
        for i in rows:
            entry = entries[i]
            mask[i] = entry[f"{branch}_mask"]
            adapter[i] = entry[f"{branch}.adapter"]
            for k in range(layers):
                fusion[k][i] = entry[f"{branch}.fusion.{k}"]
        features[branch] = {"adapter": adapter, "fusion": fusion}
        masks[f"{branch}_mask"] = mask
    rows = [i for i, e in enumerate(entries) if e is not None and "face_mask" in e]
    if rows:
        mask = torch.zeros(b, num_frames, dtype=torch.bool)
        stages = _count(entries[rows[0]], "face.maps.")
        maps: list[list[torch.Tensor]] = [[] for _ in range(stages)]
        flat: list[int] = []
        for i in rows:
            entry = entries[i]
            mask[i] = entry["face_mask"]
            for k in range(stages):
                maps[k].append(entry[f"face.maps.{k}"])
            flat.extend(i * num_frames + j for j in mask[i].nonzero().flatten().tolist())
        features["face"] = {"maps": [torch.cat(m) for m in maps], "rows": torch.tensor(flat, dtype=torch.long)}
        masks["face_mask"] = mask
    return features, masks


__all__ = [
    "BranchFeatures",
    "EncoderFeatures",
    "FaceFeatures",
    "batch_entries",
    "clip_entry",
    "entry_branches",
    "without_branches",
]
