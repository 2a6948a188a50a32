"""Multi-LoRA: one PEFT adapter per task on one shared base, chosen by task. A mixin of the model class.

A checkpoint trained by a `lora.per_task` curriculum stage holds the shared base plus `adapters/<task>/`, listed in
`config.task_adapters`. The model loads them all as named adapters on first use and answers each task with its own;
a task without one is answered by the base, with a warning:

    model = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True)
    model.use_task_adapter("mer")          # "mer" (loads every adapter of the checkpoint the first time)
    model.use_task_adapter("msa")          # None: no msa adapter, the base answers

By hand, the same is `model.load_adapter(f"{folder}/adapters/{task}", adapter_name=task)` per task, then
`model.set_adapter(task)`.
"""

from __future__ import annotations

import logging
import os

logger = logging.getLogger(__name__)


class TaskAdaptersMixin:
    """Per-task PEFT adapters of a Multi-LoRA checkpoint (for a `PreTrainedModel` with transformers' PEFT support)."""

    @property
    def task_adapters(self) -> dict[str, str]:
        """task -> adapter folder in the checkpoint (`config.task_adapters`); empty for a single-model checkpoint."""
        return dict(getattr(self.config, "task_adapters", None) or {})

    def load_task_adapters(self, source: str | os.PathLike | None = None, revision: str | None = None) -> list[str]:
        """Load every adapter of `config.task_adapters` as a PEFT adapter named after its task (those not loaded yet).

        source: the checkpoint folder or Hub id the adapters live in (default: the one the model was loaded from).
        revision: of a Hub id (with the default source: the commit the model was loaded from).
        Returns the names of the adapters the model holds.
        """
        if source is None:  # the checkpoint the model came from, at the same commit
            source, revision = self.name_or_path, getattr(self.config, "_commit_hash", None)
        source = str(source)
        loaded = set(getattr(self, "peft_config", None) or {})
        for task, subfolder in self.task_adapters.items():
            if task in loaded:
                continue
            if os.path.isdir(source):
                folder = os.path.join(source, subfolder)
                if not os.path.isfile(os.path.join(folder, "adapter_config.json")):
                    raise ValueError(f"config.task_adapters lists {task!r} at {folder!r}, which holds no PEFT adapter")
                self.load_adapter(folder, adapter_name=task)
            else:  # a Hub repository: the adapter is a subfolder of the same revision
                kwargs = {"subfolder": subfolder, **({"revision": revision} if revision else {})}
                self.load_adapter(source, adapter_name=task, adapter_kwargs=kwargs)
            loaded.add(task)
        return sorted(loaded)

    def use_task_adapter(self, task: str) -> str | None:
        """Make the model answer `task` with its adapter (loading the checkpoint's adapters on first use).

        Returns the active adapter's name; None when the checkpoint has no per-task adapters, or none for `task` (the
        base answers then, with a warning once per task).
        """
        adapters = self.task_adapters
        if not adapters:
            return None
        self.load_task_adapters()
        if task in adapters:
            self.enable_adapters()
            self.set_adapter(task)
            return task
        warned = self.__dict__.setdefault("_tasks_without_adapter", set())
        if task not in warned:
            warned.add(task)
            logger.warning(
                "no %r adapter in this checkpoint (adapters: %s); the base model answers", task, sorted(adapters)
            )
        self.disable_adapters()
        return None


__all__ = ["TaskAdaptersMixin"]
