"""Rows: the one input format from a dataset row (or a pipeline input) to a sample the processor can load.

A row is a dict; every field but one way to make the prompt is optional:

| field       | meaning                                                                                         |
|-------------|-------------------------------------------------------------------------------------------------|
| id          | names the row in errors and reports (default: its position)                                      |
| task        | msa, mer, ov-mer, eri, mir, erg or jx4mei: the task's prompt, with the subtitle filled in          |
| messages    | a TRL / transformers conversation instead; its media parts name their files:                     |
|             | `{"type": "video", "path": "clip.mp4"}`, `{"type": "audio", "path": "speech.wav"}`                 |
|             | (a part without a path takes the row's `videos` / `audios` list, LLaMA-Factory's layout)           |
| prompt      | an instruction of your own instead of the task's prompt                                         |
| video       | a path, bytes, or decoded frames; overrides the video named in `messages`                        |
| audio       | a path, bytes or `(samples, sampling_rate)`; default: the video's own audio track                |
| faces       | a face-track JSON path / list of `{"time", "box"}`, per-frame boxes, or ready crops (`face_track`  |
|             | is the dataset schema's name for it); default: the bundled face detector                       |
| subtitle    | what is said: fills the task prompt, and is the language prior of `lq_former` / `cat_mod`          |
| answer      | the assistant's answer to train on, when `messages` has no assistant turn                         |
| _media_root | the folder relative media paths are relative to, for rows pooled from several datasets            |

`read_row` raises `ValueError` naming the row and the column for a row that cannot make a prompt (no task,
messages or prompt; an unknown task; no answer to train on): a dataset format error, not a bad clip.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from .prompts_nanoemox import build_messages, normalize_task

ROW_FIELDS = (
    "id",
    "task",
    "messages",
    "prompt",
    "video",
    "audio",
    "faces",
    "face_track",
    "subtitle",
    "answer",
    "_media_root",
)
# dataset-schema columns that are not inputs (gold labels, provenance): a row may carry them, nothing reads them
DATA_FIELDS = ("labels", "meta", "source")


@dataclass
class Sample:
    """One row, read: the conversation to render (media parts resolved) and the media sources to load."""

    index: int
    id: str
    task: str | None
    messages: list[dict]
    video: Any = None
    audio: Any = None
    faces: Any = None
    subtitle: str | None = None
    has_answer: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        """How errors name the row: its id, or its position."""
        return f"row {self.id!r}" if self.id != str(self.index) else f"row {self.index}"


def resolve_media(path: Any, root: str | os.PathLike | None) -> Any:
    """A path relative to `root` made absolute (an absolute path, a URL, bytes, arrays pass through; '' -> None)."""
    if path is None or (isinstance(path, str) and not path):
        return None
    if not isinstance(path, (str, os.PathLike)) or root is None:
        return path
    text = os.fspath(path)
    if os.path.isabs(text) or text.startswith(("http://", "https://")):
        return text
    return os.path.join(os.fspath(root), text)


def _first(values: Any) -> Any:
    if isinstance(values, (list, tuple)):
        return values[0] if values else None
    return values


def _part_source(part: dict, fallback: Any) -> Any:
    kind = part.get("type")
    source = part.get("path") or part.get("url") or part.get(kind)
    return source if source is not None else fallback


def _resolve_messages(messages: Any, row: dict, root, name: str) -> tuple[list[dict], Any, Any]:
    """Messages with their media parts resolved against `root`, and the video / audio they name."""
    if not isinstance(messages, (list, tuple)) or not all(isinstance(m, dict) for m in messages):
        raise ValueError(f"{name}: 'messages' must be a list of {{'role', 'content'}} turns, got {messages!r:.80}")
    listed = {"video": _first(row.get("videos")), "audio": _first(row.get("audios"))}
    video = audio = None
    out = []
    for turn in messages:
        if "role" not in turn or "content" not in turn:
            raise ValueError(f"{name}: every turn of 'messages' needs 'role' and 'content', got {turn!r:.80}")
        content = turn["content"]
        if isinstance(content, str):
            parts = _tagged_parts(content, listed)
            if parts is None:
                out.append({"role": turn["role"], "content": content})
                continue
            content = parts
        resolved = []
        for part in content:
            part = dict(part)
            if part.get("type") in ("video", "audio"):
                source = resolve_media(_part_source(part, listed[part["type"]]), root)
                part["path"] = source if isinstance(source, str) else None
                if turn["role"] == "user":
                    if part["type"] == "video":
                        video = source
                    else:
                        audio = source
            resolved.append(part)
        out.append({"role": turn["role"], "content": resolved})
    return out, video, audio


def _tagged_parts(content: str, listed: dict) -> list[dict] | None:
    """LLaMA-Factory's `<video>` / `<audio>` tags in a string turn as parts (None when the text has no tag)."""
    if "<video>" not in content and "<audio>" not in content:
        return None
    parts: list[dict] = []
    for kind in ("video", "audio"):
        if f"<{kind}>" in content:
            parts.append({"type": kind, "path": None})
    text = content.replace("<video>", "").replace("<audio>", "").strip()
    parts.append({"type": "text", "text": text})
    return parts


def read_row(
    row: dict,
    index: int,
    *,
    media_root: str | os.PathLike | None = None,
    training: bool = False,
    task_prompts: dict[str, str] | None = None,
) -> Sample:
    """Read one row (see the module docstring) into a `Sample`.

    training: the conversation keeps (or gains) its assistant answer; otherwise trailing assistant turns are dropped
        so the prompt ends where the model's answer begins.
    """
    if not isinstance(row, dict):
        raise ValueError(f"row {index}: expected a dict of columns, got {type(row).__name__}")
    row_id = str(row["id"]) if row.get("id") is not None else str(index)
    name = f"row {row_id!r}" if row.get("id") is not None else f"row {index}"
    root = row.get("_media_root") or media_root
    task = row.get("task")
    if task is not None:
        try:
            task = normalize_task(task)
        except ValueError as err:
            raise ValueError(f"{name}: column 'task': {err}") from None
    subtitle = row.get("subtitle")
    answer = row.get("answer")
    video = resolve_media(row.get("video"), root)
    audio = resolve_media(row.get("audio"), root)
    faces = row.get("faces") if row.get("faces") is not None else row.get("face_track")
    faces = resolve_media(faces, root) if isinstance(faces, (str, os.PathLike)) else faces

    if row.get("messages"):
        messages, named_video, named_audio = _resolve_messages(row["messages"], row, root, name)
        video = video if video is not None else named_video
        audio = audio if audio is not None else named_audio
        if video is not None and not _mentions(messages, "video"):
            messages = _with_media_part(messages, "video", video)
        if audio is not None and not _mentions(messages, "audio"):
            messages = _with_media_part(messages, "audio", audio)
    elif row.get("prompt") or task is not None:
        if row.get("prompt"):
            messages = _prompt_messages(str(row["prompt"]), video, audio)
        else:
            messages = build_messages(
                task,
                subtitle=subtitle,
                video=video if isinstance(video, str) else ("<video>" if video is not None else None),
                audio=audio if isinstance(audio, str) else ("<audio>" if audio is not None else None),
                task_prompts=task_prompts,
            )
    else:
        raise ValueError(
            f"{name}: no column to make a prompt from: give 'task' (msa, mer, ov-mer, eri, mir, erg, jx4mei), "
            f"'messages' or 'prompt' (columns: {sorted(row)})"
        )

    while messages and messages[-1]["role"] == "assistant" and (not training or answer is not None):
        messages = messages[:-1]
    has_answer = bool(messages) and messages[-1]["role"] == "assistant"
    if training and not has_answer:
        if answer is None:
            raise ValueError(
                f"{name}: nothing to train on: give an assistant turn in 'messages' or an 'answer' column"
            )
        messages = [*messages, {"role": "assistant", "content": [{"type": "text", "text": str(answer)}]}]
        has_answer = True
    if not any(m["role"] == "user" for m in messages):
        raise ValueError(f"{name}: 'messages' has no user turn")
    extra = {k: v for k, v in row.items() if k not in ROW_FIELDS}
    return Sample(
        index=index,
        id=row_id,
        task=task,
        messages=messages,
        video=video,
        audio=audio,
        faces=faces,
        subtitle=subtitle,
        has_answer=has_answer,
        extra=extra,
    )


def without_subtitle(row: dict) -> dict:
    """`row` with its `subtitle` taken out of the prompt (the "subtitle masked" condition of an explanation).

    A task row is prompted with an empty subtitle (`Subtitle: ""`); in a row's own `messages` or `prompt`, the
    subtitle's text is removed from the user's text: where it stands in quotes, as the task prompts quote it, else
    wherever it occurs. Without a subtitle, the row as it is. The language prior (the subtitle) goes too.
    """
    subtitle = row.get("subtitle")
    out = {**row, "subtitle": None}
    if not isinstance(subtitle, str) or not subtitle.strip():
        return out

    def strip(text):
        if not isinstance(text, str):
            return text
        quoted = f'"{subtitle}"'
        return text.replace(quoted, '""') if quoted in text else text.replace(subtitle, "")

    if row.get("messages"):
        turns = []
        for turn in row["messages"]:
            if not isinstance(turn, dict) or turn.get("role") != "user":
                turns.append(turn)
                continue
            content = turn.get("content")
            if isinstance(content, list):
                content = [{**p, "text": strip(p.get("text"))} if isinstance(p, dict) else p for p in content]
            turns.append({**turn, "content": strip(content)})
        out["messages"] = turns
    if row.get("prompt"):
        out["prompt"] = strip(row["prompt"])
    return out


def _mentions(messages: list[dict], kind: str) -> bool:
    return any(
        isinstance(m["content"], list) and any(p.get("type") == kind for p in m["content"])
        for m in messages
        if m["role"] == "user"
    )


def _with_media_part(messages: list[dict], kind: str, source: Any) -> list[dict]:
    """`messages` with a `kind` part put first in the first user turn (for media given beside the conversation)."""
    out = [dict(m) for m in messages]
    for turn in out:
        if turn["role"] != "user":
            continue
        content = turn["content"]
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
        path = source if isinstance(source, str) else None
        turn["content"] = [{"type": kind, "path": path}, *parts]
        break
    return out


def _prompt_messages(prompt: str, video: Any, audio: Any) -> list[dict]:
    content: list[dict] = []
    if video is not None:
        content.append({"type": "video", "path": video if isinstance(video, str) else None})
    if audio is not None:
        content.append({"type": "audio", "path": audio if isinstance(audio, str) else None})
    content.append({"type": "text", "text": prompt})
    return [{"role": "user", "content": content}]


__all__ = ["DATA_FIELDS", "ROW_FIELDS", "Sample", "read_row", "resolve_media", "without_subtitle"]
