"""`nanoemox bench` on the command line: parse the options, run the chosen sections in order, print and save.

nanoemox bench --preset tiny --sections decode tokens --json bench.json    # see `nanoemox.bench` for all
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from nanoemox.machine import available_cores, describe_machine
from nanoemox.modeling.configuration_nanoemox import NanoEmoXConfig

from .batching import bench_batching
from .budget import bench_budget
from .context import Bench
from .decode import bench_decode
from .faces import bench_faces
from .prefill import bench_prefill, full_size_flops
from .preprocessing import bench_preprocessing
from .presets import PRESETS, Preset
from .report import jsonable, table
from .throughput import bench_throughput
from .tokens import bench_tokens
from .training import bench_training

logger = logging.getLogger(__name__)

SECTIONS = ("decode", "prefill", "tokens", "batching", "preprocessing", "throughput", "faces", "budget", "training")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nanoemox bench", description="measure Nano-EmoX against its floor and the obvious alternatives"
    )
    parser.add_argument("--preset", choices=list(PRESETS), default="tiny")
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument(
        "--sections", nargs="+", default=list(SECTIONS), help=f"any of {', '.join(SECTIONS)} (default: all)"
    )
    parser.add_argument("--repeats", type=int, help="timing repeats (default: the preset's)")
    parser.add_argument("--decode-steps", type=int, help="decode steps per repeat (default: the preset's)")
    parser.add_argument("--new-tokens", type=int, help="new tokens per answer in batching (default: the preset's)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", help="batching section sizes (default: 1 8 32)")
    parser.add_argument("--loader-batches", type=int, help="batches timed per data-loader setting")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: the available cores)")
    parser.add_argument("--video", help="an mp4 for the decode/prefill/preprocessing clip (default: built offline)")
    parser.add_argument("--gpu-tflops", type=float, default=165.2, help="GPU peak bf16 dense TFLOPS (RTX 4090)")
    parser.add_argument("--mfu", type=float, default=0.4, help="model FLOPs utilisation assumed sustained")
    parser.add_argument("--gpu-memory-gb", type=float, default=24.0)
    parser.add_argument("--workdir", help="keep the checkpoint and media here (default: a temporary folder)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    sections = [s for item in args.sections for s in item.split(",") if s]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        raise SystemExit(f"nanoemox bench: unknown sections {unknown}; choose from {', '.join(SECTIONS)}")
    overrides = {
        k: v
        for k, v in {
            "repeats": args.repeats,
            "decode_steps": args.decode_steps,
            "new_tokens": args.new_tokens,
            "batch_sizes": tuple(args.batch_sizes) if args.batch_sizes else None,
            "loader_batches": args.loader_batches,
            "long_prefill_repeats": args.repeats,
        }.items()
        if v is not None
    }
    preset = Preset(**{**asdict(PRESETS[args.preset]), **overrides})
    if preset.repeats < 1 or preset.decode_steps < 2:
        raise SystemExit(f"nanoemox bench: need --repeats >= 1 and --decode-steps >= 2, got {preset}")
    threads = args.threads or available_cores()
    torch.set_num_threads(threads)
    from nanoemox.modeling.requirements_nanoemox import require

    require("cv2").setNumThreads(threads)  # the face detector's threads, as torch's
    started = time.perf_counter()
    results: dict[str, Any] = {
        "preset": preset.name,
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": describe_machine(),
        "threads": threads,
        "settings": asdict(preset),
        "sections": {},
    }
    order = ["decode", "tokens", "batching", "preprocessing", "throughput", "faces", "prefill", "budget", "training"]
    with tempfile.TemporaryDirectory(prefix="nanoemox-bench-") as tmp:
        workdir = Path(args.workdir or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        ctx = Bench(preset=preset, workdir=workdir, threads=threads, video=args.video)
        runners = {
            "decode": bench_decode,
            "prefill": bench_prefill,
            "tokens": bench_tokens,
            "batching": bench_batching,
            "preprocessing": bench_preprocessing,
            "budget": lambda c: bench_budget(c, gpu_tflops=args.gpu_tflops, mfu=args.mfu, gpu_gb=args.gpu_memory_gb),
            "throughput": lambda c: bench_throughput(c, gpu_tflops=args.gpu_tflops, mfu=args.mfu),
            "faces": bench_faces,
            "training": bench_training,
        }
        # the full preset's timed sections need ~10 GB; with --sections prefill budget only meta parts run
        meta_only = preset.name == "full" and not ({"decode", "tokens", "batching", "preprocessing"} & set(sections))
        for name in order:
            if name not in sections:
                continue
            logger.info("section %s", name)
            section_start = time.perf_counter()
            if meta_only and name == "prefill":
                flops = full_size_flops(ctx, 64)
                out = {
                    "flops_method": "torch.utils.flop_counter.FlopCounterMode on the meta device",
                    "full_size_gflops": {**{k: v / 1e9 for k, v in flops.items()}, "total": sum(flops.values()) / 1e9},
                    "note": "timed parts skipped (run with the decode/tokens/... sections to build the model)",
                    "tokens": 64 + NanoEmoXConfig().media_tokens_per_clip,
                }
            else:
                out = runners[name](ctx)
            out["seconds"] = time.perf_counter() - section_start
            results["sections"][name] = out
        if ctx.clip:
            results["clip"] = ctx.clip
        results["notes"] = ctx.notes + [
            "medians over repeats, the two sides of each ratio interleaved; the machine may be shared",
        ]
        if "build_seconds" in ctx.cache:
            results["build_seconds"] = ctx.cache["build_seconds"]
    results["seconds"] = time.perf_counter() - started
    results["sections"] = {k: results["sections"][k] for k in SECTIONS if k in results["sections"]}
    results = jsonable(results)
    if args.json:  # the sections, with how they were made (nanoemox.results renders docs/results.md from this)
        from nanoemox.results import provenance

        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"kind": "bench", **results, **provenance(seed=0)}, indent=2) + "\n")
    print(table(results))
    print(
        f"\npreset {preset.name}, {threads} threads, {results['seconds']:.0f} s"
        + (f"; JSON: {args.json}" if args.json else "")
    )
    return 0
