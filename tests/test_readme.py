"""The README's fine-tuning and evaluation snippets run as written (on a tiny checkpoint, a small demo corpus and the
MERTools wheel files in tests/fixtures)."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nanoemox.processing.demo_corpus import generate_demo_corpus
from tests.model_helpers import build_tiny_checkpoint

README = Path(__file__).resolve().parents[1] / "README.md"


def snippet(name: str) -> str:
    match = re.search(rf"<!-- snippet: {name} -->\n```python\n(.*?)```", README.read_text(), re.S)
    assert match, f"snippet {name} not found in README.md"
    return match.group(1)


LABELS = {"talking.mp4": "happy", "video_only.mp4": "neutral", "silent.mp4": "sad", "no_face.mp4": "neutral"}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, real_media):
    folder = tmp_path_factory.mktemp("readme")
    ckpt = build_tiny_checkpoint(folder / "build")
    Path(ckpt).rename(folder / "nanoemox-ckpt")
    generate_demo_corpus(folder / "my-dataset", num_clips=6, seed=0, progress=False)
    clips = folder / "my-clips"  # real footage: the astronaut talking (espeak-ng), without audio, silent, no face
    clips.mkdir()
    for name in LABELS:
        if name in {p.name for p in real_media.values()}:
            shutil.copy(next(p for p in real_media.values() if p.name == name), clips / name)
    with open(clips / "labels.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "emotion"])
        writer.writerows((name, label) for name, label in LABELS.items() if (clips / name).exists())
    return folder


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, output",
    [
        ("finetune-trainer", "out-trainer/final"),
        ("finetune-sft", "out-sft/merged"),
        ("finetune-own-clips", "out-own/final"),
    ],
)
def test_readme_finetuning_snippets_run_as_written(workdir, name, output):
    script = workdir / f"{name}.py"
    script.write_text(snippet(name))
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=600,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "2"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    saved = workdir / output
    assert (saved / "model.safetensors").exists() and (saved / "processor_config.json").exists()
    # the saved folder records that it was fine-tuned from the checkpoint, and which modules changed
    history = json.loads((saved / "config.json").read_text())["training_history"]
    assert history[-1]["from"] == "nanoemox-ckpt" and history[-1]["changed"]


WHEELS = Path(__file__).resolve().parent / "fixtures" / "reference" / "emotion_wheel"


def test_readme_evaluate_snippet_scores_a_free_text_answer(tmp_path):
    code = snippet("evaluate").replace('"path/to/emotion_wheel"', repr(str(WHEELS)))
    lines = code.rstrip().splitlines()
    lines[-1] = f"print(json.dumps({lines[-1]}))"
    script = tmp_path / "evaluate_snippet.py"
    script.write_text("import json\n" + "\n".join(lines) + "\n")
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    scores = json.loads(result.stdout.strip().splitlines()[-1])
    assert scores["hit_rate"] == pytest.approx(1.0), scores  # "seems angry" is the gold label angry on every wheel
