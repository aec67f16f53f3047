"""Reddit: the exact comment -> parent join on Ray Data vs the single-process miner with its LRU parent index (main at
commit 31c854b), on the same generated months, side by side; then the same build on a 2-node Ray cluster on
localhost, compared byte for byte with the local one.

    git worktree add /tmp/se1b-31c854b 31c854b        # the old miner, outside this tree
    python bench/bench_reddit_join.py --comments 2000000 --old-tree /tmp/se1b-31c854b

Months: `bench_miners.generate_reddit`, the comments split over 2 monthly files (ids continue across months; 30 %
top-level, 62 % replies to one of the last 2,000 comments, 8 % replies to any earlier comment, possibly last month).
Each measurement runs in a fresh process: new with a local Ray instance of 1 and of 2 CPUs (started before the clock;
start-up reported apart), old in one process (its default index of 1,000,000 comments). Speed is comments read per
second, per core = divided by the CPUs given, and comments per CPU-second of the job's whole process tree (Ray's
driver, raylet and object store run beside its tasks on any free core). Pairs are compared as sets of (parent, reply)
digests: the new miner must find every pair the old one finds, plus the ones the old one lost to eviction. Peak memory:
the summed PSS of the job's process tree (Ray's processes included), sampled every 0.1 s in a second run of the job,
apart from the timed one (the sampling would slow what it measures, BENCHMARKS.md). Ray's workers run at the
benchmark's own priority (RAY_worker_niceness=0; Ray's default, 15, starves them beside the old miner's process on a
loaded machine).
First, the read stage alone in one process: the per-line reader vs the Arrow one on the first month.
The 2-node cluster: `ray start --head --node-ip-address 127.0.0.1 --num-cpus 1` + `ray start --address ...
--num-cpus 1`, loopback only, with their own ports and temp dir, RAY_AUTH_MODE=disabled on both nodes and the
client, stopped by their own process ids (never `ray stop`: it ends every Ray process of the machine's user). Ends
with the projection of the 2021 months from the 1-CPU run's comments per CPU-second and the 2-CPU scaling.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REDDIT_2021_COMMENTS = 3_680_746_776  # PolyAI's reddit/README.md: the 2015-2018 months
REDDIT_2021_PAIRS = 727_013_715  # the examples they made of them
sys.path.insert(0, str(Path(__file__).parent))

from bench_build import TreeCPU, TreeMemory  # noqa: E402
from bench_miners import generate_reddit  # noqa: E402


def digest(anchor: str, positive: str) -> bytes:
    return hashlib.blake2b(f"{anchor}\0{positive}".encode(), digest_size=8).digest()


def child_new(cpus: int, folder: str, out: str, digests: str, object_store_mib: str = "0") -> dict:
    import ray

    from datasets_builders import build_source, engine

    start = time.perf_counter()
    if int(object_store_mib):  # a capped object store: what does not fit spills to disk
        ray.init(address="local", num_cpus=cpus, object_store_memory=int(object_store_mib) * 2**20,
                 include_dashboard=False, log_to_driver=False,
                 _system_config={"idle_worker_killing_time_threshold_ms": engine.IDLE_WORKER_KEPT_MS})  # fmt: skip
    else:
        engine.start(num_cpus=cpus)
    startup = time.perf_counter() - start
    cpu = TreeCPU()  # Ray's processes' start-up apart: their CPU seconds count from here
    start, driver_start, writer_start = time.perf_counter(), time.process_time(), time.thread_time()
    build = build_source("reddit_comments", [folder], out_dir=out, progress=False)
    seconds, driver_cpu = time.perf_counter() - start, time.process_time() - driver_start
    writer_cpu = time.thread_time() - writer_start  # this thread receives the rows and writes them
    stats, cpu = build.stats, cpu.stop()  # the digests for the comparison below are not the build's
    with open(digests, "wb") as handle:
        for batch in build.dataset.iter(batch_size=100_000):
            handle.write(b"".join(map(digest, batch["anchor"], batch["positive"])))
    del build  # its rows, mapped and read above, are not the second build's memory
    memory = TreeMemory()  # peak memory from a second build, apart: the sampler would slow the timed one
    build_source("reddit_comments", [folder], out_dir=f"{out}-memory", progress=False)
    peak, _ = memory.stop()
    return {"comments": stats.rows_read, "pairs": stats.pairs_written, "seconds": seconds, "startup_s": startup,
            "peak_mib": peak, "cpu_s": cpu, "driver_cpu_s": driver_cpu, "writer_cpu_s": writer_cpu,
            "filtered": stats.filtered}  # fmt: skip


def child_read(month: str) -> dict:
    """The read stage alone, in this one process: the per-line reader vs the Arrow one on the same month."""
    from datasets_builders.miners import reddit

    start = time.perf_counter()
    lines = sum(1 for _ in reddit.reddit_comments([Path(month)]))
    per_line = time.perf_counter() - start
    start = time.perf_counter()
    tables = sum(item.num_rows for item in reddit.comment_tables(Path(month)) if not isinstance(item, tuple))
    arrow = time.perf_counter() - start
    return {"comments": lines, "same_count": lines == tables, "per_line_s": per_line, "arrow_s": arrow}


def child_old(old_tree: str, folder: str, digests: str) -> dict:
    sys.path.insert(0, old_tree)
    from datasets_builders.miners import MiningStats, mine_reddit  # the old tree's, first on sys.path

    cpu = TreeCPU()
    stats = MiningStats(on_error="skip")
    start = time.perf_counter()
    with open(digests, "wb") as handle:
        for pair in mine_reddit(folder, stats=stats):
            handle.write(digest(pair["anchor"], pair["positive"]))
    seconds, cpu = time.perf_counter() - start, cpu.stop()
    memory = TreeMemory()  # peak memory from a second run, apart, as for the new miner
    for _ in mine_reddit(folder, stats=MiningStats(on_error="skip")):
        pass
    peak, _ = memory.stop()
    return {"comments": stats.records, "pairs": stats.pairs, "seconds": seconds, "startup_s": 0.0,
            "peak_mib": peak, "cpu_s": cpu, "filtered": dict(stats.dropped)}  # fmt: skip


# Ray starts its workers at niceness 15 by default: below the old miner's process, which on a loaded machine would
# measure the scheduler, not the miners. Both run at the priority the benchmark itself was given.
SAME_PRIORITY = {"RAY_worker_niceness": "0"}


def run_child(*args: str) -> dict:
    env = os.environ | SAME_PRIORITY
    done = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, env=env)
    if done.returncode:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def read_digests(path: Path) -> set[bytes]:
    data = path.read_bytes()
    return {data[i : i + 8] for i in range(0, len(data), 8)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def own_ports(first_worker_port: int) -> list[str]:
    """Ports of one node that no other Ray instance on this machine uses (Ray's defaults are fixed numbers)."""
    ports = ["--min-worker-port", str(first_worker_port), "--max-worker-port", str(first_worker_port + 99)]
    for option in ("--node-manager-port", "--object-manager-port", "--dashboard-agent-listen-port",
                   "--dashboard-agent-grpc-port", "--metrics-export-port", "--runtime-env-agent-port"):  # fmt: skip
        ports += [option, str(free_port())]
    return ports


def cluster_build(folder: Path, out: Path) -> float:
    """Build on a 2-node localhost cluster started here (and stopped by its own processes); returns seconds."""
    import psutil

    env = os.environ | {"RAY_AUTH_MODE": "disabled"} | SAME_PRIORITY
    port = free_port()
    temp = Path(tempfile.mkdtemp(prefix="bench-ray-"))  # not /tmp/ray: other Ray users of this machine keep theirs
    ray = str(Path(sys.executable).with_name("ray"))
    head = [ray, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus", "1"]
    head += ["--include-dashboard", "false", "--temp-dir", str(temp)]  # no Ray Client server without ray[client]
    subprocess.run([*head, *own_ports(20100)], env=env, check=True, capture_output=True)
    worker = [ray, "start", "--address", f"127.0.0.1:{port}", "--node-ip-address", "127.0.0.1", "--num-cpus", "1"]
    worker += own_ports(20200)
    try:
        subprocess.run(worker, env=env, check=True, capture_output=True)
        command = [sys.executable, "-m", "se1b.cli", "data", "build", "reddit_comments", "--raw", str(folder)]
        start = time.perf_counter()
        subprocess.run([*command, "--address", f"127.0.0.1:{port}", "--out", str(out)], env=env, check=True)
        return time.perf_counter() - start
    finally:  # `ray stop` would end every Ray process of this user: end only this cluster's
        lines = [(p, " ".join(p.info["cmdline"] or [])) for p in psutil.process_iter(["cmdline"])]
        marks = {f"127.0.0.1:{port}", f"--gcs_server_port={port}"}
        # every process of this cluster names its session folder, which its GCS server's command line gives
        gcs = [line for _, line in lines if f"--gcs_server_port={port}" in line]
        marks |= {mark for line in gcs for mark in re.findall(r"session_[\d_-]+", line)}
        ours = [process for process, line in lines if any(mark in line for mark in marks)]
        for process in ours:
            for one in [*process.children(recursive=True), process]:
                try:
                    one.kill()
                except psutil.NoSuchProcess:
                    continue
        shutil.rmtree(temp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--comments", type=int, default=2_000_000, help="comments over the 2 months")
    parser.add_argument("--old-tree", required=False, help="a checkout of main at 31c854b (git worktree)")
    parser.add_argument("--no-cluster", action="store_true", help="skip the 2-node localhost cluster run")
    parser.add_argument("--cpus", type=int, nargs="+", default=[1, 2], help="local Ray instances to measure")
    parser.add_argument("--object-store-mib", type=int, default=0, help="cap Ray's object store (default: Ray's)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        children = {"new": lambda: child_new(int(rest[0]), *rest[1:]), "old": lambda: child_old(*rest),
                    "read": lambda: child_read(*rest)}  # fmt: skip
        print(json.dumps(children[kind]()))
        return
    with tempfile.TemporaryDirectory(prefix="bench-reddit-") as tmp:
        work, months = Path(tmp), Path(tmp) / "months"
        months.mkdir()
        half = args.comments // 2
        generate_reddit(months / "RC_2015-01.zst", half, seed=1)
        generate_reddit(months / "RC_2015-02.zst", args.comments - half, seed=2, start=half)
        read = run_child("read", str(months / "RC_2015-01.zst"))
        print(f"read stage alone, one process, {read['comments']:,} comments: per-line "
              f"{read['comments'] / read['per_line_s']:,.0f}/s, Arrow {read['comments'] / read['arrow_s']:,.0f}/s "
              f"({read['per_line_s'] / read['arrow_s']:.1f}x; same count: {read['same_count']})")
        runs = {}
        if args.old_tree:
            runs["old (LRU index, 1 process)"] = (1, run_child("old", args.old_tree, str(months), str(work / "old")))
        for cpus in args.cpus:
            out, digests = work / f"new{cpus}", work / f"new{cpus}.digests"
            child = ["new", str(cpus), str(months), str(out), str(digests), str(args.object_store_mib)]
            runs[f"new (Ray Data join, {cpus} CPU)"] = (cpus, run_child(*child))
        if args.cpus != [1, 2]:  # the comparisons below need both
            for name, (_, result) in runs.items():
                print(f"{name}: {result['comments']:,} comments, {result['pairs']:,} pairs, "
                      f"{result['comments'] / result['seconds']:,.0f} comments/s, peak {result['peak_mib']:,.0f} MiB")
            return
        new = read_digests(work / "new2.digests")
        print("| miner | CPUs | comments | pairs | comments/s | comments/s per core | CPU s | comments per CPU-s | "
              "Ray start-up s | peak MiB |")  # fmt: skip
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for name, (cpus, result) in runs.items():
            rate = result["comments"] / result["seconds"]
            print(f"| {name} | {cpus} | {result['comments']:,} | {result['pairs']:,} | {rate:,.0f} | "
                  f"{rate / cpus:,.0f} | {result['cpu_s']:.1f} | {result['comments'] / result['cpu_s']:,.0f} | "
                  f"{result['startup_s']:.1f} | {result['peak_mib']:,.0f} |")  # fmt: skip
        one, two = runs["new (Ray Data join, 1 CPU)"][1], runs["new (Ray Data join, 2 CPU)"][1]
        scaling = one["seconds"] / two["seconds"]
        print(f"\n2 vs 1 CPU throughput: {scaling:.2f}x")
        # vCPU-hours from CPU seconds, not from wall time per CPU given: a 1-CPU Ray instance also runs its driver,
        # raylet and object store beside the task, on the machine's other core
        per_core = one["comments"] / one["cpu_s"]
        hours = REDDIT_2021_COMMENTS / per_core / 3600
        efficiency = min(1.0, scaling / 2)  # what a second worker added, as a share of a perfect doubling
        # The driver alone receives every pair and writes the Arrow file, in its main thread: that thread's CPU does
        # not shrink with workers and grows with the pairs written (2021: 727,013,715 of 3.68e9 comments; the
        # generated months give more). Its other threads (Ray Data's executor, polling while the build runs) add up to
        # the whole driver's CPU: the upper bound.
        scale = REDDIT_2021_PAIRS / one["pairs"] / 3600
        writer_hours, driver_hours = one["writer_cpu_s"] * scale, one["driver_cpu_s"] * scale
        workers_minutes = (hours - driver_hours) / (400 * efficiency) * 60
        print(f"projection, 2021 months ({REDDIT_2021_COMMENTS:,} comments) at {per_core:,.0f} comments per CPU-s: "
              f"{hours:,.0f} vCPU-hours; the driver's part, scaled from {one['pairs']:,} pairs here to the 2021 "
              f"{REDDIT_2021_PAIRS:,}: its writing thread {one['writer_cpu_s']:.2f} CPU-s -> {writer_hours * 60:.0f} "
              f"min, the whole driver {one['driver_cpu_s']:.2f} CPU-s -> {driver_hours * 60:.0f} min; on 400 workers "
              f"at the measured 2-worker efficiency ({efficiency:.2f}): {workers_minutes:,.0f} min of workers + "
              f"{writer_hours * 60:,.0f}-{driver_hours * 60:,.0f} min of the driver in series = "
              f"{workers_minutes + writer_hours * 60:,.0f}-{workers_minutes + driver_hours * 60:,.0f} min "
              "(PolyAI: 625.5 vCPU-hours, 1 h 38 min on 409 workers)")
        same = (work / "new1" / "pairs.arrow").read_bytes() == (work / "new2" / "pairs.arrow").read_bytes()
        print(f"1-CPU and 2-CPU builds byte-identical: {same}")
        if args.old_tree:
            old = read_digests(work / "old")
            evicted = runs["old (LRU index, 1 process)"][1]["filtered"].get("parent_evicted", 0)
            print(f"old pairs all found by new: {old <= new}; new pairs the old one lost: {len(new - old):,} "
                  f"(old counted {evicted:,} as parent_evicted)")
        if not args.no_cluster:
            seconds = cluster_build(months, work / "cluster")
            same = (work / "cluster" / "pairs.arrow").read_bytes() == (work / "new2" / "pairs.arrow").read_bytes()
            print(f"2-node localhost cluster build: {seconds:.1f} s (client start-up included); "
                  f"pairs.arrow byte-identical to the local build: {same}")


if __name__ == "__main__":
    main()
