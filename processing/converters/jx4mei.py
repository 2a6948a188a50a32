"""XMEI-dataset (the JX4MEI benchmark of XMEI-Qwen) -> jx4mei rows: emotion, intent and why they co-occur.

The layout is the one the authors document and load (`README.md` and `xmeiqwen/datasets/datasets/xmei_dataset.py`
in `JX4MEI/JX4MEI`): `annotations/{train,val,test}.json`, each a JSON list of samples

    {"video_id": "...", "video_path": "...", "audio_path": "...", "subtitle": "...",
     "emotion": "...", "intent": "...",
     "video_description": "...", "audio_description": "...",
     "emotion_reason": "...", "intent_reason": "...", "explanation": "..."}

The README also names JSONL, so `*.jsonl` files (one such object a line) are read too. One sample is one source
row; the split comes from the file name (`val.json` -> validation).

| schema field      | from                                                                                |
|-------------------|-------------------------------------------------------------------------------------|
| id                | `jx4mei-<video_id>` (or the stem of `video_path` when there is no id)               |
| labels.emotion    | `emotion`, mapped onto `JX4MEI_EMOTIONS` (`evaluation.jx4mei.normalize_emotion`)    |
| labels.intent     | `intent`, mapped onto `JX4MEI_INTENTS` (`evaluation.jx4mei.normalize_intent`)       |
| labels.reason     | `explanation` (the joint, co-occurrence rationale; the answer's `because:` part)     |
| video             | `video_path`, else `<video_id>.mp4` or `videos/<video_id>.mp4` (the authors' loader) |
| audio             | `audio_path` when given (the authors' separate wav), else the video's own track      |
| meta              | the per-label rationales, the captions, and the labels as the source spelt them      |

The label sets (7 emotions, 9 intents) are `JX4MEI_EMOTIONS` / `JX4MEI_INTENTS` of the task prompts; where they
come from is written there. A label outside them is rejected (`unknown emotion` / `unknown intent`, the value in
`detail`), so a release that spells its labels differently shows up in the reject report, not in silent rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from nanoemox.evaluation.jx4mei import normalize_emotion, normalize_intent
from nanoemox.modeling.prompts_nanoemox import JX4MEI_EMOTIONS, JX4MEI_INTENTS

from .base import MediaResolver, Record, Reject, build_row, find_files, read_text, split_from_name


def _text(value: object) -> str:
    return str(value).strip() if value is not None else ""


def _samples(path: Path) -> Iterator[tuple[int, str, object, str | None]]:
    """(position, unit, sample, error) of a JSON list (unit item) or a JSONL file (unit line; blank lines skipped,
    a line that is not JSON comes with its error and no sample)."""
    if path.suffix == ".jsonl":
        for number, line in enumerate(read_text(path).splitlines(), start=1):
            if not line.strip():
                continue
            try:
                yield number, "line", json.loads(line), None
            except json.JSONDecodeError as err:
                yield number, "line", None, err.msg
        return
    data = json.loads(read_text(path))
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of samples, got {type(data).__name__}")
    for item, sample in enumerate(data, start=1):
        yield item, "item", sample, None


def convert_jx4mei(path: str | Path, media_root: str | Path | None = None) -> Iterator[Record]:
    """XMEI-dataset annotation JSON/JSONL -> jx4mei rows (see the module docstring for the layout)."""
    media = MediaResolver(media_root)
    seen: set[str] = set()
    for file in find_files(path, ["*.json", "*.jsonl"]):
        split = split_from_name(file)
        for position, unit, sample, error in _samples(file):
            where = (str(file), position)
            if error is not None:
                yield Reject(*where, "invalid JSON", error, unit=unit)
                continue
            if not isinstance(sample, dict):
                yield Reject(*where, "sample is not an object", type(sample).__name__, unit=unit)
                continue
            video_path = _text(sample.get("video_path"))
            name = _text(sample.get("video_id")) or (Path(video_path).stem if video_path else "")
            if not name:
                yield Reject(*where, "missing video_id", unit=unit)
                continue
            sample_id = f"jx4mei-{name}"
            raw_emotion, raw_intent = _text(sample.get("emotion")), _text(sample.get("intent"))
            explanation = _text(sample.get("explanation"))
            emotion, intent = normalize_emotion(raw_emotion), normalize_intent(raw_intent)
            if emotion is None:
                yield Reject(*where, "missing emotion", id=sample_id, unit=unit)
                continue
            if emotion not in JX4MEI_EMOTIONS:
                yield Reject(*where, "unknown emotion", raw_emotion, id=sample_id, unit=unit)
                continue
            if intent is None:
                yield Reject(*where, "missing intent", id=sample_id, unit=unit)
                continue
            if intent not in JX4MEI_INTENTS:
                yield Reject(*where, "unknown intent", raw_intent, id=sample_id, unit=unit)
                continue
            if not explanation:
                yield Reject(*where, "missing explanation", id=sample_id, unit=unit)
                continue
            if sample_id in seen:
                yield Reject(*where, "duplicate id", name, id=sample_id, unit=unit)
                continue
            seen.add(sample_id)
            audio_path = _text(sample.get("audio_path"))
            meta = {
                key: _text(sample.get(key))
                for key in ("video_description", "audio_description", "emotion_reason", "intent_reason")
            }
            yield build_row(
                split,
                file,
                position,
                unit,
                id=sample_id,
                task="jx4mei",
                source="jx4mei",
                labels={"emotion": emotion, "intent": intent, "reason": explanation},
                video=media.resolve(video_path or None, f"{name}.mp4", f"videos/{name}.mp4"),
                audio=media.resolve(audio_path) if audio_path else None,
                subtitle=_text(sample.get("subtitle")),
                meta=meta | {"video_id": name, "source_emotion": raw_emotion, "source_intent": raw_intent},
            )


__all__ = ["convert_jx4mei"]
