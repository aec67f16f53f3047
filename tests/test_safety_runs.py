"""Issue 25, points 7, 8 and 10: `se1b train` writes only into a folder that is new, empty or its own (its marker),
never into the file system root or the home folder; `se1b export` never replaces its own run; two `se1b train` on
one output_dir cannot run at once, and the lock a killed run leaves is reported and cleared. Tiny random BERT and
fixture pairs from test_train's helpers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time

from test_train import _config, _se1b, fixture_paths  # noqa: F401 - fixture
from tree_fixtures import error_line, tree_digest

from se1b import cli


def test_train_refuses_an_output_dir_it_did_not_write(tmp_path, fixture_paths, monkeypatch, capsys):  # noqa: F811
    """Point 7: the user's model/mine.txt was deleted; their config.json overwritten, then a JSONDecodeError."""
    user = tmp_path / "user"
    (user / "model").mkdir(parents=True)
    (user / "model" / "mine.txt").write_text("keep me\n")
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text('{"my": "settings"}\n')
    (other / "metrics.jsonl").write_text("step,loss\n1,0.5\n")
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text("export PATH\n")
    monkeypatch.setenv("HOME", str(home))
    for output, expected in ((user, "`se1b train` did not write"), (other, "`se1b train` did not write"),
                             (home, "your home folder")):
        config = _config(tmp_path, fixture_paths, output.name, steps=2)
        capsys.readouterr()
        before = tree_digest(tmp_path)
        assert cli.main(["train", str(config)]) == 2
        line = error_line(capsys.readouterr().err, "train")
        assert f"output_dir {output}" in line and expected in line
        assert tree_digest(tmp_path) == before

    config = _config(tmp_path, fixture_paths, "root", steps=2, output_dir="/")
    root_before = sorted(os.listdir("/"))
    assert cli.main(["train", str(config)]) == 2
    assert "the file system root" in error_line(capsys.readouterr().err, "train")
    assert sorted(os.listdir("/")) == root_before


def test_export_refuses_its_own_run_folder_and_what_is_above_or_inside_its_state(tmp_path, fixture_paths,  # noqa: F811
                                                                                capsys):
    """Point 8: `se1b export runs/X --out runs/X --overwrite` replaced the run (checkpoints, config, metrics)."""
    from training.loop.config import load_config
    from training.loop.train import train

    run = tmp_path / "run"
    train(load_config(_config(tmp_path, fixture_paths, "run", steps=2)))
    capsys.readouterr()
    before = tree_digest(tmp_path)
    for out in (run, tmp_path, run / "checkpoints", run / "checkpoints" / "2", run / "config.json"):
        assert cli.main(["export", str(run), "--out", str(out), "--overwrite"]) == 2
        line = error_line(capsys.readouterr().err, "export")
        assert f"--out {out}" in line and f"run folder {run}" in line
        assert tree_digest(tmp_path) == before

    assert cli.main(["export", str(run), "--out", str(run / "exports" / "step2")]) == 0  # a new folder inside is fine
    assert tree_digest(tmp_path, skip=run / "exports") == before


def _steps(output_dir) -> list[int]:
    return [json.loads(line)["step"] for line in (output_dir / "metrics.jsonl").read_text().splitlines()
            if "loss" in json.loads(line)]


def test_one_train_at_a_time_per_output_dir_and_a_killed_runs_lock_is_cleared(tmp_path, fixture_paths,  # noqa: F811
                                                                               capsys):
    """Point 10: two trains on one output_dir both exited 0, with interleaved metrics and a mixed export. The first
    run is a process of its own (killed later); the second and third run in this process."""
    config = _config(tmp_path, fixture_paths, "run", steps=100_000, checkpoint_every=100_000)
    run = tmp_path / "run"
    first = _se1b("train", str(config), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not ((run / "metrics.jsonl").is_file() and _steps(run)):  # the first run is training
            assert first.poll() is None, "the first run stopped before training"
            time.sleep(0.5)
        capsys.readouterr()
        assert cli.main(["train", str(config), "--set", "steps=3"]) == 2
        line = error_line(capsys.readouterr().err, "train")
        assert f"{run} is in use by another `se1b train` (process {first.pid} on {socket.gethostname()}" in line
        assert first.poll() is None and not (run / "model").exists()
    finally:
        first.kill()
        first.wait()
    steps = _steps(run)
    assert steps == list(range(1, len(steps) + 1))  # the first run's steps only, each once

    # The killed run's lock file is left behind: the next run says so, takes it over and runs.
    assert cli.main(["train", str(config), "--set", "steps=3"]) == 0
    output = "".join(capsys.readouterr())
    assert f"cleared a stale lock: process {first.pid} on {socket.gethostname()}" in output
    assert _steps(run) == [1, 2, 3] and (run / "model" / "model.safetensors").is_file()
    assert not any(path.name.endswith(".lock") for path in run.iterdir())
