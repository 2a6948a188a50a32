"""The `nanoemox` console script: one entry point, one subcommand per job.

    nanoemox init --preset tiny --output ckpt/          # compose a checkpoint (see nanoemox.compose)
    nanoemox data convert --format mer2023 ...          # benchmark annotations -> dataset schema
    nanoemox data demo --output demo/                   # the embedded demo corpus
    nanoemox data demo-report --run run/ --data demo/   # a demo run's accuracy per branch and deciding modality
    nanoemox data demo-measure attribution --model ckpt/ --data demo/ --output a.json   # (or: scoring)
    nanoemox predict --model ckpt/ --video clip.mp4     # one answer as JSON
    nanoemox timeline long.mp4 --model ckpt/ --output t/  # a long video's emotion over time: JSON, WebVTT, PNG
    nanoemox app --model ckpt/                          # the web demo (pip install "nanoemox[app]")
    nanoemox evaluate --task mer --predictions p.jsonl  # score predictions
    nanoemox train --config train/configs/demo.yaml     # the P2E curriculum
    nanoemox answers --run runs/demo/train              # a trained run's held-out answers beside the gold labels
    nanoemox ablate --config demo --variants mlp egmf   # variants through one curriculum, one table
    nanoemox card --model ckpt/                         # write the model card
    nanoemox bench --preset tiny                        # the benchmark suite
    nanoemox --version;  nanoemox --debug COMMAND ...   # the package version; tracebacks instead of one-line errors

Each subcommand lives in its own module with a `main(argv=None)`; this file only dispatches, and imports a module
only when its subcommand runs (so `nanoemox --help` is fast and never imports torch). Before it does, the paths the
command was given are checked (`nanoemox.cli_inputs`), so a missing file or checkpoint folder is reported before
any model loads. Bad input (`CLIError`, `ValueError`, `FileNotFoundError`, `OSError`, `ImportError`) is one line
on stderr and a non-zero exit; `--debug`, before or after the command name, shows the traceback as well. A
subcommand's own `SystemExit` (argparse's usage errors, `raise SystemExit("nanoemox x: ...")`) passes through.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import sys
import traceback
from dataclasses import dataclass, field

from nanoemox.cli_inputs import CHECKPOINT, FILE, FILE_OR_FOLDER, FOLDER, CLIError, check_options

EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
HANDLED = (CLIError, ValueError, OSError, ImportError)  # FileNotFoundError is an OSError


@dataclass(frozen=True)
class Command:
    """A subcommand: its module (with `main(argv)`), one line of help, its path options ({option: kind}) and
    whether it runs torch (True, False, or the option whose presence means it does)."""

    module: str
    help: str
    paths: dict[str, str] = field(default_factory=dict)
    torch: bool | str = False


COMMANDS = {
    "init": Command(
        "nanoemox.compose",
        "compose a checkpoint folder from pretrained components, or tiny ones (--preset tiny)",
        {"--vision": CHECKPOINT, "--audio": CHECKPOINT, "--face": CHECKPOINT, "--lm": CHECKPOINT},
        torch=True,
    ),
    "predict": Command(
        "nanoemox.predict",
        "answer one clip (JSON on stdout) or many (--videos/--input-dir/--manifest into a resumable JSONL)",
        {
            "--model": CHECKPOINT,
            "--video": FILE,
            "--audio": FILE,
            "--faces": FILE,
            "--input-dir": FOLDER,
            "--manifest": FILE,
        },
        torch=True,
    ),
    "timeline": Command(
        "nanoemox.timeline.cli",
        "a long video's answers over time, window by window: timeline.json, .vtt and .png",
        {"--model": CHECKPOINT},
        torch=True,
    ),
    "app": Command(
        "nanoemox.app", "the web demo (Gradio): upload or record a clip, see the answer", {"--model": CHECKPOINT}, True
    ),
    "evaluate": Command(
        "nanoemox.evaluation.cli",
        "score a predictions file, or a checkpoint on a dataset (--model --data)",
        {"--predictions": FILE, "--data": FOLDER, "--model": CHECKPOINT, "--wheels": FOLDER},
        torch="--model",
    ),
    "train": Command(
        "nanoemox.train.cli", "run a P2E curriculum (a YAML file or a preset), stage by stage", torch=True
    ),
    "answers": Command(
        "nanoemox.answers", "show a trained run's held-out answers beside their gold labels", {"--run": FOLDER}
    ),
    "ablate": Command(
        "nanoemox.train.ablate", "train design variants through one curriculum and tabulate them", torch=True
    ),
    "card": Command("nanoemox.model_cards.render", "write a checkpoint's model card (README.md)", {"--model": FOLDER}),
    "results": Command(
        "nanoemox.results",
        "record a run's measured results with their provenance; render docs/results.md from results/*.json",
        {"--run": FOLDER},
    ),
    "bench": Command(
        "nanoemox.bench.cli",
        "the benchmark suite: decode, prefill, tokens, batching, preprocessing, throughput, faces, budget, training",
        {"--video": FILE},
        True,
    ),
}
DATA_COMMANDS = {
    "convert": Command(
        "nanoemox.processing.convert",
        "convert a benchmark's annotations to the dataset schema",
        {"--input": FILE_OR_FOLDER, "--media-root": FOLDER},
    ),
    "demo": Command("nanoemox.processing.demo_corpus", "generate the embedded demo corpus (synthetic clips)"),
    "demo-report": Command(
        "nanoemox.processing.demo_report",
        "a demo run's held-out accuracy per masked branch and deciding modality",
        {"--run": FOLDER, "--data": FOLDER},
    ),
    "demo-measure": Command(
        "nanoemox.evaluation.demo_measure",
        "a checkpoint on the demo corpus: attribution vs deciding modality, or generate vs likelihood scoring",
        {"--model": FOLDER, "--data": FOLDER},
        torch=True,
    ),
}


def _listing(commands: dict[str, Command]) -> str:
    width = max(map(len, commands))
    return "\n".join(f"  {name:<{width}}  {command.help}" for name, command in commands.items())


def usage() -> str:
    """What `nanoemox --help` prints: the commands, one line each."""
    data = Command("", "make datasets: convert, demo, demo-report, demo-measure (nanoemox data --help)")
    commands = {**COMMANDS, "data": data}
    return (
        "usage: nanoemox [--debug] COMMAND [options]     (nanoemox COMMAND --help for a command's options)\n\n"
        f"commands:\n{_listing(commands)}\n\n"
        "  --version  print the version      --debug  show tracebacks instead of one-line errors\n"
    )


def data_usage() -> str:
    """What `nanoemox data --help` prints."""
    head = "usage: nanoemox data COMMAND [options]     (nanoemox data COMMAND --help)"
    return f"{head}\n\ncommands:\n{_listing(DATA_COMMANDS)}\n"


def version() -> str:
    return importlib.metadata.version("nanoemox")


def _runs_torch(command: Command, argv: list[str]) -> bool:
    if isinstance(command.torch, str):
        return any(a == command.torch or a.startswith(command.torch + "=") for a in argv)
    return command.torch


def _resolve(argv: list[str]) -> tuple[str, Command | None, list[str], int | None]:
    """(name, command, its arguments, None), or (name, None, [], exit status) when this file answers itself."""
    if not argv or argv[0] in ("-h", "--help"):
        print(usage(), end="")
        return "", None, [], 0
    if argv[0] == "--version":
        print(f"nanoemox {version()}")
        return "", None, [], 0
    name, rest = argv[0], argv[1:]
    if name == "data":
        if not rest or rest[0] in ("-h", "--help"):
            print(data_usage(), end="", file=sys.stdout if rest else sys.stderr)
            return "data", None, [], 0 if rest else EXIT_USAGE
        if rest[0] not in DATA_COMMANDS:
            raise CLIError(f"unknown data command {rest[0]!r}; choose from {', '.join(DATA_COMMANDS)}")
        return f"data {rest[0]}", DATA_COMMANDS[rest[0]], rest[1:], None
    if name not in COMMANDS:
        raise CLIError(f"unknown command {name!r}; choose from {', '.join([*COMMANDS, 'data'])} (nanoemox --help)")
    return name, COMMANDS[name], rest, None


def _run(name: str, command: Command, argv: list[str]) -> int:
    check_options(argv, command.paths)
    module = importlib.import_module(command.module)
    wants_help = "-h" in argv or "--help" in argv
    if not wants_help and (_runs_torch(command, argv) or "torch" in sys.modules):
        from nanoemox.machine import use_available_cores

        use_available_cores()
    status = int(module.main(argv) or 0)
    from nanoemox.machine import leave_process_group

    leave_process_group()  # under `accelerate launch`: a clean exit for every process
    return status


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    end = argv.index("--") if "--" in argv else len(argv)
    debug = "--debug" in argv[:end]
    argv = [a for i, a in enumerate(argv) if i >= end or a != "--debug"]
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if debug:
        logging.getLogger("nanoemox").setLevel(logging.DEBUG)
    name = ""
    try:
        name, command, rest, status = _resolve(argv)
        if command is None:
            return status
        return _run(name, command, rest)
    except HANDLED as err:
        if debug:
            traceback.print_exc()
        message = " ".join(str(err).split()) or type(err).__name__
        if not isinstance(err, (CLIError, ValueError, FileNotFoundError)):
            message = f"{type(err).__name__}: {message}"
        hint = "" if debug or isinstance(err, CLIError) else "  (--debug shows the traceback)"
        print(f"nanoemox{' ' + name if name else ''}: {message}{hint}", file=sys.stderr)
        return EXIT_USAGE if isinstance(err, CLIError) else EXIT_ERROR
    except KeyboardInterrupt:
        if debug:
            traceback.print_exc()
        print(f"nanoemox{' ' + name if name else ''}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
