"""What an objective is to the training loop.

The loop embeds every text column the objective names (`text_columns`, each a dict of input_ids / attention_mask in
the batch) with the model being trained, then calls `objective.loss(embeddings, arrays)`: `embeddings` maps each
text column to its [B, D] float32 embeddings, `arrays` holds the batch's other columns (`array_columns`, e.g. a
teacher's cached embeddings) as [B, ...] arrays. The loss may couple rows (in-batch negatives): it sees the whole
global batch. Because it reads only embeddings and arrays, GradCache (training/loop/gradcache.py) applies to every
objective.

    loss, metrics = objective.loss({"anchor": a, "positive": p}, {})     # metrics: name -> scalar, logged per step

Dropout keys: text column `index` (in sorted column order) gets `column_dropout_keys(step_key, index, num_chunks)`,
one key per GradCache chunk. An objective may bring its own `dropout_keys` function of the same signature (the
distillation objective does, to keep the random stream `se1b distill` had before it ran in this loop).
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


def column_dropout_keys(step_key: jax.Array, index: int, num_chunks: int) -> jax.Array:
    """[num_chunks] dropout keys for text column `index`: the trainer's stream since its first version."""
    return jax.random.split(jax.random.fold_in(step_key, index), num_chunks)
