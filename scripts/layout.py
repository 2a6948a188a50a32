"""The README's "Layout" block: one line per tracked file, described by the file itself.

    python scripts/layout.py           # rewrite the block between <!-- layout --> and <!-- /layout --> in README.md
    python scripts/layout.py --check   # exit 1 if the block differs from the tree (tests/test_layout.py runs this)

A Python file is described by the first sentence of its module docstring, a shell script or YAML file by its first
comment line, a results JSON by its kind and command. Test fixtures are one line per fixture folder. A file with
nothing to say about itself (an empty `__init__.py`) says it marks a package.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BLOCK = re.compile(r"(<!-- layout -->\n)(.*?)(<!-- /layout -->)", re.S)
WIDTH = 44  # the column where descriptions start
LONGEST = 96  # characters of description before it is cut at a word

FIXED = {
    "README.md": "this guide",
    "pyproject.toml": "the package: dependencies, extras, the folder mapping under one namespace, pytest and ruff",
    ".gitignore": "what git leaves out (runs, caches, the virtual environment)",
    "docs/results.md": "every measured table, generated from results/*.json by `nanoemox results render`",
    "docs/images/app.png": "the web demo in a headless Chromium (tests/test_app.py), with the demo checkpoint",
    "docs/images/timeline.png": "`nanoemox timeline` of the joined real test clips, with the demo checkpoint",
    "model_cards/template.md": "the model card's Jinja template (front matter, usage, training, results)",
}
FIXTURES = {
    "converters": "hand-written annotation files in each benchmark's format, bad rows included",
    "reference": "MERTools' emotion wheels and real annotation files (EMER, MERR, MIntRec, MIntRec2.0)",
    "v0-checkpoint": "a checkpoint written by the previous release, which must keep loading",
}


def _tracked() -> list[str]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return sorted(line for line in out.splitlines() if line)


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    sentence = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0].rstrip(".")
    if len(sentence) <= LONGEST:
        return sentence
    return sentence[:LONGEST].rsplit(" ", 1)[0] + " …"


def describe(path: str) -> str:
    if path in FIXED:
        return FIXED[path]
    file = ROOT / path
    text = file.read_text(encoding="utf-8")
    if path.endswith(".py"):
        doc = ast.get_docstring(ast.parse(text)) or ""
        return _shorten(doc.split("\n\n")[0]) if doc else "marks the folder as a package"
    if path.startswith("results/") and path.endswith(".json"):
        record = json.loads(text)
        return _shorten(f"{record.get('kind', 'result')}: `{record.get('command', '?')}`")
    comments = [line[1:].strip() for line in text.splitlines() if line.startswith("#") and not line.startswith("#!")]
    if comments:
        return _shorten(comments[0])
    raise ValueError(f"{path}: nothing describes this file; give it a first comment line or add it to FIXED")


def render() -> str:
    lines, folders = [], set()
    for path in _tracked():
        parts = path.split("/")
        fixture = parts[:2] == ["tests", "fixtures"] and len(parts) > 3
        for depth in range(1, 3 if fixture else len(parts)):
            folder = "/".join(parts[:depth]) + "/"
            if folder not in folders:
                folders.add(folder)
                lines.append((folder, ""))
        if not fixture:
            lines.append((path, describe(path)))
        elif (key := "/".join(parts[:3]) + "/") not in folders:
            folders.add(key)
            lines.append((key, FIXTURES.get(parts[2], "test fixtures")))
    rows = []
    for path, text in lines:
        depth = path.rstrip("/").count("/")
        name = "  " * depth + path.rstrip("/").split("/")[-1] + ("/" if path.endswith("/") else "")
        rows.append(f"{name:<{WIDTH}}{text}".rstrip() if text else name)
    return "```text\n" + "\n".join(rows) + "\n```\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md's block is out of date")
    args = parser.parse_args(argv)
    readme = README.read_text(encoding="utf-8")
    match = BLOCK.search(readme)
    if not match:
        print("README.md has no <!-- layout --> ... <!-- /layout --> block", file=sys.stderr)
        return 1
    block = render()
    if args.check:
        if match.group(2) != block:
            print("README.md's layout is out of date: python scripts/layout.py", file=sys.stderr)
            return 1
        return 0
    README.write_text(readme[: match.start(2)] + block + readme[match.end(2) :], encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
