"""Recall of `se1b data mine-negatives --index hnsw` (faiss IndexHNSWFlat) against its exact search, on random sets
larger than the tests' toy corpus, at the default build settings (M=32, efConstruction=200) and several efSearch.

    python bench/bench_ann_recall.py --corpus 50000 --queries 2000 --dim 384 --k 50

Two sets: "gaussian" (i.i.d. normal vectors: no structure, the hard case for a graph index: every point is about as
far from every other) and "clustered" (vectors around 500 centres, like real sentence embeddings, where near
neighbours exist). Recall@k = the share of the exact top-k ids the index returns, averaged over queries. Times are
wall-clock on whatever machine runs it: record the load average with them.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from training.data.mine_negatives import build_hnsw, search_hnsw, top_candidates


def make_set(kind: str, corpus: int, queries: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if kind == "gaussian":
        return rng.normal(size=(queries, dim)).astype(np.float32), rng.normal(size=(corpus, dim)).astype(np.float32)
    centres = rng.normal(size=(500, dim))
    labels_c, labels_q = rng.integers(0, 500, corpus), rng.integers(0, 500, queries)
    return ((centres[labels_q] + 0.6 * rng.normal(size=(queries, dim))).astype(np.float32),
            (centres[labels_c] + 0.6 * rng.normal(size=(corpus, dim))).astype(np.float32))


def recall(approx_ids: np.ndarray, exact_ids: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(e)) / len(e) for a, e in zip(approx_ids.tolist(), exact_ids.tolist(),
                                                                       strict=True)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--ef-search", default="64,128,256,512")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    print("| set | search | recall@k | seconds |")
    print("|---|---|---:|---:|")
    for kind in ("gaussian", "clustered"):
        queries, corpus = make_set(kind, args.corpus, args.queries, args.dim)
        start = time.perf_counter()
        _, exact_ids = top_candidates(queries, corpus, args.k)
        print(f"| {kind} | exact (numpy) | 1.0000 | {time.perf_counter() - start:.1f} |", flush=True)
        start = time.perf_counter()
        index = build_hnsw(corpus)
        print(f"| {kind} | HNSW M=32 efC=200: build | | {time.perf_counter() - start:.1f} |", flush=True)
        for ef in (int(x) for x in args.ef_search.split(",")):
            start = time.perf_counter()
            _, ids = search_hnsw(index, queries, args.k, ef_search=ef)
            print(f"| {kind} | HNSW efSearch={ef}: search | {recall(ids, exact_ids):.4f} | "
                  f"{time.perf_counter() - start:.1f} |", flush=True)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
