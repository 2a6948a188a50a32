"""`nanoemox predict`: answer clips with a checkpoint, one clip as JSON or many into a JSONL file.

    nanoemox predict --model ckpt/ --video clip.mp4 --task mer --subtitle "I can't believe it"   # JSON on stdout
    nanoemox predict --model ckpt/ --subtitle "Thanks so much!" --task erg                      # text only
    nanoemox predict --model ckpt/ --input-dir clips/ --task mer --output answers.jsonl
    nanoemox predict --model ckpt/ --videos a.mp4 "b c.mp4" --task mir --output answers.jsonl --batch-size 8
    nanoemox predict --model ckpt/ --manifest rows.jsonl --output answers.jsonl   # a row per line: id, video, task...
    nanoemox predict --model ckpt/ --video clip.mp4 --explain   # + each branch's share in why this answer
    accelerate launch --config_file cpu_2proc.yaml -m nanoemox.cli predict --model ckpt/ --input-dir clips/ ...

Many clips (`--videos`, `--input-dir`, `--manifest`) go into `--output`, one JSON line per clip, written and flushed
as each batch finishes, with a progress bar; DataLoader workers (`--num-workers`) decode the next clips while the
model answers. A clip that cannot be used (missing, empty, corrupt, an audio file or a picture given as a video, a
URL) gets a line in `rejects.jsonl` beside the output, naming the file and what is wrong, and the run goes on.
Running the same command again skips the clips already answered, so an interrupted run resumes where it stopped
without losing a finished line; rejected clips are tried again. Under `accelerate launch` every process answers its
share of the clips, and the first one gathers the answers into `--output` in the order of the input.

Decoding follows the checkpoint's generation config (the paper's: sampling, top_p 0.9); `--greedy` makes answers
deterministic. A Multi-LoRA checkpoint answers each task with its adapter (`"adapter"` in the output). `--explain`
adds `attribution` (each branch's share of the drop in the answer's log-likelihood when it is masked: frame, face,
audio, fusion, subtitle) and `explanation` (the drops, the branches the clip lacks) to every answer; see
`nanoemox.modeling.attribution_nanoemox`.
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import os
import sys
from pathlib import Path

from nanoemox.cli_inputs import CLIError
from nanoemox.modeling.prompts_nanoemox import TASKS

logger = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".ts", ".3gp")
AUDIO_EXTENSIONS = (".wav", ".mp3", ".flac", ".m4a", ".aac", ".ogg", ".opus")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
DTYPES = ("float32", "bfloat16", "float16")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nanoemox predict", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="checkpoint folder or Hub id")
    one = parser.add_argument_group("one clip (printed as JSON)")
    one.add_argument("--video", help="video file (its audio track is the speech unless --audio is given)")
    one.add_argument("--audio", help="audio file")
    one.add_argument("--faces", help="face-track JSON for the video ([{'time': s, 'box': [x0, y0, x1, y1]}])")
    many = parser.add_argument_group("many clips (into --output)")
    many.add_argument("--videos", nargs="+", metavar="VIDEO", help="video files")
    many.add_argument("--input-dir", help="a folder of clips (searched recursively)")
    many.add_argument("--manifest", help="a JSONL file: one row per line (id, video, audio, subtitle, task, ...)")
    many.add_argument("--output", help="answers JSONL (default with many clips: answers.jsonl)")
    many.add_argument("--batch-size", type=int, default=8)
    many.add_argument("--num-workers", type=int, default=0, help="DataLoader processes decoding clips")
    parser.add_argument("--subtitle", help="what is said in the clip (every clip, with many)")
    parser.add_argument("--task", default="mer", choices=TASKS, help="the task (a manifest row's own task wins)")
    parser.add_argument("--max-new-tokens", type=int, default=None)
    parser.add_argument("--greedy", action="store_true", help="greedy decoding instead of sampling")
    parser.add_argument(
        "--explain", action="store_true", help="each branch's share in the answer (one extra batched forward per clip)"
    )
    parser.add_argument("--dtype", choices=DTYPES, default="float32")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (auto: cuda when there is one)")
    return parser


# ---------------------------------------------------------------------------------------------- the rows
def collect_rows(args) -> tuple[list[dict], list[dict]]:
    """(rows to answer, rejects found before any decoding) from --videos / --input-dir / --manifest."""
    rows, rejects = [], []
    common = {"task": args.task, **({"subtitle": args.subtitle} if args.subtitle else {})}
    for path in args.videos or []:
        reason = _not_a_clip(path)
        if reason:
            rejects.append({"id": path, "file": path, "error": reason})
        else:
            rows.append({"id": path, "video": path, **common})
    if args.input_dir:
        root = Path(args.input_dir)
        if not root.is_dir():
            raise CLIError(f"not a folder: {args.input_dir} (--input-dir)")
        skipped = 0
        for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")):
            suffix = path.suffix.lower()
            if suffix not in VIDEO_EXTENSIONS + AUDIO_EXTENSIONS + IMAGE_EXTENSIONS:
                skipped += 1
                continue
            name = str(path)
            reason = _not_a_clip(name)
            if reason:
                rejects.append({"id": name, "file": name, "error": reason})
            else:
                rows.append({"id": name, "video": name, **common})
        if skipped:
            logger.info("%s: %d files that are not clips (by their extension) were left alone", root, skipped)
    if args.manifest:
        rows_, rejects_ = read_manifest(Path(args.manifest), common)
        rows += rows_
        rejects += rejects_
    seen, unique = set(), []
    for row in rows:
        if row["id"] in seen:
            logger.warning("%s is listed twice; answered once", row["id"])
            continue
        seen.add(row["id"])
        unique.append(row)
    return unique, rejects


def _not_a_clip(path: str) -> str | None:
    """Why `path` cannot be a video clip, when that shows without decoding it (None otherwise)."""
    if path.startswith(("http://", "https://")):
        return "URLs are not read: download the file first and pass its path"
    p = Path(path)
    if p.is_dir():
        return "a folder, not a clip: pass folders with --input-dir"
    suffix = p.suffix.lower()
    if suffix in AUDIO_EXTENSIONS and p.exists():
        return "an audio file, not a video: pass it with --audio (or as a manifest row's 'audio')"
    if suffix in IMAGE_EXTENSIONS and p.exists():
        return "a still image, not a video: pass pictures as frames through the Python API (a list of PIL images)"
    return None  # missing, empty or corrupt files are found and named by the processor


def read_manifest(path: Path, common: dict) -> tuple[list[dict], list[dict]]:
    """Rows of a JSONL manifest (media paths relative to its folder), and a reject per line that is not a row."""
    rows, rejects = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            rejects.append({"id": f"line {number}", "file": str(path), "error": f"not JSON: {err}"})
            continue
        if not isinstance(row, dict):
            rejects.append({"id": f"line {number}", "file": str(path), "error": "a line must be a JSON object"})
            continue
        rows.append({**common, "id": str(row.get("id", f"line {number}")), **row, "_media_root": str(path.parent)})
    return rows, rejects


# ---------------------------------------------------------------------------------------------- resumable output
def finished_ids(output: Path) -> set[str]:
    """The ids already answered in `output` and in shard files of an interrupted multi-process run. A last line cut
    short by a kill is dropped (and the file truncated to its last whole line)."""
    done = set()
    for path in [output, *sorted(output.parent.glob(output.name + ".part*"))]:
        if path.exists():
            done |= {row["id"] for row in _whole_lines(path)}
    return done


def _whole_lines(path: Path) -> list[dict]:
    rows, good = [], 0
    with open(path, "rb") as f:
        data = f.read()
    for line in data.splitlines(keepends=True):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break
        good += len(line)
    if good < len(data):  # a partial last line (the process was killed while writing it)
        with open(path, "r+b") as f:
            f.truncate(good)
        if not data[:good].endswith(b"\n") and good:
            with open(path, "ab") as f:
                f.write(b"\n")
    return rows


def merge_shards(output: Path, order: list[str]) -> None:
    """Gather `output` and its shard files into `output`, one line per id, in the order of `order` (the input's)."""
    rows: dict[str, dict] = {}
    parts = sorted(output.parent.glob(output.name + ".part*"))
    for path in [output, *parts]:
        if path.exists():
            rows.update({row["id"]: row for row in _whole_lines(path)})
    position = {row_id: i for i, row_id in enumerate(order)}
    ordered = sorted(rows.values(), key=lambda r: (position.get(r["id"], len(position)), r["id"]))
    tmp = output.with_name(output.name + ".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ordered), encoding="utf-8")
    os.replace(tmp, output)
    for path in parts:
        path.unlink()


# ---------------------------------------------------------------------------------------------- main
def _load(args):
    import torch
    from transformers import AutoModelForCausalLM, AutoProcessor

    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    model = AutoModelForCausalLM.from_pretrained(args.model, trust_remote_code=True, dtype=getattr(torch, args.dtype))
    processor = AutoProcessor.from_pretrained(args.model, trust_remote_code=True)
    return model.to(device).eval(), processor


def predict_many(args) -> int:
    from nanoemox.evaluation.answering import answer_rows
    from nanoemox.machine import process_state

    state = process_state()
    output = Path(args.output or "answers.jsonl")
    output.parent.mkdir(parents=True, exist_ok=True)
    rejects_path = output.with_name("rejects.jsonl")
    rows, rejects = collect_rows(args)
    order = [r["id"] for r in rows]
    done = finished_ids(output) if state.is_main_process else set()
    done = _broadcast(state, done)
    todo = [r for r in rows if r["id"] not in done]
    if done:
        logger.info(
            "%d of %d clips were answered by an earlier run; answering the other %d",
            len(rows) - len(todo),
            len(rows),
            len(todo),
        )
    mine = todo[state.process_index :: state.num_processes]
    multi = state.num_processes > 1
    if multi:
        logger.info("process %d/%d answers %d of the clips", state.process_index + 1, state.num_processes, len(mine))
    answers_path = output.with_name(f"{output.name}.part{state.process_index}") if multi else output
    my_rejects = rejects_path.with_name(f"{rejects_path.name}.part{state.process_index}") if multi else rejects_path
    if multi and state.is_main_process:
        rejects_path.unlink(missing_ok=True)  # this run's rejects are gathered from the processes' shards
    model, processor = _load(args)
    if args.explain:
        from nanoemox.modeling.attribution_nanoemox import check_explainable

        try:
            check_explainable(model)
        except ValueError as err:
            raise CLIError(f"{args.model}: {err}") from None
    generate = {"do_sample": False} if args.greedy else {}
    if args.max_new_tokens:
        generate["max_new_tokens"] = args.max_new_tokens
    answered = 0
    with open(answers_path, "a", encoding="utf-8") as out, open(my_rejects, "w", encoding="utf-8") as bad:
        if state.is_main_process:
            for reject in rejects:
                _write(bad, reject)
        for answer in answer_rows(
            model,
            processor,
            mine,
            batch_size=args.batch_size,
            num_workers=args.num_workers,
            progress=f"answering ({state.process_index + 1}/{state.num_processes})" if multi else "answering",
            explain=args.explain,
            **generate,
        ):
            row = mine[answer.index]
            if answer.error is not None:
                _write(
                    bad, {"id": row["id"], "file": row.get("video") or row.get("audio"), "error": answer.error.reason}
                )
                continue
            _write(out, {**answer.to_dict(), "id": row["id"], "file": row.get("video") or row.get("audio")})
            answered += 1
    state.wait_for_everyone()
    answered = _gathered(state, answered)  # a collective: every process takes part
    if state.is_main_process:
        if multi:
            merge_shards(output, order)
            merge_shards(rejects_path, [r["id"] for r in rejects] + order)
        total_rejects = sum(1 for _ in open(rejects_path, encoding="utf-8")) if rejects_path.exists() else 0
        logger.info(
            "%s: %d clips answered (%d by earlier runs); %d rejected, listed in %s",
            output,
            len(rows) - len(todo) + answered,
            len(rows) - len(todo),
            total_rejects,
            rejects_path,
        )
    return 0


def _write(file, row: dict) -> None:
    file.write(json.dumps(row, ensure_ascii=False) + "\n")
    file.flush()


def _broadcast(state, value):
    if state.num_processes == 1:
        return value
    from accelerate.utils import broadcast_object_list

    box = [value]
    broadcast_object_list(box, from_process=0)
    return box[0]


def _gathered(state, count: int) -> int:
    if state.num_processes == 1:
        return count
    from accelerate.utils import gather_object

    return sum(gather_object([count]))


def predict_one(args) -> int:
    from transformers import pipeline

    model, processor = _load(args)
    analyse = pipeline(task="emotion-analysis", model=model, processor=processor)
    kwargs = {"task": args.task}
    if args.max_new_tokens:
        kwargs["max_new_tokens"] = args.max_new_tokens
    if args.greedy:
        kwargs["do_sample"] = False
    if args.explain:
        if "explain" not in inspect.signature(type(analyse)._sanitize_parameters).parameters:
            raise CLIError(
                f"{args.model}: this checkpoint's code predates --explain; refresh it with the installed package: "
                "NanoEmoXForConditionalGeneration.from_pretrained(old).save_pretrained(new)"
            )
        kwargs["explain"] = True
    sample = {"video": args.video, "audio": args.audio, "subtitle": args.subtitle, "faces": args.faces}
    result = analyse({k: v for k, v in sample.items() if v is not None}, **kwargs)
    json.dump(result, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    many = args.videos or args.input_dir or args.manifest
    if many and (args.video or args.audio or args.faces):
        raise CLIError("give one clip (--video/--audio/--faces) or many (--videos/--input-dir/--manifest), not both")
    if many or args.output:
        if not many:
            raise CLIError("--output collects many clips: give --videos, --input-dir or --manifest")
        return predict_many(args)
    if not (args.video or args.audio or args.subtitle):
        raise CLIError("give --video, --audio or --subtitle (or many clips: --videos, --input-dir, --manifest)")
    return predict_one(args)
