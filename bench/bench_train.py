"""Trainer benchmarks: `se1b train` vs the sentence-transformers Trainer, side by side in one run.

1. speed: training pairs/s from all-MiniLM-L6-v2, batch 32, max_seq_length 64 (short captions) and 128 (docstring ->
   code pairs, long texts), MultipleNegativesRankingLoss on both sides; steady-state rate (compilation and the
   first steps excluded on both sides); ours with sequence packing off (`pack: false`), on (`pack: true`) and as
   the default decides (`pack: auto`: packed when the first batch's texts are short and padded wastefully), with
   the padding efficiency of each (real tokens / computed positions); several interleaved rounds, medians.
2. memory: peak resident memory of one training step vs batch size, with and without GradCache (chunk 32).
3. quality: the same number of steps, same hyperparameters, with both trainers; STSb dev Spearman of both results.

    python bench/bench_train.py --pairs-dir /work/shared/data/pairs --stsb-dev /work/shared/data/stsb/dev.tsv

Real data is read from the given folders (nothing is copied into the project); results print as a Markdown table.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SPEED_CASES = [(64, "flickr8k_captions"), (128, "python_stdlib_docstring_code")]


def read_pairs(pairs_dir: Path, source: str, limit: int) -> tuple[list[str], list[str]]:
    anchors, positives = [], []
    with gzip.open(pairs_dir / f"{source}.jsonl.gz", "rt", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            anchors.append(row["anchor"])
            positives.append(row["positive"])
            if len(anchors) == limit:
                break
    return anchors, positives


def peer_padding_efficiency(model: Path, anchors: list[str], positives: list[str], max_seq_length: int,
                            batch_size: int = 32, draws: int = 200) -> float:
    """Real tokens / padded positions of the ST Trainer's batches (each column padded to its longest text), for
    random batches of the same texts: the peer's side of the "equal padded work" ratio (our side is logged)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model))
    encoded = [tokenizer(texts, truncation=True, max_length=max_seq_length)["input_ids"]
               for texts in (anchors, positives)]
    lengths = [np.array([len(ids) for ids in column]) for column in encoded]
    rng = np.random.default_rng(0)
    real = padded = 0
    for _ in range(draws):
        rows = rng.choice(len(anchors), batch_size, replace=False)
        for column in lengths:
            real += column[rows].sum()
            padded += column[rows].max() * batch_size
    return float(real / padded)


def write_hub_folder(root: Path, anchors: list[str], positives: list[str]) -> Path:
    """A temporary Hub-format folder (Parquet + README configs) with the pairs, and its data config."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = root / "pairs"
    (folder / "data").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"anchor": anchors, "positive": positives}), folder / "data" / "train-00000.parquet")
    (folder / "README.md").write_text(
        "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n    path: data/train-*.parquet\n---\n"
    )
    config = root / "data.json"
    config.write_text(json.dumps({"sources": [{"name": "bench", "path": str(folder)}], "shuffle_window": 1000}))
    return config


def run_ours(model: Path, data: Path, out: Path, *, steps: int, max_seq_length: int, batch_size: int = 32,
             eval_sts: str | None = None, extra: dict | None = None) -> dict:
    """`se1b train` in a subprocess; returns steady pairs/s (median of 5-step log windows after the first), peak RSS
    and the final STS score when asked."""
    config = {"model": str(model), "data": str(data), "output_dir": str(out), "batch_size": batch_size,
              "steps": steps, "learning_rate": 2e-5, "warmup_steps": 5, "max_seq_length": max_seq_length,
              "log_every": 5, "checkpoint_every": 10**9, "symmetric": False, "eval_sts": eval_sts, **(extra or {})}
    path = out.parent / f"{out.name}.json"
    path.write_text(json.dumps(config))
    code = ("import resource, sys; from training.loop.config import load_config; "
            "from training.loop.train import train; "
            f"train(load_config({str(path)!r})); "
            "print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "JAX_PLATFORMS": "cpu"})
    if result.returncode:
        raise SystemExit(result.stderr[-3000:])
    peak = int(result.stdout.split("PEAK_RSS_KB")[-1].split()[0]) * 1024
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    rates = [m["pairs_per_second"] for m in lines if "pairs_per_second" in m and m["step"] % 5 == 0][1:]
    efficiency = [m["padding_efficiency"] for m in lines if "padding_efficiency" in m][1:]
    sts = [m["eval/sts/spearman"] for m in lines if "eval/sts/spearman" in m]
    packed = json.loads((out / "model" / "run_metadata.json").read_text())["training"]["packing"]
    return {"pairs_per_second": float(np.median(rates)) if rates else None, "peak_rss": peak,
            "spearman": sts[-1] if sts else None, "packed": packed,
            "padding_efficiency": float(np.median(efficiency)) if efficiency else None}


def run_peer(model: Path, anchors: list[str], positives: list[str], out: Path, *, steps: int, max_seq_length: int,
             batch_size: int = 32) -> dict:
    """SentenceTransformerTrainer + MultipleNegativesRankingLoss; steady pairs/s from per-step timestamps."""
    import torch
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
        losses,
    )
    from transformers import TrainerCallback

    torch.manual_seed(0)
    st_model = SentenceTransformer(str(model), device="cpu")
    st_model.max_seq_length = max_seq_length
    stamps: list[float] = []

    class Stamp(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            stamps.append(time.perf_counter())

    args = SentenceTransformerTrainingArguments(
        output_dir=str(out), per_device_train_batch_size=batch_size, max_steps=steps, learning_rate=2e-5,
        warmup_steps=5, weight_decay=0.01, max_grad_norm=1.0, lr_scheduler_type="linear", save_strategy="no",
        report_to="none", logging_steps=10**9, use_cpu=True, seed=0, dataloader_drop_last=True,
    )
    trainer = SentenceTransformerTrainer(
        model=st_model, args=args, loss=losses.MultipleNegativesRankingLoss(st_model, scale=20.0),
        train_dataset=Dataset.from_dict({"anchor": anchors, "positive": positives}), callbacks=[Stamp()],
    )
    trainer.train()
    skip = min(10, len(stamps) // 3)
    rate = (len(stamps) - 1 - skip) * batch_size / (stamps[-1] - stamps[skip])
    return {"pairs_per_second": rate, "model": st_model}


def peer_spearman(st_model, stsb_dev: Path) -> float:
    from training.evaluation.sts import evaluate_sts, load_sts

    return evaluate_sts(lambda texts: st_model.encode(texts, batch_size=128), load_sts(stsb_dev))["spearman"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    env = os.environ.get
    parser.add_argument("--pairs-dir", type=Path, default=Path(env("SE1B_PAIRS_DIR", "../shared/data/pairs")))
    parser.add_argument("--stsb-dev", type=Path, default=Path(env("SE1B_STSB_DEV", "../shared/data/stsb/dev.tsv")))
    parser.add_argument("--speed-steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3,
                        help="speed: rounds of (ours pack off, auto, on, ST); medians")
    parser.add_argument("--seqs", type=int, nargs="+", default=[64, 128], help="speed: max_seq_length cases")
    parser.add_argument("--quality-steps", type=int, default=60)
    parser.add_argument("--memory-batches", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument("--parts", nargs="+", default=["speed", "memory", "quality"])
    args = parser.parse_args()
    from training.model.tiny import minilm_folder

    model = minilm_folder()
    root = Path(tempfile.mkdtemp(prefix="bench-train-"))
    print(f"# bench_train ({os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start)")

    if "speed" in args.parts:
        # Ours padded (buckets: pack false), as pack auto decides, packed (pack true), the ST Trainer, interleaved in
        # each round so that all four see the same machine load; medians over the rounds.
        # Padding efficiency = real tokens / computed positions. ST pads each column to its batch's longest text,
        # we pad to a few fixed lengths (bounded compiles) or pack: "ratio at equal padded work" rescales the pairs/s
        # ratio of the padded run by the positions each side computes per pair.
        print("\n| max_seq_length | texts | se1b pack off pairs/s | pack auto (chose) | pack on | ST Trainer pairs/s"
              " | padding efficiency: off / auto / on / ST | ratio off | ratio auto | ratio on | "
              "ratio at equal padded work |\n|---|---|---|---|---|---|---|---|---|---|---|")
        settings = {"off": {"pack": False}, "auto": {"pack": "auto"}, "on": {"pack": True}}
        for seq, source in [case for case in SPEED_CASES if case[0] in args.seqs]:
            anchors, positives = read_pairs(args.pairs_dir, source, 4000)
            data = write_hub_folder(root / f"speed{seq}", anchors, positives)
            peer_efficiency = peer_padding_efficiency(model, anchors, positives, seq)
            rates: dict[str, list[float]] = {name: [] for name in [*settings, "peer"]}
            efficiency: dict[str, list[float]] = {name: [] for name in settings}
            auto_packed = set()
            for round_ in range(args.rounds):
                for name, extra in settings.items():
                    ours = run_ours(model, data, root / f"{name}{seq}-{round_}", steps=args.speed_steps,
                                    max_seq_length=seq, extra=extra)
                    rates[name].append(ours["pairs_per_second"])
                    efficiency[name].append(ours["padding_efficiency"])
                    if name == "auto":
                        auto_packed.add(ours["packed"])
                peer = run_peer(model, anchors, positives, root / f"peer{seq}-{round_}", steps=args.speed_steps,
                                max_seq_length=seq)
                rates["peer"].append(peer["pairs_per_second"])
                print(f"round {round_} (load {os.getloadavg()[0]:.1f}): "
                      + ", ".join(f"{k} {v[-1]:.2f}" for k, v in rates.items()), flush=True)
            rate = {name: float(np.median(values)) for name, values in rates.items()}
            eff = {name: float(np.median(values)) for name, values in efficiency.items()}
            chose = "/".join("on" if packed else "off" for packed in sorted(auto_packed))
            equal_work = rate["off"] / rate["peer"] * peer_efficiency / eff["off"]
            print(f"| {seq} | {source} | {rate['off']:.1f} | {rate['auto']:.1f} ({chose}) | {rate['on']:.1f} | "
                  f"{rate['peer']:.1f} | {eff['off']:.2f} / {eff['auto']:.2f} / {eff['on']:.2f} / "
                  f"{peer_efficiency:.2f} | {rate['off'] / rate['peer']:.2f}x | {rate['auto'] / rate['peer']:.2f}x | "
                  f"{rate['on'] / rate['peer']:.2f}x | {equal_work:.2f}x |", flush=True)
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")

    if "memory" in args.parts:
        print("\n| batch | peak RSS, plain (GB) | peak RSS, GradCache chunk 32 (GB) |\n|---|---|---|")
        anchors, positives = read_pairs(args.pairs_dir, "flickr8k_captions", 8000)
        data = write_hub_folder(root / "memory", anchors, positives)
        points = []
        for batch in args.memory_batches:
            plain = run_ours(model, data, root / f"mem{batch}", steps=1, max_seq_length=64, batch_size=batch,
                             extra={"pack": False})
            cached = run_ours(model, data, root / f"memgc{batch}", steps=1, max_seq_length=64, batch_size=batch,
                              extra={"gradcache_chunk": 32, "pack": False})
            points.append((batch, plain["peak_rss"], cached["peak_rss"]))
            print(f"| {batch} | {plain['peak_rss'] / 1e9:.2f} | {cached['peak_rss'] / 1e9:.2f} |", flush=True)
        batches = np.array([p[0] for p in points], dtype=float)
        for label, column in (("plain", 1), ("GradCache", 2)):
            slope, base = np.polyfit(batches, np.array([p[column] for p in points], dtype=float), 1)
            print(f"\n{label}: {slope / 1e6:.2f} MB per pair + {base / 1e9:.2f} GB -> largest batch in 8 GB "
                  f"~{int((8e9 - base) / slope) if slope > 0 else 'unbounded'} (linear fit, seq 64)")

    if "quality" in args.parts:
        anchors, positives = read_pairs(args.pairs_dir, "flickr8k_captions", 8000)
        data = write_hub_folder(root / "quality", anchors, positives)
        ours = run_ours(model, data, root / "ours-q", steps=args.quality_steps, max_seq_length=64,
                        eval_sts=str(args.stsb_dev))
        peer = run_peer(model, anchors, positives, root / "peer-q", steps=args.quality_steps, max_seq_length=64)
        peer_score = peer_spearman(peer["model"], args.stsb_dev)
        print(f"\n| trainer ({args.quality_steps} steps, batch 32, seq 64, lr 2e-5) | STSb dev Spearman x100 |"
              f"\n|---|---|\n| se1b train | {100 * ours['spearman']:.2f} |\n| ST Trainer | {100 * peer_score:.2f} |"
              f"\n\ndifference: {100 * (ours['spearman'] - peer_score):+.2f} points")


if __name__ == "__main__":
    main()
