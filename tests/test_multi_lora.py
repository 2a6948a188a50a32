"""Multi-LoRA: one LoRA adapter per task on one shared base, trained by a `lora.per_task` stage, chosen by task."""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from pathlib import Path

import pytest
import torch
from datasets import load_from_disk
from peft import PeftModel, get_peft_model_state_dict
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, TrainerCallback

from nanoemox.compose import save_checkpoint
from nanoemox.evaluation.runner import evaluate_model, generate_answers
from nanoemox.modeling.collator_nanoemox import NanoEmoXCollator
from nanoemox.modeling.modeling_nanoemox import NanoEmoXForConditionalGeneration
from nanoemox.modeling.processing_nanoemox import NanoEmoXProcessor
from nanoemox.processing.demo_corpus import generate_demo_corpus
from nanoemox.processing.schema import resolve_media
from nanoemox.train.cli import main as train_main
from nanoemox.train.curriculum import load_curriculum, parse_curriculum
from nanoemox.train.data import load_pool, stage_rows
from nanoemox.train.freezing import apply_trainable
from nanoemox.train.multi_lora import run_task_adapters
from nanoemox.train.trainer import last_checkpoint
from tests.trainer_probes import ResumeProbe, assert_starts_from, load_checkpoint_state

TASKS = ("mer", "mir")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo") / "data"
    generate_demo_corpus(folder, num_clips=12, seed=0, progress=False)
    return folder


def _stage(name, trainable, steps=3, **kw) -> dict:
    return {
        "name": name,
        "data": ["demo"],
        "mixture": {"mer": 1},
        "trainable": list(trainable),
        "steps_per_epoch": steps,
        "batch_size": 2,
        "learning_rate": 1e-2,
        "save_steps": 2,
        "logging_steps": 1,
        **kw,
    }


def _curriculum(data, output) -> dict:
    """A tiny curriculum: an ordinary stage, then a per-task LoRA stage over MER and MIR."""
    per_task = _stage("b", ["lora"], mixture={t: 1 for t in TASKS}, lora={"r": 4, "alpha": 8, "per_task": True})
    return {
        "model": {"init": {"preset": "tiny"}},
        "datasets": {"demo": {"path": str(data)}},
        "output_dir": str(output),
        "stages": [_stage("a", ["audio_adapter"], steps=2), per_task],
    }


@pytest.fixture(scope="module")
def run(data, tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("multi-lora") / "run"
    (output.parent / "c.yaml").write_text(json.dumps(_curriculum(data, output)))
    assert train_main(["--config", str(output.parent / "c.yaml"), "--no-eval"]) == 0
    return output


def _batch(processor, data, task="mer", n=2):
    rows = [dict(r) for r in load_from_disk(str(data))["test"] if r["task"] == task][:n]
    batch = NanoEmoXCollator(processor, media_root=data)(rows)
    batch.pop("task_index")
    return batch


def _logits(model, batch) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(**batch).logits


def _merged(final: Path, task: str) -> NanoEmoXForConditionalGeneration:
    """The base with the task's adapter merged in: what a single-adapter LoRA stage would have saved."""
    base = NanoEmoXForConditionalGeneration.from_pretrained(final)
    del base.config.task_adapters  # a single model
    return PeftModel.from_pretrained(base, final / "adapters" / task).merge_and_unload().eval()


# ---------------------------------------------------------------- configuration
def test_per_task_needs_lora_only_and_the_last_stage(data, tmp_path):
    raw = _curriculum(data, tmp_path)
    config = parse_curriculum(raw)
    assert config.stages[1].lora.per_task and not config.stages[0].lora.per_task
    with pytest.raises(ValueError, match="trainable must be \\[lora\\]"):
        parse_curriculum(raw, ["stages.1.trainable=[fusion, lora]"])
    with pytest.raises(ValueError, match="must be the last stage"):
        parse_curriculum({**raw, "stages": raw["stages"][::-1]})
    # the demo's phase 3 as per-task adapters: the overrides the README gives
    demo = load_curriculum("demo", ["stages.3.trainable=[lora]", "stages.3.lora.per_task=true"]).stages[3]
    assert demo.lora.per_task and demo.lora.r == 16 and len(demo.mixture) == 6


# ---------------------------------------------------------------- training
def test_one_adapter_per_task_on_the_shared_base(run):
    final = run / "2-b" / "final"
    config = json.loads((final / "config.json").read_text())
    assert config["task_adapters"] == {t: f"adapters/{t}" for t in TASKS}
    for task in TASKS:
        files = sorted(p.name for p in (final / "adapters" / task).iterdir())
        assert files == ["adapter_config.json", "adapter_model.safetensors"], files
    # the base is the previous stage's model, untouched, and loads as before
    before, after = load_file(run / "1-a" / "final" / "model.safetensors"), load_file(final / "model.safetensors")
    assert set(before) == set(after) and all(torch.equal(before[k], after[k]) for k in before)
    assert AutoModelForCausalLM.from_pretrained(final, trust_remote_code=True).config.task_adapters
    # each adapter trained its own task's rows only, for the stage's full budget
    summary = json.loads((run / "2-b" / "stage.json").read_text())
    for task in TASKS:
        entry = summary["adapters"][task]
        assert entry["steps"] == 3 and entry["rows"] == 6
        logged = {k for log in entry["log_history"] for k in log if k.startswith("task_loss/")}
        assert logged == {f"task_loss/{task}"}


def test_adapters_start_from_one_init_and_train_apart(run):
    source = run / "1-a" / "final"
    stage = parse_curriculum(json.loads((run.parent / "c.yaml").read_text())).stages[1]
    torch.manual_seed(0)  # what every adapter of the stage started from (same seed, same base)
    peft = apply_trainable(NanoEmoXForConditionalGeneration.from_pretrained(source), stage)
    init = get_peft_model_state_dict(peft)
    trained = {t: load_file(run / "2-b" / "final" / "adapters" / t / "adapter_model.safetensors") for t in TASKS}
    assert set(trained["mer"]) == set(trained["mir"]) == set(init) and len(init) == 2 * 7 * 2  # A, B x 7 x 2 layers
    for key in init:
        assert not torch.equal(trained["mer"][key], init[key]), key
        assert not torch.equal(trained["mir"][key], init[key]), key
        assert not torch.equal(trained["mer"][key], trained["mir"][key]), key


class StopInSecondAdapter(TrainerCallback):
    """Kill the stage right after the second adapter's checkpoint at `step` (as a crash would)."""

    def __init__(self, step: int):
        self.step, self.runs = step, 0

    def on_train_begin(self, args, state, control, **kwargs):
        self.runs += 1

    def on_save(self, args, state, control, **kwargs):
        if self.runs == 2 and state.global_step == self.step:
            raise KeyboardInterrupt("simulated kill")


def test_a_finished_adapter_is_not_retrained_and_an_interrupted_one_resumes(run, tmp_path):
    config = parse_curriculum(json.loads((run.parent / "c.yaml").read_text()))
    stage = config.stages[1]
    pool = load_pool(config, stage.data, "train")
    rows = {t: stage_rows(dataclasses.replace(stage, mixture={t: 1}), pool, seed=2) for t in TASKS}
    kwargs = dict(index=2, source=run / "1-a" / "final", rows=rows, output_dir=tmp_path, seed=0)
    kwargs["feature_cache_dir"] = run / "feature_cache"
    with pytest.raises(KeyboardInterrupt):
        run_task_adapters(stage, **kwargs, callbacks=[StopInSecondAdapter(2)])
    folder = tmp_path / "2-b"
    mer = folder / "final" / "adapters" / "mer" / "adapter_model.safetensors"
    assert mer.exists() and not (folder / "final" / "adapters" / "mir").exists()
    assert not (folder / "stage.json").exists()
    mtime = mer.stat().st_mtime_ns
    saved = load_checkpoint_state(last_checkpoint(folder / "tasks" / "mir" / "checkpoints"))
    assert saved["name"] == "checkpoint-2"
    probe = ResumeProbe()
    final = run_task_adapters(stage, **kwargs, callbacks=[probe])
    assert mer.stat().st_mtime_ns == mtime  # not retrained
    # one Trainer run (mir's), its one remaining step, from its checkpoint's optimizer, scheduler and RNG state
    assert probe.runs == 1 and probe.steps == [3]
    assert_starts_from(probe, saved)
    assert json.loads((folder / "stage.json").read_text())["adapters"]["mir"]["steps"] == 3
    # the resumed adapter equals the one trained without interruption
    for task in TASKS:
        a = load_file(final / "adapters" / task / "adapter_model.safetensors")
        b = load_file(run / "2-b" / "final" / "adapters" / task / "adapter_model.safetensors")
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6, msg=f"{task} {key}")
    # a finished stage is not rerun
    base_mtime = (final / "model.safetensors").stat().st_mtime_ns
    run_task_adapters(stage, **kwargs)
    assert (final / "model.safetensors").stat().st_mtime_ns == base_mtime


# ---------------------------------------------------------------- inference
def test_loading_selects_the_adapter_by_task(run, data, caplog):
    final = run / "2-b" / "final"
    processor = NanoEmoXProcessor.from_pretrained(final, trust_remote_code=True)
    batch = _batch(processor, data)
    base_logits = _logits(NanoEmoXForConditionalGeneration.from_pretrained(final), batch)
    model = NanoEmoXForConditionalGeneration.from_pretrained(final)
    assert model.load_task_adapters() == sorted(TASKS)
    logits = {}
    for task in TASKS:
        assert model.use_task_adapter(task) == task and model.active_adapters() == [task]
        logits[task] = _logits(model, batch)
        torch.testing.assert_close(logits[task], _logits(_merged(final, task), batch), rtol=1e-4, atol=1e-5)
    assert not torch.allclose(logits["mer"], logits["mir"], atol=1e-3)
    # a task without an adapter falls back to the base, with a warning; the next task gets its adapter back
    with caplog.at_level(logging.WARNING):
        assert model.use_task_adapter("msa") is None
    assert "no 'msa' adapter" in caplog.text
    torch.testing.assert_close(_logits(model, batch), base_logits)
    assert model.use_task_adapter("mer") == "mer"
    torch.testing.assert_close(_logits(model, batch), logits["mer"])


def test_loading_adapters_leaves_the_base_untouched(run, tmp_path):
    # an `eri` adapter too: transformers matches adapter keys by substring, and "eri" is in "queries", so its load
    # report lists the adapters' queries as missing; they must keep the checkpoint's values all the same
    final = tmp_path / "final"
    shutil.copytree(run / "2-b" / "final", final)
    shutil.copytree(final / "adapters" / "mer", final / "adapters" / "eri")
    config = json.loads((final / "config.json").read_text())
    config["task_adapters"]["eri"] = "adapters/eri"
    (final / "config.json").write_text(json.dumps(config))
    expected = NanoEmoXForConditionalGeneration.from_pretrained(final).state_dict()
    model = NanoEmoXForConditionalGeneration.from_pretrained(final)
    assert model.load_task_adapters() == ["eri", "mer", "mir"]
    state = {k.replace(".base_layer.", "."): v for k, v in model.state_dict().items() if ".lora_" not in k}
    assert set(state) == set(expected)
    assert [k for k in expected if not torch.equal(state[k], expected[k])] == []


def test_evaluation_answers_each_task_with_its_adapter(run, data):
    final = run / "2-b" / "final"
    processor = NanoEmoXProcessor.from_pretrained(final, trust_remote_code=True)
    test = load_from_disk(str(data))["test"]
    model = NanoEmoXForConditionalGeneration.from_pretrained(final)
    kwargs = dict(media_root=data, max_new_tokens=3, batch_size=4)
    results = evaluate_model(model, processor, test, tasks=[*TASKS, "msa"], max_samples=3, **kwargs)
    assert results["adapters"] == {"mer": "mer", "mir": "mir", "msa": None}
    for task in TASKS:
        rows = [r for r in test if r["task"] == task][:3]
        expected, _, _ = generate_answers(_merged(final, task), processor, rows, **kwargs)
        assert [p["prediction"] for p in results["predictions"] if p["task"] == task] == expected


def test_pipeline_and_predict_use_the_task_adapter(run, data, tmp_path, capsys, caplog):
    from transformers import pipeline

    from nanoemox.predict import main as predict_main

    final = run / "2-b" / "final"
    row = next(r for r in load_from_disk(str(data))["test"] if r["task"] == "mer")
    sample = {"video": resolve_media(row["video"], data), "subtitle": row["subtitle"]}
    analyse = pipeline("emotion-analysis", model=str(final), trust_remote_code=True)
    merged = tmp_path / "merged-mer"
    save_checkpoint(_merged(final, "mer"), NanoEmoXProcessor.from_pretrained(final, trust_remote_code=True), merged)
    single = pipeline("emotion-analysis", model=str(merged), trust_remote_code=True)
    decoding = dict(max_new_tokens=4, do_sample=False)
    result = analyse(sample, task="mer", **decoding)
    assert result["adapter"] == "mer" and analyse.model.active_adapters() == ["mer"]
    assert result["generated_text"] == single(sample, task="mer", **decoding)["generated_text"]
    assert "adapter" not in single(sample, task="mer", **decoding)  # a single-model checkpoint: no adapter key
    assert analyse(sample, task="mir", **decoding)["adapter"] == "mir"
    with caplog.at_level(logging.WARNING):
        assert analyse(sample, task="erg", **decoding)["adapter"] is None
    assert "no 'erg' adapter" in caplog.text
    args = ["--model", str(final), "--video", sample["video"], "--task", "mir", "--greedy", "--max-new-tokens", "3"]
    capsys.readouterr()
    assert predict_main(args) == 0
    assert json.loads(capsys.readouterr().out)["adapter"] == "mir"


def test_adapters_load_from_the_hub_revision_of_the_checkpoint(run, data, fake_hub, monkeypatch):
    from nanoemox.model_cards.hub import push_checkpoint

    monkeypatch.setenv("HF_TOKEN", "hf_fake_token")
    final = run / "2-b" / "final"
    push_checkpoint(final, "me/multi-lora", revision="phase-b")
    processor = NanoEmoXProcessor.from_pretrained(final, trust_remote_code=True)
    batch = _batch(processor, data, task="mir")
    local = NanoEmoXForConditionalGeneration.from_pretrained(final)
    remote = NanoEmoXForConditionalGeneration.from_pretrained(final)
    local.load_task_adapters()
    assert remote.load_task_adapters("me/multi-lora", revision="phase-b") == sorted(TASKS)
    for task in TASKS:
        assert local.use_task_adapter(task) == remote.use_task_adapter(task) == task
        torch.testing.assert_close(_logits(remote, batch), _logits(local, batch))
