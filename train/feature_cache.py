"""Feature cache of the frozen encoders: CLIP, HuBERT and the face backbone run once per clip, ever.

While the encoders are frozen (every P2E stage), what they produce for a clip never changes: the CLIP hidden
states the frame adapter and the fusion encoder read, HuBERT's pooled layers, the face backbone's multi-scale maps.
`FeatureCache` stores those per clip as safetensors (a clip entry of `features_nanoemox`), keyed by the media's
content and by a fingerprint of the encoders (configs, weights, processor media settings). It is a loader for the
processor's one path, so later epochs and stages skip decoding and encoding entirely:

    cache = FeatureCache("runs/cache", model, processor)
    collator = NanoEmoXCollator(processor, media_root=..., feature_cache=cache)   # prepare(rows, load=cache.load)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from nanoemox.modeling.features_nanoemox import clip_entry
from nanoemox.modeling.prepared_nanoemox import SampleMedia

logger = logging.getLogger(__name__)

MEDIA_SETTINGS = (
    "num_frames",
    "num_audio_clips",
    "audio_clip_seconds",
    "face_margin",
    "silence_db",
    "num_key_frames",
    "fec_scorer",
    "face_detector",
    "face_anchor_frames",
)


def encoder_fingerprint(model, processor) -> str:
    """A short hash of everything that determines the cached features."""
    base = getattr(model, "model", model)
    digest = hashlib.sha256()
    config = base.config
    for key in ("vision_config", "audio_config", "face_config"):
        digest.update(json.dumps(getattr(config, key).to_dict(), sort_keys=True, default=str).encode())
    digest.update(json.dumps([config.vision_feature_layer, config.audio_pool_layers]).encode())
    digest.update(json.dumps([config.fusion_vision_layers, config.fusion_audio_layers]).encode())
    digest.update(json.dumps({k: getattr(processor, k, None) for k in MEDIA_SETTINGS}, sort_keys=True).encode())
    digest.update(json.dumps(processor.image_processor.to_dict(), sort_keys=True, default=str).encode())
    digest.update(json.dumps(processor.face_image_processor.to_dict(), sort_keys=True, default=str).encode())
    with torch.no_grad():
        for tower in (base.vision_tower, base.audio_tower, base.face_backbone):
            checksum = sum(float(p.double().sum()) + float(p.double().abs().sum()) for p in tower.parameters())
            digest.update(repr(round(checksum, 6)).encode())
    return digest.hexdigest()[:16]


def _file_digest(path: str | None) -> str:
    if not path:
        return "-"
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such file")
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class FeatureCache:
    """Encoder outputs per clip under `root/<fingerprint>/`."""

    def __init__(self, root: str | os.PathLike, model, processor):
        self.model = getattr(model, "model", model)
        self.processor = processor
        self.dir = Path(root) / encoder_fingerprint(self.model, processor)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.hits = 0
        self.misses = 0

    def key(self, video, audio, faces, drop) -> str:
        parts = [_file_digest(video), _file_digest(audio), _file_digest(faces), ",".join(sorted(drop))]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]

    @torch.no_grad()
    def encode(self, media: SampleMedia) -> dict[str, torch.Tensor]:
        """Run the frozen encoders on one sample's decoded media; its clip entry."""
        tensors = self.processor.media_tensors([media])
        features = self.model.encode_media(**tensors)
        return clip_entry(features, tensors)

    def load(self, sample, drop: frozenset = frozenset()) -> SampleMedia:
        """The cached encoder features of one row (computed and stored on a miss), as the processor's `load`.

        Raises `ValueError` for bad media, as the processor's own loader does."""
        video, audio, faces = sample.video, sample.audio, sample.faces
        for source in (video, audio, faces):
            if source is not None and not isinstance(source, (str, os.PathLike)):
                raise ValueError(f"the feature cache keys clips by file; got a {type(source).__name__} source")
        path = self.dir / f"{self.key(video, audio, faces, drop)}.safetensors"
        if path.exists():
            self.hits += 1
            with safe_open(str(path), framework="pt") as f:
                meta = json.loads(f.metadata()["nanoemox"])
            tensors = load_file(path)
        else:
            self.misses += 1
            media = self.processor.load_sample(sample, drop)
            tensors = self.encode(media)
            meta = {"given": media.given, "missing": media.missing}
            tmp = path.with_suffix(".tmp")
            save_file(tensors, tmp, metadata={"nanoemox": json.dumps(meta)})
            os.replace(tmp, path)  # atomic: a killed run never leaves half an entry
        return SampleMedia(features=tensors, given=meta["given"], missing=meta["missing"])
