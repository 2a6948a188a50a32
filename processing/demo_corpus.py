"""The embedded demo corpus: a few hundred short synthetic clips that can only be solved by fusing modalities.

    nanoemox data demo --output demo/                        # 300 clips, seed 0 (about 15 s on one CPU core)
    nanoemox data demo --output /tmp/demo --num-clips 30     # a tiny one for a CPU smoke run

    from nanoemox.processing.demo_corpus import generate_demo_corpus
    dataset = generate_demo_corpus("demo/", num_clips=300, seed=0)   # DatasetDict train/validation/test

Each clip is a real mp4 (H.264 frames + mono 16 kHz AAC audio, muxed with PyAV), a subtitle and a
face track; each clip gives one row per task (msa, mer, ov-mer, eri, mir, erg), all rows in the schema
of `processing/schema.py`. Media paths in the rows are relative to the output folder.

What encodes what
-----------------
Two hidden factors per clip, each carried by ONE randomly chosen modality (the others stay neutral):

| factor | values | decisive modality (balanced shares) |
|---|---|---|
| emotion (+ intensity mild/strong) | neutral, happy, sad, angry, surprise | face 1/3, voice 1/3, subtitle 1/3 |
| intent | Inform, Complain, Thank, Ask, Apologise, Praise | subtitle 1/2, scene 1/2 |

- face: mouth curvature and opening, eye opening, brow tilt (the angry "V") and raise;
- voice: pitch, loudness, syllable rate, pitch contour and timbre (arousal = loudness + tempo,
  valence = pitch height + contour: arched for happy, falling for sad/angry, rising for surprise);
- subtitle: an emotion word ("delighted", "annoyed", ...) and/or intent wording ("Thank you so much ...");
- scene: an object beside the speaker (notice board, warning sign, gift, map, flowers, trophy).

A modality that is not decisive shows its neutral value (neutral face, flat voice, a subtitle without
emotion words or intent wording, a grey lamp instead of an intent object), plus small jitter. So a
model that reads only the face is right on the face-decisive third and on the neutral clips, and
wrong elsewhere: every branch is necessary on a known share (`demo_metadata.json` lists these
single-modality ceilings). Everything else (skin, hair, wall colour, object side, speaker pitch within
+-4 %, head sway) varies and carries no label.

Labels per task: mer = emotion; msa = 3 * valence * intensity in [-3, 3]; ov-mer = emotion plus the
intensity word (e.g. "happy, delighted"); eri = a reason templated from the cue of every modality;
mir = intent; erg = intent-aware empathic reply templated from the emotion (the `<think>` line comes
from the schema's answer format). `meta` (JSON) records the decisive modality, the factors, and the
cue values used.

Clip length: 3 s at 8 fps (24 frames, 160 x 128) and 3 s of 16 kHz audio. The model samples 8 frames
and cuts the audio in 2 s windows; because every cue is held for the whole clip (the face keeps its
expression, the voice keeps its prosody over ~6-15 syllables), any frame or window it samples carries
the cue. Longer clips would add nothing but encoding time.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from datasets import Dataset, DatasetDict
from tqdm.auto import tqdm

from .demo_media import (
    HAIR_COLOURS,
    SHIRT_COLOURS,
    SKIN_TONES,
    WALL_COLOURS,
    FaceCue,
    Look,
    VoiceCue,
    cue_dict,
    render_frames,
    synthesize_voice,
    write_clip,
    write_face_track,
)
from .schema import FEATURES, make_example

logger = logging.getLogger(__name__)

SOURCE = "demo"
TASK_ORDER = ("msa", "mer", "ov-mer", "eri", "mir", "erg")
EMOTIONS = ("neutral", "happy", "sad", "angry", "surprise")
INTENTS = ("Inform", "Complain", "Thank", "Ask", "Apologise", "Praise")  # MIntRec spelling
EMOTION_MODALITIES = ("face", "voice", "subtitle")
INTENT_MODALITIES = ("subtitle", "scene")
DEFAULT_INTENT = "Inform"  # what a reader with no intent cue should guess (all intents are equally frequent)

# Strong (intensity 1.0) cue of each emotion; a clip of intensity s in (0, 1] interpolates from neutral.
FACE_PROTOTYPES = {
    "neutral": FaceCue(),
    "happy": FaceCue(curvature=6.5, opening=3.0, eye_opening=2.0, brow_raise=1.0),
    "sad": FaceCue(curvature=-5.5, eye_opening=2.2, brow_tilt=-3.5),
    "angry": FaceCue(curvature=-1.5, mouth_half_width=9.0, eye_opening=2.5, brow_tilt=5.0),
    "surprise": FaceCue(opening=10.0, mouth_half_width=6.0, eye_opening=4.5, brow_raise=4.0),
}
VOICE_PROTOTYPES = {
    "neutral": VoiceCue(),
    "happy": VoiceCue(f0=235.0, amplitude=0.30, rate=4.5, contour="arch", depth=0.35, tilt=1.0),
    "sad": VoiceCue(f0=112.0, amplitude=0.07, rate=2.0, contour="fall", depth=0.15, tilt=1.6),
    "angry": VoiceCue(f0=180.0, amplitude=0.50, rate=5.2, contour="fall", depth=0.20, tilt=0.6),
    "surprise": VoiceCue(f0=300.0, amplitude=0.26, rate=3.0, contour="rise", depth=0.60, tilt=1.0),
}
# (valence, arousal) at intensity 1.0
AFFECT = {
    "neutral": (0.0, 0.0),
    "happy": (0.8, 0.6),
    "sad": (-0.7, -0.5),
    "angry": (-0.8, 0.9),
    "surprise": (0.4, 0.8),
}
INTENSITY_RANGES = {"mild": (0.55, 0.70), "strong": (0.90, 1.00)}
# emotion -> (mild word, strong word): the subtitle's emotion word and the second ov-mer label
LEXICON = {
    "neutral": ("calm", "calm"),
    "happy": ("pleased", "delighted"),
    "sad": ("disappointed", "heartbroken"),
    "angry": ("annoyed", "furious"),
    "surprise": ("startled", "astonished"),
}
INTENT_OBJECTS = {
    "Inform": "board",
    "Complain": "warning",
    "Thank": "gift",
    "Ask": "map",
    "Apologise": "flowers",
    "Praise": "trophy",
}
NEUTRAL_OBJECT = "lamp"

INTENT_PHRASES = {
    "Inform": (
        "Just so you know, the delivery arrives on Monday.",
        "For your information, the meeting moved to noon.",
        "Heads up, the office closes early today.",
    ),
    "Complain": (
        "This is the third time my order came late, and that is unacceptable.",
        "I want to complain about the noise from next door.",
        "The service keeps getting worse and I want it fixed.",
    ),
    "Thank": (
        "Thank you so much for helping me move.",
        "Thanks a lot for the ride yesterday.",
        "I really appreciate you covering my shift, thank you.",
    ),
    "Ask": (
        "Could you tell me where the station is?",
        "Can you help me carry these boxes?",
        "Do you know when the next bus leaves?",
    ),
    "Apologise": (
        "I am sorry I missed your call.",
        "I apologise for being late again.",
        "Sorry, I forgot to send the file.",
    ),
    "Praise": (
        "You did an excellent job on the report.",
        "Your presentation was brilliant.",
        "Great work on the garden, it looks perfect.",
    ),
}
NEUTRAL_PHRASES = (
    "It is about the package from yesterday.",
    "So, this is about the meeting.",
    "Let me talk about the schedule.",
    "We need to talk about the car.",
    "This concerns the order from last week.",
)
EMOTION_PHRASES = ("I feel so {word}.", "Honestly, I am {word} right now.", "I am {word} about it.")

FACE_WORDS = {
    ("neutral", "none"): "a relaxed, neutral expression",
    ("happy", "mild"): "a slight smile",
    ("happy", "strong"): "a wide smile with an open mouth and raised brows",
    ("sad", "mild"): "slightly downturned mouth corners and raised inner brows",
    ("sad", "strong"): "deeply downturned mouth corners and sharply raised inner brows",
    ("angry", "mild"): "lowered, drawn-together brows and pressed lips",
    ("angry", "strong"): "sharply lowered brows knitted into a frown and tightly pressed lips",
    ("surprise", "mild"): "raised brows, wide eyes and a parted mouth",
    ("surprise", "strong"): "high raised brows, wide-open eyes and a round open mouth",
}
VOICE_WORDS = {
    ("neutral", "none"): "steady, at a normal pitch, loudness and pace",
    ("happy", "mild"): "a little higher, brighter and livelier than usual",
    ("happy", "strong"): "high-pitched, bright and lively, with a lilting melody",
    ("sad", "mild"): "somewhat low, quiet and slow",
    ("sad", "strong"): "low, quiet and slow, with a falling pitch",
    ("angry", "mild"): "louder, faster and tenser than usual",
    ("angry", "strong"): "loud, fast and harsh, with a falling pitch",
    ("surprise", "mild"): "high-pitched, with a rising intonation",
    ("surprise", "strong"): "very high-pitched, with a sharply rising intonation",
}
CLUE_NAMES = {"face": "facial expression", "voice": "tone of voice", "subtitle": "wording"}
INTENT_OPENERS = {
    "Inform": "Thanks for letting me know.",
    "Complain": "I hear you, and it is fair to raise this.",
    "Thank": "You are very welcome.",
    "Ask": "Of course, let me help you with that.",
    "Apologise": "No worries, apology accepted.",
    "Praise": "Thank you, that means a lot to me.",
}
EMPATHY_REPLIES = {
    "neutral": ("Got it, thanks for telling me.", "Okay, that sounds fine.", "Alright, let us go ahead then."),
    "happy": (
        "I am so glad to see you this happy!",
        "That is wonderful, your joy is contagious.",
        "It is great to hear you in such good spirits.",
    ),
    "sad": (
        "I am sorry you feel down; I am here for you.",
        "That sounds hard, and it is okay to feel sad about it.",
        "I can tell this weighs on you; take all the time you need.",
    ),
    "angry": (
        "I understand why this makes you angry; let us sort it out together.",
        "Your frustration makes sense, and I want to fix this with you.",
        "I can hear how upset you are, and you have every right to be.",
    ),
    "surprise": (
        "Wow, that must have caught you completely off guard!",
        "What a surprise, I did not see that coming either.",
        "That is unexpected indeed, tell me more!",
    ),
}


@dataclass
class ClipPlan:
    """The hidden factors and cue values of one clip (everything its media and rows are built from)."""

    clip_id: str
    emotion: str
    intensity: str  # none (neutral), mild, strong
    intensity_value: float
    emotion_modality: str
    intent: str
    intent_modality: str
    face: FaceCue
    voice: VoiceCue
    subtitle: str
    emotion_word: str | None
    intent_phrase: bool
    scene_object: str
    look: Look
    phase: float
    variant: int
    split: str = "train"

    @property
    def valence(self) -> float:
        return AFFECT[self.emotion][0] * self.intensity_value

    @property
    def arousal(self) -> float:
        return AFFECT[self.emotion][1] * self.intensity_value

    @property
    def sentiment(self) -> float:
        return float(np.clip(round(3.0 * self.valence, 2), -3.0, 3.0))

    @property
    def secondary_word(self) -> str:
        return LEXICON[self.emotion][1 if self.intensity == "strong" else 0]


def face_cue_for(emotion: str, s: float, rng: np.random.Generator | None = None) -> FaceCue:
    """The face of `emotion` at intensity `s` in [0, 1] (0: neutral), with per-clip jitter when `rng` is given."""
    neutral, target = FACE_PROTOTYPES["neutral"], FACE_PROTOTYPES[emotion]

    def mix(name: str, jitter: float) -> float:
        a, b = getattr(neutral, name), getattr(target, name)
        return a + s * (b - a) + (rng.uniform(-jitter, jitter) if rng is not None else 0.0)

    return FaceCue(
        curvature=mix("curvature", 0.5),
        opening=max(0.0, mix("opening", 0.3)),
        mouth_half_width=mix("mouth_half_width", 0.5),
        eye_opening=mix("eye_opening", 0.3),
        brow_tilt=mix("brow_tilt", 0.5),
        brow_raise=mix("brow_raise", 0.5),
    )


def voice_cue_for(emotion: str, s: float, rng: np.random.Generator | None = None) -> VoiceCue:
    """The prosody of `emotion` at intensity `s` in [0, 1], interpolated in log space from the neutral voice;
    with `rng`, speaker jitter of +-0.05 octave (pitch, rate) and +-0.1 octave (loudness)."""
    neutral, target = VOICE_PROTOTYPES["neutral"], VOICE_PROTOTYPES[emotion]

    def logmix(name: str, jitter: float) -> float:
        a, b = getattr(neutral, name), getattr(target, name)
        scale = 2.0 ** rng.uniform(-jitter, jitter) if rng is not None else 1.0
        return math.exp(math.log(a) + s * (math.log(b) - math.log(a))) * scale

    return VoiceCue(
        f0=logmix("f0", 0.05),
        amplitude=logmix("amplitude", 0.1),
        rate=logmix("rate", 0.05),
        contour=target.contour if s > 0 else neutral.contour,
        depth=neutral.depth + s * (target.depth - neutral.depth),
        tilt=neutral.tilt + s * (target.tilt - neutral.tilt),
    )


def _balanced(values: list, n: int, rng: np.random.Generator) -> list:
    """`n` items cycling through `values` (equal shares up to one), in a random order."""
    items = [values[i % len(values)] for i in range(n)]
    return [items[i] for i in rng.permutation(n)]


def plan_clips(num_clips: int, seed: int = 0) -> list[ClipPlan]:
    """Draw the factors and cues of `num_clips` clips; deterministic in (`num_clips`, `seed`).

    Emotion x emotion-modality and intent x intent-modality are balanced (every combination appears
    equally often up to one), then shuffled; mild and strong are balanced within each emotion x modality.
    """
    if num_clips < 1:
        raise ValueError(f"num_clips must be >= 1, got {num_clips}")
    rng = np.random.default_rng(seed)
    emotion_combos = _balanced([(e, m) for e in EMOTIONS for m in EMOTION_MODALITIES], num_clips, rng)
    levels: list[str] = [""] * num_clips
    for combo in sorted(set(emotion_combos)):  # mild / strong balanced within every emotion x modality
        members = [i for i, c in enumerate(emotion_combos) if c == combo]
        for i, level in zip(members, _balanced(["strong", "mild"], len(members), rng), strict=True):
            levels[i] = level
    intent_combos = _balanced([(i, m) for i in INTENTS for m in INTENT_MODALITIES], num_clips, rng)
    plans = []
    for index in range(num_clips):
        emotion, emotion_modality = emotion_combos[index]
        intent, intent_modality = intent_combos[index]
        clip_rng = np.random.default_rng([seed, index])
        intensity = "none" if emotion == "neutral" else levels[index]
        s = 0.0 if intensity == "none" else float(clip_rng.uniform(*INTENSITY_RANGES[intensity]))
        face = face_cue_for(emotion if emotion_modality == "face" else "neutral", s, clip_rng)
        voice = voice_cue_for(emotion if emotion_modality == "voice" else "neutral", s, clip_rng)
        variant = int(clip_rng.integers(0, 3))
        if intent_modality == "subtitle":
            intent_text = INTENT_PHRASES[intent][variant]
        else:
            intent_text = NEUTRAL_PHRASES[int(clip_rng.integers(0, len(NEUTRAL_PHRASES)))]
        emotion_word = None
        parts = [intent_text]
        if emotion_modality == "subtitle":
            emotion_word = LEXICON[emotion][1 if intensity == "strong" else 0]
            parts.append(EMOTION_PHRASES[int(clip_rng.integers(0, len(EMOTION_PHRASES)))].format(word=emotion_word))
            if clip_rng.random() < 0.5:
                parts.reverse()
        look = Look(
            skin=SKIN_TONES[int(clip_rng.integers(0, len(SKIN_TONES)))],
            hair=HAIR_COLOURS[int(clip_rng.integers(0, len(HAIR_COLOURS)))],
            wall=WALL_COLOURS[int(clip_rng.integers(0, len(WALL_COLOURS)))],
            shirt=SHIRT_COLOURS[int(clip_rng.integers(0, len(SHIRT_COLOURS)))],
            object_side="left" if clip_rng.random() < 0.5 else "right",
        )
        plans.append(
            ClipPlan(
                clip_id=f"{SOURCE}-{index:04d}",
                emotion=emotion,
                intensity=intensity,
                intensity_value=round(s, 3),
                emotion_modality=emotion_modality,
                intent=intent,
                intent_modality=intent_modality,
                face=face,
                voice=voice,
                subtitle=" ".join(parts),
                emotion_word=emotion_word,
                intent_phrase=intent_modality == "subtitle",
                scene_object=INTENT_OBJECTS[intent] if intent_modality == "scene" else NEUTRAL_OBJECT,
                look=look,
                phase=float(clip_rng.uniform(0, 2 * math.pi)),
                variant=variant,
            )
        )
    return plans


def assign_splits(plans: list[ClipPlan], fractions: dict[str, float], seed: int = 0) -> list[ClipPlan]:
    """Split clips (never rows: all rows of a clip stay together), stratified by emotion x emotion-modality x
    intent-modality; deterministic in `seed`. Each stratum is dealt out so every split keeps its share."""
    total = sum(fractions.values())
    if any(v < 0 for v in fractions.values()) or total <= 0:
        raise ValueError(f"split fractions must be non-negative with a positive sum, got {fractions}")
    names, shares = list(fractions), np.array([fractions[k] / total for k in fractions])
    rng = np.random.default_rng([seed, 7919])
    keys = [(p.emotion, p.emotion_modality, p.intent_modality) for p in plans]
    order = sorted(range(len(plans)), key=lambda i: (keys[i], rng.random()))
    counts = np.zeros(len(names))
    out = list(plans)
    for position, i in enumerate(order):
        deficit = shares * (position + 1) - counts
        k = int(np.argmax(deficit))
        counts[k] += 1
        out[i] = replace(plans[i], split=names[k])
    return out


def reason_for(plan: ClipPlan) -> str:
    """The ERI reason, templated from what every modality shows."""
    face_key = (plan.emotion, plan.intensity) if plan.emotion_modality == "face" else ("neutral", "none")
    voice_key = (plan.emotion, plan.intensity) if plan.emotion_modality == "voice" else ("neutral", "none")
    text = f'says "{plan.emotion_word}"' if plan.emotion_word else "contains no emotional words"
    lines = [
        f"The face shows {FACE_WORDS[face_key]}.",
        f"The voice is {VOICE_WORDS[voice_key]}.",
        f"The subtitle {text}.",
    ]
    if plan.emotion == "neutral":
        lines.append("No clue departs from neutral, so the speaker is neutral.")
    else:
        clue = CLUE_NAMES[plan.emotion_modality]
        lines.append(f"The {clue} is the decisive clue, so the speaker is {plan.emotion} ({plan.secondary_word}).")
    return " ".join(lines)


def reply_for(plan: ClipPlan) -> str:
    """The ERG reply: an intent-aware opener plus an empathic sentence for the emotion."""
    return f"{INTENT_OPENERS[plan.intent]} {EMPATHY_REPLIES[plan.emotion][plan.variant]}"


def clip_meta(plan: ClipPlan) -> dict:
    return {
        "clip": plan.clip_id,
        "split": plan.split,
        "emotion": plan.emotion,
        "intensity": plan.intensity,
        "intensity_value": plan.intensity_value,
        "valence": round(plan.valence, 3),
        "arousal": round(plan.arousal, 3),
        "intent": plan.intent,
        "emotion_modality": plan.emotion_modality,
        "intent_modality": plan.intent_modality,
        "cues": {
            "face": cue_dict(plan.face),
            "voice": cue_dict(plan.voice),
            "subtitle": {"emotion_word": plan.emotion_word, "intent_phrase": plan.intent_phrase},
            "scene": {"object": plan.scene_object, "side": plan.look.object_side},
        },
    }


def rows_for_clip(plan: ClipPlan, video: str, face_track: str, tasks: tuple[str, ...] = TASK_ORDER) -> list[dict]:
    """One schema row per task for this clip (media paths as given, i.e. relative to the corpus root)."""
    base = clip_meta(plan)
    labels_by_task = {
        "msa": {"sentiment": plan.sentiment, "emotion": plan.emotion},
        "mer": {"emotion": plan.emotion},
        "ov-mer": {"emotion": plan.emotion, "ov_emotions": [plan.emotion, plan.secondary_word]},
        "eri": {"emotion": plan.emotion, "reason": reason_for(plan)},
        "mir": {"intent": plan.intent},
        "erg": {"emotion": plan.emotion, "response": reply_for(plan), "response_emotion": plan.emotion},
    }
    rows = []
    for task in tasks:
        decisive = plan.intent_modality if task == "mir" else plan.emotion_modality
        rows.append(
            make_example(
                id=f"{plan.clip_id}-{task}",
                task=task,
                source=SOURCE,
                labels=labels_by_task[task],
                video=video,
                face_track=face_track,
                subtitle=plan.subtitle,
                meta={**base, "task": task, "decisive_modality": decisive},
            )
        )
    return rows


def _render(plan: ClipPlan, media_dir: Path, settings: dict) -> tuple[str, str]:
    width, height = settings["size"]
    num_frames = round(settings["duration"] * settings["fps"])
    frames, boxes = render_frames(
        plan.face, plan.look, plan.scene_object, size=(width, height), num_frames=num_frames, phase=plan.phase
    )
    seed = int(np.random.default_rng([settings["seed"], int(plan.clip_id.rsplit("-", 1)[1]), 1]).integers(2**31))
    audio = synthesize_voice(plan.voice, duration=settings["duration"], sample_rate=settings["sample_rate"], seed=seed)
    video_name, track_name = f"{plan.clip_id}.mp4", f"{plan.clip_id}.face.json"
    write_clip(media_dir / video_name, frames, audio, fps=settings["fps"], sample_rate=settings["sample_rate"])
    write_face_track(media_dir / track_name, boxes, settings["fps"])
    return f"media/{video_name}", f"media/{track_name}"


def single_modality_ceilings(plans: list[ClipPlan]) -> dict:
    """Accuracy of an ideal reader of ONE modality: right where its modality decides, else it can only
    guess the neutral emotion / the default intent."""
    n = max(len(plans), 1)
    emotion = {
        m: sum(p.emotion_modality == m or p.emotion == "neutral" for p in plans) / n for m in EMOTION_MODALITIES
    }
    intent = {
        m: sum(p.intent_modality == m or p.intent == DEFAULT_INTENT for p in plans) / n for m in INTENT_MODALITIES
    }
    return {"emotion": emotion, "intent": intent}


def accuracy_by_decisive_modality(dataset: Dataset, predictions: list[dict]) -> dict[str, dict[str, dict]]:
    """MER and MIR accuracy on the demo clips grouped by the modality that decides the label.

    `dataset` is a split of the demo corpus, `predictions` the rows of `predictions-<name>.jsonl` that
    evaluation writes (`id`, `task`, `prediction`, `reference`). Returns {task: {modality: {"accuracy", "n"}}}: a
    model that ignores a branch is near chance (5 emotions, 6 intents) on that branch's share, whatever its
    overall score.
    """
    decisive = {}
    for row in dataset:
        meta = json.loads(row["meta"])
        decisive[row["id"]] = {"mer": meta["emotion_modality"], "mir": meta["intent_modality"]}
    counts: dict[str, dict[str, list[int]]] = {}
    for p in predictions:
        task = p["task"]
        if task not in ("mer", "mir") or p["id"] not in decisive:
            continue
        cell = counts.setdefault(task, {}).setdefault(decisive[p["id"]][task], [0, 0])
        cell[0] += str(p["prediction"]).strip().lower() == str(p["reference"]).strip().lower()
        cell[1] += 1
    return {
        task: {m: {"accuracy": round(c / n, 3), "n": n} for m, (c, n) in sorted(cells.items())}
        for task, cells in sorted(counts.items())
    }


def generate_demo_corpus(
    output_dir: str | os.PathLike,
    *,
    num_clips: int = 300,
    seed: int = 0,
    duration: float = 3.0,
    fps: int = 8,
    size: tuple[int, int] = (160, 128),
    sample_rate: int = 16000,
    splits: dict[str, float] | None = None,
    tasks: tuple[str, ...] = TASK_ORDER,
    overwrite: bool = False,
    progress: bool = True,
) -> DatasetDict:
    """Write the demo corpus to `output_dir` (DatasetDict via `save_to_disk`, media in `media/`) and return it.

    Same arguments, same labels, metadata and media bytes. `size` is (width, height), both even.
    Raises `ValueError` for bad arguments or a non-empty `output_dir` without `overwrite=True`.
    """
    if num_clips < 1:
        raise ValueError(f"num_clips must be >= 1, got {num_clips}")
    if duration <= 0 or duration > 30:
        raise ValueError(f"duration must be in (0, 30] seconds, got {duration}")
    if fps < 1:
        raise ValueError(f"fps must be >= 1, got {fps}")
    if size[0] % 2 or size[1] % 2 or min(size) < 64:
        raise ValueError(f"size must be (width, height), even and >= 64, got {size}")
    unknown = [t for t in tasks if t not in TASK_ORDER]
    if unknown or not tasks:
        raise ValueError(f"unknown tasks {unknown or tasks!r}; expected a subset of {TASK_ORDER}")
    output_dir = Path(output_dir)
    if output_dir.exists() and any(output_dir.iterdir()) and not overwrite:
        raise ValueError(f"output folder {str(output_dir)!r} is not empty (pass overwrite=True / --overwrite)")
    media_dir = output_dir / "media"
    media_dir.mkdir(parents=True, exist_ok=True)
    for stale in [*media_dir.glob(f"{SOURCE}-*.mp4"), *media_dir.glob(f"{SOURCE}-*.face.json")]:
        stale.unlink()  # a previous corpus in this folder (overwrite=True)
    splits = splits or {"train": 0.70, "validation": 0.15, "test": 0.15}
    started = time.perf_counter()
    plans = assign_splits(plan_clips(num_clips, seed), splits, seed)
    settings = {"duration": duration, "fps": fps, "size": tuple(size), "sample_rate": sample_rate, "seed": seed}
    logger.info("writing %d demo clips (%.1f s, %d fps, %dx%d) to %s", num_clips, duration, fps, *size, media_dir)
    rows_by_split: dict[str, list[dict]] = {name: [] for name in splits}
    for plan in tqdm(plans, desc="demo clips", unit="clip", disable=not progress):
        video, track = _render(plan, media_dir, settings)
        rows_by_split[plan.split].extend(rows_for_clip(plan, video, track, tuple(tasks)))
    dataset = DatasetDict({name: Dataset.from_list(rows, features=FEATURES) for name, rows in rows_by_split.items()})
    dataset.save_to_disk(os.fspath(output_dir))
    summary = _summary(plans, dataset, settings, tasks)
    with open(output_dir / "demo_metadata.json", "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2, sort_keys=True)
    logger.info("demo corpus: %s rows in %.1f s", summary["rows_per_split"], time.perf_counter() - started)
    return dataset


def _summary(plans: list[ClipPlan], dataset: DatasetDict, settings: dict, tasks) -> dict:
    return {
        "source": SOURCE,
        "num_clips": len(plans),
        "seed": settings["seed"],
        "media": {
            "duration_s": settings["duration"],
            "fps": settings["fps"],
            "frame_size": list(settings["size"]),
            "sample_rate": settings["sample_rate"],
            "video_codec": "h264",
            "audio_codec": "aac (mono)",
        },
        "tasks": list(tasks),
        "clips_per_split": dict(Counter(p.split for p in plans)),
        "rows_per_split": {name: len(ds) for name, ds in dataset.items()},
        "rows_per_task": dict(Counter(t for ds in dataset.values() for t in ds["task"])),
        "emotions": dict(Counter(p.emotion for p in plans)),
        "intensities": dict(Counter(p.intensity for p in plans)),
        "intents": dict(Counter(p.intent for p in plans)),
        "emotion_decisive_modality": dict(Counter(p.emotion_modality for p in plans)),
        "intent_decisive_modality": dict(Counter(p.intent_modality for p in plans)),
        "single_modality_ceilings": single_modality_ceilings(plans),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nanoemox data demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", required=True, help="folder to write the DatasetDict and media/ into")
    parser.add_argument("--num-clips", type=int, default=300, help="number of clips (each gives one row per task)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same corpus")
    parser.add_argument("--duration", type=float, default=3.0, help="clip length in seconds")
    parser.add_argument("--fps", type=int, default=8, help="frames per second")
    parser.add_argument("--overwrite", action="store_true", help="write into a non-empty output folder")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    generate_demo_corpus(
        args.output,
        num_clips=args.num_clips,
        seed=args.seed,
        duration=args.duration,
        fps=args.fps,
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )
    with open(Path(args.output) / "demo_metadata.json", encoding="utf-8") as f:
        summary = json.load(f)
    print(
        f"wrote {summary['num_clips']} clips, rows {summary['rows_per_split']} to {args.output} "
        f"in {time.perf_counter() - started:.1f} s; single-modality ceilings {summary['single_modality_ceilings']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
