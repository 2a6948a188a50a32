"""The demo corpus: schema, real media, determinism, and proof that it is learnable only by fusion.

The fusion proof uses oracles that each read ONE modality from the written files (decoded frames
inside the face box, decoded audio, the subtitle string, the scene pixels beside the speaker). Each
single-modality oracle reaches about its ceiling (right where its modality is decisive, a fixed guess
elsewhere), the fused oracle reaches ~100 %, and dropping any one modality from the fused oracle loses
exactly the clips that modality decides.
"""

from __future__ import annotations

import colorsys
import hashlib
import json
import math
from pathlib import Path

import av
import numpy as np
import pytest
from datasets import load_from_disk
from PIL import Image

from nanoemox.processing.demo_corpus import (
    DEFAULT_INTENT,
    EMOTION_MODALITIES,
    EMOTIONS,
    INTENT_OBJECTS,
    INTENTS,
    LEXICON,
    TASK_ORDER,
    generate_demo_corpus,
    main,
    voice_cue_for,
)
from nanoemox.processing.demo_media import OBJECT_BAND, SCENE_OBJECTS, synthesize_voice
from nanoemox.processing.schema import FEATURES, resolve_media

NUM_CLIPS = 60
SEED = 3
DURATION, FPS, SIZE, SR = 3.0, 8, (160, 128), 16000


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    dataset = generate_demo_corpus(root, num_clips=NUM_CLIPS, seed=SEED, progress=False)
    return root, dataset


def _clips(dataset) -> list[dict]:
    """One record per clip: its media paths, subtitle and the generator's metadata (from the mer rows)."""
    out = []
    for split in dataset.values():
        for row in split:
            if row["task"] == "mer":
                out.append(
                    {"video": row["video"], "face_track": row["face_track"], "subtitle": row["subtitle"]}
                    | json.loads(row["meta"])
                )
    return sorted(out, key=lambda c: c["clip"])


# ----------------------------------------------------------------------------- single-modality oracles


def _decode_frames(path: str) -> list[np.ndarray]:
    with av.open(path) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def _decode_audio(path: str) -> tuple[np.ndarray, int]:
    with av.open(path) as container:
        stream = container.streams.audio[0]
        chunks = [frame.to_ndarray().reshape(-1) for frame in container.decode(stream)]
        return np.concatenate(chunks).astype(np.float64), stream.rate


def face_measures(frame: np.ndarray, box: list[int]) -> dict[str, float]:
    """Mouth curvature, mouth aspect (height / width) and brow tilt, measured on dark pixels inside the box
    (in pixels of a 76 px tall head)."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    scale = h / 76.0
    lum = frame[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    dark = lum < 80

    def region(fx0, fx1, fy0, fy1):
        xa, xb, ya, yb = (round(x0 + fx0 * w), round(x0 + fx1 * w), round(y0 + fy0 * h), round(y0 + fy1 * h))
        return dark[ya:yb, xa:xb], xa, ya

    mouth, mx, my = region(0.2, 0.8, 0.58, 0.95)
    cols = np.flatnonzero(mouth.any(axis=0))
    if len(cols) < 3:
        return {"curvature": 0.0, "aspect": 0.0, "tilt": 0.0}
    tops = np.array([np.flatnonzero(mouth[:, c])[0] for c in cols], dtype=float)
    bottoms = np.array([np.flatnonzero(mouth[:, c])[-1] for c in cols], dtype=float)
    centre = (cols[0] + cols[-1]) / 2
    middle = np.abs(cols - centre) <= 1.5
    ends = np.r_[np.arange(2), np.arange(len(cols) - 2, len(cols))]
    curvature = (tops[middle].mean() - tops[ends].mean()) / scale  # corners above the centre: > 0
    height = (bottoms[middle] - tops[middle]).max() + 1
    aspect = height / (cols[-1] - cols[0] + 1)
    tilts = []
    for fx0, fx1, inner_right in ((0.16, 0.46, True), (0.54, 0.84, False)):
        brow, _, _ = region(fx0, fx1, 0.14, 0.39)
        bcols = np.flatnonzero(brow.any(axis=0))
        if len(bcols) < 3:
            continue
        ys = np.array([np.flatnonzero(brow[:, c]).mean() for c in bcols])
        slope = np.polyfit(bcols, ys, 1)[0]
        tilts.append((slope if inner_right else -slope) * (bcols[-1] - bcols[0]) / scale)
    tilt = float(np.mean(tilts)) if tilts else 0.0
    return {"curvature": float(curvature), "aspect": float(aspect), "tilt": tilt}


def face_oracle(frame: np.ndarray, box: list[int]) -> str:
    """Emotion from the drawn face alone: open round mouth, smile, frown "V", downturned mouth, else neutral."""
    m = face_measures(frame, box)
    if m["aspect"] > 0.33:
        return "surprise"
    if m["curvature"] > 1.8:
        return "happy"
    if m["tilt"] > 1.4:
        return "angry"
    if m["curvature"] < -1.8:
        return "sad"
    return "neutral"


def voice_features(audio: np.ndarray, sr: int) -> np.ndarray:
    """(log2 median pitch, log2 loudness, log2 syllable rate) of a mono signal."""
    win, hop = int(0.04 * sr), int(0.01 * sr)
    n = 1 + (len(audio) - win) // hop
    frames = np.stack([audio[i * hop : i * hop + win] for i in range(n)])
    rms = np.sqrt((frames**2).mean(axis=1))
    peak = np.percentile(rms, 95)
    voiced = rms > 0.25 * peak
    # syllable onsets: upward crossings of the voicing threshold
    onsets = np.flatnonzero(voiced[1:] & ~voiced[:-1]) + 1
    rate = (len(onsets) - 1) / max((onsets[-1] - onsets[0]) * hop / sr, 1e-3) if len(onsets) > 2 else 1.0
    # pitch: autocorrelation of loud frames, the first lag within 85 % of the best in 70-400 Hz
    loud = frames[rms > 0.5 * peak]
    loud = loud - loud.mean(axis=1, keepdims=True)
    spec = np.fft.rfft(loud, 2 * win, axis=1)
    acf = np.fft.irfft(np.abs(spec) ** 2, axis=1)[:, :win]
    lo, hi = sr // 400, sr // 70
    f0s = []
    for row in acf:
        seg = row[lo:hi]
        lag = lo + int(np.flatnonzero(seg >= 0.85 * seg.max())[0])
        f0s.append(sr / lag)
    return np.array([math.log2(np.median(f0s)), math.log2(peak), math.log2(max(rate, 0.1))])


_SCALE = np.array([0.05, 0.1, 0.05])  # the generator's speaker jitter per feature (log2 units)


def voice_prototypes(sr: int = SR) -> list[tuple[str, np.ndarray]]:
    """Features of clean synthesized voices along each emotion's intensity line (the oracle's 'training')."""
    out = []
    for emotion in EMOTIONS:
        for s in [0.0] if emotion == "neutral" else np.linspace(0.5, 1.0, 6):
            audio = synthesize_voice(voice_cue_for(emotion, float(s)), duration=DURATION, sample_rate=sr, seed=1)
            out.append((emotion, voice_features(audio, sr)))
    return out


def voice_oracle(audio: np.ndarray, sr: int, prototypes) -> str:
    feats = voice_features(audio, sr)
    best = min(prototypes, key=lambda p: float(np.sum(((feats - p[1]) / _SCALE) ** 2)))
    return best[0]


_EMOTION_WORDS = {word: emotion for emotion, words in LEXICON.items() for word in words}
_INTENT_KEYWORDS = {
    "Inform": ("just so you know", "for your information", "heads up"),
    "Complain": ("unacceptable", "complain", "getting worse"),
    "Thank": ("thank",),
    "Ask": ("?",),
    "Apologise": ("sorry", "apologise"),
    "Praise": ("excellent", "brilliant", "great work"),
}


def text_emotion_oracle(subtitle: str) -> str:
    words = [w.strip(".,?!").lower() for w in subtitle.split()]
    return next((_EMOTION_WORDS[w] for w in words if w in _EMOTION_WORDS), "neutral")


def text_intent_oracle(subtitle: str) -> str | None:
    lowered = subtitle.lower()
    return next((i for i, keys in _INTENT_KEYWORDS.items() if any(k in lowered for k in keys)), None)


def scene_oracle(frame: np.ndarray) -> str | None:
    """Intent from the scene object beside the speaker: the dominant hue of saturated pixels, or None."""
    height, width = frame.shape[:2]
    band = frame[int(0.25 * height) : int(0.78 * height)]
    side = np.concatenate([band[:, : int(OBJECT_BAND[0] * width)], band[:, int(OBJECT_BAND[1] * width) :]], axis=1)
    hsv = np.asarray(Image.fromarray(np.ascontiguousarray(side)).convert("HSV"), dtype=np.float64).reshape(-1, 3) / 255
    saturated = hsv[(hsv[:, 1] > 0.45) & (hsv[:, 2] > 0.3)]
    if len(saturated) < 40:
        return None
    hist, edges = np.histogram(saturated[:, 0] * 360, bins=36, range=(0, 360))
    hue = edges[int(np.argmax(hist))] + 5
    object_hues = {
        intent: 360 * colorsys.rgb_to_hsv(*(c / 255 for c in SCENE_OBJECTS[name][0]))[0]
        for intent, name in INTENT_OBJECTS.items()
    }
    return min(object_hues, key=lambda i: min(abs(hue - object_hues[i]), 360 - abs(hue - object_hues[i])))


def read_clips(root: Path, dataset) -> list[dict]:
    """Every oracle's reading of every clip, from the files on disk."""
    prototypes = voice_prototypes()
    out = []
    for clip in _clips(dataset):
        video = resolve_media(clip["video"], root)
        frames = _decode_frames(video)
        with open(resolve_media(clip["face_track"], root), encoding="utf-8") as f:
            track = json.load(f)
        middle = len(frames) // 2
        audio, sr = _decode_audio(video)
        out.append(
            clip
            | {
                "face": face_oracle(frames[middle], track[middle]["box"]),
                "voice": voice_oracle(audio, sr, prototypes),
                "text": text_emotion_oracle(clip["subtitle"]),
                "text_intent": text_intent_oracle(clip["subtitle"]),
                "scene": scene_oracle(frames[0]),
            }
        )
    return out


@pytest.fixture(scope="module")
def readings(corpus):
    return read_clips(*corpus)


# ----------------------------------------------------------------------------- schema, media, determinism


def test_loads_back_with_exact_features_and_clip_level_splits(corpus):
    root, _ = corpus
    dataset = load_from_disk(str(root))
    assert set(dataset) == {"train", "validation", "test"}
    clips_per_split = {}
    for name, split in dataset.items():
        assert split.features == FEATURES
        assert set(split["task"]) == set(TASK_ORDER), name
        assert set(split["source"]) == {"demo"}
        clips_per_split[name] = {json.loads(m)["clip"] for m in split["meta"]}
    assert sum(len(c) for c in clips_per_split.values()) == NUM_CLIPS  # all rows of a clip share a split
    assert [len(clips_per_split[k]) for k in ("train", "validation", "test")] == [42, 9, 9]
    for split in dataset.values():
        for row in split.select(range(6)):
            assert not Path(row["video"]).is_absolute() and row["video"].startswith("media/")
            assert Path(resolve_media(row["video"], root)).is_file()
            assert Path(resolve_media(row["face_track"], root)).is_file()
            assert row["audio"] is None  # the audio is the video's own track


def test_every_clip_is_an_mp4_with_h264_video_and_aac_audio_of_the_expected_length(corpus):
    root, dataset = corpus
    for clip in _clips(dataset):
        path = resolve_media(clip["video"], root)
        with av.open(path) as container:
            video, audio = container.streams.video[0], container.streams.audio[0]
            assert video.codec_context.name == "h264" and audio.codec_context.name == "aac"
            assert (video.codec_context.width, video.codec_context.height) == SIZE
            assert audio.rate == SR and audio.channels == 1
            num_frames = sum(1 for _ in container.decode(video=0))
        assert num_frames == round(DURATION * FPS)
        samples, _ = _decode_audio(path)
        assert DURATION <= len(samples) / SR <= DURATION + 0.15  # AAC pads to whole 1024-sample frames


def test_face_tracks_cover_every_frame_and_stay_inside_it(corpus):
    root, dataset = corpus
    for clip in _clips(dataset):
        with open(resolve_media(clip["face_track"], root), encoding="utf-8") as f:
            track = json.load(f)
        assert len(track) == round(DURATION * FPS)
        times = [entry["time"] for entry in track]
        assert times == sorted(times) and times[0] == 0.0
        for entry in track:
            x0, y0, x1, y1 = entry["box"]
            assert 0 <= x0 < x1 <= SIZE[0] and 0 <= y0 < y1 <= SIZE[1]


def test_labels_answers_and_meta_are_consistent(corpus):
    _, dataset = corpus
    for row in dataset["train"]:
        meta, labels = json.loads(row["meta"]), row["labels"]
        answer = row["messages"][-1]["content"][0]["text"]
        assert meta["decisive_modality"] == (
            meta["intent_modality"] if row["task"] == "mir" else meta["emotion_modality"]
        )
        if row["task"] == "msa":
            assert -3 <= labels["sentiment"] <= 3
            assert np.sign(labels["sentiment"]) == np.sign(meta["valence"])
        elif row["task"] == "mer":
            assert answer == meta["emotion"] and answer in EMOTIONS
        elif row["task"] == "ov-mer":
            assert labels["ov_emotions"][0] == meta["emotion"] and len(labels["ov_emotions"]) == 2
        elif row["task"] == "eri":
            assert (
                answer.endswith(f"so the speaker is {meta['emotion']}.") or f"speaker is {meta['emotion']} (" in answer
            )
        elif row["task"] == "mir":
            assert answer == meta["intent"] and answer in INTENTS
        else:
            assert answer.startswith(f"<think>The speaker feels {meta['emotion']}.</think>\n")


def test_demo_metadata_summarises_the_corpus(corpus):
    root, _ = corpus
    summary = json.loads((root / "demo_metadata.json").read_text())
    assert summary["num_clips"] == NUM_CLIPS
    assert summary["rows_per_task"] == {task: NUM_CLIPS for task in TASK_ORDER}
    assert summary["emotion_decisive_modality"] == {m: NUM_CLIPS // 3 for m in EMOTION_MODALITIES}
    assert summary["intent_decisive_modality"] == {"subtitle": NUM_CLIPS // 2, "scene": NUM_CLIPS // 2}


def _digest(root: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((root / "media").iterdir())}


def test_same_seed_same_corpus_and_bytes_other_seed_differs(tmp_path, capsys):
    assert main(["--output", str(tmp_path / "a"), "--num-clips", "8", "--seed", "5", "--no-progress"]) == 0
    assert "wrote 8 clips" in capsys.readouterr().out
    b = generate_demo_corpus(tmp_path / "b", num_clips=8, seed=5, progress=False)
    c = generate_demo_corpus(tmp_path / "c", num_clips=8, seed=6, progress=False)
    a = load_from_disk(str(tmp_path / "a"))
    for split in a:
        assert a[split].to_list() == b[split].to_list()
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert [r["meta"] for r in c["train"]] != [r["meta"] for r in b["train"]]
    with pytest.raises(ValueError, match="not empty"):
        generate_demo_corpus(tmp_path / "a", num_clips=8, seed=5, progress=False)


# ----------------------------------------------------------------------------- learnable only by fusion


def _share(rows, predicate) -> float:
    return sum(1 for r in rows if predicate(r)) / len(rows)


def test_each_single_modality_oracle_reaches_only_its_ceiling(corpus, readings):
    summary = json.loads((corpus[0] / "demo_metadata.json").read_text())
    for modality, key in (("face", "face"), ("voice", "voice"), ("subtitle", "text")):
        ceiling = _share(readings, lambda r, m=modality: r["emotion_modality"] == m or r["emotion"] == "neutral")
        assert ceiling == pytest.approx(summary["single_modality_ceilings"]["emotion"][modality], abs=1e-3)
        accuracy = _share(readings, lambda r, k=key: r[k] == r["emotion"])
        decisive = [r for r in readings if r["emotion_modality"] == modality]
        assert _share(decisive, lambda r, k=key: r[k] == r["emotion"]) >= 0.95, modality
        assert abs(accuracy - ceiling) <= 0.05, (modality, accuracy, ceiling)
        assert ceiling < 0.6
    for modality, key in (("subtitle", "text_intent"), ("scene", "scene")):
        ceiling = _share(readings, lambda r, m=modality: r["intent_modality"] == m or r["intent"] == DEFAULT_INTENT)
        accuracy = _share(readings, lambda r, k=key: (r[k] or DEFAULT_INTENT) == r["intent"])
        assert abs(accuracy - ceiling) <= 0.05, (modality, accuracy, ceiling)
        assert ceiling < 0.7


def _fused_emotion(r: dict, modalities=("face", "voice", "text")) -> str:
    return next((r[k] for k in modalities if r[k] != "neutral"), "neutral")


def test_fusing_all_modalities_is_near_perfect_and_every_modality_is_necessary(readings):
    assert _share(readings, lambda r: _fused_emotion(r) == r["emotion"]) >= 0.95
    assert _share(readings, lambda r: (r["scene"] or r["text_intent"] or DEFAULT_INTENT) == r["intent"]) >= 0.95
    full = _share(readings, lambda r: _fused_emotion(r) == r["emotion"])
    for dropped, modality in (("face", "face"), ("voice", "voice"), ("text", "subtitle")):
        kept = tuple(k for k in ("face", "voice", "text") if k != dropped)
        without = _share(readings, lambda r, kept=kept: _fused_emotion(r, kept) == r["emotion"])
        needed = _share(readings, lambda r, m=modality: r["emotion_modality"] == m and r["emotion"] != "neutral")
        assert full - without == pytest.approx(needed, abs=0.05), dropped
    scene_only = _share(readings, lambda r: (r["scene"] or DEFAULT_INTENT) == r["intent"])
    text_only = _share(readings, lambda r: (r["text_intent"] or DEFAULT_INTENT) == r["intent"])
    assert max(scene_only, text_only) < 0.7


def test_accuracy_by_decisive_modality_exposes_an_ignored_branch(corpus):
    from nanoemox.processing.demo_corpus import accuracy_by_decisive_modality

    _, dataset = corpus
    split = dataset["train"]
    predictions = []
    for row in split:
        meta = json.loads(row["meta"])
        if row["task"] == "mer":  # a reader of the subtitle only: right where it decides, "neutral" elsewhere
            guess = meta["emotion"] if meta["emotion_modality"] == "subtitle" else "neutral"
            predictions.append({"id": row["id"], "task": "mer", "prediction": guess, "reference": meta["emotion"]})
        if row["task"] == "mir":  # a reader of the scene only, answering in another letter case
            guess = meta["intent"] if meta["intent_modality"] == "scene" else DEFAULT_INTENT
            predictions.append(
                {"id": row["id"], "task": "mir", "prediction": guess.upper(), "reference": meta["intent"]}
            )
    table = accuracy_by_decisive_modality(split, predictions + [{"id": "other", "task": "mer", "prediction": "x"}])
    assert set(table) == {"mer", "mir"}
    assert table["mer"]["subtitle"]["accuracy"] == 1.0 and table["mir"]["scene"]["accuracy"] == 1.0
    assert table["mer"]["face"]["accuracy"] < 0.5 and table["mer"]["voice"]["accuracy"] < 0.5
    assert table["mir"]["subtitle"]["accuracy"] < 0.5
    n_mer = sum(row["task"] == "mer" for row in split)
    assert sum(c["n"] for c in table["mer"].values()) == n_mer
