"""`nanoemox data demo-measure`: the attribution and scoring measurements on the demo corpus write their numbers
beside the command, the git commit, the machine, the date and the seed."""

from __future__ import annotations

import json

import pytest

from nanoemox.cli import main as cli_main
from nanoemox.processing.demo_corpus import generate_demo_corpus
from tests.model_helpers import build_lively_checkpoint


@pytest.mark.slow
def test_both_measurements_write_their_provenance(tmp_path):
    ckpt = build_lively_checkpoint(tmp_path)
    data = tmp_path / "data"
    generate_demo_corpus(data, num_clips=8, seed=0, progress=False)
    for measure in ("attribution", "scoring"):
        out = tmp_path / f"{measure}.json"
        argv = ["data", "demo-measure", measure, "--model", ckpt, "--data", str(data), "--split", "train"]
        assert cli_main([*argv, "--max-new-tokens", "3", "--seed", "3", "--output", str(out)]) == 0
        payload = json.loads(out.read_text())
        assert payload["command"].startswith(f"nanoemox data demo-measure {measure} --model")
        assert payload["kind"] == f"demo-{measure}" and payload["seed"] == 3
        assert len(payload["commit"] or "x" * 40) == 40 and payload["results"]["split"] == "train"
        assert {"cpus", "torch"} <= set(payload["machine"]) and payload["date"].startswith("20")
    cells = json.loads((tmp_path / "attribution.json").read_text())["results"]["cells"]
    assert cells and all(0 <= c["top_is_deciding"] <= c["n"] for c in cells.values())
    scoring = json.loads((tmp_path / "scoring.json").read_text())["results"]
    assert scoring["likelihood"]["metrics"]["mer"]["n_unparsed"] == 0 and "generate" in scoring
    assert set(scoring["likelihood_train_labels"]["label_sets"]["mer"]) <= {
        "angry",
        "happy",
        "neutral",
        "sad",
        "surprise",
    }
