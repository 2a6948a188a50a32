"""`nanoemox results`: measured results with their provenance, and the tables made from them.

Every figure the README or docs/results.md quotes comes from a JSON file under `results/` that says how it was made:

    {"kind": "demo-run", "command": "...", "commit": "...", "dirty": false, "machine": {...}, "date": "...",
     "seed": 0, "results": {...}}

    nanoemox results record-demo --run runs/demo/train --seconds 590 --output runs/demo/demo_results.json
    nanoemox results render            # docs/results.md and the README's marked blocks, from results/*.json
    nanoemox results render --check    # exit 1 when they differ from what results/*.json give (a test runs this)

`nanoemox bench --json` writes the same provenance beside its sections. A README block is the text between
`<!-- results:NAME -->` and `<!-- /results:NAME -->`; `render` replaces it with the block NAME makes.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "results"
DOC = REPO / "docs" / "results.md"
README = REPO / "README.md"


# ---------------------------------------------------------------------------------------------- provenance
def git_commit(root: Path = REPO) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the checkout at `root`, or (None, None) outside a git checkout."""
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True)
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
        )
    except OSError:
        return None, None
    if commit.returncode:
        return None, None
    return commit.stdout.strip(), bool(status.stdout.strip())


def provenance(command: str | list[str] | None = None, seed: int | None = None) -> dict[str, Any]:
    """How a result was made: the command, the commit (and whether the tree had uncommitted changes), the machine,
    the date (UTC) and the seed."""
    from nanoemox.machine import describe_machine

    if command is None:
        command = ["nanoemox", *sys.argv[1:]] if Path(sys.argv[0]).name == "nanoemox" else sys.argv
    commit, dirty = git_commit()
    return {
        "command": command if isinstance(command, str) else shlex.join(map(str, command)),
        "commit": commit,
        "dirty": dirty,
        "machine": describe_machine(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "seed": seed,
    }


def write_result(path: str | os.PathLike, kind: str, results: dict, **origin) -> dict:
    payload = {"kind": kind, **provenance(**origin), "results": results}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    logger.info("wrote %s", path)
    return payload


def record_demo(run: Path, seconds: float, command: str, label: str) -> dict:
    """A demo run's result: how long it took, where, and what it scored (the demo report and every task's metrics)."""
    report = json.loads((run / "demo_report.json").read_text())
    evaluation = json.loads((run / "eval_results.json").read_text())
    curriculum = json.loads((run / "curriculum.json").read_text())
    tasks = evaluation["datasets"]["demo"]["all_modalities"]
    return {
        "label": label,
        "seconds": seconds,
        "torch_threads": _threads_used(run),
        "seed": curriculum.get("seed"),
        "report": report,
        "tasks": {
            "msa": {k: tasks.get("msa", {}).get(k) for k in ("acc2_has0", "mae", "corr")},
            "ov-mer": {k: tasks.get("ov-mer", {}).get(k) for k in ("fscore", "exact_set_fscore")},
            "erg": {k: tasks.get("erg", {}).get(k) for k in ("emotion_accuracy",)},
            "eri": {k: tasks.get("eri", {}).get(k) for k in ("token_f1",)},
        },
    }


def _threads_used(run: Path) -> int | None:
    summary = next(iter(sorted(run.glob("*/stage.json"))), None)
    return json.loads(summary.read_text()).get("torch_threads") if summary else None


# ---------------------------------------------------------------------------------------------- rendering
def load_results(folder: Path = RESULTS) -> dict[str, dict]:
    """{file stem: payload} of every results JSON."""
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))}


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _origin(payload: dict, name: str) -> str:
    machine = payload.get("machine", {})
    cpu = machine.get("cpu", "?")
    commit = (payload.get("commit") or "?")[:10] + (" (uncommitted changes)" if payload.get("dirty") else "")
    return (
        f"<sub>`results/{name}.json`: `{payload.get('command')}` at commit {commit}, {payload.get('date')}, "
        f"{machine.get('available_cores', machine.get('cpus', '?'))} cores ({cpu}), seed {payload.get('seed')}</sub>"
    )


def demo_table(runs: dict[str, dict]) -> str:
    """The demo runs side by side: time, then held-out accuracy per condition and deciding modality."""
    lines = [
        "| run | time | torch threads | MER acc | MIR acc | face-decided | voice-decided | scene-decided |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for payload in runs.values():
        r = payload["results"]
        full = r["report"]["conditions"]["all_modalities"]
        effect = r["report"]["branch_effect"]
        cell = {b: f"{e['all']:.2f} → {e['masked']:.2f}" for b, e in effect.items()}
        lines.append(
            f"| {r['label']} | {r['seconds'] / 60:.1f} min | {_fmt(r['torch_threads'])} | {full['mer']:.3f} | "
            f"{full['mir']:.3f} | {cell.get('face', '–')} | {cell.get('audio', '–')} | {cell.get('frame', '–')} |"
        )
    lines.append("")
    lines += [_origin(p, n) + "<br>" for n, p in runs.items()]
    return "\n".join(lines)


def demo_conditions(payload: dict) -> str:
    """One demo run's held-out accuracy with every branch, and with each masked, per deciding modality."""
    report = payload["results"]["report"]
    shares = ["mer/face", "mer/voice", "mer/subtitle", "mir/subtitle", "mir/scene"]
    lines = [
        "| condition | MER acc | MIR acc | " + " | ".join(s.replace("/", " ") + "-decided" for s in shares) + " |",
        "|---|" + "---:|" * (2 + len(shares)),
    ]
    for condition, row in report["conditions"].items():
        cells = [
            f"{row['shares'][s]['accuracy']:.2f} (n={row['shares'][s]['n']})" if s in row["shares"] else "–"
            for s in shares
        ]
        lines.append(
            f"| {condition.replace('_', ' ')} | {row['mer']:.3f} | {row['mir']:.3f} | " + " | ".join(cells) + " |"
        )
    tasks = payload["results"]["tasks"]
    lines += [
        "",
        f"Other tasks: MSA Acc2 {_fmt(tasks['msa']['acc2_has0'], 3)} (MAE {_fmt(tasks['msa']['mae'])}, "
        f"r {_fmt(tasks['msa']['corr'])}), OV-MER exact-set F {_fmt(tasks['ov-mer']['exact_set_fscore'], 3)} "
        f"(no emotion wheels), ERG emotion accuracy {_fmt(tasks['erg']['emotion_accuracy'], 3)}, ERI token F1 "
        f"{_fmt(tasks['eri']['token_f1'], 3)}.",
    ]
    return "\n".join(lines)


def bench_tables(payload: dict) -> str:
    """The benchmark figures the issues ask for, from a `nanoemox bench --json` file."""
    sections = payload["results"]["sections"] if "results" in payload else payload["sections"]
    out = []
    if "throughput" in sections:
        t = sections["throughput"]
        out += [
            "| from a folder of real clips to answers (tiny model) | clips/s |",
            "|---|---:|",
            f"| a clip at a time: `processor.prepare`, then `generate` | {t['serial_clips_per_s']:.2f} |",
            f"| `answer_rows`: {t['num_workers']} DataLoader workers, batches of {t['batch_size']} "
            f"| {t['workers_batching_clips_per_s']:.2f} ({t['speedup']:.2f}×) |",
            "",
            "| processor, talking clip, one core | ms per clip | cores per GPU (estimate) |",
            "|---|---:|---:|",
        ]
        for name, ms in t["processor_ms_one_core"].items():
            cores = t["projection"]["cores_per_gpu"].get(name)
            out.append(f"| {name} | {_fmt(ms, 0)} | {_fmt(cores, 1)} |")
        p = t["projection"]
        out += [
            "",
            f"GPU side of the estimate: {p['full_size_prefill_gflops_per_clip']:.0f} GFLOP per full-size "
            f"prefill at {p['gpu_tflops']:g} TFLOPS × {p['mfu']:g} utilisation = "
            f"{p['gpu_prefill_ms_per_clip']:.1f} ms per clip.",
            "",
        ]
    if "batching" in sections and "pipeline" in sections["batching"]:
        pipe = sections["batching"]["pipeline"]
        if isinstance(pipe, dict) and all(isinstance(v, dict) for v in pipe.values()):
            out += [
                "| `emotion-analysis` pipeline, batch size | " + " | ".join(map(str, pipe)) + " |",
                "|---|" + "---:|" * len(pipe),
                "| clips/s | " + " | ".join(f"{v['clips_per_s']:.2f}" for v in pipe.values()) + " |",
                "",
            ]
    if "decode" in sections:
        d = sections["decode"]
        out += [
            f"| decode step, the clip in context ({d['context_tokens']} tokens) ÷ the bare language model at the "
            "same length | ms per step | ratio |",
            "|---|---:|---:|",
            f"| through `generate` | {d['generate_step_ms']['nanoemox']:.2f} / {d['generate_step_ms']['bare_lm']:.2f} "
            f"| {d['generate_ratio']:.3f} |",
            f"| forward on the KV cache | {d['forward_step_ms']['nanoemox']:.2f} / "
            f"{d['forward_step_ms']['bare_lm']:.2f} | {d['forward_ratio']:.3f} |",
            "",
            "Encoder calls per answer: "
            + ", ".join(f"{k} {v:g}" for k, v in d["encoder_calls_per_answer"].items())
            + " (media are encoded once, at prefill).",
            "",
        ]
    if "faces" in sections and "detectors" in sections["faces"]:
        f = sections["faces"]
        sides = sorted({int(s) for d in f["detectors"].values() for s in d["recall_by_face_side_px"]})
        out += [
            f"Real-face set: {f['faces']} faces in {f['frames']} frames of {f['frame_size']} px (IoU ≥ "
            f"{f['iou_for_a_hit']} is a hit).",
            "",
            "| detector | recall | " + " | ".join(f"{s} px" for s in sides) + " | false positives per empty "
            "frame | ms per frame |",
            "|---|---:|" + "---:|" * len(sides) + "---:|---:|",
        ]
        for name, d in f["detectors"].items():
            by = d["recall_by_face_side_px"]
            out.append(
                f"| {name} | {d['recall']:.3f} | "
                + " | ".join(_fmt(by.get(str(s), by.get(s)), 2) for s in sides)
                + f" | {d['false_positives_per_empty_frame']:.2f} | {d['ms_per_frame']:.1f} |"
            )
        out += ["", "| face track of the talking clip (8 frames) | ms |", "|---|---:|"]
        out += [f"| {k} | {v:.0f} |" for k, v in f["face_track_ms_per_clip"].items()]
        out.append("")
    return "\n".join(out)


def attribution_table(payload: dict) -> str:
    """`explain=True` on the demo test split: how often the deciding branch gets the largest attribution share."""
    r = payload["results"]
    lines = [
        "| deciding modality → branch | clips | largest share is the deciding branch | of the right answers | "
        "its mean share | no masking lowers the answer |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, c in r["cells"].items():
        task, modality = name.split("/")
        right = c["correct"]
        lines.append(
            f"| {task.upper()} {modality} → {c['deciding_branch']} | {c['n']} | {c['top_is_deciding']} "
            f"({c['fraction']:.2f}) | {right['top_is_deciding']} of {right['n']} | "
            f"{c['mean_share'][c['deciding_branch']]:.2f} | {c['no_positive_drop']} |"
        )
    o = r["overall"]
    lines += [
        "",
        f"Overall {o['top_is_deciding']} of {o['n']} ({o['fraction']:.2f}). Checkpoint `{r['model']}`, "
        f"split {r['split']}.",
    ]
    return "\n".join(lines)


def scoring_table(payload: dict) -> str:
    """`nanoemox evaluate --scoring generate|likelihood` on the demo test split."""
    r = payload["results"]
    modes = {
        "generate": "generated answers (default)",
        "likelihood": "likelihood, the checkpoint's label sets",
        "likelihood_train_labels": "likelihood, the train split's labels",
    }
    lines = [
        "| answers | MER WAR | MIR acc | MSA Acc2 (has0) | MSA polarity acc | unparsable (mer + mir + msa) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for key, label in modes.items():
        if key not in r:
            continue
        m = r[key]["metrics"]
        unparsed = m["mer"].get("n_unparsed", 0) + m["mir"].get("n_unparsed", 0) + m["msa"].get("mllm_n_unparsed", 0)
        lines.append(
            f"| {label} | {m['mer']['war']:.3f} | {m['mir']['accuracy']:.3f} | {m['msa']['has0_acc2']:.3f} | "
            f"{m['msa']['mllm_accuracy']:.3f} | {unparsed} |"
        )
    return "\n".join(lines)


def timeline_memory_table(payload: dict) -> str:
    """A long video's timeline: memory after each window, per pass (`python -m nanoemox.timeline.memory`)."""
    video = payload["video"]
    lines = [
        f"{video['duration_s'] / 60:.1f} min video ({video.get('made_by') or video['path']}), {video['windows']} "
        "windows. Resident memory (RSS) counts every buffer; traced is what Python and numpy objects hold.",
        "",
        "| pass | RSS MB: first / peak middle third / peak last third | RSS slope, last half (MB per window) "
        "| traced MB: peak middle / peak last | traced slope (MB per window) |",
        "|---:|---|---:|---|---:|",
    ]
    for run in payload["passes"]:
        rss, traced = run["rss"], run["traced"]
        lines.append(
            f"| {run['pass']} | {rss['first_mb']:.0f} / {rss['peak_middle_mb']:.0f} / {rss['peak_late_mb']:.0f} "
            f"| {rss['slope_late_mb_per_window']:.3f} | {traced['peak_middle_mb']:.1f} / {traced['peak_late_mb']:.1f} "
            f"| {traced['slope_late_mb_per_window']:.4f} |"
        )
    return "\n".join(lines)


# Sections of docs/results.md: (title, the results files it needs, how it renders them). A section whose files are
# missing is left out (its results were not measured here), not faked.
def _doc_sections(results: dict[str, dict]) -> list[tuple[str, Callable[[], str]]]:
    demos = {n: p for n, p in results.items() if p.get("kind") == "demo-run"}
    sections = []
    if demos:
        sections.append(("The demo run: `bash scripts/demo.sh`", lambda: demo_table(demos)))
        first = next(iter(demos.values()))
        sections.append(
            ("The demo run's held-out scores, per condition and deciding modality", lambda: demo_conditions(first))
        )
    for name, payload in results.items():
        if payload.get("kind") == "demo-attribution":
            sections.append(
                (
                    "Why this answer: the deciding branch's attribution share (demo test split)",
                    lambda p=payload, n=name: attribution_table(p) + "\n\n" + _origin(p, n),
                )
            )
        if payload.get("kind") == "demo-scoring":
            sections.append(
                (
                    "Generated answers against likelihood scoring (demo test split)",
                    lambda p=payload, n=name: scoring_table(p) + "\n\n" + _origin(p, n),
                )
            )
        if payload.get("kind") == "timeline-memory":
            sections.append(
                (
                    "Memory of a long video's timeline",
                    lambda p=payload, n=name: timeline_memory_table(p) + "\n\n" + _origin(p, n),
                )
            )
    for name, payload in results.items():
        if payload.get("kind") == "bench":
            sections.append(
                (
                    f"Benchmarks: `{payload.get('command')}`",
                    lambda p=payload, n=name: bench_tables(p) + "\n" + _origin(p, n),
                )
            )
    return sections


def render_doc(results: dict[str, dict]) -> str:
    lines = [
        "# Measured results",
        "",
        "Generated by `nanoemox results render` from the JSON files in `results/`; each table names the file, the",
        "command, the commit, the machine and the date behind it. Do not edit by hand.",
        "",
    ]
    for title, make in _doc_sections(results):
        lines += [f"## {title}", "", make().rstrip(), ""]
    return "\n".join(lines)


def bench_summary(results: dict[str, dict]) -> str:
    """The README's headline benchmark figures beside their targets, from the newest `bench` results file."""
    benches = [p for p in results.values() if p.get("kind") == "bench"]
    if not benches:
        return "(no benchmark recorded in results/)"
    payload = max(benches, key=lambda p: p.get("date") or "")
    sections = payload["results"]["sections"] if "results" in payload else payload["sections"]
    rows = []
    if "throughput" in sections:
        t = sections["throughput"]
        ms = t["processor_ms_one_core"]
        rows.append(
            ("processor per real clip, one core", ", ".join(f"{v:.0f} ms {k}" for k, v in ms.items()), "≤ 150 ms")
        )
        rows.append(
            (
                f"{t['clips']} real clips to answers: {t['num_workers']} workers + batches of {t['batch_size']} "
                "÷ one clip at a time",
                f"{t['speedup']:.2f}× "
                f"({t['serial_clips_per_s']:.1f} → {t['workers_batching_clips_per_s']:.1f} clips/s)",
                "≥ 2×",
            )
        )
        cores = t["projection"]["cores_per_gpu"]
        rows.append(
            (
                f"CPU cores that keep one GPU busy ({t['projection']['gpu_tflops']:.0f} TFLOPS at "
                f"{t['projection']['mfu']:.0%} use; an estimate from the measured CPU rate and counted "
                "full-size FLOPs)",
                ", ".join(f"{v:.0f} ({k})" for k, v in cores.items()),
                "",
            )
        )
    if "batching" in sections:
        pipe = sections["batching"]["pipeline"]
        rows.append(
            (
                "pipeline clips/s at batch " + " / ".join(pipe),
                " / ".join(f"{v['clips_per_s']:.1f}" for v in pipe.values()),
                "",
            )
        )
    if "decode" in sections:
        d = sections["decode"]
        rows.append(
            (
                f"decode step with a clip in context ÷ bare LM ({d['dtype']}, {d['context_tokens']} tokens)",
                f"{d['generate_ratio']:.2f} (`generate`), {d['forward_ratio']:.2f} (forward on the KV cache)",
                "≤ 1.02",
            )
        )
    machine = payload.get("machine", {})
    lines = ["| measure | measured | our goal |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    lines.append("")
    lines.append(
        f"Tiny preset, measured {str(payload.get('date'))[:10]} on {machine.get('available_cores', '?')} cores "
        f"({machine.get('cpu', '?')}, commit {str(payload.get('commit'))[:7]}); reproduce with "
        f"`nanoemox bench --preset tiny --json results/bench-tiny.json`."
    )
    return "\n".join(lines)


README_BLOCKS: dict[str, Callable[[dict[str, dict]], str]] = {
    "demo-summary": lambda r: (
        demo_table({n: p for n, p in r.items() if p.get("kind") == "demo-run"})
        if any(p.get("kind") == "demo-run" for p in r.values())
        else "(no demo run recorded in results/)"
    ),
    "bench-summary": bench_summary,
    "demo-time": lambda r: (
        (
            "; ".join(
                f"{p['results']['label']}: {p['results']['seconds'] / 60:.0f} min"
                for p in r.values()
                if p.get("kind") == "demo-run"
            )
            or "(no demo run recorded in results/)"
        )
        + " ([docs/results.md](docs/results.md))"
    ),
}


def render_readme(text: str, results: dict[str, dict]) -> str:
    for name, make in README_BLOCKS.items():
        start, end = f"<!-- results:{name} -->", f"<!-- /results:{name} -->"
        if start in text and end in text:
            head, rest = text.split(start, 1)
            _, tail = rest.split(end, 1)
            block = make(results)
            if "\n" in block:  # a table or a list starts on its own line, or markdown would not see it
                block = "\n" + block + "\n"
            text = head + start + block + end + tail
    return text


def render(check: bool = False) -> int:
    results = load_results()
    outputs = {DOC: render_doc(results), README: render_readme(README.read_text(encoding="utf-8"), results)}
    stale = [p for p, text in outputs.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
    if check:
        for path in stale:
            print(f"{path.relative_to(REPO)} is not what results/*.json give: run `nanoemox results render`")
        return 1 if stale else 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(outputs[path], encoding="utf-8")
        logger.info("wrote %s", path)
    return 0


# ---------------------------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nanoemox results", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("record-demo", help="a demo run's time and scores, with their provenance")
    demo.add_argument("--run", required=True, help="the run's train folder (eval_results.json, demo_report.json)")
    demo.add_argument("--seconds", type=float, required=True, help="how long the whole run took")
    demo.add_argument("--label", default="", help="what the run was (e.g. 'idle machine')")
    demo.add_argument("--command", default="bash scripts/demo.sh", help="the command that made the run")
    demo.add_argument("--output", required=True)
    render_parser = commands.add_parser("render", help="docs/results.md and the README's blocks from results/*.json")
    render_parser.add_argument("--check", action="store_true", help="only check that they are up to date")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "render":
        return render(check=args.check)
    run = Path(args.run)
    results = record_demo(run, args.seconds, args.command, args.label or run.parent.name)
    write_result(args.output, "demo-run", results, command=args.command, seed=results["seed"])
    return 0
