"""Where a long video's windows go: its length and tracks, its loudness, and windows snapped to speech pauses.

    info = probe_media("talk.mp4")                      # MediaInfo: duration, video / audio track, sample rate
    loud = loudness(info)                               # dBFS RMS per 50 ms hop, one streaming pass over the audio
    spans = plan_windows(info.duration, window=4, stride=2, pauses=loud.pause_times(-50.0))
    # [(0.0, 4.0), (2.05, 5.95), (3.95, 8.0), ...]   edges moved (at most `snap` s) into the nearest pause

Silence is measured as `audio_nanoemox.cut_audio_clips` measures it: the RMS of the samples in dBFS (full scale
1.0) against the processor's `silence_db` (-50 by default). A hop below it belongs to a pause when the run of quiet
hops lasts at least `min_pause` seconds. The loudness pass decodes the audio once, packet by packet, keeping one
float per hop (12,000 for ten minutes), never the waveform; a packet that cannot be decoded leaves its hops unknown
(NaN), which never count as a pause.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import av
import numpy as np

from nanoemox.modeling.container_nanoemox import open_media, stream_kinds, video_stream
from nanoemox.modeling.video_nanoemox import _FrameSeeker

logger = logging.getLogger(__name__)

HOP_SECONDS = 0.05


@dataclass(frozen=True)
class MediaInfo:
    """What the timeline needs to know about a file before reading it: its name, length in seconds, whether it has
    a video and an audio track, and the audio's sample rate."""

    path: str
    duration: float
    has_audio: bool
    audio_rate: int | None = None


def probe_media(path: str) -> MediaInfo:
    """Open `path` and read its header (or, for a file whose header has no duration, such as a browser's webm
    recording, its packets' timestamps). Raises ValueError naming the file when it cannot be read, has no video
    track, or has no timestamps (a raw stream cannot be cut into windows)."""
    open_container, name = open_media(path)
    container = open_container()
    try:
        if video_stream(container) is None:
            kinds = stream_kinds(container)
            raise ValueError(f"{name}: has no video stream (streams: {kinds}); a timeline needs a video")
        seeker = _FrameSeeker(open_container, name)  # the processor's reading of a video's length
        try:
            duration = seeker.duration()
        finally:
            seeker.close()
        if not duration or duration <= 0 or container.format.name in ("h264", "hevc", "mjpeg"):
            raise ValueError(
                f"{name}: the video has no timestamps or duration ({container.format.name}), so it cannot be cut "
                "into windows; put it in a container first (ffmpeg -i IN -c copy OUT.mp4)"
            )
        audio = container.streams.audio[0] if container.streams.audio else None
        return MediaInfo(name, duration, audio is not None, int(audio.rate) if audio is not None else None)
    finally:
        container.close()


@dataclass
class Loudness:
    """dBFS RMS per hop of `hop` seconds from the start of the video (NaN: no decodable audio in that hop)."""

    db: np.ndarray
    hop: float
    bad_packets: int = 0

    def pause_times(self, silence_db: float, min_pause: float = 0.1) -> np.ndarray:
        """Centres (seconds, increasing) of the hops quieter than `silence_db` that lie in a run of quiet hops lasting
        at least `min_pause` seconds: the places where a window edge may go."""
        quiet = np.nan_to_num(self.db, nan=np.inf) < silence_db
        keep = np.zeros_like(quiet)
        need = max(1, int(math.ceil(min_pause / self.hop - 1e-9)))
        start = None
        for i, q in enumerate([*quiet, False]):
            if q and start is None:
                start = i
            elif not q and start is not None:
                if i - start >= need:
                    keep[start:i] = True
                start = None
        return (np.flatnonzero(keep) + 0.5) * self.hop

    def silent(self, silence_db: float) -> bool:
        """Whether every hop with decodable audio is quieter than `silence_db`."""
        known = self.db[~np.isnan(self.db)]
        return bool(len(known)) and bool((known < silence_db).all())


def loudness(info: MediaInfo, hop: float = HOP_SECONDS) -> Loudness | None:
    """The RMS loudness of `info`'s audio track per `hop` seconds (None: the file has no audio track), in one
    streaming pass; channels are averaged, as `load_audio` does."""
    if not info.has_audio:
        return None
    hops = int(math.ceil(info.duration / hop)) + 1
    sums = np.zeros(hops, np.float64)
    counts = np.zeros(hops, np.int64)
    open_container, _ = open_media(info.path)
    container = open_container()
    bad = 0
    try:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="fltp", layout=None, rate=None)
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.FFmpegError:
                bad += 1
                continue
            for frame in frames:
                if frame.pts is None:
                    continue
                start = float(frame.pts * frame.time_base)
                samples = np.concatenate([out.to_ndarray() for out in resampler.resample(frame)], axis=1).mean(axis=0)
                times = start + np.arange(len(samples)) / frame.sample_rate
                index = np.floor(times / hop).astype(np.int64)
                ok = (index >= 0) & (index < hops)
                sums += np.bincount(index[ok], weights=np.square(samples[ok], dtype=np.float64), minlength=hops)
                counts += np.bincount(index[ok], minlength=hops)
    finally:
        container.close()
    with np.errstate(divide="ignore", invalid="ignore"):
        db = 10 * np.log10(sums / counts)
    db[counts == 0] = np.nan
    db[(counts > 0) & (sums == 0)] = -np.inf
    if bad:
        logger.warning("%s: %d audio packets could not be decoded (their loudness is unknown)", info.path, bad)
    return Loudness(db=db, hop=hop, bad_packets=bad)


def check_window(duration: float, window: float, stride: float, name: str = "the video") -> None:
    """ValueError with the fix when `window` / `stride` cannot cut a video of `duration` seconds."""
    if not (window > 0 and math.isfinite(window)):
        raise ValueError(f"--window must be a positive number of seconds, got {window!r}")
    if not (stride > 0 and math.isfinite(stride)):
        raise ValueError(f"--stride must be a positive number of seconds, got {stride!r}")
    if stride > window:
        raise ValueError(f"--stride {stride:g} s is longer than --window {window:g} s: the windows would leave holes")
    if window > duration + 1e-6:
        raise ValueError(
            f"{name} lasts {duration:.2f} s, shorter than one window of {window:g} s: give --window {duration:.1f} "
            "or less, or answer the whole clip at once with `nanoemox predict`"
        )


def _snap(points: np.ndarray, pauses: np.ndarray, tolerance: float, hop: float = HOP_SECONDS) -> np.ndarray:
    """Each point moved to the nearest pause time within `tolerance` (the earlier one on a tie), else left alone; a
    point already in a pause (within half a hop of a pause time) stays. A monotone map: increasing points stay
    non-decreasing."""
    if len(pauses) == 0 or tolerance <= 0:
        return points.copy()
    right = np.clip(np.searchsorted(pauses, points), 0, len(pauses) - 1)
    left = np.clip(right - 1, 0, len(pauses) - 1)
    near_left, near_right = pauses[left], pauses[right]
    nearest = np.where(np.abs(points - near_left) <= np.abs(near_right - points), near_left, near_right)
    distance = np.abs(nearest - points)
    return np.where((distance <= tolerance) & (distance > hop / 2), nearest, points)


def plan_windows(
    duration: float,
    window: float = 4.0,
    stride: float = 2.0,
    *,
    pauses: np.ndarray | None = None,
    snap: float = 1.0,
) -> list[tuple[float, float]]:
    """Windows (start, end) in seconds covering [0, duration], in order.

    Nominal windows start every `stride` seconds and last `window`; the last one is moved back to end at the end
    of the video. Inner edges then move to the nearest `pauses` time within `snap` seconds (at most a quarter of
    the window and half the stride, so no window shrinks below half its length and starts stay in order); the first
    window still starts at 0 and the last ends at `duration`. Consecutive windows overlap or touch, never gap.
    """
    check_window(duration, window, stride)
    count = max(1, int(math.floor((duration - window) / stride + 1e-9)) + 1)
    starts = np.arange(count) * stride
    if starts[-1] + window < duration - 1e-6:
        starts = np.append(starts, duration - window)
    ends = np.minimum(starts + window, duration)
    if pauses is not None and len(pauses):
        tolerance = min(snap, window / 4, stride / 2)
        pauses = np.asarray(pauses, dtype=np.float64)
        starts = np.concatenate([[0.0], _snap(starts[1:], pauses, tolerance)])
        ends = np.concatenate([_snap(ends[:-1], pauses, tolerance), [duration]])
    spans = [(round(float(s), 3), round(float(e), 3)) for s, e in zip(starts, ends)]
    return [span for i, span in enumerate(spans) if i == 0 or span != spans[i - 1]]


__all__ = ["HOP_SECONDS", "Loudness", "MediaInfo", "check_window", "loudness", "plan_windows", "probe_media"]
