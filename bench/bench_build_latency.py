"""The fixed cost of a small build on Ray Data: Ray's default idle-worker killing (1 s) vs ours (engine.py keeps idle
workers for `IDLE_WORKER_KEPT_MS`), side by side in one run.

    python bench/bench_build_latency.py --comments 2000 --builds 4

Input: 2 generated Reddit months (`bench_miners.generate_reddit`, tiny: what a test or a small source gives). For
each setting, in a fresh process: a local Ray instance of `--cpus` CPUs (its start-up timed apart), then `--builds`
builds of `reddit_comments` with `--dedupe` one after another (each build runs several Ray Data executions: the read,
the join, the dedupe's group-by and join, the sort). Reported: the first build (its workers start cold), the median
of the rest (a warm instance: tests, a notebook, a cluster), and the CPU seconds of the whole process tree (Ray's
processes included) for all builds. Every build must give the same rows: checked.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))

from bench_build import TreeMemory  # noqa: E402
from bench_miners import generate_reddit  # noqa: E402

sys.path.insert(0, str(ROOT))
from datasets_builders.engine import IDLE_WORKER_KEPT_MS  # noqa: E402

RAY_DEFAULT_MS = 1_000  # Ray's idle_worker_killing_time_threshold_ms


def child(kept_ms: str, cpus: str, folder: str, builds: str) -> dict:
    from datasets_builders import build_source, engine

    engine.IDLE_WORKER_KEPT_MS = int(kept_ms)
    memory = TreeMemory()
    start = time.perf_counter()
    engine.start(num_cpus=int(cpus))
    startup = time.perf_counter() - start
    seconds, rows = [], set()
    for _ in range(int(builds)):
        start = time.perf_counter()
        build = build_source("reddit_comments", [folder], dedupe=True, progress=False)
        seconds.append(time.perf_counter() - start)
        rows.add(json.dumps(build.dataset.to_list()))
    peak, cpu = memory.stop()
    return {"startup_s": startup, "seconds": seconds, "same_rows": len(rows) == 1, "cpu_s": cpu, "peak_mib": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--comments", type=int, default=2_000, help="comments over the 2 months")
    parser.add_argument("--builds", type=int, default=4, help="builds per fresh Ray instance")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray instance")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        half = args.comments // 2
        generate_reddit(Path(tmp) / "RC_2015-01.zst", half, seed=1)
        generate_reddit(Path(tmp) / "RC_2015-02.zst", args.comments - half, seed=2, start=half)
        print(f"{args.comments:,} comments, {args.builds} builds per instance of {args.cpus} CPUs\n")
        print("| idle workers kept | Ray start-up s | first build s | later builds, median s | CPU s, all builds | "
              "peak MiB | same rows |")  # fmt: skip
        print("|---|---:|---:|---:|---:|---:|---|")
        ours = (f"ours, {IDLE_WORKER_KEPT_MS // 1000} s", IDLE_WORKER_KEPT_MS)
        settings = (("Ray's default, 1 s", RAY_DEFAULT_MS), ours)
        for label, kept in settings:
            command = [sys.executable, __file__, "--child", str(kept), str(args.cpus), tmp, str(args.builds)]
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode:
                sys.exit(done.stderr[-3000:])
            result = json.loads(done.stdout.strip().splitlines()[-1])
            first, *later = result["seconds"]
            print(f"| {label} | {result['startup_s']:.1f} | {first:.2f} | {statistics.median(later or [first]):.2f} | "
                  f"{result['cpu_s']:.1f} | {result['peak_mib']:,.0f} | {result['same_rows']} |")  # fmt: skip


if __name__ == "__main__":
    main()
