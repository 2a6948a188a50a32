"""`score` dispatch, the `nanoemox evaluate` CLI, and the evaluate modules loaded offline by path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nanoemox.evaluation.cli import main, render_markdown
from nanoemox.evaluation.scoring import score

MODULES = Path(__file__).resolve().parents[1] / "evaluation" / "modules"


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


@pytest.mark.parametrize("name", ["nanoemox_mer", "nanoemox_mir"])
def test_evaluate_modules_load_offline_by_path(name, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_EVALUATE_OFFLINE", "1")
    evaluate = pytest.importorskip("evaluate")
    metric = evaluate.load(str(MODULES / name), cache_dir=str(tmp_path))
    if name == "nanoemox_mir":
        result = metric.compute(predictions=["Inform", "Greet"], references=["inform", "thank"])
        assert result["accuracy"] == pytest.approx(0.5)
    else:
        result = metric.compute(predictions=["happy", "sad"], references=["happy", "angry"])
        assert result["war"] == pytest.approx(0.5) and "hit_rate" not in result  # no wheels passed


def test_every_task_has_an_evaluate_module():
    names = {path.name for path in MODULES.iterdir() if (path / f"{path.name}.py").is_file()}
    assert names == {f"nanoemox_{t}" for t in ("msa", "mer", "ovmer", "eri", "mir", "erg", "jx4mei")}
