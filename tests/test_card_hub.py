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

from model_cards.hub_rules import hub_card_problems, hub_card_warnings
from model_cards.metadata import (
    LOCAL_FILE,
    LOCAL_FOLDER,
    DataSource,
    Evaluation,
    RunMetadata,
    TrainingInfo,
    public_reference,
)
from model_cards.model_card import LOSS_TABLE_ROWS, training_arguments, write_model_card
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
    (data / "README.md").write_text(  # the data's own card: its licence, languages and citation reach the model card
        "---\nlicense: cc-by-4.0\nlanguage:\n- en\n- code\ndataset_info:\n  splits:\n  - name: train\n"
        "    num_examples: 64\nconfigs:\n- config_name: default\n  data_files:\n"
        "  - split: train\n    path: data/train-*.parquet\n---\n\n## Citation\n\n```bibtex\n@misc{fruit2024,\n"
        "  title = {Fruit pairs}\n}\n```\n")
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
    # the only result is on a local file: filed under the file's name, as sentence-transformers files its evaluators
    assert [r["dataset"]["type"] for r in front["model-index"][0]["results"]] == ["dev.tsv"]
    assert front["language"] == ["en", "code"]  # from the data's card, not a default
    assert {"dense", "dataset_size:64", "loss:MultipleNegativesRankingLoss"} <= set(front["tags"])
    assert "general" not in front["tags"]
    widget = front["widget"][0]  # built from training rows
    assert widget["source_sentence"].endswith(" 0") and len(widget["sentences"]) == 3
    text = (model_dir / "README.md").read_text()
    assert "[sentence-transformers/all-MiniLM-L6-v2](https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2)" \
        in text
    assert f"| fruit | {LOCAL_FOLDER} |" in text
    assert "measured by `se1b eval`" not in text and "in-loop evaluation" in text
    assert "Pearson" not in text and "nDCG" not in text and "Recall@100" not in text  # only Spearman is shown
    assert "| fruit | a local folder |  | 32 | 1.0 | 100.00% | cc-by-4.0 |" in text  # the data card's licence
    assert "@misc{fruit2024," in text  # and its citation
    meta = json.loads((model_dir / "run_metadata.json").read_text())
    assert meta["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert meta["data"][0]["dataset"] == LOCAL_FOLDER
    assert meta["evaluations"][0]["dataset"] == LOCAL_FILE and meta["evaluations"][0]["dataset_name"] == "dev.tsv"


def test_card_shows_what_sentence_transformers_reports_of_the_model_and_the_data(tiny_run):
    from sentence_transformers import SentenceTransformer

    model_dir, _ = tiny_run
    text = (model_dir / "README.md").read_text()
    model = SentenceTransformer(str(model_dir), device="cpu")
    assert f"```\n{model}\n```" in text  # the architecture printout, as sentence-transformers prints it
    assert f"- **Maximum Sequence Length:** {model.max_seq_length} tokens" in text and "trained at 16" in text
    assert "base model 256" in text  # all-MiniLM-L6-v2's own max_seq_length beside the trained one
    assert f"- **Output Dimensionality:** {model.get_embedding_dimension()} dimensions" in text
    assert "- Size: 64 training samples; 32 seen in this run" in text and "- Columns: `anchor`, `positive`" in text
    assert "min: " in text and " tokens, mean: " in text  # token-length statistics per column
    assert "`per_device_train_batch_size` | `8`" in text and "`max_steps` | `4`" in text
    assert "### Training Time" in text
    # the usage snippet's expected output is what the exported model gives
    meta = RunMetadata.load(model_dir / "run_metadata.json")
    sentences = meta.usage_example["sentences"]
    assert len(sentences) == 3 and sentences[0].endswith(" 0")  # texts of the training data
    similarities = model.similarity(*(2 * [model.encode(sentences)])).numpy()
    np.testing.assert_allclose(similarities, meta.usage_example["similarities"], atol=2e-3)
    assert f"# tensor([[{', '.join(f'{v:.4f}' for v in meta.usage_example['similarities'][0])}]," in text


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
        ("sentence-similarity", "sentence-transformers/stsb"), ("information-retrieval", "scifact")
    ]  # every evaluation, local data too, as sentence-transformers files them; the bias shares stay in the text
    assert front["datasets"] == ["sentence-transformers/all-nli"]
    card = ModelCard.load(tmp_path / "README.md")
    assert {r.metric_type for r in card.data.eval_results} == {"spearman_cosine", "pearson_cosine", "ndcg_at_10"}
    assert "scifact" in text and "stereotypical proposition closer" in text
    assert "measured by `se1b eval`" in text  # these came from se1b eval (the default)


def test_loss_table_holds_the_largest_and_smallest_loss(tmp_path):
    losses = [2.0 + math.sin(i) for i in range(60)]
    losses[7], losses[33] = 9.5, 0.01  # extremes that an even spread of rows would miss
    _, text = carded(tmp_path, [], losses)
    rows = {int(step): float(loss) for step, loss in re.findall(r"^\| (\d+) \| (\d+\.\d{4}) \|", text, flags=re.M)}
    assert len(rows) == LOSS_TABLE_ROWS and {1, 60, 8, 34} <= set(rows)
    assert rows[8] == 9.5 and rows[34] == 0.01


def test_hub_rules_refuse_what_the_hub_refuses_and_warn_about_the_rest():
    bad = {"license": "Apache 2.0", "pipeline_tag": "sentence_similarity", "datasets": [{"name": "x"}],
           "model-index": [{"name": "m", "results": [{"task": {"type": "gender-bias"}, "dataset": {"type": "bias"},
                                                      "metrics": []}]}]}
    problems = "\n".join(hub_card_problems(bad))
    for field in ("license", "pipeline_tag", "datasets", "dataset.name", "metrics"):
        assert field in problems, field
    assert "task.type" not in problems  # the Hub files any task type (MTEB cards use "Classification")
    accepted = {"language": ["English"], "base_model": "/tmp/x/model", "datasets": ["s2orc", "ms_marco"]}
    assert hub_card_problems(accepted) == []
    warnings = "\n".join(hub_card_warnings(accepted))
    assert "'s2orc', 'ms_marco'" in warnings and "base_model" in warnings and "language" in warnings


# Front matter of popular embedding models' public cards, written out field by field (a few results of each
# model-index): none of them may be refused.
MTEB_RESULT = {"task": {"type": "Classification"},
               "dataset": {"type": "mteb/amazon_counterfactual",
                           "name": "MTEB AmazonCounterfactualClassification (en)", "config": "en", "split": "test",
                           "revision": "e8379541af4e31359cca9fbcf4b00f2671dba205"},
               "metrics": [{"type": "accuracy", "value": 74.8}, {"type": "ap", "value": 37.1},
                           {"type": "f1", "value": 68.5}]}
REAL_CARDS = {
    "sentence-transformers/all-mpnet-base-v2": {
        "language": "en", "license": "apache-2.0", "library_name": "sentence-transformers",
        "tags": ["sentence-transformers", "feature-extraction", "sentence-similarity", "transformers"],
        "datasets": ["s2orc", "flax-sentence-embeddings/stackexchange_xml", "ms_marco", "gooaq",
                     "yahoo_answers_topics", "code_search_net", "search_qa", "eli5", "snli", "multi_nli", "wikihow",
                     "natural_questions",
                     "trivia_qa", "embedding-data/sentence-compression", "embedding-data/flickr30k-captions",
                     "embedding-data/altlex", "embedding-data/simple-wiki", "embedding-data/QQP",
                     "embedding-data/SPECTER", "embedding-data/PAQ_pairs", "embedding-data/WikiAnswers"],
        "pipeline_tag": "sentence-similarity"},
    "BAAI/bge-small-en-v1.5": {
        "tags": ["sentence-transformers", "feature-extraction", "sentence-similarity", "transformers", "mteb"],
        "model-index": [{"name": "bge-small-en-v1.5", "results": [MTEB_RESULT]}], "license": "mit",
        "language": ["en"]},
    "BAAI/bge-m3": {"pipeline_tag": "feature-extraction", "tags": ["sentence-transformers", "feature-extraction",
                                                                  "sentence-similarity"], "license": "mit"},
    "intfloat/multilingual-e5-large": {
        "language": ["multilingual", "af", "am", "ar", "as", "az", "zh"], "license": "mit",
        "tags": ["mteb", "Sentence Transformers", "sentence-similarity", "sentence-transformers"],
        "model-index": [{"name": "multilingual-e5-large", "results": [
            {"task": {"type": "BitextMining"},
             "dataset": {"type": "mteb/tatoeba-bitext-mining", "name": "MTEB Tatoeba (afr-eng)", "config": "afr-eng",
                         "split": "test", "revision": "9080400076fbadbb4c4dcb136ff4eddc40b42553"},
             "metrics": [{"type": "accuracy", "value": 89.1}, {"type": "f1", "value": 86.4}]}]}]},
    "nomic-ai/nomic-embed-text-v1.5": {
        "library_name": "sentence-transformers", "pipeline_tag": "sentence-similarity",
        "tags": ["feature-extraction", "sentence-similarity", "mteb", "transformers", "transformers.js"],
        "inference": False, "license": "apache-2.0", "language": ["en"],
        "model-index": [{"name": "epoch_0_model", "results": [MTEB_RESULT]}]},
    "Alibaba-NLP/gte-large-en-v1.5": {
        "datasets": ["allenai/c4"], "library_name": "transformers",
        "tags": ["sentence-transformers", "gte", "mteb", "transformers.js", "sentence-similarity"],
        "license": "apache-2.0", "language": ["en"],
        "model-index": [{"name": "gte-large-en-v1.5", "results": [
            {"task": {"type": "Retrieval"},
             "dataset": {"type": "mteb/arguana", "name": "MTEB ArguAna", "config": "default", "split": "test",
                         "revision": "c22ab2a51041ffd869aaddef7af8d8215647e41a"},
             "metrics": [{"type": "map_at_1", "value": 47.297}, {"type": "ndcg_at_10", "value": 72.6}]}]}]},
}


@pytest.mark.parametrize("model", sorted(REAL_CARDS))
def test_real_cards_of_popular_embedding_models_are_accepted(model):
    assert hub_card_problems(REAL_CARDS[model]) == []
    ModelCardData(**REAL_CARDS[model])  # huggingface_hub reads them too


def test_push_accepts_the_packaged_all_minilm_card_and_warns_about_legacy_ids(tmp_path, capsys):
    import shutil

    folder = shutil.copytree(minilm_folder(), tmp_path / "minilm")  # README.md: the card the Hub serves
    assert main(["push", "model", str(folder), "--repo-id", "me/minilm", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "warning:" in out and "'s2orc'" in out and "nothing was sent" in out


def test_push_refuses_a_bad_pipeline_tag_in_one_line(tiny_run, tmp_path, capsys):
    import shutil

    folder = shutil.copytree(tiny_run[0], tmp_path / "model")
    readme = folder / "README.md"
    readme.write_text(readme.read_text().replace("pipeline_tag: sentence-similarity", "pipeline_tag: embeddings"))
    assert main(["push", "model", str(folder), "--repo-id", "me/x", "--dry-run"]) == 2
    error = capsys.readouterr().err.strip()
    assert "pipeline_tag: 'embeddings' is not a Hub pipeline tag" in error and len(error.splitlines()) == 1


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


def test_hub_source_card_gives_the_model_card_its_licence_citation_and_datasets(tmp_path, monkeypatch):
    """A Hub dataset published by se1b, as the Hub cache holds it after training read it (offline here)."""
    import huggingface_hub.constants

    from model_cards.source_facts import dataset_facts

    snapshot = tmp_path / "hub" / "datasets--me--stdlib-pairs" / "snapshots" / ("a" * 40)
    (snapshot / "build_reports").mkdir(parents=True)
    (tmp_path / "hub" / "datasets--me--stdlib-pairs" / "refs").mkdir()
    (tmp_path / "hub" / "datasets--me--stdlib-pairs" / "refs" / "main").write_text("a" * 40)
    (snapshot / "README.md").write_text("---\nlicense: other\nconfigs:\n- config_name: stdlib\n  default: true\n"
                                        "  data_files: data/stdlib/train-*\n---\n# pairs\n")
    source = {"license": "other", "license_name": "psf-2.0", "license_link": "https://docs.python.org/3/license.html",
              "citation": "@misc{python_stdlib,\n  title = {The Python Standard Library}\n}",
              "language": ["en", "code"]}
    (snapshot / "build_reports" / "stdlib.json").write_text(json.dumps({"source": source, "num_examples": 1200}))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    facts = dataset_facts("me/stdlib-pairs")  # the default config's build report
    assert (facts["license"], facts["license_name"], facts["rows"]) == ("other", "psf-2.0", 1200)
    assert facts["languages"] == ["en", "code"] and facts["citation"].startswith("@misc{python_stdlib")
    assert dataset_facts("me/not-cached")["license"] == "unknown"  # unreadable: said so, never invented

    meta = RunMetadata(model_name="m", metrics_file=None, languages=["en", "code"],
                       data=[DataSource(name="stdlib", dataset="me/stdlib-pairs", pairs_seen=64, **facts)])
    write_model_card(tmp_path, meta)
    front, text = front_matter(tmp_path / "README.md"), (tmp_path / "README.md").read_text()
    assert front["datasets"] == ["me/stdlib-pairs"] and "dataset_size:1200" in front["tags"]
    assert "| stdlib | [me/stdlib-pairs](https://huggingface.co/datasets/me/stdlib-pairs) |  | 64 | 1.0 | 100.00% " \
        "| psf-2.0 |" in text
    assert "@misc{python_stdlib," in text and "unknown" not in text.split("## Training data")[1].split("##")[0]


def test_usage_snippet_uses_encode_query_and_document_where_the_model_has_prompts(tmp_path):
    example = {"sentences": ["how do I sort a list?", "def sort(xs):\n    return sorted(xs)", "def add(a, b): ..."],
               "similarities": [[1.0, 0.61, 0.12], [0.61, 1.0, 0.3], [0.12, 0.3, 1.0]],
               "prompts": {"query": "query: ", "document": "passage: "}}
    meta = RunMetadata(model_name="me/m", metrics_file=None, usage_example=example, embedding_dimension=384)
    text = write_model_card(tmp_path, meta).read_text()
    snippet = text.split("## Usage (Sentence-Transformers)")[1].split("```python")[1].split("```")[0]
    assert "model.encode_query(queries)" in snippet and "model.encode_document(documents)" in snippet
    assert "'def sort(xs):\\n    return sorted(xs)'," in snippet  # the text as a Python literal, line break kept
    assert "# tensor([[0.6100, 0.1200]])" in snippet  # the query against each document
    front = front_matter(tmp_path / "README.md")
    # the prompts under the TrainingArguments name, keyed by the columns they were put in front of
    assert dict(training_arguments(meta))["prompts"] == {"anchor": "query: ", "positive": "passage: "}
    assert front["widget"][0]["source_sentence"]  # no training rows: the model kind's fixed example
