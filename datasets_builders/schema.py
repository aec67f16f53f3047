"""The two schemas a source is built into: pairs (anchor, positive) or triplets (anchor, positive, negative).

A source's `arity` decides which: (2,) gives a pair config, (3,) a triplet config. A published config holds only the
columns of its kind (no all-null `negative` column), so every trainer reads it as it is; the kind is written in the
card's `dataset_info` features, which is what readers (our pipeline included) take the columns from.
"""

from __future__ import annotations

import datasets

PAIRS = "pairs"
TRIPLETS = "triplets"
KINDS = (PAIRS, TRIPLETS)

PAIR_FEATURES = datasets.Features({"anchor": datasets.Value("string"), "positive": datasets.Value("string")})
TRIPLET_FEATURES = datasets.Features(
    {
        "anchor": datasets.Value("string"),
        "positive": datasets.Value("string"),
        "negative": datasets.Value("string"),  # the hard negative: never null in a triplet config
    }
)


def kind_of(arity: tuple[int, ...] | list[int]) -> str:
    """The schema kind of a source's arity: (2,) -> "pairs", (3,) -> "triplets"."""
    arity = tuple(arity)
    if arity == (2,):
        return PAIRS
    if arity == (3,):
        return TRIPLETS
    raise ValueError(f"arity must be (2,) (pairs) or (3,) (triplets), got {arity}")


def features_for(kind: str) -> datasets.Features:
    """The `datasets.Features` of a kind."""
    if kind not in KINDS:
        raise ValueError(f"schema kind must be one of {KINDS}, got {kind!r}")
    return PAIR_FEATURES if kind == PAIRS else TRIPLET_FEATURES


def columns_for(kind: str) -> tuple[str, ...]:
    """The column names of a kind, in order."""
    return tuple(features_for(kind))
