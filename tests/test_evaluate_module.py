"""The one 🤗 evaluate module: every config loads offline by path and computes what `score` computes, on the same
Python values (numbers, label lists, dicts, None), with one hand-computed figure per task as an anchor.

pytest tests/test_evaluate_module.py -q
"""

from __future__ import annotations

from pathlib import Path

import pytest
from setuptools.config.pyprojecttoml import load_file

from nanoemox.evaluation.scoring import EVALUATE_MODULE, score
from nanoemox.modeling.prompts_nanoemox import TASKS

try:
    from tests.test_metrics_mer import tiny_wheels
except ImportError:  # tests/ is not a package: pytest puts tests/ itself on sys.path
    from test_metrics_mer import tiny_wheels

import evaluate

REPO = Path(__file__).resolve().parents[1]
JOINT_GOLD = {"emotion": "happy", "intent": "consoling", "explanation": "she jokes to comfort him"}

# config name -> (predictions, references, compute options, {metric: hand-computed value})
CASES = {
    "msa": (
        ["positive (score 1.20)", -0.4, "I am not sure", {"score": 0.5}],
        [1.4, -1.0, 0.0, 0.5],
        {},
        # scores 1.2, -0.4, miss, 0.5: MAE over the answered (0.2 + 0.6 + 0) / 3; has-0 [T F miss T] vs [T F T T]
        {"mae": 0.8 / 3, "has0_acc2": 0.75, "n_score_missing": 1},
    ),
    "mer": (
        ["glad, lonely", "The speaker seems sad.", "I cannot tell."],
        [["happy", "lonely"], "sad", "happy"],
        {"wheels": tiny_wheels()},
        # hit rate per wheel: 2 (both gold clusters met) + 1 + 0 over 3 samples; WAR over the 2 one-label golds: 1/2
        {"hit_rate": 1.0, "war": 0.5, "n_unparsed": 1, "n_gold_multi_label": 1},
    ),
    "ov-mer": (
        ["happy, excited", None],
        ["happy, sad, calm", ["sad"]],
        {},
        # no wheels: the exact-set F. s1 P 1/2, R 1/3; s2 no answer: 0, 0 -> P 1/4, R 1/6, F 1/5
        {"exact_set_fscore": 0.2, "exact_set_precision": 0.25},
    ),
    "ovmer": (
        ["Glad; lonely.", "happy"],
        [["happy", "sad"], "sad, lonely"],
        {"wheels": tiny_wheels()},
        # per wheel: s1 Ŷ == Y (P 1, R 1); s2 Y {sad}, Ŷ {happy}: 0, 0 -> P = R = F = 1/2
        {"fscore": 0.5, "precision": 0.5},
    ),
    "eri": (
        ["He is very happy"],
        ["he is happy today"],
        {},
        {"proxy_token_f1": 0.75},  # 3 shared tokens of 4 and 4
    ),
    "mir": (
        ["Inform", "I think she wants to thank him.", None],
        ["inform", "thank", "greet"],
        {"intent_labels": "mintrec"},
        # inform and thank right, greet missed; over the 20 MIntRec intents: macro F1 (1 + 1) / 20
        {"accuracy": 2 / 3, "macro_f1": 0.1, "n_classes": 20, "n_unparsed": 1},
    ),
    "erg": (
        [
            "<think>The speaker feels devastated.</think>\nI am so sorry.",
            "<think>The speaker feels sad.</think>\nThat is hard.",
        ],
        [{"emotion": "devastated", "response": "..."}, "lonely"],
        {},
        # fine labels: devastated right, sad vs lonely wrong; coarse: both sad
        {"emotion_accuracy": 0.5, "hit_rate": 1.0},
    ),
    "jx4mei": (
        ["emotion: happy; intent: consoling; because: she jokes to comfort him", "emotion: sad; intent: agreeing"],
        [JOINT_GOLD, "emotion: sad; intent: questioning; because: he asks"],
        {},
        {"joint_accuracy": 0.5, "emotion_accuracy": 1.0, "n_unparsable": 1},
    ),
}


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_EVALUATE_OFFLINE", "1")


def test_cases_cover_every_task():
    assert {name.replace("ovmer", "ov-mer") for name in CASES} == set(TASKS)


@pytest.mark.parametrize("config", list(CASES))
def test_each_config_computes_what_score_computes(config, tmp_path):
    predictions, references, options, expected = CASES[config]
    metric = evaluate.load(str(EVALUATE_MODULE), config, cache_dir=str(tmp_path))
    result = metric.compute(predictions=predictions, references=references, **options)
    assert result == score(config, predictions, references, **options)
    assert {key: result[key] for key in expected} == pytest.approx(expected)


def test_load_time_options_and_incremental_adds(tmp_path):
    # wheels at load time (read once), then add / add_batch with mixed reference types
    predictions, references, _, expected = CASES["ovmer"]
    metric = evaluate.load(str(EVALUATE_MODULE), "ov-mer", cache_dir=str(tmp_path), wheels=tiny_wheels())
    metric.add(prediction=predictions[0], reference=references[0])
    metric.add_batch(predictions=predictions[1:], references=references[1:])
    assert metric.compute()["fscore"] == pytest.approx(expected["fscore"])
    # a compute-time option overrides the load-time one
    exact = metric.compute(predictions=predictions, references=references, wheels=None)
    assert "fscore" not in exact and exact["exact_set_fscore"] == 0.0  # "glad" is not "happy" without wheels


def test_bad_configs_and_options_name_the_value(tmp_path):
    with pytest.raises(ValueError, match="name the task as the config"):
        evaluate.load(str(EVALUATE_MODULE), cache_dir=str(tmp_path))
    with pytest.raises(ValueError, match="unknown task 'sentiment'"):
        evaluate.load(str(EVALUATE_MODULE), "sentiment", cache_dir=str(tmp_path))
    metric = evaluate.load(str(EVALUATE_MODULE), "mir", cache_dir=str(tmp_path))
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['wheel'\]"):
        metric.compute(predictions=["inform"], references=["inform"], wheel="x")


def test_package_data_ships_the_module():
    patterns = load_file(REPO / "pyproject.toml")["tool"]["setuptools"]["package-data"]  # tomllib is 3.11+
    shipped = {path for pattern in patterns["nanoemox.evaluation"] for path in (REPO / "evaluation").glob(pattern)}
    assert EVALUATE_MODULE / "nanoemox.py" in shipped
    assert all(any((REPO / "evaluation").glob(pattern)) for pattern in patterns["nanoemox.evaluation"])
    assert sorted(path.name for path in (REPO / "evaluation" / "modules").iterdir()) == ["nanoemox"]
