"""Publishing builds as a Hub-native dataset repo folder: Parquet shards per config plus the README.md card.

Layout (what `load_dataset(folder_or_repo_id, config)` reads with no remote code):

    README.md                                        card; YAML `configs:` maps each config to its shards
    data/<config>/train-00000-of-00003.parquet       shards of at most `max_shard_bytes` of Arrow data each
    build_reports/<config>.json                      catalog facts, build statistics, examples (the card's input)

Publishing into a folder that already holds other configs adds (or replaces) only the configs given; the card is
rebuilt from every report in the folder, so it always describes all configs.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Sequence
from pathlib import Path

from tqdm.auto import tqdm

from datasets_builders.build import Build, load_build

DEFAULT_MAX_SHARD_BYTES = 256 * 1024 * 1024
REPORTS_DIR = "build_reports"
EXAMPLE_ROWS = 3


def publish(
    builds: Build | str | Path | Sequence[Build | str | Path],
    out_dir: str | Path,
    *,
    max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES,
    pretty_name: str | None = None,
    progress: bool = True,
) -> Path:
    """Write each build as config `<source name>` of the dataset repo folder `out_dir`, then (re)write its card.

    Args:
        builds: `Build` objects (from `build_source`) or build folders (from `se1b data build`).
        out_dir: the repo folder; created if missing; other configs already in it are kept.
        max_shard_bytes: upper bound on the Arrow bytes in one Parquet shard (Parquet files come out smaller).
        pretty_name: the card title; default: kept from an existing card, else derived from the configs.
        progress: show a progress bar per config.

    Returns the folder. Example:
        >>> publish(build_source("squad", ["squad_pairs.jsonl.gz"]), "hub/pairs")   # doctest: +SKIP
        >>> load_dataset("hub/pairs", "squad", split="train")                        # doctest: +SKIP
    """
    from model_cards.dataset_card import write_dataset_card

    if max_shard_bytes <= 0:
        raise ValueError("max_shard_bytes must be positive")
    items = [builds] if isinstance(builds, (Build, str, Path)) else list(builds)
    out = Path(out_dir)
    (out / REPORTS_DIR).mkdir(parents=True, exist_ok=True)
    for item in items:
        build = item if isinstance(item, Build) else load_build(item)
        _write_config(build, out, max_shard_bytes, progress)
    write_dataset_card(out, pretty_name=pretty_name)
    return out


def _write_config(build: Build, out: Path, max_shard_bytes: int, progress: bool) -> None:
    config = build.facts["name"]
    dataset = build.dataset
    arrow_bytes = dataset.data.nbytes
    num_shards = max(1, math.ceil(arrow_bytes / max_shard_bytes))
    # Write next to the old config, then swap, so an interrupted publish leaves the previous shards intact.
    staging = out / "data" / f".{config}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    shards = []
    for index in tqdm(range(num_shards), desc=f"publish {config}", unit=" shards", disable=not progress):
        name = f"train-{index:05d}-of-{num_shards:05d}.parquet"
        dataset.shard(num_shards, index, contiguous=True).to_parquet(str(staging / name))
        shards.append({"file": f"data/{config}/{name}", "bytes": (staging / name).stat().st_size})
    final = out / "data" / config
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    report = {
        "config": config,
        "source": build.facts,
        "stats": build.stats.to_dict(),
        "num_examples": len(dataset),
        "num_bytes": arrow_bytes,
        "download_size": sum(shard["bytes"] for shard in shards),
        "shards": shards,
        "examples": dataset.select(range(min(EXAMPLE_ROWS, len(dataset)))).to_list(),
    }
    (out / REPORTS_DIR / f"{config}.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
