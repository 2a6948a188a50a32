"""The web demo: upload or record a clip, pick a task, see the answer, its label probabilities, each branch's share
(when the pipeline gives attribution) and the modalities used; a long clip also gets its timeline chart.

    nanoemox app --model runs/demo/train/4-phase3-multitask/final [--port 7860] [--host 127.0.0.1]
    NANOEMOX_MODEL=owner/nanoemox python app.py         # the same as a Hugging Face Space (app.py at the top)

    demo = build_app("ckpt/")          # a gradio.Blocks; demo.launch()
    analyse_clip(analyser, "clip.mp4", "mer", workdir=tmp)   # what the page shows, as data (no gradio needed)

Gradio is an optional extra (`pip install "nanoemox[app]"`); everything but `build_app` works without it. Bad
input (a corrupt or empty file, an audio file, a still image) is a message on the page, never a stack trace; a clip
without an audio track, without speech or without a face is answered with that branch masked and a note saying so.
The page's one API endpoint is `/analyse` (see `gradio_client`): it takes (video, task, subtitle, explain) and
returns (status, answer, probabilities, attribution, modalities, timeline chart).
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
from pathlib import Path

from nanoemox.cli_inputs import CLIError
from nanoemox.modeling.prompts_nanoemox import TASKS

logger = logging.getLogger(__name__)

TOP_LABELS = 6  # the page lists the most probable labels (MIR has 20)
LONG_SECONDS = 12.0  # a clip at least this long also gets a timeline: windows of 4 s every 2 s
TASK_NAMES = {
    "mer": "emotion (MER)",
    "msa": "sentiment (MSA)",
    "mir": "intent (MIR)",
    "ov-mer": "open-vocabulary emotions (OV-MER)",
    "eri": "emotion reason (ERI)",
    "erg": "empathic response (ERG)",
}
BRANCH_NAMES = {"frame": "frames", "face": "face", "audio": "speech", "fusion": "audio-visual fusion"}


def _modalities_text(modalities: dict, notes: list[str]) -> str:
    used = [BRANCH_NAMES.get(b, b) for b, on in modalities.items() if on]
    unused = [BRANCH_NAMES.get(b, b) for b, on in modalities.items() if not on]
    lines = [f"**Used:** {', '.join(used) or 'text only'}"]
    if unused:
        lines.append(f"**Masked:** {', '.join(unused)}")
    lines += [f"- {note}" for note in notes]
    return "\n\n".join(lines[:2]) + ("\n\n" + "\n".join(lines[2:]) if lines[2:] else "")


def _missing_notes(modalities: dict, has_audio_track: bool | None) -> list[str]:
    """Why a branch was masked, in words for the page."""
    notes = []
    if not modalities.get("audio"):
        notes.append(
            "No audio track: the speech branch was masked."
            if has_audio_track is False
            else "No speech (the audio is silent): the speech branch was masked."
        )
    if modalities.get("frame") and not modalities.get("face"):
        notes.append("No face found in the sampled frames: the face branch was masked.")
    return notes


def _answer_text(task: str, result: dict) -> str:
    answer = result.get("answer") or {}
    fields = [f"**{key}:** {value}" for key, value in answer.items() if value not in (None, [], "")]
    text = result.get("generated_text", "").strip()
    head = f"### {TASK_NAMES.get(task, task)}\n\n"
    return head + ("  \n".join(fields) if fields else "") + (f"\n\n> {text}" if text else "\n\n(an empty answer)")


def _shares(attribution) -> dict[str, float] | None:
    """The numeric {branch: share} part of an attribution, for a bar display (None when there is none)."""
    if not isinstance(attribution, dict):
        return None
    shares = {BRANCH_NAMES.get(k, k): float(v) for k, v in attribution.items() if isinstance(v, (int, float))}
    return shares or None


def analyse_clip(
    analyser,
    video: str | None,
    task: str = "mer",
    subtitle: str = "",
    explain: bool = False,
    *,
    workdir: str | Path,
    generate: dict | None = None,
    long_seconds: float = LONG_SECONDS,
) -> dict:
    """Everything the page shows for one clip: {"status", "answer", "scores", "attribution", "modalities", "chart"}.

    status is "" when all went well, else one line saying what is wrong (bad input never raises); chart is the
    timeline PNG of a clip of `long_seconds` or more (None for shorter clips and open-ended tasks).
    """
    from nanoemox.analyser import supports_explain
    from nanoemox.timeline.windows import probe_media

    empty = {"status": "", "answer": "", "scores": None, "attribution": None, "modalities": "", "chart": None}
    if not video:
        return {**empty, "status": "Upload or record a clip first."}
    if task not in TASKS:
        return {**empty, "status": f"Unknown task {task!r}: choose one of {', '.join(TASKS)}."}
    name = Path(video).name
    generate = {"do_sample": False, "max_new_tokens": 64, **(generate or {})}
    kwargs = dict(generate, task=task)
    if subtitle and subtitle.strip():
        kwargs["subtitle"] = subtitle.strip()
    explain = bool(explain) and supports_explain(analyser)
    if explain:
        kwargs["explain"] = True
    try:
        info = probe_media(video)
        result = analyser(video, **kwargs)
    except (ValueError, OSError) as err:
        return {**empty, "status": f"Could not analyse {name}: {_without_path(str(err), video)}"}
    except Exception as err:  # a bug, not bad input: the page gets one line, the server log the traceback
        logger.exception("%s: analysis failed", video)
        return {**empty, "status": f"Could not analyse {name}: {type(err).__name__}: {err}"}
    notes = _missing_notes(result.get("modalities") or {}, info.has_audio)
    out = {
        **empty,
        "answer": _answer_text(task, result),
        "scores": result.get("scores"),
        "attribution": _shares(result.get("attribution")),
        "modalities": _modalities_text(result.get("modalities") or {}, notes),
    }
    if info.duration >= long_seconds:
        out["chart"], problem = _timeline_chart(analyser, video, task, explain, generate, workdir)
        if problem:
            out["status"] = f"Timeline of {name}: {problem}"
    return out


def _timeline_chart(analyser, video, task, explain, generate, workdir) -> tuple[str | None, str]:
    """The timeline PNG of a long clip (path, or None) and a problem to show ("" when none)."""
    from nanoemox.timeline.outputs import write_timeline
    from nanoemox.timeline.run import Timeline

    try:
        timeline = Timeline(analyser, video, task=task, explain=explain, generate=generate, progress=False)
        document = timeline.run()
    except ValueError as err:
        return None, _without_path(str(err), video)
    folder = Path(tempfile.mkdtemp(prefix="timeline-", dir=workdir))
    paths = write_timeline(document, folder)
    problem = ""
    if document["gaps"]:
        spans = ", ".join(f"{g['start']:.1f}-{g['end']:.1f} s" for g in document["gaps"])
        problem = f"unreadable stretches ({spans}) are marked on the chart"
    return (str(paths["png"]) if paths["png"] else None), problem


def _without_path(message: str, video: str) -> str:
    """An error message without the (temporary, uploaded) file's path in front."""
    return message.replace(f"{video}: ", "").replace(str(video), Path(video).name)


def build_app(model: str, *, device: str = "auto", max_new_tokens: int = 64, analyser=None):
    """The demo page (a `gradio.Blocks`) on the checkpoint `model` (a folder or a Hub id; or a ready `analyser`)."""
    try:
        import gradio as gr
    except ImportError as err:
        raise ImportError('the web demo needs gradio: pip install "nanoemox[app]"') from err
    from nanoemox.analyser import load_analyser, supports_explain

    analyser = analyser or load_analyser(model, device=device)
    workdir = Path(tempfile.mkdtemp(prefix="nanoemox-app-"))
    can_explain = supports_explain(analyser)

    def run(video, task, subtitle, explain):
        generate = {"max_new_tokens": max_new_tokens}
        shown = analyse_clip(analyser, video, task, subtitle or "", explain, workdir=workdir, generate=generate)
        return (
            shown["status"],
            shown["answer"],
            gr.update(value=shown["scores"], visible=shown["scores"] is not None),
            gr.update(value=shown["attribution"], visible=shown["attribution"] is not None),
            shown["modalities"],
            gr.update(value=shown["chart"], visible=shown["chart"] is not None),
        )

    with gr.Blocks(title="NanoEmoX", analytics_enabled=False) as demo:
        gr.Markdown(
            "# NanoEmoX\nUpload or record a short clip, pick a task. The answer comes with the probability of each "
            f"label and the branches the model used; a clip of {LONG_SECONDS:g} s or more also gets its timeline."
        )
        with gr.Row():
            with gr.Column():
                video = gr.Video(sources=["upload", "webcam"], label="clip", elem_id="clip")
                task = gr.Dropdown(
                    [(TASK_NAMES[t], t) for t in TASK_NAMES if t in TASKS], value="mer", label="task", elem_id="task"
                )
                subtitle = gr.Textbox(label="what is said (optional)", elem_id="subtitle")
                explain = gr.Checkbox(
                    label="explain: each branch's share", value=False, visible=can_explain, elem_id="explain"
                )
                button = gr.Button("Analyse", variant="primary", elem_id="analyse")
            with gr.Column():
                status = gr.Markdown(elem_id="status")
                answer = gr.Markdown(elem_id="answer")
                scores = gr.Label(
                    label="label probabilities", num_top_classes=TOP_LABELS, visible=False, elem_id="scores"
                )
                attribution = gr.Label(label="attribution: each branch's share", visible=False, elem_id="attribution")
                modalities = gr.Markdown(elem_id="modalities")
        chart = gr.Image(label="timeline", type="filepath", visible=False, elem_id="timeline", interactive=False)
        button.click(
            run,
            inputs=[video, task, subtitle, explain],
            outputs=[status, answer, scores, attribution, modalities, chart],
            api_name="analyse",
        )
    return demo


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nanoemox app", description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=os.environ.get("NANOEMOX_MODEL"), help="checkpoint folder or Hub id")
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (0.0.0.0: every interface)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--device", default="auto", help="cpu, cuda, ... (auto: cuda when there is one)")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.model:
        raise CLIError("give --model (a checkpoint folder or Hub id), or set NANOEMOX_MODEL")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    demo = build_app(args.model, device=args.device, max_new_tokens=args.max_new_tokens)
    logger.info("serving %s on http://%s:%d", args.model, args.host, args.port)
    demo.queue().launch(server_name=args.host, server_port=args.port, ssr_mode=False, show_error=False)
    return 0
