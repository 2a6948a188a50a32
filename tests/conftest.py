"""Shared fixtures: real media files built once per test session (see `tests/media.py`), a local fake Hub; a
summary line counting the tests skipped for want of the shared reference files (see `tests/reference_files.py`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from huggingface_hub import constants as hub_constants
from transformers.utils import hub as transformers_hub

try:
    from tests.fake_hub import FakeHub
    from tests.media import build_real_media
    from tests.optional import require
    from tests.reference_files import MISSING_REFERENCE
except ImportError:  # tests/ is not a package: pytest puts tests/ itself on sys.path
    from fake_hub import FakeHub
    from media import build_real_media
    from optional import require
    from reference_files import MISSING_REFERENCE


@pytest.fixture(scope="session")
def real_media(tmp_path_factory) -> dict[str, Path]:
    """name -> path of real media files (astronaut video, espeak-ng speech, broken files...).

    Entries that need speech are missing when espeak-ng is not installed; use `speech_media` for them.
    """
    return build_real_media(tmp_path_factory.mktemp("media"))


@pytest.fixture
def speech_media(real_media) -> dict[str, Path]:
    """`real_media`, skipping the test when espeak-ng is missing (no speech, no talking clip)."""
    require("talking" in real_media, "espeak-ng is not installed (apt-get install espeak-ng): no speech media")
    return real_media


@pytest.fixture
def fake_hub(monkeypatch, tmp_path):
    """A fake Hub on 127.0.0.1 with huggingface_hub pointed at it: HF_ENDPOINT and the constants read at import."""
    with FakeHub(root=tmp_path / "hub-storage") as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        monkeypatch.setattr(hub_constants, "ENDPOINT", hub.endpoint)
        monkeypatch.setattr(
            hub_constants, "HUGGINGFACE_CO_URL_TEMPLATE", hub.endpoint + "/{repo_id}/resolve/{revision}/{filename}"
        )
        monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)  # only the fake endpoint is ever reached
        monkeypatch.setattr(hub_constants, "HF_HUB_DISABLE_XET", True)  # regular uploads, never Xet
        monkeypatch.setattr(hub_constants, "HF_HUB_DISABLE_TELEMETRY", True)
        monkeypatch.setattr(transformers_hub, "_hf_api", None)  # transformers keeps one HfApi, bound to its endpoint
        from huggingface_hub.utils import _detect_agent  # no registry fetch from the endpoint, no file written

        monkeypatch.setattr(_detect_agent, "_registry", {"standardEnvVars": [], "harnesses": {}}, raising=False)
        yield hub
        assert hub.unhandled == [], f"huggingface_hub called endpoints the fake Hub does not serve: {hub.unhandled}"


def pytest_terminal_summary(terminalreporter):
    """One line saying how many tests were skipped for want of the shared reference files (`reference_files`)."""
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if MISSING_REFERENCE in str(r.longrepr)]
    if skipped:
        terminalreporter.write_line(
            f"{len(skipped)} test{'s' if len(skipped) > 1 else ''} skipped: {MISSING_REFERENCE} (emotion wheels, "
            "annotation files; set NANOEMOX_SHARED to the shared folder). With CI set they fail instead, but for "
            "the DFEW file, which is not redistributed.",
            yellow=True,
        )
