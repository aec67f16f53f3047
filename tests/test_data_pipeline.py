"""The streaming pair pipeline on fixture Hub-format folders: weights, composition, dedupe, ranks, bad configs."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from pair_fixtures import pair_shards, write_hub_folder, write_three_sources

from se1b.errors import UserError
from training.data.pipeline import PairPipeline, load_data_config

WEIGHTS = {"alpha": 0.6, "beta": 0.3, "gamma": 0.1}


@pytest.fixture(scope="module")
def three(tmp_path_factory) -> dict[str, Path]:
    return write_three_sources(tmp_path_factory.mktemp("pairs"))


def config_for(folders: dict[str, Path], **options) -> dict:
    sources = [{"name": name, "path": str(folders[name]), "weight": weight} for name, weight in WEIGHTS.items()]
    return {"sources": sources, "shuffle_window": 128, **options}


def source_of(text: str) -> str:
    return text.split()[0]  # fixture texts start with their source's name


def texts_of(batch: dict) -> list[str]:
    return [t for side in ("anchor", "positive", "negative") for t in batch.get(side, [])]


def assert_no_repeated_text(batch: dict) -> None:
    rows = list(zip(*(batch[s] for s in ("anchor", "positive", "negative") if s in batch), strict=True))
    counts = Counter(t for row in rows for t in set(row))
    assert max(counts.values()) == 1, f"repeated text in a batch: {counts.most_common(1)}"


def test_mixed_shares_follow_weights_and_batches_hold_no_repeated_text(three):
    pipeline = PairPipeline(config_for(three, batch_composition="mixed"), global_batch_size=8, seed=1)
    rows = Counter()
    for _, batch in zip(range(10_000), pipeline, strict=False):
        assert len(batch["anchor"]) == 8 and "source" not in batch
        assert [source_of(a) for a in batch["anchor"]] == batch["sources"]
        assert_no_repeated_text(batch)
        rows.update(batch["sources"])
    total = sum(rows.values())
    assert total == 80_000
    for name, weight in WEIGHTS.items():
        assert abs(rows[name] / total - weight) < 0.01, (name, rows[name] / total)
    assert pipeline.pairs_per_source == dict(rows)
    # alpha repeats every anchor 3 times: the pipeline met those clashes and deferred them, it did not drop them
    assert pipeline.stats["deferred_duplicates"] > 0 and pipeline.stats["dropped_duplicates"] == 0
    # beta has negatives but alpha and gamma do not: mixed batches leave them out, and say so
    assert pipeline.stats["negatives_ignored"] > 0
    pipeline.close()


def test_single_source_batches_hold_one_source_and_shares_follow_weights(three):
    pipeline = PairPipeline(config_for(three), global_batch_size=2, seed=2)
    batches = Counter()
    for _, batch in zip(range(40_000), pipeline, strict=False):
        assert {source_of(t) for t in texts_of(batch)} == {batch["source"]}
        assert ("negative" in batch) == (batch["source"] == "beta")  # a source's hard negatives are carried
        assert_no_repeated_text(batch)
        batches[batch["source"]] += 1
    for name, weight in WEIGHTS.items():
        assert abs(batches[name] / 40_000 - weight) < 0.01, (name, batches[name] / 40_000)
    pipeline.close()


def test_steps_per_source_keeps_a_source_for_k_steps(three):
    pipeline = PairPipeline(config_for(three, steps_per_source=3), global_batch_size=4)
    sources = [b["source"] for _, b in zip(range(300), pipeline, strict=False)]
    groups = [sources[i:i + 3] for i in range(0, 300, 3)]
    assert all(len(set(g)) == 1 for g in groups)
    assert len({g[0] for g in groups}) == 3  # and it does switch between sources
    pipeline.close()


def test_mixed_carries_negatives_when_every_source_has_them(tmp_path):
    folders = {name: write_hub_folder(tmp_path / name, {"default": pair_shards(name, 200, 1, negatives=True)})
               for name in WEIGHTS}
    pipeline = PairPipeline(config_for(folders, batch_composition="mixed"), global_batch_size=8)
    batch = next(pipeline)
    assert len(batch["negative"]) == 8
    assert [source_of(n) for n in batch["negative"]] == batch["sources"]
    assert pipeline.stats["negatives_ignored"] == 0
    pipeline.close()


def test_swap_sides_swaps_pairs_only(three):
    pipeline = PairPipeline(config_for(three, swap_sides=True), global_batch_size=16, seed=3)
    swapped = Counter()
    for _, batch in zip(range(300), pipeline, strict=False):
        for anchor in batch["anchor"]:
            swapped[(batch["source"], "positive" in anchor)] += 1
    assert swapped[("alpha", True)] > 0 and swapped[("alpha", False)] > 0
    assert swapped[("beta", True)] == 0  # triplets keep anchor and negative together
    pipeline.close()


@pytest.mark.parametrize("composition", ["mixed", "single_source"])
def test_two_ranks_are_disjoint_and_cover_the_data(three, composition):
    config = config_for(three, batch_composition=composition, stopping_strategy="all_exhausted_without_replacement")
    seen = []
    for rank in range(2):
        pipeline = PairPipeline(config, global_batch_size=16, process_index=rank, process_count=2)
        pairs = [(a, p) for batch in pipeline for a, p in zip(batch["anchor"], batch["positive"], strict=True)]
        assert len(pairs) == len(set(pairs))  # a rank sees each pair once in the epoch
        assert pipeline.stats["dropped_duplicates"] == pipeline.stats["dropped_at_end"] == 0
        seen.append(set(pairs))
    everything = {(a, p) for folder in three.values()
                  for shard in pair_shards_of(folder) for a, p in zip(shard["anchor"], shard["positive"], strict=True)}
    assert not seen[0] & seen[1]
    assert seen[0] | seen[1] == everything
    assert len(seen[0]) > 0.3 * len(everything) and len(seen[1]) > 0.3 * len(everything)


@pytest.mark.parametrize("composition", ["mixed", "single_source"])
def test_two_ranks_split_the_one_process_global_batch_row_for_row(three, composition):
    """Every process draws the global batch as one process would and keeps its half: the 2-process global batch is
    the 1-process batch, and the dedupe covers the whole global batch (no text twice across processes)."""
    config = config_for(three, batch_composition=composition, swap_sides=True)
    single = PairPipeline(config, global_batch_size=16, seed=5)
    ranks = [PairPipeline(config, global_batch_size=16, seed=5, process_index=r, process_count=2) for r in range(2)]
    for _ in range(40):
        whole, halves = next(single), [next(rank) for rank in ranks]
        for side in ("anchor", "positive"):
            assert halves[0][side] + halves[1][side] == whole[side] and len(halves[0][side]) == 8
        texts = [t for half in halves for side in ("anchor", "positive", "negative") for t in half.get(side, [])]
        assert len(texts) == len(set(texts))
    assert ranks[0].state_dict()["sources"] == ranks[1].state_dict()["sources"] == single.state_dict()["sources"]
    assert ranks[0].pairs_per_source == single.pairs_per_source  # global counts, the same on every process
    for pipeline in (single, *ranks):
        pipeline.close()


def pair_shards_of(folder: Path) -> list[dict]:
    import pyarrow.parquet as pq

    return [pq.read_table(f).to_pydict() for f in sorted(folder.glob("data/*/*.parquet"))]


def test_duplicates_beyond_the_deferral_limit_are_dropped_and_counted(tmp_path):
    # 400 pairs over only 8 distinct anchors: most rows clash with the batch they arrive in
    folder = write_hub_folder(tmp_path / "dup", {"default": pair_shards("dup", 400, 1, repeat_anchor=50)})
    config = {"sources": [{"name": "dup", "path": str(folder)}],
              "stopping_strategy": "all_exhausted_without_replacement"}
    pipeline = PairPipeline(config, global_batch_size=4)
    emitted = 0
    for batch in pipeline:
        assert_no_repeated_text(batch)
        emitted += len(batch["anchor"])
    stats = pipeline.stats
    assert stats["dropped_duplicates"] > 0
    assert emitted + stats["dropped_duplicates"] + stats["dropped_at_end"] == 400  # every row accounted for


def test_tokenized_batches_follow_the_contract(three, minilm_path):
    pipeline = PairPipeline(config_for(three), global_batch_size=8, tokenizer=minilm_path, max_seq_length=32,
                            num_workers=2)
    shapes = set()
    for _, batch in zip(range(40), pipeline, strict=False):
        for side in ("anchor", "positive", "negative"):
            if side not in batch:
                assert side == "negative" and batch["source"] != "beta"
                continue
            ids, mask = batch[side]["input_ids"], batch[side]["attention_mask"]
            assert ids.dtype == mask.dtype == np.int32 and ids.shape == mask.shape and ids.shape[0] == 8
            assert ids.shape[1] in (8, 16, 32)
            assert (ids[:, 0] == 101).all()  # [CLS]
            assert ((mask == 0) == (ids == 0)).all()  # padding is exactly where the mask is off
            shapes.add(ids.shape)
    assert len(shapes) <= 3
    pipeline.close()


def test_the_real_2021_data_config_maps_files_to_catalog_sources_under_root(minilm_path):
    rows = json.loads((minilm_path / "data_config.json").read_text())
    config = load_data_config(minilm_path / "data_config.json", root="org/pairs")
    assert len(rows) == 290 and 0 < len(config.sources) < 290  # files of one source became one entry
    assert [(s.path, s.config) for s in config.sources] == [(f"org/pairs/{s.name}", None) for s in config.sources]
    assert sum(s.lines for s in config.sources) == sum(r["lines"] for r in rows)
    assert sum(s.weight for s in config.sources) == sum(r["weight"] for r in rows)
    reddit = next(s for s in config.sources if s.name == "reddit")
    reddit_rows = [r for r in rows if r["name"].startswith("reddit/")]
    assert len(reddit_rows) > 1 and reddit.weight == sum(r["weight"] for r in reddit_rows)


def test_data_config_2021_form_reads_published_folders(tmp_path):
    from datasets_builders.registry import list_sources

    two = [s for s in list_sources() if len(s.files_2021) > 1][:2]
    for source in two:  # the layout of `se1b data publish NAME --out published/NAME`
        write_hub_folder(tmp_path / "published" / source.name, {source.name: pair_shards(source.name, 60, 2)})
    legacy = [{"name": file, "lines": lines, "weight": weight} for s in two for file, lines, weight in s.files_2021]
    (tmp_path / "data_config.json").write_text(json.dumps(legacy))
    # a YAML config that points at the 2021 file and at the published repo, and sets the composition
    (tmp_path / "data.yaml").write_text("sources: data_config.json\nroot: published\nbatch_composition: mixed\n")
    config = load_data_config(tmp_path / "data.yaml")
    assert [(s.name, s.path, s.config, s.weight) for s in config.sources] == [
        (s.name, f"{tmp_path}/published/{s.name}", None, float(s.weight_2021)) for s in two]
    pipeline = PairPipeline(config, global_batch_size=8)
    batch = next(pipeline)
    assert [source_of(a) for a in batch["anchor"]] == batch["sources"]
    assert set(batch["sources"]) <= {s.name for s in two}
    pipeline.close()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c, t: c["sources"][0].update(path=str(t / "nowhere")), "'alpha' .* folder not found"),
        (lambda c, t: c["sources"][0].update(path="someone/not-on-this-machine"), "'alpha' .* cannot open"),
        (lambda c, t: c["sources"][1].update(config="nope"), "'beta' .* cannot open: BuilderConfig 'nope' not found"),
        (lambda c, t: c["sources"][2].update(split="test"), r"'gamma' .* no split 'test'; available: \['train'\]"),
        (lambda c, t: c["sources"][1].update(weight=0), "'beta' has weight 0; weights must be positive"),
        (lambda c, t: c["sources"][2].update(weight=-1.5), "'gamma' has weight -1.5"),
        (lambda c, t: c["sources"][0].update(wieght=1), r"sources\[0\]: unknown key\(s\) \['wieght'\]"),
        (lambda c, t: c["sources"][0].update(path=str(t / "qa")), r"missing column\(s\) \['anchor', 'positive'\]"),
        (lambda c, t: c.update(batch_composition="blend"), "batch_composition 'blend' is not one of"),
        (lambda c, t: c.update(stopping_strategy="later"), "stopping_strategy 'later'"),
        (lambda c, t: c.update(sources=[]), "'sources' must be a non-empty list"),
        (lambda c, t: c["sources"].append(dict(c["sources"][0])), r"listed twice: \['alpha'\]"),
        (lambda c, t: c["sources"][0].pop("path"), "'alpha' has no 'path' and the config gives no 'root'"),
    ],
)
def test_bad_config_is_a_clear_error_before_training(three, tmp_path, change, message):
    write_hub_folder(tmp_path / "qa", {"default": [{"question": ["q"], "answer": ["a"]}]})
    config = config_for(three)
    change(config, tmp_path)
    with pytest.raises(UserError, match=message) as error:
        PairPipeline(config, global_batch_size=8)
    assert "\n" not in str(error.value)


def test_bad_config_file_and_batch_size_are_clear_errors(three, tmp_path):
    with pytest.raises(UserError, match="data config not found"):
        load_data_config(tmp_path / "missing.yaml")
    (tmp_path / "broken.yaml").write_text("sources: [\n")
    with pytest.raises(UserError, match=r"broken.yaml:\d+:\d+: not valid YAML"):
        load_data_config(tmp_path / "broken.yaml")
    with pytest.raises(UserError, match="multiple of the 3 processes"):
        PairPipeline(config_for(three), global_batch_size=8, process_count=3)


def test_ranks_draw_the_same_source_for_each_step(three):
    """A global single_source batch is assembled from every process's part: all must read the same source."""
    ranks = [PairPipeline(config_for(three, steps_per_source=2), global_batch_size=8, process_index=r, process_count=2)
             for r in range(2)]
    steps = [[b["source"] for _, b in zip(range(200), pipeline, strict=False)] for pipeline in ranks]
    assert steps[0] == steps[1] and len(set(steps[0])) == 3
    for pipeline in ranks:
        pipeline.close()


def test_each_epoch_reads_the_shards_in_a_new_order(tmp_path):
    """Rows are shuffled within blocks, so shard order is what mixes a large source across epochs."""
    folder = write_hub_folder(tmp_path / "sorted", {"default": pair_shards("sorted", 80, 8)})  # shard s: rows 10s..
    config = {"sources": [{"name": "sorted", "path": str(folder)}], "shuffle_window": 10}
    pipeline = PairPipeline(config, global_batch_size=10)
    epochs = []
    for _ in range(6):
        shards = [{int(p.split()[-1]) // 10 for p in next(pipeline)["positive"]} for _ in range(8)]
        assert all(len(s) == 1 for s in shards)  # a 10-row block is one shard
        epochs.append([s.pop() for s in shards])
    assert all(sorted(order) == list(range(8)) for order in epochs)  # every epoch reads every shard once
    assert len({tuple(order) for order in epochs}) > 1
    pipeline.close()


def test_rows_missing_a_carried_negative_or_a_text_are_skipped_and_counted(tmp_path):
    shard = pair_shards("holes", 100, 1, negatives=True)[0]
    for i in range(5, 100, 10):
        shard["negative"][i] = None  # 10 triplets without their negative
    shard["positive"][6] = ""  # and one empty positive
    folder = write_hub_folder(tmp_path / "holes", {"default": [shard]})
    config = {"sources": [{"name": "holes", "path": str(folder)}], "stopping_strategy": "first_exhausted"}
    pipeline = PairPipeline(config, global_batch_size=8)
    batches = list(pipeline)
    assert all(len(b["negative"]) == len(b["anchor"]) for b in batches)  # every batch carries a negative per row
    assert sum(len(b["anchor"]) for b in batches) == 89
    assert pipeline.stats["skipped_no_negative"] == 10 and pipeline.stats["skipped_empty"] == 1


def test_the_schema_says_which_sources_have_negatives_and_an_all_null_column_is_a_clear_error(tmp_path):
    """A source's columns, not its first row, decide: a triplet config whose first row lacks its negative is still
    a triplet source, and an old pair publish with a `negative` column of nulls stops with one clear line."""
    shard = pair_shards("late", 40, 1, negatives=True)[0]
    shard["negative"][0] = None
    folders = {"late": write_hub_folder(tmp_path / "late", {"default": [shard]}),
               "pairs": write_hub_folder(tmp_path / "pairs", {"default": pair_shards("pairs", 40, 1)}),
               "old": write_hub_folder(tmp_path / "old", {"default": pair_shards("old", 40, 1, negatives=None)})}
    config = {"sources": [{"name": n, "path": str(folders[n])} for n in ("late", "pairs")]}
    pipeline = PairPipeline(config, global_batch_size=8)
    assert pipeline.has_negative == {"late": True, "pairs": False}
    pipeline.close()
    pipeline = PairPipeline({"sources": [{"name": "old", "path": str(folders["old"])}]}, global_batch_size=8)
    with pytest.raises(UserError, match=r"'old' .* its `negative` column is empty in 40 rows; republish"):
        next(iter(pipeline))
    pipeline.close()


def test_a_source_too_small_for_the_batch_is_a_clear_error(tmp_path):
    folder = write_hub_folder(tmp_path / "tiny", {"default": pair_shards("tiny", 3, 1)})
    pipeline = PairPipeline({"sources": [{"name": "tiny", "path": str(folder)}]}, global_batch_size=8)
    with pytest.raises(UserError, match="'tiny' gave no usable pair in a whole epoch.* global batch of 8"):
        next(pipeline)


@pytest.mark.parametrize("strategy", ["first_exhausted", "all_exhausted"])
def test_stopping_strategies_end_where_interleave_datasets_would(three, strategy):
    sizes = {"alpha": 1000, "beta": 600, "gamma": 300}
    pipeline = PairPipeline(config_for(three, batch_composition="mixed", stopping_strategy=strategy),
                            global_batch_size=8)
    seen = {name: set() for name in sizes}
    for batch in pipeline:
        for source, anchor, positive in zip(batch["sources"], batch["anchor"], batch["positive"], strict=True):
            seen[source].add((anchor, positive))
    complete = [name for name in sizes if len(seen[name]) == sizes[name]]
    if strategy == "first_exhausted":  # stops as soon as one source runs out
        assert len(complete) == 1 and sum(pipeline.pairs_per_source.values()) < sum(sizes.values())
    else:  # goes on, restarting the exhausted ones, until every source has run out once
        assert complete == list(sizes) and pipeline.pairs_per_source["alpha"] > sizes["alpha"]  # alpha ran out first
