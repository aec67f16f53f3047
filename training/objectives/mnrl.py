"""MultipleNegativesRankingLoss (in-batch negatives, InfoNCE) over the global batch, written out in JAX.

Given anchors a_i and positives p_i (i = 1..B, rows of the GLOBAL batch: under `jax.jit` with the batch sharded
over devices and hosts, the matrix products below see every row, so the all-gather is implicit), with cosine
similarity cos(x, y) = x.y / (|x| |y|) and scale s (1 / temperature, 20 in the 2021 recipe):

    S_ij = s * cos(a_i, c_j)          candidates c = [p_1..p_B] for pairs, [p_1..p_B, n_1..n_B] with hard negatives
    L_a2p = -1/B sum_i log softmax_j(S_ij)[j = i]      each anchor must pick its own positive among all candidates

Pairs use the symmetric (CLIP-style) form, as the 2021 all-* models did:

    L = (L_a2p + L_p2a) / 2,   L_p2a = -1/B sum_i log softmax_j(s * cos(p_i, a_j))[j = i]

Triplets (anchor, positive, hard negative) use the one-way L_a2p over [positives; negatives].

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

import jax
import jax.numpy as jnp


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


@dataclass(frozen=True)
class MNRL:
    """The objective of `se1b train`: `mnrl_loss` on (anchor, positive) pairs, or on (anchor, positive, negative)
    triplets when a batch carries hard negatives (the loop embeds the text columns a batch has)."""

    scale: float = 20.0
    symmetric: bool = True
    name: str = "MultipleNegativesRankingLoss"
    text_columns: tuple[str, ...] = ("anchor", "positive", "negative")
    array_columns: tuple[str, ...] = ()

    def loss(self, embeddings: dict[str, jax.Array], arrays: dict[str, jax.Array]) -> tuple[jax.Array, dict]:
        loss = mnrl_loss(embeddings["anchor"], embeddings["positive"], embeddings.get("negative"),
                         scale=self.scale, symmetric=self.symmetric)
        return loss, {}
