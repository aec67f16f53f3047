"""Multilingual knowledge distillation (Reimers & Gurevych 2020, "Making Monolingual Sentence Embeddings
Multilingual using Knowledge Distillation"): the student maps a source sentence AND its translation onto the
teacher's embedding of the source sentence, with mean squared error:

    loss = ( MSE(student(source), teacher(source)) + MSE(student(target), teacher(source)) ) / 2

Batch columns: `anchor` = source sentences, `positive` = their translations (text), `teacher` = the teacher's cached
[B, D] embeddings of the sources (training/data/teacher.py). `se1b distill` is the loop run with this objective.

    >>> import jax.numpy as jnp
    >>> loss, metrics = Distillation().loss({"anchor": jnp.ones((2, 3)), "positive": jnp.zeros((2, 3))},
    ...                                     {"teacher": jnp.ones((2, 3))})
    >>> float(loss), float(metrics["mse_target"])
    (0.5, 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp


@dataclass(frozen=True)
class Distillation:
    name: str = "MSELoss (multilingual knowledge distillation)"
    text_columns: tuple[str, ...] = ("anchor", "positive")
    array_columns: tuple[str, ...] = ("teacher",)

    def loss(self, embeddings: dict[str, jax.Array], arrays: dict[str, jax.Array]) -> tuple[jax.Array, dict]:
        teacher = arrays["teacher"].astype(jnp.float32)
        mse_source = jnp.mean((embeddings["anchor"] - teacher) ** 2)
        mse_target = jnp.mean((embeddings["positive"] - teacher) ** 2)
        return (mse_source + mse_target) / 2, {"mse_source": mse_source, "mse_target": mse_target}

    @staticmethod
    def dropout_keys(step_key: jax.Array, index: int, num_chunks: int) -> jax.Array:
        """The step key split once per text column, as `se1b distill` did before it became a preset of the one loop:
        kept so that a distill config still trains to the same weights, bit for bit."""
        column_key = jax.random.split(step_key)[index]
        return column_key[None] if num_chunks == 1 else jax.random.split(column_key, num_chunks)
