"""The Gradio Space, launched locally on all-MiniLM-L6-v2 and called through gradio_client like any API user."""

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from se1b import cli
from se1b.cli import build_parser
from se1b.errors import UserError
from spaces_demo import inputs, registry
from spaces_demo.app import SpaceTabs, build_demo, cluster_keywords, launch
from spaces_demo.cache import BoundedCache
from spaces_demo.launch import check_model_source, server_address
from spaces_demo.launch import main as demo_main

SPACE_DIR = Path(__file__).resolve().parents[1] / "spaces_demo"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def space(minilm_path):
    """(client, model labels): the app on 127.0.0.1 with the packaged model offered twice (two labels: the Hub id,
    then numbered), so the side-by-side comparison has two columns."""
    models = registry.ModelRegistry([str(minilm_path), str(minilm_path)])
    demo = build_demo(models)
    _, url, _ = launch(demo, server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        yield Client(url, verbose=False), models.labels
    finally:
        demo.close()


def rows(table: dict) -> list[dict]:
    return [dict(zip(table["headers"], row, strict=True)) for row in table["data"]]


def plot_points(plot: dict) -> list[dict]:
    """A native plot's points as dicts (what the browser draws)."""
    return [dict(zip(plot["columns"], row, strict=True)) for row in plot["data"]]


def test_similarity_scores_a_paraphrase_above_an_unrelated_sentence_for_each_model(space):
    client, labels = space
    texts = "The quarterly earnings report disappointed investors.\nA kitten is sleeping on the sofa."
    table, plot = client.predict("A cat naps on the couch.", texts, labels, api_name="/similarity")
    unrelated, paraphrase = rows(table)
    assert labels == [registry.MINILM_HUB_ID, f"{registry.MINILM_HUB_ID} (2)"]
    assert table["headers"] == [*labels, "text"]  # scores first: a long text never hides them
    for label in labels:
        assert paraphrase[label] > unrelated[label] + 0.3
    # The chart is data the browser draws (no image rendered on the server): one point per (text, model).
    points = plot_points(plot)
    legend = ["all-MiniLM-L6-v2", "all-MiniLM-L6-v2 (2)"]  # short enough for the plot's legend, still distinct
    assert sorted((p["model"], p["text"][:12]) for p in points) == [
        (name, text) for name in legend for text in ("1. The quart", "2. A kitten ")
    ]
    assert {p["cosine similarity"] for p in points if p["model"] == legend[0]} == {
        unrelated[labels[0]],
        paraphrase[labels[0]],
    }


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
    points = plot_points(plot)
    assert len(points) == 10 and len({p["cluster"] for p in points}) == 2


def test_api_names_every_output_and_the_corpus_is_optional(space):
    client, labels = space
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert set(endpoints) >= {"/similarity", "/rank_answers", "/search", "/cluster", "/bias_set", "/bias_pair"}
    for name, endpoint in endpoints.items():
        assert [r["label"] for r in endpoint["returns"] if r["label"].startswith("value_")] == [], name
    assert [r["label"] for r in endpoints["/cluster"]["returns"]] == ["corpus", "cluster plot", "Clusters"]
    for name in ("/search", "/cluster"):
        (corpus,) = [p for p in endpoints[name]["parameters"] if p["parameter_name"] == "corpus_file"]
        assert corpus["parameter_has_default"] and corpus["parameter_default"] is None, name
    # Called as view_api documents it: without a corpus, the default corpus is searched.
    description, _ = client.predict("How do I bake bread at home?", api_name="/search")
    assert "default corpus" in description


def test_bias_set_gives_an_overall_share_and_per_occupation_data(space):
    client, labels = space
    overall, plot, per_occupation = client.predict(labels[:1], api_name="/bias_set")
    (summary,) = rows(overall)
    occupations = rows(per_occupation)
    share_column = labels[0]  # one column per model, named by the model
    assert summary["model"] == labels[0] and summary["cases"] == 624
    # Percent with one decimal, as the model card prints it (72.1 %), not a fraction.
    assert 0.0 <= summary["stereotypical share (%)"] <= 100.0 and summary["stereotypical share (%)"] > 1.0
    assert round(summary["stereotypical share (%)"], 1) == summary["stereotypical share (%)"]
    assert len(occupations) == 52
    # Every occupation has the same number of cases, so the overall share is the mean of theirs (each rounded).
    mean = sum(row[share_column] for row in occupations) / len(occupations)
    assert summary["stereotypical share (%)"] == pytest.approx(mean, abs=0.1)
    assert [row["percent women"] for row in occupations] == sorted(
        (r["percent women"] for r in occupations), reverse=True
    )
    points = plot_points(plot)
    assert len(points) == 52 and {p["model"] for p in points} == {"all-MiniLM-L6-v2"}
    assert {p["occupation"]: p["stereotypical share (%)"] for p in points} == {
        row["occupation"]: row[share_column] for row in occupations
    }


def test_bias_set_shows_every_chosen_model_in_its_own_column(space):
    client, labels = space
    _, plot, per_occupation = client.predict(labels, api_name="/bias_set")
    assert per_occupation["headers"] == ["occupation", "percent women", *labels]
    assert {p["model"] for p in plot_points(plot)} == {"all-MiniLM-L6-v2", "all-MiniLM-L6-v2 (2)"}


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
    assert registry.ModelRegistry().labels == [registry.MINILM_HUB_ID, "some-user/some-model"]
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
    assert (args.host, args.port, args.share) == (None, None, "no")
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
    assert {"title", "emoji", "colorFrom", "colorTo", "license", "python_version"} <= set(meta)
    assert "datasets" not in meta  # the app reads no Hub dataset: linking one would mislead
    assert registry.MINILM_HUB_ID in meta["models"]
    requirements = (SPACE_DIR / "requirements.txt").read_text(encoding="utf-8")
    lines = [line for line in requirements.splitlines() if line and not line.startswith("#")]
    packages = [line.split(">")[0].split("=")[0] for line in lines if not line.startswith("-")]
    assert "sentence-transformers" in packages and "gradio" not in packages  # the Space's sdk_version pins gradio
    # torch from the CPU wheel index (PyPI's Linux torch is the CUDA build), named before what pulls it in.
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in lines
    assert packages.index("torch") < packages.index("sentence-transformers")


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
    assert label == "all-MiniLM-L6-v2"  # the name its card's heading gives, not the folder's
    assert query == pytest.approx(prefixed[0], abs=1e-5) and document == pytest.approx(prefixed[1], abs=1e-5)
    assert float(query @ plain) < 0.999  # the prompt really changed the embedding


def test_demo_serves_on_gradio_environment_variables_unless_flags_say_otherwise(monkeypatch):
    monkeypatch.delenv("GRADIO_SERVER_NAME", raising=False)
    monkeypatch.delenv("GRADIO_SERVER_PORT", raising=False)
    assert server_address(None, None) == ("127.0.0.1", 7860)
    monkeypatch.setenv("GRADIO_SERVER_NAME", "0.0.0.0")
    monkeypatch.setenv("GRADIO_SERVER_PORT", "8123")
    assert server_address(None, None) == ("0.0.0.0", 8123)
    assert server_address("127.0.0.2", 9000) == ("127.0.0.2", 9000)  # flags win
    monkeypatch.setenv("GRADIO_SERVER_PORT", "eighty")
    with pytest.raises(UserError, match="GRADIO_SERVER_PORT='eighty': not a port number"):
        server_address(None, None)
    assert server_address(None, 7000) == ("0.0.0.0", 7000)  # a flag makes the bad variable irrelevant


def write_card(folder: Path, card: str | None = None, metadata: dict | None = None) -> str:
    folder.mkdir(parents=True)
    if card is not None:
        (folder / "README.md").write_text(card, encoding="utf-8")
    if metadata is not None:
        (folder / "run_metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
    return str(folder)


def test_models_are_labelled_by_their_own_name_not_their_folder(tmp_path):
    """Exported folders are all called `model`: the label comes from the card's model-index, the run metadata or
    the card's heading; two folders of one name are numbered."""
    sources = [
        write_card(tmp_path / "a" / "model", "---\nmodel-index:\n- name: se1b-minilm-a\n  results: []\n---\n# x\n"),
        write_card(tmp_path / "b" / "model", metadata={"model_name": "se1b-quickstart"}),
        write_card(tmp_path / "c" / "model", "---\nlicense: mit\n---\n\n# My tuned MiniLM\n\nText.\n"),
        write_card(tmp_path / "d" / "model", "---\nmodel-index:\n- name: se1b-minilm-a\n---\n"),
        write_card(tmp_path / "e" / "plain-folder"),
        "some-user/some-model",
    ]
    labels = registry.ModelRegistry(sources).labels
    assert labels == [
        "se1b-minilm-a", "se1b-quickstart", "My tuned MiniLM", "se1b-minilm-a (2)", "plain-folder",
        "some-user/some-model",
    ]  # fmt: skip


def test_bounded_cache_evicts_by_entries_and_by_bytes():
    cache = BoundedCache(max_entries=3, max_bytes=10_000)
    for key in range(5):
        cache.put(key, np.zeros(100, dtype=np.float32))  # 400 bytes each
    assert len(cache) == 3 and cache.get(0) is None and cache.get(4) is not None
    cache.get(2)  # recently used: survives the next evictions
    cache.put("big", np.zeros(2_400, dtype=np.float32))  # 9,600 bytes: evicts until the total fits
    assert cache.get(2) is not None and cache.get("big") is not None and cache.bytes <= 10_000
    assert len(cache) == 2 and cache.get(4) is None
    too_big = np.zeros(5_000, dtype=np.float32)
    assert cache.put("too big", too_big) is too_big and cache.get("too big") is None  # returned, never kept
    assert cache.get_or_compute("new", lambda: "computed") == "computed" and cache.get("new") == "computed"


def test_space_caches_stay_within_their_bounds_whatever_visitors_send(minilm_path):
    models = registry.ModelRegistry([str(minilm_path)])
    tabs = SpaceTabs(models)
    (label,) = models.labels
    models.corpus_cache.max_entries = 2
    tabs.cluster_cache.max_entries = 3
    tabs.cluster_cache.max_bytes = 20_000
    for number in range(5):
        texts = [f"text {number} about topic {i}" for i in range(12)]
        models.corpus_embeddings(label, texts)
        tabs._corpus = lambda *_, texts=texts: inputs.Corpus(texts, "test")  # noqa: SLF001
        for k in (2, 3):
            tabs.cluster(None, "text", k, label)
    assert len(models.corpus_cache) == 2
    assert models.corpus_cache.bytes <= models.corpus_cache.max_bytes
    assert 1 <= len(tabs.cluster_cache) <= 3 and tabs.cluster_cache.bytes <= 20_000
    assert registry.CORPUS_CACHE_BYTES <= 64 * 2**20  # the defaults are bounded too


def test_cluster_keywords_are_distinct_words_of_each_cluster(minilm_path):
    models = registry.ModelRegistry([str(minilm_path)])
    (label,) = models.labels
    cooking = ["Bake the cake in the oven for forty minutes.", "Chop the onions and fry them in butter.",
               "Boil the potatoes in salted water.", "Whisk the eggs before you bake the bread.",
               "Season the soup with pepper and salt."]  # fmt: skip
    space = ["The telescope observed a distant galaxy.", "Mars has two small moons.",
             "The comet passed close to the Sun.", "Astronomers found a new planet near a distant star.",
             "The galaxy contains billions of stars."]  # fmt: skip
    texts = cooking + space
    assignments = np.array([0] * 5 + [1] * 5)
    embeddings = models.encode(label, texts)
    centroids = np.vstack([embeddings[:5].mean(axis=0), embeddings[5:].mean(axis=0)])
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    for keywords in (
        cluster_keywords(texts, assignments, 2),
        cluster_keywords(texts, assignments, 2, encode=lambda words: models.encode(label, words), centroids=centroids),
    ):
        words = [set(line.split(", ")) for line in keywords]
        assert all(len(group) == 3 for group in words) and not words[0] & words[1]
        assert not {"the", "and", "in", "a"} & (words[0] | words[1])  # stop words never label a cluster
        for group, members in zip(words, (cooking, space), strict=True):
            assert all(any(word in text.lower() for text in members) for word in group)


@pytest.mark.parametrize(
    "endpoint, arguments, message",
    [
        ("/similarity", ("a", "b", ["no-such-model"]), "Value: 'no-such-model'"),
        ("/search", ("q", None, "text", 999, "MODEL"), "999"),
    ],
)
def test_component_validation_errors_are_one_message_without_a_server_traceback(
    space, capfd, endpoint, arguments, message
):
    client, labels = space
    arguments = [labels[0] if a == "MODEL" else a for a in arguments]
    capfd.readouterr()
    with pytest.raises(AppError, match=message):
        client.predict(*arguments, api_name=endpoint)
    _, err = capfd.readouterr()
    assert "Traceback" not in err


def test_space_push_leaves_the_local_launcher_out(capsys):
    assert cli.main(["push", "space", str(SPACE_DIR), "--repo-id", "me/demo", "--dry-run"]) == 0
    plan = capsys.readouterr().out
    assert "app.py" in plan and "gender_bias.py" in plan
    assert "launch.py" not in plan.split("nothing was sent")[0].split("dry run:")[1]


def test_texts_encoded_before_come_from_the_bounded_text_cache(minilm_path):
    models = registry.ModelRegistry([str(minilm_path)])
    (label,) = models.labels
    sent: list[list[str]] = []
    queue = models._queues[label]  # noqa: SLF001
    submit = queue.submit
    queue.submit = lambda texts, role: sent.append(list(texts)) or submit(texts, role)
    first = models.encode(label, ["A man plays guitar.", "The market fell.", "A man plays guitar."])
    assert sent == [["A man plays guitar.", "The market fell."]]  # a text repeated in one request: encoded once
    again = models.encode(label, ["The market fell.", "A new sentence.", "A man plays guitar."])
    assert sent[1:] == [["A new sentence."]]  # only the text not seen before reaches the encoder
    np.testing.assert_array_equal(again[[0, 2]], first[[1, 0]])
    np.testing.assert_allclose(again[1], models.encode(label, ["A new sentence.", "x"])[0], atol=1e-5)
    models.encode(label, ["A man plays guitar."], role="query")  # another role: its own entry
    assert sent[-1] == ["A man plays guitar."]
    models.text_cache.max_entries = 2
    models.encode(label, [f"text number {i}" for i in range(5)])
    assert len(models.text_cache) == 2 and models.text_cache.bytes <= models.text_cache.max_bytes
    assert registry.TEXT_CACHE_BYTES <= 64 * 2**20
