"""Install the newest releases pyproject.toml allows in a scratch venv and run the test suite there.

    python tools/newest_deps.py                               # the whole suite (20+ minutes on 2 cores)
    python tools/newest_deps.py -- -x tests/test_mine_negatives.py tests/test_train.py   # pytest arguments
    python tools/newest_deps.py --venv /tmp/newest --keep    # reuse (and keep) one venv between runs

requirements.lock pins what CI passed with; this finds what the next refresh of it (tools/lock.py) would break,
before a user does. The venv lives outside the repository (a temporary folder unless --venv names one): it gets
the CPU torch build of tools/lock.py and `pip install --upgrade --upgrade-strategy eager -e .[dev]`, which ignores
the lock and takes the newest release of every dependency, direct and indirect, within pyproject.toml's
ranges. It prints every version that differs from requirements.lock, runs pytest there (offline, as the README's
test command does) and lists the tests that failed. Exit status: pytest's (0 when everything passed).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lock import LOCK, ROOT, TORCH  # noqa: E402  (tools/ is not a package)


def canonical(name: str) -> str:
    """PEP 503 normalised name, so `gradio_client` in the lock matches `gradio-client` from pip."""
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_versions() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonical(name)] = version
    return pins


def install_newest(venv: Path) -> dict[str, str]:
    """Create (or reuse) the venv, install the CPU torch and the newest se1b[dev] stack; return {name: version}."""
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # torch named beside se1b keeps the eager upgrade from replacing the CPU build (as tools/lock.py resolves).
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--upgrade",
                    "--upgrade-strategy", "eager", TORCH, "-e", f"{ROOT}[dev]"], check=True)
    listed = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "list", "--format", "json"], check=True,
                            capture_output=True, text=True).stdout
    return {canonical(row["name"]): row["version"] for row in json.loads(listed)}


def version_changes(locked: dict[str, str], installed: dict[str, str]) -> list[str]:
    """One line per distribution whose version differs from the lock, or that only one side has (pip's own
    tooling in the venv and se1b itself are not locked)."""
    unlocked = {"pip", "setuptools", "wheel", "se1b"}
    lines = []
    for name in sorted((set(locked) | set(installed)) - unlocked):
        old, new = locked.get(name), installed.get(name)
        if old != new:
            lines.append(f"  {name}: {old or '(not locked)'} -> {new or '(not installed)'}")
    return lines


def failed_tests(junit: Path) -> list[str]:
    """Test ids (file::name) that failed or errored, from pytest's JUnit XML report."""
    if not junit.exists():
        return []
    failed = []
    for case in ElementTree.parse(junit).iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            path = case.get("classname", "").replace(".", "/") + ".py"
            failed.append(f"{path}::{case.get('name')}")
    return failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog="\n".join(__doc__.splitlines()[1:]),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--venv", type=Path,
                        help="the scratch venv (created when missing; default: a temporary folder, removed after)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary venv and print where it is")
    parser.add_argument("pytest_args", nargs="*",
                        help="arguments for pytest after `--` (default: the whole suite, quietly)")
    args = parser.parse_args()
    venv = args.venv or Path(tempfile.mkdtemp(prefix="se1b-newest-deps-")) / "venv"
    if venv.resolve().is_relative_to(ROOT):
        parser.error(f"--venv {venv}: the scratch venv must live outside the repository")
    try:
        installed = install_newest(venv)
        changes = version_changes(locked_versions(), installed)
        print(f"newest releases vs {LOCK.name}: " + (f"{len(changes)} differ\n" + "\n".join(changes) if changes
                                                       else "identical (the lock already holds the newest)"),
              flush=True)  # before pytest's own output
        junit = venv.parent / "newest-deps-junit.xml"
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
        env.pop("VIRTUAL_ENV", None)
        result = subprocess.run([str(venv / "bin" / "python"), "-m", "pytest", "-q", f"--junitxml={junit}",
                                 *(args.pytest_args or [])], cwd=ROOT, env=env)
        failed = failed_tests(junit)
        print(f"\nwith the newest releases: pytest exit status {result.returncode}, {len(failed)} failed"
              + "".join(f"\n  {test}" for test in failed))
        return result.returncode
    finally:
        if args.venv is None and not args.keep:
            shutil.rmtree(venv.parent, ignore_errors=True)
        elif args.keep:
            print(f"venv kept: {venv}")


if __name__ == "__main__":
    sys.exit(main())
