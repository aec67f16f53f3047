"""`se1b quickstart`: the whole pipeline on real data every machine has, offline, in a few minutes on a laptop CPU.

1. mines (docstring, code) pairs from the local Python standard library with the CodeSearchNet miner (whole modules
   held out by a hash of their path), builds and publishes them as a Hub-format dataset folder with its card;
2. trains from the packaged all-MiniLM-L6-v2 weights (or `--base tiny-bert`, a tiny random model) with
   MultipleNegativesRankingLoss, gently by default (few steps, low learning rate), so that the model learns the
   code-search domain without getting worse on public benchmarks (BENCHMARKS.md, "Quickstart", measures STSb dev);
3. scores the base and the trained model on the held-out modules (in-domain retrieval) and, with `--sts FILE`, on a
   public STS benchmark file, exports a sentence-transformers folder with its card, and prints what to run next.

    se1b quickstart                                  # -> quickstart_output/{datasets,run}
    se1b quickstart --sts stsbenchmark/dev.tsv       # also check a public benchmark before and after
    se1b quickstart --base tiny-bert --steps 40      # faster, from a tiny random model
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from se1b.errors import UserError
from se1b.files import check_output_folder
from se1b.safety import check_not_broad

if TYPE_CHECKING:
    from training.quickstart.stdlib_pairs import StdlibData

DATASET_NAME = "se1b-quickstart-python-stdlib"
DEFAULT_STEPS = 30
DEFAULT_LEARNING_RATE = 5e-6  # from all-MiniLM-L6-v2; a tiny random model gets 1e-3
RETRIEVAL_METRIC = "ndcg@10"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("quickstart_output"),
                        help="folder for the dataset, the run and the exported model (default: quickstart_output)")
    parser.add_argument("--base", default=None,
                        help="base model: a model folder or tiny-bert (default: the packaged all-MiniLM-L6-v2)")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS, help=f"optimizer steps (default {DEFAULT_STEPS})")
    parser.add_argument("--batch-size", type=int, default=32, help="pairs per step (default 32)")
    parser.add_argument("--learning-rate", type=float, default=None,
                        help=f"default: {DEFAULT_LEARNING_RATE:g} from all-MiniLM-L6-v2, 1e-3 from a tiny model")
    parser.add_argument("--sts", type=Path, default=None,
                        help="a public STS benchmark file (sentence1, sentence2, score TSV, e.g. STSb dev) scored "
                             "before and after training, to check the model did not get worse outside the domain")
    parser.add_argument("--stdlib", type=Path, default=None,
                        help="the Python source folder to mine (default: this Python's standard library)")
    parser.add_argument("--max-seq-length", type=int, default=64,
                        help="tokens per text in training (default 64); the model is exported with the base "
                             "model's max_seq_length (all-MiniLM-L6-v2: 256)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    parser.add_argument("--backends", nargs="*", metavar="BACKEND", default=None,
                        help="ONNX / OpenVINO copies to export beside the weights (onnx, openvino; default: those "
                             "whose packages are installed, `pip install 'se1b[backends]'`; `--backends` alone: none)")


def build_datasets(out: Path, stdlib: Path | None) -> tuple[Path, StdlibData]:
    """Mine the standard library, build and publish the training pairs; returns (dataset folder, StdlibData)."""
    from datasets_builders import build_source
    from datasets_builders.publishing import publish
    from training.quickstart.stdlib_pairs import SOURCE, mine_stdlib

    data = mine_stdlib(out, stdlib)
    if not data.train_functions or not data.heldout_queries:
        raise UserError(f"{stdlib or 'the standard library'}: too few documented Python functions to train and "
                        f"evaluate on ({data.train_functions} for training, {data.heldout_queries} held out)")
    skipped = f", {sum(data.skipped.values())} unreadable files skipped" if data.skipped else ""
    print(f"  {data.train_functions:,} documented functions in the training modules, {data.heldout_queries:,} "
          f"held-out queries{skipped}")
    build = build_source(SOURCE, [data.train_file], dedupe=True)
    print(f"  {build.stats.summary()}")
    folder = publish(build, out / "datasets" / DATASET_NAME, pretty_name="Python standard library (docstring, code)",
                     default_config=SOURCE)
    return folder, data


def sts_history(run_dir: Path) -> list[tuple[int, float]]:
    """(step, STS Spearman) pairs the trainer logged, the base model's at step 0 first."""
    from model_cards.metadata import read_metrics

    rows = read_metrics(run_dir / "metrics.jsonl")
    return [(row["step"], row["eval/sts/spearman"]) for row in rows if "eval/sts/spearman" in row]


def heldout_scores(base: Path, model_dir: Path, heldout: Path, steps: int) -> tuple[dict, dict]:
    """In-domain retrieval metrics of the base and the trained model on the held-out modules, recorded (base at
    step 0, trained at the last step) in the model's run_metadata.json for its card."""
    from model_cards.metadata import METADATA_FILE, Evaluation, RunMetadata
    from training.evaluation.evaluate import load_encoder
    from training.evaluation.retrieval import evaluate_retrieval, load_beir
    from training.quickstart.stdlib_pairs import HELDOUT_LABEL, HELDOUT_NAME

    data = load_beir(heldout, "test")
    before = evaluate_retrieval(load_encoder(str(base), "flax"), data)
    after = evaluate_retrieval(load_encoder(str(model_dir), "flax"), data)
    metadata = RunMetadata.load(model_dir / METADATA_FILE)
    metadata.evaluations += [
        Evaluation(task="retrieval", dataset=HELDOUT_NAME, dataset_name=HELDOUT_LABEL, split="test", step=step,
                   metrics=metrics)
        for step, metrics in ((0, before), (steps, after))
    ]
    metadata.save(model_dir / METADATA_FILE)
    return before, after


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
    check_output_folder(out)
    check_not_broad(out, "--out")
    if out.exists() and any(out.iterdir()):
        if not args.overwrite:
            raise UserError(f"{out} exists and is not empty; pass --overwrite to replace it, or --out elsewhere")
        shutil.rmtree(out)
    if args.sts is not None and not args.sts.is_file():
        raise UserError(f"--sts {args.sts}: no such file")
    if args.stdlib is not None and not args.stdlib.is_dir():
        raise UserError(f"--stdlib {args.stdlib}: no such folder")
    from training.model.backends import BACKENDS, missing_packages

    backends = args.backends
    if backends is None:
        backends = [name for name in BACKENDS if not missing_packages([name])]
        if len(backends) < len(BACKENDS):
            print(f"not exporting {', '.join(sorted(set(BACKENDS) - set(backends)))}: needs "
                  f"{', '.join(missing_packages(BACKENDS))} (pip install 'se1b[backends]')")
    base = args.base or str(minilm_folder())
    from_tiny = base.startswith("tiny-")
    learning_rate = args.learning_rate or (1e-3 if from_tiny else DEFAULT_LEARNING_RATE)

    print(f"[1/3] mining (docstring, code) pairs from {args.stdlib or 'the local Python standard library'}")
    try:
        dataset_dir, data = build_datasets(out, args.stdlib)
    except UserError:  # `out` was empty or absent: leave nothing half-written behind
        shutil.rmtree(out, ignore_errors=True)
        raise
    from training.quickstart.stdlib_pairs import SOURCE

    data_config = {
        "sources": [{"name": SOURCE, "path": str(dataset_dir.resolve()), "config": SOURCE, "split": "train"}],
        "shuffle_window": 1000,
    }

    start = "a tiny random model" if from_tiny else "all-MiniLM-L6-v2" if args.base is None else base
    print(f"[2/3] training from {start} for {args.steps} steps (learning rate {learning_rate:g})")
    config = TrainConfig(
        model=base, data=data_config, output_dir=str(out / "run"), batch_size=args.batch_size, steps=args.steps,
        learning_rate=learning_rate, warmup_steps=max(1, args.steps // 10), max_seq_length=args.max_seq_length,
        eval_sts=str(args.sts) if args.sts else None, eval_every=0, checkpoint_every=args.steps, log_every=5,
        model_name="se1b-quickstart", model_kind="general", export_backends=backends,
    ).validate()
    model_dir = train(config)

    print("[3/3] scoring the base and the trained model, evaluating gender bias, writing the card")
    base_dir = out / "run" / "base-model" if from_tiny else Path(base)
    before, after = heldout_scores(base_dir, model_dir, data.heldout_dir, args.steps)
    add_bias_evaluation(model_dir)
    metric = RETRIEVAL_METRIC
    print(f"  In-domain (held-out stdlib modules, docstring -> function retrieval, {data.heldout_queries:,} "
          f"queries), {metric}: {before[metric]:.4f} base -> {after[metric]:.4f} trained")
    if args.sts:
        (_, sts_before), (_, sts_after) = sts_history(out / "run")[0], sts_history(out / "run")[-1]
        print(f"  Public benchmark ({args.sts.name}, STS Spearman, not in the training data): {sts_before:.4f} base "
              f"-> {sts_after:.4f} trained")
    else:
        print("  Public benchmark: not measured; pass --sts STS_FILE (e.g. STSb dev) to score one before and after")
    print(f"  dataset: {dataset_dir}\n  model:   {model_dir} (model card: {model_dir / 'README.md'})")
    print("\nNext:")
    print(f"  se1b demo --models {model_dir}")
    print(f"  se1b eval {model_dir} --retrieval {data.heldout_dir} --bias")
    print(f"  se1b push dataset {dataset_dir} --repo-id YOUR_NAME/{DATASET_NAME} --dry-run")
    print(f"  se1b push model {model_dir} --repo-id YOUR_NAME/se1b-quickstart --dry-run")
    print("  se1b push space spaces_demo --repo-id YOUR_NAME/se1b-demo --dry-run")
    return 0
