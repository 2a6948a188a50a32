"""Tests of the media layer on real files: the astronaut photograph as H.264 video, espeak-ng speech as
AAC audio, and broken files (see `tests/media.py`)."""

from __future__ import annotations

import json
import sys

import av
import numpy as np
import pytest
import torch
from PIL import Image

from nanoemox.modeling import faces_nanoemox
from nanoemox.modeling.audio_nanoemox import Audio, cut_audio_clips, load_audio, resample_audio
from nanoemox.modeling.faces_nanoemox import (
    FACE_DETECTORS,
    Box,
    box_iou,
    boxes_from_track,
    crop_faces,
    detect_faces,
    get_face_crops,
    prepare_face_crops,
    select_face_track,
    track_face,
)
from nanoemox.modeling.video_nanoemox import VideoFrames, load_video_frames
from tests.optional import require, require_module

try:
    from tests import media
except ImportError:  # tests/ is not a package: pytest puts tests/ itself on sys.path
    import media


def decode_all(path) -> dict[float, np.ndarray]:
    """Every frame of a file by plain sequential decoding: time in seconds -> RGB array."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return {float(f.pts * stream.time_base): f.to_ndarray(format="rgb24") for f in container.decode(stream)}


def dbfs(x: np.ndarray) -> float:
    return 20 * np.log10(np.sqrt(np.mean(np.square(x, dtype=np.float64))) + 1e-12)


def fft_peak(y: np.ndarray, rate: int) -> tuple[float, float]:
    """(frequency of the largest spectral peak, its amplitude) with a Hann window."""
    window = np.hanning(len(y))
    spectrum = np.abs(np.fft.rfft(y * window))
    k = int(np.argmax(spectrum))
    return float(np.fft.rfftfreq(len(y), 1 / rate)[k]), float(spectrum[k] / (window.sum() / 2))


# ----------------------------------------------------------------------------------------------
# Video frames
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["video_only", "long"])
def test_frames_are_spread_over_the_clip(real_media, name):
    video = load_video_frames(real_media[name], num_frames=8)
    assert isinstance(video, VideoFrames) and video.source == str(real_media[name])
    assert video.frames.dtype == np.uint8 and video.frames.shape[0] == 8 and video.frames.shape[-1] == 3
    step = video.duration / 8
    assert np.all(np.diff(video.timestamps) > 0)
    assert video.timestamps[0] < step and video.timestamps[-1] > video.duration - step
    # Frame i is the frame nearest to the centre of the i-th eighth of the clip.
    np.testing.assert_allclose(video.timestamps, (np.arange(8) + 0.5) * step, atol=1 / media.FPS)
    # The pan moves the picture, so the sampled frames differ.
    assert all(np.abs(a.astype(int) - b).mean() > 1 for a, b in zip(video.frames[:-1], video.frames[1:], strict=True))


@pytest.mark.parametrize("name", ["long", "long_one_gop", "video_only"])
def test_seeked_frames_equal_a_full_decode(real_media, name):
    video = load_video_frames(real_media[name], num_frames=8)
    reference = decode_all(real_media[name])
    times = np.array(sorted(reference))
    targets = (np.arange(8) + 0.5) * video.duration / 8
    for frame, t, target in zip(video.frames, video.timestamps, targets, strict=True):
        assert t == times[np.argmin(np.abs(times - target))]  # the nearest frame to the target time
        np.testing.assert_array_equal(frame, reference[t])


def test_frames_are_seeked_not_all_decoded(real_media):
    video = load_video_frames(real_media["long"], num_frames=8)  # 500 frames, a keyframe every 25
    assert video.stats["total_frames"] == 500
    assert video.stats["seeks"] >= 4
    assert video.stats["decoded"] <= 8 * 25 < 500 // 2
    # With one keyframe a seek per target would decode from the start eight times; decoding goes on instead.
    single = load_video_frames(real_media["long_one_gop"], num_frames=8)
    assert single.stats["seeks"] == 1 and single.stats["decoded"] <= 500


def test_short_clip_repeats_frames(real_media):
    video = load_video_frames(real_media["video_only"], num_frames=100)  # the clip has 75 frames
    assert video.frames.shape[0] == 100 and video.stats["total_frames"] == 75
    assert np.all(np.diff(video.timestamps) >= 0)
    assert len(np.unique(video.timestamps)) == 75  # every frame used, some twice
    assert video.stats["decoded"] <= 75 + 2


def test_raw_stream_without_timestamps_is_sampled_by_index(real_media):
    video = load_video_frames(real_media["raw_h264"], num_frames=8)  # 100 frames, no pts, cannot seek
    assert video.frames.shape == (8, 128, 128, 3) and video.stats["total_frames"] == 100
    np.testing.assert_allclose(video.timestamps, np.floor((np.arange(8) + 0.5) * 100 / 8) / media.FPS)
    assert video.stats["seeks"] == 0 and video.stats["decoded"] < 100


def test_bytes_and_decoded_frames(speech_media):
    from_file = load_video_frames(speech_media["talking"], num_frames=4)
    from_bytes = load_video_frames(speech_media["talking"].read_bytes(), num_frames=4)
    assert from_bytes.source.startswith("<") and from_bytes.source.endswith("bytes>")
    np.testing.assert_array_equal(from_file.frames, from_bytes.frames)
    np.testing.assert_array_equal(from_file.timestamps, from_bytes.timestamps)

    array = np.stack([np.full((6, 5, 3), i, np.uint8) for i in range(10)])
    video = load_video_frames(array, num_frames=4, fps=10.0)
    assert video.frames[:, 0, 0, 0].tolist() == [1, 3, 6, 8]  # floor((i + 0.5) * 10 / 4)
    np.testing.assert_allclose(video.timestamps, [0.1, 0.3, 0.6, 0.8])
    video = load_video_frames([Image.fromarray(a) for a in array[:3]], num_frames=6)
    assert video.frames[:, 0, 0, 0].tolist() == [0, 0, 1, 1, 2, 2]
    again = load_video_frames(from_file, num_frames=2)
    np.testing.assert_array_equal(again.frames, from_file.frames[[1, 3]])


def test_rotated_video_is_turned_upright(real_media):
    require("rotated" in real_media, "ffmpeg is not installed (apt-get install ffmpeg): no rotated file to test with")
    upright = load_video_frames(real_media["video_only"], num_frames=3)
    turned = load_video_frames(real_media["rotated"], num_frames=3)
    np.testing.assert_array_equal(turned.frames, np.rot90(upright.frames, 1, axes=(1, 2)))


@pytest.mark.parametrize(
    "name, reason",
    [
        ("truncated_video_only", "not a readable media file"),  # index (moov) was in the lost half
        ("random", "not a readable media file"),
        ("empty", "empty"),
    ],
)
def test_broken_video_files_raise(real_media, name, reason):
    with pytest.raises(ValueError, match=reason) as info:
        load_video_frames(real_media[name])
    assert str(real_media[name]) in str(info.value)
    with pytest.raises(ValueError, match=str(real_media[name])):
        load_audio(real_media[name])


def test_truncated_file_with_index_in_front_raises(speech_media):
    path = speech_media["truncated"]  # opens fine, the second half of the data is gone
    with pytest.raises(ValueError, match="truncated") as info:
        load_video_frames(path)
    assert str(path) in str(info.value)
    with pytest.raises(ValueError, match="truncated") as info:
        load_audio(path)
    assert str(path) in str(info.value)


def test_other_bad_video_sources(real_media, speech_media, tmp_path):
    with pytest.raises(ValueError, match="no video stream") as info:
        load_video_frames(speech_media["speech_wav"])
    assert str(speech_media["speech_wav"]) in str(info.value)
    with pytest.raises(ValueError, match="no such file"):
        load_video_frames(tmp_path / "missing.mp4")
    with pytest.raises(ValueError, match="not a regular file"):
        load_video_frames(tmp_path)
    with pytest.raises(ValueError, match="unsupported video source of type int"):
        load_video_frames(3)
    with pytest.raises(ValueError, match="empty"):
        load_video_frames(b"")
    with pytest.raises(ValueError, match="uint8"):
        load_video_frames(np.zeros((2, 4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="num_frames"):
        load_video_frames(real_media["video_only"], num_frames=0)


# ----------------------------------------------------------------------------------------------
# Faces
# ----------------------------------------------------------------------------------------------


def astronaut_clip(real_media, name):
    """(path, per-time face box function) of an astronaut clip; the talking one needs espeak-ng."""
    if name == "talking":
        require("talking" in real_media, "espeak-ng is not installed (apt-get install espeak-ng): no talking clip")
        return real_media[name], lambda t: Box(*media.talking_face_box(real_media[name].parent, t))
    return real_media[name], lambda t: Box(*media.astronaut_face_box(t, num_frames=75))


@pytest.mark.parametrize("name", ["talking", "video_only"])
def test_haar_cascade_finds_the_astronaut_and_keeps_one_track(real_media, name):
    path, face_at = astronaut_clip(real_media, name)
    video = load_video_frames(path, num_frames=8)
    detections = detect_faces(video)
    assert all(len(d) >= 1 for d in detections)
    track = select_face_track(detections, video.frames.shape[1:3])
    truth = [face_at(t) for t in video.timestamps]
    assert all(box is not None and box_iou(box, true) > 0.7 for box, true in zip(track, truth, strict=True))
    # One face followed through the clip.
    assert all(box_iou(a, b) > 0.7 for a, b in zip(track[:-1], track[1:], strict=True))


@pytest.mark.parametrize("name", ["talking", "video_only"])
def test_crops_show_the_face(real_media, name):
    path, face_at = astronaut_clip(real_media, name)
    video = load_video_frames(path, num_frames=8)
    crops, mask = get_face_crops(video, size=160)
    assert crops.shape == (8, 160, 160, 3) and crops.dtype == np.uint8 and mask.all()
    # A face fills the middle of each crop: the cascade finds it again there, large.
    for crop in crops:
        found = detect_faces(crop[None])[0]
        assert found, "no face in the crop"
        big = max(found, key=lambda b: b.area)
        assert big.width > 0.4 * 160 and abs(big.center[0] - 80) < 25
    # And the crops match crops made from the known face position in the photograph.
    expected, _ = crop_faces(video, [face_at(t) for t in video.timestamps], size=160)
    assert np.abs(crops.astype(int) - expected).mean() < 12
    assert np.abs(crops.astype(int) - crops[:, ::-1]).mean() > 12  # ...which a mirrored crop would not


@pytest.mark.parametrize("detector", FACE_DETECTORS)
def test_face_track_detects_on_anchor_frames_and_tracks_between(real_media, detector, monkeypatch):
    if detector == "hog":
        require_module("dlib", 'the HOG detector: pip install "nanoemox[hog]"')
    path, face_at = astronaut_clip(real_media, "video_only")
    video = load_video_frames(path, num_frames=8)
    searched = []
    real = faces_nanoemox._detect_in

    def counted(frame, detector, *, region=None, **kwargs):
        searched.append(region)
        return real(frame, detector, region=region, **kwargs)

    monkeypatch.setattr(faces_nanoemox, "_detect_in", counted)
    track = track_face(video.frames, detector=detector, anchor_frames=2)
    # the astronaut is found in every frame, where the footage put her face
    for box, t in zip(track, video.timestamps, strict=True):
        assert box is not None and box_iou(box, face_at(t)) > 0.6
    whole = [r for r in searched if r is None]
    if detector == "haar":  # two whole-frame searches (first and last frame), six windows around the track
        assert len(whole) == 2 and len(searched) == 8
        assert all(
            (r[2] - r[0]) * (r[3] - r[1]) < 0.6 * video.frames.shape[1] * video.frames.shape[2] for r in searched if r
        )
    else:  # HOG searches every whole frame: as fast as a Haar window
        assert len(whole) == 8 == len(searched)


def test_face_track_searches_every_frame_when_the_anchors_see_no_face(real_media):
    with_face = load_video_frames(real_media["video_only"], num_frames=8).frames
    without = load_video_frames(real_media["no_face"], num_frames=8).frames
    # a face only in the middle of the clip: the first and last frames are of a coffee cup (same size)
    cup = np.asarray(Image.fromarray(without[0]).resize(with_face.shape[2:0:-1]))
    frames = np.stack([cup, *with_face[2:6], cup])
    track = track_face(frames, anchor_frames=2)
    assert track[0] is None and track[-1] is None
    assert all(box is not None for box in track[1:-1])


def test_no_face_video_gives_masked_zero_crops(real_media):
    video = load_video_frames(real_media["no_face"], num_frames=8)
    assert all(d == [] for d in detect_faces(video))
    crops, mask = get_face_crops(video)
    assert not mask.any() and not crops.any() and crops.shape == (8, 224, 224, 3)


def test_track_selection_prefers_the_face_seen_throughout():
    steady = [Box(100 + i, 50, 160 + i, 110) for i in range(6)]  # small, off-centre, in every frame
    flash = Box(120, 120, 260, 260)  # bigger and central, in one frame only
    detections = [[b] for b in steady]
    detections[2].append(flash)
    detections[4] = []  # missed in one frame
    track = select_face_track(detections, (360, 360))
    assert track[4] is None
    assert [b for i, b in enumerate(track) if i != 4] == [b for i, b in enumerate(steady) if i != 4]
    assert select_face_track([[], []], (10, 10)) == [None, None]


def test_crop_faces_clamps_and_validates():
    frame = np.zeros((100, 200, 3), np.uint8)
    frame[:20, :20] = 255  # a white corner
    crops, mask = crop_faces(frame[None].repeat(3, 0), [(0, 0, 16, 16), None, Box(150, 10, 250, 150)], size=32)
    assert mask.tolist() == [True, False, True]
    assert crops[0].mean() > 100  # the corner square was shifted inside the frame, not padded with black
    assert not crops[1].any()
    with pytest.raises(ValueError, match="outside"):
        crop_faces(frame[None], [(300, 0, 310, 10)])
    with pytest.raises(ValueError, match="x1 > x0"):
        crop_faces(frame[None], [(10, 10, 5, 20)])
    with pytest.raises(ValueError, match="2 boxes for 1 frames"):
        crop_faces(frame[None], [None, None])


def test_face_track_json_is_matched_by_time(tmp_path, real_media):
    track = [
        {"time": 0.0, "box": [10, 10, 50, 50]},
        {"time": 1.0, "box": [20, 20, 60, 60], "score": 0.9},
        {"time": 2.0, "box": None},
        {"time": 5.0, "box": [30, 30, 70, 70]},
    ]
    boxes = boxes_from_track(json.dumps(track), [0.1, 0.9, 1.6, 2.1, 3.0, 4.8], max_gap=0.5)
    assert boxes[0][:4] == (10, 10, 50, 50) and boxes[1][:4] == (20, 20, 60, 60) and boxes[1].score == 0.9
    assert boxes[2] is None and boxes[3] is None  # nearest entry says "no face"
    assert boxes[4] is None  # 2 s from any entry
    assert boxes[5][:4] == (30, 30, 70, 70)
    path = tmp_path / "track.json"
    path.write_text(json.dumps(track[::-1]))  # order does not matter
    assert boxes_from_track(path, [0.1, 0.9, 4.8]) == [boxes[0], boxes[1], boxes[5]]
    with pytest.raises(ValueError, match="entry 0"):
        boxes_from_track([{"t": 0, "box": [0, 0, 1, 1]}], [0.0])
    with pytest.raises(ValueError, match="entry 0"):
        boxes_from_track([{"time": 0, "box": [0, 0, 1]}], [0.0])

    video = load_video_frames(real_media["video_only"], num_frames=4)
    face = [{"time": float(t), "box": [100, 30, 180, 110]} for t in np.arange(0, 3, 0.04)]
    crops, mask = get_face_crops(video, face, size=64)
    assert mask.all()
    np.testing.assert_array_equal(crops, crop_faces(video, [Box(100, 30, 180, 110)] * 4, size=64)[0])
    crops, mask = get_face_crops(video, [None, [100, 30, 180, 110], None, None], size=64)
    assert mask.tolist() == [False, True, False, False]


def test_ready_face_crops_are_used():
    crops = [Image.new("RGB", (50, 40), (200, 10, 10)), None, np.full((30, 30, 3), 7, np.uint8)]
    out, mask = prepare_face_crops(crops, size=16)
    assert out.shape == (3, 16, 16, 3) and mask.tolist() == [True, False, True]
    assert out[0, 0, 0].tolist() == [200, 10, 10] and not out[1].any() and out[2].max() == 7
    video = VideoFrames(np.zeros((6, 20, 20, 3), np.uint8), np.arange(6.0), "<frames>")
    out, mask = get_face_crops(video, np.zeros((3, 8, 8, 3), np.uint8) + 1, size=16)
    assert out.shape == (6, 16, 16, 3) and mask.all()


# ----------------------------------------------------------------------------------------------
# Audio
# ----------------------------------------------------------------------------------------------


def test_audio_track_of_the_mp4_carries_the_speech(speech_media):
    audio = load_audio(speech_media["talking"])
    assert isinstance(audio, Audio) and audio.sampling_rate == 16000 and audio.source == str(speech_media["talking"])
    assert audio.waveform.dtype == np.float32 and audio.waveform.ndim == 1
    video = load_video_frames(speech_media["talking"], num_frames=2)
    assert abs(audio.duration - video.duration) < 0.1
    # The track is the espeak-ng speech, at the place it was put: silence, speech, silence.
    speech, rate = media.read_wav(speech_media["speech_wav"])
    reference = resample_audio(speech, rate, 16000)
    start = int(media.SPEECH_START * 16000)
    assert np.corrcoef(audio.waveform[start : start + len(reference)], reference)[0, 1] > 0.95
    assert dbfs(audio.waveform[: start - 1600]) < -60
    assert dbfs(audio.waveform[start : start + len(reference)]) > -30
    # 5.8 s of audio: three consecutive 2 s clips with speech, the rest past the end.
    clips, mask = cut_audio_clips(audio.waveform)
    assert clips.shape == (8, 32000) and clips.dtype == np.float32
    assert mask.tolist() == [True] * 3 + [False] * 5
    np.testing.assert_array_equal(clips[1], audio.waveform[32000:64000])
    assert not clips[3:].any()


def test_bytes_give_the_same_audio(speech_media):
    from_file = load_audio(speech_media["talking"])
    from_bytes = load_audio(speech_media["talking"].read_bytes())
    np.testing.assert_array_equal(from_file.waveform, from_bytes.waveform)


def test_video_without_audio_track_gives_none(real_media):
    assert load_audio(real_media["video_only"]) is None
    with pytest.raises(ValueError, match="no audio stream") as info:
        load_audio(real_media["video_only"], video_fallback=False)
    assert str(real_media["video_only"]) in str(info.value)


def test_audio_only_files_load(speech_media):
    speech, rate = media.read_wav(speech_media["speech_wav"])
    assert rate == 22050
    audio = load_audio(speech_media["speech_wav"])
    assert audio.sampling_rate == 16000 and len(audio.waveform) == pytest.approx(len(speech) * 16000 / rate, abs=2)
    # Our array resampler and FFmpeg's agree.
    assert np.corrcoef(audio.waveform, resample_audio(speech, rate, 16000))[0, 1] > 0.999
    stereo = load_audio(speech_media["stereo_wav"])  # 44.1 kHz, right channel = half the left
    assert stereo.sampling_rate == 16000 and abs(stereo.duration - audio.duration) < 0.01
    assert np.abs(stereo.waveform).max() == pytest.approx(0.75 * np.abs(audio.waveform).max(), rel=0.05)


def test_silent_audio_masks_every_clip(real_media):
    audio = load_audio(real_media["silent"])
    assert audio is not None and abs(audio.duration - 3.0) < 0.1
    clips, mask = cut_audio_clips(audio)
    assert not mask.any()
    clips, mask = cut_audio_clips(np.zeros(16000 * 30, np.float32))
    assert clips.shape == (8, 32000) and not mask.any()
    clips, mask = cut_audio_clips(np.zeros(0, np.float32))
    assert not mask.any() and not clips.any()


def test_clip_scheme():
    rate = 16000
    t = np.arange(rate * 30) / rate
    wave = (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    wave[rate * 10 : rate * 14] = 0  # a silent stretch
    clips, mask = cut_audio_clips(wave, num_clips=8, clip_seconds=2.0)
    starts = np.round(np.linspace(0, len(wave) - 2 * rate, 8)).astype(int)  # 0, 4 s, ..., 28 s
    for clip, start in zip(clips, starts, strict=True):
        np.testing.assert_array_equal(clip, wave[start : start + 2 * rate])
    assert mask.tolist() == [True, True, True, False, True, True, True, True]  # 12 s..14 s is silent
    # Shorter than 8 x 2 s: consecutive windows, the last partial one padded, the rest masked.
    clips, mask = cut_audio_clips(wave[: int(rate * 5.5)])
    assert mask.tolist() == [True, True, True, False, False, False, False, False]
    np.testing.assert_array_equal(clips[2, : rate * 3 // 2 - 8000], wave[4 * rate : int(5.5 * rate) - 8000])
    assert not clips[2, int(1.5 * rate) :].any()
    # A tail shorter than min_seconds is not a clip.
    assert cut_audio_clips(wave[: 2 * rate + 100])[1].tolist() == [True] + [False] * 7
    # -50 dBFS RMS is the line between quiet and silent.
    sine = np.sqrt(2) * np.sin(2 * np.pi * 220 * t)
    assert cut_audio_clips(sine * 10 ** (-45 / 20))[1].all()
    assert not cut_audio_clips(sine * 10 ** (-55 / 20))[1].any()


@pytest.mark.parametrize("orig", [44100, 48000, 22050, 8000, 44101])
def test_resampling_keeps_a_440_hz_sine(orig):
    t = np.arange(2 * orig) / orig
    wave = 0.5 * np.sin(2 * np.pi * 440 * t)
    audio = load_audio((wave, orig))
    assert audio.sampling_rate == 16000 and len(audio.waveform) == 32000 and audio.waveform.dtype == np.float32
    freq, amplitude = fft_peak(audio.waveform, 16000)
    assert abs(freq - 440) <= 0.5 and amplitude == pytest.approx(0.5, rel=0.02)
    ideal = 0.5 * np.sin(2 * np.pi * 440 * np.arange(32000) / 16000)
    assert np.abs(audio.waveform - ideal)[400:-400].max() < 1e-3


def test_resampling_removes_what_would_alias():
    t = np.arange(44100) / 44100
    tone = np.sin(2 * np.pi * 10000 * t)  # above 8 kHz: would fold to 6 kHz
    assert np.abs(resample_audio(tone, 44100, 16000))[400:-400].max() < 0.01


def test_audio_arrays_channels_and_dtypes():
    stereo = np.stack([np.full(800, 0.5), np.full(800, -0.1)])  # (channels, n)
    np.testing.assert_allclose(load_audio((stereo, 16000)).waveform, 0.2, atol=1e-6)
    np.testing.assert_allclose(load_audio((stereo.T.copy(), 16000)).waveform, 0.2, atol=1e-6)  # (n, channels)
    pcm = np.full(800, 16384, np.int16)
    np.testing.assert_allclose(load_audio((pcm, np.int64(16000))).waveform, 0.5)
    tensor = torch.full((1, 800), 0.25)
    np.testing.assert_allclose(load_audio((tensor, 16000)).waveform, 0.25)


@pytest.mark.parametrize("rate", [16000.0, 0, -8000, "16000", True, None])
def test_bad_sampling_rates_raise(rate):
    with pytest.raises(ValueError, match="positive int"):
        load_audio((np.zeros(100, np.float32), rate))
    with pytest.raises(ValueError, match="positive int"):
        load_audio((np.zeros(100, np.float32), 16000), sampling_rate=rate)


def test_bad_audio_sources_raise(tmp_path):
    with pytest.raises(ValueError, match="needs its sampling rate"):
        load_audio(np.zeros(100, np.float32))
    with pytest.raises(ValueError, match="unsupported audio source of type dict"):
        load_audio({"array": np.zeros(100)})
    with pytest.raises(ValueError, match="NaN"):
        load_audio((np.array([0.0, np.nan]), 16000))
    with pytest.raises(ValueError, match="channels"):
        load_audio((np.zeros((100, 100)), 16000))
    with pytest.raises(ValueError, match="no such file"):
        load_audio(tmp_path / "missing.wav")


def test_missing_decoders_raise_import_error_only_when_needed(monkeypatch, real_media):
    monkeypatch.setitem(sys.modules, "av", None)  # `import av` now fails
    monkeypatch.setitem(sys.modules, "cv2", None)
    assert load_video_frames(np.zeros((3, 4, 4, 3), np.uint8), num_frames=2).frames.shape == (2, 4, 4, 3)
    assert load_audio((np.zeros(800), 8000)).waveform.shape == (1600,)
    assert (
        get_face_crops(VideoFrames(np.zeros((2, 8, 8, 3), np.uint8), np.zeros(2), "<frames>"), [None] * 2)[1].sum()
        == 0
    )
    # each error names every missing package at once (not one per retry) and the line that installs them
    every = 'missing: av>=12, opencv-python-headless>=4.8,<5. Install them with: pip install "pillow>=10" "av>=12"'
    for needs_a_decoder in (
        lambda: load_video_frames(real_media["video_only"]),
        lambda: load_audio(real_media["video_only"]),
        lambda: detect_faces(np.zeros((1, 8, 8, 3), np.uint8)),
    ):
        with pytest.raises(ImportError) as err:
            needs_a_decoder()
        assert every in str(err.value)
