"""Hard-negative mining: `se1b data mine-negatives`' miner (Flax encoder + exact numpy top-k) vs
sentence-transformers' `mine_hard_negatives` (torch encoder + exact torch top-k), same model, same pairs, same rules,
in one run. Prints each side's seconds, the ratio, whether the triplets are identical, and of the positions that
differ, how many differ only by the order of exact ties: the two negatives are distinct texts with the same token ids
(e.g. a tweet with and without a space before a comma), hence bit-identical embeddings and equal scores, which we
order by corpus position and torch.topk in an unspecified order.

    python bench/bench_mine_negatives.py --data ../shared/data/pairs/twitter_url.jsonl.gz --pairs 2000

Both sides embed from scratch (no cache) and both are warmed up on 64 pairs first (jit compiles, torch init).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import time
from pathlib import Path

from datasets import Dataset
from sentence_transformers import SentenceTransformer
from sentence_transformers.util import mine_hard_negatives

from training.data.mine_negatives import MiningSettings, mine
from training.model.sentence_model import load_sentence_model
from training.model.tiny import minilm_folder


def read_pairs(path: Path, count: int) -> dict[str, list[str]]:
    anchors, positives = [], []
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            anchors.append(row["anchor"])
            positives.append(row["positive"])
            if len(anchors) >= count:
                break
    return {"anchor": anchors, "positive": positives}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="a pairs .jsonl.gz (anchor, positive per line)")
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    pairs = read_pairs(args.data, args.pairs)
    settings = MiningSettings(range_min=0, range_max=20, num_negatives=3, margin=0.0, index="exact")
    flax, torch_model = load_sentence_model(minilm_folder()), SentenceTransformer(str(minilm_folder()), device="cpu")

    def ours(data):
        def encode(texts):
            return flax.encode(texts, batch_size=args.batch_size)

        return mine(data["anchor"], data["positive"], encode, encode, settings)[0]

    def theirs(data):
        result = mine_hard_negatives(Dataset.from_dict(data), torch_model, range_min=0, range_max=20,
                                     num_negatives=3, absolute_margin=0.0, sampling_strategy="top",
                                     output_format="triplet", batch_size=args.batch_size, verbose=False)
        return [(row["anchor"], row["positive"], row["negative"]) for row in result]

    warm = {name: values[:64] for name, values in pairs.items()}
    ours(warm), theirs(warm)
    start = time.perf_counter()
    our_triplets = ours(pairs)
    our_seconds = time.perf_counter() - start
    start = time.perf_counter()
    their_triplets = theirs(pairs)
    their_seconds = time.perf_counter() - start
    same = our_triplets == their_triplets
    differing = [(a, b) for a, b in zip(our_triplets, their_triplets, strict=False) if a != b]

    def tokens(text):
        return torch_model.tokenizer(text, truncation=True, max_length=torch_model.max_seq_length)["input_ids"]

    tied = sum(a[:2] == b[:2] and tokens(a[2]) == tokens(b[2]) for a, b in differing)
    print(f"load average {os.getloadavg()}")
    print(f"pairs {len(pairs['anchor'])}: se1b {our_seconds:.1f} s, sentence-transformers {their_seconds:.1f} s, "
          f"ratio (their time / ours) {their_seconds / our_seconds:.2f}x; triplets {len(our_triplets)} vs "
          f"{len(their_triplets)}, identical: {same} ({len(differing)} positions differ, {tied} of them only by "
          "the order of exactly tied negatives: same anchor and positive, negatives with the same token ids)")


if __name__ == "__main__":
    main()
