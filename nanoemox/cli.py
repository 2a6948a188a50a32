"""The `nanoemox` console script: one entry point, one subcommand per job.

    nanoemox init --preset tiny --output ckpt/          # compose a checkpoint (see nanoemox.compose)
    nanoemox data convert --format mer2023 ...          # benchmark annotations -> dataset schema
    nanoemox data demo --output demo/                   # the embedded demo corpus
    nanoemox data demo-report --run run/ --data demo/   # a demo run's accuracy per branch and deciding modality
    nanoemox predict --model ckpt/ --video clip.mp4     # one answer as JSON
    nanoemox evaluate --task mer --predictions p.jsonl  # score predictions
    nanoemox train --config train/configs/demo.yaml     # the P2E curriculum
    nanoemox ablate --config demo --variants mlp egmf   # variants through one curriculum, one table
    nanoemox card --model ckpt/                         # write the model card
    nanoemox bench --preset tiny                        # the benchmark suite

Each subcommand lives in its own module with a `main(argv=None)`; this file only dispatches, and
imports a module only when its subcommand runs (so `nanoemox --help` is fast).
"""

from __future__ import annotations

import importlib
import logging
import sys

# name -> module with main(argv); "data" has its own sub-subcommands
COMMANDS = {
    "init": "nanoemox.compose",
    "predict": "nanoemox.predict",
    "evaluate": "nanoemox.evaluation.cli",
    "train": "nanoemox.train.cli",
    "ablate": "nanoemox.train.ablate",
    "card": "nanoemox.model_cards.render",
    "bench": "nanoemox.bench.cli",
}
DATA_COMMANDS = {
    "convert": "nanoemox.processing.convert",
    "demo": "nanoemox.processing.demo_corpus",
    "demo-report": "nanoemox.processing.demo_report",
}


def _usage() -> str:
    names = sorted([*COMMANDS, "data"])
    return "usage: nanoemox {" + ",".join(names) + "} [options]   (nanoemox COMMAND --help for details)"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    command, rest = argv[0], argv[1:]
    if command == "data":
        if not rest or rest[0] not in DATA_COMMANDS:
            print("usage: nanoemox data {" + ",".join(DATA_COMMANDS) + "} [options]", file=sys.stderr)
            return 2
        module_name, rest = DATA_COMMANDS[rest[0]], rest[1:]
    elif command in COMMANDS:
        module_name = COMMANDS[command]
    else:
        print(f"nanoemox: unknown command {command!r}\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(module_name)
    result = module.main(rest)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
