"""One window of a long video, decoded by seeking: its frames at the window's segment centres and its audio samples.

    reader = WindowReader(info, num_frames=8)
    media = reader.read(12.0, 16.0)   # WindowMedia: frames (8, h, w, 3) uint8, audio ((n,) float32, rate) or None

Each call opens the file afresh, seeks to the keyframe before the window (frames: `video_nanoemox`'s seeker, the
one the processor uses) and decodes only as far as the window's end, so memory does not depend on the video's
length and a corrupt stretch spoils only the windows that touch it: their `read` raises ValueError naming the file,
the window and the decoder's complaint, and the next window starts clean.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import av
import numpy as np

from nanoemox.modeling.container_nanoemox import open_media
from nanoemox.modeling.video_nanoemox import _FrameSeeker

from .windows import MediaInfo

logger = logging.getLogger(__name__)


@dataclass
class WindowMedia:
    """A window's frames (t, h, w, 3) uint8 RGB at the centres of t equal segments, and its audio: mono float32
    samples at the track's own rate (None: the video has no audio track)."""

    frames: np.ndarray
    audio: tuple[np.ndarray, int] | None


class WindowReader:
    """Reads windows of one file (see the module docstring); `info` comes from `windows.probe_media`."""

    def __init__(self, info: MediaInfo, num_frames: int = 8):
        self.info = info
        self.num_frames = num_frames
        self._open, self.name = open_media(info.path)

    def read(self, start: float, end: float) -> WindowMedia:
        where = f"{self.name} [{start:.2f}-{end:.2f} s]"
        try:
            frames = self._frames(start, end)
            audio = self._audio(start, end) if self.info.has_audio else None
        except av.FFmpegError as exc:  # the seeker turns decoder errors into ValueError; demuxing may still raise
            raise ValueError(f"{where}: corrupt media data: {exc}") from exc
        except ValueError as exc:
            raise ValueError(f"{where}: {str(exc).removeprefix(self.name + ': ')}") from exc
        return WindowMedia(frames=frames, audio=audio)

    def _frames(self, start: float, end: float) -> np.ndarray:
        seeker = _FrameSeeker(self._open, self.name)
        try:
            times = start + (np.arange(self.num_frames) + 0.5) * (end - start) / self.num_frames
            chosen = [seeker.frame_at(float(t)) for t in times]
            size = (chosen[0].width, chosen[0].height)
            return np.stack([seeker.to_array(f, None if (f.width, f.height) == size else size) for f in chosen])
        finally:
            seeker.close()

    def _audio(self, start: float, end: float) -> tuple[np.ndarray, int]:
        """Mono samples of [start, end) at the track's rate; stretches without decoded audio are zeros. A packet
        that cannot be decoded is a ValueError (the window is unreadable, not silently quieter)."""
        rate = self.info.audio_rate
        out = np.zeros(int(round((end - start) * rate)), np.float32)
        container = self._open()
        try:
            stream = container.streams.audio[0]
            container.seek(max(0, int((start - 0.5) / stream.time_base)), stream=stream, backward=True)
            resampler = av.AudioResampler(format="fltp", layout=None, rate=rate)
            for packet in container.demux(stream):
                if packet.pts is not None and float(packet.pts * packet.time_base) >= end:
                    break
                try:
                    frames = packet.decode()
                except av.FFmpegError as exc:
                    time = float(packet.pts * packet.time_base) if packet.pts is not None else start
                    if time < start:
                        continue  # a packet the seek landed on before the window: at most a few ms of its audio
                    raise ValueError(f"corrupt audio data at {time:.2f} s: {exc}") from exc
                for frame in frames:
                    if frame.pts is None:
                        continue
                    samples = np.concatenate([o.to_ndarray() for o in resampler.resample(frame)], axis=1).mean(axis=0)
                    first = int(round((float(frame.pts * frame.time_base) - start) * rate))
                    lo, hi = max(first, 0), min(first + len(samples), len(out))
                    if hi > lo:
                        out[lo:hi] = samples[lo - first : hi - first]
        finally:
            container.close()
        return out, rate


__all__ = ["WindowMedia", "WindowReader"]
