"""What a stage trains: freeze the model, unfreeze the stage's modules, wrap the LM with LoRA; count what trains.

    model = apply_trainable(model, stage)      # a `PeftModel` when the stage trains `lora`
    trainable_counts(model)                    # {"audio_adapter": n, "lora": n, "total": n}: what trains

Frozen encoders stay in eval mode when the model trains (`NanoEmoXModel.train`): no dropout, no time masking, the
same features as the feature cache holds.
"""

from __future__ import annotations

from collections import defaultdict

from nanoemox.modeling.modeling_nanoemox import NanoEmoXForConditionalGeneration

from .curriculum import OPTIONAL_MODULES, SUBMODULE_GROUPS, TRAINABLE_MODULES, StageConfig, module_paths

# the LM's linear layers LoRA adapts, by name (`targets`: q_proj, k_proj, ...)
LM_LINEAR = r".*language_model\.layers\.\d+\.(self_attn|mlp)\.({targets})"


def resolve_trainable(model: NanoEmoXForConditionalGeneration, stage: StageConfig) -> list[str]:
    """Paths under `model.model` of the modules `stage` trains, each checked to exist in this model and to hold
    parameters (`frame_adapter.general_expert` needs a hybrid compressor): `ValueError` naming the stage otherwise."""
    paths = []
    for name in stage.trainable:
        for path in module_paths([name]):
            head, _, child = path.partition(".")
            try:
                found = any(True for _ in model.model.get_submodule(path).parameters())
            except AttributeError:
                found = False
            if not found:
                adapter = model.model.get_submodule(head)
                raise ValueError(
                    f"stage {stage.name!r}: trainable {name!r}: the {head} is a {type(adapter).__name__} "
                    f"({head}: {getattr(model.config, head, '?')}) without a submodule {child!r} that has parameters; "
                    f"its submodules: {[n for n, _ in adapter.named_children()]}"
                )
            paths.append(path)
    optional = [m for name in stage.trainable for m in OPTIONAL_MODULES.get(name, ())]
    paths += [m for m in optional if getattr(model.model, m, None) is not None]  # e.g. the sentiment head
    return paths


def apply_trainable(model: NanoEmoXForConditionalGeneration, stage: StageConfig):
    """Freeze everything, then unfreeze what the stage trains; wrap with PEFT LoRA when it trains `lora`.

    Returns the model to train (a `PeftModel` for LoRA stages).
    """
    model.requires_grad_(False)
    modules = resolve_trainable(model, stage)
    for name in modules:
        model.model.get_submodule(name).requires_grad_(True)
    if "lora" not in stage.trainable:
        return model
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=stage.lora.r,
        lora_alpha=stage.lora.alpha,
        lora_dropout=stage.lora.dropout,
        target_modules=LM_LINEAR.format(targets="|".join(stage.lora.targets)),
        # PEFT matches these as suffixes of module names: qualified, so that `fusion` does not also catch `face_fusion`
        modules_to_save=[f"model.{m}" for m in modules] or None,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def trainable_counts(model) -> dict[str, int]:
    """Trainable parameters by module (`frame_adapter`, `face_fusion`, ...), `lora` and `total`. A module trained
    only in part is counted by child instead (`frame_adapter.general_expert`, `frame_adapter.gate`, ...)."""
    modules = {m for names in (*TRAINABLE_MODULES.values(), *OPTIONAL_MODULES.values()) for m in names}
    group_of = {child: group for group, children in SUBMODULE_GROUPS.items() for child in children}
    found: list[tuple[str, str | None, int]] = []  # (module or first name part, child, numel) per trainable tensor
    partial: set[str] = set()
    for name, p in model.named_parameters():
        parts = name.split(".")
        if "original_module" in parts:  # PEFT's frozen copy beside a `modules_to_save` module
            continue
        i = next((i for i, x in enumerate(parts) if x in modules), None)
        if not p.requires_grad:
            if i is not None:
                partial.add(parts[i])
            continue
        if "lora_" in name or i is None:
            found.append(("lora" if "lora_" in name else parts[0], None, p.numel()))
            continue
        rest = parts[i + 1 :]
        if rest[0] == "modules_to_save":  # a PEFT-wrapped module: modules_to_save.<adapter>.<child>...
            rest = rest[2:]
        found.append((parts[i], group_of.get(rest[0], rest[0]), p.numel()))
    counts: dict[str, int] = defaultdict(int)
    for module, child, n in found:
        counts[f"{module}.{child}" if module in partial and child else module] += n
    counts["total"] = sum(counts.values())
    return dict(counts)
