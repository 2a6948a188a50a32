"""Video frames: `num_frames` sampled uniformly over a clip by seeking, from a file, bytes or decoded frames.

    video = load_video_frames("clip.mp4", num_frames=8)   # video.frames (t, h, w, 3) uint8 RGB, video.timestamps (t,)

Shapes: t frames, h x w pixels. Every unreadable input raises `ValueError` naming the source and what is wrong.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .container_nanoemox import is_file_source, open_media, stream_kinds, video_stream
from .requirements_nanoemox import require

logger = logging.getLogger(__name__)
Image = require("PIL.Image")


@dataclass
class VideoFrames:
    """Frames sampled from a video.

    frames:     (t, h, w, 3) uint8 RGB.
    timestamps: (t,) float64 seconds from the start of the video stream; non-decreasing (a clip with
                fewer than t frames repeats frames, so timestamps repeat too).
    source:     the file name, `<N bytes>` or `<frames>`.
    duration:   seconds of the video stream, when known.
    stats:      how the frames were obtained: `decoded` (frames the decoder produced), `seeks`,
                `total_frames` (the stream's frame count, estimated when the container does not say).
    """

    frames: np.ndarray
    timestamps: np.ndarray
    source: str
    duration: float | None = None
    stats: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frames)


def segment_centres(count: int, num: int) -> np.ndarray:
    """Indices of the centres of `num` equal segments of range(count): floor((i + 0.5) * count / num)."""
    return np.minimum(((np.arange(num) + 0.5) * count / num).astype(np.int64), count - 1)


def _frames_from_arrays(source: Any, num_frames: int, fps: float) -> VideoFrames:
    if isinstance(source, VideoFrames):
        frames, times, name = source.frames, source.timestamps, source.source
    else:
        if isinstance(source, Image.Image):
            source = [source]
        if isinstance(source, np.ndarray):
            frames = source[None] if source.ndim == 3 else source
        else:
            items = list(source)
            if not items:
                raise ValueError("<frames>: the list of frames is empty")
            if not all(isinstance(x, (Image.Image, np.ndarray)) for x in items):
                kinds = sorted({type(x).__name__ for x in items})
                raise ValueError(f"<frames>: expected PIL images or (h, w, 3) uint8 arrays, got {kinds}")
            arrays = [np.asarray(x.convert("RGB")) if isinstance(x, Image.Image) else x for x in items]
            sizes = {a.shape for a in arrays}
            if len(sizes) != 1:
                raise ValueError(f"<frames>: frames differ in shape: {sorted(sizes)}")
            frames = np.stack(arrays)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(
                f"<frames>: expected a (t, h, w, 3) uint8 array, got shape {frames.shape} dtype {frames.dtype}"
            )
        if len(frames) == 0:
            raise ValueError("<frames>: the array holds no frames")
        times, name = np.arange(len(frames)) / fps, "<frames>"
    index = segment_centres(len(frames), num_frames)
    return VideoFrames(
        frames=np.ascontiguousarray(frames[index]),
        timestamps=np.asarray(times, dtype=np.float64)[index],
        source=name,
        duration=len(frames) / fps if name == "<frames>" else getattr(source, "duration", None),
        stats={"decoded": 0, "seeks": 0, "total_frames": len(frames)},
    )


class _NoTimestamps(Exception):
    """The stream's frames carry no timestamps (raw elementary streams): sample by frame index instead."""


def _sample_sequentially(open_container: Callable[[], Any], name: str, num_frames: int, fps: float) -> VideoFrames:
    """Frames of a stream without timestamps: count packets (no decoding), then decode once, keeping the
    frames at the segment centres; timestamps are index / frame rate (`fps` when the stream has none)."""
    av = require("av")
    container = open_container()
    try:
        total = sum(1 for packet in container.demux(video_stream(container)) if packet.size)
    except av.FFmpegError as exc:
        raise ValueError(f"{name}: corrupt video data: {exc}") from exc
    finally:
        container.close()
    if total == 0:
        raise ValueError(f"{name}: the video stream holds no packets")
    container = open_container()  # raw streams cannot seek back: open again
    try:
        stream = video_stream(container)
        stream.thread_type = "AUTO"
        wanted = segment_centres(total, num_frames)
        kept: dict[int, np.ndarray] = {}
        decoded = 0
        for decoded, frame in enumerate(container.decode(stream), start=1):
            if decoded - 1 in wanted:
                kept[decoded - 1] = frame.to_ndarray(format="rgb24")
            if decoded > wanted[-1]:
                break
    except av.FFmpegError as exc:
        raise ValueError(f"{name}: corrupt video data: {exc}") from exc
    finally:
        container.close()
    if not kept:
        raise ValueError(f"{name}: no decodable video frame")
    last = max(kept)  # a stream with fewer frames than packets ends early: fall back to its last frame
    rate = float(stream.average_rate or stream.guessed_rate or fps)
    index = np.minimum(wanted, last)
    return VideoFrames(
        frames=np.stack([kept.get(int(i), kept[last]) for i in index]),
        timestamps=index / rate,
        source=name,
        duration=total / rate,
        stats={"decoded": decoded, "seeks": 0, "total_frames": total},
    )


class _FrameSeeker:
    """Returns the frame nearest to each of a series of increasing times, decoding as little as it can.

    For a time ahead of the last decoded frame it asks a second, demux-only container where the
    keyframe at or before that time is (a seek plus one packet read, no decoding). If that keyframe
    is not past the frames already decoded, decoding simply continues; otherwise the decoding
    container seeks to it. Each target therefore costs at most the frames between its keyframe and
    itself, and a file with few keyframes is never decoded more than once.
    """

    def __init__(self, open_container: Callable[[], Any], name: str):
        self.av = require("av")
        self.name = name
        self._open = open_container
        self.container = open_container()
        self.probe = None
        self.stream = video_stream(self.container)
        if self.stream is None:
            kinds = stream_kinds(self.container)
            self.close()
            if kinds == "audio":
                raise ValueError(f"{name}: an audio file, not a video (no video stream): pass it as audio")
            raise ValueError(f"{name}: has no video stream (streams: {kinds})")
        kind = self.container.format.name
        if kind == "image2" or kind.endswith("_pipe"):  # PyAV reads a picture as a one-frame video
            self.close()
            raise ValueError(
                f"{name}: a still image ({kind}), not a video: pass pictures as decoded frames (a list of PIL images "
                "or a (t, h, w, 3) array) instead of a file, or make a video of them"
            )
        self.stream.thread_type = "AUTO"
        self.time_base = self.stream.time_base
        self.start = self.stream.start_time or 0
        self.decoded = 0
        self.seeks = 0
        self._frames = None  # iterator of decoded frames from the current position
        self._before = None  # the decoded frame before `_last`
        self._last = None  # the last decoded frame
        self._eof = False

    def close(self) -> None:
        for container in (self.container, self.probe):
            if container is not None:
                container.close()

    # -- positions in stream time-base units ------------------------------------------------
    def to_pts(self, seconds: float) -> int:
        return self.start + int(round(seconds / self.time_base))

    def to_seconds(self, pts: int) -> float:
        return float((pts - self.start) * self.time_base)

    def duration(self) -> float | None:
        """Seconds of the video stream from the container's header, or by reading packet headers."""
        if self.stream.duration:
            return float(self.stream.duration * self.time_base)
        if self.container.duration:
            return self.container.duration / self.av.time_base
        if self.stream.frames and self.stream.average_rate:
            return float(self.stream.frames / self.stream.average_rate)
        # No header duration (e.g. some raw or streamed files): read the packets, without decoding.
        probe = self._open()
        try:
            stream = video_stream(probe)
            end = None
            for packet in probe.demux(stream):
                if packet.pts is not None:
                    end = max(end or packet.pts, packet.pts + (packet.duration or 0))
        except self.av.FFmpegError as exc:
            raise ValueError(f"{self.name}: corrupt video stream: {exc}") from exc
        finally:
            probe.close()
        return None if end is None else self.to_seconds(end)

    def total_frames(self, duration: float) -> int:
        if self.stream.frames:
            return int(self.stream.frames)
        rate = self.stream.average_rate or self.stream.guessed_rate
        return int(round(duration * rate)) if rate else 0

    def _keyframe_before(self, pts: int) -> int | None:
        """pts of the keyframe a seek to `pts` lands on, read from the demux-only probe container."""
        if self.probe is None:
            self.probe = self._open()
        stream = self.probe.streams[self.stream.index]
        try:
            self.probe.seek(pts, stream=stream, backward=True, any_frame=False)
            for packet in self.probe.demux(stream):
                if packet.pts is not None:
                    return packet.pts
        except self.av.FFmpegError:
            return None
        return None

    def _seek(self, pts: int) -> None:
        try:
            self.container.seek(pts, stream=self.stream, backward=True, any_frame=False)
        except self.av.FFmpegError as exc:
            raise ValueError(f"{self.name}: cannot seek to {self.to_seconds(pts):.2f}s: {exc}") from exc
        self.seeks += 1
        self._frames = self.container.decode(self.stream)
        self._before = self._last = None
        self._eof = False

    def _next(self):
        """The next decoded frame with a timestamp, or None at the end of the stream."""
        if self._frames is None:
            self._frames = self.container.decode(self.stream)
        try:
            frame = next(self._frames)
        except StopIteration:
            self._eof = True
            return None
        except self.av.FFmpegError as exc:
            raise ValueError(f"{self.name}: corrupt video data: {exc}") from exc
        self.decoded += 1
        if frame.pts is None:
            raise _NoTimestamps
        return frame

    @staticmethod
    def _nearest(pts: int, before, after):
        if before is None:
            return after
        return before if pts - before.pts <= after.pts - pts else after

    def frame_at(self, seconds: float):
        """The decoded frame nearest to `seconds` (times must not decrease between calls)."""
        pts = self.to_pts(seconds)
        last = self._last
        if last is not None and (pts <= last.pts or self._eof):
            return self._at_end(seconds) if pts > last.pts else self._nearest(pts, self._before, last)
        if last is None or not self._continue_to(pts, last.pts):
            self._seek_before(pts)
            if self._last is not None and self._last.pts >= pts:
                return self._last
        while True:
            frame = self._next()
            if frame is None:
                if self._last is None:
                    raise ValueError(
                        f"{self.name}: truncated or corrupt: no decodable video frame at or after "
                        f"{seconds:.2f}s although the stream claims to be longer"
                    )
                return self._at_end(seconds)
            self._before, self._last = self._last, frame
            if frame.pts >= pts:
                return self._nearest(pts, self._before, frame)

    def _at_end(self, seconds: float):
        """The last frame, for a time past the end of the decodable stream."""
        gap = seconds - self.to_seconds(self._last.pts)
        if gap > 1.0:
            logger.warning("%s: video ends %.2fs before %.2fs; using its last frame", self.name, gap, seconds)
        return self._last

    def _continue_to(self, pts: int, last_pts: int) -> bool:
        keyframe = self._keyframe_before(pts)
        return keyframe is not None and keyframe <= last_pts

    def _seek_before(self, pts: int) -> None:
        """Seek so that decoding starts at or before `pts`; falls back to earlier targets if a demuxer
        lands past it (formats without a precise index)."""
        back = 0.0
        while True:
            target = max(self.start, pts - int(round(back / self.time_base)))
            self._seek(target)
            frame = self._next()
            if frame is None or frame.pts <= pts or target == self.start:
                self._before, self._last = None, frame
                return
            back = max(1.0, 2 * back)

    def to_array(self, frame, size: tuple[int, int] | None) -> np.ndarray:
        """RGB (h, w, 3) uint8, resized to `size` (w, h) when given, rotated as a player would show it."""
        kwargs = {"width": size[0], "height": size[1]} if size else {}
        image = frame.to_ndarray(format="rgb24", **kwargs)
        quarter_turns = int(round(getattr(frame, "rotation", 0) / 90)) % 4
        return np.ascontiguousarray(np.rot90(image, quarter_turns)) if quarter_turns else image


def load_video_frames(source: Any, num_frames: int = 8, *, fps: float = 25.0) -> VideoFrames:
    """Sample `num_frames` frames uniformly over a video's duration.

    source: a path or the bytes of a video file (decoded with PyAV), or already-decoded frames: a list
        of PIL images, a (t, h, w, 3) uint8 array, or a `VideoFrames` (which is re-sampled).
    num_frames: how many frames to return.
    fps: the frame rate that gives already-decoded frames their timestamps (also used for a stream
        that has neither timestamps nor a frame rate).

    Frame i is the one nearest to time (i + 0.5) * duration / num_frames, the centre of the i-th of
    `num_frames` equal segments. Files are read by seeking to the keyframe before each target time
    and decoding forward from there (see `_FrameSeeker`), not by decoding the whole file; `stats`
    tells how many frames were decoded. Already-decoded frames, and raw streams without timestamps
    (such as `.h264`, decoded once), take index floor((i + 0.5) * t / num_frames) instead. A clip
    with fewer frames than `num_frames` gives some frames more than once (with equal timestamps).
    Frames carrying a display rotation are turned upright.

    Returns a `VideoFrames` with frames (num_frames, h, w, 3) uint8 RGB. Raises ValueError naming the
    source for a missing, empty, corrupt or truncated file, a file without a video stream, and an
    unsupported type.
    """
    if isinstance(num_frames, bool) or not isinstance(num_frames, int) or num_frames < 1:
        raise ValueError(f"num_frames must be a positive int, got {num_frames!r}")
    if not is_file_source(source):
        if isinstance(source, (np.ndarray, Image.Image, VideoFrames, list, tuple)):
            return _frames_from_arrays(source, num_frames, fps)
        raise ValueError(
            f"unsupported video source of type {type(source).__name__}: expected a path, bytes, a list of "
            "PIL images, a (t, h, w, 3) uint8 array or VideoFrames"
        )
    open_container, name = open_media(source)
    seeker = _FrameSeeker(open_container, name)
    try:
        duration = seeker.duration()
        if not duration or duration <= 0:
            raise _NoTimestamps
        times = (np.arange(num_frames) + 0.5) * duration / num_frames
        chosen = [seeker.frame_at(t) for t in times]
        size = (chosen[0].width, chosen[0].height)
        arrays = [seeker.to_array(f, None if (f.width, f.height) == size else size) for f in chosen]
        timestamps = np.array([seeker.to_seconds(f.pts) for f in chosen], dtype=np.float64)
        stats = {"decoded": seeker.decoded, "seeks": seeker.seeks, "total_frames": seeker.total_frames(duration)}
    except _NoTimestamps:
        logger.debug("%s: no timestamps, sampling frames by index", name)
        return _sample_sequentially(open_container, name, num_frames, fps)
    finally:
        seeker.close()
    logger.debug("%s: sampled %d frames, decoded %d (%s)", name, num_frames, stats["decoded"], stats)
    return VideoFrames(frames=np.stack(arrays), timestamps=timestamps, source=name, duration=duration, stats=stats)


__all__ = ["VideoFrames", "load_video_frames", "segment_centres"]
