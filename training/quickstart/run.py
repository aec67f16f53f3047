"""`se1b quickstart`: the whole pipeline on small data, offline, in a few minutes on a laptop CPU.

1. builds three sources from the raw files the project ships (training/quickstart/data, each in its source's real
   format) and publishes them as one Hub-format dataset folder with a config per source and a dataset card;
2. trains from the packaged all-MiniLM-L6-v2 weights (or `--base tiny-bert`, a tiny random model) with the
   streaming weighted mix of those sources and MultipleNegativesRankingLoss;
3. evaluates on a held-out STS file before and after training, exports a sentence-transformers folder with its
   generated model card, and prints how to open the demo and push each artefact.

    se1b quickstart                                  # -> quickstart_output/{datasets,run}
    se1b quickstart --base tiny-bert --steps 40      # faster, from a tiny random model
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from se1b.errors import UserError
from training.quickstart.synthetic import DATA_DIR

# (catalogued source, raw file shipped in training/quickstart/data, weight in the mix)
QUICKSTART_SOURCES = [
    ("sentence_compression", "sentence_compression.jsonl.gz", 5),
    ("quora_duplicates_triplets", "quora_duplicates_triplets.jsonl.gz", 3),
    ("reddit", "reddit.jsonl.gz", 2),
]
STS_FILE = DATA_DIR / "sts.tsv"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("quickstart_output"),
                        help="folder for the dataset, the run and the exported model (default: quickstart_output)")
    parser.add_argument("--base", default=None,
                        help="base model: a model folder or tiny-bert (default: the packaged all-MiniLM-L6-v2)")
    parser.add_argument("--steps", type=int, default=60, help="optimizer steps (default 60)")
    parser.add_argument("--batch-size", type=int, default=32, help="pairs per step (default 32)")
    parser.add_argument("--learning-rate", type=float, default=None,
                        help="default: 2e-5 from all-MiniLM-L6-v2, 1e-3 from a tiny random model")
    parser.add_argument("--max-seq-length", type=int, default=64, help="tokens per text (default 64)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")


def build_datasets(out: Path) -> Path:
    """Build and publish the quickstart sources into one dataset repo folder; returns the folder."""
    from datasets_builders import build_source
    from datasets_builders.publish import publish

    builds = []
    for name, raw_file, _ in QUICKSTART_SOURCES:
        build = build_source(name, [DATA_DIR / raw_file])
        stats = build.stats
        print(f"  {name}: {stats.pairs_written:,} pairs from {raw_file}")
        builds.append(build)
    return publish(builds, out / "datasets" / "se1b-quickstart-pairs", pretty_name="se1b quickstart pairs")


def sts_history(run_dir: Path) -> list[tuple[int, float]]:
    """(step, STS Spearman) pairs the trainer logged, the base model's at step 0 first."""
    from model_cards.metadata import read_metrics

    rows = read_metrics(run_dir / "metrics.jsonl")
    return [(row["step"], row["eval/sts/spearman"]) for row in rows if "eval/sts/spearman" in row]


def add_bias_evaluation(model_dir: Path) -> None:
    """Run the gender-bias evaluation on the exported model, record it in run_metadata.json, regenerate the card."""
    from model_cards.metadata import METADATA_FILE, RunMetadata
    from model_cards.model_card import write_model_card
    from training.evaluation.evaluate import evaluate_model, load_encoder

    metadata = RunMetadata.load(model_dir / METADATA_FILE)
    metadata.evaluations += evaluate_model(load_encoder(str(model_dir), "flax"), bias=True)
    metadata.save(model_dir / METADATA_FILE)
    write_model_card(model_dir)


def main(args: argparse.Namespace) -> int:
    from training.loop.config import TrainConfig
    from training.loop.train import train
    from training.model.tiny import minilm_folder

    out: Path = args.out
    if out.exists() and any(out.iterdir()):
        if not args.overwrite:
            raise UserError(f"{out} exists and is not empty; pass --overwrite to replace it, or --out elsewhere")
        shutil.rmtree(out)
    base = args.base or str(minilm_folder())
    from_tiny = base.startswith("tiny-")
    learning_rate = args.learning_rate or (1e-3 if from_tiny else 2e-5)

    print("[1/3] building and publishing the quickstart sources")
    dataset_dir = build_datasets(out)
    data_config = {
        "sources": [{"name": name, "path": str(dataset_dir.resolve()), "config": name, "split": "train",
                     "weight": weight} for name, _, weight in QUICKSTART_SOURCES],
        "batch_composition": "single_source",
        "shuffle_window": 1000,
    }

    start = "a tiny random model" if from_tiny else "all-MiniLM-L6-v2" if args.base is None else base
    print(f"[2/3] training from {start} for {args.steps} steps")
    config = TrainConfig(
        model=base, data=data_config, output_dir=str(out / "run"), batch_size=args.batch_size, steps=args.steps,
        learning_rate=learning_rate, warmup_steps=max(1, args.steps // 10), max_seq_length=args.max_seq_length,
        eval_sts=str(STS_FILE), eval_every=0, checkpoint_every=args.steps, log_every=5,
        model_name="se1b-quickstart", model_kind="general",
    ).validate()
    model_dir = train(config)

    print("[3/3] evaluating the exported model (gender bias) and writing its card")
    add_bias_evaluation(model_dir)
    history = sts_history(out / "run")
    (first_step, before), (last_step, after) = history[0], history[-1]
    print(f"  STS Spearman on {STS_FILE.name} (held-out): {before:.4f} at step {first_step} -> "
          f"{after:.4f} at step {last_step}")
    print(f"  dataset: {dataset_dir}\n  model:   {model_dir} (model card: {model_dir / 'README.md'})")
    print("\nNext:")
    print(f"  se1b demo --models {model_dir}")
    print(f"  se1b eval {model_dir} --sts {STS_FILE} --bias")
    print(f"  se1b push dataset {dataset_dir} --repo-id YOUR_NAME/se1b-quickstart-pairs --dry-run")
    print(f"  se1b push model {model_dir} --repo-id YOUR_NAME/se1b-quickstart --dry-run")
    print("  se1b push space spaces_demo --repo-id YOUR_NAME/se1b-demo --dry-run")
    return 0
