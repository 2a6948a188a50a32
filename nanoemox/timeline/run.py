"""A long video's windows through the batched `emotion-analysis` pipeline: one entry per window, gaps, a document.

    analyse = load_analyser("ckpt/")
    timeline = Timeline(analyse, "talk.mp4", task="mer", window=4, stride=2)
    for entry in timeline:            # in window order, as the batches finish; a progress bar on stderr
        ...                           # {"index", "start", "end", "label", "answer", "scores", "modalities", ...}
    document = timeline.document()    # what timeline.json holds: the run's settings, windows, gaps, notes

Windows are decoded one at a time by `media.WindowReader` inside the generator that feeds the pipeline, so at most
a batch of windows is in memory whatever the video's length. A window that cannot be decoded is an entry with an
`error` instead of an answer, and the run goes on; `gaps` are the stretches of the video that no answered window
covers (each with the reasons of the windows that failed there). A missing modality is not an error: no audio
track, a silent stretch or a clip without a face masks that branch in the windows concerned (`modalities`), and the
processor's per-window warnings are gathered into one note per branch.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Iterator

from tqdm.auto import tqdm

from nanoemox.analyser import supports_explain

from .media import WindowReader
from .windows import check_window, loudness, plan_windows, probe_media

logger = logging.getLogger(__name__)


class _MaskedBranches(logging.Filter):
    """Swallows the processor's "row ...: <branch> branch masked: <reason>" warnings (and the face finder's "no face
    found" notices) and counts them per branch: one note per branch instead of a line per window."""

    def __init__(self):
        super().__init__()
        self.counts: collections.Counter = collections.Counter()
        self.reasons: dict[str, str] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "no face found" in message and " branch masked: " not in message:
            return False
        if " branch masked: " not in message:
            return True
        head, reason = message.split(" branch masked: ", 1)
        branch = head.rsplit(" ", 1)[-1]
        self.counts[branch] += 1
        reason = reason.replace("<tuple>", "the window's audio").replace("<frames>", "the window's frames")
        self.reasons.setdefault(branch, reason)
        return False


def headline(task: str | None, result: dict) -> str:
    """The one word a window shows: its most probable label, else the answer's first field, else the text."""
    if result.get("scores"):
        return max(result["scores"].items(), key=lambda kv: kv[1])[0]
    for value in (result.get("answer") or {}).values():
        if isinstance(value, str) and value:
            return value
        if isinstance(value, list) and value:
            return ", ".join(map(str, value))
    return result.get("generated_text", "")


class Timeline:
    """The windows of one video, answered in order (see the module docstring).

    analyse: an `EmotionAnalysisPipeline` (`nanoemox.analyser.load_analyser`).
    task: the task every window is asked; labels: candidate answers to score (default: the checkpoint's label set
        of a closed-set task; an open-ended task without labels gets no `scores`).
    window, stride: seconds; snap: how far (seconds) a window edge may move into a speech pause (0: never).
    explain: ask the pipeline for each branch's share (`attribution`); a pipeline without it is a ValueError.
    batch_size: windows per forward pass; generate: keyword arguments for generation (default: greedy, so
        neighbouring windows are comparable).
    Raises ValueError (one line, naming the file) for an unreadable file, a file without video, a raw stream
    without timestamps, or a window the video is too short for.
    """

    def __init__(
        self,
        analyse,
        video: str,
        *,
        task: str = "mer",
        labels: list[str] | None = None,
        window: float = 4.0,
        stride: float = 2.0,
        snap: float = 1.0,
        explain: bool = False,
        batch_size: int = 4,
        generate: dict | None = None,
        progress: bool = True,
    ):
        if explain and not supports_explain(analyse):
            raise ValueError(
                "--explain: this version of the emotion-analysis pipeline gives no attribution (explain=True)"
            )
        self.analyse = analyse
        self.task, self.labels, self.explain = task, labels, explain
        self.window, self.stride, self.snap = float(window), float(stride), float(snap)
        self.batch_size = batch_size
        self.generate = {"do_sample": False, **(generate or {})}
        self.progress = progress
        self.info = probe_media(str(video))
        check_window(self.info.duration, self.window, self.stride, self.info.path)
        self.notes: list[str] = []
        silence_db = float(getattr(analyse.processor, "silence_db", -50.0))
        loud = loudness(self.info)
        pauses = None
        if loud is None:
            self.notes.append("no audio track: the audio branch is masked in every window; edges are not snapped")
        elif loud.silent(silence_db):
            self.notes.append(f"the audio is silent throughout (below {silence_db:g} dBFS): no pauses to snap to")
        else:
            pauses = loud.pause_times(silence_db)
        self.spans = plan_windows(
            self.info.duration, self.window, self.stride, pauses=pauses, snap=self.snap if pauses is not None else 0
        )
        self.entries: list[dict] = []

    # ------------------------------------------------------------------ answering
    def __iter__(self) -> Iterator[dict]:
        reader = WindowReader(self.info, num_frames=int(getattr(self.analyse.processor, "num_frames", 8)))
        ready: dict[int, dict] = {}
        sent: collections.deque = collections.deque()

        def rows():
            for index, (start, end) in enumerate(self.spans):
                try:
                    media = reader.read(start, end)
                except ValueError as err:
                    logger.warning("window %d unreadable: %s", index, err)
                    ready[index] = {"index": index, "start": start, "end": end, "error": str(err)}
                    continue
                row = {"id": f"window-{index}", "video": media.frames, "task": self.task}
                if media.audio is not None:
                    row["audio"] = media.audio
                sent.append(index)
                yield row

        kwargs = dict(self.generate)
        if self.labels is not None:
            kwargs["labels"] = self.labels
        if self.explain:
            kwargs["explain"] = True
        masked = _MaskedBranches()
        module = type(self.analyse.processor).__module__  # the processor's and face finder's loggers
        quieted = [logging.getLogger(module), logging.getLogger(module.replace("processing_", "faces_"))]
        for log in quieted:
            log.addFilter(masked)
        bar = tqdm(total=len(self.spans), desc="timeline", unit="window", disable=not self.progress)
        following = 0
        try:
            for result in self.analyse(rows(), batch_size=self.batch_size, **kwargs):
                index = sent.popleft()
                start, end = self.spans[index]
                ready[index] = self._entry(index, start, end, result)
                while following in ready:
                    entry = ready.pop(following)
                    self.entries.append(entry)
                    bar.update(1)
                    following += 1
                    yield entry
            for index in sorted(ready):  # windows after the last answered one that could not be read
                self.entries.append(ready[index])
                bar.update(1)
                yield ready[index]
        finally:
            bar.close()
            for log in quieted:
                log.removeFilter(masked)
        for branch, count in masked.counts.items():
            self.notes.append(
                f"{branch} branch masked in {count} of {len(self.spans)} windows ({masked.reasons[branch]})"
            )

    def _entry(self, index: int, start: float, end: float, result: dict) -> dict:
        if "error" in result:
            return {"index": index, "start": start, "end": end, "error": result["error"]}
        entry = {
            "index": index,
            "start": start,
            "end": end,
            "label": headline(self.task, result),
            "answer": result.get("answer"),
            "generated_text": result.get("generated_text"),
            "scores": result.get("scores"),
            "modalities": result.get("modalities"),
            "fusion_gate_weights": result.get("fusion_gate_weights"),
        }
        if result.get("attribution") is not None:
            entry["attribution"] = result["attribution"]
        return entry

    def run(self) -> dict:
        """Answer every window (if not done yet) and return `document()`."""
        if not self.entries:
            for _ in self:
                pass
        return self.document()

    # ------------------------------------------------------------------ the result
    def gaps(self) -> list[dict]:
        """Stretches of [0, duration] that no answered window covers, each with the errors of the windows there."""
        answered = sorted((e["start"], e["end"]) for e in self.entries if "error" not in e)
        holes, cursor = [], 0.0
        for start, end in answered:
            if start > cursor + 1e-6:
                holes.append((cursor, start))
            cursor = max(cursor, end)
        if cursor < self.info.duration - 1e-6:
            holes.append((cursor, self.info.duration))
        gaps = []
        for start, end in holes:
            failed = [e for e in self.entries if "error" in e and e["start"] < end and e["end"] > start]
            reasons = sorted({e["error"] for e in failed})
            gaps.append({"start": round(start, 3), "end": round(end, 3), "errors": reasons})
        return gaps

    def document(self) -> dict:
        """The timeline as JSON-ready data: the video, the settings, every window in order, the gaps and notes."""
        entries = sorted(self.entries, key=lambda e: e["index"])
        gaps = self.gaps()
        labels = self.labels or list(getattr(self.analyse.processor, "task_labels", {}).get(self.task, []))
        return {
            "video": self.info.path,
            "duration": round(self.info.duration, 3),
            "task": self.task,
            "labels": labels if any("scores" in e and e["scores"] for e in entries) else [],
            "window": self.window,
            "stride": self.stride,
            "snap": self.snap,
            "windows": entries,
            "answered": sum("error" not in e for e in entries),
            "unreadable": sum("error" in e for e in entries),
            "covered_seconds": round(self.info.duration - sum(g["end"] - g["start"] for g in gaps), 3),
            "gaps": gaps,
            "notes": list(self.notes),
        }


__all__ = ["Timeline", "headline"]
