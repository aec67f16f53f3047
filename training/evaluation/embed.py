"""Embed many texts through any `encode` function, in chunks with a progress bar, L2-normalised."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from tqdm.auto import tqdm

Encode = Callable[[list[str]], np.ndarray]


def embed_texts(encode: Encode, texts: list[str], *, chunk_size: int = 1024, desc: str = "encoding") -> np.ndarray:
    """`encode` the texts chunk by chunk (so long corpora show progress) and L2-normalise the rows (float32)."""
    parts = []
    for start in tqdm(range(0, len(texts), chunk_size), desc=desc, unit="chunk", disable=len(texts) <= chunk_size):
        parts.append(np.asarray(encode(texts[start : start + chunk_size]), dtype=np.float32))
    embeddings = np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)
    if len(embeddings) != len(texts):
        raise ValueError(f"encode returned {len(embeddings)} embeddings for {len(texts)} texts")
    norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
    return embeddings / np.where(norms == 0, 1, norms)
