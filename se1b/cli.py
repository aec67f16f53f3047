"""The `se1b` command line.

Each subcommand lives in the module that owns its work; that module exposes
`configure(parser)` (adds its arguments) and `main(args) -> int`. Modules are imported only
for the subcommand that runs, so `se1b --help` answers at once instead of importing jax and torch.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from se1b.errors import Interrupted, UserError
from se1b.safety import redact

# (name, module, one-line help). Other tools call these names: keep them stable.
COMMANDS: list[tuple[str, str, str]] = [
    ("data", "datasets_builders.cli", "list, build, publish pair datasets (Hub Parquet + card); mine negatives"),
    ("train", "training.loop.train", "train a sentence embedding model (one loop; MNRL by default)"),
    ("distill", "training.loop.distill", "multilingual distillation: a student learns a teacher's embeddings"),
    ("export", "training.loop.export_run", "export a training checkpoint to a sentence-transformers folder"),
    ("convert", "training.model.convert", "load a model into Flax, export it back as a sentence-transformers folder"),
    ("encode", "training.model.encode", "embed the lines of a text file with the Flax encoder"),
    ("eval", "training.evaluation.evaluate", "evaluate a model: STS, retrieval, gender bias"),
    ("card", "model_cards.cli", "regenerate a model card from a run's saved metadata"),
    ("demo", "spaces_demo.launch", "launch the Gradio Space locally"),
    ("push", "training.publish.push", "push a dataset, model or Space folder to the Hugging Face Hub"),
    ("quickstart", "training.quickstart.run", "train on local stdlib code pairs, evaluate, export, card; offline"),
]


# Subcommands that live in a higher layer than their command's module: (command, subcommand, module, help). The
# command's `configure` returns its subparsers; the subcommand's module is imported only when it runs.
SUBCOMMANDS: list[tuple[str, str, str, str]] = [
    ("data", "mine-negatives", "training.data.mine_negatives",
     "mine hard negatives for a pair config with a model; publish them as a triplet config"),
]


def build_parser(command: str | None = None, argv: list[str] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="se1b",
        description="Sentence embeddings from a billion pairs: data builders, Flax trainer, export, cards, demo.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name, help_text in COMMANDS:
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        if name == command:
            actions = importlib.import_module(module_name).configure(sub)
            for parent, subcommand, sub_module, sub_help in SUBCOMMANDS:
                if parent == name:
                    extra = actions.add_parser(subcommand, help=sub_help, description=sub_help)
                    extra.set_defaults(handler=sub_module)
                    if subcommand in argv:
                        importlib.import_module(sub_module).configure(extra)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    names = {name: module for name, module, _ in COMMANDS}
    command = next((a for a in argv if not a.startswith("-")), None)
    command = command if command in names else None
    args = build_parser(command, argv).parse_args(argv)
    try:
        status = int(importlib.import_module(getattr(args, "handler", None) or names[args.command]).main(args) or 0)
        sys.stdout.flush()  # here, not at exit: a reader that has gone (`se1b data list | head`) is handled below
        return status
    except BrokenPipeError:
        # The reader closed the pipe: stop quietly, as `ls | head` does (141 = 128 + SIGPIPE, a shell's status for
        # it); stdout goes to /dev/null so that the interpreter's own flush at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except UserError as error:
        print(f"se1b {args.command}: error: {redact(str(error))}", file=sys.stderr)
        return 2
    except Interrupted as interrupted:
        print(f"se1b {args.command}: {interrupted}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"se1b {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
