"""End-to-end tests of `se1b train`: learning, export, exact resume after SIGKILL, multi-device and multi-process
equivalence, NaN handling. Tiny random BERT, fixture pairs written here (a Hub-format Parquet folder)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

TOPICS = {
    "animals": "cat dog horse cow bird fish sheep lion tiger mouse",
    "food": "bread cheese apple rice soup meat cake milk butter egg",
    "sport": "football tennis golf soccer baseball hockey race team goal match",
    "weather": "rain snow wind storm sun cloud cold hot ice fog",
    "music": "guitar piano song band drum singer music concert violin jazz",
    "vehicles": "car truck bus train plane boat bicycle ship engine road",
    "family": "mother father sister brother son daughter aunt uncle baby wife",
    "school": "teacher student class book lesson exam school college study pencil",
}


def _sentence(rng: random.Random, topic: str) -> str:
    return " ".join(rng.sample(TOPICS[topic].split(), 4))


def write_fixture_data(root: Path, rows: int = 800, seed: int = 0) -> dict[str, Path]:
    """A Hub-format pairs folder (paraphrase-like pairs: two word sets of one topic), its data config, an STS TSV."""
    rng = random.Random(seed)
    topics = list(TOPICS)
    anchors, positives = [], []
    for _ in range(rows):
        topic = rng.choice(topics)
        anchors.append(_sentence(rng, topic))
        positives.append(_sentence(rng, topic))
    folder = root / "pairs"
    (folder / "data").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"anchor": anchors, "positive": positives}), folder / "data" / "train-00000.parquet")
    (folder / "README.md").write_text(
        "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n    path: data/train-*.parquet\n---\n"
    )
    data_config = root / "data.yaml"
    data_config.write_text(json.dumps({"sources": [{"name": "topics", "path": str(folder), "weight": 1}]}))
    sts = root / "sts.tsv"
    lines = ["sentence1\tsentence2\tscore"]
    for i in range(64):  # the two sentences never share a word: only what training taught relates them
        first = topics[i % len(topics)]
        second = first if i % 2 else topics[(i + 3) % len(topics)]
        words = rng.sample(TOPICS[first].split(), 4) + rng.sample(TOPICS[second].split(), 8)
        left, right = words[:4], [w for w in words[4:] if w not in words[:4]][:4]
        lines.append(f"{' '.join(left)}\t{' '.join(right)}\t{5.0 if first == second else 0.0}")
    sts.write_text("\n".join(lines) + "\n")
    return {"data": data_config, "sts": sts}


def _config(root: Path, paths: dict[str, Path], output: str, **overrides) -> Path:
    config = {
        "model": str(paths["model"]), "data": str(paths["data"]), "output_dir": str(root / output), "batch_size": 16,
        "steps": 12, "learning_rate": 1e-3, "warmup_steps": 2, "max_seq_length": 16, "log_every": 1,
        "checkpoint_every": 4, "seed": 0, **overrides,
    }
    path = root / f"{output}.json"
    path.write_text(json.dumps(config))
    return path


def _se1b(*args: str, env: dict | None = None, **kwargs) -> subprocess.Popen:
    full_env = {**os.environ, "JAX_PLATFORMS": "cpu", **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "se1b.cli", *args], env=full_env, **kwargs)


def _run(*args: str, env: dict | None = None) -> None:
    process = _se1b(*args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output, _ = process.communicate()
    assert process.returncode == 0, output[-3000:]


def _start(*args: str, log: Path, env: dict | None = None) -> subprocess.Popen:
    """`se1b ARGS` started beside other runs (their start-ups overlap); its output goes to `log`, not to a pipe that
    would fill while the test waits on another run."""
    with log.open("w") as handle:
        return _se1b(*args, env=env, stdout=handle, stderr=subprocess.STDOUT)


def _finish(process: subprocess.Popen, log: Path) -> None:
    assert process.wait() == 0, log.read_text()[-3000:]


def _metrics(output_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (output_dir / "metrics.jsonl").read_text().splitlines()]


def _exported_tensors(model_dir: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(model_dir / "model.safetensors"))


@pytest.fixture(scope="module")
def fixture_paths(tmp_path_factory) -> dict[str, Path]:
    from training.model.tiny import write_tiny_model

    root = tmp_path_factory.mktemp("fixture")
    return {**write_fixture_data(root), "model": write_tiny_model(root / "tiny-bert", "bert", seed=0)}


def test_short_run_learns_and_exports_a_loadable_model(tmp_path, fixture_paths):
    from sentence_transformers import SentenceTransformer

    from model_cards.metadata import RunMetadata
    from se1b.cli import main as se1b

    config = _config(tmp_path, fixture_paths, "run", steps=40, log_every=5, eval_sts=str(fixture_paths["sts"]),
                     eval_every=20, checkpoint_every=20)
    assert se1b(["train", str(config)]) == 0  # in this process: a start-up of its own would add ~20 s
    out = tmp_path / "run"
    metrics = _metrics(out)
    losses = [m["loss"] for m in metrics if "loss" in m]
    spearman = [m["eval/sts/spearman"] for m in metrics if "eval/sts/spearman" in m]
    assert np.mean(losses[-3:]) < losses[0] - 0.5
    assert spearman[0] < 0.5 and max(spearman) > spearman[0] + 0.3  # step-0 baseline, then evaluations

    model = SentenceTransformer(str(out / "model"), device="cpu")
    ours = _flax_embeddings(out / "model", ["cat dog horse cow", "rain snow wind storm"])
    np.testing.assert_allclose(model.encode(["cat dog horse cow", "rain snow wind storm"]), ours, atol=1e-5)
    meta = RunMetadata.load(out / "model" / "run_metadata.json")
    assert meta.training.steps == 40 and meta.training.pairs_seen == 40 * 16
    # Trained at 16 tokens, exported at the base model's 128: a short training length does not shrink the context.
    assert meta.training.max_seq_length == 16 and meta.max_seq_length == model.max_seq_length == 128
    assert json.loads((out / "model" / "tokenizer_config.json").read_text())["model_max_length"] == 128
    assert meta.data[0].name == "topics" and meta.data[0].pairs_seen == 40 * 16
    assert meta.evaluations[-1].metrics["spearman"] == pytest.approx(spearman[-1]) and meta.evaluations[-1].step == 40
    assert list((out / "tensorboard").iterdir()) and (out / "model" / "README.md").is_file()
    # Bucketed batches: at most 2 lengths per text side at max_seq_length 16 (default_buckets: 8, 16).
    assert not meta.training.packing and 1 <= meta.training.compiled_shapes <= 4
    efficiency = [m["padding_efficiency"] for m in metrics if "padding_efficiency" in m]
    assert meta.training.padding_efficiency == pytest.approx(np.mean(efficiency))
    assert f"| compiled batch shapes | {meta.training.compiled_shapes} |" in (out / "model" / "README.md").read_text()

    # `se1b export`: the last checkpoint is the final model; the best one is the best-scoring evaluation's.
    assert se1b(["export", str(out), "--step", "40"]) == 0
    final, exported = _exported_tensors(out / "model"), _exported_tensors(out / "model-step40")
    assert all(np.array_equal(final[name], exported[name]) for name in final)
    assert se1b(["export", str(out), "--best", "--out", str(tmp_path / "best"), "--max-seq-length", "64"]) == 0
    best_step = json.loads((out / "best_score.json").read_text())["step"]
    best_meta = json.loads((tmp_path / "best" / "run_metadata.json").read_text())
    assert best_meta["training"]["steps"] == best_step and best_meta["max_seq_length"] == 64
    assert SentenceTransformer(str(tmp_path / "best"), device="cpu").max_seq_length == 64
    assert json.loads((tmp_path / "best" / "tokenizer_config.json").read_text())["model_max_length"] == 64


def _flax_embeddings(folder: Path, texts: list[str]) -> np.ndarray:
    from training.model.sentence_model import load_sentence_model

    return load_sentence_model(folder).encode(texts)


def test_sigkill_then_resume_equals_uninterrupted_run(tmp_path, fixture_paths):
    steps = 40
    straight_run = _start("train", str(_config(tmp_path, fixture_paths, "straight", steps=steps)),
                          log=tmp_path / "straight.log")
    config = _config(tmp_path, fixture_paths, "killed", steps=steps)
    process = _se1b("train", str(config), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = tmp_path / "killed" / "checkpoints" / "8"
    while process.poll() is None and not checkpoint.exists():
        time.sleep(0.01)  # not a busy loop: on 2 cores it would take one from the run
    process.kill()  # SIGKILL: no chance to clean up
    assert process.wait() == -9, "the run finished before it could be killed"
    _run("train", str(config), "--resume")
    _finish(straight_run, tmp_path / "straight.log")

    straight = _exported_tensors(tmp_path / "straight" / "model")
    resumed = _exported_tensors(tmp_path / "killed" / "model")
    assert straight.keys() == resumed.keys()
    for name in straight:
        np.testing.assert_array_equal(straight[name], resumed[name], err_msg=name)  # bit-exact on CPU
    assert [m["loss"] for m in _metrics(tmp_path / "straight")] == [m["loss"] for m in _metrics(tmp_path / "killed")]


def test_four_devices_equal_one_device(tmp_path, fixture_paths):
    # GradCache on in both (chunks of 8 rows spread over the 4 devices): the same dropout keys in both layouts.
    runs = {"one": {}, "four": {"XLA_FLAGS": "--xla_force_host_platform_device_count=4"}}
    started = {name: _start("train", str(_config(tmp_path, fixture_paths, name, steps=6, gradcache_chunk=8)), env=env,
                            log=tmp_path / f"{name}.log") for name, env in runs.items()}
    for name, process in started.items():
        _finish(process, tmp_path / f"{name}.log")
    one, four = _metrics(tmp_path / "one"), _metrics(tmp_path / "four")
    assert len(one) == 6
    np.testing.assert_allclose([m["loss"] for m in one], [m["loss"] for m in four], atol=1e-5)
    a, b = _exported_tensors(tmp_path / "one" / "model"), _exported_tensors(tmp_path / "four" / "model")
    for name in a:
        np.testing.assert_allclose(a[name], b[name], atol=1e-5, err_msg=name)
    assert json.loads((tmp_path / "four" / "model" / "run_metadata.json").read_text())["training"]["devices"] == 4


def test_non_finite_float_fields_are_refused_at_config_time(tmp_path, fixture_paths):
    from se1b.errors import UserError
    from training.loop.config import load_config

    config = _config(tmp_path, fixture_paths, "nan")
    for override, field in (("learning_rate=.nan", "learning_rate"), ("scale=.inf", "scale"), ("scale=1e39", "scale"),
                            ("learning_rate=1e39", "learning_rate"), ("grad_clip=-.inf", "grad_clip")):
        with pytest.raises(UserError, match=f"config field '{field}' must be a finite number"):
            load_config(config, [override])
    assert not (tmp_path / "nan").exists()


def test_bad_config_field_is_named(tmp_path, fixture_paths):
    from se1b.errors import UserError
    from training.loop.config import load_config

    config = _config(tmp_path, fixture_paths, "bad", learning_rat=1e-3)
    with pytest.raises(UserError, match="unknown config field 'learning_rat'"):
        load_config(config)
    with pytest.raises(UserError, match="'precision' must be one of fp32, bf16"):
        load_config(_config(tmp_path, fixture_paths, "ok"), ["precision=fp16"])
    assert load_config(_config(tmp_path, fixture_paths, "ok"), ["steps=7", "symmetric=false"]).steps == 7


def test_bf16_computes_in_bfloat16_and_keeps_float32_master_weights(fixture_paths):
    import jax
    import jax.numpy as jnp
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    from training.loop.config import TrainConfig
    from training.loop.setup import load_base_model, make_mesh, make_objective
    from training.loop.train import global_batch, init_state, make_train_step

    rng = np.random.default_rng(0)
    ids = rng.integers(1000, 3000, size=(8, 12)).astype(np.int32)
    local = {"anchor": {"input_ids": ids, "attention_mask": np.ones_like(ids)},
             "positive": {"input_ids": ids[:, ::-1].copy(), "attention_mask": np.ones_like(ids)}}
    losses = {}
    for precision in ("fp32", "bf16"):
        config = TrainConfig(model=str(fixture_paths["model"]), data="unused", batch_size=8, precision=precision)
        model = load_base_model(config)
        mesh = make_mesh(config)
        graphdef, params, rest, optimizer, _, opt_state = init_state(config, model, mesh)
        objective = make_objective(config)
        step = make_train_step(graphdef, config, objective, optimizer, mesh)
        batch = global_batch(local, objective, NamedSharding(mesh, P("data")))
        params, opt_state, metrics = step(params, opt_state, rest, batch, jax.random.key(0))
        losses[precision] = float(metrics["loss"])
        assert {leaf.dtype for leaf in jax.tree.leaves((params, opt_state)) if jnp.issubdtype(leaf.dtype, jnp.floating)
                } == {jnp.dtype("float32")}
        assert model.model.encoder.dtype == (jnp.bfloat16 if precision == "bf16" else jnp.float32)
    # bf16 really computes in bf16 (the loss moves by bf16 rounding), yet stays close to fp32.
    assert losses["bf16"] != losses["fp32"] and abs(losses["bf16"] - losses["fp32"]) < 0.05 * losses["fp32"]
