"""End to end: a tiny model trained in the test, evaluated with `se1b eval`, carded with `se1b card`; the card holds
that run's step count, losses and evaluation numbers."""

import json
import re

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from huggingface_hub import ModelCard

from model_cards.metadata import RunMetadata, read_metrics
from se1b.cli import main

STEPS = 8
WORDS = ["apple pear plum grape melon", "car bus train truck plane", "rain snow wind storm cloud"]


def write_run_inputs(root):
    rng = np.random.default_rng(0)
    anchors, positives = [], []
    for i in range(STEPS * 8 * 2):
        words = WORDS[i % 3].split()
        anchors.append(" ".join(rng.permutation(words)[:3]) + f" {i}")
        positives.append(" ".join(rng.permutation(words)[:3]) + f" {i}")
    folder = root / "pairs"
    (folder / "data").mkdir(parents=True)
    pq.write_table(pa.table({"anchor": anchors, "positive": positives}), folder / "data" / "train-00000.parquet")
    (folder / "README.md").write_text("---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n"
                                      "    path: data/train-*.parquet\n---\n")
    sts = root / "sts" / "dev.tsv"
    sts.parent.mkdir()
    rows = [f"{WORDS[i % 3].split()[i % 5]} {WORDS[i % 3].split()[(i + 1) % 5]}\t"
            f"{WORDS[(i + i % 2) % 3].split()[(i + 2) % 5]}\t{5.0 if i % 2 == 0 else 0.0}" for i in range(24)]
    sts.write_text("sentence1\tsentence2\tscore\n" + "\n".join(rows) + "\n")
    config = root / "train.json"
    config.write_text(json.dumps({
        "model": "tiny-bert", "data": {"sources": [{"name": "fruit-vehicles-weather", "path": str(folder),
                                                    "weight": 1}]},
        "output_dir": str(root / "run"), "batch_size": 8, "steps": STEPS, "learning_rate": 1e-3, "warmup_steps": 2,
        "max_seq_length": 16, "log_every": 1, "checkpoint_every": STEPS, "eval_sts": str(sts), "eval_every": 4,
        "model_name": "se1b/tiny-test",
    }))
    return config, sts


@pytest.mark.slow
def test_trained_run_card_holds_its_numbers(tmp_path):
    config, sts = write_run_inputs(tmp_path)
    assert main(["train", str(config)]) == 0
    model_dir = tmp_path / "run" / "model"
    results = tmp_path / "results.json"
    assert main(["eval", str(model_dir), "--sts", str(sts), "--bias", "--output", str(results)]) == 0
    assert main(["card", str(model_dir), "--evaluations", str(results)]) == 0

    text = (model_dir / "README.md").read_text()
    card = ModelCard.load(model_dir / "README.md")
    metadata = RunMetadata.load(model_dir / "run_metadata.json")
    logged = [row for row in read_metrics(model_dir / "metrics.jsonl") if "loss" in row]
    assert metadata.training.steps == STEPS and logged[-1]["step"] == STEPS
    assert f"| training steps | {STEPS} |" in text
    assert f"({STEPS} steps of 8 pairs)" in text
    for step, loss in re.findall(r"^\| (\d+) \| (\d+\.\d{4}) \|", text, flags=re.M):
        assert float(loss) == pytest.approx(next(r["loss"] for r in logged if r["step"] == int(step)), abs=5e-5)
    assert len(re.findall(r"^\| (\d+) \| (\d+\.\d{4}) \|", text, flags=re.M)) == STEPS  # every logged step

    evaluated = json.loads(results.read_text())["evaluations"]
    # The local STS file is filed in the model-index under its file name (as sentence-transformers files its
    # evaluators); the bias shares are no task on a dataset: the text holds them.
    sts_result = next(e for e in evaluated if e["task"] == "sts")
    filed = {(r.task_type, r.metric_type, r.metric_value) for r in card.data.eval_results}
    assert {("sentence-similarity", "spearman_cosine", sts_result["metrics"]["spearman"]),
            ("sentence-similarity", "pearson_cosine", sts_result["metrics"]["pearson"])} <= filed
    assert all("/" not in r.dataset_type for r in card.data.eval_results)  # file names, never paths
    assert f"| spearman | {sts_result['metrics']['spearman']:.4f} |" in text
    bias_result = next(e for e in evaluated if e["task"] == "gender-bias")
    assert bias_result["metrics"]["cases"] == sum(row["cases"] for row in bias_result["details"]) >= 40 * 10
    bias = bias_result["metrics"]
    assert f"{bias['stereotypical_share'] * 100:.1f}% of {bias['cases']} cases" in text
    assert not card.data.datasets and card.data.base_model is None  # local data, random init: nothing to claim
    assert "from `tiny-bert`" in text
    for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text):
        assert (model_dir / link).read_bytes()[:4] == b"\x89PNG"
    assert (model_dir / "plots" / "evaluation.png").is_file()  # the trainer logged STS every 4 steps
