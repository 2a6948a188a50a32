"""Bad command-line input, found early: `CLIError` (printed by `nanoemox` as one line) and the checks of the paths a
command is given, run before anything heavy is imported or loaded.

    check_path("runs/ckpt", CHECKPOINT, "--model")   # CLIError: no such checkpoint folder: runs/ckpt (--model)
    check_path("Qwen/Qwen2.5-1.5B-Instruct", CHECKPOINT, "--model")   # a plausible Hub id: left to the Hub
    check_options(["--video", "clip.mp4"], {"--video": FILE})          # every such option of an argument list

A checkpoint may be a local folder or a Hub id (`owner/name`): a value that looks like a path (starts with `.`,
`/` or `~`, ends with a separator, has two separators, has characters a Hub id cannot, or starts with a folder that
exists here) and does not exist is reported as a missing folder; anything else is left to the Hub.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

CHECKPOINT = "checkpoint"  # a checkpoint folder (with config.json) or a Hub id
FILE = "file"
FOLDER = "folder"
FILE_OR_FOLDER = "file or folder"
KINDS = (CHECKPOINT, FILE, FOLDER, FILE_OR_FOLDER)

_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")


class CLIError(Exception):
    """Bad input on the command line; `nanoemox` prints the message as one line and exits with status 2."""


def looks_like_path(value: str) -> bool:
    """Whether `value` is meant as a local path rather than a Hub id (see the module docstring)."""
    separators = {"/", os.sep}
    if value.startswith((".", "/", "~", os.sep)) or value[-1:] in separators:
        return True
    if sum(value.count(s) for s in separators) >= 2 or not _HUB_ID.fullmatch(value):
        return True
    head = re.split(r"[/\\]", value)[0]
    return "/" in value and Path(head).is_dir()  # `runs/ckpt` where runs/ exists here


def check_path(value: str, kind: str, option: str) -> str:
    """`value` unchanged if it names what `kind` asks for; `CLIError` naming the value and the option otherwise."""
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r}: expected one of {KINDS}")
    if kind != CHECKPOINT and value.startswith(("http://", "https://")):
        raise CLIError(f"URLs are not read: download the file first and pass its path: {value} ({option})")
    path = Path(value).expanduser()
    if kind == CHECKPOINT:
        if path.is_dir():
            if not (path / "config.json").is_file():
                raise CLIError(f"not a checkpoint folder (no config.json): {value} ({option})")
            return value
        if path.exists():
            raise CLIError(f"a checkpoint is a folder, not a file: {value} ({option})")
        if looks_like_path(value):
            raise CLIError(f"no such checkpoint folder: {value} ({option})")
        return value  # a Hub id
    if not path.exists():
        raise CLIError(f"no such {kind}: {value} ({option})")
    if kind == FILE and path.is_dir():
        raise CLIError(f"expected a file, got a folder: {value} ({option})")
    if kind == FOLDER and not path.is_dir():
        raise CLIError(f"expected a folder, got a file: {value} ({option})")
    return value


def option_values(argv: list[str], option: str) -> Iterator[str]:
    """The values given to `option` in `argv` (`--opt value` or `--opt=value`), up to a `--`."""
    for i, arg in enumerate(argv):
        if arg == "--":
            return
        if arg == option and i + 1 < len(argv):
            yield argv[i + 1]
        elif arg.startswith(option + "="):
            yield arg[len(option) + 1 :]


def check_options(argv: list[str], options: Mapping[str, str]) -> None:
    """Check every value of the path options in `argv`: {option: kind}. Help requests are left alone."""
    if "-h" in argv or "--help" in argv:
        return
    for option, kind in options.items():
        for value in option_values(argv, option):
            check_path(value, kind, option)
