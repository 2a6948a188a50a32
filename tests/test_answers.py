"""`nanoemox answers`: a run's held-out answers beside their gold labels, the tasks taken in turn."""

from __future__ import annotations

import json

import pytest

from nanoemox.answers import answers_table, pick, predictions_file, show
from nanoemox.cli import main as nanoemox_main
from nanoemox.cli_inputs import CLIError

ROWS = [
    {"id": "demo-0001-mer", "task": "mer", "prediction": "happy", "reference": "happy"},
    {"id": "demo-0002-mer", "task": "mer", "prediction": "sad", "reference": "angry"},
    {"id": "demo-0003-mer", "task": "mer", "prediction": "neutral", "reference": "neutral"},
    {"id": "demo-0001-mir", "task": "mir", "prediction": " ", "reference": "Praise"},
    {"id": "demo-0001-msa", "task": "msa", "prediction": "1.5", "reference": 2.0},
    {"id": "demo-0001-ov-mer", "task": "ov-mer", "prediction": "happy, glad", "reference": ["happy", "pleased"]},
    {"id": "demo-0001-erg", "task": "erg", "prediction": None, "reference": {"emotion": "happy", "response": "x"}},
]


@pytest.fixture
def run(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "predictions-demo.jsonl").write_text("\n".join(json.dumps(r) for r in ROWS) + "\n")
    (folder / "predictions-demo-without_face.jsonl").write_text(json.dumps(ROWS[0]) + "\n")  # an ablation: ignored
    return folder


def test_the_table_shows_held_out_rows_of_each_task_in_turn(run, capsys):
    assert nanoemox_main(["answers", "--run", str(run)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == f"5 held-out answers from {run / 'predictions-demo.jsonl'}:"
    header, rule, *rows = lines[2:]
    assert header.split() == ["id", "task", "gold", "answer"] and set(rule) == {"-", " "}
    assert [r.split()[:2] for r in rows] == [
        ["demo-0001-mer", "mer"],
        ["demo-0001-mir", "mir"],
        ["demo-0001-msa", "msa"],
        ["demo-0001-ov-mer", "ov-mer"],
        ["demo-0001-erg", "erg"],
    ]
    assert rows[2].split()[2:] == ["+2.00", "1.5"]  # gold beside the answer
    assert rows[1].split()[2:] == ["Praise", "(empty)"]
    assert "happy, pleased" in rows[3] and "emotion: happy; response: x" in rows[4] and "(no answer)" in rows[4]


def test_pick_takes_tasks_in_turn_and_keeps_file_order():
    assert [r["id"] for r in pick(ROWS, 9, ["mer", "mir"])] == [
        "demo-0001-mer",
        "demo-0001-mir",
        "demo-0002-mer",
        "demo-0003-mer",
    ]
    assert len(pick(ROWS, 100)) == len(ROWS)


def test_long_cells_are_cut_to_one_line():
    assert show("a very long\nreason " * 20, 20) == "a very long reason …"
    table = answers_table([{"id": "x", "task": "eri", "prediction": "p " * 100, "reference": "r " * 100}], width=30)
    assert max(len(line) for line in table.splitlines()) == len("id") + len("task") + 2 * 30 + 3 * 2
    assert table.count("…") == 2


def test_which_predictions(run, tmp_path):
    assert predictions_file(run) == run / "predictions-demo.jsonl"
    (run / "predictions-other.jsonl").write_text(json.dumps(ROWS[0]) + "\n")
    with pytest.raises(CLIError, match="several datasets"):
        predictions_file(run)
    assert predictions_file(run, "other") == run / "predictions-other.jsonl"
    with pytest.raises(CLIError, match="without --no-eval"):
        predictions_file(tmp_path)
