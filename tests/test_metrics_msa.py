"""MSA: MMSA regression metrics (MOSI/MOSEI and CH-SIMS) and the MLLM-style WAF, by hand."""

from __future__ import annotations

import json

import pytest

from nanoemox.evaluation.cli import main
from nanoemox.evaluation.msa import (
    mllm_sentiment_metrics,
    mosi_regression_metrics,
    parse_sentiment_answer,
    sims_regression_metrics,
)
from nanoemox.evaluation.scoring import score


def test_mosi_regression_by_hand():
    preds = [2.6, -0.4, 0.0, 1.4, -2.5]
    golds = [2.4, 0.0, -1.0, 1.6, -2.2]
    result = mosi_regression_metrics(preds, golds)
    # has-0: gold >= 0 [T T F T F], pred >= 0 [T F T T F] -> 3/5 right.
    #   class T (support 3): TP 2, FP 1, FN 1 -> F 2/3; class F (support 2): TP 1, FP 1, FN 1 -> F 1/2
    #   weighted F1 = (3 * 2/3 + 2 * 1/2) / 5 = 0.6
    assert result["has0_acc2"] == pytest.approx(0.6)
    assert result["has0_f1"] == pytest.approx(0.6)
    # non-0: sample 2 (gold 0) dropped; gold > 0 [T F T F], pred > 0 [T F T F] (pred 0.0 is not > 0) -> all right
    assert result["non0_acc2"] == 1.0 and result["non0_f1"] == 1.0
    assert result["n_gold_zero"] == 1
    # acc7: rounded preds [3, -0, 0, 1, -2] (np.round: -2.5 -> -2, half to even), golds [2, 0, -1, 2, -2] -> 2/5
    assert result["acc7"] == pytest.approx(0.4)
    # acc5: clipped to [-2, 2]: preds [2, -0, 0, 1, -2], golds [2, 0, -1, 2, -2] -> 3/5
    assert result["acc5"] == pytest.approx(0.6)
    # MAE = (0.2 + 0.4 + 1.0 + 0.2 + 0.3) / 5 = 0.42
    assert result["mae"] == pytest.approx(0.42)


def test_pearson_and_degenerate_cases():
    assert mosi_regression_metrics([1.0, 2.0, 3.0], [2.0, 4.0, 6.0])["corr"] == pytest.approx(1.0)
    assert mosi_regression_metrics([3.0, 2.0, 1.0], [1.0, 2.0, 3.0])["corr"] == pytest.approx(-1.0)
    constant = mosi_regression_metrics([1.0, 1.0], [0.0, 0.0])
    assert constant["corr"] is None  # undefined, not NaN
    assert constant["non0_acc2"] is None  # every gold score is 0
    with pytest.raises(ValueError, match="length"):
        mosi_regression_metrics([1.0], [1.0, 2.0])


def test_sims_buckets_by_hand():
    preds = [0.8, -0.05, 0.0, -0.6, 1.5]  # 1.5 is clipped to 1.0
    golds = [0.6, 0.0, 0.1, -0.8, 1.0]
    result = sims_regression_metrics(preds, golds)
    # acc2 {[-1, 0], (0, 1]}: preds [1 0 0 0 1], golds [1 0 1 0 1] -> 4/5
    assert result["acc2"] == pytest.approx(0.8)
    # acc3 {[-1, -0.1], (-0.1, 0.1], (0.1, 1]}: preds [2 1 1 0 2], golds [2 1 1 0 2] (0.1 <= 0.1) -> 1
    assert result["acc3"] == pytest.approx(1.0)
    # acc5 edges -0.7, -0.1, 0.1, 0.7: preds [4 2 2 1 4], golds [3 2 2 0 4] -> 3/5
    assert result["acc5"] == pytest.approx(0.6)
    # weighted F1 on acc2 buckets: class 1 (support 3) P 1, R 2/3, F 0.8; class 0 (support 2) P 2/3, R 1, F 0.8
    assert result["f1"] == pytest.approx(0.8)
    # MAE on clipped scores: (0.2 + 0.05 + 0.1 + 0.2 + 0) / 5 = 0.11
    assert result["mae"] == pytest.approx(0.11)


def test_mllm_style_by_hand():
    result = mllm_sentiment_metrics(["positive", "negative", "neutral", None, "positive"], [1.2, -0.6, -1.0, 2.0, 0.0])
    # gold 0 dropped (sample 5); pairs (pos, pos) (neg, neg) (neg, neutral) (pos, unparsed)
    # positive: TP 1, FN 1 -> F 2/3; negative: TP 1, FN 1 -> F 2/3; WAF = 2/3; accuracy 2/4
    assert result["waf"] == pytest.approx(2 / 3)
    assert result["accuracy"] == pytest.approx(0.5)
    assert result["n_gold_zero"] == 1 and result["n_unparsed"] == 1


def test_score_msa_from_free_text():
    answers = ["positive (score 1.20)", "negative (score -0.80)", "neutral", "I am not sure"]
    result = score("msa", answers, [1.0, -1.0, 0.5, -0.5])
    # scores read [1.2, -0.8, miss, miss]; MAE over the 2 answered samples = (0.2 + 0.2) / 2 = 0.2
    assert result["mae"] == pytest.approx(0.2)
    assert result["n_score_missing"] == 2
    # has-0: gold [T F T F], preds [T F miss miss] -> 2/4 (a miss is wrong whatever the gold)
    assert result["has0_acc2"] == pytest.approx(0.5)
    # MLLM words: positive, negative, neutral, unparsed vs gold pos, neg, pos, neg -> accuracy 2/4
    assert result["mllm_accuracy"] == pytest.approx(0.5) and result["mllm_n_unparsed"] == 1
    sims = score("msa", answers, [1.0, -1.0, 0.5, -0.5], msa_scheme="sims")
    # clipped preds [1.0, -0.8, miss, miss]. acc2 buckets gold [1 0 1 0], preds [1 0 - -] -> 2/4;
    # acc3 gold [2 0 2 0], preds [2 0 - -] -> 2/4; acc5 gold [4 0 3 1], preds [4 0 - -] -> 2/4
    assert (sims["acc2"], sims["acc3"], sims["acc5"]) == pytest.approx((0.5, 0.5, 0.5))
    # f1 on acc2 buckets: each class TP 1, FN 1 -> F 2/3, support 2 each -> 2/3; MAE (0 + 0.2) / 2 = 0.1
    assert sims["f1"] == pytest.approx(2 / 3) and sims["mae"] == pytest.approx(0.1)
    assert sims["n_score_missing"] == 2 and sims["scheme"] == "sims"
    with pytest.raises(ValueError, match="msa_scheme"):
        score("msa", answers, [1.0, -1.0, 0.5, -0.5], msa_scheme="mosei2")
    with pytest.raises(ValueError, match="msa reference 1 is not a sentiment score: 'positive'"):
        score("msa", answers[:2], [1.0, "positive"])


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (-0.6, ("negative", -0.6)),  # a number, not a string
        (2, ("positive", 2.0)),
        ("-0.6", ("negative", -0.6)),
        ("Sentiment score: -0.6", ("negative", -0.6)),
        ("positive (2.0)", ("positive", 2.0)),
        ('{"score": 1.5}', ("positive", 1.5)),
        ({"sentiment": "Negative", "score": 0.4}, ("negative", 0.4)),  # a named word wins over the sign
        ("positive (score 1.20)", ("positive", 1.2)),
        ("Score = +1.5", ("positive", 1.5)),
        ("\u22121.2", ("negative", -1.2)),  # a typographic minus
        ("I would say -0.6.", ("negative", -0.6)),
        ("neutral", ("neutral", None)),
        ("I am not sure", (None, None)),
        ("v1.5 is the model", (None, None)),  # digits inside a word are no score
        ("", (None, None)),
        (None, (None, None)),
        (True, (None, None)),
        (float("nan"), (None, None)),
    ],
)
def test_parse_sentiment_answer_forms(answer, expected):
    assert parse_sentiment_answer(answer) == expected


def test_plain_numeric_predictions_score_as_numbers(tmp_path, capsys):
    # a whole file of bare numbers, as other systems and annotation files give them
    result = score("msa", [1.2, -0.8, 0.4], [1.0, -1.0, 0.5])
    # MAE = (0.2 + 0.2 + 0.1) / 3 = 1/6; every sign right; nothing missing
    assert result["mae"] == pytest.approx(1 / 6)
    assert result["has0_acc2"] == 1.0 and result["mllm_accuracy"] == 1.0 and result["n_score_missing"] == 0
    rows = [(1.2, 1.0), ("-0.8", -1.0), ({"score": 0.4}, 0.5)]
    path = tmp_path / "msa.jsonl"
    path.write_text("".join(json.dumps({"prediction": p, "reference": r}) + "\n" for p, r in rows))
    assert main(["--task", "msa", "--predictions", str(path)]) == 0
    out = capsys.readouterr().out
    assert "| mae | 0.1667 |" in out and "| n_score_missing | 0 |" in out


def test_an_unparsable_answer_is_a_miss_not_a_neutral_score():
    # gold 0.0: reading the unparsable answer as 0.0 would make it right (0 >= 0, round(0) == 0)
    result = score("msa", ["positive (score 1.20)", "I am not sure"], [1.0, 0.0])
    assert result["has0_acc2"] == pytest.approx(0.5) and result["acc7"] == pytest.approx(0.5)
    # has-0 F1: class T (support 2): TP 1, FN 1 -> P 1, R 1/2, F 2/3 -> weighted 2/3
    assert result["has0_f1"] == pytest.approx(2 / 3)
    assert result["mae"] == pytest.approx(0.2) and result["corr"] is None  # over the one answered sample
    assert result["n_score_missing"] == 1
    sims = sims_regression_metrics([0.5, None], [0.6, 0.0])
    # acc2 buckets: gold [1 0], pred [1 miss] -> 1/2 (0.0 would have landed in gold's bucket 0)
    assert sims["acc2"] == pytest.approx(0.5) and sims["f1"] == pytest.approx(0.5)
    assert sims["n_score_missing"] == 1
    nothing = mosi_regression_metrics([None, None], [1.0, -1.0])
    assert nothing["has0_acc2"] == 0.0 and nothing["mae"] is None and nothing["n_score_missing"] == 2
