"""Fast tokenisation to a few static shapes, so `jax.jit` compiles a bounded set of programs.

The Rust `tokenizers` library is called directly (no transformers wrapper): it truncates and pads to the longest
text of the batch in Rust, releases the GIL while it works, and so scales with threads. The padded length is then
rounded up to the next bucket length (e.g. 16, 32, 64, 128 for max_seq_length 128).

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

from training.errors import UserError


def default_buckets(max_seq_length: int) -> tuple[int, ...]:
    """max/8, max/4, max/2 and max, none below 8: four shapes per text side."""
    return tuple(sorted({max(8, max_seq_length // d) for d in (8, 4, 2)} | {max_seq_length}))


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
        pad_token = padding.get("pad_token", "[PAD]")
        pad_id = padding.get("pad_id", self.tokenizer.token_to_id(pad_token) or 0)
        self.tokenizer.enable_truncation(max_length=max_seq_length)
        self.tokenizer.enable_padding(pad_id=pad_id, pad_token=pad_token)  # to the longest text of each call
        self.pad_id = pad_id
        # encode_batch_fast skips character offsets (~20% faster); older tokenizers only have encode_batch
        self._encode_batch = getattr(self.tokenizer, "encode_batch_fast", self.tokenizer.encode_batch)

    def bucket(self, length: int) -> int:
        return next(b for b in self.buckets if b >= length)

    def __call__(self, texts: list[str]) -> dict[str, np.ndarray]:
        encodings = self._encode_batch(texts)
        input_ids = np.array([e.ids for e in encodings], dtype=np.int32)
        attention_mask = np.array([e.attention_mask for e in encodings], dtype=np.int32)
        extra = self.bucket(input_ids.shape[1]) - input_ids.shape[1]
        if extra:
            input_ids = np.pad(input_ids, ((0, 0), (0, extra)), constant_values=self.pad_id)
            attention_mask = np.pad(attention_mask, ((0, 0), (0, extra)))
        return {"input_ids": input_ids, "attention_mask": attention_mask}
