"""Small Hub-format pair datasets written by the tests themselves: Parquet shards + README.md with `configs:`."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml


def write_hub_folder(folder: Path, configs: dict[str, list[dict[str, list]]], split: str = "train") -> Path:
    """configs: config name -> shards, each a dict of columns. Writes data/<config>/<split>-NNNNN-of-MMMMM.parquet."""
    card_configs = []
    for name, shards in configs.items():
        (folder / "data" / name).mkdir(parents=True, exist_ok=True)
        for i, columns in enumerate(shards):
            table = pa.table({name: pa.array(values, pa.string()) for name, values in columns.items()})
            pq.write_table(table, folder / "data" / name / f"{split}-{i:05d}-of-{len(shards):05d}.parquet",
                           row_group_size=100)
        card_configs.append({"config_name": name,
                             "data_files": [{"split": split, "path": f"data/{name}/{split}-*.parquet"}]})
    (folder / "README.md").write_text(f"---\n{yaml.safe_dump({'configs': card_configs})}---\n# test pairs\n")
    return folder


def pair_shards(prefix: str, rows: int, shards: int, *, negatives: bool | None = False, repeat_anchor: int = 1
                ) -> list[dict]:
    """`rows` pairs split over `shards`; anchors repeat `repeat_anchor` times (like several captions of one image).
    negatives: True: a hard negative per row (a triplet config); False: no negative column (a pair config, as
    `se1b data publish` writes it); None: a negative column of nulls (what publishes before pair configs dropped the
    column wrote)."""
    out = []
    for s in range(shards):
        ids = range(s * rows // shards, (s + 1) * rows // shards)
        columns = {"anchor": [f"{prefix} anchor {i // repeat_anchor}" for i in ids],
                   "positive": [f"{prefix} positive {i}" for i in ids]}
        if negatives is not False:
            columns["negative"] = [f"{prefix} negative {i}" if negatives else None for i in ids]
        out.append(columns)
    return out


def write_three_sources(root: Path) -> dict[str, Path]:
    """alpha: 1,000 pairs in 2 shards, each anchor 3 times; beta: 600 triplets in 1 shard; gamma: 300 pairs in 3
    shards."""
    return {
        "alpha": write_hub_folder(root / "alpha", {"default": pair_shards("alpha", 1000, 2, repeat_anchor=3)}),
        "beta": write_hub_folder(root / "beta", {"default": pair_shards("beta", 600, 1, negatives=True)}),
        "gamma": write_hub_folder(root / "gamma", {"default": pair_shards("gamma", 300, 3)}),
    }
