"""Faces: one face track per clip (bundled OpenCV Haar cascade, or the caller's boxes, track or crops), square face
crops, and Emotion-Qwen's facial emotion capture (FEC: the most expressive frames, masked to the face).

    crops, mask = get_face_crops(video)                  # (t, 224, 224, 3) uint8, (t,) bool
    crops, mask, boxes = get_face_crops_and_boxes(video)  # ... and the face Box (or None) per frame
    keys = capture_key_frames(video, boxes, 2)            # keys.frames (k, h, w, 3), k <= 2

Shapes: t frames, h x w pixels, k key frames, s crop side. Bad boxes or tracks raise `ValueError` saying what is wrong.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .requirements_nanoemox import require
from .video_nanoemox import VideoFrames, segment_centres

logger = logging.getLogger(__name__)
Image = require("PIL.Image")


class Box(NamedTuple):
    """A face box in pixels, (x0, y0) top-left and (x1, y1) bottom-right, with a detector score."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float = 1.0

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def area(self) -> float:
        return max(self.width, 0.0) * max(self.height, 0.0)

    @property
    def center(self) -> tuple[float, float]:
        return (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (0 when they do not overlap)."""
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / (a.area + b.area - inter)


_cascades = threading.local()  # cv2.CascadeClassifier is not thread-safe: one per thread


def haar_cascade(name: str):
    """OpenCV's bundled Haar cascade `haarcascade_<name>.xml` (e.g. "frontalface_default", "smile"), one per
    thread (a CascadeClassifier is not thread-safe); nothing is downloaded."""
    cv2 = require("cv2")
    cascade = getattr(_cascades, name, None)
    if cascade is None:
        path = os.path.join(cv2.data.haarcascades, f"haarcascade_{name}.xml")
        cascade = cv2.CascadeClassifier(path)
        if cascade.empty():
            raise ImportError(f"OpenCV's bundled Haar cascade could not be loaded from {path}")
        setattr(_cascades, name, cascade)
    return cascade


def _frame_list(frames: Any) -> list[np.ndarray]:
    if isinstance(frames, VideoFrames):
        frames = frames.frames
    if isinstance(frames, np.ndarray):
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"expected frames of shape (t, h, w, 3), got {frames.shape}")
        return list(frames)
    out = [np.asarray(f.convert("RGB")) if isinstance(f, Image.Image) else np.asarray(f) for f in frames]
    for f in out:
        if f.ndim != 3 or f.shape[-1] != 3:
            raise ValueError(f"expected (h, w, 3) frames, got {f.shape}")
    return out


# Face detectors by name. "haar": OpenCV's bundled frontal-face Haar cascade (opencv-python-headless). "hog": dlib's
# frontal-face HOG + linear SVM detector, built into the dlib binary (pip install dlib-bin). Both ship their trained
# weights inside the package: nothing is downloaded. Their recall on real faces and their speed differ (`nanoemox bench
# --section faces` measures both): HOG is several times faster but misses faces under about 80 pixels.
FACE_DETECTORS = ("haar", "hog")
HOG_MIN_FACE = 80  # pixels: the HOG detector's window; smaller faces are searched in a 2x upsampled image


def _hog_detector():
    dlib = require("dlib")
    detector = getattr(_cascades, "hog", None)
    if detector is None:
        detector = dlib.get_frontal_face_detector()
        _cascades.hog = detector
    return detector


def _detect_in(
    frame: np.ndarray,
    detector: str,
    *,
    region: tuple[int, int, int, int] | None = None,
    min_size: int = 16,
    max_size: int | None = None,
    scale_factor: float = 1.1,
    min_neighbors: int = 5,
) -> list[Box]:
    """Faces of side `min_size`..`max_size` pixels in `region` (x0, y0, x1, y1; default: the whole frame) of one
    (h, w, 3) uint8 RGB frame, as `Box`es in the frame's pixels."""
    x0, y0, x1, y1 = region or (0, 0, frame.shape[1], frame.shape[0])
    if y1 - y0 < min_size or x1 - x0 < min_size:
        return []
    if detector == "haar":
        cv2 = require("cv2")
        # equalised over the whole frame, as a full search sees it: a search near the track then finds the same box
        gray = cv2.equalizeHist(cv2.cvtColor(np.ascontiguousarray(frame, dtype=np.uint8), cv2.COLOR_RGB2GRAY))
        gray = np.ascontiguousarray(gray[y0:y1, x0:x1])
        rects, _, weights = haar_cascade("frontalface_default").detectMultiScale3(
            gray,
            scaleFactor=scale_factor,
            minNeighbors=min_neighbors,
            minSize=(min_size, min_size),
            maxSize=(max_size, max_size) if max_size else (0, 0),
            outputRejectLevels=True,
        )
        found = zip(np.asarray(rects).reshape(-1, 4).tolist(), np.asarray(weights, dtype=np.float64).reshape(-1))
        return [
            Box(float(x0 + x), float(y0 + y), float(x0 + x + w), float(y0 + y + h), float(s))
            for (x, y, w, h), s in found
        ]
    if detector == "hog":
        patch = np.ascontiguousarray(frame[y0:y1, x0:x1], dtype=np.uint8)
        upsample = 1 if min_size < HOG_MIN_FACE else 0
        rects, scores, _ = _hog_detector().run(patch, upsample, 0.0)
        boxes = [
            Box(x0 + r.left(), y0 + r.top(), x0 + r.right(), y0 + r.bottom(), float(sc))
            for r, sc in zip(rects, scores)
        ]
        return [b for b in boxes if max_size is None or b.width <= max_size * 1.25]
    raise ValueError(f"unknown face detector {detector!r}; expected one of {FACE_DETECTORS}")


def detect_faces(
    frames: Any,
    *,
    detector: str = "haar",
    max_side: int = 480,
    min_face: float = 0.08,
    scale_factor: float = 1.1,
    min_neighbors: int = 5,
) -> list[list[Box]]:
    """Detect frontal faces in every frame (nothing downloaded).

    frames: (t, h, w, 3) uint8 RGB, a list of PIL images / arrays, or `VideoFrames`.
    detector: a name in `FACE_DETECTORS`.
    max_side: frames are shrunk so their longer side is at most this before detection (boxes are
        returned in the original pixels).
    min_face: smallest face side searched, as a fraction of the frame's shorter side (the HOG detector searches
        faces of `HOG_MIN_FACE` pixels and more).
    scale_factor, min_neighbors: the Haar cascade's settings.

    Returns, per frame, a list of `Box` with the detector's score (possibly empty).
    """
    if detector not in FACE_DETECTORS:
        raise ValueError(f"unknown face detector {detector!r}; expected one of {FACE_DETECTORS}")
    require("dlib" if detector == "hog" else "cv2")
    detections = []
    for frame in _frame_list(frames):
        small, scale = _shrunk(frame, max_side)
        smallest = max(16, int(min(small.shape[:2]) * min_face))
        if detector == "hog":
            smallest = max(smallest, HOG_MIN_FACE)  # whole frames at 1x: an upsampled frame costs 4x
        boxes = _detect_in(small, detector, min_size=smallest, scale_factor=scale_factor, min_neighbors=min_neighbors)
        detections.append([_scaled(b, 1 / scale) for b in boxes])
    return detections


def _shrunk(frame: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    h, w = frame.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale == 1.0:
        return frame, 1.0
    cv2 = require("cv2")
    small = cv2.resize(np.ascontiguousarray(frame), (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    return small, scale


def _scaled(box: Box, factor: float) -> Box:
    return Box(box.x0 * factor, box.y0 * factor, box.x1 * factor, box.y1 * factor, box.score)


def track_face(
    frames: Any,
    *,
    detector: str = "haar",
    anchor_frames: int = 2,
    max_side: int = 480,
    min_face: float = 0.08,
) -> list[Box | None]:
    """One face track over a clip's sampled frames, detecting on a few of them and tracking between.

    The detector runs on `anchor_frames` evenly spaced frames (first and last included; 0, or at least the number
    of frames: every frame; the HOG detector, which searches a frame as fast as a Haar window, runs on every frame),
    and the track is chosen over them (`select_face_track`). On every other frame the face
    is searched only near where the track is (its box interpolated between the neighbouring anchors, grown by 75 % on
    each side) at 0.6-1.6 times its size, which costs a fraction of a full search. When the anchors find no face the
    detector runs on every frame, so a clip with a hard-to-find face is searched as thoroughly as before.

    Returns, per frame, the track's box or None where there is no face.
    """
    images = _frame_list(frames)
    t = len(images)
    if not t:
        return []
    size = images[0].shape[:2]
    if 0 < anchor_frames < t and detector != "hog":  # HOG searches a whole frame in about the time of a window
        anchors = sorted({int(round(i)) for i in np.linspace(0, t - 1, anchor_frames)})
    else:
        anchors = list(range(t))
    found = detect_faces([images[i] for i in anchors], detector=detector, max_side=max_side, min_face=min_face)
    if not any(found) and len(anchors) < t:
        anchors = list(range(t))
        found = detect_faces(images, detector=detector, max_side=max_side, min_face=min_face)
    detections: list[list[Box]] = [[] for _ in range(t)]
    for i, boxes in zip(anchors, found):
        detections[i] = boxes
    track = select_face_track(detections, size)
    known = [i for i in anchors if track[i] is not None]
    for i in range(t):
        if i in anchors or not known:
            continue
        before = max((k for k in known if k < i), default=None)
        after = min((k for k in known if k > i), default=None)
        guess = _interpolate(track, before, after, i)
        track[i] = _search_near(images[i], guess, detector, size)
    return track


def _interpolate(track: list[Box | None], before: int | None, after: int | None, i: int) -> Box:
    if before is None or after is None:
        return track[before if after is None else after]
    a, b = track[before], track[after]
    w = (i - before) / (after - before)
    return Box(*(pa + w * (pb - pa) for pa, pb in zip(a[:4], b[:4])))


def _search_near(frame: np.ndarray, guess: Box, detector: str, size: tuple[int, int]) -> Box | None:
    """The detection nearest to `guess` in a window around it, or None."""
    h, w = size
    side = max(guess.width, guess.height)
    region = (
        max(int(guess.x0 - 0.75 * side), 0),
        max(int(guess.y0 - 0.75 * side), 0),
        min(int(guess.x1 + 0.75 * side) + 1, w),
        min(int(guess.y1 + 0.75 * side) + 1, h),
    )
    boxes = _detect_in(
        frame,
        detector,
        region=region,
        min_size=max(16, int(0.6 * side)),
        max_size=int(1.6 * side) + 1,
        scale_factor=1.05,
    )
    if not boxes:
        return None
    best = max(boxes, key=lambda b: box_iou(b, guess))
    return best if box_iou(best, guess) > 0.1 else None


def _prominence(box: Box, frame_size: tuple[int, int]) -> float:
    """How likely `box` is the speaker: sqrt(relative area) x (1 - half the normalised distance to the centre)."""
    h, w = frame_size
    cx, cy = box.center
    distance = math.hypot(cx - w / 2, cy - h / 2) / math.hypot(w / 2, h / 2)
    return math.sqrt(box.area / (w * h)) * (1.0 - 0.5 * min(distance, 1.0))


def select_face_track(
    detections: Sequence[Sequence[Box]], frame_size: tuple[int, int], *, iou_threshold: float = 0.3
) -> list[Box | None]:
    """Choose one face track across frames.

    detections: per frame, candidate boxes (as from `detect_faces`).
    frame_size: (height, width) of the frames.

    Every detection seeds a track that is extended frame by frame, forwards and backwards, with the
    detection overlapping the track's latest box by at least `iou_threshold` IoU (the latest box is
    kept across frames without a match, so a track survives a missed detection). A detection scores
    sqrt(area / frame area) x (1 - 0.5 x distance of its centre from the frame centre / half the
    diagonal); the track with the largest total score wins: the big, central face seen most often.

    Returns, per frame, the chosen track's box or None where the track has no detection.
    """
    t = len(detections)
    boxes = [[Box(*b) if not isinstance(b, Box) else b for b in frame] for frame in detections]
    scores = [[_prominence(b, frame_size) for b in frame] for frame in boxes]
    seeds = sorted(((s, i, j) for i, frame in enumerate(scores) for j, s in enumerate(frame)), reverse=True)
    best: list[Box | None] = [None] * t
    best_score, used = 0.0, set()
    for _, i, j in seeds:
        if (i, j) in used:
            continue
        track: list[Box | None] = [None] * t
        track[i], members, total = boxes[i][j], [(i, j)], scores[i][j]
        for order in (range(i + 1, t), range(i - 1, -1, -1)):
            ref = boxes[i][j]
            for k in order:
                overlaps = [box_iou(ref, b) for b in boxes[k]]
                if overlaps and max(overlaps) >= iou_threshold:
                    m = int(np.argmax(overlaps))
                    track[k] = ref = boxes[k][m]
                    members.append((k, m))
                    total += scores[k][m]
        used.update(members)
        if total > best_score:
            best, best_score = track, total
    return best


def _as_box(box: Any, where: str) -> Box | None:
    if box is None:
        return None
    if isinstance(box, Box):
        return box
    values = np.asarray(box, dtype=np.float64).reshape(-1)
    if values.size not in (4, 5) or not np.isfinite(values).all():
        raise ValueError(f"{where}: a box must be [x0, y0, x1, y1] in pixels, got {box!r}")
    result = Box(*values.tolist())
    if result.x1 <= result.x0 or result.y1 <= result.y0:
        raise ValueError(f"{where}: a box needs x1 > x0 and y1 > y0, got {box!r}")
    return result


def crop_faces(
    frames: Any, boxes: Sequence[Any], *, margin: float = 0.25, size: int = 224
) -> tuple[np.ndarray, np.ndarray]:
    """Square face crops around per-frame boxes.

    frames: (t, h, w, 3) uint8, a list of frames, or `VideoFrames`.
    boxes: per frame a `Box`, an [x0, y0, x1, y1] in pixels, or None.

    The crop is the square of side max(box w, box h) x (1 + 2 margin) centred on the box, shrunk to
    the frame's shorter side if larger and shifted to lie inside the frame, resized to size x size.
    Frames without a box give a zero crop and mask False.

    Returns crops (t, size, size, 3) uint8 and mask (t,) bool.
    """
    images = _frame_list(frames)
    if len(boxes) != len(images):
        raise ValueError(f"got {len(boxes)} boxes for {len(images)} frames")
    crops = np.zeros((len(images), size, size, 3), dtype=np.uint8)
    mask = np.zeros(len(images), dtype=bool)
    for i, (image, raw) in enumerate(zip(images, boxes, strict=True)):
        box = _as_box(raw, f"box of frame {i}")
        if box is None:
            continue
        h, w = image.shape[:2]
        if box.x1 <= 0 or box.y1 <= 0 or box.x0 >= w or box.y0 >= h:
            raise ValueError(f"box of frame {i} {tuple(raw)!r} lies outside the {w} x {h} frame (boxes are in pixels)")
        side = min(max(box.width, box.height) * (1 + 2 * margin), w, h)
        cx, cy = box.center
        x0 = min(max(cx - side / 2, 0.0), w - side)
        y0 = min(max(cy - side / 2, 0.0), h - side)
        crop = Image.fromarray(np.ascontiguousarray(image)).resize(
            (size, size), Image.BILINEAR, box=(x0, y0, x0 + side, y0 + side)
        )
        crops[i] = np.asarray(crop)
        mask[i] = True
    return crops, mask


def boxes_from_track(track: Any, timestamps: Sequence[float], *, max_gap: float = 0.5) -> list[Box | None]:
    """Match a face track to sampled frames by nearest time.

    track: `[{"time": seconds, "box": [x0, y0, x1, y1]}, ...]` (an optional "score"; "box": null for a
        time with no face), as a list, a JSON string, or the path of a JSON file.
    timestamps: (t,) seconds of the sampled frames (`VideoFrames.timestamps`).
    max_gap: a frame whose nearest track entry is more than this many seconds away gets None.

    Returns, per timestamp, a `Box` or None.
    """
    if isinstance(track, (str, os.PathLike)):
        text = str(track)
        if not text.lstrip().startswith("["):
            try:
                text = Path(track).read_text()
            except OSError as exc:
                raise ValueError(f"{track}: cannot read the face track: {exc}") from exc
        try:
            track = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"the face track is not valid JSON: {exc}") from exc
    if not isinstance(track, list):
        raise ValueError(f"a face track must be a list of {{'time', 'box'}} entries, got {type(track).__name__}")
    times, entries = [], []
    for n, entry in enumerate(track):
        if not isinstance(entry, dict) or "time" not in entry or "box" not in entry:
            raise ValueError(f"face track entry {n} must have 'time' and 'box', got {entry!r}")
        box = _as_box(entry["box"], f"face track entry {n}")
        if box is not None and "score" in entry:
            box = box._replace(score=float(entry["score"]))
        times.append(float(entry["time"]))
        entries.append(box)
    if not entries:
        return [None] * len(timestamps)
    order = np.argsort(times, kind="stable")
    times_sorted = np.asarray(times)[order]
    out = []
    for t in np.asarray(timestamps, dtype=np.float64):
        k = int(np.searchsorted(times_sorted, t))
        candidates = [c for c in (k - 1, k) if 0 <= c < len(times_sorted)]
        c = min(candidates, key=lambda c: abs(times_sorted[c] - t))
        out.append(entries[order[c]] if abs(times_sorted[c] - t) <= max_gap else None)
    return out


def prepare_face_crops(crops: Any, *, num_frames: int | None = None, size: int = 224) -> tuple[np.ndarray, np.ndarray]:
    """Use face crops the caller made: resize each to size x size (no aspect correction).

    crops: a (k, h, w, 3) uint8 array or a list of PIL images / (h, w, 3) arrays / None (no face).
    num_frames: when given and different from k, crops are picked by the same segment-centre rule as
        frames, floor((i + 0.5) * k / num_frames).

    Returns crops (num_frames or k, size, size, 3) uint8 and mask (same length,) bool.
    """
    items = list(crops)
    if not items:
        raise ValueError("the list of face crops is empty")
    if num_frames is not None and num_frames != len(items):
        items = [items[i] for i in segment_centres(len(items), num_frames)]
    out = np.zeros((len(items), size, size, 3), dtype=np.uint8)
    mask = np.zeros(len(items), dtype=bool)
    for i, item in enumerate(items):
        if item is None:
            continue
        if isinstance(item, np.ndarray):
            if item.ndim != 3 or item.shape[-1] != 3 or item.dtype != np.uint8:
                raise ValueError(f"face crop {i}: expected (h, w, 3) uint8, got {item.shape} {item.dtype}")
            item = Image.fromarray(item)
        elif not isinstance(item, Image.Image):
            raise ValueError(f"face crop {i}: expected a PIL image, an array or None, got {type(item).__name__}")
        out[i] = np.asarray(item.convert("RGB").resize((size, size), Image.BILINEAR))
        mask[i] = True
    return out, mask


def _looks_like_crops(faces: Any) -> bool:
    if isinstance(faces, np.ndarray):
        return faces.ndim == 4
    items = [f for f in faces if f is not None]
    return bool(items) and all(
        isinstance(f, Image.Image) or (isinstance(f, np.ndarray) and f.ndim == 3) for f in items
    )


def get_face_crops(
    video: VideoFrames, faces: Any = None, *, margin: float = 0.25, size: int = 224, max_gap: float = 0.5, **track
) -> tuple[np.ndarray, np.ndarray]:
    """Face crops for sampled frames, from whatever the caller has.

    faces:
    - None: detect and track one face (`track_face`: the Haar cascade, or `detector="hog"`);
    - a face track (list of {"time", "box"} dicts, a JSON string or a .json path): `boxes_from_track`;
    - per-frame boxes (list of [x0, y0, x1, y1] / `Box` / None, one per frame);
    - ready crops (a (k, h, w, 3) array or a list of PIL images / arrays / None): `prepare_face_crops`.

    Returns crops (t, size, size, 3) uint8 and mask (t,) bool (False: no face in that frame).
    """
    crops, mask, _ = get_face_crops_and_boxes(video, faces, margin=margin, size=size, max_gap=max_gap, **track)
    return crops, mask


def get_face_crops_and_boxes(
    video: VideoFrames,
    faces: Any = None,
    *,
    margin: float = 0.25,
    size: int = 224,
    max_gap: float = 0.5,
    detector: str = "haar",
    anchor_frames: int = 2,
) -> tuple[np.ndarray, np.ndarray, list[Box | None] | None]:
    """`get_face_crops` plus the per-frame face boxes it cropped: a list of t `Box` / None, or None when
    `faces` were ready crops (which carry no position in the frame). Without `faces`, the face track comes from
    `track_face(..., detector=detector, anchor_frames=anchor_frames)`."""
    t = len(video.frames)
    if faces is None:
        boxes = track_face(video.frames, detector=detector, anchor_frames=anchor_frames)
    elif isinstance(faces, (str, os.PathLike)) or (
        isinstance(faces, list) and any(isinstance(f, dict) for f in faces)
    ):
        boxes = boxes_from_track(faces, video.timestamps, max_gap=max_gap)
    elif _looks_like_crops(faces):
        return (*prepare_face_crops(faces, num_frames=t, size=size), None)
    else:
        boxes = list(faces)
    crops, mask = crop_faces(video.frames, boxes, margin=margin, size=size)
    if not mask.any():
        logger.info("%s: no face found in %d frames", video.source, t)
    boxes = [_as_box(b, f"box of frame {i}") for i, b in enumerate(boxes)]
    return crops, mask, boxes


@dataclass
class KeyFrames:
    """Key frames chosen by facial emotion capture (`capture_key_frames`); k <= the number asked for.

    frames:  (k, h, w, 3) uint8 RGB, the chosen sampled frames with everything outside the face region set to
             the fill colour.
    indices: (k,) int64 positions of the chosen frames among the sampled frames, increasing (temporal order).
    regions: per key frame the face region kept, (x0, y0, x1, y1) integer pixels, x1 / y1 exclusive.
    scores:  (t,) float64 expressiveness of every sampled frame; -inf where the frame has no face.
    """

    frames: np.ndarray
    indices: np.ndarray
    regions: list[tuple[int, int, int, int]]
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.frames)


def _face_gray(frame: np.ndarray, box: Box, width: int) -> np.ndarray:
    """The box's pixels as a grey image `width` pixels wide (aspect kept), histogram-equalised."""
    cv2 = require("cv2")
    h, w = frame.shape[:2]
    x0, y0 = max(int(math.floor(box.x0)), 0), max(int(math.floor(box.y0)), 0)
    x1, y1 = min(int(math.ceil(box.x1)), w), min(int(math.ceil(box.y1)), h)
    gray = cv2.cvtColor(np.ascontiguousarray(frame[y0:y1, x0:x1], dtype=np.uint8), cv2.COLOR_RGB2GRAY)
    height = max(1, round(width * gray.shape[0] / max(gray.shape[1], 1)))
    return cv2.equalizeHist(cv2.resize(gray, (width, height), interpolation=cv2.INTER_AREA))


def score_haar_smile(frames: np.ndarray, boxes: Sequence[Box | None]) -> np.ndarray:
    """Expressiveness from OpenCV's bundled smile cascade: in the lower half of each face box (scaled to 128 px
    wide), the largest level weight of the smile detections (at least 3 overlapping hits), 0 when none.

    A detector proxy for a facial-expression classifier's confidence: it responds to smiles, open and stretched
    mouths, i.e. to mouth-driven expressions only. Returns (t,) float64, -inf for frames without a box.
    """
    cascade = haar_cascade("smile")
    scores = np.full(len(boxes), -np.inf)
    for i, (frame, box) in enumerate(zip(frames, boxes, strict=True)):
        if box is None:
            continue
        face = _face_gray(frame, box, 128)
        mouth = face[face.shape[0] // 2 :]
        _, _, weights = cascade.detectMultiScale3(
            mouth, scaleFactor=1.05, minNeighbors=3, minSize=(32, 12), outputRejectLevels=True
        )
        weights = np.asarray(weights, dtype=np.float64).reshape(-1)
        scores[i] = float(weights.max()) if weights.size else 0.0
    return scores


def score_expression_energy(frames: np.ndarray, boxes: Sequence[Box | None]) -> np.ndarray:
    """Expressiveness as departure from the clip's average face: each face box (48 x 48 grey, standardised to
    zero mean and unit variance, so lighting does not count) against the mean of the clip's faces; the score is
    the mean absolute difference. The frames most unlike the speaker's average face are the expression peaks.

    Returns (t,) float64, -inf for frames without a box (0 everywhere when only one frame has a face).
    """
    cv2 = require("cv2")
    scores = np.full(len(boxes), -np.inf)
    faces = {}
    for i, (frame, box) in enumerate(zip(frames, boxes, strict=True)):
        if box is None:
            continue
        face = cv2.resize(_face_gray(frame, box, 48), (48, 48), interpolation=cv2.INTER_AREA).astype(np.float64)
        faces[i] = (face - face.mean()) / max(face.std(), 1e-6)
    if faces:
        mean_face = np.mean(list(faces.values()), axis=0)
        for i, face in faces.items():
            scores[i] = float(np.abs(face - mean_face).mean())
    return scores


# Scorers by name, (frames (t, h, w, 3) uint8, boxes [Box | None] * t) -> (t,) float64 with -inf where there is
# no face. configuration_nanoemox.FEC_SCORERS lists the same names (a test checks both agree). A scorer from a
# trained facial-expression head (the face branch's classifier) would be added here; it is not done.
FEC_SCORERS: dict[str, Callable[[np.ndarray, Sequence[Box | None]], np.ndarray]] = {
    "haar_smile": score_haar_smile,
    "expression_energy": score_expression_energy,
}


def select_key_frames(scores: np.ndarray, num_key_frames: int) -> np.ndarray:
    """Indices of the `num_key_frames` highest finite scores (ties: the earlier frame), in increasing order."""
    scores = np.asarray(scores, dtype=np.float64)
    eligible = [int(i) for i in np.flatnonzero(np.isfinite(scores))]
    chosen = sorted(eligible, key=lambda i: (-scores[i], i))[:num_key_frames]
    return np.asarray(sorted(chosen), dtype=np.int64)


def face_region(box: Box, frame_size: tuple[int, int], *, margin: float = 0.25) -> tuple[int, int, int, int]:
    """The box grown by `margin` of its width / height on every side, in whole pixels (outwards), clipped to the
    (height, width) frame: (x0, y0, x1, y1) with x1 / y1 exclusive."""
    h, w = frame_size
    dx, dy = margin * box.width, margin * box.height
    x0, y0 = max(int(math.floor(box.x0 - dx)), 0), max(int(math.floor(box.y0 - dy)), 0)
    x1, y1 = min(int(math.ceil(box.x1 + dx)), w), min(int(math.ceil(box.y1 + dy)), h)
    return x0, y0, x1, y1


def mask_outside(frame: np.ndarray, region: tuple[int, int, int, int], fill: Sequence[int] = (0, 0, 0)) -> np.ndarray:
    """A copy of the (h, w, 3) uint8 frame with every pixel outside `region` (x0, y0, x1, y1) set to `fill`."""
    x0, y0, x1, y1 = region
    out = np.empty_like(frame)
    out[...] = np.asarray(fill, dtype=np.uint8)
    out[y0:y1, x0:x1] = frame[y0:y1, x0:x1]
    return out


def capture_key_frames(
    video: VideoFrames | np.ndarray,
    boxes: Sequence[Any],
    num_key_frames: int,
    *,
    scorer: str | Callable = "haar_smile",
    margin: float = 0.25,
    fill: Sequence[int] = (0, 0, 0),
) -> KeyFrames:
    """Emotion-Qwen's facial emotion capture: score every sampled frame's face by expressiveness, keep the
    `num_key_frames` best (ties: the earlier frame), mask everything but the face region (`face_region`) with
    `fill`, and return them in temporal order.

    video: the sampled frames (`VideoFrames` or a (t, h, w, 3) uint8 array).
    boxes: per frame the face `Box` (or [x0, y0, x1, y1]) or None, e.g. from `get_face_crops_and_boxes`.
    scorer: a name in `FEC_SCORERS` or a function (frames, boxes) -> (t,) scores, -inf where there is no face.

    Frames without a face are never chosen: a clip with no face gives no key frames (k = 0), and one with fewer
    faces than `num_key_frames` gives fewer.
    """
    frames = video.frames if isinstance(video, VideoFrames) else np.asarray(video)
    if isinstance(num_key_frames, bool) or not isinstance(num_key_frames, int) or num_key_frames < 0:
        raise ValueError(f"num_key_frames must be a non-negative int, got {num_key_frames!r}")
    if len(boxes) != len(frames):
        raise ValueError(f"got {len(boxes)} boxes for {len(frames)} frames")
    if isinstance(scorer, str):
        if scorer not in FEC_SCORERS:
            raise ValueError(f"unknown key-frame scorer {scorer!r}; expected one of {sorted(FEC_SCORERS)}")
        scorer = FEC_SCORERS[scorer]
    boxes = [_as_box(b, f"box of frame {i}") for i, b in enumerate(boxes)]
    scores = np.asarray(scorer(frames, boxes), dtype=np.float64)
    if scores.shape != (len(frames),):
        raise ValueError(f"the scorer returned shape {scores.shape} for {len(frames)} frames")
    scores[[b is None for b in boxes]] = -np.inf
    indices = select_key_frames(scores, num_key_frames)
    regions = [face_region(boxes[i], frames.shape[1:3], margin=margin) for i in indices]
    masked = [mask_outside(frames[i], r, fill) for i, r in zip(indices, regions, strict=True)]
    out = np.stack(masked) if masked else np.zeros((0, *frames.shape[1:]), dtype=np.uint8)
    return KeyFrames(frames=out, indices=indices, regions=regions, scores=scores)


__all__ = [
    "FACE_DETECTORS",
    "FEC_SCORERS",
    "Box",
    "KeyFrames",
    "box_iou",
    "boxes_from_track",
    "capture_key_frames",
    "crop_faces",
    "detect_faces",
    "face_region",
    "get_face_crops",
    "get_face_crops_and_boxes",
    "haar_cascade",
    "mask_outside",
    "prepare_face_crops",
    "score_expression_energy",
    "score_haar_smile",
    "select_face_track",
    "select_key_frames",
    "track_face",
]
