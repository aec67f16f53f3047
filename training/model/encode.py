"""`se1b encode MODEL --input texts.txt --output emb.npy`: embed each line of a UTF-8 text file with the Flax
encoder. Texts are batched in order of token count and padded to 8-token bucket lengths, so batches pad little and jit
compiles a bounded set of shapes."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from se1b.errors import UserError
from se1b.files import check_writable, write_output
from training.model.sentence_model import load_sentence_model


def read_lines(path: Path) -> list[str]:
    """The lines of a UTF-8 text file, without line endings; errors name the file and line."""
    if not path.is_file():
        raise UserError(f"input file {path} not found")
    texts = []
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                texts.append(raw.decode("utf-8").rstrip("\r\n"))
            except UnicodeDecodeError as error:
                raise UserError(f"{path}:{number}: not valid UTF-8 ({error.reason})") from error
    if not texts:
        raise UserError(f"input file {path} is empty: nothing to encode")
    return texts


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, help="sentence-transformers or Hugging Face model folder")
    parser.add_argument("--input", type=Path, required=True, help="UTF-8 text file, one text per line")
    parser.add_argument("--output", type=Path, required=True, help="where to save the embeddings (.npy)")
    parser.add_argument("--batch-size", type=int, default=64, help="texts per forward pass (default 64)")


def main(args: argparse.Namespace) -> int:
    if args.batch_size < 1:
        raise UserError(f"--batch-size must be at least 1, got {args.batch_size}")
    # numpy appends .npy to a name without it: name the file that is really written
    output = args.output if args.output.suffix == ".npy" else args.output.with_name(args.output.name + ".npy")
    if args.output.is_dir():
        raise UserError(f"--output {args.output} is a folder; give a file such as {args.output / 'embeddings.npy'}")
    check_writable(output)
    texts = read_lines(args.input)
    model = load_sentence_model(args.model)
    embeddings = model.encode(texts, batch_size=args.batch_size, show_progress_bar=True)
    write_output(output, lambda path: np.save(path, embeddings), size=embeddings.nbytes + 128)
    print(f"wrote {embeddings.shape[0]} embeddings of dimension {embeddings.shape[1]} to {output}")
    return 0
