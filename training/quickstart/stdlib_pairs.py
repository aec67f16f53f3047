"""The quickstart's data: (docstring, code) pairs mined from the local Python standard library, real text every
machine has, so the project ships no data and makes none up.

`mine_stdlib(out)` writes the standard library's documented functions as CodeSearchNet-format files (the train part
and the held-out part, whole modules held out by a hash of their path, see `pysource.held_out`), and the held-out
pairs as a BEIR retrieval folder (queries: docstrings, corpus: functions) for the in-domain before/after score.
"""

from __future__ import annotations

import csv
import gzip
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from datasets_builders.miners.codesearchnet import mine_codesearchnet
from datasets_builders.miners.common import MiningStats
from datasets_builders.miners.pysource import codesearchnet_records, stdlib_folder

SOURCE = "python_stdlib_docstring_code"  # the registered builder source (datasets_builders/miners/sources.py)
HELDOUT_NAME = "python-stdlib-heldout"
HELDOUT_LABEL = "Python stdlib, held-out modules: docstring -> function retrieval (in-domain, not a public benchmark)"


@dataclass
class StdlibData:
    train_file: Path  # CodeSearchNet-format jsonl.gz: the functions of the training modules
    heldout_dir: Path  # BEIR folder: corpus.jsonl, queries.jsonl, qrels/test.tsv
    train_functions: int
    heldout_queries: int
    skipped: Counter


def mine_stdlib(out: Path, folder: Path | None = None) -> StdlibData:
    """Mine `folder` (default: this Python's standard library) into `out`: raw/python_stdlib_train.jsonl.gz and the
    held-out BEIR folder eval/python-stdlib-heldout/."""
    folder = folder or stdlib_folder()
    raw = out / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    skipped: Counter = Counter()
    train_file, heldout_file = raw / "python_stdlib_train.jsonl.gz", raw / "python_stdlib_heldout.jsonl.gz"
    counts: Counter = Counter()
    with gzip.open(train_file, "wt", encoding="utf-8") as train, \
            gzip.open(heldout_file, "wt", encoding="utf-8") as held:
        for record in codesearchnet_records(folder, skipped=skipped):
            counts[record["partition"]] += 1
            (held if record["partition"] == "test" else train).write(json.dumps(record, ensure_ascii=False) + "\n")
    heldout_dir = out / "eval" / HELDOUT_NAME
    queries = write_beir(heldout_file, heldout_dir)
    return StdlibData(train_file, heldout_dir, counts["train"], queries, skipped)


def write_beir(codesearchnet_file: Path, folder: Path) -> int:
    """The pairs the CodeSearchNet miner keeps from `codesearchnet_file` as a BEIR folder, one query per distinct
    docstring and one document per distinct function; returns the number of queries."""
    queries: dict[str, str] = {}  # docstring -> query id
    corpus: dict[str, str] = {}  # code -> doc id
    qrels: list[tuple[str, str]] = []
    for row in mine_codesearchnet(codesearchnet_file, stats=MiningStats(on_error="skip"), languages=("python",)):
        if row["anchor"] in queries:  # the same summary over two functions: the first is the answer
            continue
        doc_id = corpus.setdefault(row["positive"], f"d{len(corpus)}")
        queries[row["anchor"]] = f"q{len(queries)}"
        qrels.append((queries[row["anchor"]], doc_id))
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as handle:
        for text, doc_id in corpus.items():
            handle.write(json.dumps({"_id": doc_id, "title": "", "text": text}, ensure_ascii=False) + "\n")
    with (folder / "queries.jsonl").open("w", encoding="utf-8") as handle:
        for text, query_id in queries.items():
            handle.write(json.dumps({"_id": query_id, "text": text}, ensure_ascii=False) + "\n")
    with (folder / "qrels" / "test.tsv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(["query-id", "corpus-id", "score"])
        writer.writerows((query_id, doc_id, 1) for query_id, doc_id in qrels)
    return len(queries)
