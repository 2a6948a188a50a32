"""OV-MER: set precision / recall / F over wheels at levels 1 and 2, by hand."""

from __future__ import annotations

import pytest

from nanoemox.evaluation.ovmer import exact_set_metrics, ovmer_metrics, set_prf
from nanoemox.evaluation.scoring import score
from nanoemox.evaluation.wheels import EmotionWheels

try:
    from tests.reference_files import reference_dir
except ImportError:  # tests/ is not a package: pytest puts tests/ itself on sys.path
    from reference_files import reference_dir


def tiny_wheels() -> EmotionWheels:
    """Wheel A: happy{joyful[cheerful], content[calm]}, sad{lonely[isolated], hurt[]};
    wheel B: good{happy[cheerful]}, bad{sad[lonely]} ("calm" is not on B)."""
    return EmotionWheels(
        format_map={
            "happy": ["happy"],
            "glad": ["glad"],
            "sad": ["sad"],
            "sadness": ["sad"],
            "lonely": ["lonely"],
            "calm": ["calm"],
        },
        synonym_map={"happy": ["happy"], "glad": ["cheerful"], "sad": ["sad"], "lonely": ["lonely"], "calm": ["calm"]},
        wheels={
            "A": {"happy": {"joyful": ["cheerful"], "content": ["calm"]}, "sad": {"lonely": ["isolated"], "hurt": []}},
            "B": {"good": {"happy": ["cheerful"]}, "bad": {"sad": ["lonely"]}},
        },
    )


def test_set_prf_edge_cases():
    # sample 1: P = 1/2, R = 1; sample 2: empty prediction -> 0, 0; sample 3: empty gold -> skipped
    result = set_prf([{"a", "b"}, set(), {"a"}], [{"a"}, {"c"}, set()])
    assert result["precision"] == pytest.approx(0.25) and result["recall"] == pytest.approx(0.5)
    assert result["fscore"] == pytest.approx(2 * 0.25 * 0.5 / 0.75)  # = 1/3
    assert result["n_scored"] == 2
    assert set_prf([{"a"}], [set()])["fscore"] is None
    assert set_prf([{"b"}], [{"a"}])["fscore"] == 0.0  # P = R = 0 gives F = 0, not NaN


def test_ovmer_by_hand():
    golds = ["happy, lonely", "sad", "neutral", ["calm"]]
    preds = ["glad", "", "happy", "calm, sadness"]
    result = ovmer_metrics(preds, golds, tiny_wheels())
    # level 1, wheel A: s1 Y {happy, sad}, Ŷ {happy}: P 1, R 1/2; s2 Ŷ empty: 0, 0; s3 gold maps to nothing: skipped;
    #   s4 Y {happy}, Ŷ {happy, sad}: P 1/2, R 1.   P = 1.5/3 = 1/2, R = 1.5/3 = 1/2, F = 1/2
    # level 1, wheel B: s1 Y {good, bad}, Ŷ {good}: 1, 1/2; s2: 0, 0; s3, s4 skipped (calm not on B).
    #   P = 1/2, R = 1/4, F = 2 * 1/8 / (3/4) = 1/3
    assert result["per_wheel"]["A"]["level1"]["fscore"] == pytest.approx(0.5)
    assert result["per_wheel"]["B"]["level1"]["fscore"] == pytest.approx(1 / 3)
    assert result["fscore"] == pytest.approx(5 / 12)
    assert result["precision"] == pytest.approx(0.5)
    assert result["recall"] == pytest.approx(0.375)
    # level 2, wheel A: happy->content, lonely->lonely, glad->joyful, sad->hurt, calm->content
    #   s1 Y {content, lonely}, Ŷ {joyful}: 0, 0; s2: 0, 0; s4 Y {content}, Ŷ {content, hurt}: 1/2, 1
    #   P = 1/6, R = 1/3, F = 2/9
    # level 2, wheel B: happy->happy, lonely->sad, glad->happy: s1 1, 1/2; s2 0, 0 -> F = 1/3 (as level 1)
    assert result["per_wheel"]["A"]["level2"]["fscore"] == pytest.approx(2 / 9)
    assert result["level2_fscore"] == pytest.approx((2 / 9 + 1 / 3) / 2)  # 5/18
    assert result["n_gold_empty"] == 0 and result["n_pred_empty"] == 1
    # misses: gold "neutral" is no form (2 wheels x 2 levels); gold "calm" not on wheel B (2 levels)
    assert result["gold_misses"] == {"format": 4, "wheel": 2}


def test_score_ovmer_parses_free_text_and_falls_back_without_wheels():
    result = score("ov-mer", ["Glad; lonely."], [["happy", "sad"]], wheels=tiny_wheels())
    # A: Ŷ {happy, sad} == Y -> F 1; B: {good, bad} == Y -> F 1
    assert result["fscore"] == pytest.approx(1.0)
    assert result["note"].startswith("OV-MER F") and not any(key.startswith("exact_set") for key in result)
    exact = score("ov-mer", ["happy, excited"], ["happy, sad, calm"])
    # raw labels: P = 1/2, R = 1/3, F = 2 * (1/6) / (5/6) = 2/5
    assert exact["exact_set_fscore"] == pytest.approx(0.4)
    assert exact["exact_set_precision"] == pytest.approx(0.5) and exact["exact_set_recall"] == pytest.approx(1 / 3)
    # nothing in the wheel-less result may pass for the OV-MER F
    assert not {"fscore", "precision", "recall", "level2_fscore"} & set(exact)
    assert "not the OV-MER F" in exact["note"]
    # no synonym merging without wheels: "glad" is not "happy" (with the wheels above it is)
    assert exact_set_metrics(["glad"], ["happy"])["exact_set_fscore"] == 0.0


def test_ovmer_on_real_wheels():
    wheels = EmotionWheels.from_dir(reference_dir("emotion_wheel", "wheel1.xlsx"))
    # "happy" and "sad" fall in different level-1 clusters on every wheel, and "happiness" and "joy" land with "happy"
    happy = {"wheel1": "happy", "wheel2": "happy", "wheel3": "joyful", "wheel4": "joy", "wheel5": "powerful"}
    assert wheels.map_label("happy") == wheels.map_label("happiness") == wheels.map_label("joy") == happy
    assert wheels.map_label("sad") == dict.fromkeys(wheels.wheel_names, "sad")
    result = ovmer_metrics(["happiness", "joy"], ["happy, sad", "neutral"], wheels, levels=("level1",))
    # per wheel: s1 Y {c(happy), c(sad)}, Ŷ {c(happy)}: P 1, R 1/2, F 2/3; s2 gold "neutral" maps to nothing: skipped
    assert result["fscore"] == pytest.approx(2 / 3)
    assert all(w["level1"]["n_scored"] == 1 for w in result["per_wheel"].values())
