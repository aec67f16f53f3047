"""`se1b convert SRC OUT`: load a model into Flax and export it back as a sentence-transformers folder.

Useful to check a checkpoint loads (every weight is matched by name) and to turn a plain Hugging Face folder into
a sentence-transformers one (mean pooling, normalised).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from se1b.files import check_writable
from training.model.export import check_target, export_sentence_model
from training.model.sentence_model import load_sentence_model


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", type=Path, help="sentence-transformers or Hugging Face model folder")
    parser.add_argument("out", type=Path, help="folder to write the sentence-transformers model into")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists and is not empty")


def main(args: argparse.Namespace) -> int:
    check_target(args.out, args.overwrite)
    check_writable(args.out, folder=True)
    model = load_sentence_model(args.source)
    export_sentence_model(
        model.model,
        model.tokenizer,
        args.out,
        max_seq_length=model.max_seq_length,
        overwrite=args.overwrite,
        prompts=model.prompts,
    )
    print(f"wrote {args.out}")
    return 0
