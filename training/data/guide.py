"""The data step of guided in-batch negatives (training/objectives/guided.py): a frozen guide model embeds every
text column of each batch, and its embeddings ride along as the array columns `guide_<column>`.

The guide reads the batch's own token ids (no second tokenisation, no text kept in the batch), so it must share
the trained model's tokenizer and have at least max_seq_length positions; anything else is a one-line error before
the first step. Its embedding width is free: it only scores. The guide is a deterministic function of the ids, so
a resumed run gets the same guide columns and stays bit-exact.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from se1b.errors import UserError
from training.model.sentence_model import SentenceModel, load_sentence_model

TEXT_COLUMNS = ("anchor", "positive", "negative")


def load_guide(path: str | Path, model: SentenceModel, max_seq_length: int) -> SentenceModel:
    """The guide model, checked against the model being trained (tokenizer, position window)."""
    if not Path(path).is_dir():
        raise UserError(f"config field 'guide': {path}: no such model folder")
    guide = load_sentence_model(path)
    if guide.tokenizer.get_vocab() != model.tokenizer.get_vocab():
        raise UserError(f"config field 'guide': {path} has a different tokenizer from the model being trained; the "
                        "guide reads the batch's token ids, so it needs the same vocabulary")
    config = guide.model.encoder.config
    positions = config.max_positions - (0 if config.padding_idx is None else config.padding_idx + 1)
    if positions < max_seq_length:
        raise UserError(f"config field 'guide': {path} reads at most {positions} tokens, fewer than "
                        f"max_seq_length ({max_seq_length})")
    return guide


class GuidedBatches:
    """Wraps the loop's batches (the pair pipeline): adds `guide_<column>` [rows, guide dim] float32 for every
    text column present. Everything else (state_dict, close, stats, card_sources) is the wrapped object's."""

    def __init__(self, batches: Any, guide: SentenceModel):
        self.batches, self.guide = batches, guide

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for batch in self.batches:
            extra = {f"guide_{column}": self.guide.embed_tokens(batch[column]["input_ids"],
                                                                batch[column]["attention_mask"])
                     for column in TEXT_COLUMNS if column in batch}
            yield batch | extra

    def __getattr__(self, name: str) -> Any:
        return getattr(self.batches, name)
