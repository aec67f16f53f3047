"""`pack: auto` (the default): sequence packing where it pays, decided from the run's first batch.

Packing (training/model/packing.py) computes fewer padding positions, at a cost: attention over whole rows of
max_seq_length tokens and more distinct row counts to compile. bench/bench_train.py measured it paying 1.5x on
short texts (captions at max_seq_length 64: 15 tokens per text on average, padding efficiency 0.5) and nothing at
128 on docstring -> code pairs (65 tokens per text on average, also 0.5: a row then holds one or two texts). So auto
packs when the first batch (all processes' share of it) both wastes positions and holds short texts:

- padding efficiency (real tokens / computed positions, as padded) below `EFFICIENCY_BELOW`, and
- texts of at most max_seq_length / `TEXTS_PER_ROW` tokens on average, so that several share a row;

and never where packing cannot apply (`packing_exclusion`), which an explicit `pack: true` refuses instead.
"""

from __future__ import annotations

from se1b.errors import UserError

EFFICIENCY_BELOW = 0.6  # packed rows reach ~0.9: below 0.6 they compute at least 1.5x fewer positions
TEXTS_PER_ROW = 3  # captions at 64 (15 tokens) clear it with room; docstring -> code at 128 (65) does not


def packing_exclusion(batch_size: int, process_count: int, num_chunks: int) -> str | None:
    """Why packing cannot apply to this run's shapes (None: it can). Each process packs its rows per GradCache
    chunk, so each process's share of the batch must split into the chunks (several processes with GradCache)."""
    local_texts = batch_size // process_count
    if local_texts % num_chunks:
        return (f"each of the {process_count} processes' {local_texts} rows must split into the {num_chunks} "
                "GradCache chunks (batch_size / gradcache_chunk)")
    return None


def packing_at_start(pack: bool | str, batch_size: int, process_count: int,
                     num_chunks: int) -> tuple[bool | None, str]:
    """(packing, why) before the first batch: the config's true or false (true refused with a one-line error where
    packing cannot apply), auto off where it cannot apply, else (None, "") for the first batch to decide."""
    exclusion = packing_exclusion(batch_size, process_count, num_chunks)
    if pack is True and exclusion:
        raise UserError(f"config field 'pack': {exclusion}")
    if isinstance(pack, bool):
        return pack, f"pack: {str(pack).lower()} (the config)"
    return (False, f"pack auto: packing off ({exclusion})") if exclusion else (None, "")


def choose_packing(real_tokens: int, computed_positions: int, texts: int, max_seq_length: int) -> tuple[bool, str]:
    """(pack, why) for `pack: auto` from the first batch's counts, as padded (one text per row)."""
    efficiency = real_tokens / computed_positions
    mean_tokens = real_tokens / texts
    wasteful = efficiency < EFFICIENCY_BELOW
    short = mean_tokens <= max_seq_length / TEXTS_PER_ROW
    why = (f"pack auto: the first batch's padding efficiency {efficiency:.2f} ({'below' if wasteful else 'not below'} "
           f"{EFFICIENCY_BELOW}), {mean_tokens:.1f} tokens per text on average ({'at most' if short else 'over'} "
           f"max_seq_length / {TEXTS_PER_ROW} = {max_seq_length / TEXTS_PER_ROW:.1f})")
    return wasteful and short, f"{why}: packing {'on' if wasteful and short else 'off'}"
