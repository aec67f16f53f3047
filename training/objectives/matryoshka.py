"""Matryoshka representation learning (Kusupati et al. 2022, "Matryoshka Representation Learning"): the loss is a
weighted sum of the same loss over nested prefixes of the embedding, so that the first k dimensions of a vector
are themselves a good k-dimensional embedding:

    L = sum_k w_k * L_inner(e[:, :d_k])        d_1 > d_2 > ... (e.g. 384, 256, 128, 64, 32), one forward pass

The inner loss here is MNRL (training/objectives/mnrl.py), which normalises each prefix before the cosine, as
sentence-transformers' `MatryoshkaLoss(model, MultipleNegativesRankingLoss(model), matryoshka_dims)` does. Use a
prefix of an exported model with `SentenceTransformer(path, truncate_dim=k)`.

    >>> import jax.numpy as jnp
    >>> objective = Matryoshka(MNRL(), dims=(8, 4), weights=(1.0, 1.0))
    >>> loss, metrics = objective.loss({"anchor": jnp.eye(4, 8), "positive": jnp.eye(4, 8)}, {})
    >>> sorted(metrics)
    ['loss@4', 'loss@8']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import jax

from se1b.errors import UserError
from training.objectives.base import Objective


def check_dims(dims: Sequence[int], weights: Sequence[float], width: int | None = None) -> None:
    """One-line `UserError` unless `dims` is strictly decreasing, positive and <= `width` (the model's embedding
    width, when known) and `weights` is empty or one positive weight per dimension."""
    dims = list(dims)
    if any(not isinstance(d, int) or isinstance(d, bool) or d <= 0 for d in dims):
        raise UserError(f"config field 'matryoshka_dims' must hold positive integers, got {dims}")
    if any(a <= b for a, b in zip(dims, dims[1:], strict=False)):
        raise UserError(f"config field 'matryoshka_dims' must be strictly decreasing (e.g. [384, 256, 128]), "
                        f"got {dims}")
    if width is not None and dims and dims[0] > width:
        raise UserError(f"config field 'matryoshka_dims': {dims[0]} exceeds the model's embedding width ({width})")
    if weights and len(weights) != len(dims):
        raise UserError(f"config field 'matryoshka_weights' needs one weight per dimension ({len(dims)}), "
                        f"got {len(weights)}")
    if any(w <= 0 for w in weights):
        raise UserError(f"config field 'matryoshka_weights' must be > 0, got {list(weights)}")


@dataclass(frozen=True)
class Matryoshka:
    """`inner` (any objective over embeddings) summed over prefixes `dims` with `weights` (default all 1)."""

    inner: Objective
    dims: tuple[int, ...]
    weights: tuple[float, ...] = ()

    @property
    def name(self) -> str:
        return f"MatryoshkaLoss over {self.inner.name}, dimensions {list(self.dims)}"

    @property
    def text_columns(self) -> tuple[str, ...]:
        return self.inner.text_columns

    @property
    def array_columns(self) -> tuple[str, ...]:
        return self.inner.array_columns

    def loss(self, embeddings: dict[str, jax.Array], arrays: dict[str, jax.Array]) -> tuple[jax.Array, dict]:
        weights = self.weights or (1.0,) * len(self.dims)
        total, metrics = 0.0, {}
        for dim, weight in zip(self.dims, weights, strict=True):
            prefix = {column: value[:, :dim] for column, value in embeddings.items()}
            loss, extra = self.inner.loss(prefix, arrays)
            metrics[f"loss@{dim}"] = loss
            if dim == self.dims[0]:
                metrics |= extra  # the inner objective's own metrics, at the full prefix
            total = total + weight * loss
        return total, metrics
