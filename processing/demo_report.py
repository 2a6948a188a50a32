"""What a curriculum run learned on the demo corpus: accuracy per branch condition and per deciding modality.

    nanoemox data demo --output runs/demo/data
    nanoemox train --config demo --output runs/demo/train
    nanoemox data demo-report --run runs/demo/train --data runs/demo/data   # prints; writes demo_report.{md,json}

Every demo clip has ONE modality that decides its emotion (face, voice or subtitle) and one that decides its intent
(scene or subtitle); the others show their neutral value. So a branch the model reads shows up twice: accuracy on
that branch's share of clips is high with all branches, and falls to about chance when that branch alone is masked,
while the other shares stay. Chance on a share is 0.2 for emotions (the neutral clips of the share are right for a
reader that ignores it) and 1/6 for intents.

Reads what `nanoemox train` leaves after its held-out evaluation: `eval_results.json` and one
`predictions-<dataset>[-without_<branch>].jsonl` per condition (`evaluation.ablate` in the curriculum).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from datasets import load_from_disk

from .demo_corpus import EMOTION_MODALITIES, INTENT_MODALITIES, accuracy_by_decisive_modality

logger = logging.getLogger(__name__)

SHARES = [("mer", m) for m in EMOTION_MODALITIES] + [("mir", m) for m in INTENT_MODALITIES]
# which share each masked branch should cost: the face branch reads the face, the speech branch the voice, the
# frames the scene (the face is small in the frames, so the frame branch is not expected to carry the face share)
BRANCH_SHARES = {"face": ("mer", "face"), "audio": ("mer", "voice"), "frame": ("mir", "scene")}


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def demo_report(run: str | Path, data: str | Path, dataset_name: str = "demo") -> dict:
    """{"split", "conditions": {condition: {"mer", "mir", "shares": {"mer/face": {"accuracy", "n"}, ...}}},
    "branch_effect": {branch: {"share", "all", "masked", "drop"}}} for the run folder `run` and the demo corpus `data`.

    `ValueError` naming the file when the run has no held-out evaluation of `dataset_name`.
    """
    run = Path(run)
    results_path = run / "eval_results.json"
    if not results_path.exists():
        raise ValueError(f"{results_path}: not found; run `nanoemox train` to the end (without --no-eval) first")
    results = json.loads(results_path.read_text())
    if dataset_name not in results.get("datasets", {}):
        raise ValueError(f"{results_path}: no results for dataset {dataset_name!r} (has {list(results['datasets'])})")
    split = load_from_disk(str(data))[results["split"]]
    report: dict = {"split": results["split"], "conditions": {}, "branch_effect": {}}
    for condition, tasks in results["datasets"][dataset_name].items():
        suffix = "" if condition == "all_modalities" else f"-{condition}"
        path = run / f"predictions-{dataset_name}{suffix}.jsonl"
        if not path.exists():
            raise ValueError(f"{path}: missing; the evaluation of condition {condition!r} wrote no predictions")
        cells = accuracy_by_decisive_modality(split, _read_jsonl(path))
        report["conditions"][condition] = {
            "mer": tasks.get("mer", {}).get("war"),
            "mir": tasks.get("mir", {}).get("accuracy"),
            "shares": {f"{t}/{m}": cells[t][m] for t, m in SHARES if m in cells.get(t, {})},
        }
    full = report["conditions"].get("all_modalities")
    for branch, (task, modality) in BRANCH_SHARES.items():
        masked = report["conditions"].get(f"without_{branch}")
        key = f"{task}/{modality}"
        if full and masked and key in full["shares"] and key in masked["shares"]:
            before, after = full["shares"][key]["accuracy"], masked["shares"][key]["accuracy"]
            report["branch_effect"][branch] = {
                "share": key,
                "all": before,
                "masked": after,
                "drop": round(before - after, 3),
            }
    return report


def format_report(report: dict) -> str:
    """The report as two markdown tables: conditions x (MER, MIR, each share), and each branch's own share."""
    heads = [f"{t.upper()} {m}-decided" for t, m in SHARES]
    lines = [
        f"held-out {report['split']} split; chance: MER 0.20, MIR 0.17 (overall and on every share)",
        "",
        "| condition | MER acc | MIR acc | " + " | ".join(heads) + " |",
        "|---|" + "---:|" * (2 + len(heads)),
    ]
    for condition, row in report["conditions"].items():
        shares = [row["shares"].get(f"{t}/{m}") for t, m in SHARES]
        cells = [f"{c['accuracy']:.2f} (n={c['n']})" if c else "–" for c in shares]
        mer, mir = (f"{v:.3f}" if v is not None else "–" for v in (row["mer"], row["mir"]))
        lines.append(f"| {condition.replace('_', ' ')} | {mer} | {mir} | " + " | ".join(cells) + " |")
    if report["branch_effect"]:
        lines += ["", "| masked branch | its share | all branches | masked | drop |", "|---|---|---:|---:|---:|"]
        for branch, e in report["branch_effect"].items():
            lines.append(f"| {branch} | {e['share']} | {e['all']:.2f} | {e['masked']:.2f} | {e['drop']:+.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nanoemox data demo-report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, help="the output folder of `nanoemox train` (has eval_results.json)")
    parser.add_argument("--data", required=True, help="the demo corpus the run was evaluated on")
    parser.add_argument("--dataset", default="demo", help="the dataset's name in the curriculum (default: demo)")
    args = parser.parse_args(argv)
    report = demo_report(args.run, args.data, args.dataset)
    text = format_report(report)
    run = Path(args.run)
    (run / "demo_report.json").write_text(json.dumps(report, indent=2))
    (run / "demo_report.md").write_text(text + "\n")
    print(text)
    logger.info("wrote %s and %s", run / "demo_report.md", run / "demo_report.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
