"""The benchmark suite's smoke test: the tiny preset's cheapest sections through `main([...])`.

Timings are never asserted (they vary from run to run); only that each section ran and wrote positive numbers.
"""

from __future__ import annotations

import json

import pytest

from nanoemox.bench import budget as budget_section
from nanoemox.bench.budget import bench_budget, lora_parameters
from nanoemox.bench.cli import main
from nanoemox.bench.context import Bench
from nanoemox.bench.presets import PRESETS
from nanoemox.modeling.modeling_nanoemox import NanoEmoXForConditionalGeneration
from nanoemox.train.curriculum import load_curriculum
from nanoemox.train.freezing import apply_trainable

# the benchmark's sections run for real on a tiny model (about 25 s): slow
pytestmark = pytest.mark.slow


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("bench")


@pytest.fixture(scope="module")
def results(workdir):
    out = workdir / "bench.json"
    argv = ["--preset", "tiny", "--sections", "decode", "tokens", "budget", "training", "preprocessing"]
    argv += ["--repeats", "1", "--decode-steps", "3", "--loader-batches", "2"]
    argv += ["--json", str(out), "--workdir", str(workdir / "work")]
    assert main(argv) == 0
    return json.loads(out.read_text())


def test_sections_and_machine(results):
    assert results["preset"] == "tiny"
    assert set(results["sections"]) == {"decode", "tokens", "budget", "training", "preprocessing"}
    assert results["machine"]["cpus"] >= 1 and results["threads"] >= 1


def test_decode_floor_has_both_sides(results):
    decode = results["sections"]["decode"]
    for route in ("generate_step_ms", "forward_step_ms"):
        assert _positive(decode[route]["nanoemox"]) and _positive(decode[route]["bare_lm"])
    assert _positive(decode["generate_ratio"]) and _positive(decode["forward_ratio"])
    assert decode["context_tokens"] > decode["media_tokens"] > 0
    # media are encoded once per answer, at prefill, whatever the number of decode steps
    assert set(decode["encoder_calls_per_answer"].values()) == {1.0}


def test_token_economy(results):
    designs = results["sections"]["tokens"]["designs"]
    contexts = [d["context_tokens"] for d in designs.values()]
    assert contexts == sorted(contexts) and len(contexts) == 3
    nano, *_, patches = designs.values()
    assert nano["media_tokens"] == 69 and patches["media_tokens"] == 8 * 576
    for design in designs.values():
        assert _positive(design["lm_prefill_ms_at_preset_size"]) and _positive(design["full_size_lm_prefill_gflops"])
    assert patches["flops_vs_nanoemox"] > 1


def test_budget_on_paper(results):
    budget = results["sections"]["budget"]
    assert budget["parameters"]["total"] > 2e9  # full size, counted on the meta device
    assert len(budget["phases"]) == 4 and list(budget["phases"])[-1] == "phase3-multitask"
    for phase in budget["phases"].values():
        assert _positive(phase["trainable_parameters"])
        assert all(_positive(v) for v in phase["peak_gb"].values())
        assert all(_positive(v) for v in phase["hours"].values())
        assert phase["hours"]["cache"] < phase["hours"]["no cache"]  # FLOPs, not timings: the cache skips encoders
    assert _positive(budget["total_hours"]["no_cache_h"]) and budget["published_hours"] == 32.0


def test_budget_is_the_paper_curriculum(results):
    """The budget's phases are the stages of train/configs/paper.yaml: names, iterations, batch and LoRA rank."""
    paper = load_curriculum("paper")
    phases = results["sections"]["budget"]["phases"]
    assert list(phases) == [stage.name for stage in paper.stages]
    for stage, phase in zip(paper.stages, phases.values()):
        assert phase["iters"] == stage.epochs * stage.steps_per_epoch and phase["batch"] == stage.batch_size
    assert "lora r16 (q,k,v,o,gate,up,down)" in results["sections"]["budget"]["parameters"]


def test_budget_follows_an_edited_curriculum(results, workdir, monkeypatch):
    """No copy of the curriculum in the benchmark: a longer first stage in the curriculum is a longer first phase."""
    paper = load_curriculum("paper", ["stages.0.steps_per_epoch=10000"])
    monkeypatch.setattr(budget_section, "load_curriculum", lambda name: paper)
    edited = bench_budget(
        Bench(preset=PRESETS["tiny"], workdir=workdir / "edited", threads=1), gpu_tflops=165.2, mfu=0.4, gpu_gb=24.0
    )["phases"]
    before = results["sections"]["budget"]["phases"]
    first = paper.stages[0].name
    assert edited[first]["iters"] == 2 * before[first]["iters"]
    assert edited[first]["hours"]["cache"] == pytest.approx(2 * before[first]["hours"]["cache"])
    assert edited[paper.stages[1].name]["hours"] == pytest.approx(before[paper.stages[1].name]["hours"])


def test_budget_lora_count_is_what_peft_adds(results, workdir):
    """The LoRA parameters the budget counts (the training's target pattern) are those PEFT adds to the model."""
    stage = load_curriculum("paper").stages[-1]
    model = NanoEmoXForConditionalGeneration.from_pretrained(workdir / "work" / "ckpt-tiny")
    expected = lora_parameters(model, stage.lora)
    peft = apply_trainable(model, stage)
    added = sum(p.numel() for name, p in peft.named_parameters() if "lora_" in name)
    assert expected == added > 0


def test_preprocessing_times_every_step(results):
    preprocessing = results["sections"]["preprocessing"]
    for clip in preprocessing["clips"].values():
        steps = ("face track + crops", "audio track + clips", "pixel/feature normalisation", "tokenisation")
        assert set(clip["ms"]) == {"decode 8 frames", *steps, "processor total"}
        assert all(_positive(v) for v in clip["ms"].values()) and 0 < clip["share_of_prefill"] < 1
    assert _positive(preprocessing["model_ms"]["prefill"])
    for workers in preprocessing["loader"]["workers"].values():
        assert _positive(workers["data_ms_per_batch"]) and _positive(workers["step_ms"])


def test_training_section_measures_every_demo_stage(results):
    training = results["sections"]["training"]
    assert len(training["stages"]) == 4 and training["peak_rss_mb"] > 0
    for stage in training["stages"].values():
        assert set(stage["examples_per_s"]) == {"raw media", "cache, cold", "cache, warm"}
        assert all(v > 0 for v in stage["examples_per_s"].values()) and stage["cache_speedup_per_epoch"] > 0


def test_unknown_section_is_an_error():
    with pytest.raises(SystemExit, match="unknown sections"):
        main(["--sections", "warp-drive"])
