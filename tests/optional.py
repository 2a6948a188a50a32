"""Programs and packages only some tests need (espeak-ng, dlib, gradio, Playwright with Debian's chromium): a test
without them is skipped on a developer's machine, saying what to install, and fails under CI (`CI` set), where
`scripts/setup.sh` installs all of them and a skip would hide a test that never ran.

    require(shutil.which("espeak-ng"), "espeak-ng is not installed (apt-get install espeak-ng)")
    require_module("gradio", 'pip install "nanoemox[app]"')
"""

from __future__ import annotations

import importlib.util
import os

import pytest


def require(available, message: str) -> None:
    """Skip the calling test (fail it under CI) with `message` unless `available` is truthy."""
    if available:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI is set, so this test must run", pytrace=False)
    pytest.skip(message)


def require_module(name: str, install: str) -> None:
    require(importlib.util.find_spec(name) is not None, f"{name} is not installed ({install})")
