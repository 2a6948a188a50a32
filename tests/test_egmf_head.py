"""EGMF's sentiment regression head: the config option, the loss, generation, saving, training and evaluation."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import pytest
import torch
from datasets import load_from_disk
from safetensors.torch import load_file

from nanoemox.compose import main as init_main
from nanoemox.evaluation.scoring import msa_views
from nanoemox.modeling.collator_nanoemox import NanoEmoXCollator
from nanoemox.modeling.configuration_nanoemox import NanoEmoXConfig
from nanoemox.modeling.modeling_nanoemox import NanoEmoXForConditionalGeneration
from nanoemox.modeling.processing_nanoemox import NanoEmoXProcessor
from nanoemox.processing.demo_corpus import generate_demo_corpus
from nanoemox.train.cli import main as train_main
from nanoemox.train.curriculum import load_curriculum, parse_curriculum
from nanoemox.train.engine import dry_run
from nanoemox.train.freezing import apply_trainable
from tests.model_helpers import ALL, make_batch, run_without_package

NAN = float("nan")


@pytest.fixture(scope="module")
def egmf_ckpt(tmp_path_factory) -> str:
    """A tiny checkpoint written by `nanoemox init --fusion egmf --sentiment-head`."""
    folder = tmp_path_factory.mktemp("egmf") / "ckpt"
    assert init_main(["--preset", "tiny", "--output", str(folder), "--fusion", "egmf", "--sentiment-head"]) == 0
    return str(folder)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("demo") / "data"
    generate_demo_corpus(folder, num_clips=12, seed=0, progress=False)
    return folder


def _model(path: str) -> NanoEmoXForConditionalGeneration:
    return NanoEmoXForConditionalGeneration.from_pretrained(path).eval()


def _answer_batch(config, samples, answer_len: int = 3):
    """A batch (left-padded prompts) with `answer_len` answer tokens appended, labels on the answer only."""
    prompt = make_batch(config, samples)
    b = prompt["input_ids"].shape[0]
    vocab = min(getattr(config, f"{k}_token_id") for k in ("frame", "face", "audio", "fusion"))  # below placeholders
    answer = torch.randint(3, vocab, (b, answer_len), generator=torch.Generator().manual_seed(3))
    full = dict(prompt)
    full["input_ids"] = torch.cat([prompt["input_ids"], answer], 1)
    full["attention_mask"] = torch.cat([prompt["attention_mask"], torch.ones_like(answer)], 1)
    full["labels"] = torch.cat([torch.full_like(prompt["input_ids"], -100), answer], 1)
    return prompt, full


# ---------------------------------------------------------------- config
def test_config_option_is_validated_and_round_trips(tmp_path):
    for field, value in [
        ("sentiment_head", "yes"),
        ("sentiment_loss", "huber"),
        ("sentiment_loss_weight", -0.5),
        ("sentiment_hidden_size", 0),
    ]:
        with pytest.raises(ValueError, match=f"NanoEmoXConfig.{field}="):
            NanoEmoXConfig(**{field: value})
    config = NanoEmoXConfig(sentiment_head=True, sentiment_loss="mse", sentiment_loss_weight=0.25)
    config.save_pretrained(tmp_path)
    again = NanoEmoXConfig.from_pretrained(tmp_path)
    assert (again.sentiment_head, again.sentiment_loss, again.sentiment_loss_weight) == (True, "mse", 0.25)
    assert NanoEmoXConfig().sentiment_head is False


# ---------------------------------------------------------------- model
def test_head_score_loss_and_gradients(egmf_ckpt):
    model = _model(egmf_ckpt)  # eval mode: deterministic encoders; gradients flow all the same
    assert model.config.fusion == "egmf" and model.config.sentiment_head
    _, batch = _answer_batch(model.config, [ALL, ALL, {"audio": True}])
    gold = torch.tensor([1.5, NAN, -2.0])
    out = model(**batch, sentiment_labels=gold)
    assert out.sentiment_score.shape == (3,)
    # L1 over the rows with a gold score only (MMSA's convention), added to the LM loss with the configured weight
    expected = (out.sentiment_score[[0, 2]] - gold[[0, 2]]).abs().mean()
    torch.testing.assert_close(out.sentiment_loss, expected)
    lm_only = model(**batch)
    assert lm_only.sentiment_loss is None
    torch.testing.assert_close(out.loss, lm_only.loss + model.config.sentiment_loss_weight * expected)
    # the sentiment loss alone reaches the head and, through the LM's attention to its pseudo token, the EGMF fusion
    model.zero_grad()
    out.sentiment_score.retain_grad()
    out.sentiment_loss.backward()
    assert out.sentiment_score.grad[1] == 0 and (out.sentiment_score.grad[[0, 2]] != 0).all()  # NaN row ignored
    for name in ("sentiment_head", "fusion"):
        grads = [p.grad for p in getattr(model.model, name).parameters()]
        assert any(g is not None and g.abs().sum() > 0 for g in grads), name


def test_a_batch_without_gold_scores_trains_the_lm_only(egmf_ckpt):
    model = _model(egmf_ckpt)  # eval mode: deterministic encoders; gradients flow all the same
    _, batch = _answer_batch(model.config, [ALL, {"audio": True}])
    out = model(**batch, sentiment_labels=torch.tensor([NAN, NAN]))
    assert out.sentiment_loss is None and out.sentiment_score.shape == (2,)
    out.loss.backward()
    # no zero-valued loss either: the head gets no gradient, so AdamW leaves it alone
    assert all(p.grad is None for p in model.model.sentiment_head.parameters())
    assert any(p.grad is not None for p in model.model.fusion.parameters())


def test_head_reads_the_same_state_in_training_and_at_generation(egmf_ckpt):
    model = _model(egmf_ckpt)
    prompt, full = _answer_batch(model.config, [ALL, {"frame": True}, {}])
    with torch.no_grad():
        training = model(**full).sentiment_score  # position from the labels: the token before the answer
        inference = model(**prompt).sentiment_score  # the generation prompt's last token
        with model.capture_prefill() as captured:
            generated = model.generate(**prompt, max_new_tokens=3, do_sample=False)
        plain = model.generate(**prompt, max_new_tokens=3, do_sample=False)
    torch.testing.assert_close(training, inference, rtol=1e-4, atol=1e-5)
    assert len(captured) == 1  # one prefill per generate call: decode steps do not run the head
    torch.testing.assert_close(captured[0].sentiment_score, inference, rtol=1e-4, atol=1e-5)
    assert torch.equal(generated, plain)


def test_default_model_ignores_sentiment_labels(egmf_ckpt):
    config = NanoEmoXConfig.from_pretrained(egmf_ckpt)
    config.sentiment_head = False
    model = NanoEmoXForConditionalGeneration(config).eval()
    assert model.model.sentiment_head is None
    _, batch = _answer_batch(model.config, [ALL, {"audio": True}])
    with torch.no_grad():  # the collator always sends sentiment_labels (the Trainer passes every key to forward)
        out = model(**batch, sentiment_labels=torch.tensor([1.0, NAN]))
        reference = model(**batch)
    assert out.sentiment_score is None and out.sentiment_loss is None
    assert torch.equal(out.loss, reference.loss)


REMOTE_HEAD_SCRIPT = textwrap.dedent(
    """
    import sys
    import torch
    from transformers import AutoModel, AutoModelForCausalLM
    folder, batch_file, out_file = sys.argv[1:4]
    batch = torch.load(batch_file)
    with torch.no_grad():
        causal = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True).eval()
        base = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
        out = {"causal": causal(**batch).sentiment_score, "base": base(**batch).sentiment_score}
    out["config"] = (causal.config.fusion, causal.config.sentiment_head)
    try:
        import nanoemox  # noqa: F401
        out["blocked"] = False
    except ImportError:
        out["blocked"] = True
    torch.save(out, out_file)
    """
)


@pytest.mark.slow
def test_save_reload_and_remote_code_keep_the_head(egmf_ckpt, tmp_path):
    model = _model(egmf_ckpt)
    with torch.no_grad():  # a head that is not at its initial values, so reloading must carry the weights
        for p in model.model.sentiment_head.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    batch = make_batch(model.config, [ALL, {"audio": True}, {}])
    with torch.no_grad():
        expected = model(**batch).sentiment_score
    from nanoemox.compose import save_checkpoint

    processor = NanoEmoXProcessor.from_pretrained(egmf_ckpt, trust_remote_code=True)
    save_checkpoint(model, processor, tmp_path / "saved")
    with torch.no_grad():
        assert torch.equal(_model(str(tmp_path / "saved"))(**batch).sentiment_score, expected)
    torch.save(batch, tmp_path / "batch.pt")
    run_without_package(
        REMOTE_HEAD_SCRIPT, tmp_path / "saved", tmp_path / "batch.pt", tmp_path / "o.pt", folder=tmp_path
    )
    remote = torch.load(tmp_path / "o.pt")
    assert remote["blocked"] and remote["config"] == ("egmf", True)
    assert torch.equal(remote["causal"], expected) and torch.equal(remote["base"], expected)


# ---------------------------------------------------------------- training
def test_collator_passes_gold_scores_of_msa_rows(egmf_ckpt, data):
    processor = NanoEmoXProcessor.from_pretrained(egmf_ckpt, trust_remote_code=True)
    train = load_from_disk(str(data))["train"]
    rows = [dict(r) for r in train if r["task"] == "msa"][:2] + [dict(r) for r in train if r["task"] == "mer"][:1]
    batch = NanoEmoXCollator(processor, media_root=data)(rows)
    labels = batch["sentiment_labels"]
    assert labels.dtype == torch.float32 and labels.shape == (3,)
    assert labels[:2].tolist() == pytest.approx([rows[0]["labels"]["sentiment"], rows[1]["labels"]["sentiment"]])
    assert math.isnan(labels[2])
    model = _model(egmf_ckpt)
    with torch.no_grad():
        out = model(**{k: v for k, v in batch.items() if k != "task_index"})
    assert out.sentiment_loss is not None and torch.isfinite(out.loss)


def test_the_head_trains_with_the_fusion(egmf_ckpt, tmp_path):
    model = _model(egmf_ckpt)
    raw = {
        "datasets": {"d": {"path": str(tmp_path)}},
        "stages": [
            {"name": "a", "data": ["d"], "mixture": {"mer": 1}, "trainable": ["audio_adapter"]},
            {"name": "f", "data": ["d"], "mixture": {"msa": 1}, "trainable": ["fusion", "lora"]},
        ],
    }
    audio, fusion = parse_curriculum(raw).stages
    apply_trainable(model, audio)
    assert not any(p.requires_grad for p in model.model.sentiment_head.parameters())
    peft_model = apply_trainable(model, fusion)
    trainable = {n for n, p in peft_model.named_parameters() if p.requires_grad}
    assert any(".sentiment_head.modules_to_save." in n for n in trainable)
    assert any(".fusion.modules_to_save." in n for n in trainable) and any("lora_" in n for n in trainable)


@pytest.mark.slow  # an end-to-end run: the second CI step (pytest -m slow)
def test_egmf_curriculum_end_to_end_reports_msa_from_the_head(data, tmp_path):
    stage = {
        "name": "egmf",
        "data": ["demo"],
        "mixture": {"msa": 1, "mer": 1},
        "trainable": ["fusion", "lora"],
        "lora": {"r": 8, "alpha": 16},
        "steps_per_epoch": 3,
        "batch_size": 2,
        "learning_rate": 1e-2,
        "save_steps": 3,
        "logging_steps": 1,
    }
    raw = {
        "model": {"init": {"preset": "tiny", "arch": {"fusion": "egmf", "sentiment_head": True}}},
        "datasets": {"demo": {"path": str(data)}},
        "output_dir": str(tmp_path / "run"),
        "stages": [stage],
        "evaluation": {"tasks": ["msa"], "max_new_tokens": 4},
    }
    (tmp_path / "c.yaml").write_text(json.dumps(raw))
    assert train_main(["--config", str(tmp_path / "c.yaml")]) == 0
    run = tmp_path / "run"
    before = load_file(run / "0-init" / "model.safetensors")
    after = load_file(run / "1-egmf" / "final" / "model.safetensors")
    head = [k for k in before if k.startswith("model.sentiment_head.")]
    assert head and all(not torch.equal(before[k], after[k]) for k in head)
    msa = json.loads((run / "eval_results.json").read_text())["datasets"]["demo"]["all_modalities"]["msa"]
    assert msa["score_source"] == "sentiment_head" and msa["n_samples"] > 0 and math.isfinite(msa["mae"])
    assert {"mae", "corr", "mllm_waf", "n_score_missing"} <= set(msa["text_parsed"])  # the answers' own scores
    predictions = [json.loads(line) for line in (run / "predictions-demo.jsonl").read_text().splitlines()]
    assert len(predictions) == msa["n_samples"] and all(math.isfinite(p["sentiment_score"]) for p in predictions)
    # the head view is the regression metrics of exactly those scores
    golds = [p["reference"] for p in predictions]
    assert msa["mae"] == pytest.approx(
        sum(abs(p["sentiment_score"] - g) for p, g in zip(predictions, golds)) / len(golds)
    )
    # the pipeline's msa answer carries the same head score (read at the answer's own prefill)
    from transformers import pipeline

    test = [dict(r) for r in load_from_disk(str(data))["test"] if r["task"] == "msa"]
    row = next(r for r in test if r["id"] == predictions[0]["id"])
    analyse = pipeline("emotion-analysis", model=str(run / "1-egmf" / "final"), trust_remote_code=True)
    sample = {"video": str(data / row["video"]), "faces": str(data / row["face_track"]), "subtitle": row["subtitle"]}
    result = analyse(sample, task="msa", max_new_tokens=4, do_sample=False)
    assert result["answer"]["head_score"] == pytest.approx(predictions[0]["sentiment_score"], abs=1e-4)
    assert "score" in result["answer"]


def test_msa_views_name_their_source():
    text = {"mae": 1.0, "mllm_waf": 0.5}
    assert msa_views(text, [1.0, -1.0])["score_source"] == "text"
    both = msa_views(text, [1.0, -1.0], [0.5, -1.5])
    assert both["score_source"] == "sentiment_head" and both["mae"] == pytest.approx(0.5)
    assert both["text_parsed"] == text and both["has0_acc2"] == 1.0
    assert msa_views(text, [1.0, -1.0], [NAN, 0.0])["score_source"] == "text"  # a diverged head: the text view


# ---------------------------------------------------------------- preset
def test_egmf_preset_is_the_paper_curriculum_with_egmf(capsys, monkeypatch):
    egmf, paper = load_curriculum("egmf"), load_curriculum("paper")
    assert [s.name for s in egmf.stages] == [s.name for s in paper.stages]
    assert [s.trainable for s in egmf.stages] == [s.trainable for s in paper.stages]
    arch = egmf.model["init"]["arch"]
    assert arch["fusion"] == "egmf" and arch["sentiment_head"] is True
    lora = [s.lora for s in egmf.stages if "lora" in s.trainable]
    assert lora and all((x.r, x.alpha) == (8, 16) for x in lora)
    assert egmf.stages[3].mixture["msa"] > 0
    report = dry_run(egmf)
    counts = [s["trainable_parameters"] for s in report["stages"]]
    assert "sentiment_head" not in counts[0] and "sentiment_head" not in counts[1]
    assert counts[2]["sentiment_head"] == counts[3]["sentiment_head"] > 0
    # LoRA r=8 on q,k,v,o,gate,up,down of the 28 layers of Qwen2.5-1.5B (hidden 1536, kv 256, mlp 8960)
    assert counts[3]["lora"] == 28 * 8 * ((1536 + 1536) * 2 + (1536 + 256) * 2 + (1536 + 8960) * 3)
    # the CLI route prints this same report (built once: four full-size meta models per dry run)
    monkeypatch.setattr(
        "nanoemox.train.cli.dry_run", lambda config: report if config.output_dir == "runs/egmf" else None
    )
    assert train_main(["--config", "egmf", "--dry-run"]) == 0
    assert "sentiment_head" in capsys.readouterr().out
