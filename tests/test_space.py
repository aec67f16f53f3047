"""The Gradio Space, launched locally on all-MiniLM-L6-v2 and called through gradio_client like any API user."""

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from se1b.cli import build_parser
from se1b.errors import UserError
from spaces_demo import inputs, registry
from spaces_demo.app import build_demo, launch
from spaces_demo.launch import check_model_source
from spaces_demo.launch import main as demo_main

SPACE_DIR = Path(__file__).resolve().parents[1] / "spaces_demo"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def space(minilm_path):
    """(client, model labels): the app on 127.0.0.1 with the packaged model offered twice (two labels), so the
    side-by-side comparison has two columns."""
    models = registry.ModelRegistry([str(minilm_path), str(minilm_path)])
    demo = build_demo(models)
    _, url, _ = launch(demo, server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        yield Client(url, verbose=False), models.labels
    finally:
        demo.close()


def rows(table: dict) -> list[dict]:
    return [dict(zip(table["headers"], row, strict=True)) for row in table["data"]]


def test_similarity_scores_a_paraphrase_above_an_unrelated_sentence_for_each_model(space):
    client, labels = space
    texts = "The quarterly earnings report disappointed investors.\nA kitten is sleeping on the sofa."
    table, plot = client.predict("A cat naps on the couch.", texts, labels, api_name="/similarity")
    unrelated, paraphrase = rows(table)
    assert table["headers"] == ["text", *labels]
    for label in labels:
        assert paraphrase[label] > unrelated[label] + 0.3
    assert plot["type"] == "matplotlib" and plot["plot"].startswith("data:image/")


def test_qa_ranks_the_correct_answer_first(space):
    client, labels = space
    answers = (
        "The Eiffel Tower is in Paris.\n"
        "Water boils at 100 degrees Celsius at sea level.\n"
        "Penguins live mostly in the Southern Hemisphere."
    )
    table = client.predict("At what temperature does water boil?", answers, labels[0], api_name="/rank_answers")
    ranked = rows(table)
    assert [row["rank"] for row in ranked] == [1, 2, 3]
    assert ranked[0]["answer"] == "Water boils at 100 degrees Celsius at sea level."
    assert ranked[0]["score"] > ranked[1]["score"] >= ranked[2]["score"]


def test_search_returns_the_planted_nearest_item_first_from_an_uploaded_jsonl(space, tmp_path):
    client, labels = space
    planted = "The violinist tuned her instrument before the recital."
    distractors = [
        "The train leaves the station at noon.",
        "Add two cups of flour to the bowl.",
        "The server crashed after the update.",
        "Tulips bloom in early spring.",
    ]
    lines = [
        json.dumps({"body": text, "id": i}) for i, text in enumerate([*distractors[:2], planted, *distractors[2:]])
    ]
    lines += ["", json.dumps({"id": 99})]  # a blank line and a record without the text field: both counted
    corpus_file = tmp_path / "corpus.jsonl"
    corpus_file.write_text("\n".join(lines) + "\n", encoding="utf-8")

    info, table = client.predict(
        "Who got the violin ready for the concert?", handle_file(str(corpus_file)), "body", 3, labels[0],
        api_name="/search",
    )  # fmt: skip
    hits = rows(table)
    assert hits[0]["text"] == planted
    assert len(hits) == 3 and hits[0]["score"] > hits[1]["score"]
    assert info == "5 texts from corpus.jsonl; skipped: 1 blank, 1 without a 'body' field"


def test_search_uses_the_default_corpus_without_an_upload(space):
    client, labels = space
    info, table = client.predict("Which planet has rings of ice?", None, "text", 2, labels[0], api_name="/search")
    assert info.endswith("texts from the default corpus")
    assert rows(table)[0]["text"] == "Saturn's rings are made mostly of ice and rock."


def test_cluster_separates_two_topics_and_labels_them(space, tmp_path):
    client, labels = space
    cooking = ["Bake the cake for forty minutes.", "Chop the onions finely.", "Boil the potatoes in salted water.",
               "Fry the eggs in butter.", "Season the soup with pepper."]  # fmt: skip
    astronomy = ["The telescope observed a distant galaxy.", "Mars has two small moons.",
                 "The comet passed close to the Sun.", "Astronomers found a new exoplanet.",
                 "The Milky Way contains billions of stars."]  # fmt: skip
    corpus_file = tmp_path / "topics.txt"
    corpus_file.write_text("\n".join(cooking + astronomy), encoding="utf-8")

    info, plot, table = client.predict(handle_file(str(corpus_file)), "text", 2, labels[0], api_name="/cluster")
    clusters = rows(table)
    assert info == "10 texts from topics.txt"
    assert sorted(row["size"] for row in clusters) == [5, 5]
    central = {row["central text"] for row in clusters}
    assert len(central & set(cooking)) == 1 and len(central & set(astronomy)) == 1
    assert all(row["keywords"] for row in clusters)
    assert plot["type"] == "matplotlib"


def test_bias_set_gives_an_overall_share_and_per_occupation_data(space):
    client, labels = space
    overall, plot, per_occupation = client.predict(labels[:1], api_name="/bias_set")
    (summary,) = rows(overall)
    occupations = rows(per_occupation)
    share_column = f"{labels[0]}: stereotypical share"
    assert summary["model"] == labels[0] and summary["cases"] == 624
    assert 0.0 <= summary["stereotypical share"] <= 1.0
    assert len(occupations) == 52
    # Every occupation has the same number of cases, so the overall share is the mean of theirs.
    mean = sum(row[share_column] for row in occupations) / len(occupations)
    assert summary["stereotypical share"] == pytest.approx(mean, abs=1e-3)
    assert [row["percent women"] for row in occupations] == sorted(
        (r["percent women"] for r in occupations), reverse=True
    )
    assert plot["type"] == "matplotlib"


def test_bias_pair_reports_the_closer_proposition(space):
    client, labels = space
    table = client.predict(
        "The kitten sleeps in the sun.", "A small cat is sleeping.", "The bank raised interest rates.", labels,
        api_name="/bias_pair",
    )  # fmt: skip
    assert [row["closer"] for row in rows(table)] == ["A", "A"]
    assert all(row["sim(anchor, A)"] > row["sim(anchor, B)"] for row in rows(table))


@pytest.mark.parametrize(
    "endpoint, arguments, message",
    [
        ("/similarity", ("x" * 1001, "a text", "MODELS"), "source sentence has 1,001 characters; the limit is 1,000"),
        ("/similarity", ("a", "\n".join(["t"] * 33), "MODELS"), "texts to compare: 33 texts given; the limit is 32"),
        ("/similarity", ("a", "b", []), "choose at least one model"),
        (
            "/rank_answers",
            ("q", "ok\n" + "y" * 5000, "MODEL"),
            "candidate answers, line 2 has 5,000 characters; the limit is 1,000",
        ),
        ("/search", ("   ", None, "text", 5, "MODEL"), "query is empty"),
    ],
)
def test_oversized_or_empty_input_gets_the_limit_message(space, endpoint, arguments, message):
    client, labels = space
    arguments = [labels if a == "MODELS" else labels[0] if a == "MODEL" else a for a in arguments]
    with pytest.raises(AppError, match=message.replace("(", r"\(")):
        client.predict(*arguments, api_name=endpoint)
    # The server is still fine afterwards.
    assert rows(client.predict("a", "b", labels[:1], api_name="/similarity")[0])


def test_more_clusters_than_texts_is_refused(space, tmp_path):
    client, labels = space
    corpus_file = tmp_path / "three.txt"
    corpus_file.write_text("one\ntwo\nthree\n", encoding="utf-8")
    with pytest.raises(AppError, match="number of clusters must be between 2 and 3"):
        client.predict(handle_file(str(corpus_file)), "text", 5, labels[0], api_name="/cluster")


def test_too_many_models_and_too_large_a_corpus_are_refused(tmp_path, minilm_path):
    models = registry.ModelRegistry([str(minilm_path)] * 4)
    with pytest.raises(ValueError, match="4 models chosen; compare at most 3 at once"):
        inputs.check_models(models.labels)
    big = tmp_path / "big.txt"
    big.write_text("\n".join(f"text {i}" for i in range(inputs.MAX_CORPUS_TEXTS + 1)), encoding="utf-8")
    with pytest.raises(ValueError, match="big.txt: more than 2,000 texts; the limit is 2,000"):
        inputs.read_corpus(big)


def test_corpus_files_give_errors_naming_file_line_and_field(tmp_path):
    table = tmp_path / "table.csv"
    table.write_text("title,body\nfirst,Hello there\nsecond,\n", encoding="utf-8")
    corpus = inputs.read_corpus(table, "body")
    assert corpus.texts == ["Hello there"] and corpus.describe() == "1 texts from table.csv; skipped: 1 blank"
    with pytest.raises(ValueError, match=r"table.csv: no column 'text'; the columns are \['title', 'body'\]"):
        inputs.read_corpus(table, "text")
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "fine"}\n{"text": \n', encoding="utf-8")
    with pytest.raises(ValueError, match="broken.jsonl, line 2: not valid JSON"):
        inputs.read_corpus(broken)
    numbers = tmp_path / "numbers.jsonl"
    numbers.write_text('{"text": 3}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="numbers.jsonl, line 1: field 'text' is int, not text"):
        inputs.read_corpus(numbers)
    with pytest.raises(ValueError, match="unsupported file type .pdf"):
        inputs.read_corpus(tmp_path / "paper.pdf")


def test_model_list_comes_from_the_environment_then_models_txt(monkeypatch, minilm_path):
    monkeypatch.setenv(registry.MODELS_ENV_VAR, f" {minilm_path} , some-user/some-model ,")
    assert registry.configured_model_sources() == [str(minilm_path), "some-user/some-model"]
    assert registry.ModelRegistry().labels == ["all-MiniLM-L6-v2 (packaged)", "some-user/some-model"]
    monkeypatch.delenv(registry.MODELS_ENV_VAR)
    assert registry.configured_model_sources() == [registry.MINILM_HUB_ID]  # what models.txt lists


def test_the_minilm_hub_id_loads_offline_and_unknown_models_get_a_clear_error(minilm_path):
    models = registry.ModelRegistry([registry.MINILM_HUB_ID, "no-such-user/no-such-model"])
    assert models.encode(registry.MINILM_HUB_ID, ["hello"]).shape == (1, 384)
    with pytest.raises(ValueError, match="could not load model 'no-such-user/no-such-model'"):
        models.encode("no-such-user/no-such-model", ["hello"])
    with pytest.raises(ValueError, match="unknown model '/etc'"):
        models.encode("/etc", ["hello"])


def test_demo_command_refuses_a_missing_model_folder(tmp_path):
    with pytest.raises(UserError, match="no such model folder"):
        check_model_source(str(tmp_path / "missing"))
    with pytest.raises(UserError, match="not a sentence-transformers or Hugging Face model folder"):
        check_model_source(str(tmp_path))
    check_model_source("sentence-transformers/all-MiniLM-L6-v2")  # a Hub id is checked when loaded
    args = build_parser("demo").parse_args(["demo", "--models", str(tmp_path / "missing"), "some/model"])
    assert (args.host, args.port, args.share) == ("127.0.0.1", 7860, "no")
    with pytest.raises(UserError, match="no such model folder"):
        demo_main(args)


def test_space_folder_runs_standalone_without_the_rest_of_the_repo(tmp_path):
    """A copy of the folder alone builds the app as `python app.py` would, and never imports repo code."""
    space_copy = tmp_path / "space"
    shutil.copytree(SPACE_DIR, space_copy, ignore=shutil.ignore_patterns("__pycache__", "launch.py", "__init__.py"))
    check = (
        "import sys; import app; app.build_demo(); "
        "repo = [m for m in sys.modules if m.split('.')[0] in ('se1b', 'training', 'spaces_demo', "
        "'datasets_builders', 'model_cards')]; assert not repo, repo; print('standalone ok')"
    )
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-c", check], cwd=space_copy, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "standalone ok" in result.stdout


def test_a_server_path_cannot_be_read_through_the_upload_field(space):
    """Only files a user uploaded are readable. Raw HTTP, because gradio_client would upload a local path itself."""
    client, labels = space
    payload = {"path": str(SPACE_DIR / "default_corpus.txt"), "meta": {"_type": "gradio.FileData"}}
    answers = []
    for query in ("Saturn's rings", "Saturn's rings"):  # a server file, then no file: the control
        data = [query, payload if not answers else None, "text", 1, labels[0]]
        event = httpx.post(client.src + "gradio_api/call/search", json={"data": data}).json()["event_id"]
        answers.append(httpx.get(client.src + f"gradio_api/call/search/{event}", timeout=None).text)
    refused, control = answers
    assert "event: error" in refused and "Saturn" not in refused
    assert "event: complete" in control and "Saturn's rings are made mostly of ice and rock." in control


def test_space_readme_front_matter_matches_the_folder():
    import gradio
    import yaml

    _, front_matter, _ = (SPACE_DIR / "README.md").read_text(encoding="utf-8").split("---\n", 2)
    meta = yaml.safe_load(front_matter)
    assert meta["sdk"] == "gradio" and meta["sdk_version"] == gradio.__version__
    assert (SPACE_DIR / meta["app_file"]).is_file()
    assert {"title", "emoji", "colorFrom", "colorTo", "license", "datasets"} <= set(meta)
    assert registry.MINILM_HUB_ID in meta["models"]
    requirements = (SPACE_DIR / "requirements.txt").read_text(encoding="utf-8")
    packages = [line.split(">")[0].split("=")[0] for line in requirements.splitlines() if not line.startswith("#")]
    assert "sentence-transformers" in packages and "gradio" not in packages  # the Space's sdk_version pins gradio


def test_query_and_document_prompts_apply_when_the_model_defines_them(tmp_path, minilm_path):
    """Asymmetric models carry `query` / `document` prompts: the QA and search tabs encode with them."""
    with_prompts = tmp_path / "with-prompts"
    shutil.copytree(minilm_path, with_prompts)
    config_file = with_prompts / "config_sentence_transformers.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config["prompts"] = {"query": "query: ", "document": "passage: "}
    config_file.write_text(json.dumps(config), encoding="utf-8")
    models = registry.ModelRegistry([str(with_prompts)])
    (label,) = models.labels

    query, document, plain = (models.encode(label, ["boiling water"], role=r)[0] for r in ("query", "document", None))
    prefixed = models.encode(label, ["query: boiling water", "passage: boiling water"])
    assert label == "with-prompts"
    assert query == pytest.approx(prefixed[0], abs=1e-5) and document == pytest.approx(prefixed[1], abs=1e-5)
    assert float(query @ plain) < 0.999  # the prompt really changed the embedding
