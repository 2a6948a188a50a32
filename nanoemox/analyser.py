"""The `emotion-analysis` pipeline on a checkpoint, run by this package's own code (for the timeline and the web demo).

    analyse = load_analyser("runs/demo/train/4-phase3-multitask/final")   # a folder or a Hub id
    analyse("clip.mp4", task="mer")["scores"]                             # label probabilities, whatever the
                                                                            # checkpoint's code version
    supports_explain(analyse)                                              # whether explain=True gives attribution

`pipeline("emotion-analysis", model=..., trust_remote_code=True)` runs the code a checkpoint was saved with; a
checkpoint written before label probabilities (or attribution) existed would answer without them. The timeline and
the web demo rely on those outputs, so they load the weights into the installed package's classes instead (the
checkpoint's weights and processor settings, this package's code; checkpoints of earlier releases load, see
tests/test_previous_release.py).
"""

from __future__ import annotations

import inspect
import logging

logger = logging.getLogger(__name__)


def load_analyser(model: str, *, device: str = "auto", dtype: str = "float32"):
    """An `EmotionAnalysisPipeline` (this package's) on the checkpoint `model` (a folder or a Hub id)."""
    import torch

    from nanoemox.modeling.modeling_nanoemox import NanoEmoXForConditionalGeneration
    from nanoemox.modeling.pipeline_nanoemox import EmotionAnalysisPipeline
    from nanoemox.modeling.processing_nanoemox import NanoEmoXProcessor

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    weights = NanoEmoXForConditionalGeneration.from_pretrained(model, dtype=getattr(torch, dtype)).to(device).eval()
    processor = NanoEmoXProcessor.from_pretrained(model, trust_remote_code=True)  # its sub-configs carry an auto_map
    return EmotionAnalysisPipeline(model=weights, processor=processor, task="emotion-analysis", device=device)


def supports_explain(analyse=None) -> bool:
    """Whether a pipeline (default: this package's `EmotionAnalysisPipeline`, what `load_analyser` builds) takes
    `explain=True` (per-branch attribution in the answer); asking about the class needs no model."""
    if analyse is None:
        from nanoemox.modeling.pipeline_nanoemox import EmotionAnalysisPipeline as analyse
    return "explain" in inspect.signature(analyse._sanitize_parameters).parameters


__all__ = ["load_analyser", "supports_explain"]
