"""Numbers with provenance: every committed results file says how it was made, and docs/results.md and the README's
marked blocks are exactly what `nanoemox results render` makes from them (so an edited figure, or a results file
whose tables were not regenerated, fails here)."""

from __future__ import annotations

import copy
import json

import pytest

from nanoemox import results

PROVENANCE = ("kind", "command", "commit", "machine", "date", "seed")


def test_every_results_file_says_how_it_was_made():
    files = sorted(results.RESULTS.glob("*.json"))
    assert files, "results/ holds no results file"
    for path in files:
        payload = json.loads(path.read_text(encoding="utf-8"))
        missing = [key for key in PROVENANCE if key not in payload]
        assert not missing, f"{path.name}: no {missing}"
        assert payload["command"] and payload["date"] and payload["machine"].get("available_cores"), path.name


def test_the_docs_and_readme_are_what_the_results_give():
    assert results.main(["render", "--check"]) == 0, "run `nanoemox results render` and commit what it changes"


def test_a_changed_figure_changes_the_tables():
    loaded = results.load_results()
    bench = next(name for name, payload in loaded.items() if payload.get("kind") == "bench")
    changed = copy.deepcopy(loaded)
    sections = changed[bench].get("results", changed[bench])["sections"]
    sections["decode"]["generate_ratio"] += 0.5
    readme = results.README.read_text(encoding="utf-8")
    assert results.render_doc(changed) != results.render_doc(loaded)
    assert results.render_readme(readme, changed) != results.render_readme(readme, loaded)


def test_write_result_records_the_provenance(tmp_path):
    payload = results.write_result(tmp_path / "r.json", "demo-run", {"seconds": 1.0}, command="nanoemox x", seed=3)
    assert json.loads((tmp_path / "r.json").read_text()) == json.loads(json.dumps(payload))
    assert {key for key in PROVENANCE} <= set(payload) and payload["seed"] == 3
    assert payload["machine"]["available_cores"] >= 1


@pytest.mark.parametrize("name", ["demo-time", "demo-summary", "bench-summary"])
def test_the_readme_has_each_results_block(name):
    text = results.README.read_text(encoding="utf-8")
    assert f"<!-- results:{name} -->" in text and f"<!-- /results:{name} -->" in text
