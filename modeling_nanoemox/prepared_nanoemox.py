"""What the processor hands on: one sample's decoded media (`SampleMedia`), a row ready to batch (`PreparedRow`, what
a DataLoader worker returns), the batch of a `prepare` call (`PreparedBatch`) and a row that could not be read
(`RowError`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from transformers import BatchFeature

from .faces_nanoemox import KeyFrames
from .features_nanoemox import entry_branches
from .video_nanoemox import VideoFrames


@dataclass
class SampleMedia:
    """One sample's media, decoded: frames, FEC key frames, face crops and audio clips of the branches it has (or,
    from a feature cache, the frozen encoders' outputs instead, as a clip entry of `features_nanoemox`).

    missing: branch -> why the sample lacks it (no audio track, silent, no face, dropped on request; "fusion" only
        when dropped on request).
    given: branch -> whether the caller gave a source for it (a placeholder without one is an error).
    """

    frames: VideoFrames | None = None
    key_frames: KeyFrames | None = None
    faces: tuple[np.ndarray, np.ndarray] | None = None  # crops (t, s, s, 3) uint8, mask (t,)
    audio: tuple[np.ndarray, np.ndarray] | None = None  # clips (c, L) float32, mask (c,)
    features: dict[str, torch.Tensor] | None = None
    missing: dict[str, str] = field(default_factory=dict)
    given: dict[str, bool] = field(default_factory=dict)

    def has(self, branch: str) -> bool:
        """Whether the sample carries `branch` (frame, face, audio, or fusion: frames and audio both, unless the fusion
        token was dropped on request)."""
        if branch == "fusion":
            return "fusion" not in self.missing and self.has("frame") and self.has("audio")
        if self.features is not None:
            return branch in entry_branches(self.features)
        return {"frame": self.frames, "face": self.faces, "audio": self.audio}[branch] is not None


@dataclass
class RowError:
    """A row that could not be read: which (position, id), the file at fault when known, and why."""

    index: int
    id: str
    reason: str
    source: str | None = None

    def __str__(self) -> str:
        return f"row {self.id!r}: {self.reason}" if self.id != str(self.index) else f"row {self.index}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "id": self.id, "file": self.source, "reason": self.reason}


@dataclass
class PreparedRow:
    """One row ready to batch (what `prepare_row` returns, and what a DataLoader worker hands to `collate`): its text
    with the placeholders expanded, its media inputs with a batch size of 1 (or its cached encoder features), its
    language prior, and which row it is. `fusion_dropped`: its fusion token was dropped on request while its frames and
    audio stay (the batch then carries `fusion_mask`)."""

    index: int
    id: str
    task: str | None
    text: str
    media: dict[str, Any]
    prior: str | None = None
    features: dict[str, torch.Tensor] | None = None
    fusion_dropped: bool = False


@dataclass
class PreparedBatch:
    """What `NanoEmoXProcessor.prepare` returns.

    inputs: the model inputs of the rows that could be read (None when none could).
    rows: the positions, in the rows given, of the rows in `inputs`, in order.
    tasks: the task of each row in `inputs` (None for a row without one).
    errors: one `RowError` per row left out.
    """

    inputs: BatchFeature | None
    rows: list[int]
    tasks: list[str | None]
    errors: list[RowError]


def fusion_dropped(media: SampleMedia) -> bool:
    """Whether the sample's fusion token was dropped on request although it has the frames and audio it needs."""
    return media.has("frame") and media.has("audio") and not media.has("fusion")
