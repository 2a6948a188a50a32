"""The P2E curriculum as data: a YAML file of stages, read into dataclasses, overridable from the CLI.

    model:  {init: {preset: tiny}}          # or {path: DIR} / {init: {vision: ..., audio: ..., face: ..., lm: ...}}
    datasets: {demo: {path: runs/data}}     # schema datasets (`nanoemox data ...`), by name
    output_dir: runs/demo-train
    evaluation: {tasks: [mer, ov-mer], wheels: shared/reference/emotion_wheel}   # held-out scoring at the end
    stages:
      - name: phase1.1-audio
        data: [demo]                        # the pool this stage samples from (train split)
        mixture: {mer: 1}                   # task -> ratio (TaskMixture); rows = steps_per_epoch * batch_size
        where: {meta.emotion_modality: voice}   # optional: only rows whose column / meta key has this value
        trainable: [audio_adapter]          # frame_adapter, audio_adapter, face, fusion, lora, lm, or a
                                            # submodule: frame_adapter.general_expert, audio_adapter.gate
        epochs: 1
        steps_per_epoch: 40
        learning_rate: 3.0e-4
        min_learning_rate: 1.0e-4           # cosine to this floor after a linear warm-up
        batch_size: 3

Every field of a stage has a default (`StageConfig`); `--set stages.0.epochs=2` or `--set seed=1` override any
value after the YAML is read.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import yaml

from nanoemox.modeling.prompts_nanoemox import TASKS

TRAINABLE = ("frame_adapter", "audio_adapter", "face", "fusion", "lora", "lm")
# which modules of NanoEmoXModel each trainable name covers
TRAINABLE_MODULES = {
    "frame_adapter": ("frame_adapter",),
    "audio_adapter": ("audio_adapter",),
    "face": ("face_fusion", "face_adapter"),
    "fusion": ("fusion",),
    "lm": ("language_model",),
}
# modules that only some configs build (None otherwise), trained with the name they serve when the model has them:
# EGMF's sentiment head (`sentiment_head: true`) regresses from the LM state the fusion tokens feed, so it trains
# whenever the fusion does
OPTIONAL_MODULES = {"fusion": ("sentiment_head",)}
# trainable names that may be narrowed to one submodule, `<name>.<child>` (e.g. `frame_adapter.general_expert`): a
# child of the module by its attribute path, or a group below; checked against the built model when a stage starts
SUBMODULE_HEADS = ("frame_adapter", "audio_adapter", "fusion")
# submodule names that stand for several children: the hybrid compressor's attention gate
SUBMODULE_GROUPS = {"gate": ("gate_in", "gate_norm", "gate_attn", "gate_out")}
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def module_paths(trainable: list[str]) -> list[str]:
    """Paths of the `NanoEmoXModel` submodules that trainable names cover (`lora` covers none: PEFT adds it).

    `face` -> face_fusion, face_adapter; `frame_adapter.gate` -> frame_adapter.gate_in, ..., frame_adapter.gate_out;
    `audio_adapter.emotion_expert` -> audio_adapter.emotion_expert.
    """
    paths = []
    for name in trainable:
        head, dot, rest = name.partition(".")
        if not dot:
            paths.extend(TRAINABLE_MODULES.get(name, ()))
            continue
        (module,) = TRAINABLE_MODULES[head]
        paths.extend(f"{module}.{child}" for child in SUBMODULE_GROUPS.get(rest, (rest,)))
    return paths


@dataclass
class LoraSettings:
    r: int = field(default=16, metadata={"help": "LoRA rank (paper: 16)"})
    alpha: int = field(default=32, metadata={"help": "LoRA alpha (paper: 32)"})
    dropout: float = field(default=0.05, metadata={"help": "LoRA dropout (paper: 0.05)"})
    targets: list[str] = field(default_factory=lambda: list(LORA_TARGETS), metadata={"help": "LM linear layers"})
    per_task: bool = field(
        default=False,
        metadata={
            "help": "one named LoRA adapter per task of the mixture (Multi-LoRA), each trained independently from "
            "the same base and seed on that task's rows only, for the stage's full step budget (epochs x "
            "steps_per_epoch) each; only LoRA trains (trainable must be [lora]: the adapters and fusion stay one "
            "shared, frozen base), and it is the last stage. final/ holds the base plus adapters/<task>/, "
            "listed in config.task_adapters; inference selects the task's adapter"
        },
    )


@dataclass
class StageConfig:
    name: str = field(metadata={"help": "stage name; also its folder and Hub revision"})
    data: list[str] = field(default_factory=list, metadata={"help": "dataset names (see `datasets`)"})
    mixture: dict[str, float] = field(default_factory=dict, metadata={"help": "task -> sampling ratio"})
    where: dict[str, str | list[str]] = field(
        default_factory=dict,
        metadata={
            "help": "keep only the pool's rows whose value matches, per key: a schema column (`source`) or a key "
            "of the row's meta JSON (`meta.emotion_modality`); a value or a list of accepted values. The paper "
            "aligns each branch on data where that modality carries the label (CREMA-D for speech, CAER and "
            "FERV39k for faces); on one corpus, this picks that share"
        },
    )
    trainable: list[str] = field(
        default_factory=list, metadata={"help": f"any of {TRAINABLE}, or a submodule: frame_adapter.general_expert"}
    )
    epochs: float = field(default=1, metadata={"help": "epochs over steps_per_epoch batches"})
    steps_per_epoch: int = field(default=100, metadata={"help": "optimizer steps per epoch (paper: 5000 iters)"})
    learning_rate: float = field(default=1e-4, metadata={"help": "peak learning rate"})
    min_learning_rate: float | None = field(default=None, metadata={"help": "cosine floor (paper: 3e-4 -> 1e-4)"})
    warmup_ratio: float = field(default=0.05, metadata={"help": "linear warm-up share of the steps"})
    weight_decay: float = field(default=0.05, metadata={"help": "AdamW weight decay (paper: 0.05)"})
    batch_size: int = field(default=3, metadata={"help": "per-device batch (paper: 3)"})
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "micro-batches per optimizer step"})
    lora: LoraSettings = field(default_factory=LoraSettings, metadata={"help": "used when trainable has lora"})
    save_steps: int = field(default=50, metadata={"help": "checkpoint every N steps (resume points)"})
    logging_steps: int = field(default=10, metadata={"help": "log every N steps"})

    def validate(self, datasets: dict) -> None:
        unknown = sorted({t for t in self.trainable if t.partition(".")[0] not in TRAINABLE})
        if unknown:
            raise ValueError(
                f"stage {self.name!r}: unknown trainable {unknown}; expected {TRAINABLE} "
                f"or a submodule of {SUBMODULE_HEADS} (e.g. frame_adapter.general_expert)"
            )
        for name in self.trainable:
            head, dot, rest = name.partition(".")
            if dot and (head not in SUBMODULE_HEADS or not all(rest.split("."))):
                raise ValueError(
                    f"stage {self.name!r}: trainable {name!r}: only {SUBMODULE_HEADS} take a submodule (name.child)"
                )
            if dot and head in self.trainable:
                raise ValueError(f"stage {self.name!r}: trainable {name!r} is already covered by {head!r}")
        if not self.trainable:
            raise ValueError(f"stage {self.name!r}: trainable is empty")
        if "lora" in self.trainable and "lm" in self.trainable:
            raise ValueError(f"stage {self.name!r}: train the LM either fully (lm) or with LoRA (lora), not both")
        if self.lora.per_task and self.trainable != ["lora"]:
            raise ValueError(
                f"stage {self.name!r}: lora.per_task trains one LoRA adapter per task on a shared frozen base; "
                f"trainable must be [lora], got {self.trainable}"
            )
        missing = [d for d in self.data if d not in datasets]
        if missing or not self.data:
            raise ValueError(f"stage {self.name!r}: data {missing or self.data} not among datasets {list(datasets)}")
        for key, value in self.where.items():
            head, dot, rest = key.partition(".")
            if not key or (dot and (head != "meta" or not rest)) or (not dot and key == "meta"):
                raise ValueError(f"stage {self.name!r}: where key {key!r}: expected a column or meta.<key>")
            values = value if isinstance(value, list) else [value]
            if not values or not all(isinstance(v, (str, int, float, bool)) for v in values):
                raise ValueError(f"stage {self.name!r}: where {key!r}: expected a value or a list, got {value!r}")
        bad = [t for t in self.mixture if t not in TASKS]
        if bad or not self.mixture:
            raise ValueError(f"stage {self.name!r}: mixture tasks {bad or '(none)'}; expected some of {TASKS}")
        for key in ("epochs", "steps_per_epoch", "learning_rate", "batch_size", "gradient_accumulation_steps"):
            if not getattr(self, key) > 0:
                raise ValueError(f"stage {self.name!r}: {key} must be positive, got {getattr(self, key)!r}")

    @property
    def rows_per_epoch(self) -> int:
        return self.steps_per_epoch * self.batch_size * self.gradient_accumulation_steps


@dataclass
class EvalSettings:
    split: str = field(default="test", metadata={"help": "held-out split scored after the last stage"})
    tasks: list[str] = field(default_factory=lambda: list(TASKS), metadata={"help": "tasks to score"})
    max_samples: int | None = field(default=None, metadata={"help": "per task; None: all"})
    max_new_tokens: int = field(default=48, metadata={"help": "greedy decoding length"})
    batch_size: int = field(default=8, metadata={"help": "generation batch"})
    ablate: list[str] = field(default_factory=list, metadata={"help": "branches to mask one at a time"})
    ablation_tasks: list[str] = field(default_factory=lambda: ["mer", "mir"], metadata={"help": "tasks ablated"})
    wheels: str | None = field(
        default=None,
        metadata={
            "help": "emotion wheel folder (wheel1..5.xlsx, synonym.xlsx, format.csv): the MER hit rate and the OV-MER "
            "F (`fscore`); without it OV-MER reports the exact-set F (`exact_set_fscore`) only; `--wheels` sets it"
        },
    )


@dataclass
class CurriculumConfig:
    stages: list[StageConfig]
    name: str = field(default="", metadata={"help": "what model cards call it (default: the preset or file name)"})
    model: dict = field(default_factory=lambda: {"init": {"preset": "tiny"}})
    datasets: dict[str, dict] = field(default_factory=dict)
    output_dir: str = "runs/train"
    seed: int = 0
    feature_cache: bool = field(default=True, metadata={"help": "cache frozen encoders' outputs"})
    dataloader_num_workers: int = 0
    evaluation: EvalSettings = field(default_factory=EvalSettings)
    hub: dict | None = field(
        default=None,
        metadata={"help": "{repo_id, private}: push each stage's checkpoint as a branch named after it (HF_TOKEN)"},
    )

    def validate(self) -> None:
        if not self.stages:
            raise ValueError("the curriculum has no stages")
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ValueError(f"stage names must be unique: {names}")
        for stage in self.stages:
            stage.validate(self.datasets)
        if any(s.lora.per_task for s in self.stages[:-1]):
            # later stages would start from the shared base alone and leave a checkpoint without the adapters
            raise ValueError("a lora.per_task stage must be the last stage of the curriculum")
        for name, spec in self.datasets.items():
            if "path" not in spec:
                raise ValueError(f"dataset {name!r}: needs a path")

    def to_dict(self) -> dict:
        return asdict(self)


def _build(cls, data: dict, where: str):
    known = {f.name: f for f in fields(cls)}
    unknown = set(data) - set(known)
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}; expected {sorted(known)}")
    return cls(**data)


def _set(tree: dict, dotted: str, value) -> None:
    keys = dotted.split(".")
    node = tree
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    last = keys[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def parse_curriculum(data: dict, overrides: list[str] | None = None, base_dir: Path | None = None) -> CurriculumConfig:
    """Build a `CurriculumConfig` from YAML data and `key=value` overrides (values parsed as YAML)."""
    data = copy.deepcopy(data)
    for item in overrides or []:
        if "=" not in item:
            raise ValueError(f"override {item!r}: expected key=value")
        key, value = item.split("=", 1)
        _set(data, key, yaml.safe_load(value))
    stages = []
    for i, raw in enumerate(data.pop("stages", []) or []):
        raw = dict(raw)
        if isinstance(raw.get("lora"), dict):
            raw["lora"] = _build(LoraSettings, raw["lora"], f"stages[{i}].lora")
        stages.append(_build(StageConfig, raw, f"stages[{i}]"))
    if isinstance(data.get("evaluation"), dict):
        data["evaluation"] = _build(EvalSettings, data["evaluation"], "evaluation")
    config = _build(CurriculumConfig, {**data, "stages": stages}, "curriculum")
    if base_dir is not None:  # dataset paths in a YAML file are relative to the working directory, as on the CLI
        for spec in config.datasets.values():
            spec["path"] = str(Path(spec["path"]))
    config.validate()
    return config


def load_curriculum(path: str | Path, overrides: list[str] | None = None) -> CurriculumConfig:
    path = Path(path)
    if not path.exists():
        builtin = Path(__file__).parent / "configs" / f"{path.stem}.yaml"
        if not builtin.exists():
            presets = ", ".join(sorted(p.stem for p in builtin.parent.glob("*.yaml")))
            raise ValueError(f"curriculum {str(path)!r} not found (built-in presets: {presets})")
        path = builtin
    data = yaml.safe_load(path.read_text())
    data.setdefault("name", path.stem)
    return parse_curriculum(data, overrides, base_dir=path.parent)
