"""`nanoemox evaluate --scoring likelihood`: closed-set tasks answered by their most probable label (the pipeline's
`scores`), so none of their answers is unparsable."""

from __future__ import annotations

import json

import pytest
from datasets import load_from_disk
from transformers import pipeline

from nanoemox.evaluation.cli import main as evaluate_main
from nanoemox.evaluation.msa import parse_sentiment_answer
from nanoemox.processing.demo_corpus import generate_demo_corpus
from tests.model_helpers import build_lively_checkpoint

TASKS = ("mer", "mir", "msa")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("likelihood")
    data = folder / "data"
    generate_demo_corpus(data, num_clips=12, seed=0, progress=False)
    return build_lively_checkpoint(folder), data


def _evaluate(ckpt, data, out, scoring: str) -> tuple[dict, list[dict]]:
    argv = ["--model", ckpt, "--data", str(data), "--tasks", ",".join(TASKS), "--split", "train", "--max-samples", "5"]
    assert evaluate_main([*argv, "--max-new-tokens", "3", "--scoring", scoring, "--output", str(out)]) == 0
    predictions = out.with_suffix(".predictions.jsonl").read_text().splitlines()
    return json.loads(out.read_text()), [json.loads(line) for line in predictions]


def test_likelihood_answers_every_closed_set_row_with_the_argmax_label(corpus, tmp_path):
    ckpt, data = corpus
    payload, predictions = _evaluate(ckpt, data, tmp_path / "likelihood.json", "likelihood")
    assert payload["meta"]["scoring"] == "likelihood"
    results = payload["results"]
    assert results["mer"]["n_unparsed"] == 0 and results["mir"]["n_unparsed"] == 0
    assert results["msa"]["mllm_n_unparsed"] == 0
    assert all(results[task]["answered_by"] == "likelihood" for task in TASKS)

    analyse = pipeline("emotion-analysis", model=ckpt, trust_remote_code=True)
    rows = {row["id"]: row for row in load_from_disk(str(data))["train"] if row["task"] in TASKS}
    inputs = [{**rows[p["id"]], "_media_root": str(data)} for p in predictions]
    expected = analyse(inputs, batch_size=4, max_new_tokens=3, do_sample=False)
    assert len(predictions) == len(expected) == 3 * 5
    for prediction, answer in zip(predictions, expected, strict=True):
        labels = analyse.processor.task_labels[prediction["task"]]
        best = max(answer["scores"], key=answer["scores"].get)
        if prediction["task"] == "msa":
            word, score = parse_sentiment_answer(prediction["prediction"])
            assert word == best and score == parse_sentiment_answer(answer["generated_text"])[1]
        else:
            assert prediction["prediction"] == best and best in labels, prediction

    # the same rows, generated: this model's free text is mostly no label at all, which likelihood scoring removed
    generated, _ = _evaluate(ckpt, data, tmp_path / "generate.json", "generate")
    assert generated["results"]["mer"]["n_unparsed"] + generated["results"]["mir"]["n_unparsed"] > 0
    assert "answered_by" not in generated["results"]["mer"]
