"""Two processes on loopback (jax.distributed, gloo CPU collectives) train exactly like one process.

Each worker runs the trainer's own pieces (mesh, replicated state, jitted step, process-local batches assembled
into global arrays, lengths padded to agree across processes) on a fixed global batch: process p feeds rows
[4p, 4p + 4), trimmed to its own longest row, so the cross-process padding path is exercised too."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np

WORKER = r"""
import sys
import jax
import numpy as np
from training.loop.config import TrainConfig
from training.model.sentence_model import load_sentence_model
from training.loop.setup import host, init_distributed, make_mesh, make_objective
from training.loop.train import global_batch, init_state, make_train_step, pad_to_common_lengths
from jax.sharding import NamedSharding, PartitionSpec as P

model_dir, out, coordinator, count, index = sys.argv[1:6]
if coordinator != "-":
    init_distributed(coordinator, int(count), int(index))
config = TrainConfig(model=model_dir, data="unused", batch_size=8, steps=3, learning_rate=1e-3, warmup_steps=0)
model = load_sentence_model(model_dir)
mesh = make_mesh(config)
graphdef, params, rest, optimizer, _, opt_state = init_state(config, model, mesh)
objective = make_objective(config)
step_fn = make_train_step(graphdef, config, objective, optimizer, mesh)
rng = np.random.default_rng(0)
losses = []
for step in range(3):
    batch = {}
    for column, length in (("anchor", 12), ("positive", 10)):
        lengths = rng.integers(2, length, size=8)
        lengths[0] = length  # one shape per column (one compilation); process 1's rows are shorter: it pads
        mask = (np.arange(length)[None, :] < lengths[:, None]).astype(np.int32)
        ids = np.where(mask > 0, rng.integers(1000, 2000, size=(8, length)), 0).astype(np.int32)
        rows = slice(4 * jax.process_index(), 4 * jax.process_index() + 4) if jax.process_count() > 1 else slice(None)
        longest = int(mask[rows].sum(1).max())
        batch[column] = {"input_ids": ids[rows, :longest], "attention_mask": mask[rows, :longest]}
    sharded = global_batch(pad_to_common_lengths(batch), objective, NamedSharding(mesh, P("data")))
    params, opt_state, metrics = step_fn(params, opt_state, rest, sharded, jax.random.fold_in(jax.random.key(0), step))
    losses.append(float(metrics["loss"]))
if jax.process_index() == 0:
    leaves = {str(i): leaf for i, leaf in enumerate(jax.tree.leaves(host(params)))}
    np.savez(out, losses=np.array(losses), **leaves)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(model_dir: Path, out: Path, coordinator: str, count: int, index: int) -> subprocess.Popen:
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env.pop("XLA_FLAGS", None)
    args = [sys.executable, "-c", WORKER, str(model_dir), str(out), coordinator, str(count), str(index)]
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(process: subprocess.Popen) -> None:
    output, _ = process.communicate()
    assert process.returncode == 0, output[-3000:]


def test_two_processes_equal_one_process(tmp_path):
    from training.model.tiny import write_tiny_model

    model_dir = write_tiny_model(tmp_path / "tiny", "bert", seed=0)
    coordinator = f"127.0.0.1:{_free_port()}"
    # The one-process run beside the two-process one: independent runs, their start-ups overlap.
    workers = [_start(model_dir, tmp_path / "one.npz", "-", 1, 0),
               *(_start(model_dir, tmp_path / "two.npz", coordinator, 2, index) for index in (0, 1))]
    for worker in workers:
        _finish(worker)

    one, two = np.load(tmp_path / "one.npz"), np.load(tmp_path / "two.npz")
    assert one["losses"][0] != one["losses"][-1]  # training moved
    np.testing.assert_allclose(one["losses"], two["losses"], atol=1e-5)
    for name in one.files:
        np.testing.assert_allclose(one[name], two[name], atol=1e-5, err_msg=name)
