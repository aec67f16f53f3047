"""What an objective is to the training loop.

The loop embeds every text column the objective names (`text_columns`, each a dict of input_ids / attention_mask in
the batch) with the model being trained, then calls `objective.loss(embeddings, arrays)`: `embeddings` maps each
text column to its [B, D] float32 embeddings, `arrays` holds the batch's other columns (`array_columns`, e.g. a
teacher's cached embeddings) as [B, ...] arrays. The loss may couple rows (in-batch negatives): it sees the whole
global batch. Because it reads only embeddings and arrays, GradCache (training/loop/gradcache.py) applies to every
objective.

    loss, metrics = objective.loss({"anchor": a, "positive": p}, {})     # metrics: name -> scalar, logged per step
"""

from __future__ import annotations

from typing import Protocol

import jax

Embeddings = dict[str, jax.Array]
Arrays = dict[str, jax.Array]


class Objective(Protocol):
    name: str  # the loss as the model card names it
    text_columns: tuple[str, ...]  # batch columns the model embeds
    array_columns: tuple[str, ...]  # other batch columns the loss reads

    def loss(self, embeddings: Embeddings, arrays: Arrays) -> tuple[jax.Array, dict[str, jax.Array]]:
        """(scalar fp32 loss, extra scalar metrics) for one global batch."""
        ...

