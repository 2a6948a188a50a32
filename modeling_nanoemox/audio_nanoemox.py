"""Audio: a mono 16 kHz waveform from a file, bytes or samples, band-limited resampling, and 8 x 2 s clips.

    audio = load_audio("clip.mp4")                      # 16 kHz mono `Audio`, or None: the video has no audio track
    clips, clip_mask = cut_audio_clips(audio.waveform)  # (8, 32000) float32, (8,) bool (False: silent or past the end)

Shapes: n samples, k clips, L samples per clip. Every unreadable input raises `ValueError` naming the source.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .container_nanoemox import is_file_source, open_media, stream_kinds, video_stream
from .requirements_nanoemox import require

logger = logging.getLogger(__name__)


@dataclass
class Audio:
    """A mono waveform: (n,) float32 in [-1, 1] at `sampling_rate` Hz, and where it came from."""

    waveform: np.ndarray
    sampling_rate: int
    source: str

    @property
    def duration(self) -> float:
        return len(self.waveform) / self.sampling_rate


def _check_rate(rate: Any, what: str) -> int:
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or rate <= 0:
        raise ValueError(f"{what} must be a positive int, got {rate!r} ({type(rate).__name__})")
    return int(rate)


def _mono_float(array: Any, name: str) -> np.ndarray:
    """(n,) float32 from a 1-D array or a 2-D one with channels on its shorter axis; ints are scaled."""
    if isinstance(array, torch.Tensor):
        array = array.detach().cpu().numpy()
    if not isinstance(array, np.ndarray):
        raise ValueError(f"{name}: expected a numpy array or torch tensor of samples, got {type(array).__name__}")
    if array.dtype.kind == "i":
        array = array.astype(np.float32) / float(2 ** (8 * array.dtype.itemsize - 1))
    elif array.dtype.kind == "u":
        half = float(2 ** (8 * array.dtype.itemsize - 1))
        array = (array.astype(np.float32) - half) / half
    elif array.dtype.kind != "f":
        raise ValueError(f"{name}: expected numeric samples, got dtype {array.dtype}")
    if array.ndim == 2:
        if min(array.shape) > 16:
            raise ValueError(f"{name}: cannot tell channels from samples in shape {array.shape}")
        array = array.mean(axis=int(np.argmin(array.shape)))
    if array.ndim != 1:
        raise ValueError(f"{name}: expected samples of shape (n,) or (channels, n), got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name}: the samples contain NaN or infinity")
    return np.ascontiguousarray(array, dtype=np.float32)


_RESAMPLE_ZEROS = 16  # half-width of the windowed-sinc filter, in zero crossings of the lower rate
_RESAMPLE_ROLLOFF = 0.95  # cut-off as a fraction of the lower Nyquist frequency
_RESAMPLE_BETA = 8.6  # Kaiser window shape (about 80 dB stop-band)
_MAX_KERNEL = 1 << 22  # polyphase kernel entries; rarer rate pairs use direct evaluation


def _sinc_weights(offsets: torch.Tensor, cutoff: float) -> torch.Tensor:
    """Kaiser-windowed sinc low-pass, `cutoff` a fraction of the input Nyquist, at `offsets` in input samples."""
    x = (offsets * cutoff).clamp(-_RESAMPLE_ZEROS, _RESAMPLE_ZEROS)
    window = torch.i0(_RESAMPLE_BETA * torch.sqrt((1 - (x / _RESAMPLE_ZEROS) ** 2).clamp(min=0))) / torch.i0(
        torch.tensor(_RESAMPLE_BETA, dtype=offsets.dtype)
    )
    return torch.special.sinc(x) * window * cutoff


def resample_audio(waveform: np.ndarray, orig_rate: int, new_rate: int) -> np.ndarray:
    """Band-limited resampling of a mono (n,) float waveform: (n,) -> (ceil(n * new_rate / orig_rate),).

    Windowed-sinc interpolation (Kaiser window, 16 zero crossings, cut-off at 95 % of the lower
    Nyquist frequency, so downsampling does not alias). The rate ratio is reduced to p/q; when the
    p x (taps + q) polyphase kernel is small (every common rate pair) it runs as one strided conv1d,
    otherwise the filter is evaluated per output sample in chunks.
    """
    orig_rate, new_rate = _check_rate(orig_rate, "orig_rate"), _check_rate(new_rate, "new_rate")
    waveform = np.asarray(waveform, dtype=np.float32)
    if waveform.ndim != 1:
        raise ValueError(f"resample_audio expects a mono waveform (n,), got shape {waveform.shape}")
    if orig_rate == new_rate or len(waveform) == 0:
        return waveform.copy()
    gcd = math.gcd(orig_rate, new_rate)
    q, p = orig_rate // gcd, new_rate // gcd  # q input samples become p output samples
    cutoff = _RESAMPLE_ROLLOFF * min(1.0, new_rate / orig_rate)  # as a fraction of the input Nyquist
    half = int(math.ceil(_RESAMPLE_ZEROS / cutoff))  # filter half-width in input samples
    n_in = len(waveform)
    n_out = int(math.ceil(n_in * new_rate / orig_rate))
    x = torch.from_numpy(waveform)
    if p * (2 * half + q) <= _MAX_KERNEL:
        # Output j*p + r sits at input position j*q + r*q/p: kernel r covers inputs j*q - half ... j*q + half + q.
        taps = torch.arange(-half, half + q, dtype=torch.float64)
        kernel = _sinc_weights(taps[None, :] - torch.arange(p, dtype=torch.float64)[:, None] * q / p, cutoff).float()
        padded = torch.nn.functional.pad(x[None, None], (half, half + q))
        out = torch.nn.functional.conv1d(padded, kernel[:, None, :], stride=q)  # (1, p, blocks)
        y = out[0].transpose(0, 1).reshape(-1)[:n_out]
    else:
        y = torch.empty(n_out, dtype=torch.float32)
        padded = torch.nn.functional.pad(x, (half, half + 1))
        taps = torch.arange(-half, half + 1)
        for start in range(0, n_out, 8192):
            pos = torch.arange(start, min(start + 8192, n_out), dtype=torch.float64) * orig_rate / new_rate
            base = pos.floor().long()
            index = base[:, None] + taps[None, :]
            weights = _sinc_weights(index.double() - pos[:, None], cutoff)
            y[start : start + len(pos)] = (padded[index + half].double() * weights).sum(1).float()
    return y.numpy()


def _decode_audio(open_container: Callable[[], Any], name: str, rate: int, video_fallback: bool) -> Audio | None:
    av = require("av")
    container = open_container()
    try:
        if not container.streams.audio:
            if video_stream(container) is not None and video_fallback:
                logger.info("%s: the video has no audio track", name)
                return None
            raise ValueError(f"{name}: has no audio stream (streams: {stream_kinds(container)})")
        stream = container.streams.audio[0]
        declared = float(stream.duration * stream.time_base) if stream.duration else None
        # Keep the channels and average them ourselves: swresample's downmix adds channels at -3 dB,
        # which can clip, and averaging matches what `load_audio` does for arrays.
        resampler = av.AudioResampler(format="fltp", layout=None, rate=rate)
        chunks = []
        try:
            for frame in container.decode(stream):
                chunks.extend(out.to_ndarray().mean(axis=0) for out in resampler.resample(frame))
            chunks.extend(out.to_ndarray().mean(axis=0) for out in resampler.resample(None))
        except av.FFmpegError as exc:
            raise ValueError(f"{name}: corrupt audio data: {exc}") from exc
    finally:
        container.close()
    waveform = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    if len(waveform) == 0:
        raise ValueError(f"{name}: the audio stream holds no decodable samples (truncated or corrupt)")
    got = len(waveform) / rate
    if declared and got < declared - max(0.5, 0.1 * declared):
        raise ValueError(
            f"{name}: truncated or corrupt: decoded {got:.2f}s of audio, the stream declares {declared:.2f}s"
        )
    return Audio(waveform=waveform, sampling_rate=rate, source=name)


def load_audio(source: Any, *, sampling_rate: int = 16000, video_fallback: bool = True) -> Audio | None:
    """Load audio as a mono float32 waveform at `sampling_rate` (16 kHz, what HuBERT expects).

    source: a path or the bytes of an audio file or of a video file (its first audio track is used),
        decoded and resampled with PyAV (FFmpeg's swresample; channels are averaged); a
        `(samples, sampling_rate)` tuple with samples (n,) or (channels, n) / (n, channels) as a numpy
        array or torch tensor (ints are scaled to [-1, 1], channels averaged, resampled with
        `resample_audio`); or an `Audio`.
    video_fallback: a file with a video stream but no audio track returns None (the caller masks the
        audio branch) when True, and raises ValueError when False.

    Returns `Audio` with waveform (n,) float32. Raises ValueError naming the source for a missing,
    empty, corrupt or truncated file, a file with neither audio nor video, an unsupported type, and a
    sampling rate that is not a positive int.
    """
    sampling_rate = _check_rate(sampling_rate, "sampling_rate")
    if isinstance(source, Audio):
        source = (source.waveform, source.sampling_rate)
    if isinstance(source, tuple):
        if len(source) != 2:
            raise ValueError(f"an audio tuple must be (samples, sampling_rate), got {len(source)} items")
        samples, rate = source
        rate = _check_rate(rate, "the sampling rate of an audio array")
        waveform = _mono_float(samples, "<audio array>")
        waveform = resample_audio(waveform, rate, sampling_rate)
        return Audio(waveform=waveform, sampling_rate=sampling_rate, source="<audio array>")
    if isinstance(source, (np.ndarray, torch.Tensor)):
        raise ValueError("an audio array needs its sampling rate: pass (samples, sampling_rate)")
    if not is_file_source(source):
        raise ValueError(
            f"unsupported audio source of type {type(source).__name__}: expected a path, bytes, "
            "(samples, sampling_rate) or Audio"
        )
    open_container, name = open_media(source)
    return _decode_audio(open_container, name, sampling_rate, video_fallback)


def cut_audio_clips(
    waveform: np.ndarray | torch.Tensor | Audio,
    *,
    num_clips: int = 8,
    clip_seconds: float = 2.0,
    sampling_rate: int = 16000,
    silence_db: float = -50.0,
    min_seconds: float = 0.1,
) -> tuple[np.ndarray, np.ndarray]:
    """Cut a mono waveform (n,) into `num_clips` windows of `clip_seconds` (the authors' 8 x 2 s).

    waveform: (n,) samples (a (channels, n) array is averaged to mono), or an `Audio` at `sampling_rate`.

    Scheme, with L = round(clip_seconds * sampling_rate):
    - audio of at least num_clips * L samples: num_clips windows whose starts are evenly spaced from
      0 to n - L: the first starts at the beginning, the last ends at the end, and the windows sample
      the whole audio with gaps between them (never overlapping);
    - shorter audio: consecutive windows from the start; the window holding the end is zero-padded
      and windows wholly past the end are zeros.

    A window is masked (False) when it holds fewer than `min_seconds` of real audio or when the RMS
    of its real samples is below `silence_db` dBFS (20 log10 RMS, full scale = 1.0, so a full-scale
    sine is -3 dBFS). All-silent or empty audio gives an all-False mask.

    Returns clips (num_clips, L) float32 and mask (num_clips,) bool.
    """
    if isinstance(waveform, Audio):
        if waveform.sampling_rate != sampling_rate:
            raise ValueError(f"the audio is at {waveform.sampling_rate} Hz but sampling_rate={sampling_rate}")
        waveform = waveform.waveform
    sampling_rate = _check_rate(sampling_rate, "sampling_rate")
    if isinstance(num_clips, bool) or not isinstance(num_clips, int) or num_clips < 1:
        raise ValueError(f"num_clips must be a positive int, got {num_clips!r}")
    if not clip_seconds > 0:
        raise ValueError(f"clip_seconds must be positive, got {clip_seconds!r}")
    wave = _mono_float(waveform, "<waveform>")
    n, length = len(wave), int(round(clip_seconds * sampling_rate))
    if n >= num_clips * length:
        starts = np.round(np.linspace(0, n - length, num_clips)).astype(np.int64)
    else:
        starts = np.arange(num_clips, dtype=np.int64) * length
    clips = np.zeros((num_clips, length), dtype=np.float32)
    mask = np.zeros(num_clips, dtype=bool)
    threshold = 10 ** (silence_db / 20)
    for i, start in enumerate(starts):
        real = wave[start : start + length]
        clips[i, : len(real)] = real
        if len(real) >= max(1, min_seconds * sampling_rate):
            mask[i] = float(np.sqrt(np.mean(np.square(real, dtype=np.float64)))) >= threshold
    return clips, mask


__all__ = ["Audio", "cut_audio_clips", "load_audio", "resample_audio"]
