"""Emotion wheels: table readers, the format -> synonym -> wheel chain, misses by step, the real tables."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from nanoemox.evaluation.wheels import EmotionWheels, LabelLookup, read_wheel, split_labels, wheel_clusters

try:
    from tests.reference_files import reference_dir
except ImportError:  # tests/ is not a package: pytest puts tests/ itself on sys.path
    from reference_files import reference_dir


@pytest.fixture(scope="module")
def real_wheels() -> EmotionWheels:
    return EmotionWheels.from_dir(reference_dir("emotion_wheel", "wheel1.xlsx"))


def write_tiny_tables(directory: Path) -> None:
    """Five one-branch wheels plus format/synonym tables small enough to follow by hand."""
    # wheel1: blank cells continue the cell above (level1 "Happy" covers both level2 rows)
    wheel = pd.DataFrame(
        {
            "level1": ["Happy", None, "Sad"],
            "level2": ["Joyful", "Content", "Lonely"],
            "level3": ["Cheerful ", "Calm", "Isolated"],
        }
    )
    for k in range(1, 6):
        wheel.to_excel(directory / f"wheel{k}.xlsx", index=False)
    pd.DataFrame({"name": ["happy", "glad", "orphan"], "format": ["happiness,happily", "gladly", None]}).to_csv(
        directory / "format.csv", index=False
    )
    runs = {}
    for k in range(1, 9):
        runs[f"word_run{k}"] = ["Cheerful", "Sad"]
        runs[f"synonym_run{k}"] = ["glad, happy" if k == 1 else "merry", "down"]
    pd.DataFrame(runs).to_excel(directory / "synonym.xlsx", index=False)


def test_split_labels_mirrors_string_to_list():
    assert split_labels("['Happy', 'sad']") == ["happy", "sad"]
    assert split_labels(" happy ,, Sad ") == ["happy", "sad"]
    assert split_labels(["Happy ", ""]) == ["happy"]
    assert split_labels(None) == [] and split_labels("") == []


def test_wheel_tree_and_clusters(tmp_path):
    write_tiny_tables(tmp_path)
    tree = read_wheel(tmp_path / "wheel1.xlsx")
    assert tree == {"happy": {"joyful": ["cheerful"], "content": ["calm"]}, "sad": {"lonely": ["isolated"]}}
    # level 1: every word of a branch -> its level-1 word
    assert wheel_clusters(tree, "level1")["calm"] == "happy"
    assert wheel_clusters(tree, "level1")["isolated"] == "sad"
    # level 2: level-3 words -> their level-2 word; a level-1 word -> its alphabetically first level-2 child
    level2 = wheel_clusters(tree, "level2")
    assert level2["cheerful"] == "joyful" and level2["happy"] == "content" and level2["sad"] == "lonely"
    with pytest.raises(ValueError, match="level"):
        wheel_clusters(tree, "level3")


def test_chain_from_files_and_misses(tmp_path):
    write_tiny_tables(tmp_path)
    wheels = EmotionWheels.from_dir(tmp_path)
    assert wheels.wheel_names == ("wheel1", "wheel2", "wheel3", "wheel4", "wheel5")
    # "gladly" -format-> "glad" -synonym (run 1)-> "cheerful" -wheel-> "happy" (level 1) / "joyful" (level 2)
    assert wheels.lookup("Gladly", "wheel1") == LabelLookup("happy", None)
    assert wheels.cluster("gladly", "wheel3", "level2") == "joyful"
    # "happiness" -> "happy" -> {"cheerful"} (synonym of run 1) -> "happy"
    assert wheels.map_label("happiness") == dict.fromkeys(wheels.wheel_names, "happy")
    # misses are reported by step, never raised
    assert wheels.lookup("neutral", "wheel1") == LabelLookup(None, "format")
    assert wheels.lookup("orphan", "wheel1") == LabelLookup(None, "synonym")  # head word absent from synonym.xlsx
    misses = Counter()
    assert wheels.map_labels(["glad", "neutral", "orphan", "happy"], "wheel1", misses=misses) == {"happy"}
    assert misses == {"format": 1, "synonym": 1}


def test_wheel_miss_and_alphabetical_first_candidate():
    wheels = EmotionWheels(
        format_map={"bittersweet": ["bittersweet"], "calm": ["calm"]},
        synonym_map={"bittersweet": ["sad", "happy"], "calm": ["calm"]},
        wheels={"a": {"happy": {"joyful": []}, "sad": {"lonely": []}}, "b": {"bad": {"sad": []}}},
    )
    # candidates sorted: ["happy", "sad"]; on wheel a "happy" comes first, on wheel b only "sad" is present
    assert wheels.cluster("bittersweet", "a") == "happy"
    assert wheels.cluster("bittersweet", "b") == "bad"
    assert wheels.lookup("calm", "a") == LabelLookup(None, "wheel")
    with pytest.raises(ValueError, match="unknown wheel"):
        wheels.lookup("calm", "c")


def test_missing_directory_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        EmotionWheels.from_dir(tmp_path / "nope")
    with pytest.raises(ValueError, match="lacks"):
        EmotionWheels.from_dir(tmp_path)


def test_real_tables(real_wheels):
    assert real_wheels.wheel_names == ("wheel1", "wheel2", "wheel3", "wheel4", "wheel5")
    # the sizes the reference states for the same tables (AffectGPT `wheel.py`): the synonym runs widen the wheel
    # words to 1255 words, the format table to 7386 forms
    assert len(real_wheels.format_map) == 7386 and len(real_wheels.synonym_map) == 1255
    assert real_wheels.cluster("happiness", "wheel1") == "happy"
    assert real_wheels.cluster("furious", "wheel2") == "angry"
    assert real_wheels.map_label("worried") == {
        "wheel1": "scared",
        "wheel2": "fearful",
        "wheel3": "scared",
        "wheel4": "fear",
        "wheel5": "scared",
    }
    # "neutral" is on no wheel: a format miss on every wheel, not a KeyError
    assert {real_wheels.lookup("neutral", w).missing for w in real_wheels.wheel_names} == {"format"}
