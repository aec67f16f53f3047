"""Do a tiny `se1b train` and a tiny `se1b distill` still give the same weights, bit for bit? (issue 17)

Runs both on fixed fixture data (the tests' own writers) and prints the sha256 of each exported model.safetensors.
Run it on two commits and compare the lines, e.g. before and after a restructure:

    git worktree add /tmp/before 2b35670^          # the commit before the one-loop restructure
    PYTHONPATH=/tmp/before python bench/bit_identity.py --layout before-one-loop /tmp/bit-before
    PYTHONPATH=$PWD python bench/bit_identity.py /tmp/bit-now

The fixtures are always read from this checkout's tests/ folder, so both runs see the same data.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="a new folder for the runs")
    parser.add_argument("--layout", choices=["current", "before-one-loop"], default="current",
                        help="module layout of the checkout on PYTHONPATH (before-one-loop: commit 2b35670^)")
    args = parser.parse_args()
    sys.path.insert(0, str(TESTS))
    from parallel_fixtures import write_tsv
    from test_train import write_fixture_data

    from datasets_builders import build_source, publish

    if args.layout == "before-one-loop":
        from training.config import TrainConfig
        from training.distill import DistillConfig, distill
        from training.tiny import write_tiny_model
        from training.train import train
    else:
        from training.loop.config import TrainConfig
        from training.loop.distill import DistillConfig, distill
        from training.loop.train import train
        from training.model.tiny import write_tiny_model

    out = args.out
    paths = write_fixture_data(out)
    trained = train(TrainConfig(
        model="tiny-bert", data=str(paths["data"]), output_dir=str(out / "train"), batch_size=16, steps=12,
        learning_rate=1e-3, warmup_steps=2, max_seq_length=32, checkpoint_every=5, eval_sts=str(paths["sts"]),
        eval_every=6))
    raw = write_tsv(out / "en-de.tsv")
    publish(build_source("parallel_en_de", [raw], progress=False), out / "hub", progress=False)
    write_tiny_model(out / "teacher", "bert", seed=1)
    distilled = distill(DistillConfig(
        teacher=str(out / "teacher"), student="tiny-xlm-roberta",
        data=[{"path": str(out / "hub"), "config": "parallel_en_de", "split": "train"}],
        output_dir=str(out / "distill"), cache_dir=str(out / "cache"), batch_size=16, steps=12, learning_rate=3e-3,
        warmup_steps=2, weight_decay=0.0, max_seq_length=32, log_every=5, checkpoint_every=5,
        eval_translation=[str(out / "en-de.tsv")]))
    for name, model in (("train", trained), ("distill", distilled)):
        print(name, hashlib.sha256((Path(model) / "model.safetensors").read_bytes()).hexdigest())


if __name__ == "__main__":
    main()
