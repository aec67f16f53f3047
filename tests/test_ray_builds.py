"""Builds on Ray Data: the same output whatever the workers, partitions and the order of the files, every record
counted, a killed worker's task retried with identical output, errors from inside tasks as our one line; the joins
and group-bys that span files (Reddit replies, Wikipedia categories, NLI premises)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from test_miners import article, comment, nli_line, wiki_page, write_comments, write_wiki_dump

from datasets_builders import Source, arrow_stream, build, build_source, engine, read_json_lines, tasks
from datasets_builders.schema import PAIR_FEATURES
from se1b.errors import UserError

pytestmark = pytest.mark.usefixtures("ray_session")  # builds run on Ray Data: one instance for all tests


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def reddit_months(folder: Path) -> list[Path]:
    """Three months: a parent in January answered in March, a thread inside February, duplicates across months."""
    folder.mkdir()
    january = [comment("a1", "t3_x", "A question asked back in January."), comment("a2", "t3_x", "Same words here.")]
    february = [comment(f"b{i}", "t3_x", f"Top-level comment number {i} in February.") for i in range(40)]
    february += [comment("bz", "t1_b3", "A reply inside February to number three."), comment("bd", "t1_a2", "x")]
    march = [comment("c1", "t1_a1", "The answer, two months later."), comment("c2", "t1_zz", "Orphan reply here.")]
    march += [comment("c3", "t1_a1", "The answer, two months later."), comment("c4", "t1_a2", "[removed]")]
    months = ((1, january), (2, february), (3, march))
    return [write_comments(folder / f"RC_2015-0{month}.zst", rows) for month, rows in months]


def test_reddit_exact_join_across_months_counts_every_comment(tmp_path):
    files = reddit_months(tmp_path / "raw")
    built = build_source("reddit_comments", files, dedupe=True, progress=False)
    assert built.dataset.to_list() == [
        {"anchor": "Top-level comment number 3 in February.", "positive": "A reply inside February to number three."},
        {"anchor": "A question asked back in January.", "positive": "The answer, two months later."},
    ]  # the second identical March reply is an exact duplicate, removed by the global dedupe
    stats = built.stats
    assert stats.rows_read == 2 + 42 + 4 == stats.rows_kept + stats.rows_filtered + stats.rows_rejected
    assert stats.filtered == {
        "parent_is_submission": 42, "too_short": 1, "parent_not_in_input": 1, "deleted_or_removed": 1,
    }  # fmt: skip
    assert (stats.rows_kept, stats.pairs_generated, stats.duplicates_removed, stats.pairs_written) == (3, 3, 1, 2)


def test_same_output_whatever_the_order_of_the_files_and_the_number_of_workers(tmp_path):
    files = reddit_months(tmp_path / "raw")
    here = build_source("reddit_comments", files[::-1], dedupe=True, out_dir=tmp_path / "two", progress=False)
    env = {key: value for key, value in os.environ.items() if key != engine.ADDRESS_ENV}
    command = [sys.executable, "-m", "se1b.cli", "data", "build", "reddit_comments", "--raw", *map(str, files)]
    command += ["--dedupe", "--num-cpus", "1", "--out", str(tmp_path / "one")]
    done = subprocess.run(command, env=env, capture_output=True, text=True)  # its own 1-CPU Ray instance
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "one" / "pairs.arrow").read_bytes() == (tmp_path / "two" / "pairs.arrow").read_bytes()
    one = json.loads((tmp_path / "one" / "build.json").read_text())["stats"]
    assert one == here.stats.to_dict() and here.stats.summary() in done.stdout


def killing_reader(path: str):
    """Reads JSON lines, but the first time it meets line 15,001 of b.jsonl it SIGKILLs its own worker process (a
    marker beside the file remembers that it did): a task that writes its part has written a batch by then."""
    marker = Path(path).with_suffix(".killed")
    for item in read_json_lines(path):
        if item[0] == 15_001 and Path(path).name == "b.jsonl" and not marker.exists():
            marker.write_text("killed once\n")
            os.kill(os.getpid(), signal.SIGKILL)
        yield item


KILLED = Source(
    name="killed_worker_test", pretty_name="t", description="t", license="mit", citation="", homepage="",
    reader=killing_reader,
)  # fmt: skip


@pytest.mark.parametrize("dedupe", [False, True], ids=["parts", "dedupe"])
def test_a_killed_worker_is_retried_and_the_output_is_identical(tmp_path, dedupe):
    sizes = {"a": 300, "b": 25_000, "c": 300}
    files = [write_jsonl(tmp_path / f"{name}.jsonl", [[f"{name}{i}", f"x{i}"] for i in range(size)])
             for name, size in sizes.items()]  # fmt: skip
    killed = build_source(KILLED, files, dedupe=dedupe, out_dir=tmp_path / "killed", progress=False)
    assert (tmp_path / "b.killed").exists()  # the worker reading b.jsonl was killed once
    undisturbed = build_source(KILLED, files, dedupe=dedupe, out_dir=tmp_path / "calm", progress=False)
    assert (tmp_path / "killed" / "pairs.arrow").read_bytes() == (tmp_path / "calm" / "pairs.arrow").read_bytes()
    assert killed.stats.to_dict() == undisturbed.stats.to_dict()
    assert killed.stats.rows_read == killed.stats.pairs_written == 25_600
    assert sorted(path.name for path in (tmp_path / "killed").iterdir()) == ["build.json", "pairs.arrow"]


# A build in its own process whose reader, in a Ray worker, SIGKILLs the driver when it meets b.jsonl.
KILL_THE_DRIVER = """
import os, signal, sys
from datasets_builders import Source, build_source, read_json_lines
driver = os.getpid()
def reader(path):
    if path.endswith("b.jsonl"):
        os.kill(driver, signal.SIGKILL)
    yield from read_json_lines(path)
source = Source(name="killed_driver_test", pretty_name="t", description="t", license="mit", citation="",
                homepage="", reader=reader)
build_source(source, sys.argv[2:], out_dir=sys.argv[1], num_cpus=1, progress=False)
"""
UNKILLED = Source(name="killed_driver_test", pretty_name="t", description="t", license="mit", citation="", homepage="")


def test_a_killed_driver_leaves_the_earlier_build_and_a_rerun_succeeds(tmp_path):
    files = [write_jsonl(tmp_path / f"{name}.jsonl", [[f"{name}{i}", f"x{i}"] for i in range(300)]) for name in "abc"]
    out = tmp_path / "out"
    earlier = build_source(UNKILLED, files[:1], out_dir=out, progress=False)  # a.jsonl alone: the earlier build
    before = {name: (out / name).read_bytes() for name in ("pairs.arrow", "build.json")}
    env = {key: value for key, value in os.environ.items() if key != engine.ADDRESS_ENV}
    command = [sys.executable, "-c", KILL_THE_DRIVER, str(out), *map(str, files)]
    driver = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True, start_new_session=True)
    _, stderr = driver.communicate()
    with contextlib.suppress(ProcessLookupError):  # Ray's agent processes outlive a killed driver: end its group
        os.killpg(driver.pid, signal.SIGKILL)
    assert driver.returncode == -signal.SIGKILL, stderr
    assert {name: (out / name).read_bytes() for name in before} == before and len(earlier.dataset) == 300
    rerun = build_source(UNKILLED, files, out_dir=out, progress=False)
    assert rerun.stats.pairs_written == 900 and not list(tmp_path.glob(".out.*"))  # the killed run's staging: gone


def test_an_error_inside_a_task_is_one_line_naming_file_and_line(tmp_path):
    files = [write_jsonl(tmp_path / "a.jsonl", [["a", "b"]]), tmp_path / "b.jsonl"]
    files[1].write_text('["ok", "pair"]\n[1, 2]\n')
    with pytest.raises(UserError) as raised:
        build_source("squad", files, progress=False)
    assert str(raised.value) == (
        f"{files[1]}:line 2: wrong_type: 'line' holds a int, expected text (use --on-error skip to skip and count)"
    )



PLAIN = Source(name="ranged_test", pretty_name="t", description="t", license="mit", citation="", homepage="")


def test_ranges_of_one_uncompressed_file_build_what_one_task_builds(tmp_path, monkeypatch):
    lines = [{"anchor": f"question number {i}", "positive": f"the answer {i}"} for i in range(400)]
    lines[300] = {"anchor": "a", "positive": 5}
    path = write_jsonl(tmp_path / "big.jsonl", lines)
    whole = build_source(PLAIN, [path], on_error="skip", out_dir=tmp_path / "whole", progress=False)
    monkeypatch.setattr(build, "_RANGE_BYTES", 1500)
    assert len(build._read_spans(PLAIN, [str(path)])) > 5
    ranged = build_source(PLAIN, [path], on_error="skip", out_dir=tmp_path / "ranged", progress=False)
    assert (tmp_path / "ranged" / "pairs.arrow").read_bytes() == (tmp_path / "whole" / "pairs.arrow").read_bytes()
    assert ranged.stats.to_dict() == whole.stats.to_dict()
    assert ranged.stats.rejected == {"wrong_type": 1} and ranged.stats.pairs_written == 399
    with pytest.raises(UserError) as raised:
        build_source(PLAIN, [path], progress=False)
    assert str(raised.value).startswith(f"{path}:line 301: wrong_type: 'positive' must be text")


def wiki_parts(folder: Path) -> list[Path]:
    """Two dump parts whose categories straddle them (Lakes joins an article of each part), a page without category
    and a redirect."""
    folder.mkdir()

    def page(number: int, title: str, categories: list[str]) -> str:
        body = f"{title} is a place in the hills whose long description fills this introduction."
        return wiki_page(number, title, article(title, body, categories))

    first = [page(1, "Elbe", ["Rivers"]), page(2, "Constance", ["Lakes"]), page(3, "Brocken", ["Hills"])]
    first += [page(4, "Harz", ["Hills"]), page(5, "Nowhere", [])]
    second = [page(6, "Danube", ["Rivers"]), page(7, "Rhine", ["Rivers"]), page(8, "Garda", ["Lakes"])]
    second += [page(9, "Feldberg", ["Hills"]), wiki_page(10, "Old Rhine", "#REDIRECT [[Rhine]]", redirect="Rhine")]
    return [
        write_wiki_dump(folder / "enwiki-20210501-pages-articles1.xml-p1p5.bz2", first),
        write_wiki_dump(folder / "enwiki-20210501-pages-articles2.xml-p6p10.bz2", second),
    ]


def test_wikipedia_groups_across_dump_parts_alike_whatever_the_order_workers_and_partitions(tmp_path, monkeypatch):
    files = wiki_parts(tmp_path / "raw")
    monkeypatch.setattr(engine, "shuffle_partitions", lambda dataset: 3)  # every group-by and join in 3 partitions
    here = build_source("wikipedia_category_intros", files[::-1], out_dir=tmp_path / "two", progress=False)
    env = {key: value for key, value in os.environ.items() if key != engine.ADDRESS_ENV}
    command = [sys.executable, "-m", "se1b.cli", "data", "build", "wikipedia_category_intros", "--raw"]
    command += [*map(str, files), "--num-cpus", "1", "--out", str(tmp_path / "one")]
    done = subprocess.run(command, env=env, capture_output=True, text=True)  # its own 1-CPU Ray instance
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "one" / "pairs.arrow").read_bytes() == (tmp_path / "two" / "pairs.arrow").read_bytes()
    assert json.loads((tmp_path / "one" / "build.json").read_text())["stats"] == here.stats.to_dict()
    pairs = {frozenset((row["anchor"].split()[0], row["positive"].split()[0])) for row in here.dataset}
    # each category of n articles gives n - 1 pairs, Lakes only across the two parts
    assert len(here.dataset) == 5 and frozenset(("Constance", "Garda")) in pairs
    assert all(pair <= {"Elbe", "Danube", "Rhine"} or pair <= {"Brocken", "Harz", "Feldberg"} for pair in pairs - {
        frozenset(("Constance", "Garda"))})  # fmt: skip
    stats = here.stats
    assert stats.rows_read == 10 == stats.rows_kept + stats.rows_filtered + stats.rows_rejected
    assert stats.filtered == {"no_category": 1, "redirect": 1, "no_shared_category": 3} and stats.rows_kept == 5


def nli_file(path: Path, lines: list[tuple[str, str, str]]) -> Path:
    return write_jsonl(path, [nli_line(premise, hypothesis, label, f"{n}x") for n, (premise, hypothesis, label) in
                              enumerate(lines)])  # fmt: skip


def test_nli_triplets_group_a_premise_across_files_in_input_order(tmp_path):
    sea, dog = "A boat sails on the sea.", "A dog catches a ball."
    first = nli_file(tmp_path / "a.jsonl", [(sea, "Nobody is on the water.", "contradiction"),
                                            (dog, "An animal plays.", "entailment")])  # fmt: skip
    second = nli_file(tmp_path / "b.jsonl", [(sea, "A vessel is at sea.", "entailment"),
                                             (sea, "Someone is sailing.", "entailment"),
                                             (sea, "The boat is in a garage.", "contradiction"),
                                             (dog, "The dog is asleep.", "contradiction")])  # fmt: skip
    built = build_source("nli_triplets", [second, first], progress=False)  # files in natural order: a, then b
    assert [tuple(row.values()) for row in built.dataset] == [
        (dog, "An animal plays.", "The dog is asleep."),
        (sea, "A vessel is at sea.", "Nobody is on the water."),  # the i-th entailment takes the (i mod n)-th
        (sea, "Someone is sailing.", "The boat is in a garage."),  # contradiction, both in input order
    ]
    stats = built.stats
    assert stats.rows_read == 6 == stats.rows_kept + stats.rows_filtered and stats.rows_kept == 3
    assert stats.filtered == {"contradiction_used_as_negative": 3}


class Blocks:
    """What `write_arrow_batches` reads of a Ray dataset: its blocks, in order."""

    def __init__(self, *tables: pa.Table) -> None:
        self.tables = tables

    def iter_batches(self, **_) -> list[pa.Table]:
        return list(self.tables)


def rows_block(texts: list[str], first: int) -> pa.Table:
    count = len(texts)
    columns = [pa.array([0] * count, pa.int32()), pa.array(range(first, first + count), pa.int64()), pa.array(texts),
               pa.array(texts), pa.nulls(count, pa.string()), pa.nulls(count, pa.string())]  # fmt: skip
    return pa.table(columns, schema=tasks.ROWS)


def test_the_arrow_file_does_not_depend_on_how_ray_split_the_rows_into_blocks(tmp_path):
    texts = [f"text number {i} " * (i % 5 + 1) for i in range(10_005)]
    # one block: the first batch of 10,000 rows is a view of it whose buffers hold more than those rows
    whole = Blocks(rows_block(texts, 0))
    split = Blocks(rows_block(texts[:10_000], 0), rows_block(texts[10_000:], 10_000))
    for name, blocks in (("whole", whole), ("split", split)):
        assert build.write_arrow_batches(blocks, tmp_path / f"{name}.arrow", PAIR_FEATURES) == (10_005, [])
    assert (tmp_path / "whole.arrow").read_bytes() == (tmp_path / "split.arrow").read_bytes()


def counts_block(counts: dict) -> pa.Table:
    return pa.table([[0], [-1], [None], [None], [None], [json.dumps(counts)]], schema=tasks.ROWS)


def part_block(parts: Path, name: str, texts: list[str]) -> pa.Table:
    """A read task's part of `texts` written into `parts`, and the counts row that tells the driver of it."""
    with arrow_stream.part_file(parts / name, PAIR_FEATURES.arrow_schema) as writer:
        writer.write(pa.table({"anchor": texts, "positive": texts}))
    return counts_block({"order": [0, 0, 0], "stats": {"source": "t"}, "part": {"name": name, "rows": len(texts)}})


def test_parts_written_by_tasks_take_their_place_among_rows_sent_through_ray(tmp_path):
    texts = [f"text number {i} " * (i % 5 + 1) for i in range(25_000)]
    sent = Blocks(rows_block(texts, 0))
    assert build.write_arrow_batches(sent, tmp_path / "sent.arrow", PAIR_FEATURES) == (25_000, [])
    parts = tmp_path / "parts"
    parts.mkdir()
    heard = []
    mixed = Blocks(
        counts_block({"progress": 10_000}), part_block(parts, "part-00000.arrow", texts[:12_345]),
        rows_block(texts[12_345:20_000], 0),  # a task on a node that does not see the folder: its rows came
        counts_block({"order": [0, 1, 0], "stats": {"source": "t"}}),
        part_block(parts, "part-00002.arrow", texts[20_000:]),
    )  # fmt: skip
    written, counted = build.write_arrow_batches(mixed, tmp_path / "mixed.arrow", PAIR_FEATURES, parts, heard.append)
    assert (tmp_path / "mixed.arrow").read_bytes() == (tmp_path / "sent.arrow").read_bytes()
    assert written == 25_000 == sum(heard) and len(counted) == 3  # the progress bar heard of every row once
    lone = Blocks(part_block(parts, "part-00003.arrow", texts))
    assert build.write_arrow_batches(lone, tmp_path / "lone.arrow", PAIR_FEATURES, parts)[0] == 25_000
    assert (tmp_path / "lone.arrow").read_bytes() == (tmp_path / "sent.arrow").read_bytes()
    assert not (parts / "part-00003.arrow").exists()  # one part alone is renamed, not copied


def test_a_part_written_where_the_driver_does_not_see_it_is_one_line(tmp_path):
    (tmp_path / "parts").mkdir()
    elsewhere = counts_block({"order": [0, 0, 0], "stats": {"source": "t"}, "part": {"name": "part-00000.arrow",
                                                                                     "rows": 3}})  # fmt: skip
    with pytest.raises(UserError, match="give --out a folder on a disk that every node shares"):
        build.write_arrow_batches(Blocks(elsewhere), tmp_path / "x.arrow", PAIR_FEATURES, tmp_path / "parts")


def test_tasks_that_do_not_see_the_build_folder_send_their_rows_and_the_file_is_the_same(tmp_path):
    files = [write_jsonl(tmp_path / f"{name}.jsonl", [[f"{name} question {i}", f"answer {i}"] for i in range(999)])
             for name in "ab"]  # fmt: skip
    built = build_source(PLAIN, files, out_dir=tmp_path / "shared", progress=False)
    schema = PAIR_FEATURES.arrow_schema
    with engine.session():  # a folder that no worker sees, as on a node without the shared disk
        rows = build._rows_on_ray(PLAIN, list(map(str, files)), "raise", False, tmp_path / "not-shared", schema)
        written, counted = build.write_arrow_batches(rows, tmp_path / "sent.arrow", PAIR_FEATURES)
    assert (tmp_path / "sent.arrow").read_bytes() == (built.path / "pairs.arrow").read_bytes()
    assert written == built.stats.pairs_written == 1998 and len(counted) == 2
