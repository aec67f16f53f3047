"""Build + publish throughput and peak memory of `datasets_builders`, side by side with the plain `datasets` peer.

    python bench/bench_build.py --sizes 1000000 4000000 --cpus 1 2 --plain --lists --data /tmp/bench-build-data
    python bench/bench_build.py --sizes 200000 --cpus 1                 # a quick look
    python bench/bench_build.py --sizes 1000000 --cpus 1 2 --repeat 5   # medians of 5 alternated runs
    python bench/bench_build.py --real /work/shared/data/pairs/sgd_dialogue.jsonl.gz
    python bench/bench_build.py --stages FILE [PEER_FILE]   # CPU seconds of each stage, no Ray, beside the peer's
    python bench/bench_build.py --forms --sizes 1000000 --data DIR   # read + clean of each 2021 record form
    python bench/bench_build.py --publish-threads 1 2 --sizes 4000000 --data DIR   # publish, 1 vs 2 threads

Inputs: a generated `.jsonl.gz` of each size (gzip: one read task, it cannot be split), with `--plain` also the
smallest size uncompressed (`.jsonl`: read by one task per 32 MiB range of lines, so a second worker can help),
with `--lists` also the smallest size as 2021 list lines (`["anchor", "positive"]`, the form of most of the
2021 pair files; the peer, which cannot read them, gets the same pairs as objects), and any `--real` files. For
each input, in the same run and each job in a fresh subprocess (so peak memory is that
job's alone):
  ours: `build_source` on Ray Data (read, validate, clean, count -> Arrow) + `publish` (Parquet shards + card), on a
        local Ray instance of each `--cpus` count started before the clock starts (its start-up is reported apart),
        its workers at the benchmark's priority (RAY_worker_niceness=0; Ray's default of 15 starves them on a
        loaded machine, beside a peer that runs at the benchmark's priority);
  peer: `datasets.load_dataset("json", data_files=FILE)` + `Dataset.to_parquet` on one process (no validation, no
        cleaning, no card).
Each job runs twice in its process: "first" is the job a fresh `se1b data build` + `publish` does (ours: Ray Data
creates its two actors and the read workers import the project before their first row), "second" the same job
again on the same instance, into fresh folders (a long-lived local instance or a cluster given with `--address`,
where those costs were paid by an earlier build; the peer: a second load_dataset into a fresh cache folder).
The generated files hold `{"anchor": ..., "positive": ...}` lines (a form both can read; pyarrow's JSON reader, and so
`load_dataset("json")`, cannot read the 2021 list lines); `--data DIR` keeps them between runs (generating 4M pairs
takes minutes). Peak memory is the largest sum of the PSS of the job's process and all its descendants (Ray's raylet,
object store and workers included), sampled every 0.1 s in a third run of the job, apart from the two timed ones (the
sampling, ~0.5 CPU-s per 1M-pair build of ours, would slow what it watches on this 2-core machine). Rates count the
records read (the peer writes them all; ours leaves out same_text and bad records, fewer pairs on real files). "Per
core" divides each rate by the CPUs it was given. On a shared, loaded machine the CPU seconds are the steadier measure:
user + system time of the job's whole process tree during the timed part (Ray's processes included; their start-up
not), so "per CPU-second" = pairs per CPU-second, ours over the peer's. Each row gives the 1-minute load average at the
start and end of its jobs.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import shutil
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


FORMS = {  # the 2021 files' record forms (datasets_builders.readers.record_texts): (anchor, positive) -> one line
    "objects": lambda a, p, i: {"anchor": a, "positive": p},
    "lists": lambda a, p, i: [a, p],
    "texts": lambda a, p, i: {"texts": [a, p]},
    "context": lambda a, p, i: {"context": a, "response": p, "context/0": a[:20], "subreddit": "askscience",
                                "thread_id": f"t{i}"},  # PolyAI's Reddit lines, with their extra keys
}
SET_SIZE = 5  # WikiAnswers' clusters and COCO's captions: sets of ~5 paraphrases, 10 pairs each


def generate(path: Path, pairs: int, seed: int = 0, form: str = "objects") -> Path:
    """`pairs` pairs of ~10 words and ~40 words (a question and an answer), one per line in `form` (see FORMS;
    "lists" gives the same pairs as "objects"); "set": lines of SET_SIZE texts, "query": a question with three
    positives; gzip-compressed."""
    rng = random.Random(seed)

    def words(low: int, high: int) -> str:
        return " ".join(rng.choices(WORDS, k=rng.randint(low, high)))

    with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as handle:
        if form == "set":
            for i in range(pairs // (SET_SIZE * (SET_SIZE - 1) // 2)):
                handle.write(json.dumps({"set": [words(5, 15) + f" {i}.{k}?" for k in range(SET_SIZE)]}) + "\n")
        elif form == "query":
            for i in range(pairs // 3):
                handle.write(json.dumps({"query": words(5, 15) + f" {i}?", "pos": [words(20, 60) + f" {k}."
                                                                                   for k in range(3)]}) + "\n")
        else:
            for i in range(pairs):
                anchor, positive = words(5, 15) + f" {i}?", words(20, 60) + "."
                handle.write(json.dumps(FORMS[form](anchor, positive, i)) + "\n")
    return path


def generated_file(data: Path, size: int, form: str = "objects") -> Path:
    """The generated file of `size` pairs in `form` kept in `data`, generated first if missing."""
    path = data / (f"pairs_{size}.jsonl.gz" if form == "objects" else f"{form}_{size}.jsonl.gz")
    if not path.exists():
        generate(path.with_suffix(".tmp"), size, form=form).rename(path)
    return path


def cpu_seconds(process) -> float:
    """User + system seconds of a psutil process."""
    times = process.cpu_times()
    return times.user + times.system


class TreeCPU:
    """User + system seconds of this process and all its descendants since construction (a descendant started since:
    all of its own), read once at the start and once at `stop()`: nothing samples beside the job, which on this
    2-core machine would take a core's share from it (a process that starts and ends in between is not seen)."""

    def __init__(self) -> None:
        import psutil

        self._me = psutil.Process()
        self._base = self._read()

    def _read(self) -> dict[int, float]:
        seconds = {}
        for process in [self._me, *self._me.children(recursive=True)]:
            try:
                seconds[process.pid] = cpu_seconds(process)
            except Exception:  # a worker that just exited
                continue
        return seconds

    def stop(self) -> float:
        return sum(seconds - self._base.get(pid, 0.0) for pid, seconds in self._read().items())


class TreeMemory:
    """The peak of the summed PSS of this process and all its descendants, and the CPU seconds they used (user +
    system, each process's last sample; this process's own measured at the end, less the sampling thread's own:
    reading smaps_rollup of ten Ray processes that map the object store every 0.1 s cost 6.7 of a Reddit build's
    34.5 CPU-seconds, all charged to the driver), sampled by a thread. `sampler_cpu`: that thread's CPU so far.

    PSS, not RSS: Ray's processes map the same object-store pages and libraries, which a sum of RSS counts once per
    process; PSS splits each shared page among its mappers."""

    def __init__(self) -> None:
        import psutil

        self.peak, self._stop, self._cpu, self.sampler_cpu = 0, threading.Event(), {}, 0.0
        self._me = psutil.Process()
        self._start_cpu = cpu_seconds(self._me)
        self._base = {child.pid: cpu_seconds(child) for child in self._me.children(recursive=True)}
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        """Every 0.1 s, and once at the start and once at the stop: a job shorter than 0.1 s still gets samples."""
        start = time.thread_time()
        while True:
            stopping = self._stop.is_set()
            total = 0
            for process in [self._me, *self._me.children(recursive=True)]:
                try:
                    total += _pss(process)
                    if process.pid != self._me.pid:
                        self._cpu[process.pid] = cpu_seconds(process)
                except Exception:  # a worker that just exited
                    continue
            self.peak = max(self.peak, total)
            self.sampler_cpu = time.thread_time() - start
            if stopping:
                return
            self._stop.wait(0.1)

    def stop(self) -> tuple[float, float]:
        """(peak MiB, CPU seconds since start: a descendant's from its first sample or its start)."""
        self._stop.set()
        self._thread.join()
        children = sum(seconds - self._base.get(pid, 0.0) for pid, seconds in self._cpu.items())
        own = cpu_seconds(self._me) - self._start_cpu - self.sampler_cpu
        return self.peak / 2**20, own + children


def _pss(process) -> int:
    """Proportional set size in bytes from /proc/PID/smaps_rollup (one read; RSS where the kernel lacks it)."""
    try:
        with open(f"/proc/{process.pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except FileNotFoundError:
        pass
    return process.memory_info().rss


def worker(kind: str, raw: str, work: str, num_proc: str = "1") -> dict:
    import datasets

    sys.path.insert(0, str(ROOT))
    from datasets_builders import Source, build_source
    from datasets_builders.publishing import publish

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

    def job(out: Path) -> int:
        """The job once, into fresh folders under `out` (removed after): the records it read."""
        if kind == "ours":
            build = build_source(source, files, progress=False, out_dir=out / "build")
            publish(build, out / "hub", progress=False, num_threads=int(num_proc))  # shards: the CPUs given
            rows = build.stats.rows_read  # records read: the peer writes them all, ours drops same_text and bad ones
        else:
            dataset = datasets.load_dataset(
                "json", data_files=files, split="train", cache_dir=str(out / "cache"), num_proc=int(num_proc)
            )
            dataset.to_parquet(str(out / "peer.parquet"))
            rows = len(dataset)
        shutil.rmtree(out)
        return rows

    rounds = []
    for round_ in ("first", "second"):  # the second job in the same process, on the same Ray instance
        cpu = TreeCPU()  # after Ray's start-up: its processes' CPU during the job counts, their start-up does not
        start = time.perf_counter()  # imports and Ray start-up excluded
        rows = job(Path(work) / round_)
        seconds = time.perf_counter() - start
        rounds.append({"rows": rows, "seconds": seconds, "pairs_per_s": rows / seconds, "cpu_s": cpu.stop()})
    # Peak memory in a third run of the job, apart: sampling the PSS of Ray's ten processes every 0.1 s costs ~0.5
    # CPU-s per 1M-pair build on this 2-core machine and slowed the build it watched by up to a fifth (BENCHMARKS.md).
    memory = TreeMemory()
    job(Path(work) / "memory")
    peak, _ = memory.stop()
    first, second = rounds
    return first | {"kind": kind, "startup_s": startup, "peak_mib": peak, "second": second}


def stages(raw: str, peer_raw: str | None = None) -> None:
    """CPU seconds (process_time: every thread of this process) of each stage of our build without Ray, on one file,
    beside the peer's whole job in the same process (on `peer_raw`, the same pairs in a form it reads, if given):
    steady on a loaded machine, where wall time is not."""
    import datasets
    import pyarrow as pa

    sys.path.insert(0, str(ROOT))
    from datasets_builders import Source
    from datasets_builders.publishing import _write_shards
    from datasets_builders.rows import file_tables, iter_rows
    from datasets_builders.schema import PAIR_FEATURES
    from datasets_builders.stats import BuildStats

    datasets.disable_progress_bars()
    source = Source(name="bench_pairs", pretty_name="b", description="b", license="other", citation="c", homepage="h")

    def cpu(job) -> tuple[float, object]:
        start = time.process_time()
        result = job()
        return time.process_time() - start, result

    def measure(work: str) -> dict:
        counts = BuildStats(source="b")
        per_record, rows = cpu(lambda: sum(1 for _ in iter_rows(source, [raw], counts)))
        # The tables stream on, as in a build: holding all of them first cost more than the reading itself (the
        # first touch of a gigabyte of fresh pages), a cost a build does not have.
        fast, _ = cpu(lambda: sum(table.num_rows for table in file_tables(source, [raw], BuildStats(source="b"),
                                                                          "raise")))
        arrow = Path(work) / "pairs.arrow"
        write_s = 0.0  # the Arrow file's share of a second pass: its writes alone
        with pa.OSFile(str(arrow), "wb") as sink, pa.ipc.new_stream(sink, PAIR_FEATURES.arrow_schema) as out:
            for table in file_tables(source, [raw], BuildStats(source="b"), "raise"):
                seconds, _ = cpu(lambda table=table: out.write_table(
                    table.select(["anchor", "positive"]).cast(PAIR_FEATURES.arrow_schema), 10_000))
                write_s += seconds
        shards_s, _ = cpu(lambda: _write_shards(arrow, Path(work), 2**28, rows, False, "b", PAIR_FEATURES))

        def peer() -> int:
            dataset = datasets.load_dataset("json", data_files=[peer_raw or raw], split="train",
                                            cache_dir=f"{work}/cache")
            dataset.to_parquet(f"{work}/peer.parquet")
            return len(dataset)

        peer_s, peer_rows = cpu(peer)
        assert peer_rows == counts.rows_read, (peer_rows, counts.rows_read)  # the same records (ours drops some)
        return {"per_record": per_record, "fast": fast, "write": write_s, "shards": shards_s, "peer": peer_s,
                "rows": rows}

    # Twice, each stage's smaller figure: the first pass of a process pays one-off costs (imports inside the
    # libraries, first allocations) that weigh on small files.
    runs = []
    for _ in range(2):
        with tempfile.TemporaryDirectory(prefix="bench-build-stages-") as work:
            runs.append(measure(work))
    best = {key: min(run[key] for run in runs) for key in runs[0]}
    per_record, fast, write_s, shards_s, peer_s, rows = best.values()
    ours = fast + write_s + shards_s
    print("| stage | CPU s | pairs per CPU-second |\n|---|---:|---:|")
    for name, seconds in (("read + clean, per record (iter_rows)", per_record), ("read + clean, fast path", fast),
                          ("write the Arrow file", write_s), ("publish: Parquet shards", shards_s),
                          ("ours without Ray (fast path + Arrow + Parquet)", ours),
                          ("peer: load_dataset(json) + to_parquet", peer_s)):
        print(f"| {name} | {seconds:.2f} | {rows / seconds:,.0f} |")
    print(f"ours without Ray / peer, pairs per CPU-second: {peer_s / ours:.2f} ({rows:,} pairs)")


def forms(size: int, data: Path) -> None:
    """CPU seconds of read + clean (no Ray) per record and on the fast path, for a file of each 2021 record form."""
    sys.path.insert(0, str(ROOT))
    from datasets_builders import Source
    from datasets_builders.compressed import read_line_blocks
    from datasets_builders.json_table import block_texts
    from datasets_builders.rows import file_tables, iter_rows
    from datasets_builders.stats import BuildStats

    source = Source(name="bench_pairs", pretty_name="b", description="b", license="other", citation="c", homepage="h")

    def cpu(job, path: Path, stats: BuildStats) -> float:
        start = time.process_time()
        for _ in job(source, [str(path)], stats, "raise"):
            pass
        return time.process_time() - start

    print("| form | lines | pairs | per record CPU s | fast path CPU s | per record / fast | blocks on fast path |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for form in (*FORMS, "set", "query"):
        path = generated_file(data, size, form)
        stats = BuildStats(source="b")  # the counts of one pass
        per_record = min(cpu(iter_rows, path, stats if first else BuildStats(source="b")) for first in (1, 0))
        fast = min(cpu(file_tables, path, BuildStats(source="b")) for _ in range(2))
        blocks = [block_texts(block) is not None for _, block in read_line_blocks(path)]
        print(f"| {form} | {stats.rows_read:,} | {stats.pairs_written:,} | {per_record:.2f} | {fast:.2f} | "
              f"{per_record / fast:.1f}x | {sum(blocks)} of {len(blocks)} |", flush=True)


def publish_threads(size: int, data: Path, threads: list[int]) -> None:
    """Wall and CPU seconds of `publish` of one build (the generated file of `size` pairs) with each number of
    threads, each in a fresh process, the smaller of two runs; the shards must be byte-identical."""
    build = data / f"build_{size}"
    if not (build / "build.json").exists():
        code = ("import sys; sys.path.insert(0, sys.argv[1]); from datasets_builders import Source, build_source; "
                "build_source(Source(name='bench_pairs', pretty_name='b', description='b', license='other', "
                "citation='c', homepage='h'), [sys.argv[2]], progress=False, out_dir=sys.argv[3])")
        subprocess.run([sys.executable, "-c", code, str(ROOT), str(generated_file(data, size)), str(build)],
                       check=True, capture_output=True)
    code = ("import sys, time, json; sys.path.insert(0, sys.argv[1]); from datasets_builders import publish; "
            "w, c = time.perf_counter(), time.process_time(); "
            "publish(sys.argv[2], sys.argv[3], progress=False, num_threads=int(sys.argv[4])); "
            "print(json.dumps([time.perf_counter() - w, time.process_time() - c]))")
    print("| threads | shards | wall s | CPU s | wall vs 1 thread |\n|---|---:|---:|---:|---:|")
    first, shards = None, None
    for count in threads:
        runs = []
        for _ in range(2):
            with tempfile.TemporaryDirectory(prefix="bench-publish-") as out:
                done = subprocess.run([sys.executable, "-c", code, str(ROOT), str(build), out, str(count)],
                                      check=True, capture_output=True, text=True)
                runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
                files = sorted((Path(out) / "data" / "bench_pairs").iterdir())
                written = [(path.name, path.read_bytes()) for path in files]
                assert shards is None or written == shards, "the shards differ with the number of threads"
                shards = written
        wall, cpu = min(run[0] for run in runs), min(run[1] for run in runs)
        first = first or wall
        print(f"| {count} | {len(shards)} | {wall:.2f} | {cpu:.2f} | {first / wall:.2f}x |", flush=True)


def run(kind: str, raw: Path, num_proc: int) -> dict:
    env = os.environ | {"RAY_worker_niceness": "0"}
    with tempfile.TemporaryDirectory(prefix="bench-build-") as work:
        command = [sys.executable, __file__, "--worker", kind, str(raw), work, str(num_proc)]
        # From this tree's root: Ray puts the driver's working directory first on its workers' sys.path, so a job
        # started elsewhere (from another checkout, in an A/B of two trees) would read with that checkout's code.
        out = subprocess.run(command, check=True, capture_output=True, text=True, env=env, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def inputs_of(args: argparse.Namespace, data: Path) -> list[tuple[str, Path, Path]]:
    """(label, our file, the peer's file) of every input, generating the missing ones into `data`."""
    inputs = []
    for size in args.sizes:
        path = generated_file(data, size)
        inputs.append((f"generated {size:,} .jsonl.gz", path, path))
    if args.lists:
        size = min(args.sizes)
        inputs.append((f"generated {size:,} .jsonl.gz, list lines (peer: as objects)",
                       generated_file(data, size, "lists"), generated_file(data, size)))
    if args.plain:
        size = min(args.sizes)
        path = data / f"pairs_{size}.jsonl"
        if not path.exists():
            partial = path.with_suffix(".tmp")
            with gzip.open(data / f"pairs_{size}.jsonl.gz", "rb") as source, open(partial, "wb") as out:
                shutil.copyfileobj(source, out, 2**20)
            partial.rename(path)
        inputs.append((f"generated {size:,} .jsonl", path, path))
    return inputs + [(Path(p).name, Path(p), Path(p)) for p in args.real]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000], help="generated pair counts")
    parser.add_argument("--cpus", type=int, nargs="+", default=[1, 2], help="CPUs of our Ray instance, one run each")
    parser.add_argument("--plain", action="store_true", help="also the smallest size uncompressed (.jsonl)")
    parser.add_argument("--lists", action="store_true", help="also the smallest size as 2021 list lines")
    parser.add_argument("--real", nargs="*", default=[], help="real anchor/positive jsonl(.gz) files to run as well")
    parser.add_argument("--data", help="folder keeping the generated files between runs (default: a temporary one)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run each job this many times, alternating ours and the peer; rows give the medians")
    parser.add_argument("--forms", action="store_true",
                        help="only: read + clean CPU seconds per record and on the fast path, per 2021 record form")
    parser.add_argument("--publish-threads", type=int, nargs="+", metavar="N",
                        help="only: publish of the build of the first --sizes file with N threads, each N")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--stages", metavar="FILE", nargs="+",
                        help="only: CPU seconds of our stages (no Ray) on FILE, the peer's (on a 2nd FILE if given)")
    args = parser.parse_args()
    if args.stages:
        stages(*args.stages[:2])
        return
    if args.publish_threads:
        data = Path(args.data or tempfile.mkdtemp(prefix="bench-build-publish-"))
        data.mkdir(parents=True, exist_ok=True)
        publish_threads(args.sizes[0], data, args.publish_threads)
        return
    if args.forms:
        data = Path(args.data or tempfile.mkdtemp(prefix="bench-build-forms-"))
        data.mkdir(parents=True, exist_ok=True)
        forms(args.sizes[0], data)
        return
    if args.worker:
        print(json.dumps(worker(*args.worker)))
        return
    with tempfile.TemporaryDirectory(prefix="bench-build-data-") as tmp:
        data = Path(args.data or tmp)
        data.mkdir(parents=True, exist_ok=True)
        inputs = inputs_of(args, data)
        print(
            "| input | CPUs | pairs | build | ours pairs/s | peer pairs/s | ours / peer | ours / peer per core | "
            "ours CPU s | peer CPU s | ours / peer per CPU-second | Ray start-up s | ours peak MiB | peer peak MiB | "
            "load avg |"
        )
        print("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        results = {}
        for label, raw, peer_raw in inputs:
            before = os.getloadavg()[0]
            peers, ours_runs = [], {cpus: [] for cpus in args.cpus}
            for _ in range(args.repeat):  # alternated, so a change in the machine's state weighs on both sides
                peers.append(run("peer", peer_raw, 1))  # the peer on one core: its per-core rate
                for cpus in args.cpus:
                    ours_runs[cpus].append(run("ours", raw, cpus))
            peer = median_run(peers)
            for cpus in args.cpus:
                ours = median_run(ours_runs[cpus])
                assert ours["rows"] == peer["rows"] == ours["second"]["rows"], (ours, peer)
                results[label, cpus] = ours, peer
                load = f"{before:.1f}-{os.getloadavg()[0]:.1f}"
                for build, mine, theirs in (("first", ours, peer), ("second", ours["second"], peer["second"])):
                    ratio = mine["pairs_per_s"] / theirs["pairs_per_s"]
                    print(
                        f"| {label} | {cpus} | {mine['rows']:,} | {build} | {mine['pairs_per_s']:,.0f} | "
                        f"{theirs['pairs_per_s']:,.0f} | {ratio:.2f} | {ratio / cpus:.2f} | {mine['cpu_s']:.1f} | "
                        f"{theirs['cpu_s']:.1f} | {theirs['cpu_s'] / mine['cpu_s']:.2f} | {ours['startup_s']:.1f} | "
                        f"{ours['peak_mib']:,.0f} | {peer['peak_mib']:,.0f} | {load} |",
                        flush=True,
                    )
                before = os.getloadavg()[0]
        summary(results, args)


def median_run(runs: list[dict]) -> dict:
    """Each figure of a job's runs (and of their second builds) the median of the runs' figures."""
    def median(values: list) -> float:
        ordered = sorted(values)
        middle = len(ordered) // 2
        return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2

    def of(rounds: list[dict]) -> dict:
        return {key: median([r[key] for r in rounds]) if isinstance(value, (int, float)) else value
                for key, value in rounds[0].items() if key != "second"}

    return of(runs) | {"second": of([r["second"] for r in runs])}


def summary(results: dict, args: argparse.Namespace) -> None:
    """The ratios the issue asks for: 1 vs more workers on each input, and peak memory as the input grows."""
    for (label, cpus), (ours, _) in results.items():
        if cpus != min(args.cpus) and (label, min(args.cpus)) in results:
            one = results[label, min(args.cpus)][0]
            speedup = ours["pairs_per_s"] / one["pairs_per_s"]
            print(f"{label}: {cpus} vs {min(args.cpus)} CPU(s), ours pairs/s: {speedup:.2f}x")
    sizes = sorted(args.sizes)
    if len(sizes) > 1:
        small, large = (f"generated {size:,} .jsonl.gz" for size in (sizes[0], sizes[-1]))
        for cpus in args.cpus:
            (ours_s, peer_s), (ours_l, peer_l) = results[small, cpus], results[large, cpus]
            print(
                f"peak memory, {sizes[-1]:,} vs {sizes[0]:,} pairs ({sizes[-1] / sizes[0]:.0f}x input), "
                f"{cpus} CPU(s): "
                f"ours {ours_s['peak_mib']:,.0f} -> {ours_l['peak_mib']:,.0f} MiB "
                f"({ours_l['peak_mib'] / ours_s['peak_mib']:.2f}x), peer {peer_s['peak_mib']:,.0f} -> "
                f"{peer_l['peak_mib']:,.0f} MiB ({peer_l['peak_mib'] / peer_s['peak_mib']:.2f}x)"
            )


if __name__ == "__main__":
    main()
