"""The layout as the README draws it: the drawing matches the tracked tree, the installed packages hold every source
folder, the package-data patterns each match a file, and no source file grows past ~700 lines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]
LONGEST_FILE = 750  # lines: "no source file over ~700 lines"


def _tracked() -> list[str]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip("not a git checkout: the layout is checked against git's tracked files")
    return out.stdout.split()


def test_the_readme_layout_is_the_tracked_tree():
    _tracked()
    result = subprocess.run([sys.executable, "scripts/layout.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_packages_cover_every_source_folder_and_package_data_matches_files():
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = setup["package-dir"]

    def folder_of(package: str) -> Path:
        parts = package.split(".")
        for cut in range(len(parts), 0, -1):
            if ".".join(parts[:cut]) in folders:
                return ROOT / folders[".".join(parts[:cut])] / Path(*parts[cut:])
        raise AssertionError(f"{package}: no package-dir entry")

    packaged = {folder_of(package).resolve() for package in setup["packages"]}
    for path in _tracked():
        file = ROOT / path
        top = path.split("/")[0]
        if file.suffix == ".py" and top in set(folders.values()) and "modules" not in file.parts:
            assert file.parent.resolve() in packaged, f"{path}: its folder is not in [tool.setuptools] packages"
    for package, patterns in setup["package-data"].items():
        for pattern in patterns:
            assert list(folder_of(package).glob(pattern)), f"package-data {package}: {pattern} matches no file"


def test_no_source_file_is_longer_than_about_700_lines():
    long = {}
    for path in _tracked():
        if path.endswith(".py"):
            lines = (ROOT / path).read_text(encoding="utf-8").count("\n")
            if lines > LONGEST_FILE:
                long[path] = lines
    assert not long, f"split these by concern: {long}"
