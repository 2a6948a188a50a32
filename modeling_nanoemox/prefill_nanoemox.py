"""What a prefill says about its media (which branches each row used, the fusion gate, the sentiment head's score),
read off the forward passes `generate` runs anyway. A mixin of the model class.

    with model.capture_prefill() as prefill:
        out = model.generate(**inputs, max_new_tokens=8)
    prefill[0].media_mask, prefill[0].fusion_gate_weights, prefill[0].sentiment_score   # (b, 4), (b, e), (b,)
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import torch


@dataclass
class PrefillRecord:
    """What one prefill forward says about its media (see `NanoEmoXForConditionalGeneration.capture_prefill`).

    media_mask (`(b, 4)` bool): the branches (frame, face, audio, fusion) each row used.
    fusion_gate_weights (`(b, experts)`): the fusion gate (zeros where the row has no fusion token).
    sentiment_score (`(b,)`): the sentiment head's score, None without the head.
    """

    media_mask: torch.BoolTensor
    fusion_gate_weights: torch.FloatTensor
    sentiment_score: torch.FloatTensor | None = None


class PrefillMixin:
    """`capture_prefill` for the model class (whose `model` is the `NanoEmoXModel`)."""

    @contextmanager
    def capture_prefill(self):
        """Collect what the prefill forwards inside the block (e.g. of `generate`) say about the media, at no cost.

            with model.capture_prefill() as prefill:
                out = model.generate(**inputs, max_new_tokens=8)
            prefill[0].media_mask, prefill[0].fusion_gate_weights, prefill[0].sentiment_score   # (b, 4), (b, e), (b,)

        Yields a list that receives one `PrefillRecord` per forward that placed media (decode steps place none):
        which branches each row used, the fusion gate, and the sentiment head's score (None without the head). The
        pipeline and the evaluation runner read them here instead of encoding the media a second time.
        """
        records: list[PrefillRecord] = []

        def keep(module, args, output):
            if output.media_mask is not None:
                records.append(
                    PrefillRecord(
                        media_mask=output.media_mask.detach(),
                        fusion_gate_weights=output.fusion_gate_weights.detach(),
                        sentiment_score=None if output.sentiment_score is None else output.sentiment_score.detach(),
                    )
                )

        handle = self.model.register_forward_hook(keep)
        try:
            yield records
        finally:
            handle.remove()


__all__ = ["PrefillMixin", "PrefillRecord"]
