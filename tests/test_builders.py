"""Every catalogued source: a raw fixture in its real format -> build -> publish -> load_dataset (both modes)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from datasets.arrow_writer import get_writer_batch_size_from_data_size

from datasets_builders import build_source, get_source, list_sources, load_build
from datasets_builders.build import ARROW_FILE
from datasets_builders.publishing import publish
from model_cards.dataset_card import size_category

pytestmark = pytest.mark.usefixtures("ray_session")  # builds run on Ray Data: one instance for all tests

# The raw form of each catalogued source's files (the form its canonical URL serves; see the catalog).
PAIR_LIST = (
    "altlex",
    "eli5",
    "gooaq",
    "natural_questions",
    "paq",
    "s2orc_citation_abstracts",
    "s2orc_citation_titles",
    "s2orc_title_abstract",
    "sentence_compression",
    "simplewiki",
    "squad",
    "stackexchange_duplicates_body_body",
    "stackexchange_duplicates_title_title",
    "stackexchange_duplicates_titlebody_titlebody",
    "triviaqa",
    "wikihow",
    "yahoo_answers_question_answer",
    "yahoo_answers_title_answer",
    "yahoo_answers_title_question",
)
TRIPLET_LIST = ("allnli", "msmarco_triplets", "quora_duplicates_triplets", "specter")
SETS = ("coco_captions", "flickr30k_captions", "wikianswers")
QUERY_POS = ("amazon_qa", "searchqa")
TEXTS_DICT = ("stackexchange_title_answer", "stackexchange_title_body", "stackexchange_titlebody_answer")
CONTEXT_RESPONSE = ("reddit",)
CODE = ("codesearchnet",)
ALL_FORMS = PAIR_LIST + TRIPLET_LIST + SETS + QUERY_POS + TEXTS_DICT + CONTEXT_RESPONSE + CODE


def raw_fixture(name: str) -> tuple[list[object], list[dict]]:
    """Raw records of `name` in its real format, with messy whitespace, and the rows the build must produce."""
    t = name.replace("_", " ")
    if name in PAIR_LIST:
        records = [[f"  {t} question\n one ", f"{t}\tanswer  one"], [f"{t} question two", f"{t} answer two"]]
        rows = [(f"{t} question one", f"{t} answer one", None), (f"{t} question two", f"{t} answer two", None)]
    elif name in TRIPLET_LIST:
        records = [[f"{t} anchor", f" {t} positive ", f"{t}\n\nnegative"], [f"{t} a2", f"{t} p2", f"{t} n2"]]
        rows = [(f"{t} anchor", f"{t} positive", f"{t} negative"), (f"{t} a2", f"{t} p2", f"{t} n2")]
    elif name in SETS:
        records = [{"set": [f"{t} one", f"{t}  two", f"{t} three"]}, {"set": [f"{t} four", f"{t} five"]}]
        rows = [
            (f"{t} one", f"{t} two", None),
            (f"{t} one", f"{t} three", None),
            (f"{t} two", f"{t} three", None),
            (f"{t} four", f"{t} five", None),
        ]
    elif name in QUERY_POS:
        records = [{"query": f"{t} q1", "pos": [f"{t} a1", f"{t} a2"]}, {"query": f"{t} q2", "pos": [f"{t} a3"]}]
        rows = [(f"{t} q1", f"{t} a1", None), (f"{t} q1", f"{t} a2", None), (f"{t} q2", f"{t} a3", None)]
    elif name in TEXTS_DICT:
        records = [{"texts": [f"{t} title", f"<p>{t} body</p>\n"]}, [f"{t} title 2", f"{t} body 2"]]
        rows = [(f"{t} title", f"<p>{t} body</p>", None), (f"{t} title 2", f"{t} body 2", None)]
    elif name in CONTEXT_RESPONSE:
        records = [{"context": f"{t} what do you think?", "response": f"{t}  I agree."}]
        rows = [(f"{t} what do you think?", f"{t} I agree.", None)]
    elif name in CODE:
        code = "def add(a, b):\n    return a + b\n"
        records = [["Add two numbers.  ", code], ["Return one.", "def one():\n    return 1"]]
        rows = [("Add two numbers.", code.strip(), None), ("Return one.", "def one():\n    return 1", None)]
    else:
        raise AssertionError(f"no fixture form for source {name}")
    # pair sources publish (anchor, positive), triplet sources (anchor, positive, negative)
    return records, [{"anchor": a, "positive": p} | ({} if n is None else {"negative": n}) for a, p, n in rows]


def write_jsonl_gz(path: Path, records: list[object]) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")
    return path


def test_catalog_covers_the_2021_data_config_exactly(minilm_path):
    """Every one of the 290 files of all-MiniLM-L6-v2's data_config.json belongs to exactly one source, with its
    line count and weight, so the catalog sums to the 2021 totals."""
    published = json.loads((minilm_path / "data_config.json").read_text())
    files = [row for source in list_sources() for row in source.files_2021]
    assert sorted(files) == sorted((e["name"], e["lines"], e["weight"]) for e in published)
    assert sum(source.pairs_2021 for source in list_sources()) == 1_170_060_424 == sum(e["lines"] for e in published)
    assert sorted(s.name for s in list_sources() if s.files_2021) == sorted(ALL_FORMS)
    for source in list_sources():
        assert source.description and source.license and source.homepage.startswith("http")
        assert source.citation.startswith("@") and source.raw_format
        assert source.urls or source.notes, f"{source.name}: no canonical file and no note on where raw data is"


@pytest.fixture(scope="module")
def published_catalog(tmp_path_factory) -> tuple[Path, dict[str, list[dict]]]:
    """Every catalogued source built from its fixture and published one after another into ONE folder."""
    root = tmp_path_factory.mktemp("catalog")
    expected = {}
    for name in ALL_FORMS:
        records, rows = raw_fixture(name)
        raw = write_jsonl_gz(root / f"{name}.jsonl.gz", records)
        build = build_source(name, [raw], progress=False)
        assert build.stats.rows_read == len(records) == build.stats.rows_kept
        publish(build, root / "hub", progress=False)  # each publish adds a config, keeping the others
        expected[name] = rows
    return root / "hub", expected


@pytest.mark.parametrize("name", ALL_FORMS)
def test_every_source_round_trips_through_load_dataset(published_catalog, name):
    hub, expected = published_catalog
    assert datasets.load_dataset(str(hub), name, split="train").to_list() == expected[name]
    assert list(datasets.load_dataset(str(hub), name, split="train", streaming=True)) == expected[name]


def test_card_describes_every_config_with_real_counts(published_catalog):
    hub, expected = published_catalog
    text = (hub / "README.md").read_text()
    _, front, body = text.split("---\n", 2)
    meta = yaml.safe_load(front)
    assert meta["task_categories"] == ["sentence-similarity", "feature-extraction"]
    assert meta["language"] == ["code", "en"] and meta["size_categories"] == ["n<1K"]
    assert "sentence-transformers" in meta["tags"] and meta["pretty_name"]
    assert set(meta["license"]) == {get_source(name).license for name in expected}
    assert {c["config_name"] for c in meta["configs"]} == set(expected)
    for info in meta["dataset_info"]:
        name = info["config_name"]
        files = sorted((hub / "data" / name).glob("*.parquet"))
        assert (
            info["splits"][0]["num_examples"]
            == len(expected[name])
            == sum(pq.read_metadata(f).num_rows for f in files)
        )
        assert info["download_size"] == sum(f.stat().st_size for f in files)
        triplets = name in TRIPLET_LIST
        assert [f["name"] for f in info["features"]] == ["anchor", "positive"] + ["negative"] * triplets
    assert "## `squad`: SQuAD (question, passage)" in body and "@inproceedings{rajpurkar2016squad" in body
    assert json.dumps(expected["squad"][0]) in body  # example rows
    assert "| 87,599 | 22 |" in body  # 2021 pairs and weight


def test_republishing_a_config_replaces_only_that_config(tmp_path):
    hub = tmp_path / "hub"
    for name in ("squad", "gooaq"):
        publish(
            build_source(name, [write_jsonl_gz(tmp_path / f"{name}.jsonl.gz", raw_fixture(name)[0])], progress=False),
            hub,
            progress=False,
            pretty_name="My pairs",
        )
    publish(
        build_source("squad", [write_jsonl_gz(tmp_path / "new.jsonl.gz", [["new q", "new a"]])], progress=False),
        hub,
        progress=False,
    )
    assert datasets.load_dataset(str(hub), "squad", split="train").to_list() == [
        {"anchor": "new q", "positive": "new a"}
    ]
    assert datasets.load_dataset(str(hub), "gooaq", split="train").to_list() == raw_fixture("gooaq")[1]
    meta = yaml.safe_load((hub / "README.md").read_text().split("---\n")[1])
    assert meta["pretty_name"] == "My pairs"  # remembered across publishes
    assert [i["splits"][0]["num_examples"] for i in meta["dataset_info"]] == [2, 1]
    # one default config, the largest, so load_dataset(folder) needs no config name
    assert [c["config_name"] for c in meta["configs"] if c.get("default")] == ["gooaq"]
    assert datasets.load_dataset(str(hub), split="train").to_list() == raw_fixture("gooaq")[1]


def test_shards_are_bounded_and_named_and_keep_order(tmp_path):
    rows = [[f"question number {i} " + "x" * 50, f"answer number {i} " + "y" * 80] for i in range(3000)]
    build = build_source(
        "squad", [write_jsonl_gz(tmp_path / "big.jsonl.gz", rows)], progress=False, out_dir=tmp_path / "build"
    )
    limit = 100_000
    hub = publish(build, tmp_path / "hub", max_shard_bytes=limit, progress=False)
    shards = sorted((hub / "data" / "squad").iterdir())
    count = len(shards)
    assert count >= -(-build.dataset.data.nbytes // limit) > 1
    assert [s.name for s in shards] == [f"train-{i:05d}-of-{count:05d}.parquet" for i in range(count)]
    sizes = [pq.read_table(s).nbytes for s in shards]
    assert max(sizes) <= limit and min(sizes) > limit / 2  # of about equal size: no small last shard
    loaded = datasets.load_dataset(str(hub), "squad", split="train")
    assert loaded["anchor"] == [" ".join(r[0].split()) for r in rows]
    assert load_build(tmp_path / "build").dataset["positive"] == loaded["positive"]


def test_shards_have_the_row_groups_datasets_writes(tmp_path, monkeypatch):
    """Row groups of about datasets' MAX_ROW_GROUP_SIZE of Arrow data, as Dataset.to_parquet writes them (not one
    per record batch of the build): equal within a shard, the shard's last one shorter."""
    monkeypatch.setattr(datasets.config, "MAX_ROW_GROUP_SIZE", "20KB")  # 100MB in a test would be one group
    rows = [[f"question number {i} " + "x" * 50, f"answer number {i} " + "y" * 80] for i in range(3000)]
    build = build_source("squad", [write_jsonl_gz(tmp_path / "r.jsonl.gz", rows)], progress=False)
    expected = get_writer_batch_size_from_data_size(len(build.dataset), (build.path / ARROW_FILE).stat().st_size)
    hub = publish(build, tmp_path / "hub", max_shard_bytes=200_000, progress=False)
    shards = sorted((hub / "data" / "squad").iterdir())
    for shard in shards:
        metadata = pq.ParquetFile(shard).metadata
        groups = [metadata.row_group(index).num_rows for index in range(metadata.num_row_groups)]
        assert len(groups) > 1 and set(groups[:-1]) == {expected} and 0 < groups[-1] <= expected
    assert len(shards) > 1 and 50 < expected < 1000


def test_shards_are_the_same_whatever_the_number_of_threads_writing_them(tmp_path):
    """publish writes the shards of a config several at a time: each shard's bytes, and so the published folder,
    do not depend on how many; rows larger than a shard still get one each, in order."""
    rows = [[f"question {i}", f"answer {i} " + ("y" * 40_000 if i % 50 == 7 else "z" * (i % 90))] for i in range(900)]
    raw = write_jsonl_gz(tmp_path / "big.jsonl.gz", rows)
    build = build_source("squad", [raw], progress=False, out_dir=tmp_path / "build")
    shards = {}
    for threads in (1, 4):
        hub = publish(build, tmp_path / f"hub{threads}", max_shard_bytes=30_000, progress=False, num_threads=threads)
        shards[threads] = [(path.name, path.read_bytes()) for path in sorted((hub / "data" / "squad").iterdir())]
    assert len(shards[1]) > 20 and shards[4] == shards[1]
    loaded = datasets.load_dataset(str(tmp_path / "hub4"), "squad", split="train")
    assert loaded["positive"] == [" ".join(row[1].split()) for row in rows]
    big = [name for name, data in shards[4] if pq.read_table(pa.BufferReader(data)).nbytes > 30_000]
    assert len(big) == 18  # the rows of 40,000 bytes, each alone in its shard


def test_dedupe_removes_exact_duplicates_and_counts_them(tmp_path):
    raw = write_jsonl_gz(tmp_path / "d.jsonl.gz", [["a", "b"], ["a ", " b"], ["a", "c"], {"set": ["a", "b"]}])
    build = build_source("squad", [raw], dedupe=True, progress=False)
    assert build.dataset.to_list() == [
        {"anchor": "a", "positive": "b"},
        {"anchor": "a", "positive": "c"},
    ]
    stats = build.stats
    assert (stats.rows_read, stats.rows_kept, stats.pairs_generated, stats.duplicates_removed) == (4, 4, 4, 2)
    assert build_source("squad", [raw], progress=False).stats.pairs_written == 4  # off by default


def test_query_pos_neg_records_give_one_triplet_per_positive(tmp_path):
    raw = write_jsonl_gz(tmp_path / "q.jsonl.gz", [{"query": "q", "pos": ["p1", "p2", "p3"], "neg": ["n1", "n2"]}])
    rows = build_source("msmarco_triplets", [raw], progress=False).dataset.to_list()
    assert [(r["positive"], r["negative"]) for r in rows] == [("p1", "n1"), ("p2", "n2"), ("p3", "n1")]


def test_size_categories():
    assert [size_category(n) for n in (0, 999, 1000, 2_500_000, 1_170_060_424)] == [
        "n<1K",
        "n<1K",
        "1K<n<10K",
        "1M<n<10M",
        "1B<n<10B",
    ]
