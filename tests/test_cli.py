"""The `nanoemox` command a newcomer meets: help, version, one-line errors, paths checked before anything loads,
torch threads set from the available cores."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys

import pytest
import torch

from nanoemox import cli
from nanoemox.cli_inputs import CHECKPOINT, FILE, CLIError, check_path, looks_like_path


def run_in_new_process(argv: list[str]) -> tuple[int, str, list[str]]:
    """`nanoemox argv` in a fresh interpreter: (exit status, stderr, which of torch / transformers got imported)."""
    code = (
        "import sys\nfrom nanoemox.cli import main\nstatus = main(sys.argv[1:])\n"
        "print([m for m in ('torch', 'transformers') if m in sys.modules])\nsys.exit(status)"
    )
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=300)
    return done.returncode, done.stderr, json.loads(done.stdout.splitlines()[-1].replace("'", '"'))


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


# ---------------------------------------------------------------------------------------------- help and version
def test_help_lists_every_command_with_a_line_and_imports_no_torch():
    status, _, imported = run_in_new_process(["--help"])
    assert status == 0 and imported == []


def test_help_text(capsys):
    assert cli.main(["--help"]) == 0 and cli.main([]) == 0
    out = capsys.readouterr().out
    for name, command in {**cli.COMMANDS}.items():
        assert f"  {name}" in out and command.help in out
    assert "  data " in out and "--version" in out and "--debug" in out


def test_data_help_exits_zero_and_lists_the_data_commands(capsys):
    assert cli.main(["data", "--help"]) == 0
    out = capsys.readouterr().out
    for name, command in cli.DATA_COMMANDS.items():
        assert f"  {name} " in out and command.help in out
    assert cli.main(["data"]) == 2  # no data command: the same list on stderr, a usage error
    assert "demo-report" in capsys.readouterr().err


def test_version(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"nanoemox {importlib.metadata.version('nanoemox')}\n"


def test_unknown_command_is_one_line(capsys):
    assert cli.main(["frobnicate"]) == 2
    assert one_line(capsys.readouterr().err).startswith("nanoemox: unknown command 'frobnicate'")
    assert cli.main(["data", "frob"]) == 2
    assert one_line(capsys.readouterr().err).startswith("nanoemox: unknown data command 'frob'")


# ---------------------------------------------------------------------------------------------- paths, early
def test_missing_checkpoint_is_reported_before_anything_loads(tmp_path):
    missing = tmp_path / "runs" / "ckpt"
    status, err, imported = run_in_new_process(["predict", "--model", str(missing), "--subtitle", "hi"])
    assert status == 2 and imported == []
    assert one_line(err) == f"nanoemox predict: no such checkpoint folder: {missing} (--model)"


@pytest.fixture
def files(tmp_path, monkeypatch):
    """A checkpoint-looking folder, a video file and a data folder, with the working directory at tmp_path."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "config.json").write_text("{}")
    (tmp_path / "clip.mp4").write_bytes(b"")
    (tmp_path / "data").mkdir()
    return tmp_path


@pytest.mark.parametrize(
    "argv, message",
    [
        (["predict", "--model", "ckpt", "--video", "gone.mp4"], "nanoemox predict: no such file: gone.mp4 (--video)"),
        (
            ["predict", "--model", "ckpt", "--video", "https://example.com/a.mp4"],
            "nanoemox predict: URLs are not read: download the file first and pass its path: "
            "https://example.com/a.mp4 (--video)",
        ),
        (["predict", "--model", "ckpt", "--audio=gone.wav"], "nanoemox predict: no such file: gone.wav (--audio)"),
        (
            ["predict", "--model", "ckpt", "--video", "clip.mp4", "--faces", "gone.json"],
            "nanoemox predict: no such file: gone.json (--faces)",
        ),
        (["predict", "--model", "data", "--video", "clip.mp4"], "not a checkpoint folder (no config.json): data"),
        (["predict", "--model", "./ckpt2", "--subtitle", "hi"], "no such checkpoint folder: ./ckpt2 (--model)"),
        (["predict", "--model", "data/ckpt", "--subtitle", "hi"], "no such checkpoint folder: data/ckpt (--model)"),
        (["evaluate", "--task", "mer", "--predictions", "p.jsonl"], "nanoemox evaluate: no such file: p.jsonl"),
        (["evaluate", "--model", "ckpt", "--data", "nodata"], "nanoemox evaluate: no such folder: nodata (--data)"),
        (["evaluate", "--model", "a/b/c", "--data", "data"], "nanoemox evaluate: no such checkpoint folder: a/b/c"),
        (["card", "--model", "gone"], "nanoemox card: no such folder: gone (--model)"),
        (
            ["data", "demo-report", "--run", "gone", "--data", "data"],
            "nanoemox data demo-report: no such folder: gone",
        ),
        (["data", "convert", "--format", "x", "--input", "gone.csv"], "no such file or folder: gone.csv (--input)"),
        (["answers", "--run", "clip.mp4"], "nanoemox answers: expected a folder, got a file: clip.mp4 (--run)"),
        (["init", "--preset", "tiny", "--lm", "~/no/such/lm"], "nanoemox init: no such checkpoint folder: ~/no"),
        (["bench", "--video", "gone.mp4"], "nanoemox bench: no such file: gone.mp4 (--video)"),
    ],
)
def test_bad_paths_are_one_line(files, capsys, argv, message):
    assert cli.main(argv) == 2
    assert message in one_line(capsys.readouterr().err)


def test_hub_ids_are_left_to_the_hub(files):
    for hub_id in ("Qwen/Qwen2.5-1.5B-Instruct", "openai/clip-vit-large-patch14", "gpt2"):
        assert not looks_like_path(hub_id) and check_path(hub_id, CHECKPOINT, "--model") == hub_id
    for path in ("./ckpt2", "/abs/ckpt", "~/ckpt", "a/b/c", "ckpt2/", "data/ckpt", "my ckpt"):
        assert looks_like_path(path), path
    assert check_path("ckpt", CHECKPOINT, "--model") == "ckpt" and check_path("clip.mp4", FILE, "--video")
    with pytest.raises(CLIError, match="expected a file, got a folder: data"):
        check_path("data", FILE, "--video")


def test_help_of_a_command_is_not_held_up_by_its_paths(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["data", "demo-report", "--run", "gone", "--help"])
    assert exit_.value.code == 0 and "--run" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------- errors, one line
@pytest.fixture
def bad_predictions(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": "a", "answer": "happy"}\n')  # no prediction / reference
    return str(path)


def test_value_error_is_one_line(bad_predictions, capsys):
    assert cli.main(["evaluate", "--task", "mer", "--predictions", bad_predictions]) == 1
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"nanoemox evaluate: {bad_predictions}:1: each row needs 'prediction' and 'reference'")
    assert line.endswith("(--debug shows the traceback)")


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback(bad_predictions, capsys, where):
    argv = ["evaluate", "--task", "mer", "--predictions", bad_predictions]
    argv = ["--debug", *argv] if where == "before" else [*argv, "--debug"]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "ValueError" in err
    assert err.strip().splitlines()[-1].startswith("nanoemox evaluate: ")


@pytest.mark.parametrize(
    "error, status, line",
    [
        (KeyboardInterrupt(), 130, "nanoemox evaluate: interrupted"),
        (FileNotFoundError(2, "No such file or directory", "x.yaml"), 1, "nanoemox evaluate: [Errno 2] No such file"),
        (ImportError("No module named 'openai'"), 1, "nanoemox evaluate: ImportError: No module named 'openai'"),
        (OSError("disk full\nsecond line"), 1, "nanoemox evaluate: OSError: disk full second line"),
        (CLIError("bad --task"), 2, "nanoemox evaluate: bad --task"),
    ],
)
def test_errors_and_interrupts_are_one_line(monkeypatch, capsys, error, status, line):
    from nanoemox.evaluation import cli as evaluate_cli

    def fail(argv):
        raise error

    monkeypatch.setattr(evaluate_cli, "main", fail)
    try:
        result = cli.main(["evaluate", "--task", "mer"])
    except BaseException as escaped:  # a KeyboardInterrupt that escaped would stop pytest itself
        pytest.fail(f"{type(escaped).__name__} escaped the dispatcher")
    assert result == status
    assert one_line(capsys.readouterr().err).startswith(line)


def test_other_exceptions_are_bugs_and_keep_their_traceback(monkeypatch):
    from nanoemox.evaluation import cli as evaluate_cli

    monkeypatch.setattr(evaluate_cli, "main", lambda argv: {}["missing"])
    with pytest.raises(KeyError):
        cli.main(["evaluate", "--task", "mer"])


# ---------------------------------------------------------------------------------------------- threads
@pytest.fixture
def threads(monkeypatch):
    """torch at 1 thread, 3 cores available to this process, the `init` command doing nothing; restored after."""
    from nanoemox import compose

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    monkeypatch.setattr(compose, "main", lambda argv: 0)
    yield
    torch.set_num_threads(before)


def _cpu_busy(monkeypatch, share: float) -> None:
    """/proc/stat as it reads when the machine's CPUs are busy `share` of the time (e.g. 0.5: one core of two)."""
    from nanoemox import machine

    samples = iter([(0, 0), (int(1000 * share), 1000)])
    monkeypatch.setattr(machine, "_cpu_times", lambda: next(samples))
    monkeypatch.setattr(machine.time, "sleep", lambda seconds: None)


def test_torch_threads_follow_the_available_cores(threads, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    _cpu_busy(monkeypatch, 0.0)
    assert cli.main(["init"]) == 0
    assert torch.get_num_threads() == 3


def test_torch_threads_leave_the_cores_another_program_keeps_busy(threads, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    _cpu_busy(monkeypatch, 0.5)  # a second CPU-bound program on one of the two cores
    assert cli.main(["init"]) == 0
    assert torch.get_num_threads() == 1


def test_omp_num_threads_wins(threads, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert cli.main(["init"]) == 0
    assert torch.get_num_threads() == 1


def test_a_command_without_torch_does_not_import_it(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": "a", "prediction": "happy", "reference": "happy"}\n')
    status, _, imported = run_in_new_process(["evaluate", "--task", "mer", "--predictions", str(path)])
    assert status == 0 and "torch" not in imported
