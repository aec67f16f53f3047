"""A full `se1b train` with two processes on loopback (jax.distributed, gloo): checkpoints, one process SIGKILLed
mid-run, both resumed, and the final weights bit-identical to an uninterrupted two-process run; that run's weights
equal a one-process run of the same global batches within float tolerance (every process draws the global batch
as one process would and keeps its half, so the global batch and its dedupe do not depend on the process count)."""

from __future__ import annotations

import json
import random
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_train import TOPICS, _config, _exported_tensors, _metrics, _se1b


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_data(root: Path) -> Path:
    """Unique anchors; positives drawn from 24 sentences, so a batch drawn without dedupe would repeat some."""
    rng = random.Random(0)
    topics = list(TOPICS)
    positives = [" ".join(rng.sample(TOPICS[topics[i % len(topics)]].split(), 4)) for i in range(24)]
    anchors = [f"{' '.join(rng.sample(TOPICS[topics[i % len(topics)]].split(), 5))} {i}" for i in range(600)]
    folder = root / "pairs"
    (folder / "data").mkdir(parents=True)
    pq.write_table(pa.table({"anchor": anchors, "positive": [rng.choice(positives) for _ in anchors]}),
                   folder / "data" / "train-00000.parquet")
    (folder / "README.md").write_text(
        "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n    path: data/train-*.parquet\n---\n"
    )
    data = root / "data.yaml"
    data.write_text(json.dumps({"sources": [{"name": "topics", "path": str(folder), "weight": 1}]}))
    return data


def _start_pair(config: Path, *extra: str, devices_per_process: int = 1) -> list[subprocess.Popen]:
    coordinator = f"127.0.0.1:{_free_port()}"
    flags = f"--xla_force_host_platform_device_count={devices_per_process}" if devices_per_process > 1 else ""
    return [_se1b("train", str(config), "--coordinator", coordinator, "--num-processes", "2", "--process-id",
                  str(index), *extra, env={"XLA_FLAGS": flags}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                  text=True)
            for index in (0, 1)]


def _finish(processes: list[subprocess.Popen]) -> str:
    outputs = [process.communicate()[0] for process in processes]
    for process, output in zip(processes, outputs, strict=True):
        assert process.returncode == 0, output[-3000:]
    return outputs[0]


STEPS = 12


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> dict:
    """An uninterrupted two-process run, its paths and its output."""
    root = tmp_path_factory.mktemp("multiprocess")
    paths = {"data": _write_data(root), "model": "tiny-bert"}
    output = _finish(_start_pair(_config(root, paths, "straight", steps=STEPS)))
    return {"root": root, "paths": paths, "output": output, "model": root / "straight" / "model"}


def test_two_process_run_killed_and_resumed_equals_an_uninterrupted_one(straight):
    root, paths = straight["root"], straight["paths"]
    config = _config(root, paths, "killed", steps=STEPS)
    processes = _start_pair(config)
    checkpoint = root / "killed" / "checkpoints" / "8"
    while processes[0].poll() is None and not checkpoint.exists():
        time.sleep(0.01)  # not a busy loop: on 2 cores it would take one from the runs
    processes[1].kill()  # SIGKILL one process mid-run; the other then cannot finish a collective
    processes[0].kill()
    for process in processes:
        process.communicate()
        assert process.returncode == -9, "the run finished before it could be killed"
    _finish(_start_pair(config, "--resume"))

    uninterrupted = _exported_tensors(straight["model"])
    resumed = _exported_tensors(root / "killed" / "model")
    assert uninterrupted.keys() == resumed.keys()
    for name in uninterrupted:
        assert np.isfinite(uninterrupted[name]).all()
        np.testing.assert_array_equal(uninterrupted[name], resumed[name], err_msg=name)  # bit-exact on CPU


def test_two_process_run_equals_a_one_process_run_of_the_same_global_batch(straight):
    root, paths = straight["root"], straight["paths"]
    process = _se1b("train", str(_config(root, paths, "single", steps=STEPS)), env={"XLA_FLAGS": ""},
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = process.communicate()[0]
    assert process.returncode == 0, output[-3000:]
    one, two = _exported_tensors(root / "single" / "model"), _exported_tensors(straight["model"])
    assert one.keys() == two.keys()
    base = _exported_tensors(root / "straight" / "base-model")  # the weights both runs started from
    # The same global batches and the same math; only the reduction order differs (a cross-process all-reduce of
    # two half-batch gradients vs one sum over the batch), ~1e-7 relative per step, which Adam passes into the
    # update at about that relative size. Measured after 12 steps: at most 2.6e-7 apart, while training moved the
    # weights by up to 6e-3; 1e-5 leaves a 40x margin and is still 600x below what the training changed.
    moved = max(float(np.abs(two[name] - base[name]).max()) for name in two if name in base)
    assert moved > 1e-3  # the runs did train, so equality below is not the starting point's
    for name in one:
        np.testing.assert_allclose(two[name], one[name], rtol=0, atol=1e-5, err_msg=name)
    # Dedupe is global: no line about texts shared across processes in either output.
    assert "another process" not in straight["output"] + output


def test_a_start_failure_on_one_process_stops_every_process_with_one_line(tmp_path):
    """Process 1 alone gets a data path that does not exist (a bad path on one host): it names the problem, process 0
    names process 1, both exit 2, nothing is written, and neither waits for ever in a collective. The timeout is only
    a safety net against a hang; the assertions are on exit codes, messages and the disk."""
    paths = {"data": _write_data(tmp_path), "model": "tiny-bert"}
    good = _config(tmp_path, paths, "run", steps=4)
    bad = tmp_path / "process-1.json"
    missing = tmp_path / "nowhere" / "pairs"
    (tmp_path / "bad-data.yaml").write_text(json.dumps({"sources": [{"name": "topics", "path": str(missing)}]}))
    bad.write_text(json.dumps({**json.loads(good.read_text()), "data": str(tmp_path / "bad-data.yaml")}))
    coordinator = f"127.0.0.1:{_free_port()}"
    processes = [_se1b("train", str(config), "--coordinator", coordinator, "--num-processes", "2", "--process-id",
                       str(index), env={"XLA_FLAGS": ""}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for index, config in enumerate((good, bad))]
    try:
        outputs = [process.communicate(timeout=600) for process in processes]
    finally:
        for process in processes:
            process.kill()
    errors = [[line for line in stderr.splitlines() if "se1b train: error:" in line] for _, stderr in outputs]
    for process, (stdout, stderr), lines in zip(processes, outputs, errors, strict=True):
        assert process.returncode == 2, stdout[-2000:] + stderr[-2000:]
        assert len(lines) == 1 and "Traceback" not in stderr, stderr[-3000:]
    assert f"data source 'topics' ({missing}" in errors[1][0] and "folder not found" in errors[1][0]
    assert "process 1 of 2 failed its start-up checks" in errors[0][0] and "folder not found" in errors[0][0]
    assert not (tmp_path / "run").exists()  # no output_dir, config.json or base model from a failed start


def test_two_process_packed_gradcache_run_equals_padded_run(tmp_path):
    # Two processes x two devices, dropout off: each process packs its own rows per GradCache chunk, the processes
    # agree on the row count, text numbers count over the global batch. The losses and weights are the padded run's.
    from training.model.tiny import write_tiny_model

    model = write_tiny_model(tmp_path / "tiny-bert", "bert", seed=0)
    hf_config = json.loads((model / "config.json").read_text())
    hf_config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (model / "config.json").write_text(json.dumps(hf_config))
    paths = {"data": _write_data(tmp_path), "model": model}
    steps = 4
    runs = {"padded": {"pack": False}, "packed": {"pack": True},
            "packed+gradcache": {"pack": True, "gradcache_chunk": 4}}
    for name, extra in runs.items():
        _finish(_start_pair(_config(tmp_path, paths, name, steps=steps, checkpoint_every=steps, **extra),
                            devices_per_process=2))
    padded = _metrics(tmp_path / "padded")
    weights = _exported_tensors(tmp_path / "padded" / "model")
    for run in ("packed", "packed+gradcache"):
        packed = _metrics(tmp_path / run)
        assert len(packed) == steps
        np.testing.assert_allclose([m["loss"] for m in packed], [m["loss"] for m in padded], rtol=1e-5)
        # With GradCache no gain at this size: 2 texts per chunk and process, rows rounded up to the 2 devices.
        assert all(0 < m["padding_efficiency"] <= 1 for m in packed)
        packed_weights = _exported_tensors(tmp_path / run / "model")
        for name in weights:
            np.testing.assert_allclose(packed_weights[name], weights[name], atol=1e-5, err_msg=f"{run}: {name}")
        meta = json.loads((tmp_path / run / "model" / "run_metadata.json").read_text())["training"]
        assert (meta["processes"], meta["devices"], meta["packing"]) == (2, 4, True)
