"""Tests on the shared reference files say when they are skipped, and fail under CI instead of skipping.

Runs pytest on one of those tests in a subprocess, with `NANOEMOX_SHARED` pointing at an empty folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ONE_REAL_FILE_TEST = "tests/test_metrics_ovmer.py::test_ovmer_on_real_wheels"


def run_without_reference_files(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "CI"} | {"NANOEMOX_SHARED": str(tmp_path), **env}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", ONE_REAL_FILE_TEST]
    return subprocess.run(command, cwd=REPO, env=environ, capture_output=True, text=True, timeout=300)


def test_missing_reference_files_are_a_counted_skip(tmp_path):
    run = run_without_reference_files(tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 skipped" in run.stdout
    # the reason names what is missing and where it looked; the summary line counts such skips
    assert f"shared reference files missing: no emotion_wheel/wheel1.xlsx in {tmp_path}" in run.stdout
    assert "1 test skipped: shared reference files missing" in run.stdout


def test_missing_reference_files_fail_under_ci(tmp_path):
    run = run_without_reference_files(tmp_path, CI="true")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 failed" in run.stdout and "CI is set, so the tests on the real files must run" in run.stdout
