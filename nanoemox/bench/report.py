"""The benchmark's printed summary (one row per headline figure) and its JSON form."""

from __future__ import annotations

from typing import Any

import numpy as np


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value == 0:
            return "0"
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def table(results: dict) -> str:
    """The printed summary: one row per headline figure."""
    rows: list[tuple[str, str, str]] = []
    s = results["sections"]
    if "training" in s and "skipped" not in s["training"]:
        for stage, t in s["training"]["stages"].items():
            ex = t["examples_per_s"]
            rows.append(
                (
                    "training",
                    f"{stage}: examples/s raw / cache cold / warm",
                    f"{_fmt(ex['raw media'])} / {_fmt(ex['cache, cold'])} / {_fmt(ex['cache, warm'])}",
                )
            )
            rows.append(("training", f"{stage}: cache speed-up per epoch", _fmt(t["cache_speedup_per_epoch"])))
        rows.append(("training", "peak resident memory (MB)", _fmt(s["training"]["peak_rss_mb"])))
    if "decode" in s and "skipped" not in s["decode"]:
        d = s["decode"]
        rows.append(
            (
                "decode",
                f"step ms, generate (nanoemox / bare LM, {d['context_tokens']} tokens)",
                f"{_fmt(d['generate_step_ms']['nanoemox'])} / {_fmt(d['generate_step_ms']['bare_lm'])}",
            )
        )
        rows.append(("decode", "ratio generate (goal ~1.0)", _fmt(d["generate_ratio"])))
        rows.append(("decode", "ratio forward on KV cache", _fmt(d["forward_ratio"])))
        rows.append(("decode", "encoder calls per answer", _fmt(d["encoder_calls_per_answer"])))
        for k, v in d["per_step_python_us"].items():
            rows.append(("decode", f"per-step python: {k} (us)", _fmt(v)))
    if "prefill" in s and "skipped" not in s["prefill"]:
        p = s["prefill"]
        for dtype in ("float32", "bfloat16"):
            if dtype in p:
                for k, v in p[dtype]["ms"].items():
                    share = p[dtype]["share"].get(k)
                    extra = f" ({share:.0%})" if share is not None else ""
                    rows.append(("prefill", f"{k} ms, {dtype}", _fmt(v) + extra))
                rows.append(("prefill", f"glue ms (end to end - branches), {dtype}", _fmt(p[dtype]["glue_ms"])))
        for k, v in p["full_size_gflops"].items():
            rows.append(("prefill", f"full-size GFLOPs: {k}", _fmt(v)))
    if "tokens" in s and "skipped" not in s["tokens"]:
        for k, v in s["tokens"]["designs"].items():
            rows.append(("tokens", f"{k}: context", str(v["context_tokens"])))
            rows.append(
                (
                    "tokens",
                    f"{k}: LM prefill ms / x",
                    f"{_fmt(v['lm_prefill_ms_at_preset_size'])} / "
                    f"{_fmt(v['time_vs_nanoemox'])}x (FLOPs {_fmt(v['flops_vs_nanoemox'])}x)",
                )
            )
    if "batching" in s and "skipped" not in s["batching"]:
        for route in ("generate", "pipeline"):
            for b, v in s["batching"][route].items():
                if isinstance(v, dict):
                    rows.append(("batching", f"{route} clips/s at batch {b}", _fmt(v["clips_per_s"])))
    if "preprocessing" in s and "skipped" not in s["preprocessing"]:
        p = s["preprocessing"]
        for k, v in p["model_ms"].items():
            rows.append(("preprocessing", f"model {k} ms", _fmt(v)))
        for clip, v in p["clips"].items():
            for k, ms in v["ms"].items():
                rows.append(("preprocessing", f"{clip[:28]}: {k} ms", _fmt(ms)))
            rows.append(("preprocessing", f"{clip[:28]}: share of prefill", f"{v['share_of_prefill']:.0%}"))
        loader = p["loader"]
        if "workers" in loader:
            for w, v in loader["workers"].items():
                rows.append(
                    (
                        "preprocessing",
                        f"loader {w} workers: data / step ms",
                        f"{_fmt(v['data_ms_per_batch'])} / {_fmt(v['step_ms'])} (fed: {_fmt(v['keeps_model_fed'])})",
                    )
                )
    if "budget" in s and "skipped" not in s["budget"]:
        b = s["budget"]
        a = b["assumptions"]
        rows.append(
            (
                "budget",
                "assumed sustained TFLOPS",
                f"{_fmt(a['sustained_tflops'])} ({a['mfu']:.0%} of {_fmt(a['gpu_peak_tflops_bf16_dense'])})",
            )
        )
        for name, ph in b["phases"].items():
            rows.append(
                (
                    "budget",
                    f"{name}: h no cache / cache",
                    f"{_fmt(ph['hours']['no cache'])} / {_fmt(ph['hours']['cache'])}",
                )
            )
            rows.append(
                (
                    "budget",
                    f"{name}: peak GB (none / ckpt / ckpt+cache)",
                    " / ".join(_fmt(v) for v in ph["peak_gb"].values()),
                )
            )
        rows.append(
            (
                "budget",
                "total h no cache / cache (published 32 h)",
                f"{_fmt(b['total_hours']['no_cache_h'])} / {_fmt(b['total_hours']['cache_h'])}",
            )
        )
    for name, v in s.items():
        if isinstance(v, dict) and "skipped" in v:
            rows.append((name, "skipped", v["skipped"]))
    w0 = max([len(r[0]) for r in rows] + [7])
    w1 = max([len(r[1]) for r in rows] + [6])
    lines = [f"{'section':<{w0}}  {'metric':<{w1}}  value", "-" * (w0 + w1 + 30)]
    lines += [f"{a:<{w0}}  {b:<{w1}}  {c}" for a, b, c in rows]
    return "\n".join(lines)


def jsonable(value):
    """`value` with numpy scalars as Python numbers and every dict key a string (for `json.dumps`)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value
