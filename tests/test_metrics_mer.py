"""MER: wheel hit rate and WAF/WAR/UAR against hand-computed values."""

from __future__ import annotations

import pytest

from nanoemox.evaluation.mer import classification_metrics, hit_rate
from nanoemox.evaluation.scoring import score
from nanoemox.evaluation.wheels import EmotionWheels

try:
    from tests.reference_files import reference_dir
except ImportError:  # tests/ is not a package: pytest puts tests/ itself on sys.path
    from reference_files import reference_dir


def tiny_wheels() -> EmotionWheels:
    """Two wheels. Level 1 on wheel A: happy <- {happy, cheerful, calm}, sad <- {sad, lonely};
    on wheel B: good <- {happy, cheerful}, bad <- {sad, lonely}; "calm" is not on B."""
    return EmotionWheels(
        format_map={
            "happiness": ["happy"],
            "happy": ["happy"],
            "glad": ["glad"],
            "sad": ["sad"],
            "sadness": ["sad"],
            "lonely": ["lonely"],
            "calm": ["calm"],
            "orphan": ["orphan"],  # head word absent from the synonym map
        },
        synonym_map={
            "happy": ["happy"],
            "glad": ["cheerful"],
            "sad": ["sad"],
            "lonely": ["lonely"],
            "calm": ["calm"],
        },
        wheels={
            "A": {"happy": {"joyful": ["cheerful"], "content": ["calm"]}, "sad": {"lonely": ["isolated"], "hurt": []}},
            "B": {"good": {"happy": ["cheerful"]}, "bad": {"sad": ["lonely"]}},
        },
    )


def test_hit_rate_by_hand():
    golds = ["happy", "sad", "neutral", "calm"]
    preds = ["glad", "happy", "sad", "orphan"]
    result = hit_rate(preds, golds, tiny_wheels())
    # wheel A: s1 glad->happy == happy: 1; s2 happy vs sad: 0; s3 gold "neutral" misses the format map: skipped;
    #          s4 gold calm->happy, pred "orphan" misses the synonym map -> {}: 0.   hit rate A = 1/3
    # wheel B: s1 good == good: 1; s2 good vs bad: 0; s3 skipped; s4 gold "calm" is not on B: skipped. B = 1/2
    # mean over wheels = (1/3 + 1/2) / 2 = 5/12
    assert result["per_wheel"]["A"]["hit_rate"] == pytest.approx(1 / 3)
    assert result["per_wheel"]["B"]["hit_rate"] == pytest.approx(1 / 2)
    assert result["hit_rate"] == pytest.approx(5 / 12)
    assert result["n_gold_skipped"] == {"A": 1, "B": 2}
    # misses counted, not raised: gold "neutral" (format) on A and B, gold "calm" (wheel) on B;
    # pred "orphan" (synonym) on A and B
    assert result["gold_misses"] == {"format": 2, "wheel": 1}
    assert result["pred_misses"] == {"synonym": 2}
    # mscore: candidates = clusters of all gold labels (A {happy, sad}, B {good, bad}); per sample
    # |pred & gold| / |pred & candidates| -> A: 1, 0, 0 (empty pred) = 1/3; B: 1, 0 = 1/2; mean 5/12
    assert result["mscore"] == pytest.approx(5 / 12)


def test_hit_rate_reads_every_predicted_label():
    # one of several predicted labels meeting the gold cluster is a hit (A: {sad, happy} & {happy})
    result = hit_rate([["sadness", "glad"]], ["happy"], tiny_wheels())
    assert result["per_wheel"]["A"]["hit_rate"] == 1.0 and result["per_wheel"]["B"]["hit_rate"] == 1.0


def test_hit_rate_adds_the_overlap_size_with_a_multi_label_gold():
    # as the reference's calculate_openset_onehot_hitrate: a sample scores |Y & Ŷ|, not 1/0
    preds = [["glad", "lonely"], ["sadness"], "sad"]
    golds = [["happy", "lonely"], "happy, lonely", "happy"]
    result = hit_rate(preds, golds, tiny_wheels())
    # wheel A: s1 Y {happy, sad}, Ŷ {happy, sad}: 2; s2 Y {happy, sad}, Ŷ {sad}: 1; s3 Y {happy}, Ŷ {sad}: 0 -> 3/3
    # wheel B: s1 {good, bad} & {good, bad}: 2; s2 {good, bad} & {bad}: 1; s3 {good} & {bad}: 0 -> 3/3
    assert result["per_wheel"]["A"]["hit_rate"] == pytest.approx(1.0)
    assert result["per_wheel"]["B"]["hit_rate"] == pytest.approx(1.0)
    assert result["hit_rate"] == pytest.approx(1.0)  # a 1/0 hit per sample would give 2/3
    # a hit rate above 1 is possible, as in the reference: one sample meeting both of its gold clusters
    assert hit_rate([["glad", "lonely"]], [["happy", "lonely"]], tiny_wheels())["hit_rate"] == pytest.approx(2.0)
    # mscore: candidates A {happy, sad}, B {good, bad}; per sample 2/2, 1/1, 0/1 -> 2/3 on both wheels
    assert result["mscore"] == pytest.approx(2 / 3)


def test_hit_rate_with_no_mappable_gold_is_none():
    result = hit_rate(["happy"], ["neutral"], tiny_wheels())
    assert result["hit_rate"] is None and result["n_gold_skipped"] == {"A": 1, "B": 1}


def test_classification_metrics_by_hand():
    golds = ["happy", "happy", "happy", "sad", "angry"]
    preds = ["Happy", "happy", "sad", "sad", None]
    result = classification_metrics(preds, golds)
    # happy: TP 2, FN 1, FP 0 -> P 1, R 2/3, F 0.8 (support 3); sad: TP 1, FP 1 -> P 1/2, R 1, F 2/3 (support 1);
    # angry: F 0 (support 1).  WAF = (3 * 0.8 + 2/3) / 5 = 46/75;  WAR = 3/5;  UAR = (2/3 + 1 + 0) / 3 = 5/9
    assert result["waf"] == pytest.approx(46 / 75)
    assert result["war"] == pytest.approx(0.6)
    assert result["uar"] == pytest.approx(5 / 9)
    assert result["n_unparsed"] == 1


def test_score_mer_dispatch():
    # free-text answers: "Happy." -> first word "Happy" (WAF) and label set ["happy"] (hit rate)
    result = score("mer", ["Happy.", "lonely"], ["happiness", "sad"], wheels=tiny_wheels())
    # hit rate: both samples hit on both wheels (happy->happy/good, lonely->sad/bad) = 1
    assert result["hit_rate"] == 1.0
    # exact labels: "happy" vs "happiness", "lonely" vs "sad": WAR 0
    assert result["war"] == 0.0
    assert "hit_rate" not in score("mer", ["happy"], ["happy"])  # no wheels: classic metrics only


def test_free_text_answers_without_wheels_are_matched_to_the_label_set():
    answers = ["The speaker seems angry.", "Happy.", "I cannot tell.", "sad, maybe worried", "lonely"]
    golds = ["angry", "happy", "sad", "sad", "sad"]
    result = score("mer", answers, golds)
    # read against the gold labels {angry, happy, sad}: "angry" (named in the text), "happy" (the whole answer),
    # nothing (no label named: unparsed), "sad" (the first label named), "lonely" (a one-word answer outside the
    # set: read, and wrong).  WAR 3/5 (reading first words, "the" and "i", gave 2/5 and no unparsed answer)
    assert result["war"] == pytest.approx(0.6)
    assert result["n_unparsed"] == 1
    # angry F1 1 (support 1), happy 1 (1), sad TP 1 FN 2 -> P 1, R 1/3, F 1/2 (3): WAF (1 + 1 + 1.5) / 5 = 0.7
    assert result["waf"] == pytest.approx(0.7)
    assert result["uar"] == pytest.approx(7 / 9)  # (1 + 1 + 1/3) / 3
    # the dataset's label set, when given, is what answers are matched against
    worried = score("mer", ["She is clearly worried."], ["sad"], emotion_labels=["Sad", "Worried"])
    assert (worried["war"], worried["n_unparsed"]) == (0.0, 0)  # read "worried": a wrong label, not unparsed


def test_multi_label_gold_and_free_text_with_wheels():
    result = score("mer", ["glad, lonely", "happy"], [["happy", "lonely"], "sad"], wheels=tiny_wheels())
    # hit rate: s1 meets both gold clusters on A ({happy, sad}) and B ({good, bad}): 2; s2 misses: 0 -> 1 per wheel
    assert result["hit_rate"] == pytest.approx(1.0)
    # the classic metrics are single-label: only s2 ("happy" vs "sad") counts
    assert (result["war"], result["n_gold_multi_label"]) == (0.0, 1)
    # a free-text answer gives the emotion words it names ("lonely" -> sad / bad): a hit on both wheels
    assert score("mer", ["The speaker seems lonely."], ["sad"], wheels=tiny_wheels())["hit_rate"] == 1.0
    with pytest.raises(ValueError, match="mer reference 1 has no label: ''"):
        score("mer", ["happy", "sad"], ["happy", ""])


def test_hit_rate_on_real_wheels():
    wheels = EmotionWheels.from_dir(reference_dir("emotion_wheel", "wheel1.xlsx"))
    # "happiness"/"happy" and "furious"/"angry" land on the same cluster on every wheel; "xyz" is no form
    happy = {"wheel1": "happy", "wheel2": "happy", "wheel3": "joyful", "wheel4": "joy", "wheel5": "powerful"}
    angry = {"wheel1": "mad", "wheel2": "angry", "wheel3": "mad", "wheel4": "anger", "wheel5": "mad"}
    assert wheels.map_label("happiness") == wheels.map_label("happy") == happy
    assert wheels.map_label("furious") == wheels.map_label("angry") == angry
    result = hit_rate(["happiness", "furious", "xyz", "happy"], ["happy", "angry", "sad", "neutral"], wheels)
    # per wheel: hits 1, 1, 0 and "neutral" skipped -> 2/3 on each wheel, 2/3 overall
    assert result["hit_rate"] == pytest.approx(2 / 3)
    assert result["n_gold_skipped"] == dict.fromkeys(wheels.wheel_names, 1)
    assert result["pred_misses"] == {"format": 5}
