"""The GPU suite's CPU dry run: every part runs on tiny shapes, so the script cannot rot between device sessions."""

import json
import subprocess
import sys
from pathlib import Path

SUITE = Path(__file__).resolve().parents[1] / "bench" / "gpu" / "suite.py"


def test_gpu_suite_dry_run_runs_every_part(tmp_path, monkeypatch):
    sys.path.insert(0, str(SUITE.parent))
    import suite

    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    results = suite.main(["--dry-run", "--out", str(tmp_path / "results.json")])
    rows = {(row["part"], row.get("shape"), row.get("side")): row for row in results["parts"]}
    assert not [row for row in rows.values() if "error" in row], [row["error"] for row in rows.values()
                                                                   if "error" in row]
    assert set(rows) == {("train", "tiny", "ours"), ("train", "tiny", "torch"), ("packing", "tiny", None),
                         ("gradcache_memory", "tiny", None), ("encode", "tiny", "ours"), ("encode", "tiny", "torch")}
    assert rows[("packing", "tiny", None)]["padding_efficiency_packed"] > rows[("packing", "tiny", None)][
        "padding_efficiency_padded_to_seq"]
    summary = results["summary"]
    assert summary["training"]["tiny"]["ratio"] > 0 and summary["encode_ratio"] > 0
    assert summary["compiles"]["count"] >= 2
    assert json.loads((tmp_path / "results.json").read_text())["summary"] == summary


def test_gpu_suite_runs_a_part_in_its_own_process(tmp_path):
    # The device run starts one process per part; check that path on the cheapest part.
    out = tmp_path / "results.json"
    done = subprocess.run([sys.executable, str(SUITE), "--dry-run", "--only", "encode:ours", "--out", str(out)],
                          capture_output=True, text=True, env={**__import__("os").environ, "JAX_PLATFORMS": "cpu"})
    assert done.returncode == 0, done.stderr[-2000:]
    (row,) = json.loads(out.read_text())["parts"]
    assert row["sentences_s"] > 0, row
