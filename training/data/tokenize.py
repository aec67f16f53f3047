"""Fast tokenisation to a few static shapes, so `jax.jit` compiles a bounded set of programs.

The Rust `tokenizers` library is called directly (no transformers wrapper): it truncates in Rust and releases the
GIL while it works, so it scales with threads. The ids are then written into a numpy array whose length is the
smallest bucket length (16, 32, ..., 128 for max_seq_length 128) that holds the longest text of the batch.

Example:
    >>> tokenize = BucketTokenizer("path/to/all-MiniLM-L6-v2", max_seq_length=128)
    >>> out = tokenize(["a short text", "another one"])
    >>> out["input_ids"].shape, out["input_ids"].dtype    # ((2, 16), dtype('int32'))
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tokenizers

from se1b.errors import UserError


def default_buckets(max_seq_length: int) -> tuple[int, ...]:
    """Multiples of max/8 (none below 8) up to max: at most eight shapes per text side."""
    step = max(8, max_seq_length // 8)
    return tuple(sorted({*range(step, max_seq_length, step), max_seq_length}))


def _load_tokenizer(tokenizer: object) -> tokenizers.Tokenizer:
    """Accept a `tokenizers.Tokenizer`, a transformers fast tokenizer, a tokenizer.json or a folder holding one."""
    if isinstance(tokenizer, tokenizers.Tokenizer):
        return copy.deepcopy(tokenizer)
    if hasattr(tokenizer, "backend_tokenizer"):
        return copy.deepcopy(tokenizer.backend_tokenizer)
    path = Path(tokenizer)
    file = path / "tokenizer.json" if path.is_dir() else path
    if not file.is_file():
        raise UserError(f"no tokenizer.json at {file} (give a fast tokenizer's folder or file)")
    return tokenizers.Tokenizer.from_file(str(file))


class BucketTokenizer:
    """Texts -> {"input_ids": int32[B, T], "attention_mask": int32[B, T]} with T the smallest bucket >= the longest
    (truncated) text; special tokens ([CLS] ... [SEP]) included, as sentence-transformers does."""

    def __init__(self, tokenizer: object, max_seq_length: int, buckets: Sequence[int] | None = None):
        buckets = tuple(sorted(set(buckets or default_buckets(max_seq_length))))
        if not buckets or buckets[0] < 1 or buckets[-1] != max_seq_length:
            raise UserError(f"bucket lengths {buckets} must be positive and end at max_seq_length {max_seq_length}")
        self.buckets = buckets
        self.max_seq_length = max_seq_length
        self.tokenizer = _load_tokenizer(tokenizer)
        padding = self.tokenizer.padding or {}
        pad_ids = [padding.get("pad_id")] + [self.tokenizer.token_to_id(t) for t in ("[PAD]", "<pad>")]
        self.pad_id = next((i for i in pad_ids if i is not None), 0)
        self.tokenizer.enable_truncation(max_length=max_seq_length)  # counts the special tokens
        self.tokenizer.no_padding()  # we pad in numpy straight to the bucket length: cheaper than padding twice
        # encode_batch_fast skips character offsets (~20% faster); older tokenizers only have encode_batch
        self._encode_batch = getattr(self.tokenizer, "encode_batch_fast", self.tokenizer.encode_batch)

    def bucket(self, length: int) -> int:
        return next(b for b in self.buckets if b >= length)

    def __call__(self, texts: list[str]) -> dict[str, np.ndarray]:
        ids = [e.ids for e in self._encode_batch(texts)]
        lengths = np.fromiter(map(len, ids), dtype=np.int32, count=len(ids))
        input_ids = np.full((len(ids), self.bucket(int(lengths.max(initial=1)))), self.pad_id, dtype=np.int32)
        for row, token_ids in zip(input_ids, ids, strict=True):
            row[: len(token_ids)] = token_ids
        attention_mask = (np.arange(input_ids.shape[1]) < lengths[:, None]).astype(np.int32)
        return {"input_ids": input_ids, "attention_mask": attention_mask}
