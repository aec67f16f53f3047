"""Encoding throughput: the project's Flax encoder vs SentenceTransformer.encode, same model, same sentences,
same batch size, in one run (alternating rounds, so machine noise hits both alike).

    python bench/bench_encode.py --data ../shared/data/pairs --sentences 4000 --batch-size 64 --rounds 3
    python bench/bench_encode.py --max-seq-length 128 --pack      # also the packed Flax encoder

Prints sentences/s for each and the ratio flax / sentence-transformers (the median round of each); with --pack
also Flax with sequence packing (several texts per row of max_seq_length tokens). A pass before the timed rounds
counts what each side really computes (the attention masks of every forward call): padding efficiency = real
tokens / computed positions, and the ratio at equal padded work = the sentences/s ratio x peer efficiency / ours.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import time
from pathlib import Path

import jax
import numpy as np
import torch
from sentence_transformers import SentenceTransformer

import training.model.sentence_model as sentence_model
from training.model.sentence_model import load_sentence_model
from training.model.tiny import minilm_folder


def real_sentences(data_dir: Path, count: int) -> list[str]:
    """Anchors and positives from every pair file, interleaved, so lengths mix like a real corpus."""
    per_file = []
    for path in sorted(data_dir.glob("*.jsonl.gz")):
        texts = []
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                texts += [row["anchor"], row["positive"]]
                if len(texts) >= count:
                    break
        per_file.append(texts)
    mixed = [text for group in zip(*per_file, strict=False) for text in group]
    return mixed[:count]


def padding_efficiency(ours, peer, texts: list[str], batch_size: int, pack: bool) -> dict[str, float]:
    """Real tokens / computed positions of one encode pass on each side, read from the attention masks that reach
    the forward passes (ours: the jitted embed functions; the peer: a forward pre-hook)."""
    counts = {"flax": [0, 0], "flax packed": [0, 0], "sentence-transformers": [0, 0]}

    def counting(function, name):
        def wrapper(graphdef, state, input_ids, attention_mask, *rest):
            counts[name][0] += int(attention_mask.sum())
            counts[name][1] += attention_mask.size
            return function(graphdef, state, input_ids, attention_mask, *rest)
        return wrapper

    def peer_hook(module, inputs):
        counts["sentence-transformers"][0] += int(inputs[0]["attention_mask"].sum())
        counts["sentence-transformers"][1] += inputs[0]["attention_mask"].numel()

    embed, embed_packed = sentence_model._embed, sentence_model._embed_packed
    sentence_model._embed = counting(embed, "flax")
    sentence_model._embed_packed = counting(embed_packed, "flax packed")
    hook = peer.register_forward_pre_hook(peer_hook)
    try:
        ours.encode(texts, batch_size=batch_size)
        if pack:
            ours.encode(texts, batch_size=batch_size, pack=True)
        peer.encode(texts, batch_size=batch_size)
    finally:
        sentence_model._embed, sentence_model._embed_packed = embed, embed_packed
        hook.remove()
    return {name: real / computed for name, (real, computed) in counts.items() if computed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/pairs"))
    parser.add_argument("--model", type=Path, default=None, help="default: the packaged all-MiniLM-L6-v2")
    parser.add_argument("--sentences", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-seq-length", type=int, default=None, help="both models (default: the model's)")
    parser.add_argument("--pack", action="store_true", help="also time the Flax encoder with sequence packing")
    args = parser.parse_args()

    model_dir = args.model or minilm_folder()
    texts = real_sentences(args.data, args.sentences)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    peer = SentenceTransformer(str(model_dir), device=device)
    ours = load_sentence_model(model_dir)
    if args.max_seq_length:
        ours.max_seq_length = peer.max_seq_length = args.max_seq_length
    print(f"{len(texts)} sentences, batch {args.batch_size}, jax {jax.default_backend()}, torch {device}, "
          f"torch threads {torch.get_num_threads()}")
    # Warm-up, not timed: one full pass each, so jit has compiled every bucket length it will meet and torch has
    # allocated. The one-off compile time is reported separately.
    start = time.perf_counter()
    ours.encode(texts, batch_size=args.batch_size)
    warm_ours = time.perf_counter() - start
    start = time.perf_counter()
    peer.encode(texts, batch_size=args.batch_size)
    warm_peer = time.perf_counter() - start
    print(f"first pass (includes jit compilation): flax {warm_ours:.1f}s, sentence-transformers {warm_peer:.1f}s")
    if args.pack:
        ours.encode(texts, batch_size=args.batch_size, pack=True)

    efficiency = padding_efficiency(ours, peer, texts, args.batch_size, args.pack)
    print("padding efficiency (real tokens / computed positions): "
          + ", ".join(f"{name} {value:.3f}" for name, value in efficiency.items()))

    rates: dict[str, list[float]] = {"flax": [], "sentence-transformers": []} | ({"flax packed": []} if args.pack
                                                                                   else {})
    for round_index in range(args.rounds):
        if args.pack:
            start = time.perf_counter()
            c = ours.encode(texts, batch_size=args.batch_size, pack=True)
            rates["flax packed"].append(len(texts) / (time.perf_counter() - start))
        start = time.perf_counter()
        a = ours.encode(texts, batch_size=args.batch_size)
        rates["flax"].append(len(texts) / (time.perf_counter() - start))
        start = time.perf_counter()
        b = peer.encode(texts, batch_size=args.batch_size, convert_to_numpy=True)
        rates["sentence-transformers"].append(len(texts) / (time.perf_counter() - start))
        print(f"round {round_index}: " + ", ".join(f"{k} {v[-1]:.1f}/s" for k, v in rates.items()), flush=True)
    print(f"max |flax - sentence-transformers| = {np.abs(a - b).max():.2e}")
    if args.pack:
        print(f"max |flax packed - flax| = {np.abs(c - a).max():.2e}")
    peer_rate = statistics.median(rates["sentence-transformers"])
    print(f"median: sentence-transformers {peer_rate:.1f} sentences/s")
    for name in [name for name in rates if name != "sentence-transformers"]:
        rate = statistics.median(rates[name])
        equal_work = rate / peer_rate * efficiency["sentence-transformers"] / efficiency[name]
        print(f"median: {name} {rate:.1f} sentences/s, ratio {rate / peer_rate:.2f}x, "
              f"at equal padded work {equal_work:.2f}x")


if __name__ == "__main__":
    main()
