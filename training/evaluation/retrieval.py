"""Retrieval on a BEIR-layout folder: nDCG@10, MRR@10 and Recall@100 of cosine-similarity search.

Layout (as BEIR publishes it): `corpus.jsonl` ({"_id", "title", "text"}), `queries.jsonl` ({"_id", "text"}),
`qrels/<split>.tsv` (header `query-id corpus-id score`). A document is embedded as "title text". Relevance is
graded (the qrels score, linear gain, as in BEIR's pytrec_eval); a score > 0 counts as relevant for MRR and recall.

    >>> data = load_beir(Path("scifact"), split="test")
    >>> evaluate_retrieval(model.encode, data)
    {'ndcg@10': 0.64, 'mrr@10': 0.60, 'recall@100': 0.92, 'queries': 300, 'corpus': 5183}
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from se1b.errors import UserError
from training.evaluation.embed import Encode, embed_texts

QUERY_CHUNK = 256  # queries scored against the whole corpus at once


@dataclass
class RetrievalData:
    corpus: dict[str, str]  # doc id -> text
    queries: dict[str, str]  # query id -> text (only queries with a relevant document)
    qrels: dict[str, dict[str, int]]  # query id -> {doc id: relevance > 0}
    name: str
    skipped: Counter = field(default_factory=Counter)  # reason -> count of records left out


def _read_jsonl(path: Path, skipped: Counter) -> dict[str, dict]:
    """Records by `_id`; a repeated `_id` keeps its first record and is counted in `skipped` (which text the
    judgments meant cannot be known)."""
    if not path.is_file():
        raise UserError(f"{path}: missing (a BEIR folder holds corpus.jsonl, queries.jsonl and qrels/<split>.tsv)")
    records = {}
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise UserError(f"{path}: line {number}: not valid JSON: {error.msg}") from None
            if not isinstance(record, dict) or "_id" not in record or "text" not in record:
                raise UserError(f"{path}: line {number}: expected an object with '_id' and 'text'")
            record_id = str(record["_id"])
            if record_id in records:
                skipped[f"record with a repeated _id in {path.name} (the first is kept)"] += 1
                continue
            records[record_id] = record
    return records


def load_beir(folder: Path, split: str = "test") -> RetrievalData:
    """Read a BEIR folder. Judgments naming unknown ids, records with a repeated `_id` and queries without a relevant
    document are left out and counted in `skipped`; a qrels file of which no judgment matches is refused."""
    folder = Path(folder)
    qrels_path = folder / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        raise UserError(f"{qrels_path}: missing (a BEIR folder holds qrels/<split>.tsv)")
    skipped: Counter = Counter()
    corpus = {
        doc_id: f"{record.get('title') or ''} {record['text']}".strip()
        for doc_id, record in _read_jsonl(folder / "corpus.jsonl", skipped).items()
    }
    all_queries = {query_id: record["text"]
                   for query_id, record in _read_jsonl(folder / "queries.jsonl", skipped).items()}
    qrels: dict[str, dict[str, int]] = {}
    with qrels_path.open(encoding="utf-8", newline="") as handle:
        rows = csv.reader(handle, delimiter="\t")
        header = next(rows, None)
        if header is None or [h.strip() for h in header[:3]] != ["query-id", "corpus-id", "score"]:
            raise UserError(f"{qrels_path}: line 1: expected the header 'query-id<TAB>corpus-id<TAB>score'")
        for number, row in enumerate(rows, start=2):
            if len(row) < 3:
                raise UserError(f"{qrels_path}: line {number}: expected query-id, corpus-id and score")
            query_id, doc_id, score = row[0], row[1], row[2]
            try:
                relevance = int(float(score))
            except ValueError:
                raise UserError(f"{qrels_path}: line {number}: score {score!r} is not a number") from None
            if query_id not in all_queries:
                skipped["judgment for a query not in queries.jsonl"] += 1
            elif doc_id not in corpus:
                skipped["judgment for a document not in corpus.jsonl"] += 1
            elif relevance <= 0:
                skipped["judgment with score <= 0 (not relevant)"] += 1
            else:
                qrels.setdefault(query_id, {})[doc_id] = relevance
    unjudged = len(set(all_queries) - set(qrels))
    if unjudged:
        skipped[f"query without a relevant document in {split}"] += unjudged
    if not qrels:
        raise UserError(f"{qrels_path}: no query has a relevant document in the corpus")
    queries = {query_id: all_queries[query_id] for query_id in qrels}
    return RetrievalData(corpus, queries, qrels, f"{folder.name}:{split}", skipped)


def retrieval_metrics(ranked: list[list[int]], relevance: list[dict[int, int]]) -> dict[str, float]:
    """nDCG@10, MRR@10 and Recall@100 averaged over queries.

    `ranked[q]` lists document indices best first (at least 100 where the corpus has them); `relevance[q]` maps
    the relevant documents' indices to their graded relevance (> 0).
    """
    ndcg, mrr, recall = [], [], []
    for order, relevant in zip(ranked, relevance, strict=True):
        gains = [relevant.get(doc, 0) for doc in order[:10]]
        dcg = sum(gain / np.log2(rank + 2) for rank, gain in enumerate(gains))
        ideal = sorted(relevant.values(), reverse=True)[:10]
        ndcg.append(dcg / sum(gain / np.log2(rank + 2) for rank, gain in enumerate(ideal)))
        first = next((rank for rank, gain in enumerate(gains) if gain > 0), None)
        mrr.append(0.0 if first is None else 1.0 / (first + 1))
        recall.append(len(set(order[:100]) & set(relevant)) / len(relevant))
    return {"ndcg@10": float(np.mean(ndcg)), "mrr@10": float(np.mean(mrr)), "recall@100": float(np.mean(recall))}


def evaluate_retrieval(encode: Encode, data: RetrievalData) -> dict[str, float]:
    """Embed corpus and queries, rank the corpus by cosine similarity for each query, score the rankings."""
    doc_ids = list(data.corpus)
    query_ids = list(data.queries)
    corpus = embed_texts(encode, [data.corpus[d] for d in doc_ids], desc="corpus")
    queries = embed_texts(encode, [data.queries[q] for q in query_ids], desc="queries")
    depth = min(100, len(doc_ids))
    ranked: list[list[int]] = []
    for start in tqdm(range(0, len(query_ids), QUERY_CHUNK), desc="ranking", disable=len(query_ids) <= QUERY_CHUNK):
        scores = queries[start : start + QUERY_CHUNK] @ corpus.T
        top = np.argpartition(-scores, depth - 1, axis=1)[:, :depth]
        for row, candidates in zip(scores, top, strict=True):
            ranked.append(candidates[np.argsort(-row[candidates], kind="stable")].tolist())
    position = {doc_id: i for i, doc_id in enumerate(doc_ids)}
    relevance = [{position[d]: r for d, r in data.qrels[q].items()} for q in query_ids]
    return retrieval_metrics(ranked, relevance) | {"queries": len(query_ids), "corpus": len(doc_ids)}
