"""A cache of folders that take minutes to make and are fully determined by their settings (pre-trained tiny parts).

    entry = cached_folder("tiny-components", settings, make=lambda tmp: build_into(tmp))

The root is `$NANOEMOX_CACHE`, else `$XDG_CACHE_HOME/nanoemox`, else `~/.cache/nanoemox`; an entry is
`<root>/<kind>/<key>/` where the key hashes the settings (JSON). An entry is made in a temporary sibling folder
(`.<key>.<pid>.partial`) and renamed into place when complete, so a run killed half-way leaves no entry, only a
partial folder that the next run making the same entry removes. Of two runs making the same entry at once, the first
rename wins and the other run's folder is discarded. Delete an entry (or the whole root) to make it again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger(__name__)

SETTINGS_FILE = "settings.json"


def cache_root() -> Path:
    """The cache folder: `$NANOEMOX_CACHE`, else `$XDG_CACHE_HOME/nanoemox`, else `~/.cache/nanoemox`."""
    if os.environ.get("NANOEMOX_CACHE"):
        return Path(os.environ["NANOEMOX_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "nanoemox"


def settings_key(settings: dict) -> str:
    """A short hash of JSON-able settings (key order does not matter)."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a process of another user
        return True
    return True


def _remove_dead_partials(entry: Path) -> None:
    """Partial folders of `entry` left by runs that no longer exist (killed half-way)."""
    for partial in entry.parent.glob(f".{entry.name}.*.partial"):
        pid = partial.name[len(entry.name) + 2 : -len(".partial")]
        if pid.isdigit() and not _alive(int(pid)):
            logger.info("removing %s, left by an interrupted run", partial)
            shutil.rmtree(partial, ignore_errors=True)


def cached_folder(kind: str, settings: dict, make: Callable[[Path], None]) -> Path:
    """The cache entry of `kind` for `settings`: reused when present, else made by `make(folder)` and kept.

    `settings` must hold everything that determines what `make` writes; they are saved beside it (settings.json).
    """
    entry = cache_root() / kind / settings_key(settings)
    if entry.is_dir():
        logger.info("reusing %s cached in %s", kind, entry)
        return entry
    entry.parent.mkdir(parents=True, exist_ok=True)
    _remove_dead_partials(entry)
    partial = entry.with_name(f".{entry.name}.{os.getpid()}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    try:
        make(partial)
        (partial / SETTINGS_FILE).write_text(json.dumps(settings, indent=2, sort_keys=True, default=str) + "\n")
        try:
            partial.rename(entry)
        except OSError:
            if not entry.is_dir():
                raise
            logger.info("another run cached %s in %s first; using it", kind, entry)
            return entry
    finally:
        shutil.rmtree(partial, ignore_errors=True)  # gone after a successful rename
    logger.info("made %s; cached in %s for later runs", kind, entry)
    return entry
