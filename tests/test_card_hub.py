"""What Hub users see of an exported model: no path of the machine anywhere in the folder, models and datasets named
by Hub id, snippets that load the repo id, results filed under what they really are, YAML the Hub accepts
(issue #15, point 2)."""

import json
import math
import os
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from huggingface_hub import ModelCard, ModelCardData

from model_cards.hub_rules import hub_card_problems
from model_cards.metadata import (
    LOCAL_FILE,
    LOCAL_FOLDER,
    DataSource,
    Evaluation,
    RunMetadata,
    TrainingInfo,
    public_reference,
)
from model_cards.model_card import LOSS_TABLE_ROWS, write_model_card
from se1b.cli import main
from training.model.tiny import minilm_folder
from training.publish.push import set_card_repo_id

WORDS = ["apple pear plum grape melon", "car bus train truck plane", "rain snow wind storm cloud"]


def front_matter(readme: Path) -> dict:
    return yaml.safe_load(readme.read_text().split("---\n")[1])


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> tuple[Path, list[str]]:
    """A 4-step run from the packaged all-MiniLM-L6-v2 on a local parquet folder with a local STS file; returns the
    exported folder and the absolute paths the run used."""
    root = tmp_path_factory.mktemp("run")
    rng = np.random.default_rng(0)
    rows = [(" ".join(rng.permutation(WORDS[i % 3].split())[:3]) + f" {i}",
             " ".join(rng.permutation(WORDS[i % 3].split())[:3]) + f" {i}") for i in range(64)]
    data = root / "pairs"
    (data / "data").mkdir(parents=True)
    pq.write_table(pa.table({"anchor": [a for a, _ in rows], "positive": [p for _, p in rows]}),
                   data / "data" / "train-00000.parquet")
    (data / "README.md").write_text("---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n"
                                    "    path: data/train-*.parquet\n---\n")
    sts = root / "sts" / "dev.tsv"
    sts.parent.mkdir()
    sts.write_text("sentence1\tsentence2\tscore\n" + "".join(
        f"{WORDS[i % 3].split()[i % 5]} {i}\t{WORDS[(i + i % 2) % 3].split()[(i + 2) % 5]}\t{5.0 * (i % 2)}\n"
        for i in range(16)))
    config = root / "train.json"
    config.write_text(json.dumps({
        "model": str(minilm_folder()), "data": {"sources": [{"name": "fruit", "path": str(data), "weight": 1}]},
        "output_dir": str(root / "out"), "batch_size": 8, "steps": 4, "learning_rate": 1e-4, "warmup_steps": 1,
        "max_seq_length": 16, "log_every": 1, "checkpoint_every": 4, "eval_sts": str(sts), "eval_every": 2,
        "model_name": "se1b-tiny-run",
    }))
    assert main(["train", str(config)]) == 0
    paths = {str(root), str(root.resolve()), str(minilm_folder()), str(minilm_folder().resolve()), str(data),
             str(sts), os.getcwd(), str(Path.home())}
    return root / "out" / "model", sorted(p for p in paths if len(p) > 1)


def test_no_path_of_the_machine_anywhere_in_the_exported_folder(tiny_run):
    model_dir, paths = tiny_run
    for file in model_dir.rglob("*"):
        if file.is_file():
            content = file.read_bytes()
            for path in paths + ["site-packages", "/tmp/"]:
                assert path.encode() not in content, f"{file.relative_to(model_dir)} holds {path}"


def test_tiny_run_card_names_the_base_by_hub_id_and_passes_the_hub_rules(tiny_run):
    model_dir, _ = tiny_run
    front = front_matter(model_dir / "README.md")
    assert hub_card_problems(front) == []
    ModelCardData(**front)  # huggingface_hub reads it (model-index -> eval results) without complaint
    assert front["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert "datasets" not in front  # the data is a local folder: nothing to claim
    assert "model-index" not in front  # the only result is on a local file
    text = (model_dir / "README.md").read_text()
    assert "[sentence-transformers/all-MiniLM-L6-v2](https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2)" \
        in text
    assert f"| fruit | {LOCAL_FOLDER} |" in text
    assert "measured by `se1b eval`" not in text and "in-loop evaluation" in text
    assert "Pearson" not in text and "nDCG" not in text and "Recall@100" not in text  # only Spearman is shown
    meta = json.loads((model_dir / "run_metadata.json").read_text())
    assert meta["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert meta["data"][0]["dataset"] == LOCAL_FOLDER
    assert meta["evaluations"][0]["dataset"] == LOCAL_FILE and meta["evaluations"][0]["dataset_name"] == "dev.tsv"


def test_snippets_load_the_repo_id_after_push_rewrites_them(tiny_run, tmp_path):
    import shutil

    folder = shutil.copytree(tiny_run[0], tmp_path / "model")
    assert 'SentenceTransformer("path/to/this/model")' in (folder / "README.md").read_text()
    assert set_card_repo_id(folder, "me/se1b-tiny-run")
    text = (folder / "README.md").read_text()
    assert 'SentenceTransformer("me/se1b-tiny-run")' in text
    assert 'AutoModel.from_pretrained("me/se1b-tiny-run")' in text and "path/to/this/model" not in text
    assert RunMetadata.load(folder / "run_metadata.json").repo_id == "me/se1b-tiny-run"


def carded(tmp_path: Path, evaluations: list[Evaluation], losses: list[float]) -> tuple[dict, str]:
    with (tmp_path / "metrics.jsonl").open("w") as lines:
        for step, loss in enumerate(losses, start=1):
            lines.write(json.dumps({"step": step, "loss": loss, "learning_rate": 1e-5}) + "\n")
    meta = RunMetadata(model_name="se1b-test", base_model="nreimers/MiniLM-L6-H384-uncased",
                       training=TrainingInfo(batch_size=8, steps=len(losses), pairs_seen=8 * len(losses)),
                       data=[DataSource(name="pairs", dataset="sentence-transformers/all-nli", pairs_seen=8)],
                       evaluations=evaluations)
    write_model_card(tmp_path, meta)
    return front_matter(tmp_path / "README.md"), (tmp_path / "README.md").read_text()


def test_model_index_files_each_result_under_its_real_task_and_hub_dataset(tmp_path):
    evaluations = [
        Evaluation(task="sts", dataset="sentence-transformers/stsb", metrics={"spearman": 0.81, "pearson": 0.8}),
        Evaluation(task="retrieval", dataset="scifact", dataset_name="scifact", metrics={"ndcg@10": 0.5}),
        Evaluation(task="gender-bias", dataset="se1b-gender-bias-occupations", dataset_name="bias",
                   metrics={"stereotypical_share": 0.6, "male_share": 0.5, "mean_gap": 0.01, "cases": 10},
                   details=[{"occupation": "nurse", "percent_women": 87, "stereotype": "female", "stereotypical": 6,
                             "cases": 10, "stereotypical_share": 0.6, "mean_gap": 0.01}]),
    ]
    front, text = carded(tmp_path, evaluations, [1.0, 0.9, 0.8])
    assert hub_card_problems(front) == []
    results = front["model-index"][0]["results"]
    assert [(r["task"]["type"], r["dataset"]["type"]) for r in results] == [
        ("sentence-similarity", "sentence-transformers/stsb")]  # local retrieval and the bias shares stay in text
    assert front["datasets"] == ["sentence-transformers/all-nli"]
    card = ModelCard.load(tmp_path / "README.md")
    assert {r.metric_type for r in card.data.eval_results} == {"spearman_cosine", "pearson_cosine"}
    assert "scifact" in text and "stereotypical proposition closer" in text
    assert "measured by `se1b eval`" in text  # these came from se1b eval (the default)


def test_loss_table_holds_the_largest_and_smallest_loss(tmp_path):
    losses = [2.0 + math.sin(i) for i in range(60)]
    losses[7], losses[33] = 9.5, 0.01  # extremes that an even spread of rows would miss
    _, text = carded(tmp_path, [], losses)
    rows = {int(step): float(loss) for step, loss in re.findall(r"^\| (\d+) \| (\d+\.\d{4}) \|", text, flags=re.M)}
    assert len(rows) == LOSS_TABLE_ROWS and {1, 60, 8, 34} <= set(rows)
    assert rows[8] == 9.5 and rows[34] == 0.01


def test_hub_rules_catch_what_the_hub_rejects():
    bad = {"license": "Apache 2.0", "pipeline_tag": "sentence_similarity", "language": ["English"],
           "base_model": "/tmp/x/model", "datasets": ["quickstart_data"],
           "model-index": [{"name": "m", "results": [{"task": {"type": "gender-bias"},
                                                      "dataset": {"type": "se1b-gender-bias-occupations"},
                                                      "metrics": []}]}]}
    problems = "\n".join(hub_card_problems(bad))
    for field in ("license", "pipeline_tag", "language", "base_model", "datasets", "task.type", "dataset.type",
                  "dataset.name", "metrics"):
        assert field in problems, field


def test_public_reference_never_gives_a_path(tmp_path):
    (tmp_path / "data.tsv").write_text("x")
    assert public_reference(str(tmp_path)) == LOCAL_FOLDER
    assert public_reference(str(tmp_path / "data.tsv")) == LOCAL_FILE
    assert public_reference("/gone/folder") == LOCAL_FOLDER
    assert public_reference("sentence-transformers/all-nli") == "sentence-transformers/all-nli"
    assert public_reference("/root/.cache/huggingface/hub/models--BAAI--bge-small-en/snapshots/abc") == \
        "BAAI/bge-small-en"
    assert public_reference("tiny-bert") == "tiny-bert"  # a random-init config name, no path
    assert public_reference(str(tmp_path), {str(tmp_path): "me/model"}) == "me/model"


def test_push_refuses_a_card_the_hub_would_reject(tiny_run, tmp_path, capsys):
    import shutil

    folder = shutil.copytree(tiny_run[0], tmp_path / "model")
    readme = folder / "README.md"
    readme.write_text(readme.read_text().replace("license: apache-2.0", "license: Apache 2.0"))
    assert main(["push", "model", str(folder), "--repo-id", "me/x", "--dry-run"]) == 2
    error = capsys.readouterr().err.strip()
    assert "license: 'Apache 2.0' is not a Hub licence id" in error and len(error.splitlines()) == 1
