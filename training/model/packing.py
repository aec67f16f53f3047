"""Sequence packing: several texts per row, so that a batch of mostly short texts computes few padding positions.

Texts are placed first-fit in decreasing length order into rows of `row_length` tokens, at most `max_texts_per_row`
texts per row. Each token carries its text's number (`text_ids`, -1 for padding): the encoder confines attention
to each text (block-diagonal mask) and restarts positions at each text, and pooling gathers each text's tokens, so
the embeddings equal the unpacked ones (tests/test_packing.py, every encoder family).

Compiled shapes stay bounded: the row length is fixed, and the row count is rounded up to a multiple of
`row_multiple`, so a column of N texts of at most `row_length` tokens compiles for at most
ceil(N / row_multiple) row counts (8 with the training loop's multiple, lcm(ceil(N / 8), local devices)).

GradCache and several processes (the training loop's `pack_batch`): `pack_chunks` packs each GradCache chunk's
texts into rows of its own, and `interleave_chunks` pads every chunk to one row count (agreed by all processes)
and lays the rows out for GradCache's strided split, with text numbers counted over the global batch.

    >>> packed = pack_texts([[101, 7592, 102], [101, 102]], row_length=8)
    >>> packed["input_ids"].shape, packed["text_ids"][0].tolist()
    ((1, 8), [0, 0, 0, 1, 1, -1, -1, -1])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def pack_texts(token_ids: Sequence[Sequence[int]], row_length: int, *, pad_id: int = 0, row_multiple: int = 1,
               max_texts_per_row: int = 64) -> dict[str, np.ndarray]:
    """Token lists (already truncated to `row_length`) -> packed int32 arrays: input_ids, attention_mask and
    text_ids [rows, row_length], and lengths [N] (tokens per text; N is the number of texts the model pools)."""
    lengths = np.fromiter(map(len, token_ids), dtype=np.int32, count=len(token_ids))
    if lengths.size and int(lengths.max()) > row_length:
        raise ValueError(f"a text of {int(lengths.max())} tokens does not fit in rows of {row_length}")
    free = np.zeros(0, dtype=np.int64)  # free tokens per open row
    count = np.zeros(0, dtype=np.int64)  # texts per open row
    placement = np.zeros((len(lengths), 2), dtype=np.int64)  # (row, offset) of each text
    for text in np.argsort(-lengths, kind="stable"):
        fits = np.flatnonzero((free >= lengths[text]) & (count < max_texts_per_row))
        if fits.size:
            row = int(fits[0])
        else:
            row = len(free)
            free, count = np.append(free, row_length), np.append(count, 0)
        placement[text] = (row, row_length - free[row])
        free[row] -= lengths[text]
        count[row] += 1
    rows = max(-(-len(free) // row_multiple) * row_multiple, row_multiple)
    input_ids = np.full((rows, row_length), pad_id, dtype=np.int32)
    text_ids = np.full((rows, row_length), -1, dtype=np.int32)
    for text, ((row, offset), tokens) in enumerate(zip(placement, token_ids, strict=True)):
        input_ids[row, offset : offset + len(tokens)] = tokens
        text_ids[row, offset : offset + len(tokens)] = text
    return {"input_ids": input_ids, "attention_mask": (text_ids >= 0).astype(np.int32), "text_ids": text_ids,
            "lengths": lengths}


def unpad(features: dict[str, np.ndarray]) -> list[list[int]]:
    """A padded batch {input_ids, attention_mask} [B, T] -> the token list of each text."""
    lengths = features["attention_mask"].sum(axis=1)
    return [row[:length].tolist() for row, length in zip(features["input_ids"], lengths, strict=True)]


def padding_efficiency(features: dict[str, np.ndarray]) -> tuple[int, int]:
    """(real tokens, computed positions) of a padded or packed batch."""
    return int(features["attention_mask"].sum()), int(features["attention_mask"].size)


def pack_chunks(token_ids: Sequence[Sequence[int]], row_length: int, num_chunks: int, *, pad_id: int = 0,
                row_multiple: int = 1) -> list[dict[str, np.ndarray]]:
    """GradCache's chunk j holds texts j, j+n, j+2n, ... (n = num_chunks; training/loop/gradcache.py): pack each
    chunk's texts into rows of its own, so that every text is embedded by exactly one chunk. Text numbers count
    within the chunk (text j + m*n is number m)."""
    if len(token_ids) % num_chunks:
        raise ValueError(f"{len(token_ids)} texts do not split into {num_chunks} chunks")
    return [pack_texts(token_ids[j::num_chunks], row_length, pad_id=pad_id, row_multiple=row_multiple)
            for j in range(num_chunks)]


def interleave_chunks(chunks: list[dict[str, np.ndarray]], rows: int, *, pad_id: int = 0,
                      text_offset: int = 0) -> dict[str, np.ndarray]:
    """`pack_chunks`' output -> one packed column: each chunk padded with empty rows to `rows` rows (the same for
    every chunk, and for every process), row r of chunk j at row r*n + j, so GradCache's strided split (rows j, j+n,
    ...) gives chunk j back; text numbers shifted by `text_offset` (a process's first text within each chunk of the
    global batch); `lengths` in the texts' original order."""
    num_chunks = len(chunks)
    row_length = chunks[0]["input_ids"].shape[1]
    input_ids = np.full((rows * num_chunks, row_length), pad_id, dtype=np.int32)
    text_ids = np.full((rows * num_chunks, row_length), -1, dtype=np.int32)
    lengths = np.zeros(sum(len(chunk["lengths"]) for chunk in chunks), dtype=np.int32)
    for j, chunk in enumerate(chunks):
        used = chunk["input_ids"].shape[0]
        if used > rows:
            raise ValueError(f"chunk {j} holds {used} rows, more than {rows}")
        input_ids[j : used * num_chunks : num_chunks] = chunk["input_ids"]
        text_ids[j : used * num_chunks : num_chunks] = np.where(chunk["text_ids"] >= 0,
                                                                 chunk["text_ids"] + text_offset, -1)
        lengths[j::num_chunks] = chunk["lengths"]
    return {"input_ids": input_ids, "attention_mask": (text_ids >= 0).astype(np.int32), "text_ids": text_ids,
            "lengths": lengths}
