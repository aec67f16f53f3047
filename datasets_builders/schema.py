"""The one schema every source is built into: anchor, positive and an optional hard negative."""

from __future__ import annotations

import datasets

FEATURES = datasets.Features(
    {
        "anchor": datasets.Value("string"),
        "positive": datasets.Value("string"),
        "negative": datasets.Value("string"),  # null where the source has no hard negative
    }
)
COLUMNS = tuple(FEATURES)
