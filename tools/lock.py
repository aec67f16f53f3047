"""Refresh requirements.lock: the exact versions a fresh install resolves today, for CI and the README's set-up.

    python tools/lock.py            # resolve (nothing is installed), write requirements.lock
    python tools/lock.py --check    # exit 1 when the lock no longer matches pyproject.toml's requirements

pyproject.toml keeps ranges for people who install se1b as a library; applications and CI install the lock:
`pip install -r requirements.lock && pip install --no-deps -e .`. After a refresh, run the README's test command
(or `python tools/newest_deps.py`, which does both in a scratch venv) before committing the new lock.

pip's own resolver does the work (`pip install --dry-run --ignore-installed --report`), so the lock honours the same
indexes and find-links as a real install, including the CPU torch wheel (TORCH below) that must come first.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
# The CPU build of torch; pyproject.toml deliberately leaves torch out (GPU hosts install their CUDA build).
TORCH = "torch==2.13.0"


def resolve(extra_args: list[str] | None = None) -> dict[str, str]:
    """Return {distribution name: version} that `pip install TORCH -e .[dev]` resolves to, without installing."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--dry-run", "--ignore-installed",
               "--report", str(report), TORCH, "-e", f"{ROOT}[dev]", *(extra_args or [])]
        subprocess.run(cmd, check=True)
        installs = json.loads(report.read_text())["install"]
    pins = {}
    for item in installs:
        meta = item["metadata"]
        if meta["name"].lower() == "se1b":
            continue
        pins[meta["name"]] = meta["version"]
    return dict(sorted(pins.items(), key=lambda kv: kv[0].lower()))


def render(pins: dict[str, str]) -> str:
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    head = [
        f"# The exact versions CI passes with (Python {py}, Linux x86_64, CPU). Written by tools/lock.py; do not edit",
        "# Install: pip install -r requirements.lock && pip install --no-deps -e .",
        "# Refresh: python tools/lock.py, then run the README's test command (or python tools/newest_deps.py).",
    ]
    return "\n".join(head + [f"{name}=={version}" for name, version in pins.items()]) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="compare the lock with what pyproject.toml's requirements need, change nothing")
    args = parser.parse_args()
    if args.check:
        locked = [line.strip() for line in LOCK.read_text().splitlines() if line and not line.startswith("#")]
        # Resolving with the lock as constraints fails (or adds packages) when pyproject.toml asks for more.
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as constraints:
            constraints.write("\n".join(locked) + "\n")
        pins = resolve(["-c", constraints.name])
        missing = sorted(set(f"{n}=={v}" for n, v in pins.items()) - set(locked))
        if missing:
            print(f"requirements.lock is stale: it lacks {', '.join(missing)}; run python tools/lock.py")
            return 1
        print(f"requirements.lock covers pyproject.toml ({len(locked)} pins)")
        return 0
    LOCK.write_text(render(resolve()))
    print(f"wrote {LOCK.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
