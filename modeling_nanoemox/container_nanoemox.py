"""Opening media: a path or the bytes of a file, checked, as a function that opens a fresh PyAV container.

    open_container, name = open_media("clip.mp4")   # ValueError naming the file when it is missing, empty, a folder
    container = open_container()                     # av.container.InputContainer (closing it is the caller's job)
    stream = video_stream(container)                 # the first real video stream, or None

Video seeking (`video_nanoemox`) and audio decoding (`audio_nanoemox`) both start here.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .requirements_nanoemox import require

MediaSource = str | os.PathLike | bytes | bytearray | memoryview


def is_file_source(source: Any) -> bool:
    """Whether `source` names a file (a path) or holds one (bytes), rather than decoded samples or frames."""
    return isinstance(source, (str, os.PathLike, bytes, bytearray, memoryview))


def describe_source(source: Any) -> str:
    """How errors name a source: the path, `<N bytes>`, or `<type>` for decoded data."""
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<{len(source)} bytes>"
    return f"<{type(source).__name__}>"


def open_media(source: MediaSource) -> tuple[Callable[[], Any], str]:
    """Check `source` and return (a function opening a fresh PyAV input container on it, its name)."""
    av = require("av")
    name = describe_source(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if not data:
            raise ValueError(f"{name}: the media bytes are empty")

        def target():
            return io.BytesIO(data)
    else:
        text = os.fspath(source)
        if isinstance(text, str) and text.startswith(("http://", "https://")):
            raise ValueError(f"{name}: URLs are not read; download the file first and pass its path")
        path = Path(source)
        if not path.exists():
            raise ValueError(f"{name}: no such file")
        if not path.is_file():
            raise ValueError(f"{name}: not a regular file")
        if path.stat().st_size == 0:
            raise ValueError(f"{name}: the file is empty (0 bytes)")

        def target():
            return str(path)

    def open_container():
        try:
            return av.open(target(), mode="r", metadata_errors="ignore")
        except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"{name}: not a readable media file (corrupt, truncated or unsupported): {exc}") from exc

    return open_container, name


def stream_kinds(container) -> str:
    """The container's stream types, e.g. "video, audio" (for error messages)."""
    kinds = [s.type for s in container.streams]
    return ", ".join(kinds) if kinds else "none"


def video_stream(container):
    """The first real video stream; cover art (attached pictures) in audio files does not count."""
    av = require("av")
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    return None


__all__ = ["MediaSource", "describe_source", "is_file_source", "open_media", "stream_kinds", "video_stream"]
