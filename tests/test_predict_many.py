"""`nanoemox predict` over many clips: a mixed folder gives an answer per good clip and a reject line per bad file;
an interrupted run resumes without redoing or losing a finished line; two processes give the one-process answers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from nanoemox.cli import main as cli_main
from tests.model_helpers import build_lively_checkpoint

GREEDY = ["--greedy", "--max-new-tokens", "3"]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """A tiny checkpoint whose random LM has large weights: a freshly initialised one answers "\n" to everything,
    while this one's greedy answers change with the clip, so equal answers mean equal computations."""
    return build_lively_checkpoint(tmp_path_factory.mktemp("predict-many"), seed=0)


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def mixed(tmp_path, speech_media, real_media):
    """A folder as users have them: good clips (one with a space and non-ASCII letters in its name, one in a
    subfolder), and bad files of every kind; plus a stray text file that is no clip at all."""
    folder = tmp_path / "clips"
    (folder / "sub").mkdir(parents=True)
    good = {
        "talking.mp4": speech_media["talking"],
        "sub/no face.mp4": real_media["no_face"],
        "réunion été.mp4": real_media["video_only"],
    }
    bad = {
        "empty.mp4": (real_media["empty"], "the file is empty (0 bytes)"),
        "random.mp4": (real_media["random"], "not a readable media file"),
        "truncated.mp4": (real_media["truncated_video_only"], "not a readable media file"),
        "speech.wav": (speech_media["speech_wav"], "an audio file, not a video: pass it with --audio"),
    }
    for name, source in good.items():
        shutil.copy(source, folder / name)
    for name, (source, _) in bad.items():
        shutil.copy(source, folder / name)
    Image.new("RGB", (64, 48), (200, 30, 30)).save(folder / "picture.png")
    (folder / "notes.txt").write_text("not a clip")
    reasons = {str(folder / name): reason for name, (_, reason) in bad.items()}
    reasons[str(folder / "picture.png")] = "a still image, not a video"
    return folder, [str(folder / name) for name in good], reasons


def test_a_mixed_folder_answers_every_good_clip_and_rejects_each_bad_file(ckpt, mixed, tmp_path, capsys):
    folder, good, reasons = mixed
    out = tmp_path / "run" / "answers.jsonl"
    args = ["predict", "--model", ckpt, "--input-dir", str(folder), "--output", str(out), "--task", "mir", *GREEDY]
    assert cli_main(args + ["--batch-size", "2", "--num-workers", "2"]) == 0
    answers = _lines(out)
    assert sorted(a["id"] for a in answers) == sorted(good)
    assert len({a["generated_text"] for a in answers}) > 1
    assert all(a["task"] == "mir" and "intent" in a["answer"] and a["modalities"]["frame"] for a in answers)
    rejects = {r["id"]: r for r in _lines(out.with_name("rejects.jsonl"))}
    assert set(rejects) == set(reasons)  # notes.txt is no clip: left alone, not rejected
    for name, reason in reasons.items():
        assert reason in rejects[name]["error"] and rejects[name]["file"] == name
    assert "Traceback" not in capsys.readouterr().err


def test_listed_paths_that_are_not_clips_are_rejected_with_the_reason(ckpt, mixed, tmp_path):
    folder, good, _ = mixed
    out = tmp_path / "answers.jsonl"
    listed = [good[0], "https://example.com/clip.mp4", str(tmp_path / "missing.mp4"), str(folder / "sub")]
    assert cli_main(["predict", "--model", ckpt, "--videos", *listed, "--output", str(out), *GREEDY]) == 0
    assert [a["id"] for a in _lines(out)] == [good[0]]
    rejects = {r["id"]: r["error"] for r in _lines(out.with_name("rejects.jsonl"))}
    assert "URLs are not read: download the file first" in rejects["https://example.com/clip.mp4"]
    assert "no such file" in rejects[str(tmp_path / "missing.mp4")]
    assert "a folder, not a clip: pass folders with --input-dir" in rejects[str(folder / "sub")]


def _predict_process(ckpt, videos, out, extra=()):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "nanoemox.cli", "predict", "--model", ckpt, "--videos", *videos]
    return subprocess.Popen(
        [*command, "--output", str(out), "--batch-size", "1", *GREEDY, *extra],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("how", [signal.SIGKILL, pytest.param(signal.SIGINT, marks=pytest.mark.slow)])
def test_an_interrupted_run_resumes_with_one_line_per_clip(ckpt, mixed, tmp_path, how):
    folder, good, _ = mixed
    videos = [str(folder / f"clip{i}.mp4") for i in range(8)]
    for i, path in enumerate(videos):
        shutil.copy(good[i % len(good)], path)
    out = tmp_path / "answers.jsonl"
    first = _predict_process(ckpt, videos, out)
    deadline = time.time() + 120
    while time.time() < deadline and (not out.exists() or len(out.read_text().splitlines()) < 2):
        time.sleep(0.05)
    first.send_signal(how)
    _, err = first.communicate(timeout=60)
    done_before = _lines(out)
    assert 2 <= len(done_before) < len(videos), "the run was not interrupted part-way"
    if how == signal.SIGINT:  # Ctrl-C: one line, no traceback, status 130
        assert first.returncode == 130 and "interrupted" in err and "Traceback" not in err
    second = _predict_process(ckpt, videos, out)
    _, err = second.communicate(timeout=300)
    assert second.returncode == 0, err[-2000:]
    after = _lines(out)
    assert sorted(a["id"] for a in after) == sorted(videos)  # exactly one line per clip
    assert after[: len(done_before)] == done_before  # the finished lines kept, not redone
    assert f"{len(done_before)} of {len(videos)} clips were answered by an earlier run" in err


@pytest.mark.slow
def test_two_processes_answer_as_one(ckpt, mixed, tmp_path):
    folder, good, reasons = mixed
    one, two = tmp_path / "one" / "answers.jsonl", tmp_path / "two" / "answers.jsonl"
    args = ["predict", "--model", ckpt, "--input-dir", str(folder), "--task", "mer", *GREEDY]
    assert cli_main([*args, "--output", str(one)]) == 0
    run = _launch_two_processes([*args, "--output", str(two)])
    assert run.returncode == 0, run.stderr[-3000:]
    assert "process 2/2 answers" in run.stderr  # the second process answered its share
    answers_one, answers_two = _lines(one), _lines(two)
    assert len({a["generated_text"] for a in answers_one}) > 1  # answers that depend on the clip
    for a, b in zip(answers_two, answers_one, strict=True):  # the same answers, in the same order
        assert {k: v for k, v in a.items() if k != "fusion_gate_weights"} == {
            k: v for k, v in b.items() if k != "fusion_gate_weights"
        }
        if b["fusion_gate_weights"] is None:
            assert a["fusion_gate_weights"] is None
        else:
            assert a["fusion_gate_weights"] == pytest.approx(b["fusion_gate_weights"], abs=1e-5)
    assert sorted(r["id"] for r in _lines(two.with_name("rejects.jsonl"))) == sorted(reasons)
    assert not list(two.parent.glob("*.part*"))


def _launch_two_processes(args: list[str]) -> subprocess.CompletedProcess:
    """`accelerate launch` of `nanoemox ARGS` as two CPU processes (gloo), rendezvous on a free localhost port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    accelerate = Path(sys.executable).with_name("accelerate")
    config = Path(__file__).resolve().parents[1] / "train" / "accelerate" / "cpu_2proc.yaml"
    command = [str(accelerate), "launch", "--config_file", str(config), "--main_process_port", str(port)]
    return subprocess.run(
        [*command, "-m", "nanoemox.cli", *args],
        env={**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_two_processes_evaluate_as_one(ckpt, tmp_path):
    from nanoemox.processing.demo_corpus import generate_demo_corpus

    data = tmp_path / "demo"
    generate_demo_corpus(data, num_clips=12, seed=0, progress=False)
    args = ["evaluate", "--model", ckpt, "--data", str(data), "--tasks", "mer,mir,msa", "--max-new-tokens", "4"]
    assert cli_main([*args, "--output", str(tmp_path / "one.json")]) == 0
    run = _launch_two_processes([*args, "--output", str(tmp_path / "two.json")])
    assert run.returncode == 0, run.stderr[-3000:]
    one = json.loads((tmp_path / "one.json").read_text())["results"]
    two = json.loads((tmp_path / "two.json").read_text())["results"]
    assert one == two and set(one) == {"mer", "mir", "msa"}
    predictions = [_lines(tmp_path / f"{n}.predictions.jsonl") for n in ("one", "two")]
    assert predictions[0] == predictions[1] and len({p["prediction"] for p in predictions[0]}) > 1
