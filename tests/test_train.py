"""The training issue: curriculum data, freezing, LoRA, feature cache, resume, bad rows, many processes."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from datasets import load_from_disk
from safetensors.torch import load_file
from transformers import TrainerCallback

from nanoemox.modeling.collator_nanoemox import NanoEmoXCollator
from nanoemox.modeling.modeling_nanoemox import NanoEmoXForConditionalGeneration
from nanoemox.modeling.processing_nanoemox import NanoEmoXProcessor
from nanoemox.processing.demo_corpus import generate_demo_corpus
from nanoemox.processing.demo_report import main as demo_report_main
from nanoemox.train.cli import main as train_main
from nanoemox.train.curriculum import TRAINABLE_MODULES, StageConfig, load_curriculum, parse_curriculum
from nanoemox.train.data import check_datasets, load_pool, stage_rows
from nanoemox.train.engine import dry_run, run_curriculum
from nanoemox.train.feature_cache import FeatureCache
from nanoemox.train.freezing import apply_trainable
from nanoemox.train.stage import run_stage
from nanoemox.train.trainer import last_checkpoint
from tests.model_helpers import build_tiny_checkpoint
from tests.test_metrics_wheels import write_tiny_tables
from tests.trainer_probes import ResumeProbe, assert_starts_from, load_checkpoint_state

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return build_tiny_checkpoint(tmp_path_factory.mktemp("tiny-train"))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo") / "data"
    generate_demo_corpus(folder, num_clips=12, seed=0, progress=False)
    return folder


def _curriculum(data: Path, output: Path, stages: list[dict], **extra) -> dict:
    return {
        "model": {"init": {"preset": "tiny"}},
        "datasets": {"demo": {"path": str(data)}},
        "output_dir": str(output),
        "stages": stages,
        **extra,
    }


def _stage(name="s", trainable=("audio_adapter",), mixture=None, steps=3, **kw) -> dict:
    return {
        "name": name,
        "data": ["demo"],
        "mixture": mixture or {"mer": 1},
        "trainable": list(trainable),
        "steps_per_epoch": steps,
        "batch_size": 2,
        "learning_rate": 1e-2,
        "save_steps": 2,
        "logging_steps": 1,
        **kw,
    }


# ---------------------------------------------------------------- curriculum as data
@pytest.mark.parametrize("preset", ["paper", "joint", "reverse", "demo", "emotion_qwen"])
def test_presets_parse(preset):
    config = load_curriculum(preset)
    assert config.stages and all(isinstance(s, StageConfig) for s in config.stages)


def test_paper_preset_is_the_published_curriculum():
    stages = load_curriculum("paper").stages
    assert [s.name for s in stages] == [
        "phase1.1-audio-alignment",
        "phase1.2-visual-alignment",
        "phase2-fusion-mir",
        "phase3-multitask",
    ]
    assert [s.trainable for s in stages] == [
        ["audio_adapter"],
        ["frame_adapter", "face"],
        ["frame_adapter", "audio_adapter", "face", "fusion"],
        ["frame_adapter", "audio_adapter", "face", "fusion", "lora"],
    ]
    assert [(s.epochs, s.steps_per_epoch) for s in stages] == [(3, 5000), (5, 5000), (1, 5000), (60, 5000)]
    assert [(s.learning_rate, s.min_learning_rate) for s in stages] == [
        (3e-4, 1e-4),
        (3e-4, 1e-4),
        (1e-5, None),
        (8e-6, None),
    ]
    assert stages[3].mixture == {"mer": 18, "ov-mer": 28, "mir": 5, "eri": 31, "erg": 18}
    assert (stages[3].lora.r, stages[3].lora.alpha, stages[3].lora.dropout) == (16, 32, 0.05)
    assert all(s.batch_size == 3 and s.weight_decay == 0.05 for s in stages)
    reverse = load_curriculum("reverse").stages
    assert [s.name for s in reverse] == [s.name for s in reversed(stages)]


def test_paper_dry_run_counts_trainable_parameters_at_full_size(capsys):
    report = dry_run(load_curriculum("paper"))
    counts = [s["trainable_parameters"] for s in report["stages"]]
    assert counts[0] == {"audio_adapter": counts[0]["total"], "total": counts[0]["total"]}
    assert set(counts[1]) == {"frame_adapter", "face_fusion", "face_adapter", "total"}
    assert "language_model" not in counts[2] and "lora" not in counts[2]
    # LoRA r=16 on q,k,v,o,gate,up,down of 28 layers of Qwen2.5-1.5B (hidden 1536, kv 256, mlp 8960)
    per_layer = 16 * ((1536 + 1536) * 2 + (1536 + 256) * 2 + (1536 + 8960) * 3)
    assert counts[3]["lora"] == 28 * per_layer
    assert train_main(["--config", "paper", "--dry-run"]) == 0
    assert "phase3-multitask" in capsys.readouterr().out


def test_overrides_and_validation(tmp_path, data):
    raw = _curriculum(data, tmp_path, [_stage()])
    config = parse_curriculum(raw, ["stages.0.epochs=2", "seed=7"])
    assert config.stages[0].epochs == 2 and config.seed == 7
    for bad, match in [
        (["stages.0.trainable=[wings]"], "unknown trainable"),
        (["stages.0.data=[nowhere]"], "not among datasets"),
        (["stages.0.mixture={dance: 1}"], "mixture tasks"),
        (["stages.0.learning_rate=0"], "learning_rate must be positive"),
        (["stages.0.trainable=[lm, lora]"], "either fully"),
    ]:
        with pytest.raises(ValueError, match=match):
            parse_curriculum(raw, bad)
    with pytest.raises(ValueError, match="unknown keys"):
        parse_curriculum({**raw, "stagez": []})


def test_stage_rows_follow_the_mixture(tmp_path, data):
    config = parse_curriculum(_curriculum(data, tmp_path, [_stage(mixture={"mer": 3, "mir": 1}, steps=20)]))
    rows = stage_rows(config.stages[0], load_pool(config, ["demo"], "train"), seed=0)
    tasks = [r["task"] for r in rows]
    assert len(rows) == 40 and tasks.count("mer") == 30 and tasks.count("mir") == 10
    assert rows == stage_rows(config.stages[0], load_pool(config, ["demo"], "train"), seed=0)


def test_where_keeps_only_the_matching_rows(tmp_path, data):
    where = {"meta.emotion_modality": "voice", "source": ["demo", "other"]}
    config = parse_curriculum(_curriculum(data, tmp_path, [_stage(where=where, steps=10)]))
    pool = load_pool(config, ["demo"], "train")
    rows = stage_rows(config.stages[0], pool, seed=0)
    voiced = {r["id"] for r in pool if r["task"] == "mer" and json.loads(r["meta"])["emotion_modality"] == "voice"}
    assert len(rows) == 20 and {r["id"] for r in rows} == voiced  # every voice-decided row, cycled; no other
    for bad, match in [
        ({"meta.emotion_modality": "smell"}, "no row of its data matches"),
        ({"meta.colour": "red"}, "'meta.colour' is in none of the"),
    ]:
        config = parse_curriculum(_curriculum(data, tmp_path, [_stage(where=bad)]))
        with pytest.raises(ValueError, match=match):
            stage_rows(config.stages[0], pool, seed=0)
    for bad in ({"meta.": "x"}, {"labels.emotion": "x"}, {"meta.emotion_modality": []}):
        with pytest.raises(ValueError, match="where"):
            parse_curriculum(_curriculum(data, tmp_path, [_stage(where=bad)]))


def test_datasets_are_checked_before_anything_is_composed(tmp_path, data, monkeypatch):
    """A stage's missing dataset fails `nanoemox train` at once, in one line naming the dataset, stage and path."""
    import nanoemox.compose
    import nanoemox.tiny.components

    def never(*args, **kwargs):
        raise AssertionError("nothing may be composed or trained before the datasets are checked")

    monkeypatch.setattr(nanoemox.tiny.components, "save_tiny_components", never)
    monkeypatch.setattr(nanoemox.compose, "compose_checkpoint", never)
    (tmp_path / "empty").mkdir()
    (tmp_path / "test-only").mkdir()
    (tmp_path / "test-only" / "dataset_dict.json").write_text(json.dumps({"splits": ["test"]}))
    cases = [
        (tmp_path / "nowhere", "not found at"),
        (tmp_path / "empty", "no dataset_dict.json"),
        (tmp_path / "test-only", "no 'train' split"),
    ]
    for path, problem in cases:
        raw = _curriculum(data, tmp_path / "run", [_stage("a"), _stage("b", data=["demo", "extra"])])
        raw["datasets"]["extra"] = {"path": str(path)}
        (tmp_path / "c.yaml").write_text(json.dumps(raw))
        with pytest.raises(SystemExit) as failure:
            train_main(["--config", str(tmp_path / "c.yaml")])
        message = str(failure.value)
        assert "\n" not in message and problem in message, message
        assert "dataset 'extra'" in message and "stage 'b'" in message and str(path) in message, message
        assert not (tmp_path / "run").exists()  # nothing written either
        with pytest.raises(ValueError, match=problem):  # the engine's own entry point checks the same
            run_curriculum(parse_curriculum(raw))
    # a dataset no stage may name (the parser refuses it too; the check does not rely on that)
    config = parse_curriculum(_curriculum(data, tmp_path / "run", [_stage("a")]))
    check_datasets(config)
    config.stages[0].data = ["ghost"]
    with pytest.raises(ValueError, match="stage 'a': dataset 'ghost' is not declared"):
        check_datasets(config)


# ---------------------------------------------------------------- collator and cache
def _rows(data, n=4, task="mer"):
    return [dict(r) for r in load_from_disk(str(data))["train"] if r["task"] == task][:n]


def test_collator_labels_only_the_answer(ckpt, data):
    processor = NanoEmoXProcessor.from_pretrained(ckpt, trust_remote_code=True)
    rows = _rows(data, 2)
    batch = NanoEmoXCollator(processor, media_root=data)(rows)
    for i, row in enumerate(rows):
        target = batch["labels"][i][batch["labels"][i] != -100]
        text = processor.tokenizer.decode(target)
        assert text.strip() == row["messages"][-1]["content"][0]["text"] + "<|im_end|>"
    assert batch["task_index"].tolist() == [1, 1]
    assert batch["face_mask"].any() and batch["audio_mask"].any()


def test_feature_cache_gives_the_same_loss_as_raw_media(ckpt, data, tmp_path):
    model = NanoEmoXForConditionalGeneration.from_pretrained(ckpt).eval()
    processor = NanoEmoXProcessor.from_pretrained(ckpt, trust_remote_code=True)
    rows = _rows(data, 3) + [r for r in _rows(data, 12, task="mir") if r["video"] == _rows(data, 1)[0]["video"]]
    raw = NanoEmoXCollator(processor, media_root=data)(rows)
    cache = FeatureCache(tmp_path / "cache", model, processor)
    cached_collator = NanoEmoXCollator(processor, media_root=data, feature_cache=cache)
    first = cached_collator(rows)
    again = cached_collator(rows)
    clips = len({r["video"] for r in rows})  # rows of different tasks on one clip share its entry
    assert (cache.misses, cache.hits) == (clips, 8 - clips) and clips < 4
    assert "pixel_values_videos" not in again and "encoder_features" in again
    with torch.no_grad():
        losses = [model(**{k: v for k, v in b.items() if k != "task_index"}).loss for b in (raw, first, again)]
    torch.testing.assert_close(losses[0], losses[1], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(losses[1], losses[2])
    assert torch.equal(raw["input_ids"], again["input_ids"]) and torch.equal(raw["labels"], again["labels"])


def test_feature_cache_equals_raw_media_in_train_mode_with_a_stage_frozen(ckpt, data, tmp_path):
    """Training from the cache is training from raw media: the same loss in TRAIN mode under a stage's freezing.

    Dropout stays on where the stage trains (LoRA dropout 0.1 here; the adapters and fusion have none), so each loss
    is computed from the same seed: both batches draw the same dropout masks only if the frozen encoders draw nothing,
    i.e. stay in eval mode (`NanoEmoXModel.train`). Another seed gives another loss, so the comparison is in train mode
    for real. The tiny HuBERT has dropout and layer drop, the tiny Swin stochastic depth: in train mode they would
    change the features on every call.
    """
    model = NanoEmoXForConditionalGeneration.from_pretrained(ckpt)
    processor = NanoEmoXProcessor.from_pretrained(ckpt, trust_remote_code=True)
    cache = FeatureCache(tmp_path / "cache", model, processor)  # keyed on the encoders before wrapping, as in training
    trainable = ("frame_adapter", "audio_adapter", "face", "fusion", "lora")
    lora = {"r": 4, "alpha": 8, "dropout": 0.1}
    stage = parse_curriculum(_curriculum(data, tmp_path, [_stage(trainable=trainable, lora=lora)])).stages[0]
    trained = apply_trainable(model, stage).train()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():  # LoRA starts with B = 0, where its dropout cannot show: give B values, as training would
        for name, p in trained.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=generator) * 0.5)
    towers = {name: getattr(model.model, name) for name in ("vision_tower", "audio_tower", "face_backbone")}
    assert towers["audio_tower"].config.hidden_dropout > 0 and towers["face_backbone"].config.drop_path_rate > 0
    for name, tower in towers.items():
        assert not any(p.requires_grad for p in tower.parameters()), f"{name} should be frozen"
        assert not any(m.training for m in tower.modules()), f"{name} is in train mode: dropout, layer drop, masking"
    assert all(getattr(model.model, m).training for m in ("frame_adapter", "audio_adapter", "face_adapter", "fusion"))
    assert model.model.language_model.training
    rows = _rows(data, 3)
    raw = NanoEmoXCollator(processor, media_root=data)(rows)
    cached_collator = NanoEmoXCollator(processor, media_root=data, feature_cache=cache)
    first, again = cached_collator(rows), cached_collator(rows)  # encoded (in train mode) on a miss, then read
    assert (cache.misses, cache.hits) == (3, 3) and "encoder_features" in again

    def loss(batch, seed: int) -> torch.Tensor:
        torch.manual_seed(seed)
        with torch.no_grad():
            return trained(**{k: v for k, v in batch.items() if k != "task_index"}).loss

    losses = [loss(batch, seed=0) for batch in (raw, first, again)]
    torch.testing.assert_close(losses[0], losses[1], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(losses[1], losses[2])
    assert not torch.isclose(loss(raw, seed=1), losses[0], rtol=1e-4, atol=1e-5)  # dropout is on where it trains


# ---------------------------------------------------------------- stages
def _weights(folder) -> dict[str, torch.Tensor]:
    return load_file(Path(folder) / "model.safetensors")


@pytest.mark.parametrize(
    "trainable",
    [("audio_adapter",), ("frame_adapter", "face"), ("frame_adapter", "audio_adapter", "face", "fusion", "lora")],
)
def test_a_stage_changes_exactly_what_it_trains(ckpt, data, tmp_path, trainable):
    config = parse_curriculum(
        _curriculum(data, tmp_path, [_stage(trainable=trainable, steps=3, mixture={"mer": 1, "mir": 1})])
    )
    stage = config.stages[0]
    rows = stage_rows(stage, load_pool(config, ["demo"], "train"), seed=0)
    final = run_stage(stage, index=1, source=ckpt, rows=rows, output_dir=tmp_path, feature_cache_dir=tmp_path / "c")
    before, after = _weights(ckpt), _weights(final)
    assert set(before) == set(after)
    trained = [m for name in trainable if name in TRAINABLE_MODULES for m in TRAINABLE_MODULES[name]]
    lora_targets = (".q_proj.", ".k_proj.", ".v_proj.", ".o_proj.", ".gate_proj.", ".up_proj.", ".down_proj.")
    for key in before:
        module = key.split(".")[1]
        in_lora = "lora" in trainable and module == "language_model" and any(t in key for t in lora_targets)
        if module in trained or (in_lora and key.endswith("weight")):
            assert not torch.equal(before[key], after[key]), f"{key} should have changed"
        else:
            assert torch.equal(before[key], after[key]), f"{key} should be frozen"
    summary = json.loads((tmp_path / "1-s" / "stage.json").read_text())
    assert summary["steps"] == 3 and summary["world_size"] == 1 and summary["feature_cache"]["misses"] > 0
    assert any(k.startswith("task_loss/") for log in summary["log_history"] for k in log)
    # the stage's checkpoint is a plain Nano-EmoX that the processor and the pipeline load
    assert (Path(final) / "processor_config.json").exists() and (Path(final) / "pipeline_nanoemox.py").exists()


class StopAfterSave(TrainerCallback):
    """Kill the run right after the checkpoint at `step` is written (as a crash would)."""

    def __init__(self, step):
        self.step = step

    def on_save(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise KeyboardInterrupt("simulated kill")


def test_kill_and_resume_equals_an_uninterrupted_run(ckpt, data, tmp_path):
    raw = _curriculum(data, tmp_path, [_stage(trainable=("audio_adapter", "fusion", "lora"), steps=6)])
    config = parse_curriculum(raw)
    stage = config.stages[0]
    rows = stage_rows(stage, load_pool(config, ["demo"], "train"), seed=0)
    whole = run_stage(stage, index=1, source=ckpt, rows=rows, output_dir=tmp_path / "whole")
    with pytest.raises(KeyboardInterrupt):
        run_stage(stage, index=1, source=ckpt, rows=rows, output_dir=tmp_path / "cut", callbacks=[StopAfterSave(4)])
    assert not (tmp_path / "cut" / "1-s" / "stage.json").exists()
    saved = load_checkpoint_state(last_checkpoint(tmp_path / "cut" / "1-s" / "checkpoints"))
    assert saved["name"] == "checkpoint-4"
    probe = ResumeProbe()
    resumed = run_stage(stage, index=1, source=ckpt, rows=rows, output_dir=tmp_path / "cut", callbacks=[probe])
    # the resumed run takes only the two remaining steps, from the checkpoint's optimizer, scheduler and RNG state
    assert probe.runs == 1 and probe.steps == [5, 6]
    assert_starts_from(probe, saved)
    a, b = _weights(whole), _weights(resumed)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6, msg=key)
    summary = json.loads((tmp_path / "cut" / "1-s" / "stage.json").read_text())
    assert summary["steps"] == 6
    # a finished stage is not rerun
    mtime = (Path(resumed) / "model.safetensors").stat().st_mtime
    run_stage(stage, index=1, source=ckpt, rows=rows, output_dir=tmp_path / "cut")
    assert (Path(resumed) / "model.safetensors").stat().st_mtime == mtime


def test_rows_with_missing_or_broken_media_are_skipped_and_counted(ckpt, data, tmp_path):
    broken = tmp_path / "data"
    shutil.copytree(data, broken)
    clips = sorted((broken / "media").glob("*.mp4"))
    clips[0].unlink()
    clips[1].write_bytes(b"not a video")
    config = parse_curriculum(_curriculum(broken, tmp_path, [_stage(steps=6, mixture={"mer": 1})]))
    stage = config.stages[0]
    rows = stage_rows(stage, load_pool(config, ["demo"], "train"), seed=0)
    run_stage(stage, index=1, source=ckpt, rows=rows, output_dir=tmp_path)
    skipped = json.loads((tmp_path / "1-s" / "stage.json").read_text())["skipped_rows"]
    bad_ids = {clips[0].stem, clips[1].stem}
    expected = sum(1 for r in rows if Path(r["video"]).stem in bad_ids)
    assert expected > 0 and sum(skipped.values()) == expected


@pytest.mark.slow  # an end-to-end run: the second CI step (pytest -m slow)
def test_full_curriculum_cli_with_evaluation(data, tmp_path):
    raw = _curriculum(
        data,
        tmp_path / "run",
        [_stage("a", trainable=("audio_adapter",), steps=2), _stage("b", trainable=("fusion", "lora"), steps=2)],
        evaluation={"tasks": ["mer", "mir"], "max_new_tokens": 4, "ablate": ["audio"], "ablation_tasks": ["mer"]},
    )
    (tmp_path / "c.yaml").write_text(json.dumps(raw))
    assert train_main(["--config", str(tmp_path / "c.yaml")]) == 0
    results = json.loads((tmp_path / "run" / "eval_results.json").read_text())
    demo = results["datasets"]["demo"]
    assert set(demo) == {"all_modalities", "without_audio"}
    assert demo["all_modalities"]["mer"]["n_samples"] > 0 and "accuracy" in demo["all_modalities"]["mir"]
    assert (tmp_path / "run" / "2-b" / "final" / "eval_results.json").exists()
    # the checkpoint reports label probabilities over the emotions its data used, not the defaults
    from nanoemox.modeling.prompts_nanoemox import DEFAULT_TASK_LABELS

    labels = NanoEmoXProcessor.from_pretrained(tmp_path / "run" / "2-b" / "final").task_labels
    train_emotions = {r["labels"]["emotion"] for r in load_from_disk(str(data))["train"] if r["task"] == "mer"}
    assert set(labels["mer"]) == train_emotions and labels["mer"] == sorted(labels["mer"])
    assert labels["mir"] == list(DEFAULT_TASK_LABELS["mir"])  # no mir rows in these stages
    # every phase leaves a model card; the last one carries the held-out results in its model-index
    from huggingface_hub import ModelCard

    assert (tmp_path / "run" / "1-a" / "final" / "README.md").exists()
    card = ModelCard.load(tmp_path / "run" / "2-b" / "final" / "README.md")
    names = {r.dataset_name for r in card.data.eval_results}
    assert {"demo", "demo (without audio)"} <= names
    # the demo report: accuracy per condition and per deciding modality, from the predictions of each condition
    assert demo_report_main(["--run", str(tmp_path / "run"), "--data", str(data)]) == 0
    report = json.loads((tmp_path / "run" / "demo_report.json").read_text())
    assert set(report["conditions"]) == {"all_modalities", "without_audio"}
    test = [r for r in load_from_disk(str(data))["test"] if r["task"] == "mer"]
    for condition, row in report["conditions"].items():
        assert row["mer"] == demo[condition]["mer"]["war"]
        assert sum(c["n"] for k, c in row["shares"].items() if k.startswith("mer/")) == len(test)
        predictions = (
            (tmp_path / "run" / f"predictions-demo{'' if condition == 'all_modalities' else '-' + condition}.jsonl")
            .read_text()
            .splitlines()
        )
        hits = sum(
            json.loads(p)["prediction"].strip().lower() == json.loads(p)["reference"].strip().lower()
            for p in predictions
            if json.loads(p)["task"] == "mer"
        )
        pooled = sum(c["accuracy"] * c["n"] for k, c in row["shares"].items() if k.startswith("mer/"))
        assert round(pooled) == hits  # the shares partition the MER rows
    effect = report["branch_effect"]["audio"]
    assert effect["share"] == "mer/voice" and effect["drop"] == round(effect["all"] - effect["masked"], 3)
    assert "| without audio |" in (tmp_path / "run" / "demo_report.md").read_text()
    with pytest.raises(ValueError, match="eval_results.json: not found"):
        demo_report_main(["--run", str(tmp_path / "nothing"), "--data", str(data)])


def _finished_run(ckpt, folder: Path) -> Path:
    """`folder` as a curriculum run whose only stage `s` is finished (its final checkpoint is `ckpt`)."""
    shutil.copytree(ckpt, folder / "1-s" / "final")
    (folder / "1-s" / "stage.json").write_text("{}")
    return folder / "1-s" / "final"


def test_the_final_evaluation_scores_with_the_wheels_when_given(ckpt, data, tmp_path):
    """`evaluation.wheels` reaches the held-out scoring: OV-MER F and MER hit rate; without it, the exact-set F."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    write_tiny_tables(wheels)
    evaluation = {"tasks": ["mer", "ov-mer"], "max_samples": 2, "max_new_tokens": 4}
    scored = {}
    for name, given in (("with", str(wheels)), ("without", None)):
        raw = _curriculum(data, tmp_path / name, [_stage()], evaluation={**evaluation, "wheels": given})
        raw["model"] = {"path": str(ckpt)}
        final = _finished_run(ckpt, tmp_path / name)
        assert run_curriculum(parse_curriculum(raw)) == final  # the finished stage is not rerun; only scored
        results = json.loads((tmp_path / name / "eval_results.json").read_text())
        assert results["wheels"] == given
        scored[name] = results["datasets"]["demo"]["all_modalities"]
        # the model card's records are these results, under the scoring's own metric names
        from huggingface_hub import ModelCard

        card = ModelCard.load(final / "README.md")
        card_metrics = {r.metric_type for r in card.data.eval_results if r.task_type == "ov-mer"}
        assert card_metrics and {m.split(".")[0] for m in card_metrics} <= set(scored[name]["ov-mer"]), card_metrics
        assert ("fscore" in card_metrics) == (given is not None)
    with_wheels, without = scored["with"]["ov-mer"], scored["without"]["ov-mer"]
    assert "fscore" in with_wheels and not any(k.startswith("exact_set") for k in with_wheels)
    assert "exact_set_fscore" in without and "fscore" not in without
    assert "hit_rate" in scored["with"]["mer"] and "hit_rate" not in scored["without"]["mer"]


def test_wheels_flag_overrides_the_curriculum_and_is_checked_first(data, tmp_path, monkeypatch):
    from nanoemox.evaluation.wheels import EmotionWheels
    from nanoemox.train import cli as train_cli

    for folder in ("yaml-wheels", "flag-wheels"):
        (tmp_path / folder).mkdir()
        write_tiny_tables(tmp_path / folder)
    raw = _curriculum(data, tmp_path / "run", [_stage()], evaluation={"wheels": str(tmp_path / "yaml-wheels")})
    (tmp_path / "c.yaml").write_text(json.dumps(raw))
    calls = []
    monkeypatch.setattr(train_cli, "run_curriculum", lambda config, **kw: calls.append((config, kw)) or tmp_path)
    assert train_main(["--config", str(tmp_path / "c.yaml"), "--wheels", str(tmp_path / "flag-wheels")]) == 0
    assert train_main(["--config", str(tmp_path / "c.yaml")]) == 0
    (flag, flag_kw), (yaml, yaml_kw) = calls
    assert flag.evaluation.wheels == str(tmp_path / "flag-wheels") and isinstance(flag_kw["wheels"], EmotionWheels)
    assert yaml.evaluation.wheels == str(tmp_path / "yaml-wheels") and isinstance(yaml_kw["wheels"], EmotionWheels)
    # a wheel folder that cannot be read fails before anything trains, in one line
    with pytest.raises(SystemExit, match="nanoemox train: emotion wheel directory not found") as failure:
        train_main(["--config", str(tmp_path / "c.yaml"), "--wheels", str(tmp_path / "nowhere")])
    assert "\n" not in str(failure.value) and len(calls) == 2


@pytest.mark.slow  # an end-to-end run: the second CI step (pytest -m slow)
def test_each_stage_is_pushed_as_its_own_hub_revision(ckpt, data, tmp_path, fake_hub, monkeypatch):
    from nanoemox.model_cards.hub import download_checkpoint

    monkeypatch.setenv("HF_TOKEN", "hf_fake_token")
    raw = _curriculum(data, tmp_path / "run", [_stage("phase-a", steps=2), _stage("phase-b", ("fusion",), steps=2)])
    raw["model"] = {"path": ckpt}
    raw["hub"] = {"repo_id": "me/nanoemox-demo"}
    (tmp_path / "c.yaml").write_text(json.dumps(raw))
    assert train_main(["--config", str(tmp_path / "c.yaml"), "--no-eval"]) == 0
    for i, name in enumerate(["phase-a", "phase-b"], start=1):
        local = tmp_path / "run" / f"{i}-{name}" / "final"
        remote = Path(download_checkpoint("me/nanoemox-demo", revision=name, local_dir=tmp_path / f"dl-{name}"))
        for file in ("model.safetensors", "config.json", "README.md", "processor_config.json"):
            assert (remote / file).read_bytes() == (local / file).read_bytes(), (name, file)


def test_accelerate_configs_load():
    from accelerate.commands.config.config_args import load_config_from_file

    kinds = {}
    for path in sorted((REPO / "train" / "accelerate").glob("*.yaml")):
        kinds[path.stem] = load_config_from_file(str(path)).distributed_type.value
    # cpu_2proc takes accelerate's torch.distributed launcher: for MULTI_CPU, accelerate starts one process (no mpirun)
    expected = {"cpu_2proc": "MULTI_GPU", "deepspeed_zero2": "DEEPSPEED", "fsdp": "FSDP", "multi_gpu_ddp": "MULTI_GPU"}
    assert kinds == expected
    two = load_config_from_file(str(REPO / "train" / "accelerate" / "cpu_2proc.yaml"))
    assert two.num_processes == 2 and not two.use_cpu  # use_cpu would send accelerate to its one-process launcher


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow  # an end-to-end run: the second CI step (pytest -m slow)
def test_two_processes_complete_a_stage(ckpt, data, tmp_path):
    """`accelerate launch` with the shipped two-process CPU config (gloo) runs a stage to the end, in two processes."""
    raw = _curriculum(data, tmp_path / "ddp", [_stage(trainable=("audio_adapter", "fusion"), steps=2)])
    raw["model"] = {"path": ckpt}
    (tmp_path / "c.yaml").write_text(json.dumps(raw))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_"))}
    env.update(OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    accelerate = Path(sys.executable).with_name("accelerate")
    result = subprocess.run(
        [
            str(accelerate),
            "launch",
            "--config_file",
            str(REPO / "train" / "accelerate" / "cpu_2proc.yaml"),
            "--main_process_port",  # not the config's fixed port: another run may hold it
            str(_free_port()),
            "-m",
            "nanoemox.cli",
            "train",
            "--config",
            str(tmp_path / "c.yaml"),
            "--no-eval",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((tmp_path / "ddp" / "1-s" / "stage.json").read_text())
    assert summary["steps"] == 2 and summary["world_size"] == 2
    assert (tmp_path / "ddp" / "1-s" / "final" / "model.safetensors").exists()


def test_feature_cache_with_fec_key_frames(data, tmp_path):
    from nanoemox.compose import compose_checkpoint
    from nanoemox.tiny.components import save_tiny_components
    from nanoemox.tiny.configs import TINY_ARCH

    paths = save_tiny_components(tmp_path / "components")
    model = compose_checkpoint(tmp_path / "fec", **paths, arch={**TINY_ARCH, "num_key_frames": 2}).eval()
    processor = NanoEmoXProcessor.from_pretrained(tmp_path / "fec", trust_remote_code=True)
    rows = _rows(data, 3)
    raw = NanoEmoXCollator(processor, media_root=data)(rows)
    assert raw["frame_mask"].shape[1] == model.config.num_frames + 2
    cached = NanoEmoXCollator(processor, media_root=data, feature_cache=FeatureCache(tmp_path / "c", model, processor))
    batch = cached(rows)
    assert torch.equal(batch["frame_mask"], raw["frame_mask"])
    with torch.no_grad():
        losses = [model(**{k: v for k, v in b.items() if k != "task_index"}).loss for b in (raw, batch)]
    torch.testing.assert_close(losses[0], losses[1], rtol=1e-4, atol=1e-5)
