"""The web demo: what the page shows for real clips (answer, label probabilities, modalities, notes, the timeline
chart of a long clip, one-line messages for bad files), then the running app in a real headless Chromium (upload,
answer, chart, screenshot) and through `gradio_client`.

The browser tests need Debian's chromium (`apt-get install chromium`) and `pip install playwright` (never
`playwright install`: Playwright drives /usr/bin/chromium); both they and the client test need gradio
(`pip install "nanoemox[app]"`). They are skipped, saying which is missing, when it is. They start the app with
`nanoemox app` in a subprocess (slow: torch, gradio and the model load first). For the README's screenshot:

    NANOEMOX_APP_TEST_MODEL=runs/.../final NANOEMOX_APP_SCREENSHOT=docs/images/app.png \\
        python -m pytest -m slow tests/test_app.py -k long_upload
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from nanoemox.analyser import load_analyser
from nanoemox.app import TOP_LABELS, analyse_clip
from nanoemox.timeline.outputs import CHART_SIZE
from tests.long_media import joined_mp4
from tests.model_helpers import build_lively_checkpoint
from tests.optional import require, require_module

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# the app's page, its browser and its API: a lively checkpoint and the app's process first (slow)
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """NANOEMOX_APP_TEST_MODEL (the trained demo checkpoint, say, for the README screenshot), else a lively one."""
    return os.environ.get("NANOEMOX_APP_TEST_MODEL") or build_lively_checkpoint(tmp_path_factory.mktemp("app-model"))


@pytest.fixture(scope="module")
def minute(real_media, tmp_path_factory):
    require("talking" in real_media, "espeak-ng is not installed (apt-get install espeak-ng): no talking clip to join")
    return joined_mp4(real_media, tmp_path_factory.mktemp("app-media"))


# ---------------------------------------------------------------------------------------------- what the page shows
@pytest.fixture(scope="module")
def analyser(checkpoint):
    return load_analyser(checkpoint, device="cpu")


def test_a_clip_gets_its_answer_probabilities_and_modalities(analyser, speech_media, tmp_path):
    shown = analyse_clip(
        analyser, str(speech_media["talking"]), "mer", workdir=tmp_path, generate={"max_new_tokens": 3}
    )
    assert shown["status"] == "" and shown["answer"].startswith("### emotion (MER)")
    assert list(shown["scores"]) == analyser.processor.task_labels["mer"]
    assert sum(shown["scores"].values()) == pytest.approx(1, abs=1e-3)
    assert shown["modalities"] == "**Used:** frames, face, speech, audio-visual fusion"
    assert shown["chart"] is None  # 5.8 s: shorter than LONG_SECONDS


@pytest.mark.parametrize(
    "media, note",
    [
        ("video_only", "No audio track: the speech branch was masked."),
        ("silent", "No speech (the audio is silent): the speech branch was masked."),
        ("no_face", "No face found in the sampled frames: the face branch was masked."),
    ],
)
def test_a_missing_modality_is_answered_with_a_note(analyser, real_media, tmp_path, media, note):
    shown = analyse_clip(analyser, str(real_media[media]), "msa", workdir=tmp_path, generate={"max_new_tokens": 3})
    assert shown["status"] == "" and shown["scores"] and f"- {note}" in shown["modalities"]


@pytest.mark.parametrize(
    "media, message",
    [
        ("random", "Could not analyse random.mp4: not a readable media file (corrupt, truncated or unsupported)"),
        ("empty", "Could not analyse empty.mp4: the file is empty (0 bytes)"),
        ("speech_wav", "Could not analyse speech.wav: has no video stream (streams: audio)"),
        ("truncated_video_only", "Could not analyse truncated_video_only.mp4: not a readable media file"),
    ],
)
def test_a_bad_file_is_one_line_on_the_page(analyser, real_media, tmp_path, media, message):
    require(media in real_media, "espeak-ng is not installed (apt-get install espeak-ng): no speech file")
    shown = analyse_clip(analyser, str(real_media[media]), "mer", workdir=tmp_path)
    assert shown["status"].startswith(message), shown["status"]
    assert "\n" not in shown["status"] and "Traceback" not in shown["status"] and str(tmp_path) not in shown["status"]
    assert shown["answer"] == "" and shown["scores"] is None and shown["chart"] is None


def recorded_webm(path: Path) -> Path:
    """The panned astronaut as VP8 in a webm written live: no duration in its header, like a browser's recording."""
    import av

    from tests.media import astronaut, pan_zoom_frames

    with av.open(str(path), "w", format="webm", options={"live": "1"}) as container:
        stream = container.add_stream("libvpx", rate=25)
        stream.width = stream.height = 160
        stream.pix_fmt = "yuv420p"
        for i, image in enumerate(pan_zoom_frames(astronaut(), num_frames=50, size=160)):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with av.open(str(path)) as container:
        assert container.duration is None and not container.streams.video[0].duration
    return path


def test_a_recording_without_a_duration_in_its_header_is_answered(analyser, tmp_path):
    shown = analyse_clip(analyser, str(recorded_webm(tmp_path / "recording.webm")), "mer", workdir=tmp_path)
    assert shown["status"] == "" and shown["scores"] and "No audio track" in shown["modalities"]


def test_a_long_clip_also_gets_its_timeline_chart(analyser, minute, tmp_path):
    shown = analyse_clip(analyser, str(minute), "mer", workdir=tmp_path, generate={"max_new_tokens": 3})
    assert shown["status"] == "" and shown["scores"]
    with Image.open(shown["chart"]) as chart:
        assert chart.size == CHART_SIZE


# ---------------------------------------------------------------------------------------------- the running app
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(checkpoint, tmp_path_factory):
    """`nanoemox app` on a free localhost port, in its own process; stopped (by its pid) after the module."""
    require_module("gradio", 'pip install "nanoemox[app]"')
    port = _free_port()
    log = tmp_path_factory.mktemp("app-log") / "app.log"
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "nanoemox.cli", "app", "--model", checkpoint, "--port", str(port)]
    with open(log, "w") as out:
        process = subprocess.Popen(command + ["--max-new-tokens", "8"], stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 300
        while True:
            if process.poll() is not None:
                pytest.fail(f"the app exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the app did not answer on {url} within 300 s:\n{log.read_text()[-3000:]}")
            time.sleep(1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def page(app_url):
    require(Path(CHROMIUM).exists(), "the browser tests need Debian's chromium (apt-get install chromium)")
    require_module("playwright", "pip install playwright; never `playwright install`: it drives Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 960})
            page.goto(app_url)
            yield page
        finally:
            browser.close()


def _upload_and_analyse(page, path: Path, task: str | None = None) -> None:
    page.locator("#clip input[type=file]").set_input_files(str(path))
    page.locator("#clip video").wait_for(state="attached", timeout=60_000)  # the upload finished: a preview
    if task:
        page.locator("#task input").click()
        page.get_by_role("option", name=task).click()
    page.locator("button#analyse").click()


def _screenshot(page, path: Path, readme: str | None = None) -> None:
    """The whole page as a PNG at `path`; with `readme` also a 256-colour copy there (small enough for docs/)."""
    page.screenshot(path=str(path), full_page=True)
    with Image.open(path) as image:
        assert image.size[0] == 1280 and image.size[1] >= 600
        if readme:
            image.convert("RGB").quantize(colors=256).save(readme, optimize=True)


@pytest.mark.slow
def test_browser_uploads_a_clip_and_sees_the_answer_and_the_chart(page, speech_media, tmp_path, analyser):
    from playwright.sync_api import expect

    _upload_and_analyse(page, speech_media["talking"], task="intent (MIR)")
    expect(page.locator("#answer")).to_contain_text("intent (MIR)", timeout=180_000)
    scores = page.locator("#scores")
    expect(scores).to_be_visible()
    expect(scores).to_contain_text("%")
    shown = [label for label in analyser.processor.task_labels["mir"] if label in scores.inner_text()]
    assert len(shown) == min(TOP_LABELS, len(analyser.processor.task_labels["mir"])), shown
    expect(page.locator("#modalities")).to_contain_text("Used: frames, face, speech")
    assert "Traceback" not in page.content()
    _screenshot(page, tmp_path / "app.png")


@pytest.mark.slow
def test_browser_long_upload_gets_the_timeline_chart(page, minute, tmp_path):
    from playwright.sync_api import expect

    _upload_and_analyse(page, minute)
    expect(page.locator("#answer")).to_contain_text("emotion (MER)", timeout=300_000)
    chart = page.locator("#timeline img")
    expect(chart).to_be_visible(timeout=60_000)
    page.wait_for_function("() => document.querySelector('#timeline img').naturalWidth > 0")
    assert chart.evaluate("img => [img.naturalWidth, img.naturalHeight]") == list(CHART_SIZE)
    _screenshot(page, tmp_path / "app-long.png", readme=os.environ.get("NANOEMOX_APP_SCREENSHOT"))


@pytest.mark.slow
def test_browser_corrupt_upload_is_a_message_on_the_page(page, real_media):
    from playwright.sync_api import expect

    page.locator("#clip input[type=file]").set_input_files(str(real_media["random"]))
    page.wait_for_timeout(2000)  # the upload (the browser cannot preview noise)
    page.locator("button#analyse").click()
    expect(page.locator("#status")).to_contain_text(
        "Could not analyse random.mp4: not a readable media file", timeout=60_000
    )
    assert "Traceback" not in page.content()


@pytest.mark.slow
def test_gradio_client_calls_the_running_app(app_url, speech_media, real_media, analyser):
    from gradio_client import Client, handle_file

    client = Client(app_url, verbose=False)
    status, answer, scores, attribution, modalities, chart = client.predict(
        handle_file(str(speech_media["talking"])), "mir", "", False, api_name="/analyse"
    )
    assert status == "" and answer.startswith("### intent (MIR)")
    confidences = {c["label"]: c["confidence"] for c in scores["value"]["confidences"]}  # the most probable first
    labels = analyser.processor.task_labels["mir"]
    assert len(confidences) == min(TOP_LABELS, len(labels)) and set(confidences) <= set(labels)
    assert list(confidences.values()) == sorted(confidences.values(), reverse=True)
    assert scores["value"]["label"] == next(iter(confidences)) and sum(confidences.values()) <= 1 + 1e-3
    assert "frames, face, speech" in modalities and chart["visible"] is False
    status, answer, *_ = client.predict(
        handle_file(str(real_media["video_only"])), "mer", "", False, api_name="/analyse"
    )
    assert status == "" and "emotion (MER)" in answer
    status, answer, *_ = client.predict(handle_file(str(real_media["random"])), "mer", "", False, api_name="/analyse")
    assert status.startswith("Could not analyse random.mp4: not a readable media file") and answer == ""
