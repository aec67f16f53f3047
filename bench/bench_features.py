"""What Matryoshka, guided in-batch negatives and mined hard negatives buy: the same start model (all-MiniLM-L6-v2)
trained the same steps on the same real pairs with and without each feature, then scored on STSb dev and a
docstring -> code retrieval set held out from training (plus the Matryoshka curve: STSb at each prefix).

    python bench/bench_features.py --shared ../shared/data --pairs 2000 --steps 40 --batch-size 32 \\
        --seeds 0,1,2 --out /tmp/se1b-features

Training pairs: the first pairs/4 of each shared pair file (dialogue, captions, tweets, docstring -> code), the last
300 docstring pairs held out as the retrieval set (300 queries, corpus = their 300 functions). Runs: the untrained
start model; plain MNRL; MNRL + Matryoshka [384, 256, 128, 64, 32]; MNRL guided by the frozen start model; MNRL on
triplets mined by `se1b data mine-negatives` from the same pairs with the start model (range 0-20, margin 0).
`--seeds` repeats every run with each seed (the seed changes the batches' order and dropout), giving mean ± half
range. Runs done before (a model folder) are not retrained and their scores are kept in scores.json beside them.
Prints a markdown table. Nothing is written into the repository.
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from training.evaluation.evaluate import evaluate_dimensions, evaluate_model
from training.model.sentence_model import load_sentence_model
from training.model.tiny import minilm_folder

FILES = ("sgd_dialogue", "flickr8k_captions", "twitter_url", "python_stdlib_docstring_code")
HELD_OUT = 300
DIMS = [384, 256, 128, 64, 32]


def read(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def write_pairs(folder: Path, anchors: list[str], positives: list[str]) -> None:
    (folder / "data").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"anchor": anchors, "positive": positives}), folder / "data" / "train-00000.parquet")
    (folder / "README.md").write_text("---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n"
                                      "    path: data/train-*.parquet\n---\n")


def write_retrieval(folder: Path, rows: list[dict]) -> None:
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    with (folder / "corpus.jsonl").open("w") as corpus, (folder / "queries.jsonl").open("w") as queries:
        for i, row in enumerate(rows):
            corpus.write(json.dumps({"_id": f"d{i}", "text": row["positive"]}) + "\n")
            queries.write(json.dumps({"_id": f"q{i}", "text": row["anchor"]}) + "\n")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(
        f"q{i}\td{i}\t1\n" for i in range(len(rows))))


def evaluate(model_dir: Path, sts: Path, retrieval: Path) -> dict[str, float]:
    model = load_sentence_model(model_dir)

    def encode(texts):
        return model.encode(texts, batch_size=64)

    results = evaluate_model(encode, sts=str(sts), retrieval=retrieval)
    scores = {"stsb": results[0].metrics["spearman"], "ndcg@10": results[1].metrics["ndcg@10"]}
    for result in evaluate_dimensions(encode, DIMS[1:], sts=str(sts)):
        scores[f"stsb@{result.dimension}"] = result.metrics["spearman"]
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, required=True)
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", type=Path, default=Path("/tmp/se1b-features"))
    parser.add_argument("--seeds", type=lambda text: [int(x) for x in text.split(",")], default=[0],
                        help="comma-separated training seeds; every run is repeated with each (mean ± half range)")
    parser.add_argument("--no-train", action="store_true", help="tabulate the runs already done; train nothing")
    args = parser.parse_args()
    out = args.out
    anchors, positives = [], []
    for name in FILES:
        rows = read(args.shared / "pairs" / f"{name}.jsonl.gz")
        if name == "python_stdlib_docstring_code":
            write_retrieval(out / "retrieval", rows[-HELD_OUT:])
            rows = rows[:-HELD_OUT]
        for row in rows[: args.pairs // len(FILES)]:
            anchors.append(row["anchor"])
            positives.append(row["positive"])
    write_pairs(out / "pairs", anchors, positives)
    start = minilm_folder()
    from training.data.mine_negatives import MiningSettings, mine_negatives

    if not (out / "mined" / "README.md").exists():
        mine_negatives(str(out / "pairs"), None, str(start), out / "mined", MiningSettings(0, 20, 1, 0.0),
                       cache_dir=out / "cache")
    common = {"model": str(start), "batch_size": args.batch_size, "steps": args.steps, "learning_rate": 2e-5,
              "warmup_steps": max(args.steps // 10, 1), "max_seq_length": 64, "log_every": 10,
              "checkpoint_every": args.steps}
    pairs_data = {"sources": [{"name": "mix", "path": str(out / "pairs"), "weight": 1}]}
    mined_data = {"sources": [{"name": "mined", "path": str(out / "mined"), "config": "default-hard-negatives",
                               "weight": 1}]}
    runs = {"MNRL": {"data": pairs_data},
            "MNRL + Matryoshka": {"data": pairs_data, "matryoshka_dims": DIMS},
            "MNRL + guide (start model)": {"data": pairs_data, "guide": str(start)},
            "MNRL on mined triplets": {"data": mined_data}}
    sts, retrieval = args.shared / "stsb" / "dev.tsv", out / "retrieval"
    table = {"start model (untrained)": [scored(start, out / "start_scores.json", sts, retrieval)]}
    # Seed 0 of every run first, then the plain-MNRL repeats (the noise estimate), then the features' repeats.
    plan = sorted(((seed, label) for seed in args.seeds for label in runs),
                  key=lambda item: (item[0] > 0, item[1] != "MNRL", item[0], list(runs).index(item[1])))
    for seed, label in plan:
        name = label.replace(" ", "_").replace("(", "").replace(")", "").replace("+", "and")
        run_dir = out / (name if seed == 0 else f"{name}_seed{seed}")
        if not (run_dir / "model" / "README.md").exists():
            if args.no_train:
                continue
            config = out / f"{run_dir.name}.json"
            config.write_text(json.dumps(common | runs[label] | {"seed": seed, "output_dir": str(run_dir)}))
            subprocess.run([sys.executable, "-m", "se1b.cli", "train", str(config)], check=True)
        table.setdefault(label, []).append(scored(run_dir / "model", run_dir / "scores.json", sts, retrieval))
        print(label, f"seed {seed}", table[label][-1], flush=True)
    columns = ["stsb", "ndcg@10"] + [f"stsb@{d}" for d in DIMS[1:]]
    print("| run | seeds | STSb dev Spearman | docstring->code nDCG@10 | " + " | ".join(
        f"STSb @{d}" for d in DIMS[1:]) + " |")
    print("|---|---:|" + "---:|" * len(columns))
    for label, results in table.items():
        cells = []
        for column in columns:
            values = [result[column] for result in results]
            mean = sum(values) / len(values)
            # Spread = half the range over seeds: with 2-3 seeds a standard deviation says no more than this.
            cells.append(f"{mean:.4f}" + (f" ± {(max(values) - min(values)) / 2:.4f}" if len(values) > 1 else ""))
        print(f"| {label} | {len(results)} | " + " | ".join(cells) + " |")


def scored(model_dir: Path, cache: Path, sts: Path, retrieval: Path) -> dict[str, float]:
    """The run's scores, computed once and kept beside it (rerunning the bench only scores new runs)."""
    if cache.exists():
        return json.loads(cache.read_text())
    scores = evaluate(model_dir, sts, retrieval)
    cache.write_text(json.dumps(scores))
    return scores


if __name__ == "__main__":
    main()
