"""Matryoshka loss and guided in-batch negatives: the losses against their definitions, bad configs, GradCache,
and end-to-end runs (export truncated in sentence-transformers == the Flax prefix, the card's dimension table, exact
resume with both features on)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from se1b.errors import UserError
from training.objectives.guided import GuidedMNRL, guide_mask, guided_mnrl_loss
from training.objectives.matryoshka import Matryoshka, check_dims
from training.objectives.mnrl import MNRL, mnrl_loss


def _random(shape, seed):
    return jax.random.normal(jax.random.key(seed), shape)


@pytest.mark.parametrize("with_negative", [False, True])
def test_matryoshka_loss_is_the_weighted_sum_of_per_prefix_mnrl(with_negative):
    a, p, n = _random((8, 32), 0), _random((8, 32), 1), _random((8, 32), 2)
    embeddings = {"anchor": a, "positive": p} | ({"negative": n} if with_negative else {})
    dims, weights = (32, 16, 4), (1.0, 0.5, 2.0)
    loss, metrics = Matryoshka(MNRL(scale=20.0), dims, weights).loss(embeddings, {})
    separate = [mnrl_loss(a[:, :d], p[:, :d], n[:, :d] if with_negative else None, scale=20.0) for d in dims]
    np.testing.assert_allclose(float(loss), sum(w * float(x) for w, x in zip(weights, separate, strict=True)),
                               rtol=1e-6)
    assert [float(metrics[f"loss@{d}"]) for d in dims] == pytest.approx([float(x) for x in separate], rel=1e-6)


@pytest.mark.parametrize(("dims", "weights", "width", "message"), [
    ([32, 64], [], None, "must be strictly decreasing"),
    ([32, 32], [], None, "must be strictly decreasing"),
    ([64, 16], [], 32, "64 exceeds the model's embedding width \\(32\\)"),
    ([32, 0], [], None, "positive integers"),
    ([32, 16], [1.0], None, "one weight per dimension"),
])
def test_bad_matryoshka_dims_are_one_line_errors(dims, weights, width, message):
    with pytest.raises(UserError, match=message) as error:
        check_dims(dims, weights, width)
    assert "\n" not in str(error.value)


def _guide_fixture():
    """4 rows; the guide sees row 1's positive as closer to anchor 0 than anchor 0's own positive (a duplicate)
    and everything else as unrelated."""
    guide_anchor = jnp.eye(4, 6)
    guide_positive = jnp.eye(4, 6).at[0].set(jnp.array([0.6, 0.0, 0.0, 0.0, 0.8, 0.0]))  # cos(a0, p0) = 0.6
    guide_positive = guide_positive.at[1].set(jnp.array([0.9, 0.43588989, 0.0, 0.0, 0.0, 0.0]))  # cos(a0, p1) = .9
    return guide_anchor, guide_positive


def test_guide_masks_exactly_the_negatives_it_ranks_above_the_positive():
    guide_anchor, guide_positive = _guide_fixture()
    mask = np.asarray(guide_mask(guide_anchor, guide_positive))
    expected = np.zeros((4, 4), dtype=bool)
    expected[0, 1] = True  # cos(a0, p1) = 0.9 > cos(a0, p0) = 0.6; cos(a1, p1) = 0.436 beats cos(a1, *) = 0
    np.testing.assert_array_equal(mask, expected)
    assert not np.asarray(guide_mask(guide_anchor, guide_positive, margin=-0.5)).any()  # a margin lets it pass

    # The loss: one-way, row 0 leaves column 1 out of its softmax; the other rows are plain.
    a, p = _random((4, 16), 3), _random((4, 16), 4)
    loss, masked = guided_mnrl_loss(a, p, None, {"anchor": guide_anchor, "positive": guide_positive},
                                    symmetric=False)
    scores = 20.0 * np.asarray(a / jnp.linalg.norm(a, axis=1, keepdims=True)
                               @ (p / jnp.linalg.norm(p, axis=1, keepdims=True)).T)
    rows = []
    for i in range(4):
        kept = [j for j in range(4) if not expected[i, j]]
        logits = scores[i, kept]
        rows.append(-(scores[i, i] - np.log(np.sum(np.exp(logits)))))
    np.testing.assert_allclose(float(loss), np.mean(rows), rtol=1e-5)
    assert float(masked) == pytest.approx(1 / 16)


@pytest.mark.parametrize("with_negative", [False, True])
def test_guided_loss_equals_plain_mnrl_when_the_guide_masks_nothing(with_negative):
    a, p, n = _random((6, 16), 5), _random((6, 16), 6), _random((6, 16), 7)
    guide = {"anchor": jnp.eye(6, 20), "positive": jnp.eye(6, 20)} | (
        {"negative": jnp.eye(6, 20, k=10)} if with_negative else {})  # every positive is the guide's clear first
    negative = n if with_negative else None
    loss, masked = guided_mnrl_loss(a, p, negative, guide)
    assert float(masked) == 0.0
    assert float(loss) == float(mnrl_loss(a, p, negative))


def test_guided_loss_works_under_gradcache():
    from training.loop.gradcache import gradcache_value_and_grad, plain_value_and_grad

    rows, width = 8, 12
    params = {"w": _random((width, 6), 8)}
    tokens = {c: {"input_ids": jax.random.randint(jax.random.key(i), (rows, 5), 0, 50),
                  "attention_mask": jnp.ones((rows, 5), jnp.int32)} for i, c in enumerate(("anchor", "positive"))}
    table = _random((50, width), 9)
    guide_anchor, guide_positive = _random((rows, 4), 10), _random((rows, 4), 11)
    guide_positive = guide_positive.at[3].set(guide_anchor[0] * 2)  # the guide calls p3 a duplicate of a0

    def embed(p, ids, mask, key):
        return jnp.tanh(table[ids].mean(axis=1) @ p["w"])

    objective = GuidedMNRL()

    def loss_fn(embeddings):
        return objective.loss(embeddings, {"guide_anchor": guide_anchor, "guide_positive": guide_positive})

    key = jax.random.key(0)
    (loss, aux), grads = gradcache_value_and_grad(embed, loss_fn, params, tokens, key, 4, has_aux=True)
    (ref_loss, ref_aux), ref_grads = plain_value_and_grad(embed, loss_fn, params, tokens, key, 4, has_aux=True)
    assert float(aux["guide_masked"]) > 0
    np.testing.assert_allclose(float(loss), float(ref_loss), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(grads["w"]), np.asarray(ref_grads["w"]), rtol=1e-5, atol=1e-7)
    assert np.isfinite(np.asarray(grads["w"])).all()


# ---------------------------------------------------------------------------------------------------------------
# End to end through `se1b train` (tiny random BERT, width 32; the fixture pairs of tests/test_train.py).


@pytest.fixture(scope="module")
def run_fixture(tmp_path_factory) -> dict[str, Path]:
    from test_train import write_fixture_data

    from training.model.tiny import write_tiny_model

    root = tmp_path_factory.mktemp("mrl")
    return {**write_fixture_data(root), "model": write_tiny_model(root / "tiny-bert", "bert", seed=0),
            "guide": write_tiny_model(root / "guide", "bert", seed=1)}


def test_matryoshka_run_exports_prefixes_that_sentence_transformers_truncates_alike(tmp_path, run_fixture):
    from sentence_transformers import SentenceTransformer
    from test_train import _config, _metrics

    from model_cards.metadata import RunMetadata
    from se1b.cli import main as se1b

    config = _config(tmp_path, run_fixture, "mrl", steps=8, matryoshka_dims=[32, 16, 8],
                     matryoshka_weights=[1, 1, 0.5], eval_sts=str(run_fixture["sts"]))
    assert se1b(["train", str(config)]) == 0  # in this process: a start-up of its own would add ~20 s
    out = tmp_path / "mrl" / "model"
    assert {"loss@32", "loss@16", "loss@8"} <= set(next(m for m in _metrics(tmp_path / "mrl") if "loss" in m))
    texts = ["cat dog horse cow", "rain snow wind storm", "guitar piano song band"]
    from training.model.sentence_model import load_sentence_model

    flax = load_sentence_model(out).encode(texts)
    for k in (16, 8):
        truncated = SentenceTransformer(str(out), device="cpu", truncate_dim=k).encode(texts)
        assert truncated.shape == (3, k)
        np.testing.assert_allclose(truncated, flax[:, :k], atol=1e-5)
    meta = RunMetadata.load(out / "run_metadata.json")
    assert meta.training.matryoshka_dims == [32, 16, 8] and meta.training.matryoshka_weights == [1, 1, 0.5]
    assert meta.training.loss.startswith("MatryoshkaLoss")
    assert sorted(e.dimension for e in meta.evaluations if e.dimension) == [8, 16, 32]
    card = (out / "README.md").read_text()
    assert "truncate_dim=8" in card and "| task | dataset | metric | 32 | 16 | 8 |" in card
    assert (out / "plots" / "dimensions.png").is_file()


def test_bad_matryoshka_width_and_bad_guide_stop_before_training(tmp_path, run_fixture):
    from test_train import _config

    from training.loop.config import load_config
    from training.loop.train import train

    with pytest.raises(UserError, match="64 exceeds the model's embedding width \\(32\\)"):
        train(load_config(_config(tmp_path, run_fixture, "wide", matryoshka_dims=[64, 32])))
    with pytest.raises(UserError, match="'matryoshka_dims' must be strictly decreasing"):
        load_config(_config(tmp_path, run_fixture, "up", matryoshka_dims=[16, 32]))

    from transformers import AutoTokenizer

    other = tmp_path / "other-tokenizer"
    import shutil

    shutil.copytree(run_fixture["guide"], other)
    tokenizer = AutoTokenizer.from_pretrained(str(other))
    tokenizer.add_tokens(["zzzquux"])
    tokenizer.save_pretrained(str(other))
    with pytest.raises(UserError, match="different tokenizer from the model being trained") as error:
        train(load_config(_config(tmp_path, run_fixture, "guided", guide=str(other))))
    assert "\n" not in str(error.value)
    assert not (tmp_path / "guided" / "model").exists()

    # A guide with fewer positions than max_seq_length (8 < 16) could not read the batch's token ids.
    import torch
    import transformers

    from training.model.tiny import tiny_config

    short = tmp_path / "short-guide"
    shutil.copytree(run_fixture["guide"], short)
    config = tiny_config("bert")
    config.max_position_embeddings = 8
    torch.manual_seed(2)
    transformers.AutoModel.from_config(config).save_pretrained(short)
    with pytest.raises(UserError, match=r"short-guide reads at most 8 tokens, fewer than max_seq_length \(16\)$"
                       ) as error:
        train(load_config(_config(tmp_path, run_fixture, "short", guide=str(short))))
    assert "\n" not in str(error.value) and str(error.value).startswith("config field 'guide': ")
    assert not (tmp_path / "short" / "model").exists()


def test_resume_is_bit_exact_with_matryoshka_and_guide(tmp_path, run_fixture):
    from test_train import _config, _exported_tensors, _finish, _metrics, _run, _se1b, _start

    features = {"steps": 24, "matryoshka_dims": [32, 8], "guide": str(run_fixture["guide"]), "guide_margin": 0.05}
    straight_run = _start("train", str(_config(tmp_path, run_fixture, "straight", **features)),
                          log=tmp_path / "straight.log")  # beside the killed run: their start-ups overlap
    config = _config(tmp_path, run_fixture, "killed", **features)
    process = _se1b("train", str(config), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while process.poll() is None and not (tmp_path / "killed" / "checkpoints" / "8").exists():
        time.sleep(0.01)  # not a busy loop: on 2 cores it would take one from the run
    process.kill()
    assert process.wait() == -9, "the run finished before it could be killed"
    _run("train", str(config), "--resume")
    _finish(straight_run, tmp_path / "straight.log")
    straight, resumed = _exported_tensors(tmp_path / "straight" / "model"), _exported_tensors(tmp_path / "killed" /
                                                                                               "model")
    for name in straight:
        np.testing.assert_array_equal(straight[name], resumed[name], err_msg=name)
    logged = _metrics(tmp_path / "straight")
    assert [m["loss"] for m in logged] == [m["loss"] for m in _metrics(tmp_path / "killed")]
    assert any(m["guide_masked"] > 0 for m in logged)  # the guide did veto some in-batch negatives
    meta = json.loads((tmp_path / "straight" / "model" / "run_metadata.json").read_text())
    assert meta["training"]["guide"] == "guide" and "guided in-batch negatives" in meta["training"]["loss"]


def test_eval_reports_each_metric_at_each_dimension(tmp_path, run_fixture, capsys):
    from se1b.cli import main

    model, sts = str(run_fixture["model"]), str(run_fixture["sts"])
    output = tmp_path / "eval.json"
    assert main(["eval", model, "--backend", "flax", "--sts", sts, "--dims", "16,8", "--output", str(output)]) == 0
    results = json.loads(output.read_text())["evaluations"]
    assert [r["dimension"] for r in results] == [None, 16, 8]
    assert results[1]["metrics"]["spearman"] != results[0]["metrics"]["spearman"]  # a prefix scores differently
    assert main(["eval", model, "--backend", "flax", "--sts", sts, "--dims", "64,8"]) == 2
    assert capsys.readouterr().err.strip().endswith("--dims 64 exceeds the model's embedding width (32)")
