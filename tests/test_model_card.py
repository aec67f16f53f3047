"""Model cards carry the run's real numbers, parse as Hub cards, link existing plots, and their usage code runs."""

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from huggingface_hub import ModelCard

from model_cards.metadata import DataSource, Evaluation, RunMetadata, TrainingInfo, framework_versions, read_metrics
from model_cards.model_card import write_model_card
from se1b.errors import UserError
from spaces_demo.gender_bias import evaluate_gender_bias

STEPS = 240


def realistic_run(model_dir: Path, model_name: str = "se1b/minilm-l6-pairs") -> RunMetadata:
    """A run as the trainer records it: metadata plus a metrics.jsonl with loss, learning rate and eval lines."""
    rng = np.random.default_rng(7)
    with (model_dir / "metrics.jsonl").open("w") as lines:
        for step in range(5, STEPS + 1, 5):
            lr = 2e-5 * min(1.0, step / 24) * (1 - max(0, step - 24) / (STEPS - 24))
            lines.write(json.dumps({"step": step, "loss": 2.5 * math.exp(-step / 90) + 0.05 * rng.random(),
                                    "learning_rate": lr, "pairs_per_second": 40.0 + rng.random()}) + "\n")
            if step % 80 == 0:
                lines.write(json.dumps({"step": step, "eval/stsb/spearman": 0.6 + step / 2000}) + "\n")
    bias = evaluate_gender_bias(lambda texts: np.random.default_rng(len(texts)).normal(size=(len(texts), 16)))
    return RunMetadata(
        model_name=model_name,
        base_model="nreimers/MiniLM-L6-H384-uncased",
        model_kind="general",
        languages=["en"],
        license="apache-2.0",
        training=TrainingInfo(batch_size=64, steps=STEPS, learning_rate=2e-5, warmup_steps=24, weight_decay=0.01,
                              grad_clip=1.0, max_seq_length=64, precision="bfloat16", gradcache_chunk=16, seed=3,
                              hardware="CPU (2 cores)", devices=1, processes=1, wall_time_seconds=3723.4,
                              pairs_seen=STEPS * 64),
        data=[
            DataSource(name="sgd_dialogue", dataset="se1b/sgd-dialogue", config="pairs", weight=3,
                       pairs_seen=11_520, license="cc-by-sa-4.0"),
            DataSource(name="flickr8k", dataset="se1b/flickr8k-captions", weight=1, pairs_seen=3_840,
                       license="research-only", citation="Hodosh et al. 2013, JAIR 47"),
        ],
        evaluations=[
            Evaluation(task="sts", dataset="sentence-transformers/stsb", dataset_name="STSb", split="validation",
                       step=120, metrics={"spearman": 0.6612, "pearson": 0.6501}),
            Evaluation(task="sts", dataset="sentence-transformers/stsb", dataset_name="STSb", split="validation",
                       metrics={"spearman": 0.7134, "pearson": 0.7021, "pairs": 1500}),
            Evaluation(task="retrieval", dataset="scifact:test", split="test",
                       metrics={"ndcg@10": 0.4123, "mrr@10": 0.3811, "recall@100": 0.8012, "queries": 300}),
            Evaluation(task="gender-bias", dataset="se1b-gender-bias-occupations", dataset_name="bias", split="test",
                       metrics=bias.overall, details=bias.per_occupation),
        ],
        framework_versions=framework_versions(),
    )


@pytest.fixture
def model_dir(tmp_path):
    from training.model.tiny import write_tiny_model

    return write_tiny_model(tmp_path / "model")


def table_rows(text: str, heading: str) -> list[list[str]]:
    """The cells of the first markdown table after `heading`."""
    section = text.split(heading, 1)[1]
    rows = []
    for line in section.splitlines()[1:]:
        if rows and not line.startswith("|"):
            break
        if line.startswith("|") and not line.startswith("|--") and not line.startswith("|:"):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows[1:]  # without the header


def test_card_holds_the_runs_numbers_and_parses_as_a_hub_card(model_dir):
    metadata = realistic_run(model_dir)
    readme = write_model_card(model_dir, metadata)
    text = readme.read_text()
    card = ModelCard.load(readme)

    # YAML metadata: every field the Hub reads
    data = card.data.to_dict()
    assert data["language"] == ["en"] and data["license"] == "apache-2.0"
    assert data["library_name"] == "sentence-transformers" and data["pipeline_tag"] == "sentence-similarity"
    assert {"sentence-transformers", "sentence-similarity", "jax"} <= set(data["tags"])
    assert data["datasets"] == ["se1b/sgd-dialogue", "se1b/flickr8k-captions"]
    assert data["base_model"] == "nreimers/MiniLM-L6-H384-uncased"
    assert data["widget"][0]["source_sentence"] and len(data["widget"][0]["sentences"]) >= 2
    results = {(r.dataset_type, r.metric_type): r.metric_value for r in card.data.eval_results}
    bias = metadata.evaluations[3].metrics
    assert card.data.model_name == "se1b/minilm-l6-pairs"
    # the final evaluation only (the step-120 one is a curve point), exact values; local data is filed under its own
    # name as sentence-transformers files its evaluators; the bias shares are no task of a dataset: the text has them
    assert results == {
        ("sentence-transformers/stsb", "spearman_cosine"): 0.7134,
        ("sentence-transformers/stsb", "pearson_cosine"): 0.7021,
        ("scifact:test", "ndcg_at_10"): 0.4123, ("scifact:test", "mrr_at_10"): 0.3811,
        ("scifact:test", "recall_at_100"): 0.8012,
    }
    assert "general" not in data["tags"] and {"dense", "loss:MultipleNegativesRankingLoss"} <= set(data["tags"])

    # training procedure: every hyperparameter, read back
    hyper = dict(table_rows(text, "## Training procedure"))
    assert hyper["training steps"] == str(STEPS)
    assert hyper["global batch size (pairs)"] == "64" and hyper["learning rate"] == "2e-05"
    assert hyper["warmup steps"] == "24" and hyper["precision"] == "bfloat16" and hyper["GradCache chunk"] == "16"
    assert hyper["max sequence length"] == "64" and hyper["seed"] == "3" and hyper["hardware"] == "CPU (2 cores)"
    assert hyper["wall time (h:mm:ss)"] == "1:02:03" and hyper["pairs seen"] == f"{STEPS * 64:,}"
    assert hyper["gradient clipping (global norm)"] == "1.0" and hyper["weight decay"] == "0.01"

    # loss values: the card's table matches metrics.jsonl at those steps, first and last step included
    logged = {row["step"]: row for row in read_metrics(model_dir / "metrics.jsonl") if "loss" in row}
    log_rows = table_rows(text, "### Training Logs")
    loss_rows = [row[:3] for row in log_rows if row[1] != "-"]  # rows with only an evaluation show "-" as loss
    assert int(loss_rows[0][0]) == min(logged) and int(loss_rows[-1][0]) == STEPS
    evaluated = {row["step"]: row for row in read_metrics(model_dir / "metrics.jsonl") if "eval/stsb/spearman" in row}
    header = text.split("### Training Logs", 1)[1].split("\n")[2]
    assert "stsb/spearman" in header  # the evaluation metric per step, as sentence-transformers' logs show it
    column = [cell.strip() for cell in header.strip("|").split("|")].index("stsb/spearman")
    assert {int(row[0]): row[column] for row in log_rows if row[column] != "-"} == {
        step: f"{row['eval/stsb/spearman']:.4f}" for step, row in evaluated.items()}
    for step, loss, lr in loss_rows:
        assert float(loss) == pytest.approx(logged[int(step)]["loss"], abs=5e-5)
        assert float(lr) == pytest.approx(logged[int(step)]["learning_rate"], rel=5e-3, abs=1e-12)

    # training data table
    sources = {row[0]: row for row in table_rows(text, "## Training data")}
    assert sources["sgd_dialogue"][3:] == ["11,520", "3", "75.00%", "cc-by-sa-4.0"]
    assert sources["flickr8k"][3:] == ["3,840", "1", "25.00%", "research-only"]

    # evaluation tables
    sts = dict(table_rows(text, "### Semantic Textual Similarity: STSb (validation)"))
    assert (sts["spearman"], sts["pearson"], sts["pairs"]) == ("0.7134", "0.7021", "1,500")
    retrieval = dict(table_rows(text, "### Information Retrieval: scifact:test (test)"))
    assert (retrieval["ndcg@10"], retrieval["mrr@10"], retrieval["recall@100"]) == ("0.4123", "0.3811", "0.8012")

    # bias section: overall share, interpretation and all occupations
    assert f"{bias['stereotypical_share'] * 100:.1f}% of {bias['cases']} cases" in text
    assert "**Interpretation:**" in text
    assert len(table_rows(text, "<summary>Per occupation")) == len(metadata.evaluations[3].details)

    # plots: linked, present, real PNGs
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(links) == 2
    for link in links:
        assert (model_dir / link).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    for heading in ("## Usage (Sentence-Transformers)", "## Usage (Hugging Face Transformers)",
                    "## Intended uses and limitations", "## Framework versions", "## Citation"):
        assert heading in text
    assert "reimers-2019-sentence-bert" in text and "1705.00652" in text and "Hodosh et al. 2013" in text
    assert f"- jax: {metadata.framework_versions['jax']}" in text


def test_usage_snippets_in_the_card_run_and_agree(tmp_path, minilm_path):
    """Both usage examples, run as written (with the model name pointing at all-MiniLM-L6-v2), give the same
    embeddings."""
    model_dir = tmp_path / "card"
    model_dir.mkdir()
    text = write_model_card(model_dir, RunMetadata(model_name="me/minilm", metrics_file=None)).read_text()
    blocks = re.findall(r"```python\n(.*?)```", text.replace('"me/minilm"', f'"{minilm_path}"'), flags=re.S)
    assert len(blocks) == 2
    outputs = []
    for block in blocks:
        namespace: dict = {"print": lambda *args: None}
        exec(block, namespace)  # noqa: S102 - the card's own example code
        outputs.append(np.asarray(namespace["embeddings"]))
    assert outputs[0].shape == (2, 384)
    assert np.allclose(outputs[0], outputs[1], atol=1e-5)


def test_se1b_card_regenerates_from_saved_metadata(model_dir, tmp_path):
    from se1b.cli import main

    metadata = realistic_run(model_dir)
    metadata.save(model_dir / "run_metadata.json")
    assert main(["card", str(model_dir)]) == 0
    first = (model_dir / "README.md").read_text()
    assert first == write_model_card(model_dir).read_text()  # the same card from the saved files alone
    assert (model_dir / "plots" / "training_loss.png").is_file()
    assert "| training steps | 240 |" in first and "0.7134" in first

    results = tmp_path / "results.json"
    new = Evaluation(task="sts", dataset="mteb/sickr-sts", dataset_name="SICK-R", split="test",
                     metrics={"spearman": 0.6543, "pearson": 0.6789})
    from dataclasses import asdict

    results.write_text(json.dumps({"model": str(model_dir), "evaluations": [asdict(new)]}))
    assert main(["card", str(model_dir), "--evaluations", str(results)]) == 0
    card = ModelCard.load(model_dir / "README.md")
    assert ("mteb/sickr-sts", "spearman_cosine", 0.6543) in {
        (r.dataset_type, r.metric_type, r.metric_value) for r in card.data.eval_results}
    assert RunMetadata.load(model_dir / "run_metadata.json").evaluations[-1] == new


def test_bad_metadata_is_a_one_line_error(model_dir, capsys):
    from se1b.cli import main

    assert main(["card", str(model_dir)]) == 2
    assert "run_metadata.json: no run metadata here" in capsys.readouterr().err
    raw = json.loads(json.dumps(realistic_run(model_dir), default=vars))
    raw["training"]["stepz"] = 3
    (model_dir / "run_metadata.json").write_text(json.dumps(raw))
    with pytest.raises(UserError, match=r"run_metadata.json: training: unknown field 'stepz'"):
        RunMetadata.load(model_dir / "run_metadata.json")
    (model_dir / "metrics.jsonl").write_text('{"step": 1, "loss": 2.0}\n{"loss": 1.0}\n')
    with pytest.raises(UserError, match=r"metrics.jsonl: line 2: expected an object with an integer 'step'"):
        read_metrics(model_dir / "metrics.jsonl")


def test_metadata_round_trips_through_json(tmp_path):
    metadata = realistic_run(tmp_path)
    path = metadata.save(tmp_path / "out" / "run_metadata.json")
    assert RunMetadata.load(path) == metadata


def test_local_evaluation_files_are_named_without_machine_paths(tmp_path):
    sts_file = tmp_path / "stsb" / "dev.tsv"
    sts_file.parent.mkdir()
    sts_file.write_text("sentence1\tsentence2\tscore\n")
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    metadata = RunMetadata(model_name="m", metrics_file=None, evaluations=[
        Evaluation(task="sts", dataset=str(sts_file), split="dev", step=10, metrics={"spearman": 0.5})])
    card = ModelCard.load(write_model_card(model_dir, metadata))
    # a local file is filed in the model-index under its file name, never its path
    assert [(r.dataset_type, r.dataset_name) for r in card.data.eval_results] == [("dev.tsv", "dev.tsv")]
    assert "### Semantic Textual Similarity: dev.tsv (dev, step 10)" in card.text
    assert str(tmp_path) not in card.text and "stsb/" not in card.content
