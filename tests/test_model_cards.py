"""Model cards and Hub push: the card renders from a tiny checkpoint with parseable front matter, eval results in
model-index, the modules the config names and an ethics section; push -> download through a local fake Hub
(`tests/fake_hub.py`, 127.0.0.1 only) gives byte-identical files, per branch (one per curriculum phase)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import huggingface_hub
import numpy as np
import pytest
import yaml
from huggingface_hub import HfApi, ModelCard, metadata_load
from huggingface_hub import constants as hub_constants

from nanoemox.model_cards import parameters, render
from nanoemox.model_cards.hub import download_checkpoint, push_checkpoint

TOKEN = "hf_fake_token_for_the_local_fake_hub"
CURRICULUM = {
    "name": "P2E demo",
    "optimizer": "adamw",
    "weight_decay": 0.05,
    "stages": [
        {
            "name": "phase-1.1",
            "trainable": ["audio_adapter"],
            "mixture": {"m3ed": 1, "crema_d": 1},
            "epochs": 3,
            "steps": 5000,
            "lr": {"start": 3.0e-4, "end": 1.0e-4},
        },
        {
            "name": "phase-2",
            "trainable": ["frame_adapter", "audio_adapter", "fusion"],
            "mixture": [{"name": "mintrec2", "weight": 0.76}, {"name": "mintrec", "weight": 0.24}],
            "steps": 5000,
            "lr": 1.0e-5,
            "warmup_ratio": 0.1,
        },
        {"name": "phase-3"},  # every other key missing
    ],
}
EVAL_MER = {"task": "mer", "dataset": "MER2023", "split": "test", "metrics": {"hit_rate": 0.7123, "n_samples": 411}}
EVAL_FILE = {  # the `nanoemox evaluate` result-file shape
    "meta": {"predictions": "erg.jsonl", "n_rows": 20},
    "results": {"erg": {"accuracy": 0.5, "hit_rate": 0.9, "dist": {"dist1": 0.95}, "n_samples": 20, "note": "x"}},
}


# ------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """`nanoemox init --preset tiny`, built offline once for the module."""
    from nanoemox import compose

    output = tmp_path_factory.mktemp("ckpt") / "nanoemox-tiny"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setattr(hub_constants, "HF_HUB_OFFLINE", True)
        assert compose.main(["--preset", "tiny", "--output", str(output)]) == 0
    return output


@pytest.fixture
def checkpoint_copy(tiny_checkpoint, tmp_path) -> Path:
    """A private copy (tests write README.md or more files into it)."""
    return Path(shutil.copytree(tiny_checkpoint, tmp_path / "nanoemox-tiny"))


@pytest.fixture
def inputs(tmp_path) -> dict[str, Path]:
    paths = {"curriculum": tmp_path / "p2e.yaml", "mer": tmp_path / "mer.json", "erg": tmp_path / "erg.json"}
    paths["curriculum"].write_text(yaml.safe_dump(CURRICULUM, sort_keys=False), encoding="utf-8")
    paths["mer"].write_text(json.dumps(EVAL_MER), encoding="utf-8")
    paths["erg"].write_text(json.dumps(EVAL_FILE), encoding="utf-8")
    return paths


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and ".cache" not in p.relative_to(folder).parts
    }


# ------------------------------------------------------------------------------------------- card


def test_card_from_tiny_checkpoint(tiny_checkpoint, inputs, tmp_path):
    card = render.render_card(
        tiny_checkpoint,
        curriculum=inputs["curriculum"],
        eval_results=[inputs["mer"], inputs["erg"]],
        repo_id="me/nanoemox-tiny",
    )
    path = tmp_path / "README.md"
    card.save(path)

    # front matter parses two ways and carries the card data
    meta = metadata_load(path)
    assert meta["library_name"] == "transformers" and meta["license"] == "mit"
    assert meta["pipeline_tag"] == "video-text-to-text"
    assert {"emotion-recognition", "multimodal", "nanoemox", "custom_code", "tiny-random"} <= set(meta["tags"])
    assert "base_model" not in meta  # tiny random components: no base model claimed
    loaded = ModelCard.load(path)
    results = {(r.task_type, r.dataset_name, r.metric_type): r.metric_value for r in loaded.data.eval_results}
    assert results == {
        ("mer", "MER2023", "hit_rate"): 0.7123,
        ("erg", "erg", "accuracy"): 0.5,  # dataset name defaults to the file stem
        ("erg", "erg", "hit_rate"): 0.9,
        ("erg", "erg", "dist.dist1"): 0.95,
    }  # counts (n_*) and strings dropped, nested metrics dotted
    assert meta["model-index"][0]["name"] == "nanoemox-tiny"
    assert next(r for r in loaded.data.eval_results if r.task_type == "mer").dataset_split == "test"

    text = loaded.text
    assert "tiny random checkpoint, not a useful model" in text
    # the modules and token counts the config names
    config = json.loads((tiny_checkpoint / "config.json").read_text())
    assert f"frame adapter `{config['frame_adapter']}`" in text
    assert f"audio adapter `{config['audio_adapter']}`" in text
    assert f"fusion encoder `{config['fusion']}`" in text
    media = config["num_frame_tokens"] + config["num_audio_tokens"] + config["num_face_tokens"] + 1
    assert f"**Media tokens per clip:** {media} " in text and "69 (32 + 32 + 4 + 1)" in text
    # curriculum table, evaluation table, usage, limitations, ethics
    assert "| phase-1.1 | audio_adapter | m3ed 50 %, crema_d 50 % | 3 epochs × 5000 steps | 0.0003 → 0.0001 |" in text
    assert "| phase-2 | frame_adapter, audio_adapter, fusion | mintrec2 76 %, mintrec 24 % | 5000 steps |" in text
    assert "| phase-3 | – | – | – | – | – |" in text and "`weight_decay`: 0.05" in text
    assert "| Multimodal emotion recognition (MER) | MER2023 (test) | hit_rate | 0.7123 |" in text
    assert "AutoModelForCausalLM.from_pretrained(repo, trust_remote_code=True)" in text
    assert "AutoProcessor.from_pretrained(repo, trust_remote_code=True)" in text
    assert 'pipeline("emotion-analysis", model=repo, trust_remote_code=True)' in text and 'task="mer"' in text
    assert 'repo = "me/nanoemox-tiny"' in text
    assert "## Limitations" in text and "culturally loaded" in text
    ethics = text.split("## Ethical considerations")[1]
    for phrase in ("surveillance", "hiring", "policing", "EU AI Act", "workplace", "education", "Consent", "Bias"):
        assert phrase in ethics, phrase


def test_parameter_counts_from_headers_match_the_model(tiny_checkpoint, monkeypatch):
    from nanoemox.compose import count_parameters
    from nanoemox.modeling.modeling_nanoemox import NanoEmoXForConditionalGeneration

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)

    counts = render.count_parameters(tiny_checkpoint)
    model = NanoEmoXForConditionalGeneration.from_pretrained(tiny_checkpoint)
    expected = count_parameters(model)
    assert counts["total"] == expected.pop("total")
    assert counts["branches"] == expected
    assert counts["dtypes"] == {"F32": counts["total"]}
    text = render.render_card(tiny_checkpoint).text
    assert f"({counts['total']:,})" in text


def test_card_names_the_modules_of_this_config(tiny_checkpoint, tmp_path):
    config = json.loads((tiny_checkpoint / "config.json").read_text())
    config.update(frame_adapter="mlp", audio_adapter="qformer", num_frame_tokens=16)
    (tmp_path / "config.json").write_text(json.dumps(config))  # a config alone: no weights
    text = render.render_card(tmp_path).text
    assert "frame adapter `mlp`" in text and "audio adapter `qformer`" in text
    assert "fusion encoder `gated_experts`" in text
    assert "| frames | frame adapter `mlp` | 16 |" in text
    assert f"**Media tokens per clip:** {16 + config['num_audio_tokens'] + 4 + 1} " in text
    assert "No safetensors weights were found" in text
    assert "No curriculum was supplied" in text and "No evaluation results were supplied" in text
    assert "FEC):** off" in text
    # the related systems' modules and FEC are named with what they are
    config.update(frame_adapter="hybrid_compressor", audio_adapter="lq_former", fusion="egmf", num_key_frames=2)
    (tmp_path / "config.json").write_text(json.dumps(config))
    text = render.render_card(tmp_path).text
    assert "fusion encoder `egmf`" in text and "EGMF: bidirectional cross-attention" in text
    assert "frames `hybrid_compressor` (Emotion-Qwen hybrid compressor" in text
    assert "speech `lq_former` (XMEI-Qwen LQ-Former" in text
    assert "the 2 most expressive sampled frames (scorer `haar_smile`)" in text


def test_full_size_config_names_published_components(tmp_path):
    from nanoemox.modeling.configuration_nanoemox import NanoEmoXConfig

    NanoEmoXConfig().save_pretrained(tmp_path)  # full size, no _name_or_path: the published defaults
    meta = render.render_card(tmp_path).data.to_dict()
    assert meta["base_model"] == list(render.PUBLISHED_COMPONENTS.values())
    assert "tiny-random" not in meta["tags"]
    text = render.render_card(tmp_path).text
    assert "**Media tokens per clip:** 69 (32 + 32 + 4 + 1)" in text and "tiny random" not in text

    config = json.loads((tmp_path / "config.json").read_text())  # Hub ids in the sub-configs win
    config["audio_config"]["_name_or_path"] = "TencentGameMate/chinese-hubert-large"
    config["vision_config"]["_name_or_path"] = str(tmp_path)  # a local folder is not a Hub id
    (tmp_path / "config.json").write_text(json.dumps(config))
    meta = render.render_card(tmp_path).data.to_dict()
    assert meta["base_model"] == [
        render.PUBLISHED_COMPONENTS["vision"],
        "TencentGameMate/chinese-hubert-large",
        render.PUBLISHED_COMPONENTS["face"],
        render.PUBLISHED_COMPONENTS["lm"],
    ]


def test_copies_agree_with_compose():
    from nanoemox import compose

    assert render.PUBLISHED_COMPONENTS == compose.PUBLISHED_COMPONENTS
    expected = {label: tuple(f"model.{m}." for m in modules) for label, modules in compose.BRANCH_MODULES.items()}
    assert {k: v for k, v in parameters.BRANCH_PREFIXES.items() if k in expected} == expected
    assert set(parameters.BRANCH_PREFIXES) - set(expected) == {"LM head (untied part)"}


def test_eval_record_shapes():
    one = render.eval_records(EVAL_MER)
    assert one == [
        {
            "task": "mer",
            "dataset": "MER2023",
            "dataset_id": None,
            "split": "test",
            "metrics": {"hit_rate": 0.7123},
            "source_url": None,
        }
    ]
    assert render.eval_records([EVAL_MER, EVAL_MER]) == one * 2
    assert render.eval_records({"results": [EVAL_MER]}) == one
    from_file = render.eval_records(EVAL_FILE, default_dataset="AvaMERG")
    assert from_file[0]["dataset"] == "AvaMERG"
    assert from_file[0]["metrics"] == {"accuracy": 0.5, "hit_rate": 0.9, "dist.dist1": 0.95}
    for bad in ({"metrics": {"a": 1}}, {"task": "mer"}, "mer", 3):
        with pytest.raises(ValueError):
            render.eval_records(bad)


def test_curriculum_tolerates_any_stage_shape(tmp_path):
    rows = render.curriculum_rows(
        {
            "stages": [
                {},
                "warm-up",
                {
                    "name": "x",
                    "mixture": ["a", "b"],
                    "trains": "lora",
                    "max_steps": 10,
                    "learning_rate": [1e-4, 1e-5],
                    "batch": {"size": 3},
                },
            ]
        }
    )
    assert [r["name"] for r in rows] == ["stage 1", "warm-up", "x"]
    assert rows[2] == {
        "name": "x",
        "trainable": "lora",
        "mixture": "a, b",
        "length": "10 steps",
        "lr": "0.0001 → 1e-05",
        "other": "batch=size=3",
        "description": "",
    }
    # the shape train/curriculum.py writes: a task mixture drawn from named datasets, lr with a cosine floor
    trainer_stage = {
        "name": "phase1.1-audio",
        "data": ["demo"],
        "mixture": {"mer": 3, "ov-mer": 1},
        "trainable": ["audio_adapter"],
        "epochs": 1,
        "steps_per_epoch": 40,
        "learning_rate": 3.0e-4,
        "min_learning_rate": 1.0e-4,
        "batch_size": 3,
    }
    (row,) = render.curriculum_rows({"stages": [trainer_stage]})
    assert row["mixture"] == "mer 75 %, ov-mer 25 % (from demo)" and row["length"] == "1 epoch × 40 steps"
    assert row["lr"] == "0.0003 → 0.0001" and row["other"] == "batch_size=3"
    (row,) = render.curriculum_rows({"stages": [{**trainer_stage, "where": {"meta.emotion_modality": "voice"}}]})
    assert row["mixture"] == "mer 75 %, ov-mer 25 % (from demo) where meta.emotion_modality = voice"
    assert row["other"] == "batch_size=3"
    path = tmp_path / "bad.yaml"
    path.write_text("phases: []\n")
    with pytest.raises(ValueError, match="stages"):
        render.load_curriculum(path)
    with pytest.raises(ValueError, match="config.json"):
        render.render_card(tmp_path)


def test_card_cli(checkpoint_copy, inputs, tmp_path, capsys):
    assert (
        render.main(
            [
                "--model",
                str(checkpoint_copy),
                "--curriculum",
                str(inputs["curriculum"]),
                "--eval",
                str(inputs["mer"]),
                str(inputs["erg"]),
                "--repo-id",
                "me/x",
            ]
        )
        == 0
    )
    readme = checkpoint_copy / "README.md"  # default output
    assert str(readme) in capsys.readouterr().out
    assert len(ModelCard.load(readme).data.eval_results) == 4
    from nanoemox.cli import main as nanoemox_main

    output = tmp_path / "out" / "CARD.md"
    assert (
        nanoemox_main(
            [
                "card",
                "--model",
                str(checkpoint_copy),
                "--eval",
                str(inputs["mer"]),
                "--eval",
                str(inputs["erg"]),
                "--output",
                str(output),
            ]
        )
        == 0
    )
    assert len(ModelCard.load(output).data.eval_results) == 4


# ------------------------------------------------------------------------------------------- hub


def test_push_download_round_trip(fake_hub, checkpoint_copy, inputs, tmp_path):
    render.render_card(checkpoint_copy, eval_results=[inputs["mer"]], repo_id="me/nanoemox-tiny").save(
        checkpoint_copy / "README.md"
    )
    # a file over the Hub's 10 MB limit for plain git storage, whatever its name (weights are LFS by their pattern)
    (checkpoint_copy / "feature_stats.dat").write_bytes(np.random.default_rng(0).bytes(11 * 2**20))
    info = push_checkpoint(checkpoint_copy, "me/nanoemox-tiny", token=TOKEN, private=True)
    assert info.oid == fake_hub.repos["me/nanoemox-tiny"].refs["main"]
    assert fake_hub.repos["me/nanoemox-tiny"].private
    assert ("POST", "/api/validate-yaml") in fake_hub.requests  # the card's metadata passed the Hub's check
    # the weights and the large file took the Hub's LFS route: batch, one PUT each, verify; nothing went by Xet
    assert ("POST", "/me/nanoemox-tiny.git/info/lfs/objects/batch") in fake_hub.requests
    puts = [path for method, path in fake_hub.requests if method == "PUT"]
    sha256 = {
        name: hashlib.sha256((checkpoint_copy / name).read_bytes()).hexdigest()
        for name in ("model.safetensors", "feature_stats.dat")
    }
    assert sorted(puts) == sorted(f"/lfs-storage/{oid}" for oid in sha256.values())
    assert sum(path.endswith("/objects/verify") for _, path in fake_hub.requests) == 2
    assert not any("xet" in path for _, path in fake_hub.requests)
    tree = {e.path: e for e in HfApi(endpoint=fake_hub.endpoint, token=TOKEN).list_repo_tree("me/nanoemox-tiny")}
    assert {name: tree[name].lfs.sha256 for name in sha256} == sha256 and tree["config.json"].lfs is None

    path = download_checkpoint("me/nanoemox-tiny", local_dir=tmp_path / "download", token=TOKEN)
    local, remote = _files(checkpoint_copy), _files(Path(path))
    assert set(remote) == set(local) | {".gitattributes"}  # the Hub's initial commit adds .gitattributes
    assert all(remote[name] == data for name, data in local.items())
    assert len(ModelCard.load(Path(path) / "README.md").data.eval_results) == 1

    # pushing the same folder again is a no-op: same commit
    assert push_checkpoint(checkpoint_copy, "me/nanoemox-tiny", token=TOKEN).oid == info.oid
    # a pull request against main
    (checkpoint_copy / "NOTES.md").write_text("review me\n")
    pr = push_checkpoint(checkpoint_copy, "me/nanoemox-tiny", token=TOKEN, create_pr=True)
    assert pr.pr_url and pr.pr_revision == "refs/pr/1"
    assert "NOTES.md" not in fake_hub.files_at("me/nanoemox-tiny", "main")
    assert fake_hub.files_at("me/nanoemox-tiny", "refs/pr/1")["NOTES.md"] == b"review me\n"


def test_one_revision_per_phase(fake_hub, checkpoint_copy, tmp_path):
    repo = "me/nanoemox-p2e"
    main_info = push_checkpoint(checkpoint_copy, repo, token=TOKEN)
    phase_dir = Path(shutil.copytree(checkpoint_copy, tmp_path / "phase-1.1"))
    (phase_dir / "trainer_state.json").write_text(json.dumps({"stage": "phase-1.1", "step": 5000}))
    (phase_dir / "generation_config.json").write_text("{}\n")
    phase_info = push_checkpoint(phase_dir, repo, revision="phase-1.1", token=TOKEN, commit_message="phase 1.1")
    assert phase_info.oid != main_info.oid

    refs = HfApi(token=TOKEN).list_repo_refs(repo)
    assert {b.name: b.target_commit for b in refs.branches} == {"main": main_info.oid, "phase-1.1": phase_info.oid}
    cache = tmp_path / "hf-cache"
    phase_path = Path(download_checkpoint(repo, revision="phase-1.1", cache_dir=cache, token=TOKEN))
    assert phase_path.name == phase_info.oid  # cache snapshot of the branch head
    assert _files(phase_path) == {**_files(phase_dir), ".gitattributes": _files(phase_path)[".gitattributes"]}
    main_path = Path(download_checkpoint(repo, cache_dir=cache, token=TOKEN))
    assert "trainer_state.json" not in _files(main_path)
    assert _files(main_path)["generation_config.json"] == (checkpoint_copy / "generation_config.json").read_bytes()
    # a commit id is a revision too
    by_oid = Path(download_checkpoint(repo, revision=phase_info.oid, local_dir=tmp_path / "by-oid", token=TOKEN))
    assert (by_oid / "trainer_state.json").read_bytes() == (phase_dir / "trainer_state.json").read_bytes()


def test_push_checks_its_arguments(fake_hub, checkpoint_copy, tmp_path):
    with pytest.raises(ValueError, match="config.json"):
        push_checkpoint(tmp_path / "empty", "me/x", token=TOKEN)
    with pytest.raises(ValueError, match="create_pr"):
        push_checkpoint(checkpoint_copy, "me/x", revision="phase-2", create_pr=True, token=TOKEN)
    # a card whose model-index is malformed is refused by the Hub's metadata check
    (checkpoint_copy / "README.md").write_text("---\nmodel-index:\n- results: []\n---\n# x\n")
    with pytest.raises(ValueError, match="Invalid metadata"):
        push_checkpoint(checkpoint_copy, "me/x", token=TOKEN)
    with pytest.raises(huggingface_hub.errors.RevisionNotFoundError):
        download_checkpoint("me/x", revision="no-such-branch", cache_dir=tmp_path / "c", token=TOKEN)
