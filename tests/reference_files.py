"""The real reference files the metric tests read: the emotion wheels and the annotation files in `shared/reference`.

    from tests.reference_files import reference_dir
    wheels = EmotionWheels.from_dir(reference_dir("emotion_wheel", "wheel1.xlsx"))

They are not in the repository: they sit in `shared/reference/` beside it (`../shared` from the repo root, as on a
developer's machine and in CI), or, when `$NANOEMOX_SHARED` is set, only where it points (the `shared` folder, its
`reference` folder, or the wanted folder itself). When they cannot be found the test is skipped with a reason that
starts with `MISSING_REFERENCE` (the conftest counts those skips in the summary), and with the `CI` environment
variable set it fails instead: CI must not pass without having run them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

MISSING_REFERENCE = "shared reference files missing"
REPO_ROOT = Path(__file__).resolve().parents[1]


def _candidates(folder: str) -> Iterator[Path]:
    if os.environ.get("NANOEMOX_SHARED"):  # when set, it alone is looked at
        root = Path(os.environ["NANOEMOX_SHARED"])
        yield from (root / "reference" / folder, root / folder, root)
    else:
        yield REPO_ROOT.parent / "shared" / "reference" / folder


def reference_dir(folder: str, marker: str) -> Path:
    """The `shared/reference/<folder>` that holds `marker` (a file in it); skips, or fails under CI, without it."""
    for path in _candidates(folder):
        if (path / marker).is_file():
            return path
    looked = ", ".join(str(path) for path in _candidates(folder))
    message = f"{MISSING_REFERENCE}: no {folder}/{marker} in {looked} (set NANOEMOX_SHARED to the shared folder)"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI is set, so the tests on the real files must run", pytrace=False)
    pytest.skip(message)
