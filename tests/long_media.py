"""Long real clips for the timeline tests: the test media joined into one minute, repeated to ten, or damaged.

    from tests.long_media import joined_mp4, repeated_mp4, corrupt_stretch_mp4
    minute = joined_mp4(real_media, out_dir)                     # 60 s: talking, silence, no face, video only, ...
    ten = repeated_mp4(minute, out_dir, times=10)                # 10 min, packets copied (no re-encoding)
    broken = corrupt_stretch_mp4(minute, out_dir, 24.0, 32.0)    # the packets of 24-32 s overwritten with noise

Nothing is synthetic: every frame and sample comes from `tests/media.py`'s files (the astronaut and coffee
photographs, espeak-ng speech), decoded with PyAV, scaled to one size and encoded again as H.264 + AAC. A stretch
whose source has no audio track (no_face, video_only, long) is digital silence in the joined clip, as it would be
in an edit of those clips. The writer streams: no clip is ever held in memory whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

FPS = 25
SIZE = 320
RATE = 22050
# The joined minute, in order: (name in `build_real_media`, seconds taken from it; None: all of it).
JOIN_ORDER = (
    ("talking", None),
    ("silent", None),
    ("no_face", None),
    ("talking", None),
    ("video_only", None),
    ("long", None),
    ("talking", None),
    ("silent", None),
    ("talking", None),
    ("no_face", None),
    ("talking", None),
    ("long", None),
)


def _frames(path: Path) -> Iterator[np.ndarray]:
    """The clip's frames as (SIZE, SIZE, 3) uint8 RGB, in order."""
    with av.open(str(path)) as container:
        for frame in container.decode(container.streams.video[0]):
            yield frame.to_ndarray(format="rgb24", width=SIZE, height=SIZE)


def _audio(path: Path, seconds: float) -> np.ndarray:
    """The clip's audio track at RATE Hz mono, `seconds` long (zero-padded or cut); silence when it has none."""
    wanted = int(round(seconds * RATE))
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return np.zeros(wanted, np.float32)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        chunks = [
            out.to_ndarray().reshape(-1)
            for frame in container.decode(container.streams.audio[0])
            for out in resampler.resample(frame)
        ]
        chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    samples = np.concatenate(chunks).astype(np.float32)[:wanted]
    return np.pad(samples, (0, wanted - len(samples)))


def joined_mp4(media: dict[str, Path], out_dir: Path, *, seconds: float = 60.0, name: str = "minute.mp4") -> Path:
    """The clips of `JOIN_ORDER` one after another (repeated from the start of the list until `seconds` are filled),
    at SIZE x SIZE, 25 fps, with AAC mono audio; the last piece is cut so the clip lasts exactly `seconds`."""
    path = Path(out_dir) / name
    if path.exists():
        return path
    total = int(round(seconds * FPS))
    with av.open(str(path), "w", format="mp4") as container:
        video = container.add_stream("libx264", rate=FPS)
        video.width = video.height = SIZE
        video.pix_fmt = "yuv420p"
        video.options = {"preset": "ultrafast", "x264-params": "keyint=25:min-keyint=25:scenecut=0"}
        audio = container.add_stream("aac", rate=RATE, layout="mono")
        audio.bit_rate = 64000
        written = 0
        while written < total:
            for key, _ in JOIN_ORDER:
                if written >= total:
                    break
                source = media[key]
                count = 0
                for image in _frames(source):
                    if written + count >= total:
                        break
                    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
                    frame.pts = written + count
                    container.mux(video.encode(frame))
                    count += 1
                samples = _audio(source, count / FPS)
                frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="flt", layout="mono")
                frame.sample_rate = RATE
                frame.pts = int(round(written / FPS * RATE))
                frame.time_base = Fraction(1, RATE)
                container.mux(audio.encode(frame))
                written += count
        container.mux(video.encode(None))
        container.mux(audio.encode(None))
    return path


def repeated_mp4(source: Path, out_dir: Path, *, times: int, name: str | None = None) -> Path:
    """`source` played `times` times in a row, its packets copied with shifted timestamps (no re-encoding)."""
    path = Path(out_dir) / (name or f"{Path(source).stem}_x{times}.mp4")
    if path.exists():
        return path
    first, end = {}, {}  # per stream: the first dts, and the last dts + duration (AAC starts before 0)
    with av.open(str(source)) as probe:
        for packet in probe.demux():
            if packet.dts is not None:
                first.setdefault(packet.stream.index, packet.dts)
                end[packet.stream.index] = packet.dts + (packet.duration or 0)
    spans = {index: end[index] - first[index] for index in first}
    with av.open(str(path), "w", format="mp4") as out:
        with av.open(str(source)) as first:
            streams = {s.index: out.add_stream_from_template(s) for s in first.streams}
        for round_ in range(times):
            with av.open(str(source)) as container:
                for packet in container.demux():
                    if packet.dts is None:  # the demuxer's flush packets
                        continue
                    shift = round_ * spans[packet.stream.index]
                    packet.pts += shift
                    packet.dts += shift
                    packet.stream = streams[packet.stream.index]
                    out.mux(packet)
    return path


def corrupt_stretch_mp4(
    source: Path, out_dir: Path, start: float, end: float, *, name: str = "corrupt_stretch.mp4"
) -> Path:
    """`source` with the payload of every packet (video and audio) timed in [start, end) seconds overwritten with
    random bytes: the container and its index stay intact, the media in that stretch cannot be decoded."""
    path = Path(out_dir) / name
    if path.exists():
        return path
    data = bytearray(Path(source).read_bytes())
    rng = np.random.default_rng(0)
    with av.open(str(source)) as container:
        for packet in container.demux():
            if packet.pts is None or packet.pos is None or packet.pos < 0:
                continue
            time = float(packet.pts * packet.time_base)
            if start <= time < end:
                noise = rng.integers(0, 256, packet.size, dtype=np.uint8)
                data[packet.pos : packet.pos + packet.size] = noise.tobytes()
    path.write_bytes(bytes(data))
    return path
