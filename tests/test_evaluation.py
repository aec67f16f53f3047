"""STS and retrieval evaluators against independent references, input formats, and `se1b eval` end to end."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from se1b.errors import UserError
from training.evaluation.retrieval import evaluate_retrieval, load_beir
from training.evaluation.sts import evaluate_sts, load_sts

# Pairs written for these tests, with similarity scores on the STSb 0-5 scale.
STS_PAIRS = [
    ("A man is playing a guitar.", "A man plays the guitar.", 4.8),
    ("A woman is slicing an onion.", "A woman is cutting an onion.", 4.6),
    ("A dog runs across the field.", "A dog is running on the grass.", 4.0),
    ("Two children are playing football.", "Kids are kicking a ball around.", 3.8),
    ("The stock market fell sharply today.", "Shares dropped steeply on Monday.", 3.6),
    ("A cat sleeps on the sofa.", "A cat is eating its food.", 2.2),
    ("A man is riding a horse.", "A man is riding a bicycle.", 2.0),
    ("The chef is cooking pasta.", "A cook boils noodles in a pot.", 3.9),
    ("A plane is taking off.", "An aircraft leaves the runway.", 4.4),
    ("She is reading a book in the park.", "A woman sings on a stage.", 0.8),
    ("The train arrived late.", "Bananas are rich in potassium.", 0.0),
    ("A boy is swimming in the lake.", "A child swims in the water.", 4.2),
    ("Heavy rain flooded the streets.", "The city streets were under water after the storm.", 4.1),
    ("A person is typing on a keyboard.", "Someone is writing on a laptop.", 3.5),
    ("The museum opens at nine.", "The sky is blue over the sea.", 0.2),
    ("Two men are shaking hands.", "Two people greet each other.", 3.2),
]


def write_stsb_tsv(path: Path) -> Path:
    lines = ["sentence1\tsentence2\tscore"] + [f"{a}\t{b}\t{s}" for a, b, s in STS_PAIRS]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def minilm(minilm_path):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(minilm_path))


def test_sts_agrees_with_sentence_transformers_evaluator(tmp_path, minilm):
    from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator

    data = load_sts(write_stsb_tsv(tmp_path / "sts-dev.tsv"))
    ours = evaluate_sts(minilm.encode, data)
    reference = EmbeddingSimilarityEvaluator(
        [a for a, _, _ in STS_PAIRS], [b for _, b, _ in STS_PAIRS], [s for _, _, s in STS_PAIRS],
        similarity_fn_names=["cosine"], write_csv=False,
    )(minilm)
    assert ours["pairs"] == len(STS_PAIRS)
    assert ours["spearman"] == pytest.approx(reference["spearman_cosine"], abs=1e-6)
    assert ours["pearson"] == pytest.approx(reference["pearson_cosine"], abs=1e-5)
    assert ours["spearman"] > 0.7  # a real model ranks these pairs well; a broken pipeline would not


def test_sts_formats_read_the_same_pairs(tmp_path):
    import datasets

    expected = load_sts(write_stsb_tsv(tmp_path / "dev.tsv"))
    raw = tmp_path / "sts-dev.csv"  # the original STSb layout: tab-separated, no header, unquoted
    raw.write_text("".join(f"main-captions\tMSRvid\t2012test\t{i:04d}\t{s}\t{a}\t{b}\n"
                           for i, (a, b, s) in enumerate(STS_PAIRS)), encoding="utf-8")
    csv_file = tmp_path / "pairs.csv"
    datasets.Dataset.from_dict({"sentence1": expected.sentences1, "sentence2": expected.sentences2,
                                "score": expected.scores}).to_csv(str(csv_file), index=False)
    hub_folder = tmp_path / "hub-stsb"
    (hub_folder / "data").mkdir(parents=True)
    datasets.Dataset.from_dict({"sentence1": expected.sentences1, "sentence2": expected.sentences2,
                                "score": expected.scores}).to_parquet(str(hub_folder / "data" / "test-00000.parquet"))
    for source in (raw, csv_file, hub_folder):
        got = load_sts(source)
        assert (got.sentences1, got.sentences2, got.scores) == (
            expected.sentences1, expected.sentences2, expected.scores), source


def test_sts_split_column_and_bad_rows(tmp_path):
    gz = tmp_path / "stsbenchmark.tsv"
    rows = ["split\tgenre\tscore\tsentence1\tsentence2"]
    rows += [f"{'dev' if i % 2 else 'test'}\tnews\t{s}\t{a}\t{b}" for i, (a, b, s) in enumerate(STS_PAIRS)]
    gz.write_text("\n".join(rows) + "\n", encoding="utf-8")
    dev = load_sts(gz, split="dev")
    assert dev.sentences1 == [a for i, (a, _, _) in enumerate(STS_PAIRS) if i % 2]
    bad = tmp_path / "bad.tsv"
    bad.write_text("sentence1\tsentence2\tscore\na\tb\t1.0\nc\td\thigh\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"bad.tsv: line 3: score 'high'"):
        load_sts(bad)


def write_beir(folder: Path) -> dict[str, np.ndarray]:
    """A 3-query BEIR folder, and the embedding of every text it holds (the "model" is a lookup table).

    Documents d1..d5 are unit vectors e0..e4; 150 filler documents f0..f149 point along e5 with a small,
    decreasing component along e0..e4, so every query ranks them after d1..d5, in order: f_j at rank 6 + j.
    """
    vectors = {f"doc {i}": np.eye(6)[i] for i in range(5)}
    vectors["Title one doc 0"] = vectors.pop("doc 0")  # the first document has a title
    for j in range(150):
        vectors[f"filler {j}"] = np.array([1e-3 * (150 - j)] * 5 + [1.0])
    queries = {"q1": [0.5, 0.4, 0.9, 0.2, 0.1, 0], "q2": [0.9, 0.8, 0.7, 0.6, 0.5, 0],
               "q3": [0.1, 0.9, 0.2, 0.3, 0.4, 0], "q4": [1, 0, 0, 0, 0, 0]}
    for query_id, vector in queries.items():
        vectors[f"query {query_id}"] = np.array(vector)
    folder.mkdir()
    corpus = [{"_id": "d1", "title": "Title one", "text": "doc 0"}]
    corpus += [{"_id": f"d{i + 1}", "title": "", "text": f"doc {i}"} for i in range(1, 5)]
    corpus += [{"_id": f"f{j}", "text": f"filler {j}"} for j in range(150)]
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in corpus))
    lines = [json.dumps({"_id": q, "text": f"query {q}"}) + "\n" for q in queries]
    (folder / "queries.jsonl").write_text("".join(lines))
    (folder / "qrels").mkdir()
    qrels = [("q1", "d1", 2), ("q1", "d2", 1), ("q2", "d5", 1), ("q2", "f120", 1), ("q3", "d2", 1), ("q3", "f10", 1),
             ("q3", "d4", 0), ("q1", "missing-doc", 1)]  # q4 has no judgment; one judgment names no document
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{s}\n" for q, d, s in qrels))
    return vectors


def test_retrieval_matches_hand_computed_metrics(tmp_path):
    vectors = write_beir(tmp_path / "beir")
    data = load_beir(tmp_path / "beir", "test")
    assert sorted(data.queries) == ["q1", "q2", "q3"]
    assert data.skipped == {"judgment for a document not in corpus.jsonl": 1,
                            "query without a relevant document in test": 1,
                            "judgment with score <= 0 (not relevant)": 1}
    result = evaluate_retrieval(lambda texts: np.stack([vectors[t] for t in texts]), data)

    # Hand computation. Rankings: q1 d3 d1 d2 d4 d5 f0..; q2 d1 d2 d3 d4 d5 f0..; q3 d2 d5 d4 d3 d1 f0..
    log2 = math.log2
    ndcg_q1 = (2 / log2(3) + 1 / log2(4)) / (2 / log2(2) + 1 / log2(3))  # d1 (rel 2) at rank 2, d2 (rel 1) at 3
    ndcg_q2 = (1 / log2(6)) / (1 + 1 / log2(3))  # d5 at rank 5; f120 at rank 126, beyond 10
    ndcg_q3 = 1 / (1 + 1 / log2(3))  # d2 at rank 1; f10 at rank 16, beyond 10
    assert result["ndcg@10"] == pytest.approx((ndcg_q1 + ndcg_q2 + ndcg_q3) / 3, abs=1e-9)
    assert result["mrr@10"] == pytest.approx((1 / 2 + 1 / 5 + 1 / 1) / 3, abs=1e-9)
    assert result["recall@100"] == pytest.approx((1 + 1 / 2 + 1) / 3, abs=1e-9)  # only f120 falls beyond 100
    assert (result["queries"], result["corpus"]) == (3, 155)


def test_beir_errors_name_the_file(tmp_path):
    write_beir(tmp_path / "beir")
    with pytest.raises(UserError, match=r"qrels/dev.tsv: missing"):
        load_beir(tmp_path / "beir", "dev")
    (tmp_path / "beir" / "queries.jsonl").write_text('{"_id": "q1", "text": "x"}\n{broken\n')
    with pytest.raises(UserError, match=r"queries.jsonl: line 2: not valid JSON"):
        load_beir(tmp_path / "beir", "test")


def test_se1b_eval_command(tmp_path, minilm_path, minilm):
    from se1b.cli import main

    sts_file = write_stsb_tsv(tmp_path / "dev.tsv")
    write_beir(tmp_path / "beir")
    output = tmp_path / "results.json"
    # (--bias through the CLI runs in test_model_card_run.py, on a tiny model: cheaper than 1,300 MiniLM texts)
    assert main(["eval", str(minilm_path), "--sts", str(sts_file), "--retrieval", str(tmp_path / "beir"),
                 "--output", str(output)]) == 0
    results = {r["task"]: r for r in json.loads(output.read_text())["evaluations"]}
    assert results["sts"]["metrics"]["spearman"] == pytest.approx(
        evaluate_sts(minilm.encode, load_sts(sts_file))["spearman"], abs=1e-6)
    assert set(results["retrieval"]["metrics"]) >= {"ndcg@10", "mrr@10", "recall@100"}
    assert main(["eval", str(minilm_path)]) == 2  # nothing asked: a one-line error, not a traceback
    assert main(["eval", str(minilm_path), "--sts", str(tmp_path / "missing.tsv")]) == 2
    assert main(["eval", str(tmp_path), "--bias"]) == 2  # not a model folder


def test_flax_backend_matches_sentence_transformers(tmp_path, minilm_path, minilm):
    from training.evaluation.evaluate import load_encoder

    data = load_sts(write_stsb_tsv(tmp_path / "dev.tsv"))
    flax = evaluate_sts(load_encoder(str(minilm_path), backend="flax"), data)
    torch = evaluate_sts(minilm.encode, data)
    assert flax["spearman"] == pytest.approx(torch["spearman"], abs=1e-3)
    assert flax["pearson"] == pytest.approx(torch["pearson"], abs=1e-3)
