"""The recipes in recipes/: every file loads with the project's own loaders, names only catalogued sources with
positive weights, and the 2021 mix is exactly the packaged all-MiniLM-L6-v2 data_config.json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from datasets_builders.registry import get_source
from training.data.pipeline import load_data_config
from training.loop.config import load_config

REPO = Path(__file__).resolve().parent.parent
TRAIN_RECIPES = sorted((REPO / "recipes" / "train").glob("*.yaml"))
DATA_RECIPES = sorted((REPO / "recipes" / "data").glob("*.yaml"))
DATA_FOR_KIND = {"general": "all_2021.yaml", "qa": "qa.yaml", "conversational": "conversational.yaml"}


def test_there_are_recipes_for_every_kind() -> None:
    assert {path.name for path in DATA_RECIPES} == set(DATA_FOR_KIND.values())
    kinds = {load_config(path).model_kind for path in TRAIN_RECIPES}
    assert kinds == set(DATA_FOR_KIND)


@pytest.mark.parametrize("path", DATA_RECIPES, ids=lambda p: p.name)
def test_data_recipe_names_catalogued_sources_with_positive_weights(path: Path) -> None:
    config = load_data_config(path)
    assert config.sources
    for source in config.sources:
        get_source(source.name)  # raises for a name the catalog does not know
        assert source.weight > 0
        assert source.path == f"published/{source.name}"


@pytest.mark.parametrize("path", TRAIN_RECIPES, ids=lambda p: p.name)
def test_train_recipe_is_the_2021_recipe_on_its_data(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # recipe paths are relative to the repository root, where the README runs them
    config = load_config(path)
    assert Path(config.data) == Path("recipes/data") / DATA_FOR_KIND[config.model_kind]
    load_data_config(config.data)
    assert config.model in ("nreimers/MiniLM-L6-H384-uncased", "microsoft/mpnet-base")
    recipe_2021 = dict(batch_size=1024, steps=100_000, learning_rate=2e-5, warmup_steps=500, schedule="linear",
                       grad_clip=1.0, scale=20.0, max_seq_length=128)
    assert {key: getattr(config, key) for key in recipe_2021} == recipe_2021
    assert config.symmetric == (config.model_kind != "qa")
    assert config.model_name and config.model_name in config.output_dir


def test_all_2021_reproduces_the_packaged_data_config(minilm_path: Path) -> None:
    rows = json.loads((minilm_path / "data_config.json").read_text())
    config = load_data_config(REPO / "recipes" / "data" / "all_2021.yaml")
    assert sum(s.weight for s in config.sources) == sum(row["weight"] for row in rows)
    assert sum(s.lines for s in config.sources) == sum(row["lines"] for row in rows)
    # each source's weight is the sum of the 2021 weights of the files the catalog assigns to it
    weight_of_file = {row["name"]: row["weight"] for row in rows}
    for source in config.sources:
        files = get_source(source.name).files_2021
        assert files
        assert source.weight == sum(weight_of_file[name] for name, _, _ in files)
    assigned = [name for s in config.sources for name, _, _ in get_source(s.name).files_2021]
    assert sorted(assigned) == sorted(weight_of_file)  # every 2021 file, once


def test_subsets_keep_the_2021_weights() -> None:
    full = {s.name: s.weight for s in load_data_config(REPO / "recipes" / "data" / "all_2021.yaml").sources}
    for name in ("qa.yaml", "conversational.yaml"):
        for source in load_data_config(REPO / "recipes" / "data" / name).sources:
            assert source.weight == full[source.name]


def test_generated_data_recipes_are_up_to_date() -> None:
    result = subprocess.run([sys.executable, str(REPO / "recipes" / "make_data_configs.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def write_fixture_sources(root: Path, names: list[str], rows: int = 24) -> None:
    """A Hub-format dataset folder per source (README.md `configs:` + one Parquet shard of (anchor, positive) pairs,
    as pair configs are published), with texts unique to the source so batches never hold duplicates."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for name in names:
        folder = root / name
        (folder / "data").mkdir(parents=True)
        table = pa.table({
            "anchor": [f"{name} question number {i}" for i in range(rows)],
            "positive": [f"the answer from {name} to question {i}" for i in range(rows)],
        })
        pq.write_table(table, folder / "data" / "train-00000-of-00001.parquet")
        (folder / "README.md").write_text(
            f"---\nconfigs:\n- config_name: {name}\n  data_files:\n  - split: train\n    path: data/*.parquet\n---\n"
        )


@pytest.mark.parametrize(
    "recipe, tiny_model",
    [("all-MiniLM-L6-v2.yaml", "tiny-bert"), ("qa-mpnet-base.yaml", "tiny-mpnet"),
     ("conversational-MiniLM-L6.yaml", "tiny-bert")],
)  # one training config per data recipe, both model families; the other configs differ only in their base model
def test_recipe_trains_and_its_sources_and_weights_reach_the_card(
    recipe: str, tiny_model: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The recipe scaled down (a tiny model of the base's family, 3 steps of 8 pairs) on fixture folders for all of
    its sources: it trains, and the run's card lists every source with its recipe weight."""
    import yaml

    from training.loop.train import train

    monkeypatch.chdir(REPO)
    overrides = [f"model={tiny_model}", "steps=3", "batch_size=8", "max_seq_length=32", "warmup_steps=1",
                 "precision=fp32", f"output_dir={tmp_path / 'run'}", "checkpoint_every=100", "log_every=1"]
    config = load_config(REPO / "recipes" / "train" / recipe, overrides)
    data = yaml.safe_load(Path(config.data).read_text())
    data["root"] = str(tmp_path / "published")
    write_fixture_sources(tmp_path / "published", [source["name"] for source in data["sources"]])
    config.data = data
    out = train(config)

    metadata = json.loads((out / "run_metadata.json").read_text())
    assert metadata["model_kind"] == config.model_kind
    assert metadata["training"]["symmetric"] == config.symmetric
    assert [(row["name"], row["weight"]) for row in metadata["data"]] == [
        (source["name"], source["weight"]) for source in data["sources"]
    ]
    assert sum(row["pairs_seen"] for row in metadata["data"]) == 3 * 8
    card = (out / "README.md").read_text()
    for source in data["sources"]:
        assert source["name"] in card
