"""`nanoemox timeline`: a real minute of test media cut into windows snapped to speech pauses, answered window by
window, written as JSON, WebVTT and PNG; a corrupt stretch is a gap and the rest is covered; bad input is one line;
memory stays flat over ten minutes (slow)."""

from __future__ import annotations

import json
import re

import pytest
from PIL import Image

from nanoemox import cli
from nanoemox.analyser import load_analyser, supports_explain
from nanoemox.modeling.audio_nanoemox import cut_audio_clips, load_audio
from nanoemox.timeline.memory import memory_per_window, trend
from nanoemox.timeline.outputs import CHART_SIZE
from nanoemox.timeline.run import Timeline
from nanoemox.timeline.windows import loudness, plan_windows, probe_media
from tests.long_media import corrupt_stretch_mp4, joined_mp4, repeated_mp4
from tests.model_helpers import build_lively_checkpoint
from tests.optional import require

GREEDY = {"max_new_tokens": 3}
CORRUPT = (24.0, 32.0)  # seconds of the minute whose packets are overwritten


@pytest.fixture(scope="module")
def lively(tmp_path_factory):
    return build_lively_checkpoint(tmp_path_factory.mktemp("timeline-model"))


@pytest.fixture(scope="module")
def analyse(lively):
    return load_analyser(lively, device="cpu")


@pytest.fixture(scope="module")
def long_media(real_media, tmp_path_factory):
    """The joined minute (talking, silence, no face, video only, ...) and that minute with 24-32 s corrupted."""
    require("talking" in real_media, "espeak-ng is not installed (apt-get install espeak-ng): no talking clip to join")
    folder = tmp_path_factory.mktemp("long-media")
    minute = joined_mp4(real_media, folder)
    return {"minute": minute, "corrupt": corrupt_stretch_mp4(minute, folder, *CORRUPT)}


def parse_vtt(text: str) -> list[tuple[float, float, str]]:
    """A strict reading of the WebVTT subset a player needs: the WEBVTT header, then blocks of an optional
    identifier, a `hh:mm:ss.mmm --> hh:mm:ss.mmm` timing line and the cue text (NOTE blocks skipped)."""
    blocks = text.strip().split("\n\n")
    assert blocks[0].splitlines()[0] == "WEBVTT", "a WebVTT file starts with WEBVTT"
    stamp = r"(\d{2,}):([0-5]\d):([0-5]\d)\.(\d{3})"
    timing = re.compile(rf"^{stamp} --> {stamp}$")
    cues = []
    for block in blocks[1:]:
        lines = block.splitlines()
        if lines[0].startswith("NOTE"):
            continue
        if not timing.match(lines[0]):
            lines = lines[1:]  # the cue identifier
        match = timing.match(lines[0])
        assert match, f"not a cue timing line: {lines[0]!r}"
        h1, m1, s1, ms1, h2, m2, s2, ms2 = map(int, match.groups())
        start, end = h1 * 3600 + m1 * 60 + s1 + ms1 / 1000, h2 * 3600 + m2 * 60 + s2 + ms2 / 1000
        text_lines = lines[1:]
        assert text_lines and all("-->" not in line for line in text_lines), block
        cues.append((start, end, "\n".join(text_lines)))
    return cues


def covered(spans: list[tuple[float, float]], start: float, end: float) -> bool:
    """Whether the union of `spans` covers [start, end]."""
    cursor = start
    for a, b in sorted(spans):
        if cursor >= end - 1e-3:
            break
        if b < cursor:
            continue
        if a > cursor + 1e-3:
            return False
        cursor = max(cursor, b)
    return cursor >= end - 1e-3


# ---------------------------------------------------------------------------------------------- a real minute
def test_timeline_of_a_minute_covers_it_in_json_vtt_and_png(lively, long_media, tmp_path, capsys):
    out = tmp_path / "timeline"
    argv = ["timeline", str(long_media["minute"]), "--model", lively, "--output", str(out), "--max-new-tokens", "3"]
    assert cli.main(argv) == 0
    document = json.loads((out / "timeline.json").read_text())
    windows = document["windows"]
    assert document["duration"] == pytest.approx(60.0, abs=0.05)
    assert document["gaps"] == [] and document["unreadable"] == 0 and document["answered"] == len(windows) >= 28
    assert windows[0]["start"] == 0 and windows[-1]["end"] == document["duration"]
    assert covered([(w["start"], w["end"]) for w in windows], 0.0, document["duration"])
    assert [w["start"] for w in windows] == sorted(w["start"] for w in windows)
    for w in windows:
        assert set(w["scores"]) == set(document["labels"]) and sum(w["scores"].values()) == pytest.approx(1, abs=1e-3)
        assert w["label"] == max(w["scores"], key=w["scores"].get)
        assert set(w["modalities"]) == {"frame", "face", "audio", "fusion"}
    assert len({w["label"] for w in windows}) > 1, "the lively model's answers should change over the minute"
    # speech in the first talking clip, none in the silent and video-only stretches of the join (see JOIN_ORDER)
    speaking = [w for w in windows if w["end"] <= 5.8]
    quiet = [w for w in windows if 20.0 <= w["start"] and w["end"] <= 39.5]  # the 20 s `long` clip: no audio
    assert speaking and all(w["modalities"]["audio"] for w in speaking)
    assert quiet and not any(w["modalities"]["audio"] for w in quiet)

    cues = parse_vtt((out / "timeline.vtt").read_text())
    assert cues[0][0] == 0 and cues[-1][1] == pytest.approx(60.0, abs=1e-3)
    for (s1, e1, _), (s2, e2, _) in zip(cues, cues[1:]):
        assert s1 < e1 and e1 == pytest.approx(s2, abs=1e-3) and s2 < e2  # increasing, contiguous
    assert all(text.split()[0] in document["labels"] and text.endswith("%") for _, _, text in cues)
    for start, end, text in cues:  # each stretch shows the window whose centre is nearest to it
        middle = (start + end) / 2
        nearest = min(windows, key=lambda w: abs((w["start"] + w["end"]) / 2 - middle))
        assert text == f"{nearest['label']} {nearest['scores'][nearest['label']]:.0%}", (start, end, text)

    with Image.open(out / "timeline.png") as image:
        image.load()
        assert image.format == "PNG" and image.size == CHART_SIZE
        assert len(image.getcolors(maxcolors=1 << 16) or range(1 << 16)) > 20  # a drawn chart, not a blank canvas


def test_window_edges_move_into_speech_pauses(long_media):
    """Each inner edge the planner moved lands where `cut_audio_clips` calls the audio silent; some edges moved."""
    info = probe_media(str(long_media["minute"]))
    pauses = loudness(info).pause_times(-50.0)
    nominal = plan_windows(info.duration, 4.0, 2.0)
    snapped = plan_windows(info.duration, 4.0, 2.0, pauses=pauses, snap=1.0)
    assert len(snapped) == len(nominal)
    audio = load_audio(str(long_media["minute"]))
    rate = audio.sampling_rate

    def silent_at(t: float) -> bool:
        piece = audio.waveform[int((t - 0.025) * rate) : int((t + 0.025) * rate)]
        _, mask = cut_audio_clips(piece, num_clips=1, clip_seconds=0.05, min_seconds=0.02)
        return not mask[0]

    moved = 0
    for (n0, n1), (s0, s1) in zip(nominal, snapped):
        for before, after in ((n0, s0), (n1, s1)):
            if abs(after - before) > 1e-6:
                moved += 1
                assert abs(after - before) <= 1.0 and silent_at(after), (before, after)
                assert not silent_at(before)  # only edges in speech move
        assert s1 - s0 >= 2.0  # no window shrinks below half its length
    assert moved >= 4
    starts = [s for s, _ in snapped]
    assert starts == sorted(starts) and all(b[0] <= a[1] for a, b in zip(snapped, snapped[1:]))  # no holes


# ---------------------------------------------------------------------------------------------- a corrupt stretch
@pytest.mark.slow
def test_a_corrupt_stretch_is_a_gap_and_the_rest_is_covered(analyse, long_media, tmp_path):
    timeline = Timeline(analyse, str(long_media["corrupt"]), task="mer", generate=GREEDY, progress=False)
    document = timeline.run()
    a, b = CORRUPT
    answered = [(w["start"], w["end"]) for w in document["windows"] if "error" not in w]
    failed = [w for w in document["windows"] if "error" in w]
    assert covered(answered, 0.0, a - 0.1) and covered(answered, b + 0.1, document["duration"])  # readable: covered
    assert failed and all("corrupt" in w["error"] and w["start"] < b and w["end"] > a for w in failed)
    assert len(document["gaps"]) == 1
    gap = document["gaps"][0]
    assert a - 0.1 <= gap["start"] <= a + 0.1 and b - 0.1 <= gap["end"] <= b + 0.1, gap  # the stretch, no more
    assert gap["errors"] and document["covered_seconds"] == pytest.approx(60 - (gap["end"] - gap["start"]), abs=0.01)

    from nanoemox.timeline.outputs import write_timeline

    paths = write_timeline(document, tmp_path)
    cues = parse_vtt(paths["vtt"].read_text())
    marked = [c for c in cues if c[2].startswith("[unreadable")]
    assert len(marked) == 1 and marked[0][:2] == pytest.approx((gap["start"], gap["end"]), abs=1e-3)
    assert "corrupt video data" in marked[0][2]
    assert cues[0][0] == 0 and cues[-1][1] == pytest.approx(60.0, abs=1e-3)


# ---------------------------------------------------------------------------------------------- bad input
def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0]


@pytest.mark.parametrize(
    "media, extra, message",
    [
        ("random", [], "not a readable media file"),
        ("empty", [], "the file is empty"),
        ("speech_wav", [], "has no video stream (streams: audio); a timeline needs a video"),
        ("raw_h264", [], "has no timestamps or duration"),
        ("video_only", [], "lasts 3.00 s, shorter than one window of 4 s: give --window 3.0 or less"),
        ("minute", ["--window", "100"], "lasts 60.00 s, shorter than one window of 100 s"),
        ("minute", ["--window", "2", "--stride", "3"], "--stride 3 s is longer than --window 2 s"),
        ("minute", ["--window", "-1"], "--window must be a positive number of seconds"),
        ("gone", [], "no such file: "),
        ("url", [], "URLs are not read: download the file first"),
    ],
)
def test_bad_input_is_one_line_before_the_model_loads(lively, real_media, long_media, capsys, media, extra, message):
    path = {**real_media, **long_media, "url": "https://example.com/talk.mp4"}.get(media, "gone.mp4")
    assert cli.main(["timeline", str(path), "--model", lively, *extra]) != 0
    line = one_line(capsys.readouterr().err)
    assert line.startswith("nanoemox timeline: ") and message in line, line


@pytest.mark.parametrize(
    "media, note, branch",
    [
        ("video_only", "no audio track: the audio branch is masked in every window", "audio"),
        ("silent", "the audio is silent throughout", "audio"),
        ("no_face", "face branch masked in", "face"),
    ],
)
def test_a_missing_modality_is_a_note_and_a_masked_branch_not_an_error(analyse, real_media, media, note, branch):
    timeline = Timeline(analyse, str(real_media[media]), window=1.0, stride=0.5, generate=GREEDY, progress=False)
    document = timeline.run()
    assert document["unreadable"] == 0 and document["gaps"] == []
    assert any(n.startswith(note) for n in document["notes"]), document["notes"]
    assert not any(w["modalities"][branch] for w in document["windows"])
    assert all(w["modalities"]["frame"] for w in document["windows"])


def test_explain_gives_attribution_or_says_in_one_line_that_it_cannot(analyse, lively, long_media, tmp_path, capsys):
    video = str(long_media["minute"])
    if not supports_explain(analyse):
        argv = ["timeline", video, "--model", lively, "--output", str(tmp_path), "--explain"]
        assert cli.main(argv) == 2
        assert "--explain: this version of the emotion-analysis pipeline gives no attribution" in one_line(
            capsys.readouterr().err
        )
        return
    timeline = Timeline(analyse, video, window=20, stride=20, explain=True, generate=GREEDY, progress=False)
    document = timeline.run()
    assert all(isinstance(w.get("attribution"), dict) and w["attribution"] for w in document["windows"])


# ---------------------------------------------------------------------------------------------- ten minutes, flat
@pytest.mark.slow
def test_memory_of_a_ten_minute_timeline_does_not_grow_with_its_windows(analyse, long_media, tmp_path):
    """After each of the ~300 windows of a 10-minute video: what live Python / numpy objects hold stays level (a
    window's frames kept would add 2.4 MB per window, its audio 0.35 MB), and resident memory stays within a warm-up
    far below one window's frames times the windows (see `nanoemox.timeline.memory` for the warm-up)."""
    ten = repeated_mp4(long_media["minute"], tmp_path, times=10)
    timeline = Timeline(analyse, str(ten), task="mer", generate=GREEDY, progress=False, batch_size=4)
    memory = memory_per_window(timeline)
    traced, rss = trend(memory["traced_mb"]), memory["rss_mb"]
    assert traced["windows"] >= 290 and timeline.document()["unreadable"] == 0
    assert traced["slope_late_mb_per_window"] < 0.02 and traced["late_minus_middle_mb"] < 2, traced
    assert rss.max() - rss[0] < 300, f"resident memory grew {rss.max() - rss[0]:.0f} MB over {len(rss)} windows"
