"""GradCache (Gao et al. 2021): the gradient of a contrastive loss over a batch far larger than memory.

The loss couples every row of the batch (each anchor is scored against every positive), so it cannot be split
into independent micro-batches. GradCache splits the *encoder* work instead:

1. embed the batch in chunks with no autodiff bookkeeping (memory: one chunk's activations);
2. compute the loss and g = d loss / d embeddings on the small [B, D] embedding matrices;
3. re-embed each chunk with autodiff and pull g back through it (a VJP), summing the parameter gradients.

Step 3 replays step 1 exactly: each chunk gets its own dropout key, derived deterministically from the step key
(`dropout_keys(step_key, column_index, num_chunks)`, training/objectives/base.py), and both passes use it. The
result equals the gradient of the same chunked forward pass taken in one piece (tests/test_gradcache.py), at the
cost of a second forward pass.

Chunk j of a column holds rows j, j+n, j+2n, ... (n = number of chunks), not a contiguous block: with the batch
sharded over devices on its first axis, every chunk then spreads evenly over all devices.

`embed_fn(params, input_ids, attention_mask, dropout_rng) -> [b, D]` is any pure function; `loss_fn(embeddings)`
takes a dict column -> [B, D] (e.g. {"anchor", "positive", "negative"}) and returns the loss, or (loss, aux) with
`has_aux=True` (as in `jax.value_and_grad`).

Packed columns (training/model/packing.py) carry `text_ids` [rows, T] and `lengths` [B] too: they are split the same
way and passed to `embed_fn` as keywords. `pack_chunks` + `interleave_chunks` lay the rows out so that chunk j's rows
hold exactly the texts j, j+n, ...: each text is embedded by one chunk, and the loss sees [B, D] in text order.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from training.objectives.base import column_dropout_keys

EmbedFn = Callable[[object, jax.Array, jax.Array, jax.Array], jax.Array]
LossFn = Callable[[dict[str, jax.Array]], jax.Array]
KeysFn = Callable[[jax.Array, int, int], jax.Array]


def _split(x: jax.Array, num_chunks: int) -> jax.Array:
    """[B, ...] -> [n, B/n, ...] with chunk j = rows j, j+n, j+2n, ..."""
    return jnp.swapaxes(x.reshape(x.shape[0] // num_chunks, num_chunks, *x.shape[1:]), 0, 1)


def _merge(x: jax.Array) -> jax.Array:
    """Inverse of `_split`: [n, B/n, ...] -> [B, ...]."""
    return jnp.swapaxes(x, 0, 1).reshape(-1, *x.shape[2:])


def _chunk_inputs(batch: dict, rng: jax.Array, num_chunks: int, dropout_keys: KeysFn) -> dict[str, tuple]:
    """Per column: (input_ids chunks, attention_mask chunks, one dropout key per chunk, {other feature: chunks})."""
    inputs = {}
    for index, (column, features) in enumerate(sorted(batch.items())):
        if features["input_ids"].shape[0] % num_chunks:
            raise ValueError(f"batch of {features['input_ids'].shape[0]} rows does not split into {num_chunks} chunks")
        keys = dropout_keys(rng, index, num_chunks)
        ids, mask = _split(features["input_ids"], num_chunks), _split(features["attention_mask"], num_chunks)
        extras = {name: _split(value, num_chunks) for name, value in features.items()
                  if name not in ("input_ids", "attention_mask")}
        inputs[column] = (ids, mask, keys, extras)
    return inputs


def chunked_embeddings(
    embed_fn: EmbedFn, params, batch: dict, rng: jax.Array, num_chunks: int, dropout_keys: KeysFn = column_dropout_keys
) -> dict[str, jax.Array]:
    """Embed every column chunk by chunk (differentiable; one chunk = the whole batch when num_chunks is 1)."""
    embeddings = {}
    for column, (ids, mask, keys, extras) in _chunk_inputs(batch, rng, num_chunks, dropout_keys).items():
        chunks = jax.lax.map(lambda xs: embed_fn(params, *xs[:3], **xs[3]), (ids, mask, keys, extras))
        embeddings[column] = _merge(chunks)
    return embeddings


def plain_value_and_grad(embed_fn: EmbedFn, loss_fn: LossFn, params, batch: dict, rng: jax.Array, num_chunks: int = 1,
                         *, has_aux: bool = False, dropout_keys: KeysFn = column_dropout_keys):
    """(loss, d loss / d params) by ordinary autodiff through the whole chunked forward pass (the reference)."""
    return jax.value_and_grad(lambda p: loss_fn(chunked_embeddings(embed_fn, p, batch, rng, num_chunks, dropout_keys)),
                              has_aux=has_aux)(params)


def gradcache_value_and_grad(embed_fn: EmbedFn, loss_fn: LossFn, params, batch: dict, rng: jax.Array, num_chunks: int,
                             *, has_aux: bool = False, dropout_keys: KeysFn = column_dropout_keys):
    """(loss, d loss / d params) with GradCache: memory of one chunk's activations instead of the whole batch's."""
    # 1. Embeddings without gradient tracking.
    embeddings = jax.lax.stop_gradient(chunked_embeddings(embed_fn, params, batch, rng, num_chunks, dropout_keys))
    # 2. The loss and its gradient with respect to the embeddings only.
    loss, embedding_grads = jax.value_and_grad(loss_fn, has_aux=has_aux)(embeddings)

    # 3. Replay each chunk with the same dropout key and pull its cached gradient back to the parameters.
    def accumulate(grads, chunk):
        ids, mask, key, extras, cotangent = chunk
        chunk_embeddings, pull_back = jax.vjp(lambda p: embed_fn(p, ids, mask, key, **extras), params)
        (chunk_grads,) = pull_back(cotangent.astype(chunk_embeddings.dtype))
        return jax.tree.map(jnp.add, grads, chunk_grads), None

    grads = jax.tree.map(jnp.zeros_like, params)
    for column, (ids, mask, keys, extras) in _chunk_inputs(batch, rng, num_chunks, dropout_keys).items():
        cotangents = _split(embedding_grads[column], num_chunks)
        grads, _ = jax.lax.scan(accumulate, grads, (ids, mask, keys, extras, cotangents))
    return loss, grads
