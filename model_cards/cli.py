"""`se1b card MODEL_DIR`: regenerate a model's README.md from its saved run metadata (run_metadata.json) and
metrics.jsonl, optionally adding the results of `se1b eval --output results.json` first."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from model_cards.metadata import METADATA_FILE, Evaluation, RunMetadata
from model_cards.model_card import write_model_card
from se1b.errors import UserError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_dir", type=Path, help=f"exported model folder holding {METADATA_FILE}")
    parser.add_argument("--evaluations", type=Path, metavar="RESULTS_JSON",
                        help="add the results of `se1b eval --output` to the run metadata before writing the card")


def main(args: argparse.Namespace) -> int:
    metadata = RunMetadata.load(args.model_dir / METADATA_FILE)
    if args.evaluations is not None:
        metadata.evaluations.extend(read_evaluations(args.evaluations))
        metadata.save(args.model_dir / METADATA_FILE)
    readme = write_model_card(args.model_dir, metadata)
    print(f"wrote {readme}")
    return 0


def read_evaluations(path: Path) -> list[Evaluation]:
    """The evaluations of an `se1b eval --output` file."""
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        return [Evaluation(**row) for row in payload["evaluations"]]
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise UserError(f"{path}: not an `se1b eval --output` results file ({error})") from None
