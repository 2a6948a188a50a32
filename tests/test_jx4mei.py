"""The JX4MEI joint task: prompts, the XMEI-dataset converter, the metrics, `score` dispatch and the CLI.

pytest tests/test_jx4mei.py -q
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from datasets import load_from_disk

from nanoemox.evaluation.cli import main as evaluate_main
from nanoemox.evaluation.jx4mei import jx4mei_metrics, normalize_emotion, normalize_intent
from nanoemox.evaluation.runner import reference_for
from nanoemox.evaluation.scoring import score
from nanoemox.modeling.prompts_nanoemox import (
    DEFAULT_TASK_PROMPTS,
    JX4MEI_EMOTIONS,
    JX4MEI_INTENTS,
    TASK_TAGS,
    TASKS,
    build_prompt,
    format_answer,
    parse_answer,
)
from nanoemox.processing.convert import main as convert_main
from nanoemox.processing.convert import run_conversion
from nanoemox.processing.converters import get_converter
from nanoemox.processing.schema import FEATURES, make_example

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "converters" / "jx4mei"


# --------------------------------------------------------------------------------------------------
# prompts


def test_task_is_appended_so_old_task_ids_are_stable():
    assert TASKS[:6] == ("msa", "mer", "ov-mer", "eri", "mir", "erg") and TASKS[-1] == "jx4mei"
    assert TASK_TAGS["jx4mei"] == "[Joint]" and set(DEFAULT_TASK_PROMPTS) == set(TASKS) == set(TASK_TAGS)
    prompt = build_prompt("jx4mei", " Why would you do that? ")
    assert prompt.startswith('[Joint] Subtitle: "Why would you do that?".') and "emotion: <word>" in prompt
    assert len(JX4MEI_EMOTIONS) == 7 and len(JX4MEI_INTENTS) == 9


def test_format_then_parse_round_trip():
    labels = {"emotion": "happy", "intent": "Consoling", "reason": "The joke softens the blow; he feels better."}
    answer = format_answer("jx4mei", labels)
    assert answer == "emotion: happy; intent: Consoling; because: The joke softens the blow; he feels better."
    # labels come back lower-cased; the explanation whole, semicolons included
    assert parse_answer("jx4mei", answer) == {
        "emotion": "happy",
        "intent": "consoling",
        "explanation": "The joke softens the blow; he feels better.",
    }
    with pytest.raises(ValueError, match=r"jx4mei answer needs labels \['reason'\]"):
        format_answer("jx4mei", {"emotion": "happy", "intent": "consoling"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # XMEI-Qwen's own target wording
        (
            "The user's emotion is Happy, intent is consoling. The underlying reason is: humour eases the blow.",
            ("happy", "consoling", "humour eases the blow."),
        ),
        (
            "**Emotion**: sad\n**Intent**: questioning (asking why)\nExplanation: she asks.",
            ("sad", "questioning", "she asks."),
        ),
        ("emotion: anger; intent: neutral", ("anger", "neutral", None)),
        ("emotion: ; intent: ; because:", (None, None, None)),
        ("<think>hmm</think>emotion: fear; intent: wishing; because: x", ("fear", "wishing", "x")),
        ("I think they are glad.", (None, None, None)),
        ("", (None, None, None)),
        (None, (None, None, None)),
    ],
)
def test_parse_is_robust(text, expected):
    parsed = parse_answer("jx4mei", text)
    assert (parsed["emotion"], parsed["intent"], parsed["explanation"]) == expected


# --------------------------------------------------------------------------------------------------
# converter


def _rows(result) -> dict[str, dict]:
    return {row["id"]: row for rows in result.splits.values() for row in rows}


def test_converter_fixture_keeps_good_rows_and_reports_bad_ones():
    result = run_conversion("jx4mei", FIXTURES, progress=False)
    rows = _rows(result)
    assert set(rows) == {
        "jx4mei-dia0001_utt03",
        "jx4mei-dia0002_utt01",
        "jx4mei-dia0100_utt01",
        "jx4mei-dia0101_utt00",
    }
    rejects = sorted((Path(r.file).name, r.line, r.unit, r.reason) for r in result.rejects)
    assert rejects == [
        ("test.jsonl", 2, "line", "invalid JSON"),
        ("test.jsonl", 3, "line", "missing video_id"),
        ("val.json", 3, "item", "unknown emotion"),
        ("val.json", 4, "item", "missing explanation"),
        ("val.json", 5, "item", "sample is not an object"),
        ("val.json", 6, "item", "duplicate id"),
        ("val.json", 7, "item", "unknown intent"),
    ]
    assert {r.reason: r.detail for r in result.rejects}["unknown intent"] == "Complain"
    # 7 JSON items + 4 non-blank JSONL lines: nothing vanishes
    assert result.summary.source_rows == 11 == result.summary.kept + result.summary.rejected
    assert {split: len(r) for split, r in result.splits.items()} == {"validation": 2, "test": 2}


def test_converter_fixture_fields():
    rows = _rows(run_conversion("jx4mei", FIXTURES, progress=False))
    row = rows["jx4mei-dia0001_utt03"]
    assert (row["task"], row["source"], row["subtitle"]) == (
        "jx4mei",
        "jx4mei",
        "Well, it's not an edible arrangement.",
    )
    explanation = "His playful mood is a tool for comfort: the joke turns the criticism into reassurance."
    assert row["labels"]["emotion"] == "happy" and row["labels"]["intent"] == "consoling"
    assert row["labels"]["reason"] == explanation
    assert row["messages"][-1]["content"][0]["text"] == f"emotion: happy; intent: consoling; because: {explanation}"
    assert row["messages"][0]["content"][-1]["text"].startswith("[Joint]")
    assert (row["video"], row["audio"]) == ("videos/dia0001_utt03.mp4", "audios/dia0001_utt03.wav")
    meta = json.loads(row["meta"])
    assert meta["intent_reason"] == "He softens a critique so that his friend feels better."
    assert (meta["source_emotion"], meta["source_intent"]) == ("Happy", "Consoling")
    # aliases and abbreviations map onto the JX4MEI spellings; no video_path: the authors' <video_id>.mp4
    second = rows["jx4mei-dia0002_utt01"]
    assert (second["labels"]["emotion"], second["labels"]["intent"]) == ("anger", "questioning")
    assert (second["video"], second["audio"]) == ("dia0002_utt01.mp4", None)
    last = rows["jx4mei-dia0101_utt00"]  # id from the video_path stem
    assert (last["labels"]["emotion"], last["labels"]["intent"], last["video"]) == (
        "surprise",
        "acknowledging",
        "clips/dia0101_utt00.mp4",
    )
    assert reference_for("jx4mei", row["labels"]) == {
        "emotion": "happy",
        "intent": "consoling",
        "explanation": explanation,
    }


def test_converter_registry_cli_and_features(tmp_path: Path):
    assert get_converter("JX4MEI") is get_converter("jx4mei")
    out = tmp_path / "xmei"
    assert convert_main(["--format", "jx4mei", "--input", str(FIXTURES), "--output", str(out), "--no-progress"]) == 0
    dataset = load_from_disk(str(out))
    assert sorted(dataset) == ["test", "validation"] and dataset["validation"].features == FEATURES
    assert len((out / "rejects.jsonl").read_text().splitlines()) == 7


def test_label_normalisation_and_schema():
    assert [normalize_emotion(w) for w in ("Happiness", "Hap", "ANGRY", " fear. ", "", None)] == [
        "happy",
        "happy",
        "anger",
        "fear",
        None,
        None,
    ]
    assert [normalize_intent(w) for w in ("Sym", "sympathise", "Wishing", "Complain")] == [
        "sympathizing",
        "sympathizing",
        "wishing",
        "complain",  # outside the set: returned as is (lower-cased), the converter rejects it
    ]
    with pytest.raises(ValueError, match="jx4mei answer needs labels"):
        make_example(id="x", task="jx4mei", source="t", labels={"emotion": "happy"})


def test_converter_and_metrics_share_one_label_normalisation():
    # the converter maps gold labels with the very functions the metrics use: one definition, in evaluation/
    from nanoemox.processing.converters import jx4mei as converter

    assert converter.normalize_emotion is normalize_emotion and converter.normalize_intent is normalize_intent
    assert not hasattr(converter, "EMOTION_ALIASES") and not hasattr(converter, "INTENT_ALIASES")


# --------------------------------------------------------------------------------------------------
# metrics

GOLDS = [
    {"emotion": "happy", "intent": "consoling", "explanation": "she jokes to comfort him"},
    {"emotion": "sad", "intent": "questioning", "explanation": "he asks because he is worried"},
    {"emotion": "anger", "intent": "questioning", "explanation": "x y"},
    {"emotion": "happy", "intent": "agreeing", "explanation": "they agree happily"},
]
ANSWERS = [
    "emotion: Happy; intent: consoling; because: she jokes to comfort him",  # all right
    "emotion: sad; intent: agreeing; because: he is worried",  # intent wrong, explanation partial
    "emotion: angry; intent: questioning",  # "angry" -> anger: both right, no explanation
    "I think they are glad.",  # nothing parsable
]


def test_metrics_by_hand():
    result = jx4mei_metrics([parse_answer("jx4mei", a) for a in ANSWERS], GOLDS)
    # emotion: gold happy, sad, anger, happy; pred happy, sad, anger, <none> -> accuracy 3/4.
    # happy: TP 1, FN 1 -> P 1, R 1/2, F 2/3 (support 2); sad and anger: F 1 (support 1 each).
    assert result["emotion_accuracy"] == pytest.approx(3 / 4)
    assert result["emotion_macro_f1"] == pytest.approx(8 / 9)  # (2/3 + 1 + 1) / 3
    assert result["emotion_weighted_f1"] == pytest.approx(5 / 6)  # (2 * 2/3 + 1 + 1) / 4
    # intent: gold consoling, questioning, questioning, agreeing; pred consoling, agreeing, questioning, <none>
    # -> accuracy 2/4. consoling: F 1 (support 1); questioning: TP 1, FN 1 -> P 1, R 1/2, F 2/3 (support 2);
    # agreeing: TP 0 (one FP, one FN) -> F 0 (support 1).
    assert result["intent_accuracy"] == pytest.approx(1 / 2)
    assert result["intent_macro_f1"] == pytest.approx(5 / 9)  # (1 + 2/3 + 0) / 3
    assert result["intent_weighted_f1"] == pytest.approx(7 / 12)  # (1 + 2 * 2/3 + 0) / 4
    assert result["intent_n_unparsed"] == result["emotion_n_unparsed"] == 1  # the 4th answer names neither
    assert result["intent_n_out_of_set"] == result["emotion_n_out_of_set"] == 0
    # both right: samples 1 and 3 -> 2/4
    assert result["joint_accuracy"] == pytest.approx(1 / 2)
    # explanation, sample 2: pred [he is worried] vs gold [he asks because he is worried]: overlap 3 tokens,
    # P 3/3, R 3/6 -> F 2/3; the LCS is also 3 -> ROUGE-L 2/3. Sample 1 exact: 1; samples 3 and 4 missing: 0.
    assert result["explanation_proxy_token_f1"] == pytest.approx(5 / 12)  # (1 + 2/3 + 0 + 0) / 4
    assert result["explanation_proxy_rouge_l"] == pytest.approx(5 / 12)
    assert (result["n_missing_emotion"], result["n_missing_intent"], result["n_missing_explanation"]) == (1, 1, 2)
    assert result["n_unparsable"] == 2 and result["n_samples"] == 4  # samples 3 and 4 miss a field


def test_metrics_label_inventory_and_errors():
    # over the 7 JX4MEI emotions the 4 emotions never in gold add zero F1 classes: (2/3 + 1 + 1 + 0 * 4) / 7
    result = jx4mei_metrics([parse_answer("jx4mei", a) for a in ANSWERS], GOLDS, emotion_labels=JX4MEI_EMOTIONS)
    assert result["emotion_macro_f1"] == pytest.approx(8 / 21)
    with pytest.raises(ValueError, match="differ in length"):
        jx4mei_metrics([None], GOLDS)
    with pytest.raises(ValueError, match="needs an emotion and an intent"):
        jx4mei_metrics([None], [{"emotion": "happy", "explanation": "x"}])


def test_score_dispatch_dicts_and_gold_answer_strings():
    by_dict = score("jx4mei", ANSWERS, GOLDS)
    # the free-text answers are parsed, then scored as in test_metrics_by_hand
    assert (by_dict["joint_accuracy"], by_dict["emotion_accuracy"], by_dict["intent_accuracy"]) == (0.5, 0.75, 0.5)
    assert by_dict["intent_macro_f1"] == pytest.approx(5 / 9) and by_dict["n_unparsable"] == 2
    gold_answers = [format_answer("jx4mei", {**g, "reason": g["explanation"]}) for g in GOLDS]
    by_string = score("JX4MEI", ANSWERS, gold_answers)  # task name normalised; gold answers parsed
    assert by_string["joint_accuracy"] == pytest.approx(1 / 2)
    assert by_string["explanation_proxy_token_f1"] == pytest.approx(5 / 12)
    assert score("jx4mei", [None], [GOLDS[0]])["n_unparsable"] == 1  # a missing answer is counted, not raised


def test_cli_scoring_mode(tmp_path: Path, capsys):
    predictions = tmp_path / "jx4mei.jsonl"
    predictions.write_text(
        "".join(
            json.dumps({"id": i, "prediction": p, "reference": r}) + "\n"
            for i, (p, r) in enumerate(zip(ANSWERS, GOLDS))
        )
    )
    output = tmp_path / "out" / "jx4mei.json"
    assert evaluate_main(["--task", "jx4mei", "--predictions", str(predictions), "--output", str(output)]) == 0
    result = json.loads(output.read_text())["results"]["jx4mei"]
    assert result["joint_accuracy"] == pytest.approx(0.5) and result["emotion_accuracy"] == pytest.approx(0.75)
    markdown = output.with_suffix(".md").read_text()
    assert "## jx4mei" in markdown and "| joint_accuracy | 0.5000 |" in markdown
    assert "| n_unparsable | 2 |" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------------
# the tiny tokenizer corpus and the curriculum know the task


def test_tiny_conversations_and_curriculum_accept_the_task():
    from nanoemox.tiny.tokenizer import tiny_conversations
    from nanoemox.train.curriculum import StageConfig

    joint = [c for c in tiny_conversations(300) if c[0]["content"][-1]["text"].startswith("[Joint]")]
    assert joint
    for conversation in joint:
        parsed = parse_answer("jx4mei", conversation[-1]["content"][0]["text"])
        assert parsed["emotion"] in JX4MEI_EMOTIONS and parsed["intent"] in JX4MEI_INTENTS and parsed["explanation"]
    stage = StageConfig(name="joint", data=["xmei"], mixture={"jx4mei": 1.0, "mir": 1.0}, trainable=["lora"])
    stage.validate({"xmei": {}})
