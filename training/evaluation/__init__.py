"""Evaluators that take an `encode(texts) -> np.ndarray` function, so they run on a SentenceTransformer, the
project's Flax `SentenceModel` or the model inside the training loop alike."""

from training.evaluation.retrieval import RetrievalData, evaluate_retrieval, load_beir, retrieval_metrics
from training.evaluation.sts import STSData, evaluate_sts, load_sts

__all__ = [
    "RetrievalData",
    "STSData",
    "evaluate_retrieval",
    "evaluate_sts",
    "load_beir",
    "load_sts",
    "retrieval_metrics",
]
