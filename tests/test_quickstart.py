"""The quickstart main job, scaled down: data build -> publish -> streaming weighted training -> eval -> export
-> card, offline; and the shipped raw files are exactly what the project's generator writes."""

import json

import numpy as np
import yaml
from datasets import load_dataset
from sentence_transformers import SentenceTransformer

from se1b.cli import main as se1b
from training.quickstart.run import QUICKSTART_SOURCES, STS_FILE
from training.quickstart.synthetic import DATA_DIR, generate


def test_shipped_raw_files_match_the_generator():
    for name, content in generate().items():
        assert (DATA_DIR / name).read_bytes() == content, f"{name} differs: rerun training.quickstart.synthetic"


def test_scaled_down_quickstart_end_to_end(tmp_path, capsys):
    out = tmp_path / "qs"
    assert se1b(["quickstart", "--out", str(out), "--base", "tiny-bert", "--steps", "30", "--batch-size", "16"]) == 0
    printed = capsys.readouterr().out

    # The published dataset loads the way users load it from the Hub, one config per source.
    dataset_dir = out / "datasets" / "se1b-quickstart-pairs"
    for name, _, _ in QUICKSTART_SOURCES:
        rows = load_dataset(str(dataset_dir), name, split="train")
        assert len(rows) > 1000 and set(rows.column_names) == {"anchor", "positive", "negative"}

    # Training improved the held-out STS score over the untrained start.
    history = [json.loads(line) for line in (out / "run" / "metrics.jsonl").read_text().splitlines()]
    sts = [(row["step"], row["eval/sts/spearman"]) for row in history if "eval/sts/spearman" in row]
    assert sts[0][0] == 0 and sts[-1][0] == 30
    assert sts[-1][1] > sts[0][1] + 0.1, sts
    losses = [row["loss"] for row in history if "loss" in row]
    assert losses[-1] < losses[0]

    # The exported model loads in sentence-transformers and ranks a held-out paraphrase above an unrelated pair.
    model_dir = out / "run" / "model"
    model = SentenceTransformer(str(model_dir), device="cpu")
    first_line = STS_FILE.read_text().splitlines()[1].split("\t")
    embeddings = model.encode([first_line[0], first_line[1], "How difficult is it to wash a mug?"])
    assert float(first_line[2]) == 5.0
    assert embeddings[0] @ embeddings[1] > embeddings[0] @ embeddings[2]

    # The card carries this run's numbers: steps, final STS score, the three sources and their weights.
    card = (model_dir / "README.md").read_text()
    metadata = yaml.safe_load(card.split("---")[1])
    assert metadata["library_name"] == "sentence-transformers"
    run = json.loads((model_dir / "run_metadata.json").read_text())
    assert run["training"]["steps"] == 30
    evaluations = {evaluation["task"]: evaluation for evaluation in run["evaluations"]}
    final = evaluations["sts"]["metrics"]["spearman"]
    assert np.isclose(final, sts[-1][1])
    assert f"| spearman | {final:.4f} |" in card
    # The held-out STS file is local data, not a Hub dataset: the card's text has it, the model-index does not.
    assert "model-index" not in metadata
    for file in model_dir.rglob("*"):  # no path of this machine anywhere in what would be pushed
        assert not file.is_file() or str(tmp_path).encode() not in file.read_bytes(), file
    assert "gender-bias" in evaluations and "No bias evaluation was recorded" not in card
    for name, _, weight in QUICKSTART_SOURCES:
        assert f"| {name} |" in card and f"| {float(weight)} |" in card
    assert f"se1b demo --models {model_dir}" in printed


def test_quickstart_refuses_to_overwrite(tmp_path, capsys):
    (tmp_path / "qs").mkdir()
    (tmp_path / "qs" / "mine.txt").write_text("keep")
    assert se1b(["quickstart", "--out", str(tmp_path / "qs"), "--base", "tiny-bert", "--steps", "1"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "qs" / "mine.txt").read_text() == "keep"
