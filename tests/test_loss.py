"""The JAX MNRL loss equals sentence-transformers' losses on identical embeddings."""

import numpy as np
import pytest
import torch
from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

from training.objectives.mnrl import mnrl_loss


def _embeddings(batch: int, dim: int, columns: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(batch, dim)).astype(np.float32) for _ in range(columns)]


def _reference(embeddings: list[np.ndarray], scale: float, symmetric: bool) -> float:
    if symmetric:
        loss = MultipleNegativesRankingLoss(
            None, scale=scale, directions=("query_to_doc", "doc_to_query"), partition_mode="per_direction"
        )
    else:
        loss = MultipleNegativesRankingLoss(None, scale=scale)
    return float(loss.compute_loss_from_embeddings([torch.from_numpy(e) for e in embeddings], None))


@pytest.mark.parametrize("scale", [20.0, 5.0])
@pytest.mark.parametrize("symmetric", [True, False])
def test_pairs_match_sentence_transformers(scale, symmetric):
    anchor, positive = _embeddings(16, 24, 2, seed=int(scale) + symmetric)
    ours = float(mnrl_loss(anchor, positive, scale=scale, symmetric=symmetric))
    assert ours == pytest.approx(_reference([anchor, positive], scale, symmetric), rel=1e-5)


def test_triplets_match_one_way_sentence_transformers():
    anchor, positive, negative = _embeddings(12, 24, 3, seed=3)
    ours = float(mnrl_loss(anchor, positive, negative, scale=20.0, symmetric=True))
    assert ours == pytest.approx(_reference([anchor, positive, negative], 20.0, symmetric=False), rel=1e-5)


def test_symmetric_differs_from_one_way():
    anchor, positive = _embeddings(8, 16, 2, seed=5)
    assert float(mnrl_loss(anchor, positive, symmetric=True)) != pytest.approx(
        float(mnrl_loss(anchor, positive, symmetric=False)), rel=1e-4
    )
