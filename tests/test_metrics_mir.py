"""MIR: accuracy, macro and weighted F1 / precision / recall, by hand; the intent inventories."""

from __future__ import annotations

import json

import pytest

from nanoemox.evaluation.cli import main
from nanoemox.evaluation.mir import INTENT_INVENTORIES, intent_inventory, intent_metrics
from nanoemox.evaluation.scoring import score

try:
    from tests.reference_files import reference_dir
except ImportError:  # tests/ is not a package: pytest puts tests/ itself on sys.path
    from reference_files import reference_dir


def test_intent_metrics_by_hand_over_gold_and_predicted_intents():
    golds = ["inform", "inform", "greet", "thank"]
    preds = ["Inform", "greet", "greet", "Joke"]  # "joke" is predicted only
    result = intent_metrics(preds, golds)
    # no inventory: the classes are the gold and predicted intents {greet, inform, joke, thank}, sklearn's default.
    # inform: TP 1, FN 1 -> P 1, R 1/2, F 2/3 (support 2); greet: TP 1, FP 1 -> P 1/2, R 1, F 2/3 (support 1);
    # thank: never predicted -> 0 (support 1); joke: predicted only (FP 1) -> P 0, R 0, F 0 (support 0).
    assert result["accuracy"] == pytest.approx(0.5)
    assert result["macro_f1"] == pytest.approx(1 / 3)  # (2/3 + 2/3 + 0 + 0) / 4; over the gold intents only: 4/9
    assert result["macro_precision"] == pytest.approx(3 / 8)  # (1 + 1/2 + 0 + 0) / 4
    assert result["macro_recall"] == pytest.approx(3 / 8)  # (1/2 + 1 + 0 + 0) / 4
    # weighted averages weigh by gold support, so a predicted-only class adds nothing
    assert result["weighted_f1"] == pytest.approx(0.5)  # (2 * 2/3 + 2/3 + 0) / 4
    assert result["weighted_precision"] == pytest.approx(0.625)  # (2 * 1 + 1/2 + 0) / 4
    assert result["weighted_recall"] == pytest.approx(0.5)  # (2 * 1/2 + 1 + 0) / 4
    assert (result["label_set"], result["n_classes"]) == ("gold+predicted", 4)
    assert (result["n_out_of_set"], result["n_unparsed"]) == (1, 0)  # "joke" is no gold intent


def test_intent_inventory_and_unparsed():
    # with a 3-intent inventory, "praise" (never in gold, never predicted) is a zero class of the macro average
    result = intent_metrics(["inform", None], ["inform", "greet"], labels=["inform", "greet", "praise"])
    # inform: P 1, R 1, F 1; greet: 0; praise: 0 -> macro F1 1/3; accuracy 1/2; the unparsed answer is no class
    assert result["macro_f1"] == pytest.approx(1 / 3)
    assert result["accuracy"] == pytest.approx(0.5)
    assert (result["label_set"], result["n_classes"], result["n_unparsed"]) == ("inventory", 3, 1)
    with pytest.raises(ValueError, match=r"\['thank'\] are not in the intent inventory"):
        intent_metrics(["inform"], ["thank"], labels=["inform", "greet"])
    with pytest.raises(ValueError, match="gold intent of sample 0 is empty"):
        intent_metrics(["inform"], [""])


def test_benchmark_inventories():
    assert len(INTENT_INVENTORIES["mintrec"]) == 20 and len(INTENT_INVENTORIES["mintrec2"]) == 30
    assert intent_inventory("MIntRec2.0") == intent_inventory("mintrec2") == INTENT_INVENTORIES["mintrec2"]
    assert "Ask for help" in intent_inventory("mintrec") and "Asking for opinions" in intent_inventory("mintrec2")
    with pytest.raises(ValueError, match="unknown intent inventory 'snips'"):
        intent_inventory("snips")


@pytest.mark.parametrize(
    ("name", "filename"),
    [("mintrec", "MIntRec_test_MIntRec_ann.json"), ("mintrec2", "MIntRec2_test_MIntRec2_ann.json")],
)
def test_inventories_are_the_intents_of_the_real_test_sets(name, filename):
    # the authors' test files (messages form): every one of the 20 / 30 intents occurs, and nothing else
    rows = json.loads((reference_dir("annotations", filename) / filename).read_text(encoding="utf-8"))
    assert {row["messages"][-1]["content"] for row in rows} == set(intent_inventory(name))


def test_score_mir_over_the_whole_mintrec_inventory():
    # "Banter" is no MIntRec intent: an error, not a class
    preds, golds = ["Inform", "Banter", "Thank"], ["inform", "thank", "thank"]
    whole = score("mir", preds, golds, intent_labels="mintrec")
    # 20 classes: inform F1 1; thank TP 1, FN 1 -> P 1, R 1/2, F 2/3; the 18 others 0 -> (1 + 2/3) / 20 = 1/12
    assert whole["macro_f1"] == pytest.approx(1 / 12)
    assert (whole["label_set"], whole["n_classes"], whole["n_out_of_set"]) == ("inventory", 20, 1)
    # without the inventory: classes {banter, inform, thank} -> (0 + 1 + 2/3) / 3 = 5/9
    assert score("mir", preds, golds)["macro_f1"] == pytest.approx(5 / 9)


def test_score_mir_matches_multi_word_intents():
    result = score("mir", ["Ask for help.", "Inform: he tells us", "greet"], ["ask for help", "inform", "thank"])
    # "Ask for help." matched whole, "Inform: ..." by the intent it names, "greet" is wrong -> 2/3
    assert result["accuracy"] == pytest.approx(2 / 3)
    # free text: the intent it names is read; one naming none is unparsed, not a class "i" of the macro average
    free = score("mir", ["I think the speaker wants to thank her.", "I cannot tell."], ["thank", "inform"])
    assert (free["accuracy"], free["n_unparsed"], free["n_classes"]) == (0.5, 1, 2)


def test_cli_takes_an_intent_inventory(tmp_path, capsys):
    predictions = tmp_path / "mir.jsonl"
    predictions.write_text('{"prediction": "Inform", "reference": "inform"}\n')
    assert main(["--task", "mir", "--predictions", str(predictions), "--intent-labels", "mintrec"]) == 0
    assert "| macro_f1 | 0.0500 |" in capsys.readouterr().out  # inform 1, the 19 other intents 0
    assert main(["--task", "mir", "--predictions", str(predictions), "--intent-labels", "inform, thank"]) == 0
    assert "| macro_f1 | 0.5000 |" in capsys.readouterr().out
