"""What a Hub user gets from `se1b data publish`: pair configs with (anchor, positive), triplet configs with
(anchor, positive, negative), a default config, a card that passes the Hub's metadata rules and holds no local
path, and data that sentence-transformers' own trainer trains on as loaded."""

import gzip
import json
from pathlib import Path

import datasets
import pytest
import torch
import yaml
from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
from sentence_transformers.losses import MultipleNegativesRankingLoss

from datasets_builders import build_source
from datasets_builders.publishing import publish
from model_cards.hub_rules import dataset_card_problems
from training.model.tiny import write_tiny_model

pytestmark = pytest.mark.usefixtures("ray_session")  # builds run on Ray Data: one instance for all tests

# one catalogued source of each kind, in its real raw format: squad lists [question, passage], allnli
# [premise, entailment, contradiction]
KINDS = {"squad": ("pairs", 2), "allnli": ("triplets", 3)}


def write_raw(folder: Path, name: str, texts: int) -> Path:
    path = folder / f"{name}.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        for i in range(24):
            row = [f"{name} question {i} about topic {i % 7}", f"{name} answer {i} on topic {i % 7}",
                   f"{name} unrelated text {i}"]
            handle.write(json.dumps(row[:texts]) + "\n")
    return path


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("published")
    builds = [build_source(name, [write_raw(root, name, texts)], progress=False) for name, (_, texts) in KINDS.items()]
    return publish(builds, root / "hub", default_config="squad", progress=False)


def test_each_config_has_the_columns_of_its_kind_and_the_default_loads_without_a_name(published):
    for name, (kind, texts) in KINDS.items():
        rows = datasets.load_dataset(str(published), name, split="train")
        assert rows.column_names == ["anchor", "positive", "negative"][:texts]
        assert len(rows) == 24 and all(all(row.values()) for row in rows)  # no null anywhere
        report = json.loads((published / "build_reports" / f"{name}.json").read_text())
        assert report["kind"] == kind
    assert datasets.load_dataset(str(published), split="train")["anchor"][0] == "squad question 0 about topic 0"


def test_card_passes_the_hub_rules_and_holds_no_local_path(published):
    card = (published / "README.md").read_text()
    metadata = yaml.safe_load(card.split("---\n")[1])
    assert dataset_card_problems(metadata) == []
    assert [c["config_name"] for c in metadata["configs"] if c.get("default")] == ["squad"]
    assert {i["config_name"]: [f["name"] for f in i["features"]] for i in metadata["dataset_info"]} == {
        "squad": ["anchor", "positive"], "allnli": ["anchor", "positive", "negative"]}
    assert "loads `squad` (pairs)" in card and "| `allnli` | triplets | anchor, positive, negative |" in card
    root = str(published.parent)
    for path in published.rglob("*"):
        if path.is_file() and path.suffix in (".md", ".json"):
            assert root not in path.read_text(), f"{path.name} holds a local path"


def test_the_rules_catch_what_the_hub_rejects():
    good = {"license": "mit", "task_categories": ["sentence-similarity"], "size_categories": ["n<1K"],
            "language": ["en"],
            "configs": [{"config_name": "a", "data_files": [{"split": "train", "path": "data/a/*"}]}],
            "dataset_info": [{"config_name": "a", "features": [{"name": "anchor", "dtype": "string"}],
                              "splits": [{"name": "train", "num_examples": 1}]}]}
    assert dataset_card_problems(good) == []
    two = [{"config_name": n, "data_files": [{"split": "train", "path": f"data/{n}/*"}]} for n in "ab"]
    bad = {
        "license": ["mit", "psf"],  # not a Hub id
        "task_categories": ["sentence-embedding"],
        "size_categories": ["1K-10K"],
        "language": ["English"],
        "configs": two,  # two configs, no default
        "pretty_name": "pairs from /home/me/data/raw",
    }
    problems = "\n".join(dataset_card_problems(bad))
    for expected in ("'psf' is not a Hub licence id", "'sentence-embedding' is not a Hub task id",
                     "size_categories", "'English' is not an ISO 639 code", "`default: true`",
                     "dataset_info: no entry for config 'a'", "pretty_name: holds a local path"):
        assert expected in problems, expected
    other = dataset_card_problems(good | {"license": "other"})
    assert any("license_name" in p for p in other) and any("license_link" in p for p in other)


@pytest.mark.parametrize("name", list(KINDS))
def test_sentence_transformers_trainer_trains_on_every_config_kind(published, tmp_path, name):
    """A few steps of sentence-transformers' own trainer with MultipleNegativesRankingLoss on the config exactly as
    `load_dataset` returns it (the all-null negative column of older publishes crashed its constructor)."""
    model = SentenceTransformer(str(write_tiny_model(tmp_path / "tiny")), device="cpu")
    before = [p.detach().clone() for p in model.parameters()]
    train = datasets.load_dataset(str(published), name, split="train")
    args = SentenceTransformerTrainingArguments(
        output_dir=str(tmp_path / "out"), max_steps=3, per_device_train_batch_size=8, learning_rate=1e-3,
        report_to="none", save_strategy="no", logging_steps=1, use_cpu=True, seed=0,
    )
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=train,
                                         loss=MultipleNegativesRankingLoss(model))
    result = trainer.train()
    assert result.global_step == 3
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 3 and all(loss > 0 for loss in losses)
    assert any(not torch.equal(a, b.detach()) for a, b in zip(before, model.parameters(), strict=True))


def test_push_rewrites_the_dataset_card_snippet_to_load_the_repo(published, tmp_path, capsys):
    import shutil

    from training.publish.push import publish, set_card_repo_id

    folder = shutil.copytree(published, tmp_path / "hub")
    assert 'load_dataset("path/to/this/folder", split="train")' in (folder / "README.md").read_text()
    assert publish("dataset", folder, "me/pairs", dry_run=True) is None  # the Python API: same checks, nothing sent
    assert "rewritten to load 'me/pairs'" in capsys.readouterr().out
    assert set_card_repo_id(folder, "me/pairs", "dataset")
    text = (folder / "README.md").read_text()
    assert 'load_dataset("me/pairs", split="train")' in text and "path/to/this/folder" not in text
    assert 'load_dataset("me/pairs", "' in text  # the by-name line too
    rows = datasets.load_dataset(str(folder), split="train")  # the rewritten card still loads the default config
    assert len(rows) == 24


def test_training_sources_carry_the_licence_citation_and_size_of_their_own_card(published):
    from training.data.pipeline import PairPipeline

    pipeline = PairPipeline({"sources": [{"name": "squad", "path": str(published), "config": "squad"}]},
                            global_batch_size=4)
    (row,) = pipeline.card_sources()
    pipeline.close()
    source = json.loads((published / "build_reports" / "squad.json").read_text())["source"]
    assert (row["license"], row["citation"], row["languages"]) == (source["license"], source["citation"],
                                                                   source["language"])
    assert row["rows"] == 24 and row["columns"] == ["anchor", "positive"] and len(row["samples"]) == 3
