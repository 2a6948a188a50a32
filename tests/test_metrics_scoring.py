"""`score` dispatch and the `nanoemox evaluate` CLI (the evaluate module: `test_evaluate_module.py`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nanoemox.evaluation.cli import main, render_markdown
from nanoemox.evaluation.scoring import score


def test_score_rejects_bad_arguments():
    with pytest.raises(ValueError, match="unknown task"):
        score("sentiment", ["a"], ["a"])
    with pytest.raises(ValueError, match="references"):
        score("mir", ["a", "b"], ["a"])
    assert score("OV_MER", ["happy"], ["happy"])["exact_set_fscore"] == 1.0  # task names are normalised


def write_rows(path: Path, rows: list[tuple[str, object]]) -> Path:
    path.write_text(
        "".join(json.dumps({"id": i, "prediction": p, "reference": r}) + "\n" for i, (p, r) in enumerate(rows))
    )
    return path


def test_cli_scores_writes_json_and_markdown_and_compares(tmp_path, capsys):
    a = write_rows(tmp_path / "a.jsonl", [("Inform", "inform"), ("Greet", "thank")])
    b = write_rows(tmp_path / "b.jsonl", [("Inform", "inform"), ("Thank", "thank")])
    assert main(["--task", "mir", "--predictions", str(a), "--output", str(tmp_path / "out" / "a.json")]) == 0
    assert main(["--task", "mir", "--predictions", str(b), "--output", str(tmp_path / "out" / "b.json")]) == 0
    result = json.loads((tmp_path / "out" / "a.json").read_text())
    assert result["results"]["mir"]["accuracy"] == pytest.approx(0.5)  # 1 of 2
    assert "| accuracy | 0.5000 |" in (tmp_path / "out" / "a.md").read_text()
    capsys.readouterr()
    assert main(["--compare", str(tmp_path / "out" / "a.json"), str(tmp_path / "out" / "b.json")]) == 0
    table = capsys.readouterr().out
    assert "| metric | a | b |" in table and "| accuracy | 0.5000 | 1.0000 |" in table


def test_render_markdown_flattens_nested_metrics():
    text = render_markdown({"mer": {"hit_rate": 0.5, "per_wheel": {"wheel1": {"hit_rate": None}}, "n": 3}})
    assert "## mer" in text and "| per_wheel.wheel1.hit_rate | – |" in text and "| n | 3 |" in text
