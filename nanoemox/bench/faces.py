"""Benchmark section `faces`: the face detectors' recall on real faces and their speed, and the face track's cost per
clip, so the processor's `face_detector` option can be chosen on measured figures.

Real faces, offline: the astronaut portrait (scikit-image), Grace Hopper's portrait (matplotlib's sample data, when
matplotlib is installed) and the 100 face crops of scikit-image's LFW subset, pasted at face sizes of 48 to 160 pixels,
at random places, brightened or darkened and mirrored, into 320 x 320 frames whose backgrounds are real photographs
(coffee, a cat, a rocket, the cameraman, the Hubble deep field). The same backgrounds without a face give the false
positives per frame. A detection is a hit when its box overlaps the pasted face by IoU >= 0.3 (detectors draw their
boxes differently around the same face).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from nanoemox.modeling import faces_nanoemox, video_nanoemox
from nanoemox.modeling.faces_nanoemox import FACE_DETECTORS, Box, box_iou

from .context import Bench

logger = logging.getLogger(__name__)

FRAME = 320
SIDES = (48, 64, 96, 128, 160)
# where the face is in the full-size photographs (x0, y0, x1, y1); LFW crops are all face
ASTRONAUT_FACE = (177, 66, 272, 161)
GRACE_HOPPER_FACE = (160, 110, 378, 345)


def _photographs():
    """(faces: [(image, face box)], lfw crops (n, 25, 25) in [0, 1], backgrounds: [image]) from installed packages."""
    from skimage import data

    faces = [(data.astronaut(), ASTRONAUT_FACE)]
    try:
        import matplotlib.cbook

        with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
            from PIL import Image

            faces.append((np.asarray(Image.open(f).convert("RGB")), GRACE_HOPPER_FACE))
    except (ImportError, OSError, ValueError):
        logger.info("faces: matplotlib's Grace Hopper portrait is not available; the set has one portrait fewer")
    camera = np.stack([data.camera()] * 3, -1)
    backgrounds = [data.coffee(), data.chelsea(), data.rocket(), camera, data.hubble_deep_field()]
    return faces, data.lfw_subset()[:100], backgrounds


def real_face_frames(seed: int = 0) -> tuple[list[np.ndarray], list[tuple[float, float, float, float] | None]]:
    """Frames (320 x 320 RGB uint8) and the box of the face each holds (None: a background without a face)."""
    from PIL import Image, ImageEnhance

    rng = np.random.default_rng(seed)
    faces, lfw, backgrounds = _photographs()
    canvases = [np.asarray(Image.fromarray(b).resize((FRAME, FRAME))) for b in backgrounds]
    frames, boxes = [], []

    def paste(image: np.ndarray, box, side: int, bright: float, flip: bool):
        x0, y0, x1, y1 = box
        if flip:
            image = np.ascontiguousarray(image[:, ::-1])
            x0, x1 = image.shape[1] - x1, image.shape[1] - x0
        scale = side / (x1 - x0)
        picture = Image.fromarray(image).resize((int(image.shape[1] * scale), int(image.shape[0] * scale)))
        picture = ImageEnhance.Brightness(picture).enhance(bright)
        canvas = Image.fromarray(canvases[rng.integers(len(canvases))])
        ox, oy = (int(v) for v in rng.integers(0, FRAME - side, 2))
        canvas.paste(picture, (int(ox - x0 * scale), int(oy - y0 * scale)))
        frames.append(np.asarray(canvas))
        boxes.append((ox, oy, ox + side, oy + (y1 - y0) * scale))

    for image, box in faces:
        for side in SIDES:
            for bright in (0.6, 1.0, 1.4):
                for flip in (False, True):
                    paste(image, box, side, bright, flip)
    for crop in lfw:
        grey = np.stack([(crop * 255).astype(np.uint8)] * 3, -1)
        paste(grey, (0, 0, 25, 25), int(rng.choice(SIDES[1:4])), 1.0, bool(rng.integers(2)))
    for canvas in canvases:  # no face at all
        frames.append(canvas)
        boxes.append(None)
    return frames, boxes


def _time_ms(fn, repeats: int = 3) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats * 1e3


def bench_faces(ctx: Bench) -> dict:
    """Recall, false positives and ms per frame of each detector on real faces; the face track per clip."""
    try:
        frames, truth = real_face_frames()
    except ImportError as err:
        return {"skipped": f"scikit-image is needed for the real-face set ({err})"}
    detectors = [d for d in FACE_DETECTORS if d != "hog" or _has_dlib()]
    result: dict[str, Any] = {
        "frames": len(frames),
        "faces": sum(t is not None for t in truth),
        "iou_for_a_hit": 0.3,
        "frame_size": FRAME,
        "detectors": {},
    }
    if "hog" not in detectors:
        result["hog"] = "skipped: dlib is not installed (pip install dlib-bin)"
    for detector in detectors:
        start = time.perf_counter()
        found = faces_nanoemox.detect_faces(np.stack(frames), detector=detector)
        ms = (time.perf_counter() - start) / len(frames) * 1e3
        hits = [
            any(box_iou(b, Box(*t)) >= 0.3 for b in boxes) if t is not None else None
            for boxes, t in zip(found, truth, strict=True)
        ]
        by_side = {}
        for side in SIDES:
            picked = [h for h, t in zip(hits, truth, strict=True) if t is not None and round(t[2] - t[0]) == side]
            if picked:
                by_side[side] = round(sum(picked) / len(picked), 3)
        empty = [len(b) for b, t in zip(found, truth, strict=True) if t is None]
        result["detectors"][detector] = {
            "recall": round(sum(h for h in hits if h is not None) / result["faces"], 3),
            "recall_by_face_side_px": by_side,
            "false_positives_per_empty_frame": round(sum(empty) / len(empty), 3),
            "ms_per_frame": round(ms, 2),
        }
        logger.info("faces: %s recall %.3f, %.1f ms/frame", detector, result["detectors"][detector]["recall"], ms)
    path, _ = ctx.clip_path()
    clip = video_nanoemox.load_video_frames(path, 8).frames
    result["face_track_ms_per_clip"] = {}
    for detector in detectors:
        for anchors in (0, 2):
            if detector == "hog" and anchors:
                continue  # HOG searches every frame (a window costs it as much as a frame)
            name = f"{detector}, {'every frame' if not anchors else f'{anchors} anchor frames + tracking'}"
            result["face_track_ms_per_clip"][name] = round(
                _time_ms(lambda d=detector, a=anchors: faces_nanoemox.track_face(clip, detector=d, anchor_frames=a)), 1
            )
    return result


def _has_dlib() -> bool:
    try:
        import dlib  # noqa: F401
    except ImportError:
        return False
    return True
