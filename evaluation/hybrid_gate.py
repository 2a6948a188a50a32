"""The hybrid compressor's gate per task: how much a task leans on the emotion expert (as Emotion-Qwen reports it).

    with HybridGateRecorder(model) as gates:
        answers, skipped = generate_answers(model, processor, rows)
    gates.means()   # {"frame": 0.61, "audio": 0.48}; {} when no adapter is a hybrid compressor

`evaluate_model` stores this per task as `metrics["hybrid_gate"]`.
"""

from __future__ import annotations

import torch

# branch -> the config field naming its adapter, which is also the adapter's attribute of `NanoEmoXModel`
BRANCH_ADAPTERS = {"frame": "frame_adapter", "audio": "audio_adapter"}
HYBRID = "hybrid_compressor"


class HybridGateRecorder:
    """Collects the per-sample mean gate G (`adapter.last_gate`, (b,)) of each hybrid-compressor adapter.

    A forward hook on the adapter reads it right after the adapter ran. Adapters run only where media are encoded:
    at the prefill forward of `generate` (decode steps carry no media and never call them), for the samples that
    have the branch. So every evaluated sample with frames (audio) counts once in `means()["frame"]` (`["audio"]`),
    and a batch without the branch leaves no stale value behind.
    """

    def __init__(self, model):
        base = getattr(model, "model", model)  # NanoEmoXForConditionalGeneration -> NanoEmoXModel
        self.adapters = {
            branch: getattr(base, field)
            for branch, field in BRANCH_ADAPTERS.items()
            if getattr(model.config, field, None) == HYBRID
        }
        self.values: dict[str, list[torch.Tensor]] = {branch: [] for branch in self.adapters}
        self._hooks = []

    def __bool__(self) -> bool:
        return bool(self.adapters)

    def __enter__(self) -> HybridGateRecorder:
        for branch, adapter in self.adapters.items():
            self._hooks.append(adapter.register_forward_hook(self._hook(branch)))
        return self

    def __exit__(self, *exc) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks.clear()

    def _hook(self, branch: str):
        def record(module, args, output):
            self.values[branch].append(module.last_gate.detach().float().cpu())

        return record

    def means(self) -> dict[str, float]:
        """Mean gate per branch over the recorded samples (branches no sample had are left out)."""
        return {branch: torch.cat(v).mean().item() for branch, v in self.values.items() if v}
