"""A timeline document written three ways: timeline.json, timeline.vtt (cues any player shows over the video) and
timeline.png (label probabilities over time).

    paths = write_timeline(document, "talk-timeline/")   # {"json": ..., "vtt": ..., "png": ... or None}
    cues(document)        # [{"start", "end", "text", "kind": "answer" | "gap"}]: contiguous, covering the video

Windows overlap, cues must not: each answered window speaks for the stretch closer to its centre than to its
neighbours' (cut where their windows overlap), so every instant shows the window centred nearest to it. A stretch
that no answered window covers is a `gap` cue saying why it could not be read. The chart draws one line per label
(the eight that peak highest; the rest summed as "other"), breaks the lines at gaps and shades them. It is drawn
with matplotlib's Agg backend at a fixed size, `CHART_SIZE` pixels.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

CHART_INCHES, CHART_DPI = (10.0, 3.6), 100
CHART_SIZE = (int(CHART_INCHES[0] * CHART_DPI), int(CHART_INCHES[1] * CHART_DPI))  # (width, height) pixels
MAX_LINES = 8


def _reason(error: str) -> str:
    """What went wrong, in a few words: an error without the "file [a-b s]: " prefix the window reader puts in front
    and without the decoder's own detail ("corrupt video data: [Errno ...] ..." -> "corrupt video data")."""
    reason = error.split(" s]: ", 1)[-1]
    return reason.split(": ", 1)[0]


def cue_text(entry: dict) -> str:
    label = entry.get("label") or ""
    scores = entry.get("scores") or {}
    return f"{label} {scores[label]:.0%}" if label in scores else label


def cues(document: dict) -> list[dict]:
    """Contiguous cues over [0, duration], in order (see the module docstring)."""
    duration = document["duration"]
    answered = sorted((e for e in document["windows"] if "error" not in e), key=lambda e: e["start"])
    gaps = {(g["start"], g["end"]): g for g in document["gaps"]}

    def gap_cue(start: float, end: float) -> dict:
        gap = next((g for (a, b), g in gaps.items() if a < end and b > start), {"errors": []})
        why = _reason(gap["errors"][0]) if gap["errors"] else "no window answered here"
        return {"start": start, "end": end, "text": f"[unreadable: {why}]", "kind": "gap"}

    out: list[dict] = []
    if not answered:
        return [gap_cue(0.0, duration)]
    if answered[0]["start"] > 1e-6:
        out.append(gap_cue(0.0, answered[0]["start"]))
    left = answered[0]["start"]
    for i, entry in enumerate(answered):
        following = answered[i + 1] if i + 1 < len(answered) else None
        if following is None:
            right = entry["end"]
        elif following["start"] <= entry["end"]:  # overlapping (or touching): cut between the centres
            middle = (entry["start"] + entry["end"] + following["start"] + following["end"]) / 4
            right = min(max(middle, following["start"]), entry["end"])
        else:
            right = entry["end"]
        if right > left + 1e-6:
            out.append({"start": left, "end": right, "text": cue_text(entry), "kind": "answer"})
        if following is not None and following["start"] > entry["end"] + 1e-6:
            out.append(gap_cue(entry["end"], following["start"]))
            right = following["start"]
        left = right
    if answered[-1]["end"] < duration - 1e-6:
        out.append(gap_cue(answered[-1]["end"], duration))
    return [{**c, "start": round(c["start"], 3), "end": round(c["end"], 3)} for c in out]


def _timestamp(seconds: float) -> str:
    millis = int(round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


def webvtt(document: dict) -> str:
    """The cues as a WebVTT file."""
    note = f"NOTE {Path(document['video']).name}: {document['task']} per window (nanoemox timeline)"
    lines = ["WEBVTT", "", note, ""]
    for number, cue in enumerate(cues(document), start=1):
        lines += [str(number), f"{_timestamp(cue['start'])} --> {_timestamp(cue['end'])}", cue["text"], ""]
    return "\n".join(lines)


def _chart_series(document: dict) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Window centres (x) and per label its probability there (NaN where a window is unreadable); labels beyond
    `MAX_LINES` (by peak) are summed as "other"."""
    windows = sorted(document["windows"], key=lambda e: e["start"])
    x = np.array([(e["start"] + e["end"]) / 2 for e in windows])
    labels = document["labels"]
    series = {
        label: np.array([(e.get("scores") or {}).get(label, np.nan) if "error" not in e else np.nan for e in windows])
        for label in labels
    }
    if len(series) > MAX_LINES:
        ranked = sorted(series, key=lambda k: -np.nan_to_num(series[k], nan=0.0).max())
        rest = np.sum([series[k] for k in ranked[MAX_LINES - 1 :]], axis=0)  # NaN stays NaN at unreadable windows
        series = {k: series[k] for k in ranked[: MAX_LINES - 1]} | {"other": rest}
    return x, series


STRIP_ROWS = (("frame", "frames"), ("face", "face"), ("audio", "speech"))


def _modality_strip(axes, document: dict) -> None:
    """Under the chart, one row per branch: filled where the cue's window had that modality (face found, speech
    above the silence level), hatched grey where the video could not be read."""
    answered = {(e["start"], e["end"]): e for e in document["windows"] if "error" not in e}
    for row, (branch, _) in enumerate(STRIP_ROWS):
        spans, holes = [], []
        for cue in cues(document):
            span = (cue["start"], cue["end"] - cue["start"])
            if cue["kind"] == "gap":
                holes.append(span)
                continue
            entry = _cue_window(cue, answered)
            if entry is not None and (entry.get("modalities") or {}).get(branch):
                spans.append(span)
        axes.broken_barh(spans, (row + 0.15, 0.7), color=f"C{row + 7}")
        axes.broken_barh(holes, (row + 0.15, 0.7), facecolor="none", edgecolor="0.6", hatch="///", linewidth=0)
    axes.set_ylim(0, len(STRIP_ROWS))
    axes.set_yticks([i + 0.5 for i in range(len(STRIP_ROWS))], [name for _, name in STRIP_ROWS], fontsize=7)
    axes.tick_params(axis="y", length=0)


def _cue_window(cue: dict, answered: dict) -> dict | None:
    """The answered window a cue speaks for: the one whose centre is nearest to the cue's middle among those
    containing it."""
    middle = (cue["start"] + cue["end"]) / 2
    inside = [e for (a, b), e in answered.items() if a - 1e-6 <= middle <= b + 1e-6]
    return min(inside, key=lambda e: abs((e["start"] + e["end"]) / 2 - middle), default=None)


def chart(document: dict, path: Path) -> Path | None:
    """Draw the label probabilities over time into `path` (PNG, `CHART_SIZE`); None when no window has scores."""
    if not document["labels"] or not any(e.get("scores") for e in document["windows"]):
        logger.info("no label probabilities (task %s has no label set; give --labels): no chart", document["task"])
        return None
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    x, series = _chart_series(document)
    figure = Figure(figsize=CHART_INCHES, dpi=CHART_DPI)
    axes = figure.add_axes((0.06, 0.36, 0.76, 0.54))
    strip = figure.add_axes((0.06, 0.13, 0.76, 0.14), sharex=axes)
    _modality_strip(strip, document)
    for label, values in series.items():
        axes.plot(x, values, marker="o", markersize=2.5, linewidth=1.4, label=label)
    for gap in document["gaps"]:
        axes.axvspan(gap["start"], gap["end"], color="0.85", zorder=0)
        axes.text(
            (gap["start"] + gap["end"]) / 2,
            0.5,
            "unreadable",
            ha="center",
            va="center",
            rotation=90,
            fontsize=8,
            color="0.35",
        )
    axes.set_xlim(0, document["duration"])
    axes.set_ylim(0, 1)
    axes.tick_params(labelbottom=False)
    strip.set_xlabel("time (s)")
    axes.set_ylabel("probability")
    axes.grid(alpha=0.3)
    axes.set_title(
        f"{Path(document['video']).name}: {document['task']} label probabilities "
        f"(windows of {document['window']:g} s every {document['stride']:g} s)",
        fontsize=10,
    )
    figure.legend(loc="center left", bbox_to_anchor=(0.83, 0.5), fontsize=8, frameon=False)
    figure.savefig(path, dpi=CHART_DPI)
    return Path(path)


def write_timeline(document: dict, output: str | Path) -> dict[str, Path | None]:
    """Write timeline.json, timeline.vtt and timeline.png into the folder `output` (made if missing)."""
    folder = Path(output)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"json": folder / "timeline.json", "vtt": folder / "timeline.vtt"}
    paths["json"].write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    paths["vtt"].write_text(webvtt(document), encoding="utf-8")
    paths["png"] = chart(document, folder / "timeline.png")
    return paths


__all__ = ["CHART_SIZE", "chart", "cue_text", "cues", "webvtt", "write_timeline"]
