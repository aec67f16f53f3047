"""Tests read what they published, never a `datasets` cache entry of another test or run (conftest.datasets_cache)."""

import datasets
import pytest

ROWS = [{"anchor": "Ada Lovelace wrote the first program.", "positive": "Carl Friedrich Gauss proved many theorems."}]
SWAPPED = [{"anchor": row["positive"], "positive": row["anchor"]} for row in ROWS]
CARD = """---
configs:
- config_name: pairs
  data_files:
  - split: train
    path: data/pairs/train-*
dataset_info:
- config_name: pairs
  features:
  - name: anchor
    dtype: string
  - name: positive
    dtype: string
  splits:
  - name: train
    num_examples: 1
---
"""


# The two runs publish folders of the same name and card whose rows differ only in which text is the anchor: the
# cache key `load_dataset` gives a local folder is the same for both, so the second run would read the first's rows
# from a shared cache (as test_miner_sources_build_publish_and_load_in_both_modes once read another run's rows).
@pytest.mark.parametrize("rows", [ROWS, SWAPPED], ids=["ada_first", "gauss_first"])
def test_load_dataset_reads_the_folder_published_in_this_test(tmp_path, rows):
    hub = tmp_path / "hub"
    (hub / "data" / "pairs").mkdir(parents=True)
    datasets.Dataset.from_list(rows).to_parquet(str(hub / "data" / "pairs" / "train-00000-of-00001.parquet"))
    (hub / "README.md").write_text(CARD)
    assert datasets.load_dataset(str(hub), "pairs", split="train").to_list() == rows
