"""Guided in-batch negatives (Solatorio 2024, "GISTEmbed: Guided In-sample Selection of Training Negatives"): MNRL
in which a frozen guide model vetoes in-batch negatives it scores above the positive, so duplicates and
near-paraphrases that happen to share a batch are not pushed apart.

With g(x, y) the guide's cosine similarity and margin m >= 0, candidate j of anchor i is dropped from the softmax
(its logit set to -inf) when

    g(a_i, c_j) > g(a_i, p_i) - m        and c_j is not the positive p_i itself

(sentence-transformers' `GISTEmbedLoss`, margin_strategy="absolute"). The symmetric pair form applies the same rule
to the positive -> anchor direction with g(p_i, a_j) against g(p_i, a_i). With a guide that ranks every positive
first, nothing is masked and the loss is exactly `mnrl_loss`.

Batch columns: the texts `anchor`, `positive` (and `negative`), plus the guide's embeddings of each as the arrays
`guide_anchor`, `guide_positive` (`guide_negative`), added by the data step (training/data/guide.py). Because the
loss reads only embeddings and arrays, GradCache applies unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from training.objectives.mnrl import _cross_entropy_diagonal, _normalize


def guide_mask(guide_rows: jax.Array, guide_candidates: jax.Array, margin: float = 0.0) -> jax.Array:
    """[B, C] bool: True where the guide scores candidate j above row i's positive (column i) minus `margin`;
    the positive itself is never masked."""
    rows, candidates = _normalize(guide_rows), _normalize(guide_candidates)
    scores = rows @ candidates.T
    positive = jnp.diagonal(scores)[:, None]
    own = jnp.eye(scores.shape[0], scores.shape[1], dtype=bool)
    return (scores > positive - margin) & ~own


def guided_mnrl_loss(anchor: jax.Array, positive: jax.Array, negative: jax.Array | None,
                     guide: dict[str, jax.Array], *, scale: float = 20.0, symmetric: bool = True,
                     margin: float = 0.0) -> tuple[jax.Array, jax.Array]:
    """(loss, share of in-batch candidates masked). `guide` holds the guide's embeddings of the same rows:
    "anchor", "positive" and, with hard negatives, "negative"."""
    a, p = _normalize(anchor), _normalize(positive)
    candidates = p if negative is None else jnp.concatenate([p, _normalize(negative)], axis=0)
    guide_candidates = guide["positive"] if negative is None else jnp.concatenate(
        [guide["positive"], guide["negative"]], axis=0)
    scores = scale * a @ candidates.T
    mask = guide_mask(guide["anchor"], guide_candidates, margin)
    loss = _cross_entropy_diagonal(jnp.where(mask, -jnp.inf, scores))
    masked = jnp.mean(mask)
    if symmetric and negative is None:
        reverse = guide_mask(guide["positive"], guide["anchor"], margin)
        loss = (loss + _cross_entropy_diagonal(jnp.where(reverse, -jnp.inf, scores.T))) / 2
        masked = (masked + jnp.mean(reverse)) / 2
    return loss, masked


@dataclass(frozen=True)
class GuidedMNRL:
    """MNRL with guide-masked in-batch negatives; see the module docstring."""

    scale: float = 20.0
    symmetric: bool = True
    margin: float = 0.0
    name: str = "MultipleNegativesRankingLoss with guided in-batch negatives (GISTEmbed)"
    text_columns: tuple[str, ...] = ("anchor", "positive", "negative")
    array_columns: tuple[str, ...] = ("guide_anchor", "guide_positive", "guide_negative")

    def loss(self, embeddings: dict[str, jax.Array], arrays: dict[str, jax.Array]) -> tuple[jax.Array, dict]:
        guide = {column.removeprefix("guide_"): value for column, value in arrays.items()}
        loss, masked = guided_mnrl_loss(embeddings["anchor"], embeddings["positive"], embeddings.get("negative"),
                                        guide, scale=self.scale, symmetric=self.symmetric, margin=self.margin)
        return loss, {"guide_masked": masked}
