"""A sentence embedding model in Flax: encoder -> pooling -> optional L2 normalisation, loaded from a
sentence-transformers folder (modules.json, 1_Pooling, 2_Normalize, sentence_bert_config.json) or a plain
Hugging Face folder (which gets mean pooling, as sentence-transformers does).

    >>> model = load_sentence_model("path/to/all-MiniLM-L6-v2")
    >>> embeddings = model.encode(["A man is eating food.", "A man is riding a horse."])   # np.ndarray [2, 384]
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from se1b.errors import UserError
from training.model.encoders import TransformerEncoder, load_hf_encoder

POOLING_MODES = ("mean", "cls", "max")
# Padded lengths jit compiles for: a batch is padded up to the next bucket, so a whole corpus costs a bounded
# number of compilations (at most 16 up to 512 tokens) instead of one per distinct length, while padding wastes
# little compute: steps of 16 tokens up to 128, where most sentences fall, then coarser.
LENGTH_BUCKETS = (16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 256, 320, 384, 448, 512)


def bucket_length(longest: int, max_seq_length: int) -> int:
    """The padded length for a batch whose longest sequence has `longest` tokens."""
    return min(next((b for b in LENGTH_BUCKETS if b >= longest), longest), max_seq_length)


def pool(hidden: jax.Array, attention_mask: jax.Array, mode: str) -> jax.Array:
    """Pool token states [B, T, H] into one vector per text, ignoring padding."""
    mask = attention_mask[..., None].astype(hidden.dtype)
    if mode == "mean":
        return (hidden * mask).sum(axis=1) / jnp.maximum(mask.sum(axis=1), 1e-9)
    if mode == "cls":
        return hidden[:, 0]
    if mode == "max":  # padding set to a large negative value, as sentence-transformers does
        return jnp.where(mask > 0, hidden, -1e9).max(axis=1)
    raise UserError(f"unknown pooling mode {mode!r}; supported: {', '.join(POOLING_MODES)}")


def pool_packed(hidden: jax.Array, attention_mask: jax.Array, text_ids: jax.Array, num_texts: int,
                mode: str) -> jax.Array:
    """Pool the token states of packed rows [R, T, H] into one vector per text [num_texts, H]; `text_ids` [R, T]
    holds each token's text number (0 .. num_texts - 1, -1 for padding)."""
    from training.model.encoders import segment_start

    valid = (attention_mask > 0) & (text_ids >= 0)
    ids = jnp.where(valid, text_ids, num_texts).reshape(-1)  # padding goes to an id segment_sum drops
    flat = hidden.reshape(-1, hidden.shape[-1])
    mask = valid.reshape(-1, 1).astype(hidden.dtype)
    if mode == "mean":
        total = jax.ops.segment_sum(flat * mask, ids, num_segments=num_texts)
        return total / jnp.maximum(jax.ops.segment_sum(mask, ids, num_segments=num_texts), 1e-9)
    if mode == "cls":
        first = (jnp.arange(text_ids.shape[1]) == segment_start(text_ids)).reshape(-1, 1) & (mask > 0)
        return jax.ops.segment_sum(flat * first.astype(hidden.dtype), ids, num_segments=num_texts)
    if mode == "max":
        return jax.ops.segment_max(jnp.where(mask > 0, flat, -1e9), ids, num_segments=num_texts)
    raise UserError(f"unknown pooling mode {mode!r}; supported: {', '.join(POOLING_MODES)}")


class SentenceEncoder(nnx.Module):
    """Encoder + pooling + optional normalisation; the part of a sentence model that training differentiates."""

    def __init__(self, encoder: TransformerEncoder, pooling: str = "mean", normalize: bool = True):
        if pooling not in POOLING_MODES:
            raise UserError(f"unknown pooling mode {pooling!r}; supported: {', '.join(POOLING_MODES)}")
        self.encoder, self.pooling, self.normalize = encoder, pooling, normalize

    def __call__(
        self,
        input_ids: jax.Array,
        attention_mask: jax.Array,
        *,
        dropout_rng: jax.Array | None = None,
        text_ids: jax.Array | None = None,
        num_texts: int | None = None,
    ) -> jax.Array:
        """[B, D] embeddings of B padded texts, or of `num_texts` texts packed into the rows (`text_ids`: see
        training/data/packing.py)."""
        hidden = self.encoder(input_ids, attention_mask, dropout_rng=dropout_rng, segment_ids=text_ids)
        if text_ids is None:
            embeddings = pool(hidden.astype(jnp.float32), attention_mask, self.pooling)
        else:
            embeddings = pool_packed(hidden.astype(jnp.float32), attention_mask, text_ids, num_texts, self.pooling)
        if self.normalize:
            embeddings = embeddings / jnp.maximum(jnp.linalg.norm(embeddings, axis=-1, keepdims=True), 1e-12)
        return embeddings


@partial(jax.jit, static_argnums=0)
def _embed(graphdef: nnx.GraphDef, state: nnx.State, input_ids: jax.Array, attention_mask: jax.Array) -> jax.Array:
    # jax.jit over the split model rather than nnx.jit: nnx.jit re-walks the module graph on every call, which
    # costs ~25 ms per batch on CPU, as much as the forward pass of a short batch.
    return nnx.merge(graphdef, state)(input_ids, attention_mask)


@partial(jax.jit, static_argnums=(0, 5))
def _embed_packed(graphdef: nnx.GraphDef, state: nnx.State, input_ids: jax.Array, attention_mask: jax.Array,
                  text_ids: jax.Array, num_texts: int) -> jax.Array:
    return nnx.merge(graphdef, state)(input_ids, attention_mask, text_ids=text_ids, num_texts=num_texts)


@dataclass
class SentenceModel:
    """A SentenceEncoder with its tokenizer and the sentence-transformers settings it was saved with."""

    model: SentenceEncoder
    tokenizer: Any  # transformers PreTrainedTokenizerFast
    max_seq_length: int
    prompts: dict[str, str] = field(default_factory=dict)
    source_dir: Path | None = None

    def tokenize(self, texts: list[str], max_seq_length: int | None = None) -> dict[str, np.ndarray]:
        """Tokenise and pad to a bucket length (int32 input_ids and attention_mask)."""
        limit = max_seq_length or self.max_seq_length
        encoded = self.tokenizer(texts, truncation=True, max_length=limit, padding=False)
        ids = encoded["input_ids"]
        length = bucket_length(max(len(row) for row in ids), limit)
        input_ids = np.full((len(ids), length), self.tokenizer.pad_token_id, dtype=np.int32)
        attention_mask = np.zeros((len(ids), length), dtype=np.int32)
        for row, tokens in enumerate(ids):
            input_ids[row, : len(tokens)] = tokens
            attention_mask[row, : len(tokens)] = 1
        return {"input_ids": input_ids, "attention_mask": attention_mask}

    def encode(
        self, texts: list[str], batch_size: int = 64, show_progress_bar: bool = False, prompt_name: str | None = None,
        pack: bool = False,
    ) -> np.ndarray:
        """Embed texts; returns float32 [len(texts), dim]. Texts are sorted by length so batches pad little; with
        `pack`, each batch's texts are packed several per row of max_seq_length tokens instead
        (training/data/packing.py; row counts rounded to batch_size / 8, so at most 8 shapes compile)."""
        from tqdm.auto import tqdm

        if prompt_name is not None:
            if prompt_name not in self.prompts:
                raise UserError(f"unknown prompt {prompt_name!r}; this model has: {sorted(self.prompts) or 'none'}")
            texts = [self.prompts[prompt_name] + text for text in texts]
        graphdef, state = nnx.split(self.model)
        order = np.argsort([-len(text) for text in texts], kind="stable")
        result = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for start in tqdm(
            range(0, len(texts), batch_size), desc="encode", unit="batch", disable=not show_progress_bar
        ):
            index = order[start : start + batch_size]
            batch = self.tokenize([texts[i] for i in index])
            if pack:
                from training.data.packing import pack_texts, unpad

                packed = pack_texts(unpad(batch), self.max_seq_length, pad_id=self.tokenizer.pad_token_id,
                                    row_multiple=max(batch_size // 8, 1))
                result[index] = np.asarray(_embed_packed(graphdef, state, packed["input_ids"],
                                                         packed["attention_mask"], packed["text_ids"], len(index)))
                continue
            result[index] = np.asarray(_embed(graphdef, state, batch["input_ids"], batch["attention_mask"]))
        return result

    @property
    def dimension(self) -> int:
        return self.model.encoder.hidden_size


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise UserError(f"{path}: invalid JSON at line {error.lineno}: {error.msg}") from error


def _pooling_from_config(config: dict[str, Any]) -> str:
    if "pooling_mode" in config:  # sentence-transformers >= 5.4 layout
        mode = config["pooling_mode"]
        return {"mean_tokens": "mean", "cls_token": "cls", "max_tokens": "max"}.get(mode, mode)
    for mode in POOLING_MODES:
        if config.get(f"pooling_mode_{mode}_tokens" if mode != "cls" else "pooling_mode_cls_token"):
            return mode
    raise UserError(f"unsupported pooling configuration {config}; supported: {', '.join(POOLING_MODES)}")


def resolve_model_folder(path_or_id: str | Path) -> Path:
    """A local folder as is; otherwise a Hub model id, downloaded (or taken from the Hugging Face cache)."""
    folder = Path(path_or_id)
    if folder.is_dir():
        return folder
    if folder.exists() or str(path_or_id).count("/") != 1:
        raise UserError(f"model folder {folder} does not exist (and it is not a Hub id of the form owner/name)")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(str(path_or_id)))
    except Exception as error:  # offline, unknown repo, unauthorised: one line, not a traceback
        raise UserError(f"model {path_or_id!r} is not a local folder and cannot be fetched from the Hub: "
                        f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}") from error


def load_sentence_model(path: str | Path, *, dtype: Any = jnp.float32) -> SentenceModel:
    """Load a sentence-transformers folder, or a plain Hugging Face folder (mean pooling, normalised), from a local
    path or a Hub model id."""
    from transformers import AutoTokenizer

    folder = resolve_model_folder(path)
    pooling, normalize, max_seq_length, prompts = "mean", True, 512, {}
    modules_file = folder / "modules.json"
    if modules_file.exists():
        modules = _read_json(modules_file)
        types = [module["type"].rsplit(".", 1)[-1] for module in modules]
        transformer_paths = [m["path"] for m in modules if m["type"].rsplit(".", 1)[-1] == "Transformer"]
        if transformer_paths != [""] or any(t not in ("Transformer", "Pooling", "Normalize") for t in types):
            raise UserError(
                f"{modules_file}: only Transformer (at the folder root) -> Pooling -> [Normalize] "
                f"pipelines are supported, found {types}"
            )
        normalize = "Normalize" in types
        pooling_dir = next(m["path"] for m in modules if m["type"].rsplit(".", 1)[-1] == "Pooling")
        pooling = _pooling_from_config(_read_json(folder / pooling_dir / "config.json"))
        if (folder / "sentence_bert_config.json").exists():
            max_seq_length = _read_json(folder / "sentence_bert_config.json").get("max_seq_length") or max_seq_length
        if (folder / "config_sentence_transformers.json").exists():
            prompts = _read_json(folder / "config_sentence_transformers.json").get("prompts") or {}
    encoder = load_hf_encoder(folder, dtype=dtype)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
    except Exception as error:
        raise UserError(f"cannot load the tokenizer in {folder}: {error}") from error
    # Position ids of the RoBERTa family and MPNet start at padding_idx + 1, which costs that many positions.
    offset = 0 if encoder.config.padding_idx is None else encoder.config.padding_idx + 1
    max_seq_length = min(max_seq_length, encoder.config.max_positions - offset)
    return SentenceModel(SentenceEncoder(encoder, pooling, normalize), tokenizer, int(max_seq_length), prompts, folder)
