"""`se1b data mine-negatives`: hard negatives for a published pair config, mined with the Flax encoder, published as
a triplet config (anchor, positive, negative) beside the pairs, with a card section saying how they were mined.

    se1b data mine-negatives hub/pairs --config squad --model sentence-transformers/all-MiniLM-L6-v2 --out hub/pairs \\
        --range-min 0 --range-max 50 --num-negatives 3 --margin 0.0

1. Anchors and positives are de-duplicated; the candidate corpus is the distinct positives.
2. Both are embedded with the Flax encoder, in chunks cached on disk (`--cache-dir`): an interrupted run resumes at
   the first missing chunk.
3. Search (`--index`), keeping each anchor's top range_max + (the largest number of positives) + 1 (room for the
   anchor's own text, which may sit in the corpus as another pair's positive):
   - exact: cosine scores of a block of anchors against the whole corpus (one matrix product per block, numpy).
     Exact and simple to verify; its cost is anchors x corpus x dim multiply-adds, minutes on a CPU for a few
     hundred thousand pairs, and it grows with the square of the corpus.
   - hnsw: an approximate HNSW graph index (faiss `IndexHNSWFlat`, inner product on unit vectors = cosine).
     faiss because it is the maintained reference library for this (Meta, regular releases, CPU wheels on PyPI as
     `faiss-cpu`), and the library sentence-transformers itself uses in `mine_hard_negatives(use_faiss=True)` (there
     with the exact, brute-force IndexFlatIP, which speeds up the matrix product but not its n^2 cost). HNSW
     rather than IVF/PQ because it needs no training pass and no nlist/nprobe tuning, keeps the full vectors (the
     scores of what it finds are exact), and on embedding-like data gives recall near 1 (0.9997 of the exact top-50
     at the defaults, BENCHMARKS.md) at search time ~log(corpus) per query; its cost is
     memory (the vectors plus ~2*M links per vector) and build time. bench/bench_ann_recall.py measures its recall
     against exact search. faiss is optional: only this path imports it.
   - auto (the default): exact up to EXACT_LIMIT corpus texts, hnsw above.
4. Per anchor, in score order (equal scores in corpus order): drop its own positives and its own text (an anchor
   is never its own negative); drop candidates within the
   margin of the positive (score + margin > positive score - MARGIN_TOLERANCE, with the lowest-scoring positive when
   an anchor has several: near-positives are likely unlabelled positives, "false negatives"); of what is left, skip
   the first range_min and keep the next num_negatives. One triplet per kept negative.

These are the rules of sentence-transformers' `mine_hard_negatives(..., range_min, range_max, num_negatives,
absolute_margin, sampling_strategy="top", output_format="triplet")` as of sentence-transformers 6.3 (which began
excluding the anchor's own text and widened the candidate pool by one for it; 6.2 and older could return an anchor
as its own negative and so give other triplets), so both give the same triplets on the same model
(tests/test_mine_negatives.py; bench/bench_mine_negatives.py measures the speed ratio), with two deliberate
differences that only show on exact ties: (a) tied candidates come in corpus order here, in torch.topk's unspecified
order there; (b) the tolerance: a candidate that ties the positive (a distinct text with the positive's embedding,
e.g. the same tweet with a space before a comma) is dropped here at margin 0, where sentence-transformers' ">"
keeps or drops it depending on the last bit of two differently accumulated cosines (its positive score comes from
`similarity_pairwise`, its candidate scores from a matrix product).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from se1b.errors import UserError, library_logs_held
from se1b.files import check_output_folder
from se1b.safety import check_name

EMBED_CHUNK = 4096  # texts per cached chunk: the unit of resumption
QUERY_BLOCK = 1024  # anchors scored against the corpus per matrix product
BLOCK_SCORES = 1 << 26  # at most this many scores per block (256 MB of float32): large corpora get fewer anchors
# Scores within this of the margin boundary count as on it (dropped): float accumulation differs by ~1e-7 between
# two ways of computing the same cosine, and a candidate that exactly ties the positive is a duplicate of it.
MARGIN_TOLERANCE = 1e-6
# --index auto: exact search up to this many corpus texts, HNSW above. Measured (bench/bench_ann_recall.py, one
# thread each): at 20,000 x 384 exact search took 8.5 s and the HNSW build alone 146-249 s; exact grows with n^2 and
# HNSW with ~n log n, which puts the crossover near a million texts (and exact search's memory is bounded by blocks).
EXACT_LIMIT = 1_000_000
INDEXES = ("auto", "exact", "hnsw")


@dataclass
class MiningSettings:
    range_min: int = 0
    range_max: int = 50
    num_negatives: int = 1
    margin: float | None = 0.0  # absolute: drop candidates with score + margin > positive score; None = off
    index: str = "auto"  # "exact", "hnsw" or "auto" (exact up to EXACT_LIMIT corpus texts)
    hnsw_m: int = 32  # HNSW: links per vector (memory ~ 2 * M * 4 bytes per vector beyond the vector itself)
    ef_construction: int = 200  # HNSW: candidate list while building (higher = better graph, slower build)
    ef_search: int = 256  # HNSW: candidate list per query (higher = higher recall, slower); at least the k searched

    def check(self) -> None:
        if self.index not in INDEXES:
            raise UserError(f"--index must be one of {', '.join(INDEXES)}, got {self.index!r}")
        for flag, value in (("--hnsw-m", self.hnsw_m), ("--ef-construction", self.ef_construction),
                            ("--ef-search", self.ef_search)):
            if value < 1:
                raise UserError(f"{flag} must be >= 1, got {value}")
        if self.range_min < 0:
            raise UserError(f"--range-min must be >= 0, got {self.range_min}")
        if self.num_negatives < 1:
            raise UserError(f"--num-negatives must be >= 1, got {self.num_negatives}")
        if self.range_max < self.range_min + self.num_negatives:
            raise UserError(f"--range-max ({self.range_max}) must leave --num-negatives ({self.num_negatives}) "
                            f"candidates after --range-min ({self.range_min})")


def top_candidates(queries: np.ndarray, corpus: np.ndarray, k: int, block: int = QUERY_BLOCK
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k by cosine: (scores [Q, k] descending, corpus ids [Q, k]), a block of queries at a time. Equal
    scores are ordered by corpus id (first appearance), in any block size: distinct texts that tokenize alike
    (e.g. "it , then" / "it, then" under an uncased WordPiece) have bit-identical embeddings and so exactly tied
    scores, and their order must not depend on the partition algorithm."""
    queries, corpus = _unit(queries), _unit(corpus)
    k = min(k, len(corpus))
    block = max(1, min(block, BLOCK_SCORES // max(len(corpus), 1)))
    scores = np.empty((len(queries), k), dtype=np.float32)
    ids = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), block):
        block_scores = queries[start : start + block] @ corpus.T
        part = np.argpartition(-block_scores, k - 1, axis=1)[:, :k]
        part_scores = np.take_along_axis(block_scores, part, axis=1)
        # A tie across the k-th place: argpartition kept an arbitrary subset of the tied ids; a stable full sort of
        # those (rare) rows keeps the lowest ids instead.
        crossing = (block_scores >= part_scores.min(axis=1, keepdims=True)).sum(axis=1) > k
        for row in np.flatnonzero(crossing):
            part[row] = np.argsort(-block_scores[row], kind="stable")[:k]
            part_scores[row] = block_scores[row, part[row]]
        part_scores, part = _ranked(part_scores, part)
        scores[start : start + block], ids[start : start + block] = part_scores, part
    return scores, ids


def _ranked(scores: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row by score descending, equal scores by corpus id ascending."""
    order = np.lexsort((ids, -scores), axis=1)
    return np.take_along_axis(scores, order, axis=1), np.take_along_axis(ids, order, axis=1)


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def _faiss():
    try:
        import faiss
    except ImportError:
        raise UserError("--index hnsw needs faiss: pip install faiss-cpu (or use --index exact)") from None
    return faiss


def build_hnsw(corpus: np.ndarray, *, m: int = 32, ef_construction: int = 200):
    """A faiss HNSW index over the unit-normalised `corpus` (inner product = cosine)."""
    faiss = _faiss()
    corpus = _unit(corpus)
    index = faiss.IndexHNSWFlat(corpus.shape[1], m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = ef_construction
    index.add(np.ascontiguousarray(corpus))
    return index


def search_hnsw(index, queries: np.ndarray, k: int, ef_search: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Approximate top-k by cosine: (scores [Q, k] descending, corpus ids [Q, k]). An id of -1 (score -inf) fills
    a row where the graph search found fewer than k."""
    k = min(k, index.ntotal)
    index.hnsw.efSearch = max(ef_search, k)
    scores, ids = index.search(np.ascontiguousarray(_unit(queries)), k)
    scores[ids < 0] = -np.inf
    return _ranked(scores, ids.astype(np.int64))  # ties in id order, as in exact search


def hnsw_candidates(queries: np.ndarray, corpus: np.ndarray, k: int, *, m: int = 32, ef_construction: int = 200,
                    ef_search: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Approximate top-k by cosine through a faiss HNSW index built over `corpus` (see `search_hnsw`)."""
    return search_hnsw(build_hnsw(corpus, m=m, ef_construction=ef_construction), queries, k, ef_search)


def search_label(settings: MiningSettings, corpus_size: int) -> str:
    """The index `settings` resolves to for a corpus of this size, as the card says it ("... cosine search")."""
    if settings.index == "hnsw" or (settings.index == "auto" and corpus_size > EXACT_LIMIT):
        return (f"approximate (faiss HNSW: IndexHNSWFlat, inner product on unit vectors, M={settings.hnsw_m}, "
                f"efConstruction={settings.ef_construction}, efSearch={settings.ef_search})")
    return "exact (numpy, blocked matrix products)"


def select_negatives(scores: np.ndarray, ids: np.ndarray, positive_ids: list[list[int]], self_ids: list[int],
                     positive_scores: np.ndarray, settings: MiningSettings
                     ) -> tuple[list[list[tuple[int, float]]], dict[str, int]]:
    """Per query, the chosen (corpus id, score) negatives from its ranked candidates, and counts of what was
    skipped: "positive" (its own positives), "anchor" (the query's own text, `self_ids[q]`, -1 when it is not in the
    corpus), "margin" (within the margin of the positive), "short" (queries that got fewer than num_negatives).
    `positive_scores[q]`: the score of q's lowest-scoring positive."""
    chosen, counts = [], {"positive": 0, "anchor": 0, "margin": 0, "short": 0}
    for q, (row_scores, row_ids) in enumerate(zip(scores, ids, strict=True)):
        own = set(positive_ids[q])
        kept = []
        for score, corpus_id in zip(row_scores.tolist(), row_ids.tolist(), strict=True):
            if corpus_id < 0:  # an approximate search that found fewer than k
                continue
            if corpus_id in own:
                counts["positive"] += 1
            elif corpus_id == self_ids[q]:
                counts["anchor"] += 1
            elif settings.margin is not None and score + settings.margin > positive_scores[q] - MARGIN_TOLERANCE:
                counts["margin"] += 1
            else:
                kept.append((corpus_id, score))
        picked = kept[: settings.range_max][settings.range_min : settings.range_min + settings.num_negatives]
        counts["short"] += len(picked) < settings.num_negatives
        chosen.append(picked)
    return chosen, counts


def _cache_key(model_dir: Path, texts: list[str], prompt: str) -> str:
    from training.data.teacher import _hash_folder

    digest = hashlib.sha256()
    _hash_folder(digest, model_dir)
    digest.update(f"\0prompt={prompt}\0".encode())
    for text in texts:
        digest.update(text.encode() + b"\0")
    return digest.hexdigest()[:32]


def embed_resumable(model, model_dir: Path, texts: list[str], cache_dir: Path, *, prompt: str = "",
                    batch_size: int = 128, desc: str = "embed") -> np.ndarray:
    """Embeddings of `texts` [n, dim], computed in chunks of EMBED_CHUNK that are saved as they finish, so a
    killed run picks up where it stopped."""
    from tqdm.auto import tqdm

    folder = cache_dir.expanduser() / _cache_key(model_dir, texts, prompt)
    folder.mkdir(parents=True, exist_ok=True)
    parts = []
    for index, start in enumerate(tqdm(range(0, len(texts), EMBED_CHUNK), desc=desc, unit="chunk")):
        path = folder / f"chunk-{index:06d}.npy"
        if not path.is_file():
            chunk = model.encode([prompt + text for text in texts[start : start + EMBED_CHUNK]], batch_size=batch_size)
            partial = path.with_suffix(".partial.npy")
            np.save(partial, chunk)
            partial.rename(path)  # whole chunks only: a kill mid-write leaves no torn file
        parts.append(np.load(path))
    return np.concatenate(parts) if parts else np.zeros((0, model.dimension), np.float32)


def mine(anchors: list[str], positives: list[str], encode_queries, encode_corpus, settings: MiningSettings
         ) -> tuple[list[tuple[str, str, str]], dict[str, Any]]:
    """The triplets (anchor, positive, negative) for pairs (anchors[i], positives[i]), and the mining statistics.
    `encode_queries` / `encode_corpus`: texts -> [n, dim] embeddings."""
    settings.check()
    queries = list(dict.fromkeys(anchors))
    corpus = list(dict.fromkeys(positives))
    query_index = {text: i for i, text in enumerate(queries)}
    corpus_index = {text: i for i, text in enumerate(corpus)}
    positive_ids: list[list[int]] = [[] for _ in queries]
    for anchor, positive in zip(anchors, positives, strict=True):
        ids = positive_ids[query_index[anchor]]
        if corpus_index[positive] not in ids:
            ids.append(corpus_index[positive])
    query_embeddings, corpus_embeddings = encode_queries(queries), encode_corpus(corpus)
    normalized_q, normalized_c = _unit(query_embeddings), _unit(corpus_embeddings)
    positive_scores = np.array([min(float(normalized_q[q] @ normalized_c[c]) for c in ids)
                                for q, ids in enumerate(positive_ids)], dtype=np.float32)
    most_positives = max(len(ids) for ids in positive_ids)
    k = settings.range_max + most_positives + 1
    search = search_label(settings, len(corpus))
    if search.startswith("exact"):
        scores, ids = top_candidates(query_embeddings, corpus_embeddings, k)
    else:
        scores, ids = hnsw_candidates(query_embeddings, corpus_embeddings, k, m=settings.hnsw_m,
                                      ef_construction=settings.ef_construction, ef_search=settings.ef_search)
    self_ids = [corpus_index.get(query, -1) for query in queries]
    chosen, counts = select_negatives(scores, ids, positive_ids, self_ids, positive_scores, settings)
    triplets = []
    for q, anchor in enumerate(queries):
        for c in positive_ids[q]:
            triplets.extend((anchor, corpus[c], corpus[n]) for n, _ in chosen[q])
    negative_scores = [score for row in chosen for _, score in row]
    stats = {"search": search, "pairs": len(anchors), "unique_anchors": len(queries), "corpus": len(corpus),
             "triplets": len(triplets), "skipped_as_positive": counts["positive"],
             "skipped_as_anchor": counts["anchor"], "skipped_within_margin": counts["margin"],
             "anchors_short_of_negatives": counts["short"],
             "mean_positive_score": float(np.mean(positive_scores)),
             "mean_negative_score": float(np.mean(negative_scores)) if negative_scores else None}
    return triplets, stats


# ---------------------------------------------------------------------------------------------------------------
# The command: read a config, mine, publish the triplet config with its card.


def load_pairs(repo: str, config: str | None) -> tuple[list[str], list[str]]:
    import datasets

    name = f"{repo} (config {config or 'default'})"
    with library_logs_held("datasets"):  # its own error lines would repeat what the UserError below says
        try:
            data = datasets.load_dataset(repo, config, split="train")
        except Exception as error:  # datasets raises many types; the user needs its message
            if _empty_parquet(error):  # datasets 5 cannot read a Parquet file of 0 rows: a config with no pairs
                raise UserError(f"{name}: no (anchor, positive) pairs to mine; nothing written") from error
            raise UserError(f"{name}: cannot load: {str(error).splitlines()[0] if str(error) else error!r}") \
                from error
    missing = {"anchor", "positive"} - set(data.column_names)
    if missing:
        raise UserError(f"{name}: no column(s) {', '.join(sorted(missing))}; expected (anchor, positive) pairs")
    rows = [(a, p) for a, p in zip(data["anchor"], data["positive"], strict=True) if a and p]
    if not rows:
        raise UserError(f"{name}: no (anchor, positive) pairs to mine; nothing written")
    anchors, positives = (list(column) for column in zip(*rows, strict=True))
    return anchors, positives


def _empty_parquet(error: BaseException | None) -> bool:
    while error is not None:
        if "BatchSize must be greater than 0" in str(error):
            return True
        error = error.__cause__ or error.__context__
    return False


def mine_negatives(repo: str, config: str | None, model_path: str, out: str | Path, settings: MiningSettings, *,
                   cache_dir: str | Path = "~/.cache/se1b/mining", batch_size: int = 128,
                   name: str | None = None) -> Path:
    """Mine `repo`'s config `config` with `model_path` and publish config `name` (default `<config>-hard-negatives`)
    into the dataset folder `out`; returns `out`."""
    from training.model.sentence_model import load_sentence_model, resolve_model_folder

    settings.check()
    if config is not None:
        check_name(config, "--config")
    config_name = check_name(name, "--name") if name is not None else f"{config or 'default'}-hard-negatives"
    _check_out(Path(out))
    anchors, positives = load_pairs(repo, config)
    if not search_label(settings, len(set(positives))).startswith("exact"):
        _faiss()  # a missing faiss is said before the embedding, not after
    model_dir = resolve_model_folder(model_path)
    model = load_sentence_model(model_dir)
    cache = Path(cache_dir)
    query_prompt, document_prompt = model.prompts.get("query", ""), model.prompts.get("document", "")
    triplets, stats = mine(
        anchors, positives,
        lambda texts: embed_resumable(model, model_dir, texts, cache, prompt=query_prompt, batch_size=batch_size,
                                      desc="embed anchors"),
        lambda texts: embed_resumable(model, model_dir, texts, cache, prompt=document_prompt,
                                      batch_size=batch_size, desc="embed corpus"),
        settings)
    if not triplets:
        raise UserError(f"{repo} (config {config or 'default'}): no negative survived the rank window and margin "
                        "(widen --range-max or lower --margin); nothing written")
    mining = {"from_config": config or "default", "model": _model_label(model_path), **vars(settings), **stats}
    _publish(repo, config, config_name, triplets, mining, Path(out))
    print(f"mined {stats['triplets']:,} triplets for {stats['unique_anchors']:,} anchors; skipped "
          f"{stats['skipped_as_positive']:,} own positives, {stats['skipped_as_anchor']:,} anchors' own texts and "
          f"{stats['skipped_within_margin']:,} candidates within "
          f"the margin; {stats['anchors_short_of_negatives']:,} anchors got fewer than {settings.num_negatives}")
    print(f"published config {config_name} into {out}")
    return Path(out)


def _check_out(out: Path) -> None:
    """The card of `out` is regenerated from its build reports: a folder whose card lists configs that have no
    report (not published by `se1b data publish`) would lose them from its card, so it is refused up front, as is
    any folder publish would not write into (`check_out_dir`)."""
    import yaml

    from datasets_builders.publishing import REPORTS_DIR, check_out_dir

    card = out / "README.md"
    if card.is_file():
        text = card.read_text(encoding="utf-8")
        front = yaml.safe_load(text.split("---")[1]) if text.startswith("---") else {}
        configs = {entry.get("config_name") for entry in (front or {}).get("configs", [])}
        unreported = sorted(c for c in configs if not (out / REPORTS_DIR / f"{c}.json").is_file())
        if unreported:
            raise UserError(f"--out {out}: its card lists config(s) {', '.join(map(str, unreported))} that "
                            f"`se1b data publish` did not write (no {REPORTS_DIR}/<config>.json); publishing would "
                            "drop them from the card. Give a new --out folder")
    check_out_dir(out)


def _model_label(model_path: str) -> str:
    """A Hub id as given; a local folder by its name (the card is published)."""
    return Path(model_path).name if Path(model_path).exists() else model_path


def _publish(repo: str, config: str | None, config_name: str, triplets: list[tuple[str, str, str]],
             mining: dict[str, Any], out: Path) -> None:
    """Write the triplets as config `config_name` of `out` through the builders' publisher; the card gets the
    mining facts from the report's "mining" entry."""
    import datasets

    from datasets_builders.build import ARROW_FILE, Build, write_arrow
    from datasets_builders.publishing import REPORTS_DIR, publish
    from datasets_builders.schema import TRIPLET_FEATURES
    from datasets_builders.stats import BuildStats
    from model_cards.dataset_card import write_dataset_card

    report_path = Path(repo) / REPORTS_DIR / f"{config}.json"
    facts = json.loads(report_path.read_text())["source"] if report_path.is_file() else {
        "pretty_name": config or repo, "description": f"Pairs of {repo}.", "license": "unknown", "language": [],
        "tags": [], "citation": "", "homepage": "", "raw_format": "", "notes": "", "urls": [], "pairs_2021": 0,
        "weight_2021": 0, "files_2021": 0}
    facts = facts | {"name": config_name, "arity": [3],
                     "pretty_name": f"{facts.get('pretty_name', config)} with mined hard negatives",
                     "tags": sorted(set(facts.get("tags", [])) | {"hard-negatives"})}
    stats = BuildStats(source=config_name, rows_read=mining["pairs"], rows_kept=mining["pairs"],
                       pairs_generated=len(triplets), pairs_written=len(triplets))
    with tempfile.TemporaryDirectory(prefix="se1b-mine-") as tmp:
        folder = Path(tmp)
        write_arrow(triplets, folder / ARROW_FILE, TRIPLET_FEATURES)
        build = Build(None, datasets.Dataset.from_file(str(folder / ARROW_FILE)), stats, folder, facts)
        publish(build, out, progress=False)
        del build
    report = out / REPORTS_DIR / f"{config_name}.json"
    report.write_text(json.dumps(json.loads(report.read_text()) | {"mining": mining}, indent=2,
                                 ensure_ascii=False) + "\n")
    write_dataset_card(out)


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of `se1b data mine-negatives`."""
    parser.add_argument("repo", help="dataset repo folder or Hub id holding the pairs (anchor, positive)")
    parser.add_argument("--config", help="the pair config to mine (default: the repo's default config)")
    parser.add_argument("--model", required=True, help="sentence-transformers model folder or id (run in Flax)")
    parser.add_argument("--out", required=True, type=Path, help="dataset folder to publish the triplet config into "
                        "(may be the repo itself: the triplets then sit beside the pairs)")
    parser.add_argument("--name", help="config name to publish (default: <config>-hard-negatives)")
    parser.add_argument("--range-min", type=int, default=0, help="skip this many top candidates (default 0)")
    parser.add_argument("--range-max", type=int, default=50, help="consider the top this many (default 50)")
    parser.add_argument("--num-negatives", type=int, default=1, help="negatives (triplets) per pair (default 1)")
    parser.add_argument("--margin", type=float, default=0.0, help="drop candidates scored within this margin of "
                        "the positive (score + margin > positive score), likely false negatives (default 0.0)")
    parser.add_argument("--no-margin", action="store_true", help="no margin filter at all")
    parser.add_argument("--index", choices=INDEXES, default="auto", help="top-k search: exact (numpy blocks), hnsw "
                        f"(approximate, faiss; pip install faiss-cpu) or auto: exact up to {EXACT_LIMIT:,} corpus "
                        "texts, hnsw above (default auto)")
    parser.add_argument("--hnsw-m", type=int, default=32, help="HNSW links per vector (default 32)")
    parser.add_argument("--ef-construction", type=int, default=200, help="HNSW build candidate list (default 200)")
    parser.add_argument("--ef-search", type=int, default=256,
                        help="HNSW search candidate list: higher = higher recall, slower (default 256)")
    parser.add_argument("--batch-size", type=int, default=128, help="texts per encode batch (default 128)")
    parser.add_argument("--cache-dir", default="~/.cache/se1b/mining",
                        help="embedding chunks are cached here; a rerun resumes (default %(default)s)")


def main(args: argparse.Namespace) -> int:
    check_output_folder(args.out)
    settings = MiningSettings(range_min=args.range_min, range_max=args.range_max, num_negatives=args.num_negatives,
                              margin=None if args.no_margin else args.margin, index=args.index,
                              hnsw_m=args.hnsw_m, ef_construction=args.ef_construction, ef_search=args.ef_search)
    mine_negatives(args.repo, args.config, args.model, args.out, settings, cache_dir=args.cache_dir,
                   batch_size=args.batch_size, name=args.name)
    return 0
