"""A full `se1b train` with two processes on loopback (jax.distributed, gloo): checkpoints, one process SIGKILLed
mid-run, both resumed, and the final weights bit-identical to an uninterrupted two-process run. Rows of one global
batch that share a text across processes (each process dedupes only its own rows) are counted and reported."""

from __future__ import annotations

import json
import random
import socket
import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from test_train import TOPICS, _config, _exported_tensors, _metrics, _se1b


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_data(root: Path) -> Path:
    """Unique anchors; positives drawn from 24 sentences, so the two processes' halves of a batch share some."""
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


def test_two_process_run_killed_and_resumed_equals_an_uninterrupted_one(tmp_path):
    paths = {"data": _write_data(tmp_path), "model": "tiny-bert"}
    steps = 12
    straight_output = _finish(_start_pair(_config(tmp_path, paths, "straight", steps=steps)))
    duplicates = [line for line in straight_output.splitlines() if "sharing a text with another process" in line]
    assert duplicates, straight_output[-2000:]

    config = _config(tmp_path, paths, "killed", steps=steps)
    processes = _start_pair(config)
    checkpoint = tmp_path / "killed" / "checkpoints" / "8"
    while processes[0].poll() is None and not checkpoint.exists():
        pass
    processes[1].kill()  # SIGKILL one process mid-run; the other then cannot finish a collective
    processes[0].kill()
    for process in processes:
        process.communicate()
        assert process.returncode == -9, "the run finished before it could be killed"
    _finish(_start_pair(config, "--resume"))

    straight = _exported_tensors(tmp_path / "straight" / "model")
    resumed = _exported_tensors(tmp_path / "killed" / "model")
    assert straight.keys() == resumed.keys()
    for name in straight:
        assert np.isfinite(straight[name]).all()
        np.testing.assert_array_equal(straight[name], resumed[name], err_msg=name)  # bit-exact on CPU


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
    runs = {"padded": {}, "packed": {"pack": True}, "packed+gradcache": {"pack": True, "gradcache_chunk": 4}}
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
