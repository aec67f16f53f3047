"""Build + publish throughput and peak memory of `datasets_builders`, side by side with the plain `datasets` peer.

    python bench/bench_build.py                       # generated files of 250k and 1M pairs (jsonl.gz)
    python bench/bench_build.py --sizes 1000000 --real /work/shared/data/pairs/sgd_dialogue.jsonl.gz
    python bench/bench_build.py --sizes 1000000 --files 4 --num-proc 2   # + the same pairs in 4 files, 2 CPUs
    python bench/bench_build.py --stages FILE          # CPU seconds of each stage, no Ray, beside the peer's

For each input, in the same run and each in a fresh subprocess (so peak memory is that job's alone):
  ours: `build_source` on Ray Data (read, validate, clean, count -> Arrow) + `publish` (Parquet shards + card), on a
        local Ray instance of `--num-proc` CPUs started before the clock starts (its start-up is reported apart);
  peer: `datasets.load_dataset("json", data_files=FILE)` + `Dataset.to_parquet` (no validation, no cleaning, no card).
The generated file holds `{"anchor": ..., "positive": ...}` lines (a form both can read; pyarrow's JSON reader
cannot read the 2021 list lines). Peak memory is the largest sum of the RSS of the job's process and all its
descendants (Ray's raylet, object store and workers included), sampled every 0.1 s. "Per core" divides each rate by
the CPUs it was given (ours: the Ray instance's; peer: the num_proc of load_dataset). On a shared, loaded machine
the CPU seconds are the steadier measure: user + system time of the job's whole process tree during the timed part
(Ray's processes included; their start-up not), so "per CPU-second" = pairs per CPU-second, ours over the peer's.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORDS = (
    "the a of to and in is for on that with how what why does can my your it be are this from or not you "
    "python data model error server file install windows linux question answer time system code user value "
    "function table image price water best make use work way change find set new".split()
)


def generate(path: Path, pairs: int, seed: int = 0) -> Path:
    """`pairs` lines of {"anchor": ~10 words, "positive": ~40 words}, gzip-compressed."""
    rng = random.Random(seed)
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as handle:
        for i in range(pairs):
            anchor = " ".join(rng.choices(WORDS, k=rng.randint(5, 15))) + f" {i}?"
            positive = " ".join(rng.choices(WORDS, k=rng.randint(20, 60))) + "."
            handle.write(json.dumps({"anchor": anchor, "positive": positive}) + "\n")
    return path


class TreeMemory:
    """The peak of the summed RSS of this process and all its descendants, and the CPU seconds they used (user +
    system, each process's last sample; this process's own measured at the end), sampled by a thread."""

    def __init__(self) -> None:
        import psutil

        self.peak, self._stop, self._cpu = 0, threading.Event(), {}
        self._me = psutil.Process()
        self._start_cpu = self._seconds(self._me)
        self._base = {child.pid: self._seconds(child) for child in self._me.children(recursive=True)}
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    @staticmethod
    def _seconds(process) -> float:
        times = process.cpu_times()
        return times.user + times.system

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            total = 0
            for process in [self._me, *self._me.children(recursive=True)]:
                try:
                    total += process.memory_info().rss
                    if process.pid != self._me.pid:
                        self._cpu[process.pid] = self._seconds(process)
                except Exception:  # a worker that just exited
                    continue
            self.peak = max(self.peak, total)

    def stop(self) -> tuple[float, float]:
        """(peak MiB, CPU seconds since start: a descendant's from its first sample or its start)."""
        self._stop.set()
        self._thread.join()
        children = sum(seconds - self._base.get(pid, 0.0) for pid, seconds in self._cpu.items())
        return self.peak / 2**20, self._seconds(self._me) - self._start_cpu + children


def worker(kind: str, raw: str, work: str, num_proc: str = "1") -> dict:
    import datasets

    sys.path.insert(0, str(ROOT))
    from datasets_builders import Source, build_source
    from datasets_builders.publish import publish

    # The default reader and record converter (what the catalog's JSON-lines sources use, fast path included); a
    # --real file must hold pairs (a line with a negative is a wrong arity here).
    source = Source(
        name="bench_pairs",
        pretty_name="bench",
        description="bench",
        license="other",
        citation="@misc{bench}",
        homepage="https://example.org",
    )

    from datasets_builders import engine

    datasets.disable_progress_bars()
    files = sorted(str(p) for p in Path(raw).iterdir()) if Path(raw).is_dir() else [raw]
    startup = 0.0
    if kind == "ours":
        start = time.perf_counter()
        engine.start(num_cpus=int(num_proc))
        startup = time.perf_counter() - start
    memory = TreeMemory()  # after Ray's start-up: its processes' memory counts, their start-up CPU does not
    start = time.perf_counter()  # imports and Ray start-up excluded
    if kind == "ours":
        build = build_source(source, files, progress=False, out_dir=Path(work) / "build")
        publish(build, Path(work) / "hub", progress=False)
        rows = build.stats.pairs_written
    else:
        dataset = datasets.load_dataset(
            "json", data_files=files, split="train", cache_dir=str(Path(work) / "cache"), num_proc=int(num_proc)
        )
        dataset.to_parquet(str(Path(work) / "peer.parquet"))
        rows = len(dataset)
    seconds = time.perf_counter() - start
    peak, cpu_seconds = memory.stop()
    return {
        "kind": kind,
        "rows": rows,
        "seconds": seconds,
        "startup_s": startup,
        "pairs_per_s": rows / seconds,
        "peak_rss_mib": peak,
        "cpu_s": cpu_seconds,
    }


def stages(raw: str) -> None:
    """CPU seconds (process_time: every thread of this process) of each stage of our build without Ray, on one file,
    beside the peer's whole job in the same process: steady on a loaded machine, where wall time is not."""
    import datasets
    import pyarrow as pa

    sys.path.insert(0, str(ROOT))
    from datasets_builders import Source
    from datasets_builders.build import BuildStats, _file_tables, iter_rows
    from datasets_builders.publish import _write_shards
    from datasets_builders.schema import PAIR_FEATURES

    datasets.disable_progress_bars()
    source = Source(name="bench_pairs", pretty_name="b", description="b", license="other", citation="c", homepage="h")

    def cpu(job) -> tuple[float, object]:
        start = time.process_time()
        result = job()
        return time.process_time() - start, result

    with tempfile.TemporaryDirectory(prefix="bench-build-stages-") as work:
        per_record, rows = cpu(lambda: sum(1 for _ in iter_rows(source, [raw], BuildStats(source="b"))))
        fast, tables = cpu(lambda: list(_file_tables(source, [raw], BuildStats(source="b"), "raise")))
        arrow = Path(work) / "pairs.arrow"

        def write() -> None:
            with pa.OSFile(str(arrow), "wb") as sink, pa.ipc.new_stream(sink, PAIR_FEATURES.arrow_schema) as out:
                for table in tables:
                    out.write_table(table.select(["anchor", "positive"]).cast(PAIR_FEATURES.arrow_schema), 10_000)

        write_s, _ = cpu(write)
        shards_s, _ = cpu(lambda: _write_shards(arrow, Path(work), 2**28, rows, False, "b", PAIR_FEATURES))

        def peer() -> int:
            dataset = datasets.load_dataset("json", data_files=[raw], split="train", cache_dir=f"{work}/cache")
            dataset.to_parquet(f"{work}/peer.parquet")
            return len(dataset)

        peer_s, peer_rows = cpu(peer)
    assert peer_rows == rows
    ours = fast + write_s + shards_s
    print("| stage | CPU s | pairs per CPU-second |\n|---|---:|---:|")
    for name, seconds in (("read + clean, per record (iter_rows)", per_record), ("read + clean, fast path", fast),
                          ("write the Arrow file", write_s), ("publish: Parquet shards", shards_s),
                          ("ours without Ray (fast path + Arrow + Parquet)", ours),
                          ("peer: load_dataset(json) + to_parquet", peer_s)):
        print(f"| {name} | {seconds:.2f} | {rows / seconds:,.0f} |")
    print(f"ours without Ray / peer, pairs per CPU-second: {peer_s / ours:.2f} ({rows:,} pairs)")


def run(kind: str, raw: Path, num_proc: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-build-") as work:
        command = [sys.executable, __file__, "--worker", kind, str(raw), work, str(num_proc)]
        out = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[250_000, 1_000_000], help="generated pair counts")
    parser.add_argument("--real", nargs="*", default=[], help="real anchor/positive jsonl.gz files to run as well")
    parser.add_argument("--files", type=int, default=0, help="also run the largest size split into this many files")
    parser.add_argument("--num-proc", type=int, default=2, help="CPUs for the split run, both sides")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--stages", metavar="FILE", help="only: CPU seconds of our stages (no Ray) and of the peer")
    args = parser.parse_args()
    if args.stages:
        stages(args.stages)
        return
    if args.worker:
        print(json.dumps(worker(*args.worker)))
        return
    with tempfile.TemporaryDirectory(prefix="bench-build-data-") as tmp:
        inputs = [(f"generated {n:,}", generate(Path(tmp) / f"pairs_{n}.jsonl.gz", n), 1) for n in args.sizes]
        inputs += [(f"generated {n:,}", Path(tmp) / f"pairs_{n}.jsonl.gz", 2) for n in args.sizes]
        inputs += [(Path(p).name, Path(p), 1) for p in args.real]
        if args.files:
            size, split = max(args.sizes), Path(tmp) / "split"
            split.mkdir()
            for i in range(args.files):
                generate(split / f"part_{i}.jsonl.gz", size // args.files, seed=i)
            inputs.append(
                (f"generated {size:,} in {args.files} files, num_proc={args.num_proc}", split, args.num_proc)
            )
        print(
            "| input | CPUs | pairs | ours pairs/s | peer pairs/s | ours / peer | ours / peer per core | "
            "ours CPU s | peer CPU s | ours / peer per CPU-second | Ray start-up s | ours peak MiB | peer peak MiB |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for label, raw, num_proc in inputs:
            ours, peer = run("ours", raw, num_proc), run("peer", raw, 1)  # the peer on one core: its per-core rate
            assert ours["rows"] == peer["rows"], (ours, peer)
            ratio = ours["pairs_per_s"] / peer["pairs_per_s"]
            print(
                f"| {label} | {num_proc} | {ours['rows']:,} | {ours['pairs_per_s']:,.0f} | "
                f"{peer['pairs_per_s']:,.0f} | {ratio:.2f} | {ratio / num_proc:.2f} | {ours['cpu_s']:.1f} | "
                f"{peer['cpu_s']:.1f} | {peer['cpu_s'] / ours['cpu_s']:.2f} | {ours['startup_s']:.1f} | "
                f"{ours['peak_rss_mib']:,.0f} | {peer['peak_rss_mib']:,.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
