"""Load test of the Gradio Space on loopback: many concurrent gradio_client users calling a mix of tabs.

    python bench/bench_space.py              # 3 rounds of 50 clients x 20 requests, all-MiniLM-L6-v2 (packaged)
    python bench/bench_space.py --rounds 2 --clients 5 --requests 4 --model path/to/sentence-transformers-folder
    python bench/bench_space.py --texts distinct   # every request's sentences are new: no text cache hit

The Space runs as a Space does (`python spaces_demo/app.py`, a separate process) on 127.0.0.1 only. Each client
sends its requests one after another, cycling through the endpoints, so every tab sees the same load. Reported per
round and endpoint: errors, p50 and p95 latency under load, and the server's resident memory (RSS, from /proc)
after the round; then, side by side, one client alone and the same call made directly in this process with no
server (the floor). Two aims are checked: similarity's p50 within 3x of the fastest endpoint's p50 in every round,
and the server's RSS flat (within 10%) from round 2 to round 3. The run is bounded: at most rounds x clients x
requests calls, and no new call starts after --max-seconds in a round.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from spaces_demo.app import SpaceTabs  # noqa: E402
from spaces_demo.registry import ModelRegistry, packaged_minilm  # noqa: E402

TEXTS = "Someone is playing an instrument.\nA person strums a guitar on stage.\nThe stock market fell sharply."
CLIENT_TIMEOUT_S = 60
SIMILARITY_AIM = 3.0  # similarity p50 / fastest endpoint p50
RSS_AIM = 0.10  # RSS growth from round 2 to round 3
ANSWERS = "Fresh pasta cooks in three minutes.\nPasta came to Italy long ago.\nSoak beans overnight."


def requests_by_endpoint(label: str) -> dict[str, tuple]:
    """Arguments of one realistic call per endpoint (the default corpus for search and cluster)."""
    return {
        "similarity": ("A man is playing a guitar.", TEXTS, [label]),
        "rank_answers": ("How long does fresh pasta take to cook?", ANSWERS, label),
        "search": ("How do I bake bread at home?", None, "text", 5, label),
        "cluster": (None, "text", 8, label),
        "bias_set": ([label],),
        "bias_pair": ("The engineer fixed the machine.", "He fixed the machine.", "She fixed the machine.", [label]),
    }


def distinct(endpoint: str, arguments: tuple, tag: str) -> tuple:
    """`arguments` with `tag` worked into every typed sentence, so no two requests share a text and every
    encoding endpoint encodes all of its texts (the Space's text cache cannot hide the encoder's cost). The
    cluster and bias-set calls stay as they are: they run on the default corpus and the fixed set."""

    def tagged(text: str) -> str:
        return "\n".join(f"{line.rstrip('.')} ({tag})." for line in text.splitlines())

    if endpoint in ("similarity", "rank_answers"):
        return (tagged(arguments[0]), tagged(arguments[1]), *arguments[2:])
    if endpoint == "search":
        return (tagged(arguments[0]), *arguments[1:])
    if endpoint == "bias_pair":
        return (*(tagged(text) for text in arguments[:3]), arguments[3])
    return arguments


def call_directly(tabs: SpaceTabs, endpoint: str, arguments: tuple) -> None:
    """The tab's function: the server's work for one request (charts are tables the browser draws), without
    HTTP or queueing."""
    getattr(tabs, endpoint)(*arguments)


def rss_mib(pid: int) -> float:
    """Resident memory of process `pid` in MiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_space(model: str, port: int) -> subprocess.Popen:
    """`python app.py` in the Space folder, serving `model` on 127.0.0.1:port."""
    env = dict(
        os.environ,
        SE1B_DEMO_MODELS=model,
        GRADIO_SERVER_NAME="127.0.0.1",
        GRADIO_SERVER_PORT=str(port),
        GRADIO_ANALYTICS_ENABLED="False",
        HF_HUB_OFFLINE="1",
    )
    return subprocess.Popen([sys.executable, "app.py"], cwd=REPO / "spaces_demo", env=env, stdout=subprocess.DEVNULL)


def wait_for_client(url: str, server: subprocess.Popen, timeout_s: float = 180.0):
    from gradio_client import Client

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return Client(url, verbose=False)
        except Exception:  # not listening yet
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Space did not start on {url}") from None
            time.sleep(1.0)


def percentile_ms(values: list[float], q: float) -> float:
    return float(np.percentile(values, q) * 1000) if values else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(packaged_minilm()), help="model folder or Hub id (default: packaged)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (default: %(default)s)")
    parser.add_argument("--requests", type=int, default=20, help="requests per client (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of load (default: %(default)s)")
    parser.add_argument(
        "--max-seconds", type=float, default=900, help="per round, start no request after this (default: 900)"
    )
    parser.add_argument(
        "--texts", choices=("repeated", "distinct"), default="repeated",
        help="repeated: every request sends the tab's example sentences (as visitors trying the examples do); "
        "distinct: every request's sentences are new (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument("--direct-repeats", type=int, default=10, help="direct calls per endpoint (default: 10)")
    args = parser.parse_args()

    def arguments_of(endpoint: str, tag: str) -> tuple:
        return calls[endpoint] if args.texts == "repeated" else distinct(endpoint, calls[endpoint], tag)

    load_before = os.getloadavg()[0]  # the machine may be shared: say how busy it was
    # The floor: each tab's function called directly, no server, no HTTP, after a warm-up call.
    registry = ModelRegistry([args.model])
    label = registry.labels[0]
    tabs = SpaceTabs(registry)
    calls = requests_by_endpoint(label)
    direct: dict[str, list[float]] = defaultdict(list)
    for endpoint, arguments in calls.items():
        call_directly(tabs, endpoint, arguments)
        for repeat in range(args.direct_repeats):
            start = time.perf_counter()
            call_directly(tabs, endpoint, arguments_of(endpoint, f"direct {repeat}"))
            direct[endpoint].append(time.perf_counter() - start)

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    server = start_space(args.model, port)
    try:
        warm = wait_for_client(url, server)
        for endpoint, arguments in calls.items():  # loads the model and caches the bias report, as real use would
            warm.predict(*arguments, api_name=f"/{endpoint}")
        single: dict[str, list[float]] = defaultdict(list)
        for endpoint in calls:  # one client alone: HTTP and queue cost without contention
            for repeat in range(3):
                start = time.perf_counter()
                warm.predict(*arguments_of(endpoint, f"single {repeat}"), api_name=f"/{endpoint}")
                single[endpoint].append(time.perf_counter() - start)

        endpoints = list(calls)
        rounds = []
        rss = [("after warm-up", rss_mib(server.pid))]
        for number in range(1, args.rounds + 1):
            rounds.append(run_round(url, arguments_of, endpoints, args, number))
            rss.append((f"after round {number}", rss_mib(server.pid)))
        time.sleep(5)
        rss.append(("idle 5 s later", rss_mib(server.pid)))
    finally:
        server.terminate()
        server.wait(timeout=30)

    failed = sum(len(v) for result in rounds for v in result["errors"].values())
    print(
        f"\n{args.rounds} rounds of {args.clients} clients x {args.requests} requests, {args.texts} texts, "
        f"model {label}; "
        f"{os.cpu_count()} CPUs, load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after\n"
    )
    print("| round | endpoint | requests | errors | p50 ms | p95 ms | p50 / fastest p50 |")
    print("|---|---|---:|---:|---:|---:|---:|")
    similarity_ratios = []
    for number, result in enumerate(rounds, start=1):
        p50s = {e: percentile_ms(result["latencies"][e], 50) for e in endpoints}
        fastest = min(p50s.values())
        similarity_ratios.append(p50s["similarity"] / fastest)
        for endpoint in endpoints:
            latencies, errors = result["latencies"][endpoint], result["errors"][endpoint]
            print(
                f"| {number} | {endpoint} | {len(latencies) + len(errors)} | {len(errors)} | {p50s[endpoint]:.0f} "
                f"| {percentile_ms(latencies, 95):.0f} | {p50s[endpoint] / fastest:.1f}x |"
            )
    print("\n| round | ok | errors | not started | wall s | requests/s | server RSS after, MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print(f"| warm-up | | | | | | {rss[0][1]:.0f} |")
    for number, result in enumerate(rounds, start=1):
        done = sum(len(v) for v in result["latencies"].values())
        errors = sum(len(v) for v in result["errors"].values())
        print(
            f"| {number} | {done} | {errors} | {result['skipped']} | {result['wall']:.1f} "
            f"| {(done + errors) / result['wall']:.1f} | {rss[number][1]:.0f} |"
        )
    print(f"| idle 5 s after the last round | | | | | | {rss[-1][1]:.0f} |")

    print("\n| endpoint | 1-client p50 ms | direct p50 ms |")
    print("|---|---:|---:|")
    for endpoint in endpoints:
        print(
            f"| {endpoint} | {percentile_ms(single[endpoint], 50):.0f} | {percentile_ms(direct[endpoint], 50):.1f} |"
        )
    worst = max(similarity_ratios)
    print(
        f"\naim 1, similarity p50 within {SIMILARITY_AIM:.0f}x of the fastest endpoint's: worst round {worst:.1f}x "
        f"({'met' if worst <= SIMILARITY_AIM else 'NOT met'})"
    )
    if args.rounds >= 3:
        growth = rss[3][1] / rss[2][1] - 1
        print(
            f"aim 2, RSS flat within {RSS_AIM:.0%} from round 2 to round 3: {rss[2][1]:.0f} -> {rss[3][1]:.0f} MiB "
            f"({growth:+.1%}, {'met' if abs(growth) <= RSS_AIM else 'NOT met'})"
        )
    for result in rounds:
        for endpoint, messages in result["errors"].items():
            for message, count in sorted({m: messages.count(m) for m in messages}.items()):
                print(f"error on {endpoint} ({count}x): {message}")
    return 1 if failed else 0


def run_round(
    url: str, arguments_of: Callable[[str, str], tuple], endpoints: list[str], args: argparse.Namespace, number: int
) -> dict:
    """One round: `args.clients` threads, each a gradio_client user sending `args.requests` calls in turn."""
    name = f"round {number}"
    from gradio_client import Client

    latencies: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, list[str]] = defaultdict(list)
    skipped = 0
    lock = threading.Lock()
    progress = tqdm(total=args.clients * args.requests, desc=name, unit="req")
    stop_at = time.monotonic() + args.max_seconds

    def run_client(index: int) -> None:
        nonlocal skipped
        # A browser waits for a busy server; gradio_client's default 5 s read timeout would count it as a failure.
        client = Client(url, verbose=False, httpx_kwargs={"timeout": CLIENT_TIMEOUT_S})
        for request in range(args.requests):
            if time.monotonic() > stop_at:
                with lock:
                    skipped += args.requests - request
                return
            endpoint = endpoints[(index + request) % len(endpoints)]
            start = time.perf_counter()
            try:
                arguments = arguments_of(endpoint, f"round {number} client {index} request {request}")
                client.predict(*arguments, api_name=f"/{endpoint}")
                outcome = None
            except Exception as error:  # counted and reported, never hidden
                outcome = f"{type(error).__name__}: {error}".splitlines()[0][:200]
            elapsed = time.perf_counter() - start
            with lock:
                if outcome is None:
                    latencies[endpoint].append(elapsed)
                else:
                    errors[endpoint].append(outcome)
                progress.update()

    wall = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.clients) as pool:
        list(pool.map(run_client, range(args.clients)))
    wall = time.perf_counter() - wall
    progress.close()
    return {"latencies": latencies, "errors": errors, "skipped": skipped, "wall": wall}


if __name__ == "__main__":
    sys.exit(main())
