"""Emotion-Qwen's curriculum for the hybrid compressor: trainable submodules (`frame_adapter.general_expert`), the
`emotion_qwen` preset, and the per-task gate report of the evaluation."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from datasets import load_from_disk
from safetensors.torch import load_file

from nanoemox.evaluation.hybrid_gate import HybridGateRecorder
from nanoemox.evaluation.runner import generate_answers
from nanoemox.modeling.collator_nanoemox import NanoEmoXCollator
from nanoemox.modeling.modeling_nanoemox import NanoEmoXForConditionalGeneration
from nanoemox.modeling.processing_nanoemox import NanoEmoXProcessor
from nanoemox.processing.demo_corpus import generate_demo_corpus
from nanoemox.train.cli import main as train_main
from nanoemox.train.curriculum import load_curriculum, parse_curriculum
from nanoemox.train.engine import dry_run

HYBRID = {"frame_adapter": "hybrid_compressor", "audio_adapter": "hybrid_compressor"}
LORA_TARGETS = (".q_proj.", ".k_proj.", ".v_proj.", ".o_proj.", ".gate_proj.", ".up_proj.", ".down_proj.")
# (name, trainable, safetensors prefixes that must change, and nothing else; LoRA also changes the LM's targets)
STAGES = [
    (
        "general",
        ["frame_adapter.general_expert", "audio_adapter.general_expert"],
        ("model.frame_adapter.general_expert.", "model.audio_adapter.general_expert."),
    ),
    (
        "emotion",
        ["frame_adapter.emotion_expert", "frame_adapter.gate", "audio_adapter.emotion_expert", "audio_adapter.gate"],
        ("model.frame_adapter.emotion_expert.", "model.frame_adapter.gate_", "model.audio_adapter.emotion_expert.")
        + ("model.audio_adapter.gate_",),
    ),
    (
        "tune",
        ["frame_adapter", "audio_adapter.emotion_expert", "fusion", "lora"],
        ("model.frame_adapter.", "model.audio_adapter.emotion_expert.", "model.fusion."),
    ),
]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo") / "data"
    generate_demo_corpus(folder, num_clips=12, seed=0, progress=False)
    return folder


def _stage(name: str, trainable: list[str]) -> dict:
    return {
        "name": name,
        "data": ["demo"],
        "mixture": {"mer": 1, "mir": 1},
        "trainable": trainable,
        "steps_per_epoch": 2,
        "batch_size": 2,
        "learning_rate": 1e-2,
        "save_steps": 100,
        "logging_steps": 1,
    }


def _curriculum(data: Path, output: Path, stages: list[dict], arch: dict | None = None) -> dict:
    return {
        "model": {"init": {"preset": "tiny", "arch": arch if arch is not None else HYBRID}},
        "datasets": {"demo": {"path": str(data)}},
        "output_dir": str(output),
        "stages": stages,
        "evaluation": {"tasks": ["mer", "mir"], "max_samples": 4, "max_new_tokens": 3, "batch_size": 4},
    }


@pytest.fixture(scope="module")
def run(data, tmp_path_factory):
    """Three short stages with the hybrid compressor through `nanoemox train`, evaluated at the end."""
    tmp = tmp_path_factory.mktemp("emotion-qwen")
    raw = _curriculum(data, tmp / "run", [_stage(name, trainable) for name, trainable, _ in STAGES])
    (tmp / "c.yaml").write_text(json.dumps(raw))
    assert train_main(["--config", str(tmp / "c.yaml")]) == 0
    return tmp / "run"


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(folder / "model.safetensors")


@pytest.mark.slow
def test_each_stage_changes_exactly_the_named_submodules(run):
    folders = [run / "0-init"] + [run / f"{i}-{name}" / "final" for i, (name, _, _) in enumerate(STAGES, start=1)]
    for (name, trainable, prefixes), before, after in zip(STAGES, folders, folders[1:]):
        old, new = _weights(before), _weights(after)
        assert set(old) == set(new)
        for key in old:
            in_lora = "lora" in trainable and ".language_model." in key and any(t in key for t in LORA_TARGETS)
            if key.startswith(prefixes) or (in_lora and key.endswith("weight")):
                assert not torch.equal(old[key], new[key]), f"stage {name}: {key} should have changed"
            else:
                assert torch.equal(old[key], new[key]), f"stage {name}: {key} should be frozen"
    counts = [json.loads((f.parent / "stage.json").read_text())["trainable_parameters"] for f in folders[1:]]
    assert set(counts[0]) == {"frame_adapter.general_expert", "audio_adapter.general_expert", "total"}
    assert set(counts[1]) == {
        "frame_adapter.emotion_expert",
        "frame_adapter.gate",
        "audio_adapter.emotion_expert",
        "audio_adapter.gate",
        "total",
    }
    assert set(counts[2]) == {"lora", "frame_adapter", "audio_adapter.emotion_expert", "fusion", "total"}
    # the experts are the same shape: the general and the emotion expert count alike
    assert counts[0]["frame_adapter.general_expert"] == counts[1]["frame_adapter.emotion_expert"]


def test_evaluation_reports_the_hybrid_gate_per_task(run):
    results = json.loads((run / "eval_results.json").read_text())
    tasks = results["datasets"]["demo"]["all_modalities"]
    assert set(tasks) == {"mer", "mir"}
    for task, metrics in tasks.items():
        gate = metrics["hybrid_gate"]
        assert set(gate) == {"frame", "audio"}, task
        assert all(0.0 <= g <= 1.0 for g in gate.values()), (task, gate)
    # the gate reads the media only, not the prompt: the first MER and MIR rows of the demo are the same clips
    assert tasks["mer"]["hybrid_gate"] == tasks["mir"]["hybrid_gate"]


def test_gate_report_is_the_prefill_gate_of_each_sample(run, data):
    """Decode steps must neither add entries nor overwrite the gate: each sample counts once, with the gate the
    adapter gives its media in a plain forward."""
    final = run / f"{len(STAGES)}-{STAGES[-1][0]}" / "final"
    model = NanoEmoXForConditionalGeneration.from_pretrained(final).eval()
    processor = NanoEmoXProcessor.from_pretrained(final, trust_remote_code=True)
    rows = [dict(r) for r in load_from_disk(str(data))["train"] if r["task"] == "mer"][:3]
    with HybridGateRecorder(model) as gates:
        answers, skipped, _ = generate_answers(model, processor, rows, media_root=data, batch_size=2, max_new_tokens=5)
    assert skipped == 0 and all(a is not None for a in answers)
    assert [len(v) for v in gates.values["frame"]] == [2, 1] and [len(v) for v in gates.values["audio"]] == [2, 1]
    batch = NanoEmoXCollator(processor, media_root=data)(rows)
    batch.pop("task_index", None)
    with torch.no_grad():
        model(**batch)
    for branch, adapter in (("frame", model.model.frame_adapter), ("audio", model.model.audio_adapter)):
        torch.testing.assert_close(torch.cat(gates.values[branch]), adapter.last_gate, rtol=1e-4, atol=1e-5)
        assert gates.means()[branch] == pytest.approx(adapter.last_gate.mean().item(), abs=1e-5)
    # hooks are removed on exit: a later forward records nothing
    with torch.no_grad():
        model(**batch)
    assert len(gates.values["frame"]) == 2
    # a model without a hybrid compressor reports no gate
    model.config.frame_adapter = model.config.audio_adapter = "qformer"
    assert not HybridGateRecorder(model) and HybridGateRecorder(model).means() == {}


def test_bad_submodule_names_are_rejected(tmp_path, data):
    def parse(trainable, arch=None):
        return parse_curriculum(_curriculum(data, tmp_path, [_stage("warm", trainable)], arch=arch))

    # in the curriculum: the head must be a trainable name that can be narrowed
    for trainable, match in [
        (["wings.general_expert"], r"stage 'warm': unknown trainable \['wings.general_expert'\]"),
        (["face.face_adapter"], r"stage 'warm': trainable 'face.face_adapter': only"),
        (["lora.x"], r"stage 'warm': trainable 'lora.x': only"),
        (["frame_adapter."], r"stage 'warm': trainable 'frame_adapter.': only"),
        (["frame_adapter", "frame_adapter.gate"], r"'frame_adapter.gate' is already covered by 'frame_adapter'"),
    ]:
        with pytest.raises(ValueError, match=match):
            parse(trainable)
    # at stage start, against the model (here the full-size one of the dry run, on the meta device)
    qformer = parse(["frame_adapter.general_expert"], arch={})
    with pytest.raises(ValueError, match=r"stage 'warm': trainable 'frame_adapter.general_expert'.*QFormerAdapter"):
        dry_run(qformer)
    for trainable, kind in [
        (["audio_adapter.gate", "fusion.general_expert"], "GatedExpertsFusion"),
        (["frame_adapter.emotion_expert.1"], "HybridCompressorAdapter"),  # the GELU: no parameters to train
    ]:
        with pytest.raises(ValueError, match=rf"'{trainable[-1]}'.*{kind}"):
            dry_run(parse(trainable))


def test_emotion_qwen_preset_dry_run_at_full_size(capsys):
    config = load_curriculum("emotion_qwen")
    assert config.model["init"]["arch"] == HYBRID
    paper = load_curriculum("paper")
    assert config.datasets == paper.datasets
    assert [(s.epochs, s.steps_per_epoch, s.learning_rate) for s in config.stages] == [
        (s.epochs, s.steps_per_epoch, s.learning_rate) for s in paper.stages
    ]
    report = dry_run(config)
    counts = [s["trainable_parameters"] for s in report["stages"]]
    frame_parts = {"general_expert", "slot_embedding", "input_norm"}
    assert set(counts[0]) == {f"{a}.{p}" for a in ("frame_adapter", "audio_adapter") for p in frame_parts} | {"total"}
    assert {"frame_adapter.emotion_expert", "frame_adapter.gate", "face_fusion", "face_adapter"} <= set(counts[1])
    assert "frame_adapter.general_expert" not in counts[1]
    # the two warm-ups together cover the whole compressor, which phase 2 then trains as one module
    warmed = sum(n for c in counts[:2] for k, n in c.items() if k.startswith("frame_adapter."))
    assert warmed == counts[2]["frame_adapter"] > 0
    assert counts[3]["lora"] == _paper_lora_parameters()
    assert train_main(["--config", "emotion_qwen", "--dry-run"]) == 0
    out = capsys.readouterr().out
    for stage, c in zip(config.stages, counts):
        assert stage.name in out and f"{c['total']:,d}" in out
    assert re.search(rf"\n  frame_adapter\.general_expert +{counts[0]['frame_adapter.general_expert']:,d}\n", out)


def _paper_lora_parameters() -> int:
    """LoRA r=16 on q,k,v,o,gate,up,down of the 28 layers of Qwen2.5-1.5B (hidden 1536, kv 256, mlp 8960)."""
    return 28 * 16 * ((1536 + 1536) * 2 + (1536 + 256) * 2 + (1536 + 8960) * 3)
