"""`nanoemox ablate`: variants through one tiny curriculum, one table; reruns reuse; bad variants fail first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from datasets import load_from_disk
from safetensors.torch import load_file

from nanoemox.cli import main as nanoemox_main
from nanoemox.compose import NEW_MODULES
from nanoemox.modeling.modeling_nanoemox import NanoEmoXForConditionalGeneration
from nanoemox.processing.demo_corpus import accuracy_by_decisive_modality, generate_demo_corpus
from nanoemox.train import engine as train_engine
from nanoemox.train.ablate import VARIANTS, headline_metrics, parse_variant, prepare, tiny_component_kwargs


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo") / "data"
    generate_demo_corpus(folder, num_clips=12, seed=0, progress=False)
    return folder


def _config(data: Path, folder: Path) -> Path:
    """One short stage training the new modules, then MER and MIR on two held-out rows, audio masked for MER."""
    raw = {
        "model": {"init": {"preset": "tiny"}},
        "datasets": {"demo": {"path": str(data)}},
        "output_dir": str(folder / "unused"),
        "stages": [
            {
                "name": "s",
                "data": ["demo"],
                "mixture": {"mer": 1, "mir": 1},
                "trainable": ["frame_adapter", "audio_adapter", "face", "fusion"],
                "steps_per_epoch": 3,
                "batch_size": 2,
                "learning_rate": 1e-2,
                "save_steps": 10,
                "logging_steps": 1,
            }
        ],
        "evaluation": {
            "tasks": ["mer", "mir"],
            "max_samples": 2,
            "max_new_tokens": 4,
            "ablate": ["audio"],
            "ablation_tasks": ["mer"],
        },
    }
    path = folder / "curriculum.yaml"
    path.write_text(json.dumps(raw))
    return path


def _mtimes(root: Path) -> dict[str, float]:
    files = [*root.glob("*/1-s/stage.json"), *root.glob("*/1-s/final/model.safetensors"), *root.glob("*/0-init/*")]
    return {str(p): p.stat().st_mtime_ns for p in files}


def test_variant_specs():
    assert parse_variant("mlp").overrides == tuple(f"{k}={v}" for k, v in VARIANTS["mlp"].items())
    assert "model.init.arch.frame_adapter=mlp" in parse_variant("mlp").overrides
    assert "model.init.arch.fusion=gated_experts" in parse_variant("mlp").overrides  # the whole design is named
    ad_hoc = parse_variant("wide:model.init.arch.num_frame_tokens=16, stages.0.trainable=[fusion,face],seed=1")
    assert ad_hoc.name == "wide"
    assert ad_hoc.overrides == ("model.init.arch.num_frame_tokens=16", "stages.0.trainable=[fusion,face]", "seed=1")
    for bad, match in [("resnet", "unknown variant 'resnet'"), ("x:seed", "not key=value"), ("../x:seed=1", "name")]:
        with pytest.raises(ValueError, match=match):
            parse_variant(bad)


def test_ov_mer_column_names_what_was_computed():
    """The OV-MER F needs the wheels; a wheel-less run's exact-set F is never labelled the OV-MER F."""
    wheel_less = {"datasets": {"demo": {"all_modalities": {"ov-mer": {"exact_set_fscore": 0.25, "n_samples": 4}}}}}
    with_wheels = {"datasets": {"demo": {"all_modalities": {"ov-mer": {"fscore": 0.5, "level2_fscore": 0.4}}}}}
    assert headline_metrics(wheel_less) == ({"OV-MER exact-set F (no wheels)": 0.25}, {})
    assert headline_metrics(with_wheels) == ({"OV-MER F": 0.5}, {})


def test_tiny_components_are_made_as_train_makes_them():
    init = {"preset": "tiny", "arch": {"fusion": "egmf"}, "lm_pretrain_steps": 5, "lm_config": {"hidden_size": 64}}
    assert tiny_component_kwargs({**init, "colour": "red"}) == {"lm_pretrain_steps": 5, "lm": {"hidden_size": 64}}


def test_bad_variants_fail_before_anything_trains(data, tmp_path, monkeypatch):
    config = _config(data, tmp_path)
    out = tmp_path / "ablation"

    def no_training(*args, **kwargs):
        raise AssertionError("nothing may train before every variant is checked")

    monkeypatch.setattr(train_engine, "run_curriculum", no_training)
    cases = [
        (["nanoemox", "resnet"], [], "unknown variant 'resnet'"),
        (["nanoemox", "bad:model.init.arch.frame_adapter=resnet"], [], "frame_adapter='resnet'"),
        (["typo:model.init.arch.frame_adaptor=mlp"], [], r"unknown keys \['frame_adaptor'\]"),
        (["far:stages.5.epochs=2"], [], "variant 'far'.*IndexError"),
        (["nanoemox", "mlp"], ["stages.0.learning_rate=0"], "learning_rate must be positive"),
        # the Emotion-Qwen expert exists in a hybrid compressor only: checked against each variant's model
        (["hybrid_compressor", "mlp"], ["stages.0.trainable=[frame_adapter.general_expert]"], "variant 'mlp'"),
        (["nanoemox"], [f"datasets.demo.path={tmp_path / 'nowhere'}"], "dataset 'demo' not found"),
    ]
    for variants, sets, match in cases:
        argv = ["ablate", "--config", str(config), "--output", str(out), "--variants", *variants]
        with pytest.raises(SystemExit, match=match):
            nanoemox_main(argv + [a for s in sets for a in ("--set", s)])
        assert not out.exists()


@pytest.mark.slow  # an end-to-end run: the second CI step (pytest -m slow)
def test_two_variants_one_table_and_a_rerun_reuses(data, tmp_path, monkeypatch, capsys):
    config = _config(data, tmp_path)
    out = tmp_path / "ablation"
    argv = ["ablate", "--config", str(config), "--output", str(out), "--variants", "nanoemox", "mlp"]
    argv += ["--markdown", str(tmp_path / "table.md")]
    assert nanoemox_main(argv) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "ablation.json").read_text())
    rows = {r["variant"]: r for r in report["variants"]}
    assert [r["variant"] for r in report["variants"]] == ["nanoemox", "mlp"]
    assert {r["status"] for r in rows.values()} == {"run"}
    assert rows["mlp"]["design"] == {**rows["nanoemox"]["design"], "frame_adapter": "mlp", "audio_adapter": "mlp"}

    for name, row in rows.items():
        # held-out headline metrics and the modality-ablation delta, as eval_results.json holds them
        results = json.loads((out / name / "eval_results.json").read_text())["datasets"]["demo"]
        full, masked = results["all_modalities"], results["without_audio"]
        assert row["metrics"] == {"MER WAF": full["mer"]["waf"], "MIR Acc": full["mir"]["accuracy"]}
        assert row["ablation_deltas"] == {"Δ MER WAF −audio": pytest.approx(masked["mer"]["waf"] - full["mer"]["waf"])}
        # demo corpus: accuracy on the clips each modality decides, from the evaluation's predictions
        predictions = [json.loads(line) for line in (out / name / "predictions-demo.jsonl").read_text().splitlines()]
        shares = accuracy_by_decisive_modality(load_from_disk(str(data))["test"], predictions)
        expected = {f"{t.upper()} {m}-decided": c["accuracy"] for t, cells in shares.items() for m, c in cells.items()}
        assert row["decisive"] == expected and any(k.startswith("MER ") for k in expected)
        # parameters and tokens are those of the final checkpoint
        final = out / name / "1-s" / "final"
        model = NanoEmoXForConditionalGeneration.from_pretrained(final)
        assert row["parameters"]["total"] == sum(p.numel() for p in model.parameters())
        assert row["parameters"]["new"] == sum(
            p.numel() for m in NEW_MODULES for p in getattr(model.model, m).parameters()
        )
        assert row["media_tokens"]["per_clip"] == model.config.media_tokens_per_clip
        # the step time is measured from the Trainer's logged steps (1, 2, 3: two intervals)
        timing = row["timing"]["s"]
        assert timing["steps"] == 3 and timing["logged_intervals"] == 2 and timing["step_seconds"] > 0
        assert timing["examples_per_second"] == pytest.approx(2 / timing["step_seconds"])
    new = {name: row["parameters"]["new"] for name, row in rows.items()}
    total = {name: row["parameters"]["total"] for name, row in rows.items()}
    assert new["mlp"] != new["nanoemox"]
    assert total["mlp"] - new["mlp"] == total["nanoemox"] - new["nanoemox"]  # same encoders and LM

    # shared, not remade: the components (same starting weights) and the frozen encoders' feature cache
    start = {name: load_file(out / name / "0-init" / "model.safetensors") for name in rows}
    towers = [k for k in start["nanoemox"] if k.startswith(("model.vision_tower.", "model.language_model."))]
    assert towers and all((start["nanoemox"][k] == start["mlp"][k]).all() for k in towers)
    assert (out / "mlp" / "feature_cache").resolve() == (out / "feature_cache").resolve()
    cache = json.loads((out / "mlp" / "1-s" / "stage.json").read_text())["feature_cache"]
    assert cache["misses"] == 0 and cache["hits"] > 0

    # one table: header, separator, a row per variant with every measured column; printed and written
    table = [line for line in printed.splitlines() if line.startswith("|")]
    header = [c.strip() for c in table[0].strip("|").split("|")]
    assert len(table) == 4 and header[:2] == ["variant", "design"]
    for column in ("MER WAF", "MIR Acc", "params total", "params new", "media tokens/clip", "s/step", "examples/s"):
        assert column in header
    assert "Δ MER WAF −audio" in header and set(rows["mlp"]["decisive"]) <= set(header)
    for line, name in zip(table[2:], rows):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[0] == name and len(cells) == len(header) and "—" not in cells
        assert cells[header.index("params new")] == f"{new[name]:,d}"
    markdown = (tmp_path / "table.md").read_text()
    assert "\n".join(table) in markdown and "Machine:" in markdown and report["date"] in markdown
    assert report["machine"]["torch_threads"] >= 1 and report["machine"]["cpus"] >= 1

    # a rerun trains nothing and gives the same table
    before = _mtimes(out)

    def no_training(*args, **kwargs):
        raise AssertionError("a finished variant must not be rerun")

    with monkeypatch.context() as patch:
        patch.setattr(train_engine, "run_curriculum", no_training)
        assert nanoemox_main(argv) == 0
    assert [line for line in capsys.readouterr().out.splitlines() if line.startswith("|")] == table
    assert _mtimes(out) == before
    assert {r["status"] for r in json.loads((out / "ablation.json").read_text())["variants"]} == {"reused"}

    # interrupted before its evaluation: the variant continues (finished stage kept), the other is reused
    (out / "mlp" / "eval_results.json").unlink()
    assert nanoemox_main(argv) == 0
    statuses = {r["variant"]: r["status"] for r in json.loads((out / "ablation.json").read_text())["variants"]}
    assert statuses == {"nanoemox": "reused", "mlp": "run"}
    assert _mtimes(out) == before and (out / "mlp" / "eval_results.json").exists()

    # the same folders with other settings are refused, not mixed
    with pytest.raises(ValueError, match="other settings"):
        prepare(str(config), ["nanoemox", "mlp"], output=out, overrides=["seed=1"])
