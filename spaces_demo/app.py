"""The se1b Gradio Space: sentence similarity, asymmetric QA, search / cluster, gender-bias evaluation.

Runs standalone from this folder (`python app.py`, as a Hugging Face Space does) or as the package `spaces_demo`
(`se1b demo`). It imports nothing from the rest of the repository. Models come from SE1B_DEMO_MODELS or models.txt
(see registry.py); each tab's button is also an API endpoint (`/similarity`, `/rank_answers`, `/search`, `/cluster`,
`/bias_set`, `/bias_pair`) for gradio_client:

    >>> from gradio_client import Client
    >>> Client("http://127.0.0.1:7860/").predict("A man plays guitar.", "Someone plays an instrument.",
    ...     ["all-MiniLM-L6-v2 (packaged)"], api_name="/similarity")
"""

from __future__ import annotations

import functools
import threading

import gradio as gr
import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.feature_extraction.text import TfidfVectorizer

if __package__:
    from . import charts, gender_bias, inputs
    from .registry import ModelRegistry
else:  # `python app.py` inside the Space folder
    import charts
    import gender_bias
    import inputs
    from registry import ModelRegistry

MAX_TOP_K = 20
MAX_CLUSTERS = 12

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


class SpaceTabs:
    """What each tab computes, independent of the page layout (the benchmark calls these directly too)."""

    def __init__(self, registry: ModelRegistry) -> None:
        self.registry = registry
        self._default_corpus = inputs.default_corpus()
        self._bias_reports: dict[str, gender_bias.BiasReport] = {}
        self._bias_lock = threading.Lock()

    def similarity(self, source: str, texts: str, models: list[str]) -> tuple[pd.DataFrame, object]:
        """Cosine similarity of each text (one per line) to the source sentence, per model."""
        source = inputs.check_text(source, "source sentence")
        texts = inputs.split_lines(texts, "texts to compare")
        scores = {}
        for label in inputs.check_models(models):
            embeddings = self.registry.encode(label, [source, *texts])
            scores[label] = (embeddings[1:] @ embeddings[0]).astype(np.float64)
        table = pd.DataFrame({"text": texts, **{label: np.round(values, 4) for label, values in scores.items()}})
        figure = charts.grouped_bars(texts, scores, "cosine similarity to the source", f"Similarity to: {source}")
        return table, figure

    def rank_answers(self, question: str, answers: str, model: str) -> pd.DataFrame:
        """Candidate answers (one per line) ranked by similarity to the question; query/document prompts apply
        when the model defines them."""
        question = inputs.check_text(question, "question")
        answers = inputs.split_lines(answers, "candidate answers")
        (label,) = inputs.check_models(model)
        query = self.registry.encode(label, [question], role="query")[0]
        scores = (self.registry.encode(label, answers, role="document") @ query).astype(np.float64)
        order = np.argsort(-scores, kind="stable")
        return pd.DataFrame(
            {"rank": np.arange(1, len(order) + 1), "answer": [answers[i] for i in order], "score": scores[order]}
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
            {"rank": np.arange(1, top_k + 1), "text": [corpus.texts[i] for i in order], "score": scores[order]}
        ).round({"score": 4})
        return corpus.describe(), table

    def cluster(self, corpus_file: str | None, column: str, clusters: float, model: str):
        """k-means over the corpus embeddings, a PCA scatter plot, and each cluster's keywords and central text."""
        corpus = self._corpus(corpus_file, column)
        (label,) = inputs.check_models(model)
        k = int(clusters)
        if not 2 <= k <= min(MAX_CLUSTERS, len(corpus.texts)):
            raise ValueError(f"number of clusters must be between 2 and {min(MAX_CLUSTERS, len(corpus.texts))}")
        points, assignments, rows = self._clusters(label, tuple(corpus.texts), k)
        names = [f"{row['cluster']}: {row['keywords']}" for row in rows]
        figure = charts.cluster_scatter(points, assignments, names, f"{k} clusters of {corpus.source} ({label})")
        return corpus.describe(), figure, pd.DataFrame(rows)

    @functools.lru_cache(maxsize=32)  # noqa: B019  (one SpaceTabs per app: the cache lives as long as the app)
    def _clusters(self, label: str, texts: tuple[str, ...], k: int) -> tuple[np.ndarray, np.ndarray, list[dict]]:
        """PCA points, k-means assignments and one summary row per cluster; deterministic (fixed seeds), so
        cached: many visitors cluster the default corpus with the same k."""
        embeddings = self.registry.corpus_embeddings(label, list(texts))
        kmeans = KMeans(n_clusters=k, n_init=10, random_state=0).fit(embeddings)
        assignments = kmeans.labels_
        keywords = _cluster_keywords(list(texts), assignments, k)
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
        # The set is fixed, so each model's report is computed once.
        with self._bias_lock:
            if label not in self._bias_reports:
                self._bias_reports[label] = gender_bias.evaluate_gender_bias(
                    lambda texts: self.registry.encode(label, list(texts))
                )
            return self._bias_reports[label]

    def bias_set(self, models: list[str]):
        """The gender-bias set on each model: overall shares and a per-occupation chart."""
        reports = {label: self._bias_report(label) for label in inputs.check_models(models)}
        overall = pd.DataFrame(
            [
                {
                    "model": label,
                    "cases": report.overall["cases"],
                    "stereotypical share": round(report.overall["stereotypical_share"], 4),
                    "male share": round(report.overall["male_share"], 4),
                    "mean gap": round(report.overall["mean_gap"], 5),
                }
                for label, report in reports.items()
            ]
        )
        first = next(iter(reports.values())).per_occupation
        order = sorted(range(len(first)), key=lambda i: -first[i]["percent_women"])
        occupations = [f"{first[i]['occupation']} ({first[i]['percent_women']:.0f}% women)" for i in order]
        shares = {
            label: np.array([report.per_occupation[i]["stereotypical_share"] for i in order])
            for label, report in reports.items()
        }
        per_occupation = pd.DataFrame(
            {
                "occupation": [first[i]["occupation"] for i in order],
                "percent women": [first[i]["percent_women"] for i in order],
                **{f"{label}: stereotypical share": np.round(values, 4) for label, values in shares.items()},
            }
        )
        figure = charts.share_bars(occupations, shares, "Per occupation: how often the stereotypical gender is closer")
        figure.set_figheight(1.5 + 0.16 * len(occupations) * len(shares))
        return overall, figure, per_occupation

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


def _cluster_keywords(texts: list[str], assignments: np.ndarray, k: int, top: int = 3) -> list[str]:
    """Each cluster's `top` words by mean TF-IDF weight: a readable label for the cluster."""
    vectorizer = TfidfVectorizer(stop_words="english", token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z]+\b")
    try:
        weights = vectorizer.fit_transform(texts)
    except ValueError:  # only stop words in the corpus: no vocabulary to label with
        return [f"cluster {cluster}" for cluster in range(k)]
    vocabulary = vectorizer.get_feature_names_out()
    keywords = []
    for cluster in range(k):
        mean = np.asarray(weights[assignments == cluster].mean(axis=0)).ravel()
        keywords.append(", ".join(vocabulary[i] for i in np.argsort(-mean)[:top] if mean[i] > 0))
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

    with gr.Blocks(title="se1b sentence embeddings") as demo:
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
                    similarity_table = gr.Dataframe(label="Cosine similarity", elem_id="similarity-table")
                    similarity_plot = gr.Plot(label="Similarity chart", elem_id="similarity-plot")
            compare.click(
                _user_errors(tabs.similarity),
                [source, texts, models],
                [similarity_table, similarity_plot],
                api_name="similarity",
            )

        with gr.Tab("Asymmetric QA"):
            with gr.Row():
                with gr.Column():
                    question = gr.Textbox(EXAMPLE_QUESTION, label="Question")
                    answers = gr.Textbox(EXAMPLE_ANSWERS, lines=6, label="Candidate answers (one per line)")
                    qa_model = pick_model("Model (a QA-oriented one ranks best)")
                    rank = gr.Button("Rank answers", variant="primary")
                ranking = gr.Dataframe(label="Ranked answers", elem_id="qa-ranking")
            rank.click(
                _user_errors(tabs.rank_answers), [question, answers, qa_model], ranking, api_name="rank_answers"
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
                    corpus_info = gr.Markdown(
                        "Without an upload, the project's default corpus is used.", elem_id="corpus-info"
                    )
                with gr.Column():
                    query = gr.Textbox("How do I bake bread at home?", label="Query")
                    top_k = gr.Slider(1, MAX_TOP_K, value=5, step=1, label="Top k")
                    search = gr.Button("Search", variant="primary")
                    hits = gr.Dataframe(label="Nearest texts", elem_id="search-hits")
            with gr.Row():
                clusters = gr.Slider(2, MAX_CLUSTERS, value=8, step=1, label="Number of clusters (k-means)")
                cluster = gr.Button("Cluster corpus", variant="primary")
            with gr.Row():
                cluster_plot = gr.Plot(label="2-D projection (PCA)", elem_id="cluster-plot")
                cluster_table = gr.Dataframe(label="Clusters", elem_id="cluster-table")
            search.click(
                _user_errors(tabs.search),
                [query, corpus_file, column, top_k, corpus_model],
                [corpus_info, hits],
                api_name="search",
            )
            cluster.click(
                _user_errors(tabs.cluster),
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
            with gr.Row():
                bias_overall = gr.Dataframe(label="Overall", elem_id="bias-overall")
            with gr.Row():
                bias_plot = gr.Plot(label="Per occupation", elem_id="bias-plot")
                bias_table = gr.Dataframe(label="Per occupation", max_height=600)
            run_set.click(
                _user_errors(tabs.bias_set), bias_models, [bias_overall, bias_plot, bias_table], api_name="bias_set"
            )
            gr.Markdown("### Try your own")
            with gr.Row():
                anchor = gr.Textbox("The engineer fixed the machine.", label="Anchor")
                proposition_a = gr.Textbox("He fixed the machine.", label="Proposition A")
                proposition_b = gr.Textbox("She fixed the machine.", label="Proposition B")
            try_pair = gr.Button("Compare A and B")
            pair_table = gr.Dataframe(label="Which proposition is closer", elem_id="bias-pair")
            try_pair.click(
                _user_errors(tabs.bias_pair),
                [anchor, proposition_a, proposition_b, bias_models],
                pair_table,
                api_name="bias_pair",
            )
    demo.queue(max_size=256)
    return demo


def launch(demo: gr.Blocks, **options) -> tuple:
    """`demo.launch` with the upload size limit applied; `options` go to Blocks.launch."""
    return demo.launch(max_file_size=inputs.MAX_UPLOAD_BYTES, **options)


if __name__ == "__main__":
    launch(build_demo())
