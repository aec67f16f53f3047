"""Publishing builds as a Hub-native dataset repo folder: Parquet shards per config plus the README.md card.

Layout (what `load_dataset(folder_or_repo_id, config)` reads with no remote code):

    README.md                                        card; YAML `configs:` maps each config to its shards, one
                                                     config marked `default: true` (what `load_dataset(folder)`
                                                     loads); `dataset_info` gives each config's columns
    data/<config>/train-00000-of-00003.parquet       shards of at most `max_shard_bytes` of Arrow data each
    build_reports/<config>.json                      catalog facts, build statistics, examples (the card's input)

A pair config has the columns (anchor, positive), a triplet config (anchor, positive, negative): see schema.py.

A config's shards are written several at a time, by threads (one per CPU by default): at the mission's scale
(~700 shards of 256 MiB for the 727M pairs of the 2021 Reddit data) they would otherwise be the longest serial
step.

Publishing into a folder that already holds other configs adds (or replaces) only the configs given; the card is
rebuilt from every report in the folder, so it always describes all configs. Only a folder publish wrote (it has
`build_reports/`) is written into, and in it only the data/<config> folders publish wrote: the user's own files are
never replaced (`check_out_dir`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
from datasets.arrow_writer import get_writer_batch_size_from_data_size
from tqdm.auto import tqdm

from datasets_builders.build import ARROW_FILE, Build, load_build
from datasets_builders.schema import columns_for, features_for
from model_cards.dataset_card import write_dataset_card
from se1b.errors import UserError
from se1b.files import check_output_folder, disk_full_error, is_disk_full
from se1b.safety import assert_inside, check_name

DEFAULT_MAX_SHARD_BYTES = 256 * 1024 * 1024
REPORTS_DIR = "build_reports"
EXAMPLE_ROWS = 3
SHARD_NAME = re.compile(r"train-\d{5}-of-\d{5}\.parquet")


def publish(
    builds: Build | str | Path | Sequence[Build | str | Path],
    out_dir: str | Path,
    *,
    max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES,
    pretty_name: str | None = None,
    default_config: str | None = None,
    progress: bool = True,
    num_threads: int | None = None,
) -> Path:
    """Write each build as config `<source name>` of the dataset repo folder `out_dir`, then (re)write its card.

    Args:
        builds: `Build` objects (from `build_source`) or build folders (from `se1b data build`).
        out_dir: the repo folder; created if missing; other configs already in it are kept.
        max_shard_bytes: upper bound on the Arrow bytes in one Parquet shard (Parquet files come out smaller).
        pretty_name: the card title, remembered for later publishes into the folder; default: the source's title
            (one config) or "Sentence pairs from N sources".
        default_config: the config `load_dataset(folder)` loads when no config name is given, remembered for later
            publishes into the folder; default: the config with the most rows.
        progress: show a progress bar per config.
        num_threads: shards written at once (default: every CPU this process may use); the shards are the same
            whatever the number.

    Returns the folder. Example:
        >>> publish(build_source("squad", ["squad_pairs.jsonl.gz"]), "hub/pairs")   # doctest: +SKIP
        >>> load_dataset("hub/pairs", "squad", split="train")                        # doctest: +SKIP
    """
    if max_shard_bytes <= 0:
        raise ValueError("max_shard_bytes must be positive")
    if num_threads is not None and num_threads < 1:
        raise ValueError("num_threads must be at least 1")
    items = [builds] if isinstance(builds, (Build, str, Path)) else list(builds)
    out = Path(out_dir)
    check_output_folder(out)
    loaded = [item if isinstance(item, Build) else load_build(item) for item in items]
    check_out_dir(out, loaded)
    (out / REPORTS_DIR).mkdir(parents=True, exist_ok=True)
    for build in loaded:
        _write_config(build, out, max_shard_bytes, progress, num_threads)
    write_dataset_card(out, pretty_name=pretty_name, default_config=default_config)
    return out


def check_out_dir(out: Path, builds: Sequence[Build] = ()) -> None:
    """Before anything is written: each build's config name is safe as a folder name and given once, and `out` is
    absent, empty, or a folder publish wrote (it holds build_reports/) whose data/<config> folders for these
    builds, if any, publish wrote too (a report for the config, or nothing but shards in the folder)."""
    configs: dict[str, Build] = {}
    for build in builds:
        config = check_name(build.facts["name"], "config name")
        if config in configs:
            raise UserError(f"{configs[config].path} and {build.path} are both builds of {config}: one config holds "
                            f"one build, so one would replace the other. Build their raw files together (se1b data "
                            f"build {config} --raw FILE...) or publish them one at a time")
        configs[config] = build
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not (out / REPORTS_DIR).is_dir():
        raise UserError(f"--out {out} holds files that `se1b data publish` did not write (no {REPORTS_DIR}/), which "
                        "publishing would replace (README.md, data/); give a new or empty folder")
    for config in configs:
        folder = out / "data" / config
        if not folder.exists() or (out / REPORTS_DIR / f"{config}.json").is_file():
            continue
        if not folder.is_dir() or not all(SHARD_NAME.fullmatch(path.name) for path in folder.iterdir()):
            raise UserError(f"{folder} holds files that `se1b data publish` did not write (no {REPORTS_DIR}/"
                            f"{config}.json), which publishing config {config} would replace; move them first")


def _write_config(build: Build, out: Path, max_shard_bytes: int, progress: bool, threads: int | None) -> None:
    config = build.facts["name"]
    # Write next to the old config, then swap, so an interrupted publish leaves the previous shards intact.
    staging = assert_inside(out / "data" / f".{config}.partial", out)
    shutil.rmtree(staging, ignore_errors=True)
    arrow_file = build.path / ARROW_FILE
    try:
        staging.mkdir(parents=True)
        features = features_for(build.kind)
        parts = _write_shards(arrow_file, staging, max_shard_bytes, len(build.dataset), progress, config, features,
                              threads)
    except BaseException as error:  # a full disk, an interrupt: the partial shards go, the old config stays
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(error, Exception) and is_disk_full(error):
            # Parquet shards are at most the size of the Arrow data (compressed, usually less)
            raise disk_full_error(out / "data", arrow_file.stat().st_size, f"config {config}") from None
        raise
    names = [f"train-{index:05d}-of-{len(parts):05d}.parquet" for index in range(len(parts))]
    for part, name in zip(parts, names, strict=True):
        part.rename(staging / name)
    shards = [{"file": f"data/{config}/{name}", "bytes": (staging / name).stat().st_size} for name in names]
    final = assert_inside(out / "data" / config, out)
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    report = {
        "config": config,
        "kind": build.kind,
        "columns": list(columns_for(build.kind)),
        "source": build.facts,
        "stats": _without_local_paths(build.stats.to_dict()),
        "num_examples": len(build.dataset),
        "num_bytes": build.dataset.data.nbytes,
        "download_size": sum(shard["bytes"] for shard in shards),
        "shards": shards,
        "examples": build.dataset.select(range(min(EXAMPLE_ROWS, len(build.dataset)))).to_list(),
    }
    (out / REPORTS_DIR / f"{config}.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")


def _without_local_paths(stats: dict) -> dict:
    """The statistics with raw files named by their file name only: the report and card are published."""
    names = {path: Path(path).name for path in stats["files"]}
    samples = stats["error_samples"]
    for path, name in sorted(names.items(), key=lambda item: -len(item[0])):
        samples = [sample.replace(f"{path}:", f"{name}:") for sample in samples]
    return stats | {"files": list(names.values()), "error_samples": samples}


def _write_shards(
    arrow_file: Path,
    folder: Path,
    max_shard_bytes: int,
    num_rows: int,
    progress: bool,
    config: str,
    features: datasets.Features,
    threads: int | None = None,
) -> list[Path]:
    """Write the build's Arrow record batches into Parquet files of at most `max_shard_bytes` of Arrow data each
    (a single row larger than that gets a shard of its own), of about equal size, in order; returns the files
    written.

    The shards are cut first (`_shard_plan`), then written `threads` at a time (default: every CPU this process
    may use): pyarrow encodes and compresses without the GIL, so threads use the cores, and each shard's bytes are
    the same whatever their number. Row groups hold about 100 MB of Arrow data, as `Dataset.to_parquet` and
    `push_to_hub` write them (one per 10,000-row batch cost 15-20 % more CPU and made readers open 100 groups per
    1M pairs). Each thread maps the Arrow file for its shard alone (`_write_shard`), so resident memory stays at
    one shard's pages of the file per thread, page cache that the kernel can drop, whatever the size of the data."""
    plan = _shard_plan(arrow_file, max_shard_bytes)
    group_rows = _row_group_rows(arrow_file, num_rows)
    parts = [folder / f"part-{index:05d}.parquet" for index in range(len(plan))]
    threads = min(len(os.sched_getaffinity(0)) if threads is None else threads, len(plan))
    bar = tqdm(total=num_rows, desc=f"publish {config}", unit=" pairs", disable=not progress, mininterval=1.0)
    lock = threading.Lock()

    def done(rows: int) -> None:
        with lock:
            bar.update(rows)

    pool = ThreadPoolExecutor(threads, thread_name_prefix="publish")
    try:
        futures = [pool.submit(_write_shard, arrow_file, pieces, part, features, group_rows, done)
                   for pieces, part in zip(plan, parts, strict=True)]
        for future in futures:  # in order: the first failure (a full disk) is raised
            future.result()
    finally:
        pool.shutdown(cancel_futures=True)  # after a failure or an interrupt, no shard is started
        bar.close()
    return parts


# A shard's rows: (byte offset of a record batch's message in the Arrow stream file, first row, rows) per piece
_Piece = tuple[int, int, int]


def _shard_plan(arrow_file: Path, max_shard_bytes: int) -> list[list[_Piece]]:
    """Each shard's pieces of record batches, in order: as many shards as `max_shard_bytes` needs, of about equal
    bytes (as `datasets`' push_to_hub cuts, so the threads share the work evenly), none over `max_shard_bytes` (a row
    larger than that alone in one), always at least one (empty) shard. Read through the memory map: only the
    messages' metadata and the strings' offsets are touched, not the texts."""
    with pa.memory_map(str(arrow_file)) as source:
        messages = pa.ipc.MessageReader.open_stream(source)
        schema = pa.ipc.read_schema(messages.read_next_message())
        batches = []
        while True:
            offset = source.tell()
            try:
                batches.append((offset, pa.ipc.read_record_batch(messages.read_next_message(), schema)))
            except StopIteration:
                break
        total = sum(batch.nbytes for _, batch in batches)
        count = max(1, -(-total // max_shard_bytes))
        shards: list[list[_Piece]] = [[]]
        shard_bytes = written = 0
        for offset, batch in batches:
            start = 0
            while start < batch.num_rows:
                rest = batch.slice(start)
                room = max_shard_bytes - shard_bytes
                if len(shards) < count:  # the last planned shard takes the rest
                    room = min(room, len(shards) * total // count - written)
                rows = _rows_that_fit(rest, room)
                if rows == 0 and shard_bytes:  # this shard is full
                    shards.append([])
                    shard_bytes = 0
                    continue
                rows = max(rows, 1)  # a row larger than a shard gets a shard of its own
                shards[-1].append((offset, start, rows))
                size = rest.slice(0, rows).nbytes
                shard_bytes += size
                written += size
                start += rows
        return shards


def _write_shard(
    arrow_file: Path,
    pieces: list[_Piece],
    path: Path,
    features: datasets.Features,
    group_rows: int,
    done: Callable[[int], None],
) -> None:
    """One Parquet shard from its pieces of the Arrow stream file, in row groups of `group_rows` rows (the last one
    shorter). The file is memory-mapped for the shard: a row group's batches are views of the page cache (the build
    just wrote them), not ~100 MB of fresh memory read into per row group, which cost 1.3-2 s of kernel time per
    1M pairs on this project's VM; its pages are unmapped when the shard is done."""
    writer = _parquet_writer(path, features)
    pending: list[pa.RecordBatch] = []
    held = 0
    with pa.memory_map(str(arrow_file)) as source:
        for offset, start, rows in pieces:
            source.seek(offset)
            batch = pa.ipc.read_record_batch(pa.ipc.read_message(source), features.arrow_schema)
            pending.append(batch.slice(start, rows))
            held += rows
            if held >= group_rows:
                table = pa.Table.from_batches(pending)  # zero-copy: the batches stay chunks
                full = held - held % group_rows
                writer.write_table(table.slice(0, full), row_group_size=group_rows)
                pending, held = table.slice(full).to_batches(), held - full
            done(rows)
        if held:
            writer.write_table(pa.Table.from_batches(pending), row_group_size=group_rows)
        writer.close()  # while the map is open: the last row group is encoded here


def _row_group_rows(arrow_file: Path, num_rows: int) -> int:
    """Rows per Parquet row group: `datasets`' own rule for `to_parquet` (about 100 MB of the build's Arrow data)."""
    return get_writer_batch_size_from_data_size(num_rows, arrow_file.stat().st_size)


def _rows_that_fit(batch: pa.RecordBatch, room: int) -> int:
    """How many leading rows of `batch` take at most `room` bytes: a proportional guess, shrunk until it fits."""
    rows = min(batch.num_rows, batch.num_rows * max(room, 0) // max(batch.nbytes, 1))
    while rows and batch.slice(0, rows).nbytes > room:
        rows = rows * 9 // 10
    return rows


def _parquet_writer(path: Path, features: datasets.Features) -> pq.ParquetWriter:
    # The options `Dataset.to_parquet` uses in datasets 5: snappy, content-defined chunking (Hub deduplication),
    # page index; the schema carries the features in its metadata, so readers get the config's columns and types.
    return pq.ParquetWriter(
        str(path),
        features.arrow_schema,
        compression="snappy",
        use_content_defined_chunking=datasets.config.DEFAULT_CDC_OPTIONS,
        write_page_index=True,
    )
