"""Load test of the Gradio Space on loopback: many concurrent gradio_client users calling a mix of tabs.

    python bench/bench_space.py                      # 50 clients x 20 requests, all-MiniLM-L6-v2 (packaged)
    python bench/bench_space.py --clients 5 --requests 4 --model path/to/sentence-transformers-folder

The Space runs as a Space does (`python spaces_demo/app.py`, a separate process) on 127.0.0.1 only. Each client
sends its requests one after another, cycling through the endpoints, so every tab sees the same load. Reported per
endpoint: errors, p50 and p95 latency under load, and side by side the same call made directly in this process with
no server (the floor), as the ratio load-p50 / direct-p50. The run is bounded: at most clients x requests calls,
and no new call starts after --max-seconds.
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import gradio as gr
import numpy as np
from matplotlib.figure import Figure
from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from spaces_demo.app import SpaceTabs  # noqa: E402
from spaces_demo.registry import ModelRegistry, packaged_minilm  # noqa: E402

TEXTS = "Someone is playing an instrument.\nA person strums a guitar on stage.\nThe stock market fell sharply."
CLIENT_TIMEOUT_S = 60
PLOT_OUTPUT = gr.Plot()  # the app's chart outputs, whose postprocess turns a figure into an image
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


def call_directly(tabs: SpaceTabs, endpoint: str, arguments: tuple) -> None:
    """The tab's function plus the chart-to-image step Gradio's Plot output does for it: the server's work
    for one request, without HTTP or queueing."""
    for output in getattr(tabs, endpoint)(*arguments):
        if isinstance(output, Figure):
            PLOT_OUTPUT.postprocess(output)


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
    parser.add_argument("--max-seconds", type=float, default=900, help="start no request after this (default: 900)")
    parser.add_argument("--direct-repeats", type=int, default=10, help="direct calls per endpoint (default: 10)")
    args = parser.parse_args()

    from gradio_client import Client

    load_before = os.getloadavg()[0]  # the machine may be shared: say how busy it was
    # The floor: each tab's function called directly, no server, no HTTP, after a warm-up call.
    registry = ModelRegistry([args.model])
    label = registry.labels[0]
    tabs = SpaceTabs(registry)
    calls = requests_by_endpoint(label)
    direct: dict[str, list[float]] = defaultdict(list)
    for endpoint, arguments in calls.items():
        call_directly(tabs, endpoint, arguments)
        for _ in range(args.direct_repeats):
            start = time.perf_counter()
            call_directly(tabs, endpoint, arguments)
            direct[endpoint].append(time.perf_counter() - start)

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    server = start_space(args.model, port)
    try:
        warm = wait_for_client(url, server)
        for endpoint, arguments in calls.items():  # loads the model and caches the bias report, as real use would
            warm.predict(*arguments, api_name=f"/{endpoint}")
        single: dict[str, list[float]] = defaultdict(list)
        for endpoint, arguments in calls.items():  # one client alone: HTTP and queue cost without contention
            for _ in range(3):
                start = time.perf_counter()
                warm.predict(*arguments, api_name=f"/{endpoint}")
                single[endpoint].append(time.perf_counter() - start)

        endpoints = list(calls)
        latencies: dict[str, list[float]] = defaultdict(list)
        errors: dict[str, list[str]] = defaultdict(list)
        skipped = 0
        lock = threading.Lock()
        progress = tqdm(total=args.clients * args.requests, desc="requests", unit="req")
        stop_at = time.monotonic() + args.max_seconds

        def run_client(index: int) -> None:
            nonlocal skipped
            # A browser waits for a busy server; gradio_client's default 5 s read timeout would count it as a failure.
            client = Client(url, verbose=False, httpx_kwargs={"timeout": CLIENT_TIMEOUT_S})
            for number in range(args.requests):
                if time.monotonic() > stop_at:
                    with lock:
                        skipped += args.requests - number
                    return
                endpoint = endpoints[(index + number) % len(endpoints)]
                start = time.perf_counter()
                try:
                    client.predict(*calls[endpoint], api_name=f"/{endpoint}")
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
    finally:
        server.terminate()
        server.wait(timeout=30)

    done = sum(len(v) for v in latencies.values())
    failed = sum(len(v) for v in errors.values())
    print(
        f"\n{args.clients} clients x {args.requests} requests, model {label}: {done} ok, {failed} errors, "
        f"{skipped} not started (time bound); {wall:.1f} s wall, {(done + failed) / wall:.1f} requests/s; "
        f"{os.cpu_count()} CPUs, load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after\n"
    )
    print("| endpoint | requests | errors | p50 ms | p95 ms | 1-client p50 ms | direct p50 ms | load p50 / direct |")
    print("|---|---|---|---|---|---|---|---|")
    for endpoint in endpoints:
        p50 = percentile_ms(latencies[endpoint], 50)
        direct_p50 = percentile_ms(direct[endpoint], 50)
        print(
            f"| {endpoint} | {len(latencies[endpoint]) + len(errors[endpoint])} | {len(errors[endpoint])} "
            f"| {p50:.0f} | {percentile_ms(latencies[endpoint], 95):.0f} | {percentile_ms(single[endpoint], 50):.0f} "
            f"| {direct_p50:.1f} | {p50 / direct_p50:.0f}x |"
        )
    for endpoint, messages in errors.items():
        for message, count in sorted({m: messages.count(m) for m in messages}.items()):
            print(f"error on {endpoint} ({count}x): {message}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
