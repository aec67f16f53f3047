"""MultipleNegativesRankingLoss (in-batch negatives, InfoNCE) over the global batch, written out in JAX.

Given anchors a_i and positives p_i (i = 1..B, rows of the GLOBAL batch: under `jax.jit` with the batch sharded
over devices and hosts, the matrix products below see every row, so the all-gather is implicit), with cosine
similarity cos(x, y) = x.y / (|x| |y|) and scale s (1 / temperature, 20 in the 2021 recipe):

    S_ij = s * cos(a_i, c_j)          candidates c = [p_1..p_B] for pairs, [p_1..p_B, n_1..n_B] with hard negatives
    L_a2p = -1/B sum_i log softmax_j(S_ij)[j = i]      each anchor must pick its own positive among all candidates

Pairs use the symmetric (CLIP-style) form, as the 2021 all-* models did:

    L = (L_a2p + L_p2a) / 2,   L_p2a = -1/B sum_i log softmax_j(s * cos(p_i, a_j))[j = i]

Triplets (anchor, positive, hard negative) use the one-way L_a2p over [positives; negatives].

Blocked form (`block_rows` > 0), for batches whose [B, B] score matrix does not fit in memory (65,536 pairs:
17 GB in fp32): `blocked_mnrl_loss` walks the anchors in blocks of `block_rows` rows. Each block's [rows, C]
scores give its row log-sum-exps exactly and update running column maxima and sums (an online log-sum-exp), which
give the column log-sum-exps of the symmetric term after the last block. The backward pass (a `jax.custom_vjp`)
recomputes each block's scores from the [B, D] embeddings and the saved log-sum-exps, so no [B, B] matrix exists
in either pass: peak memory is O(block_rows * C + B * D). It equals `mnrl_loss` and its gradients
(tests/test_loss.py).

These equal sentence-transformers' `MultipleNegativesRankingLoss` (one-way) and its symmetric form
`MultipleNegativesRankingLoss(directions=("query_to_doc", "doc_to_query"), partition_mode="per_direction")`
(tests/test_loss.py checks both on the same embeddings).

Example:
    >>> import jax.numpy as jnp
    >>> a = jnp.eye(4, 8); p = jnp.eye(4, 8)
    >>> float(mnrl_loss(a, p)) < 1e-6   # every anchor matches its positive with margin 20 vs 0
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np


def _normalize(x: jax.Array) -> jax.Array:
    # fp32 for the similarity matrix whatever the compute dtype: softmax over thousands of logits wants it.
    x = x.astype(jnp.float32)
    return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _cross_entropy_diagonal(logits: jax.Array) -> jax.Array:
    """Mean over rows i of -log softmax(logits[i])[i]: the label of row i is column i."""
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.mean(jnp.diagonal(log_probs))


def mnrl_loss(
    anchor: jax.Array,
    positive: jax.Array,
    negative: jax.Array | None = None,
    *,
    scale: float = 20.0,
    symmetric: bool = True,
) -> jax.Array:
    """MNRL on embeddings [B, D] (anchor, positive, optional hard negative); returns a scalar fp32 loss.

    `symmetric` applies to pairs only; with hard negatives the loss is always one-way over [positives; negatives].
    """
    a = _normalize(anchor)
    p = _normalize(positive)
    candidates = p if negative is None else jnp.concatenate([p, _normalize(negative)], axis=0)
    scores = scale * a @ candidates.T  # [B, B] or [B, 2B]; the positive of row i sits in column i
    loss = _cross_entropy_diagonal(scores)
    if symmetric and negative is None:
        # scores.T[i, j] = s * cos(p_i, a_j): each positive must pick its own anchor.
        loss = (loss + _cross_entropy_diagonal(scores.T)) / 2
    return loss


def _row_blocks(a: jax.Array, block_rows: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """[B, D] -> ([n, R, D] blocks zero-padded to n * R rows, [n, R] validity, [n, R] row indices)."""
    rows = a.shape[0]
    blocks = -(-rows // block_rows)
    padded = jnp.pad(a, ((0, blocks * block_rows - rows), (0, 0))).reshape(blocks, block_rows, a.shape[1])
    index = np.arange(blocks * block_rows).reshape(blocks, block_rows)
    return padded, jnp.asarray(index < rows), jnp.asarray(index)


@partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _blocked_ce(a: jax.Array, c: jax.Array, scale: float, block_rows: int, symmetric: bool) -> jax.Array:
    """On unit vectors a [B, D] and candidates c [C, D] (column i is row i's positive): the mean row cross-entropy
    of S = scale * a c^T, averaged with the mean column cross-entropy over the first B columns when `symmetric`."""
    return _blocked_forward(a, c, scale, block_rows, symmetric)[0]


def _blocked_forward(a, c, scale, block_rows, symmetric):
    blocks, valid, _ = _row_blocks(a, block_rows)

    def step(carry, block):
        column_max, column_sum = carry
        a_block, valid_block = block
        scores = scale * a_block @ c.T  # [R, C]: the only score matrix held, one block at a time
        row_lse = jax.nn.logsumexp(scores, axis=1)
        if symmetric:  # online log-sum-exp down the columns; padding rows excluded
            scores = jnp.where(valid_block[:, None], scores, -jnp.inf)
            new_max = jnp.maximum(column_max, scores.max(axis=0))
            column_sum = column_sum * jnp.exp(column_max - new_max) + jnp.exp(scores - new_max).sum(axis=0)
            column_max = new_max
        return (column_max, column_sum), row_lse

    init = (jnp.full(c.shape[0], -jnp.inf, jnp.float32), jnp.zeros(c.shape[0], jnp.float32))
    (column_max, column_sum), row_lse = jax.lax.scan(step, init, (blocks, valid))
    rows = a.shape[0]
    row_lse = row_lse.reshape(-1)[:rows]
    diagonal = scale * jnp.sum(a * c[:rows], axis=1)  # S_ii, the positives' scores
    loss = jnp.mean(row_lse - diagonal)
    column_lse = column_max + jnp.log(column_sum)
    if symmetric:
        loss = (loss + jnp.mean(column_lse[:rows] - diagonal)) / 2
    return loss, (a, c, row_lse, column_lse)


def _blocked_backward(scale, block_rows, symmetric, residuals, g):
    a, c, row_lse, column_lse = residuals
    rows = a.shape[0]
    # dL/dS_ij = w_row softmax_row(S)_ij + w_col softmax_col(S)_ij - (w_row + w_col) [i == j]
    w_row = g / rows / (2 if symmetric else 1)
    w_col = w_row if symmetric else 0.0
    blocks, valid, index = _row_blocks(a, block_rows)
    row_lse_blocks = jnp.pad(row_lse, (0, blocks.shape[0] * block_rows - rows)).reshape(valid.shape)
    columns = jnp.arange(c.shape[0])

    def step(grad_c, block):
        a_block, valid_block, index_block, lse_block = block
        scores = scale * a_block @ c.T
        grad_s = w_row * jnp.exp(scores - lse_block[:, None])
        if symmetric:
            grad_s = grad_s + w_col * jnp.exp(scores - column_lse[None, :])
        grad_s = grad_s - (w_row + w_col) * (index_block[:, None] == columns[None, :])
        grad_s = jnp.where(valid_block[:, None], grad_s, 0.0)
        return grad_c + scale * grad_s.T @ a_block, scale * grad_s @ c

    grad_c, grad_a = jax.lax.scan(step, jnp.zeros_like(c), (blocks, valid, index, row_lse_blocks))
    return grad_a.reshape(-1, a.shape[1])[:rows], grad_c


_blocked_ce.defvjp(_blocked_forward, _blocked_backward)


def blocked_mnrl_loss(
    anchor: jax.Array,
    positive: jax.Array,
    negative: jax.Array | None = None,
    *,
    scale: float = 20.0,
    symmetric: bool = True,
    block_rows: int = 1024,
) -> jax.Array:
    """`mnrl_loss` computed `block_rows` anchors at a time: same value and gradients, no [B, B] matrix held."""
    a = _normalize(anchor)
    candidates = _normalize(positive)
    if negative is not None:
        candidates = jnp.concatenate([candidates, _normalize(negative)], axis=0)
    return _blocked_ce(a, candidates, float(scale), int(block_rows), bool(symmetric and negative is None))


@dataclass(frozen=True)
class MNRL:
    """The objective of `se1b train`: `mnrl_loss` on (anchor, positive) pairs, or on (anchor, positive, negative)
    triplets when a batch carries hard negatives (the loop embeds the text columns a batch has). With
    `block_rows` > 0 the loss is computed in blocks of that many anchors (`blocked_mnrl_loss`)."""

    scale: float = 20.0
    symmetric: bool = True
    block_rows: int = 0
    name: str = "MultipleNegativesRankingLoss"
    text_columns: tuple[str, ...] = ("anchor", "positive", "negative")
    array_columns: tuple[str, ...] = ()

    def loss(self, embeddings: dict[str, jax.Array], arrays: dict[str, jax.Array]) -> tuple[jax.Array, dict]:
        if self.block_rows:
            loss = blocked_mnrl_loss(embeddings["anchor"], embeddings["positive"], embeddings.get("negative"),
                                     scale=self.scale, symmetric=self.symmetric, block_rows=self.block_rows)
        else:
            loss = mnrl_loss(embeddings["anchor"], embeddings["positive"], embeddings.get("negative"),
                             scale=self.scale, symmetric=self.symmetric)
        return loss, {}
