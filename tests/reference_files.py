"""The real reference files the metric and converter tests read: the emotion wheels and annotation files.

    from tests.reference_files import reference_dir
    wheels = EmotionWheels.from_dir(reference_dir("emotion_wheel", "wheel1.xlsx"))

They are looked for in `shared/reference/` beside the repository (`../shared` from its root, the team's copy), then
in `tests/fixtures/reference/` (a copy of the redistributable ones that travels with the repository, so a clone's
test run and CI always read real files: see its README.md); when `$NANOEMOX_SHARED` is set, only where it points
(the `shared` folder, its `reference` folder, or the wanted folder itself). When a file cannot be found the test is
skipped with a reason that starts with `MISSING_REFERENCE` (the conftest counts those skips in the summary), and with
the `CI` environment variable set it fails instead: CI must not pass without having run them. The one file that is
not redistributed (DFEW's annotations, under its dataset licence) passes `required_in_ci=False`.
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
        yield REPO_ROOT / "tests" / "fixtures" / "reference" / folder


def reference_dir(folder: str, marker: str, *, required_in_ci: bool = True) -> Path:
    """The reference `<folder>` that holds `marker` (a file in it); skips, or fails under CI, without it."""
    for path in _candidates(folder):
        if (path / marker).is_file():
            return path
    looked = ", ".join(str(path) for path in _candidates(folder))
    message = f"{MISSING_REFERENCE}: no {folder}/{marker} in {looked} (set NANOEMOX_SHARED to the shared folder)"
    if os.environ.get("CI") and required_in_ci:
        pytest.fail(f"{message}; CI is set, so the tests on the real files must run", pytrace=False)
    pytest.skip(message)
