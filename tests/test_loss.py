"""The JAX MNRL loss equals sentence-transformers' losses on identical embeddings."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

from training.objectives.mnrl import blocked_mnrl_loss, mnrl_loss


def _embeddings(batch: int, dim: int, columns: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(batch, dim)).astype(np.float32) for _ in range(columns)]


def _reference(embeddings: list[np.ndarray], scale: float, symmetric: bool) -> float:
    if symmetric:
        loss = MultipleNegativesRankingLoss(
            None, scale=scale, directions=("query_to_doc", "doc_to_query"), partition_mode="per_direction"
        )
    else:
        loss = MultipleNegativesRankingLoss(None, scale=scale)
    return float(loss.compute_loss_from_embeddings([torch.from_numpy(e) for e in embeddings], None))


@pytest.mark.parametrize("scale", [20.0, 5.0])
@pytest.mark.parametrize("symmetric", [True, False])
def test_pairs_match_sentence_transformers(scale, symmetric):
    anchor, positive = _embeddings(16, 24, 2, seed=int(scale) + symmetric)
    ours = float(mnrl_loss(anchor, positive, scale=scale, symmetric=symmetric))
    assert ours == pytest.approx(_reference([anchor, positive], scale, symmetric), rel=1e-5)


def test_triplets_match_one_way_sentence_transformers():
    anchor, positive, negative = _embeddings(12, 24, 3, seed=3)
    ours = float(mnrl_loss(anchor, positive, negative, scale=20.0, symmetric=True))
    assert ours == pytest.approx(_reference([anchor, positive, negative], 20.0, symmetric=False), rel=1e-5)


def test_symmetric_differs_from_one_way():
    anchor, positive = _embeddings(8, 16, 2, seed=5)
    assert float(mnrl_loss(anchor, positive, symmetric=True)) != pytest.approx(
        float(mnrl_loss(anchor, positive, symmetric=False)), rel=1e-4
    )


@pytest.mark.parametrize(
    ("batch", "block_rows", "negatives", "symmetric"),
    [(16, 4, False, True), (17, 5, False, True), (16, 3, True, True), (13, 4, False, False), (8, 32, False, True)],
)
def test_blocked_loss_and_gradients_equal_unblocked(batch, block_rows, negatives, symmetric):
    # Uneven blocks (17 rows in blocks of 5) exercise the padding rows, which must not enter the column sums.
    embeddings = [jnp.asarray(e) for e in _embeddings(batch, 12, 3 if negatives else 2, seed=batch + block_rows)]
    arguments = tuple(range(len(embeddings)))

    def plain(*columns):
        return mnrl_loss(*columns, scale=20.0, symmetric=symmetric)

    def blocked(*columns):
        return blocked_mnrl_loss(*columns, scale=20.0, symmetric=symmetric, block_rows=block_rows)

    loss, grads = jax.value_and_grad(plain, argnums=arguments)(*embeddings)
    blocked_value, blocked_grads = jax.jit(jax.value_and_grad(blocked, argnums=arguments))(*embeddings)
    assert float(blocked_value) == pytest.approx(float(loss), rel=1e-5)
    assert max(float(jnp.abs(g).max()) for g in grads) > 1e-3  # the comparison is not vacuous
    for expected, got in zip(grads, blocked_grads, strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(expected), atol=1e-5, rtol=0)


def test_blocked_loss_never_builds_the_full_score_matrix():
    # XLA's buffer assignment for value-and-grad at 2,048 pairs: a [B, B] fp32 matrix alone would be 16 MiB.
    anchor = jax.ShapeDtypeStruct((2048, 32), jnp.float32)

    def temp_bytes(loss):
        compiled = jax.jit(jax.value_and_grad(loss, argnums=(0, 1))).lower(anchor, anchor).compile()
        return compiled.memory_analysis().temp_size_in_bytes

    blocked = temp_bytes(lambda a, p: blocked_mnrl_loss(a, p, block_rows=128))
    assert blocked < 2048 * 2048 * 4 / 4
    assert temp_bytes(lambda a, p: mnrl_loss(a, p)) > 2048 * 2048 * 4  # the check can fail
