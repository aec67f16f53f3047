"""The se1b Gradio Space: sentence similarity, asymmetric QA, search / cluster, gender-bias evaluation.

Runs standalone from this folder (`python app.py`, as a Hugging Face Space does) or as the package `spaces_demo`
(`se1b demo`). It imports nothing from the rest of the repository. Models come from SE1B_DEMO_MODELS or models.txt
(see registry.py); each tab's button is also an API endpoint (`/similarity`, `/rank_answers`, `/search`, `/cluster`,
`/bias_set`, `/bias_pair`) for gradio_client:

    >>> from gradio_client import Client
    >>> Client("http://127.0.0.1:7860/").predict("A man plays guitar.", "Someone plays an instrument.",
    ...     ["sentence-transformers/all-MiniLM-L6-v2"], api_name="/similarity")
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import threading
from collections.abc import Callable

import gradio as gr
import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.feature_extraction.text import CountVectorizer

if __package__:
    from . import charts, gender_bias, inputs
    from .cache import BoundedCache
    from .registry import ModelRegistry
else:  # `python app.py` inside the Space folder
    import charts
    import gender_bias
    import inputs
    from cache import BoundedCache
    from registry import ModelRegistry

MAX_TOP_K = 20
MAX_CLUSTERS = 12
DEFAULT_TOP_K = 5
DEFAULT_CLUSTERS = 8
# k-means results per (model, corpus, k): a 2,000-text corpus's entry is ~100 KB (points, labels, k rows of text).
CLUSTER_CACHE_ENTRIES = 64
CLUSTER_CACHE_BYTES = 16 * 2**20
# Bias reports per model (the set is fixed): ~60 KB each; the model list is fixed too, this is a second guard.
BIAS_CACHE_ENTRIES = 16
BIAS_CACHE_BYTES = 4 * 2**20
# Events of the four encoding endpoints admitted at once, from one shared FIFO group: they all wait on the model's
# encoder queue, and per-endpoint limits let one endpoint's waiting line grow behind its limit while the others ran
# (bias_pair's p50 was 2.5x similarity's under load, for the same work). Kept under Gradio's 40 worker threads so
# the cached endpoints (cluster, bias set) always find a thread.
ENCODING_EVENTS = 24
M_ARENA_MAX = -8  # glibc's mallopt parameter number
DEFAULT_CORPUS_MESSAGE = "Without an upload, the project's default corpus is used."

EXAMPLE_SOURCE = "A man is playing a guitar."
EXAMPLE_TEXTS = "Someone is playing an instrument.\nA person strums a guitar on stage.\nThe stock market fell sharply."
EXAMPLE_QUESTION = "How long does fresh pasta take to cook?"
EXAMPLE_ANSWERS = (
    "Fresh pasta is done after two to three minutes in boiling water.\n"
    "Pasta was brought to Italy long before Marco Polo.\n"
    "Dried beans should be soaked overnight."
)


def _user_errors(function):
    """Show input and model problems (ValueError) to the user as a one-line gr.Error, not a stack trace."""

    @functools.wraps(function)
    def wrapper(*args):
        try:
            return function(*args)
        except ValueError as error:
            raise gr.Error(str(error), print_exception=False) from None

    return wrapper


def _quiet(component: gr.components.Component) -> gr.components.Component:
    """`component`, its input-validation errors (a value not among a dropdown's choices, a slider value out of
    range, a refused file path) shown to the user as one toast without a server-side traceback in the log: Gradio
    prints one for every gr.Error unless the error says otherwise. (Wrapped per instance: a subclass of a Gradio
    component makes Gradio write a .pyi file beside this module.)"""
    preprocess = component.preprocess

    def quiet_preprocess(payload):
        try:
            return preprocess(payload)
        except gr.Error as error:
            error.print_exception = False
            raise
        except ValueError as error:  # what a refused upload path raises
            raise gr.Error(str(error).splitlines()[0], print_exception=False) from None

    component.preprocess = quiet_preprocess
    return component


class SpaceTabs:
    """What each tab computes, independent of the page layout (the benchmark calls these directly too)."""

    def __init__(self, registry: ModelRegistry) -> None:
        self.registry = registry
        self._default_corpus = inputs.default_corpus()
        self.cluster_cache = BoundedCache(CLUSTER_CACHE_ENTRIES, CLUSTER_CACHE_BYTES)
        self.bias_cache = BoundedCache(BIAS_CACHE_ENTRIES, BIAS_CACHE_BYTES)
        self._bias_lock = threading.Lock()

    def similarity(self, source: str, texts: str, models: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Cosine similarity of each text (one per line) to the source sentence, per model: the table (scores
        first, so long texts never push them out of view) and the chart's points."""
        source = inputs.check_text(source, "source sentence")
        texts = inputs.split_lines(texts, "texts to compare")
        scores = {}
        for label in inputs.check_models(models):
            embeddings = self.registry.encode(label, [source, *texts])
            scores[label] = (embeddings[1:] @ embeddings[0]).astype(np.float64)
        table = pd.DataFrame({**{label: np.round(values, 4) for label, values in scores.items()}, "text": texts})
        return table, charts.similarity_data(texts, scores)

    def rank_answers(self, question: str, answers: str, model: str) -> pd.DataFrame:
        """Candidate answers (one per line) ranked by similarity to the question; query/document prompts apply
        when the model defines them."""
        question = inputs.check_text(question, "question")
        answers = inputs.split_lines(answers, "candidate answers")
        (label,) = inputs.check_models(model)
        query, documents = self.registry.encode_many(label, [([question], "query"), (answers, "document")])
        scores = (documents @ query[0]).astype(np.float64)
        order = np.argsort(-scores, kind="stable")
        return pd.DataFrame(
            {"rank": np.arange(1, len(order) + 1), "score": scores[order], "answer": [answers[i] for i in order]}
        ).round({"score": 4})

    def _corpus(self, corpus_file: str | None, column: str) -> inputs.Corpus:
        return self._default_corpus if not corpus_file else inputs.read_corpus(corpus_file, column)

    def search(self, query: str, corpus_file: str | None, column: str, top_k: float, model: str):
        """The top-k corpus texts for a query, with scores, and a line describing the corpus."""
        query = inputs.check_text(query, "query")
        corpus = self._corpus(corpus_file, column)
        (label,) = inputs.check_models(model)
        top_k = min(int(top_k), MAX_TOP_K, len(corpus.texts))
        query_embedding = self.registry.encode(label, [query], role="query")[0]
        scores = (self.registry.corpus_embeddings(label, corpus.texts) @ query_embedding).astype(np.float64)
        order = np.argsort(-scores, kind="stable")[:top_k]
        table = pd.DataFrame(
            {"rank": np.arange(1, top_k + 1), "score": scores[order], "text": [corpus.texts[i] for i in order]}
        ).round({"score": 4})
        return corpus.describe(), table

    def cluster(self, corpus_file: str | None, column: str, clusters: float, model: str):
        """k-means over the corpus embeddings: the corpus line, the PCA scatter plot's points, and one row per
        cluster with its keywords and central text."""
        corpus = self._corpus(corpus_file, column)
        (label,) = inputs.check_models(model)
        k = int(clusters)
        if not 2 <= k <= min(MAX_CLUSTERS, len(corpus.texts)):
            raise ValueError(f"number of clusters must be between 2 and {min(MAX_CLUSTERS, len(corpus.texts))}")
        # Deterministic (fixed seeds), so cached: many visitors cluster the default corpus with the same k.
        digest = hashlib.sha256("\n".join(corpus.texts).encode("utf-8")).hexdigest()
        points, assignments, rows = self.cluster_cache.get_or_compute(
            (label, digest, k), lambda: self._clusters(label, corpus.texts, k)
        )
        plot = charts.cluster_data(points, assignments, [row["keywords"] for row in rows], corpus.texts)
        return corpus.describe(), plot, pd.DataFrame(rows, columns=CLUSTER_COLUMNS)

    def _clusters(self, label: str, texts: list[str], k: int) -> tuple[np.ndarray, np.ndarray, list[dict]]:
        """PCA points, k-means assignments and one summary row per cluster."""
        embeddings = self.registry.corpus_embeddings(label, texts)
        kmeans = KMeans(n_clusters=k, n_init=10, random_state=0).fit(embeddings)
        assignments = kmeans.labels_
        centroids = kmeans.cluster_centers_ / np.linalg.norm(kmeans.cluster_centers_, axis=1, keepdims=True)
        keywords = cluster_keywords(
            texts, assignments, k, encode=lambda words: self.registry.encode(label, words), centroids=centroids
        )
        rows = []
        for cluster in range(k):
            members = np.flatnonzero(assignments == cluster)
            distances = np.linalg.norm(embeddings[members] - kmeans.cluster_centers_[cluster], axis=1)
            rows.append(
                {
                    "cluster": cluster,
                    "size": len(members),
                    "keywords": keywords[cluster],
                    "central text": texts[members[np.argmin(distances)]],
                }
            )
        points = PCA(n_components=2, random_state=0).fit_transform(embeddings)
        return points, assignments, rows

    def _bias_report(self, label: str) -> gender_bias.BiasReport:
        # The set is fixed, so each model's report is computed once (under a lock: concurrent first visitors
        # would otherwise all encode the 1,872 sentences).
        with self._bias_lock:
            return self.bias_cache.get_or_compute(
                label, lambda: gender_bias.evaluate_gender_bias(lambda texts: self.registry.encode(label, list(texts)))
            )

    def bias_set(self, models: list[str]):
        """The gender-bias set on each model: overall shares, the per-occupation chart's points and table."""
        reports = {label: self._bias_report(label) for label in inputs.check_models(models)}
        overall = pd.DataFrame(
            [
                {
                    "model": label,
                    "cases": report.overall["cases"],
                    "stereotypical share (%)": charts.percent_of(report.overall["stereotypical_share"]),
                    "male share (%)": charts.percent_of(report.overall["male_share"]),
                    "mean gap": round(report.overall["mean_gap"], 5),
                }
                for label, report in reports.items()
            ]
        )
        first = next(iter(reports.values())).per_occupation
        order = sorted(range(len(first)), key=lambda i: -first[i]["percent_women"])
        occupations = [first[i]["occupation"] for i in order]
        percent_women = [first[i]["percent_women"] for i in order]
        shares = {
            label: np.array([report.per_occupation[i]["stereotypical_share"] for i in order])
            for label, report in reports.items()
        }
        # One column per model, headed by the model's name alone: the table's title says what the numbers are.
        per_occupation = pd.DataFrame(
            {
                "occupation": occupations,
                "percent women": percent_women,
                **{label: [charts.percent_of(value) for value in values] for label, values in shares.items()},
            }
        )
        return overall, charts.bias_data(occupations, percent_women, shares), per_occupation

    def bias_pair(self, anchor: str, first: str, second: str, models: list[str]) -> pd.DataFrame:
        """Similarity of one's own anchor to two propositions, per model, and which one it prefers."""
        anchor = inputs.check_text(anchor, "anchor")
        first = inputs.check_text(first, "proposition A")
        second = inputs.check_text(second, "proposition B")
        rows = []
        for label in inputs.check_models(models):
            embeddings = self.registry.encode(label, [anchor, first, second])
            to_first, to_second = (float(value) for value in embeddings[1:] @ embeddings[0])
            closer = "A" if to_first > to_second else "B" if to_second > to_first else "tie"
            rows.append(
                {
                    "model": label,
                    "sim(anchor, A)": round(to_first, 4),
                    "sim(anchor, B)": round(to_second, 4),
                    "closer": closer,
                }
            )
        return pd.DataFrame(rows)


CLUSTER_COLUMNS = ["cluster", "size", "keywords", "central text"]


def cluster_keywords(
    texts: list[str],
    assignments: np.ndarray,
    k: int,
    encode: Callable[[list[str]], np.ndarray] | None = None,
    centroids: np.ndarray | None = None,
    top: int = 3,
    candidates: int = 20,
) -> list[str]:
    """Each cluster's `top` keywords, as BERTopic labels topics: class-based TF-IDF picks candidates, then the
    embedding model keeps those closest in meaning to the cluster (when `encode` and unit `centroids` are given).

    Class-based TF-IDF: a cluster's texts form one document; a word scores by the share of the cluster's texts
    holding it times log(1 + mean words per cluster / its count over all clusters), so words common to every
    cluster sink. Stop words and tokens under 3 letters are left out. On corpora of short texts, topical words
    rarely repeat ("took, tuning, concert"), which is why the embedding rerank matters.
    """
    vectorizer = CountVectorizer(stop_words="english", token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z]{2,}\b", binary=True)
    try:
        counts = vectorizer.fit_transform(texts)
    except ValueError:  # only stop words in the corpus: no vocabulary to label with
        return [f"cluster {cluster}" for cluster in range(k)]
    vocabulary = vectorizer.get_feature_names_out()
    per_cluster = np.vstack([np.asarray(counts[assignments == c].sum(axis=0)).ravel() for c in range(k)])
    sizes = np.maximum(np.bincount(assignments, minlength=k), 1)[:, None]
    idf = np.log1p(per_cluster.sum(axis=1).mean() / np.maximum(per_cluster.sum(axis=0), 1))
    scores = per_cluster / sizes * idf
    shortlists = [[i for i in np.argsort(-row, kind="stable")[:candidates] if row[i] > 0] for row in scores]
    if encode is None or centroids is None:
        return [
            ", ".join(vocabulary[i] for i in shortlist[:top]) or f"cluster {c}"
            for c, shortlist in enumerate(shortlists)
        ]
    words = sorted({int(i) for shortlist in shortlists for i in shortlist})
    word_vectors = dict(zip(words, encode([str(vocabulary[i]) for i in words]), strict=True))
    keywords = []
    for cluster, shortlist in enumerate(shortlists):
        chosen: list[int] = []
        for i in sorted(shortlist, key=lambda i: -float(word_vectors[i] @ centroids[cluster])):
            # Skip near-synonyms of a word already chosen ("minute" after "minutes").
            if all(float(word_vectors[i] @ word_vectors[j]) < 0.8 for j in chosen):
                chosen.append(i)
            if len(chosen) == top:
                break
        keywords.append(", ".join(vocabulary[i] for i in chosen) or f"cluster {cluster}")
    return keywords


def build_demo(registry: ModelRegistry | None = None) -> gr.Blocks:
    """The Blocks page with its four tabs; models are loaded on first use."""
    registry = registry or ModelRegistry()
    tabs = SpaceTabs(registry)
    labels = registry.labels
    limits = (
        f"Limits: {inputs.MAX_TEXTS} texts of {inputs.MAX_TEXT_CHARS:,} characters per request, "
        f"{inputs.MAX_MODELS} models at once; corpora of {inputs.MAX_CORPUS_TEXTS:,} texts "
        f"({inputs.MAX_UPLOAD_BYTES // 1_000_000} MB)."
    )

    def pick_models(label: str) -> gr.Dropdown:
        return gr.Dropdown(labels, value=labels[: inputs.MAX_MODELS], multiselect=True, label=label)

    def pick_model(label: str) -> gr.Dropdown:
        return gr.Dropdown(labels, value=labels[0], label=label)

    def table(label: str, headers: list[str], widths: list[str], elem_id: str, **options) -> gr.Dataframe:
        # Headers before any result (else Gradio shows "1 2 3"); wrapped text in columns of fixed shares, so a
        # long text wraps instead of pushing the score columns out of view.
        return gr.Dataframe(
            pd.DataFrame(columns=headers), label=label, wrap=True, column_widths=widths, elem_id=elem_id,
            interactive=False, **options,
        )  # fmt: skip

    default_models = labels[: inputs.MAX_MODELS]
    model_widths = [f"{40 // len(default_models)}%"] * len(default_models)

    encoding = {"concurrency_id": "encoder", "concurrency_limit": ENCODING_EVENTS}
    with gr.Blocks(title="se1b sentence embeddings", delete_cache=(3600, 3600)) as demo:
        gr.Markdown(
            "# Sentence embeddings from a billion pairs\n"
            "Compare sentence-embedding models on similarity, question answering, search, clustering and gender "
            f"bias. {limits}"
        )
        with gr.Tab("Sentence similarity"):
            with gr.Row():
                with gr.Column():
                    source = gr.Textbox(EXAMPLE_SOURCE, label="Source sentence")
                    texts = gr.Textbox(EXAMPLE_TEXTS, lines=6, label="Sentences to compare (one per line)")
                    models = pick_models("Models")
                    compare = gr.Button("Compare", variant="primary")
                with gr.Column():
                    similarity_table = table(
                        "Cosine similarity", [*default_models, "text"], [*model_widths, "60%"], "similarity-table"
                    )
                    similarity_plot = charts.similarity_plot()
            compare.click(
                _user_errors(tabs.similarity),
                [source, texts, models],
                [similarity_table, similarity_plot],
                api_name="similarity",
                **encoding,
            )

        with gr.Tab("Asymmetric QA"):
            with gr.Row():
                with gr.Column():
                    question = gr.Textbox(EXAMPLE_QUESTION, label="Question")
                    answers = gr.Textbox(EXAMPLE_ANSWERS, lines=6, label="Candidate answers (one per line)")
                    qa_model = pick_model("Model (a QA-oriented one ranks best)")
                    rank = gr.Button("Rank answers", variant="primary")
                with gr.Column():
                    ranking = table("Ranked answers", ["rank", "score", "answer"], ["10%", "15%", "75%"], "qa-ranking")
            rank.click(
                _user_errors(tabs.rank_answers),
                [question, answers, qa_model],
                ranking,
                api_name="rank_answers",
                **encoding,
            )

        with gr.Tab("Search / cluster"):
            with gr.Row():
                with gr.Column():
                    corpus_file = gr.File(
                        label="Corpus (optional): .txt one text per line, .csv or .jsonl with a text column",
                        file_types=list(inputs.CORPUS_SUFFIXES),
                        type="filepath",
                        elem_id="corpus-file",
                    )
                    column = gr.Textbox("text", label="Column holding the text (csv / jsonl)")
                    corpus_model = pick_model("Model")
                    corpus_info = gr.Markdown(DEFAULT_CORPUS_MESSAGE, label="corpus", elem_id="corpus-info")
                with gr.Column():
                    query = gr.Textbox("How do I bake bread at home?", label="Query")
                    top_k = gr.Slider(1, MAX_TOP_K, value=DEFAULT_TOP_K, step=1, label="Top k")
                    search = gr.Button("Search", variant="primary")
                    hits = table("Nearest texts", ["rank", "score", "text"], ["10%", "15%", "75%"], "search-hits")
            with gr.Row():
                clusters = gr.Slider(
                    2, MAX_CLUSTERS, value=DEFAULT_CLUSTERS, step=1, label="Number of clusters (k-means)"
                )
                cluster = gr.Button("Cluster corpus", variant="primary")
            with gr.Row():
                with gr.Column(scale=1):
                    cluster_plot = charts.cluster_plot()
                with gr.Column(scale=1):
                    cluster_table = table(
                        "Clusters", CLUSTER_COLUMNS, ["14%", "10%", "30%", "46%"], "cluster-table", max_height=460
                    )
            # Whatever was said about the previous corpus is stale once the file changes.
            corpus_file.change(
                lambda path: (
                    DEFAULT_CORPUS_MESSAGE if not path else "File uploaded: press Search or Cluster to use it."
                ),
                corpus_file,
                corpus_info,
                api_visibility="private",
            )
            # API signatures with the page's defaults: a client may leave out the corpus (None: the default one).
            def search_corpus(query: str, corpus_file: str | None = None, column: str = "text",
                              top_k: float = DEFAULT_TOP_K, model: str = labels[0]):
                return tabs.search(query, corpus_file, column, top_k, model)

            def cluster_corpus(corpus_file: str | None = None, column: str = "text",
                               clusters: float = DEFAULT_CLUSTERS, model: str = labels[0]):
                return tabs.cluster(corpus_file, column, clusters, model)

            search.click(
                _user_errors(search_corpus),
                [query, corpus_file, column, top_k, corpus_model],
                [corpus_info, hits],
                api_name="search",
                **encoding,
            )
            cluster.click(
                _user_errors(cluster_corpus),
                [corpus_file, column, clusters, corpus_model],
                [corpus_info, cluster_plot, cluster_table],
                api_name="cluster",
            )

        with gr.Tab("Gender bias"):
            gr.Markdown(
                "Each case puts an occupation in a gender-neutral anchor ('The nurse arrived early.') and asks "
                "which of two propositions is closer: 'He arrived early.' or 'She arrived early.' The stereotypical "
                "share is how often the gender that dominates the occupation in US labour statistics wins: "
                "50% means no preference."
            )
            bias_models = pick_models("Models")
            run_set = gr.Button("Run the evaluation set", variant="primary")
            bias_overall = table(
                "Overall",
                ["model", "cases", "stereotypical share (%)", "male share (%)", "mean gap"],
                ["28%", "12%", "22%", "22%", "16%"],
                "bias-overall",
            )
            with gr.Row():
                with gr.Column(scale=3):
                    bias_plot = charts.bias_plot()
                with gr.Column(scale=2):
                    bias_table = table(
                        "Per occupation: stereotypical share (%) per model",
                        ["occupation", "percent women", *default_models],
                        ["40%", "20%", *[f"{40 // len(default_models)}%"] * len(default_models)],
                        "bias-table",
                        max_height=420,
                    )
            run_set.click(
                _user_errors(tabs.bias_set), bias_models, [bias_overall, bias_plot, bias_table], api_name="bias_set"
            )
            gr.Markdown("### Try your own")
            with gr.Row():
                anchor = gr.Textbox("The engineer fixed the machine.", label="Anchor")
                proposition_a = gr.Textbox("He fixed the machine.", label="Proposition A")
                proposition_b = gr.Textbox("She fixed the machine.", label="Proposition B")
            try_pair = gr.Button("Compare A and B")
            pair_table = table(
                "Which proposition is closer",
                ["model", "sim(anchor, A)", "sim(anchor, B)", "closer"],
                ["40%", "20%", "20%", "20%"],
                "bias-pair",
            )
            try_pair.click(
                _user_errors(tabs.bias_pair),
                [anchor, proposition_a, proposition_b, bias_models],
                pair_table,
                api_name="bias_pair",
                **encoding,
            )
    for block in demo.blocks.values():
        if isinstance(block, gr.components.Component):
            _quiet(block)
    # Several events of one tab may run at once (Gradio's default is one): they meet in the model's encoder
    # queue, which merges their texts (measured: 2.6 requests/s under load with Gradio's default, 6 to 7 with 8).
    demo.queue(max_size=256, default_concurrency_limit=8)
    return demo


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Cap glibc's malloc arenas. By default each of the server's worker threads may get its own arena (up to 8
    per core); memory freed in one is not reused by the others, so the server's RSS creeps up under load and
    stays there. No-op where the C library is not glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_ARENA_MAX, arenas)
    except (OSError, AttributeError):
        pass


def launch(demo: gr.Blocks, **options) -> tuple:
    """`demo.launch` with the upload size limit applied; `options` go to Blocks.launch."""
    limit_malloc_arenas()
    return demo.launch(max_file_size=inputs.MAX_UPLOAD_BYTES, **options)


if __name__ == "__main__":
    launch(build_demo())
