"""GradCache gives the same gradients as ordinary autodiff, with and without dropout."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from training.loop.gradcache import gradcache_value_and_grad, plain_value_and_grad
from training.objectives.mnrl import MNRL, mnrl_loss


class TinyEncoder(nnx.Module):
    """Embedding, dropout, a dense layer and masked mean pooling: enough to exercise every GradCache path."""

    def __init__(self, rngs: nnx.Rngs):
        self.embed = nnx.Embed(50, 16, rngs=rngs)
        self.dense = nnx.Linear(16, 8, rngs=rngs)

    def __call__(self, input_ids, attention_mask, dropout_rng=None):
        x = self.embed(input_ids)
        if dropout_rng is not None:
            keep = jax.random.bernoulli(dropout_rng, 0.9, x.shape)
            x = jnp.where(keep, x / 0.9, 0.0)
        x = jnp.tanh(self.dense(x))
        mask = attention_mask[..., None].astype(x.dtype)
        return (x * mask).sum(1) / mask.sum(1)


def _setup(dropout: bool):
    graphdef, params = nnx.split(TinyEncoder(nnx.Rngs(0)))

    def embed_fn(p, ids, mask, key):
        return nnx.merge(graphdef, p)(ids, mask, dropout_rng=key if dropout else None)

    rng = np.random.default_rng(0)
    batch = {}
    for column, length in (("anchor", 7), ("positive", 5), ("negative", 6)):
        mask = (np.arange(length)[None, :] < rng.integers(1, length + 1, size=(16, 1))).astype(np.int32)
        batch[column] = {"input_ids": rng.integers(0, 50, size=(16, length)).astype(np.int32), "attention_mask": mask}
    return embed_fn, params, batch


def _loss(embeddings):
    return mnrl_loss(embeddings["anchor"], embeddings["positive"], embeddings.get("negative"))


def _assert_trees_close(a, b, atol):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=atol, rtol=0)


def test_gradcache_equals_full_batch_gradients():
    embed_fn, params, batch = _setup(dropout=False)
    key = jax.random.key(1)
    loss, grads = plain_value_and_grad(embed_fn, _loss, params, batch, key, num_chunks=1)
    cached_loss, cached_grads = jax.jit(gradcache_value_and_grad, static_argnums=(0, 1, 5))(
        embed_fn, _loss, params, batch, key, 4
    )
    assert abs(float(loss) - float(cached_loss)) < 1e-6 * abs(float(loss))
    assert max(float(jnp.abs(g).max()) for g in jax.tree.leaves(grads)) > 1e-3  # the comparison is not vacuous
    _assert_trees_close(grads, cached_grads, atol=1e-5)


def test_gradcache_replays_dropout_exactly():
    embed_fn, params, batch = _setup(dropout=True)
    pairs = {k: batch[k] for k in ("anchor", "positive")}
    key = jax.random.key(2)
    loss, grads = plain_value_and_grad(embed_fn, _loss, params, pairs, key, num_chunks=8)
    cached_loss, cached_grads = gradcache_value_and_grad(embed_fn, _loss, params, pairs, key, num_chunks=8)
    assert abs(float(loss) - float(cached_loss)) < 1e-6 * abs(float(loss))
    _assert_trees_close(grads, cached_grads, atol=1e-5)
    # Dropout is really on: another key gives another loss.
    other_loss, _ = plain_value_and_grad(embed_fn, _loss, params, pairs, jax.random.key(3), num_chunks=8)
    assert abs(float(other_loss) - float(loss)) > 1e-4


def test_gradcache_runs_the_distillation_objective_with_its_metrics():
    """Every objective reads only embeddings and batch arrays, so GradCache applies to distillation too."""
    from training.objectives.distillation import Distillation

    embed_fn, params, batch = _setup(dropout=True)
    texts = {k: batch[k] for k in ("anchor", "positive")}
    teacher = jnp.asarray(np.random.default_rng(1).normal(size=(16, 8)), dtype=jnp.float32)

    def loss_fn(embeddings):
        return Distillation().loss(embeddings, {"teacher": teacher})

    key = jax.random.key(4)
    (loss, metrics), grads = plain_value_and_grad(embed_fn, loss_fn, params, texts, key, num_chunks=4, has_aux=True)
    (cached_loss, cached_metrics), cached_grads = gradcache_value_and_grad(
        embed_fn, loss_fn, params, texts, key, num_chunks=4, has_aux=True)
    assert abs(float(loss) - float(cached_loss)) < 1e-6 * abs(float(loss))
    mean_mse = (float(metrics["mse_source"]) + float(metrics["mse_target"])) / 2
    np.testing.assert_allclose(float(loss), mean_mse, rtol=1e-6)
    np.testing.assert_allclose(float(metrics["mse_target"]), float(cached_metrics["mse_target"]), rtol=1e-6)
    assert max(float(jnp.abs(g).max()) for g in jax.tree.leaves(grads)) > 1e-4
    _assert_trees_close(grads, cached_grads, atol=1e-5)


def test_gradcache_with_blocked_loss_equals_plain_gradients():
    # The configuration that reaches 65,536 pairs: GradCache chunks for the encoder, the loss in row blocks (3 rows
    # of 16: uneven, so the padded last block is exercised), dropout on; hard negatives included.
    embed_fn, params, batch = _setup(dropout=True)
    key = jax.random.key(4)
    loss, grads = plain_value_and_grad(embed_fn, _loss, params, batch, key, num_chunks=4)
    blocked = MNRL(block_rows=3)
    cached_loss, cached_grads = jax.jit(gradcache_value_and_grad, static_argnums=(0, 1, 5))(
        embed_fn, lambda embeddings: blocked.loss(embeddings, {})[0], params, batch, key, 4
    )
    assert abs(float(loss) - float(cached_loss)) < 1e-5 * abs(float(loss))
    _assert_trees_close(grads, cached_grads, atol=1e-5)


def test_train_step_gradcache_and_blocked_loss_equal_plain_step(tmp_path):
    # The real train step on a tiny BERT without dropout (so the one-chunk and the four-chunk step see the same
    # network): GradCache + blocked loss gives the plain step's loss, gradient norm and updated parameters.
    import json

    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    from training.loop.config import TrainConfig
    from training.loop.setup import load_base_model, make_mesh, make_objective
    from training.loop.train import global_batch, init_state, make_train_step
    from training.model.tiny import write_tiny_model

    folder = write_tiny_model(tmp_path / "tiny", "bert")
    hf_config = json.loads((folder / "config.json").read_text())
    hf_config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (folder / "config.json").write_text(json.dumps(hf_config))
    rng = np.random.default_rng(0)
    ids = rng.integers(1000, 3000, size=(8, 10)).astype(np.int32)
    local = {"anchor": {"input_ids": ids, "attention_mask": np.ones_like(ids)},
             "positive": {"input_ids": ids[:, ::-1].copy(), "attention_mask": (np.arange(10) < 6)[None].repeat(8, 0)
                          .astype(np.int32)}}
    results = []
    for chunk, block_rows in ((0, 0), (2, 3)):
        config = TrainConfig(model=str(folder), data="unused", batch_size=8, gradcache_chunk=chunk,
                             loss_block_rows=block_rows, learning_rate=1e-3, warmup_steps=0)
        model = load_base_model(config)
        mesh = make_mesh(config)
        graphdef, params, rest, optimizer, _, opt_state = init_state(config, model, mesh)
        objective = make_objective(config)
        step = make_train_step(graphdef, config, objective, optimizer, mesh)
        batch = global_batch(local, objective, NamedSharding(mesh, P("data")))
        results.append(step(params, opt_state, rest, batch, jax.random.key(0)))
    (plain_params, _, plain_metrics), (cached_params, _, cached_metrics) = results
    assert float(cached_metrics["loss"]) == pytest.approx(float(plain_metrics["loss"]), rel=1e-5)
    assert float(cached_metrics["grad_norm"]) == pytest.approx(float(plain_metrics["grad_norm"]), rel=1e-4)
    _assert_trees_close(plain_params, cached_params, atol=1e-5)
