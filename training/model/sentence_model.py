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

# sentence-transformers' pooling modes; a module may concatenate several ("cls+mean" here).
POOLING_MODES = ("cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken")
# Padded lengths jit compiles for: a batch is padded up to the next bucket, so a whole corpus costs a bounded
# number of compilations (at most 23 up to 512 tokens) instead of one per distinct length, while padding wastes
# little compute: steps of 8 tokens up to 128, where most sentences fall, then coarser.
LENGTH_BUCKETS = (*range(8, 129, 8), 160, 192, 256, 320, 384, 448, 512)


def bucket_length(longest: int, max_seq_length: int) -> int:
    """The padded length for a batch whose longest sequence has `longest` tokens."""
    return min(next((b for b in LENGTH_BUCKETS if b >= longest), longest), max_seq_length)


def pooling_modes(pooling: str) -> tuple[str, ...]:
    """The modes of a pooling name ("cls+mean" -> ("cls", "mean")), each checked."""
    modes = tuple(pooling.split("+"))
    for mode in modes:
        if mode not in POOLING_MODES:
            raise UserError(f"unknown pooling mode {mode!r}; supported: {', '.join(POOLING_MODES)}")
    return modes


def pool(hidden: jax.Array, attention_mask: jax.Array, mode: str) -> jax.Array:
    """Pool token states [B, T, H] into one vector per text over the tokens `attention_mask` keeps, as
    sentence-transformers' Pooling does for right-padded batches; modes joined by "+" are concatenated."""
    mask = attention_mask[..., None].astype(hidden.dtype)
    out = []
    for name in pooling_modes(mode):
        if name == "cls":  # the first kept token: [CLS], or the first after an excluded prompt
            out.append(jnp.take_along_axis(hidden, attention_mask.argmax(axis=1)[:, None, None], axis=1)[:, 0])
        elif name == "max":
            out.append(jnp.where(mask > 0, hidden, -1e9).max(axis=1))
        elif name in ("mean", "mean_sqrt_len_tokens"):
            count = jnp.maximum(mask.sum(axis=1), 1e-9)
            out.append((hidden * mask).sum(axis=1) / (count if name == "mean" else jnp.sqrt(count)))
        elif name == "weightedmean":  # position weights 1..T (right padding: no shift)
            weights = mask * jnp.arange(1, hidden.shape[1] + 1, dtype=hidden.dtype)[None, :, None]
            out.append((hidden * weights).sum(axis=1) / jnp.maximum(weights.sum(axis=1), 1e-9))
        else:  # lasttoken: the last kept token
            last = hidden.shape[1] - 1 - attention_mask[:, ::-1].argmax(axis=1)
            out.append(jnp.take_along_axis(hidden * mask, last[:, None, None], axis=1)[:, 0])
    return out[0] if len(out) == 1 else jnp.concatenate(out, axis=-1)


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

    def __init__(self, encoder: TransformerEncoder, pooling: str = "mean", normalize: bool = True,
                 include_prompt: bool = True):
        pooling_modes(pooling)
        self.encoder, self.pooling, self.normalize = encoder, pooling, normalize
        self.include_prompt = include_prompt  # False: pooling skips the prompt's tokens (encode passes the mask)

    def __call__(
        self,
        input_ids: jax.Array,
        attention_mask: jax.Array,
        *,
        dropout_rng: jax.Array | None = None,
        pooling_mask: jax.Array | None = None,
        text_ids: jax.Array | None = None,
        num_texts: int | None = None,
    ) -> jax.Array:
        """[B, D] embeddings of B padded texts (`pooling_mask`: the tokens pooled, default the attention mask), or of
        `num_texts` texts packed into the rows (`text_ids`: see training/model/packing.py)."""
        hidden = self.encoder(input_ids, attention_mask, dropout_rng=dropout_rng, segment_ids=text_ids)
        if text_ids is None:
            mask = attention_mask if pooling_mask is None else pooling_mask
            embeddings = pool(hidden.astype(jnp.float32), mask, self.pooling)
        else:
            embeddings = pool_packed(hidden.astype(jnp.float32), attention_mask, text_ids, num_texts, self.pooling)
        if self.normalize:
            embeddings = embeddings / jnp.maximum(jnp.linalg.norm(embeddings, axis=-1, keepdims=True), 1e-12)
        return embeddings

    @property
    def dimension(self) -> int:
        return self.encoder.hidden_size * len(pooling_modes(self.pooling))


@partial(jax.jit, static_argnums=0)
def _embed(graphdef: nnx.GraphDef, state: nnx.State, input_ids: jax.Array, attention_mask: jax.Array,
           pooling_mask: jax.Array) -> jax.Array:
    # jax.jit over the split model rather than nnx.jit: nnx.jit re-walks the module graph on every call, which
    # costs ~25 ms per batch on CPU, as much as the forward pass of a short batch.
    return nnx.merge(graphdef, state)(input_ids, attention_mask, pooling_mask=pooling_mask)


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
    default_prompt_name: str | None = None  # its prompt is prepended when encode gets no prompt_name
    similarity_fn_name: str | None = None  # None: cosine, as in sentence-transformers
    truncate_dim: int | None = None  # encode keeps the first truncate_dim dimensions (after normalisation)
    do_lower_case: bool = False  # sentence_bert_config.json: lower-case texts before tokenising

    def token_ids(self, texts: list[str], max_seq_length: int | None = None) -> list[list[int]]:
        """The token ids of each text (with the special tokens), truncated to max_seq_length; not padded."""
        if self.do_lower_case:
            texts = [text.lower() for text in texts]
        return self.tokenizer(texts, truncation=True, max_length=max_seq_length or self.max_seq_length,
                              padding=False)["input_ids"]

    def pad(self, ids: list[list[int]], max_seq_length: int | None = None) -> dict[str, np.ndarray]:
        """Token id lists -> int32 input_ids and attention_mask, right-padded to the bucket of the longest."""
        length = bucket_length(max(len(row) for row in ids), max_seq_length or self.max_seq_length)
        input_ids = np.full((len(ids), length), self.tokenizer.pad_token_id, dtype=np.int32)
        attention_mask = np.zeros((len(ids), length), dtype=np.int32)
        for row, tokens in enumerate(ids):
            input_ids[row, : len(tokens)] = tokens
            attention_mask[row, : len(tokens)] = 1
        return {"input_ids": input_ids, "attention_mask": attention_mask}

    def tokenize(self, texts: list[str], max_seq_length: int | None = None) -> dict[str, np.ndarray]:
        """Tokenise and pad to a bucket length (int32 input_ids and attention_mask)."""
        return self.pad(self.token_ids(texts, max_seq_length), max_seq_length)

    def prompt_length(self, prompt: str) -> int:
        """Tokens of `prompt` as pooling excludes them: with the leading special token, without a trailing one
        (sentence-transformers' rule)."""
        ids = self.tokenizer([prompt.lower() if self.do_lower_case else prompt])["input_ids"][0]
        return len(ids) - (1 if ids and ids[-1] in self.tokenizer.all_special_ids else 0)

    def encode(
        self, texts: list[str], batch_size: int = 64, show_progress_bar: bool = False, prompt_name: str | None = None,
        pack: bool = False,
    ) -> np.ndarray:
        """Embed texts; returns float32 [len(texts), dimension]. `prompt_name` picks one of the model's prompts;
        without it the default prompt (if any) is used.

        Texts are tokenised a chunk at a time (256 batches) and batched in order of token count, so a batch's texts
        have near-equal lengths and pad little (sentence-transformers sorts by characters: ~1.2x the computed positions
        here); while one batch computes, the next is prepared (jax dispatches asynchronously). With `pack`, each
        batch's texts are packed several per row of max_seq_length tokens instead (training/model/packing.py; row
        counts rounded to batch_size / 8, so at most 8 shapes compile)."""
        from tqdm.auto import tqdm

        if prompt_name is not None and prompt_name not in self.prompts:
            raise UserError(f"unknown prompt {prompt_name!r}; this model has: {sorted(self.prompts) or 'none'}")
        prompt = self.prompts.get(prompt_name or self.default_prompt_name or "", "") if self.prompts else ""
        if prompt:
            texts = [prompt + text for text in texts]
        skip = self.prompt_length(prompt) if prompt and not self.model.include_prompt else 0
        if pack and skip:  # packed pooling takes every token of a text; excluding a prefix is not implemented
            raise UserError("encode(pack=True) does not support a prompt excluded from pooling (include_prompt=False)")
        graphdef, state = nnx.split(self.model)
        result = np.zeros((len(texts), self.model.dimension), dtype=np.float32)
        previous = None  # (rows, embeddings) of the batch dispatched last, not read yet
        chunk_size = batch_size * 256  # bounds the token lists held at once on large inputs
        progress = tqdm(total=-(-len(texts) // batch_size), desc="encode", unit="batch", disable=not show_progress_bar)
        for chunk_start in range(0, len(texts), chunk_size):
            ids = self.token_ids(texts[chunk_start : chunk_start + chunk_size])
            order = np.argsort([-len(row) for row in ids], kind="stable")
            for start in range(0, len(ids), batch_size):
                index = order[start : start + batch_size]
                batch_ids = [ids[i] for i in index]
                if pack:
                    from training.model.packing import pack_texts

                    packed = pack_texts(batch_ids, self.max_seq_length, pad_id=self.tokenizer.pad_token_id,
                                        row_multiple=max(batch_size // 8, 1))
                    embedded = _embed_packed(graphdef, state, packed["input_ids"], packed["attention_mask"],
                                             packed["text_ids"], len(index))
                else:
                    batch = self.pad(batch_ids)
                    pooling_mask = batch["attention_mask"].copy()
                    pooling_mask[:, :skip] = 0
                    embedded = _embed(graphdef, state, batch["input_ids"], batch["attention_mask"], pooling_mask)
                if previous is not None:  # read the previous batch only now that this one is queued behind it
                    result[previous[0]] = np.asarray(previous[1])
                    progress.update()
                previous = (chunk_start + index, embedded)
        if previous is not None:
            result[previous[0]] = np.asarray(previous[1])
            progress.update()
        progress.close()
        return result[:, : self.truncate_dim] if self.truncate_dim else result

    def embed_tokens(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """Embed already tokenised rows (as `tokenize` returns them); float32 [rows, dim]."""
        graphdef, state = nnx.split(self.model)
        return np.asarray(_embed(graphdef, state, input_ids, attention_mask, attention_mask), dtype=np.float32)

    @property
    def dimension(self) -> int:
        """The width of what encode returns."""
        return min(self.truncate_dim or self.model.dimension, self.model.dimension)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise UserError(f"{path}: invalid JSON at line {error.lineno}: {error.msg}") from error


# sentence-transformers' classic pooling keys -> modes (all false means mean, as sentence-transformers reads it).
LEGACY_POOLING_KEYS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}
# The folder's Transformer settings file: sentence-transformers tries these names in this order.
TRANSFORMER_CONFIG_FILES = ("sentence_bert_config.json", "sentence_roberta_config.json",
                            "sentence_distilbert_config.json", "sentence_camembert_config.json",
                            "sentence_albert_config.json", "sentence_xlm-roberta_config.json",
                            "sentence_xlnet_config.json")


def pooling_from_config(config: dict[str, Any], where: Path | str = "1_Pooling/config.json") -> str:
    """The pooling name of a Pooling config in either form: {"pooling_mode": "mean" | [modes]} (5.4+) or the
    classic pooling_mode_*_tokens booleans; several modes are concatenated ("cls+mean")."""
    mode = config.get("pooling_mode")
    if mode is not None:  # the 5.4+ form; legacy keys, if any, are then ignored as sentence-transformers does
        modes = [mode] if isinstance(mode, str) else list(mode)
    else:
        modes = [name for key, name in LEGACY_POOLING_KEYS.items() if config.get(key)] or ["mean"]
    modes = [{"mean_tokens": "mean", "cls_token": "cls", "max_tokens": "max"}.get(m, m) for m in modes]
    unknown = [m for m in modes if m not in POOLING_MODES]
    if unknown:
        raise UserError(f"{where}: unknown pooling mode {unknown[0]!r}; supported: {', '.join(POOLING_MODES)}")
    return "+".join(modes)


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


def _module_kind(module: dict[str, Any]) -> str:
    """Transformer / Pooling / Normalize for sentence-transformers' own classes under any of their import paths
    (classic `sentence_transformers.models.X`, 5.4+ `sentence_transformers.base.modules.x.X` ...); else the type."""
    kind = str(module.get("type", ""))
    name = kind.rsplit(".", 1)[-1]
    return name if kind.startswith("sentence_transformers.") and name in ("Transformer", "Pooling", "Normalize") \
        else kind


def read_pipeline(folder: Path) -> dict[str, Any]:
    """The settings of a sentence-transformers folder (Transformer -> Pooling -> [Normalize]), resolved as
    sentence-transformers resolves them; one UserError naming any module se1b cannot honour."""
    modules_file = folder / "modules.json"
    modules = _read_json(modules_file)
    if not isinstance(modules, list) or not all(isinstance(m, dict) and "type" in m for m in modules):
        raise UserError(f"{modules_file}: expected a list of {{idx, name, path, type}} modules")
    for position, module in enumerate(modules):
        if position > 2 or _module_kind(module) != ("Transformer", "Pooling", "Normalize")[position]:
            raise UserError(f"{modules_file}: module {module.get('name', position)} ({module['type']}) is not "
                            f"supported; se1b reads Transformer -> Pooling -> [Normalize] models")
    if len(modules) < 2:
        raise UserError(f"{modules_file}: no Pooling module after the Transformer; se1b reads Transformer -> Pooling "
                        f"-> [Normalize] models")
    transformer_dir = folder / modules[0].get("path", "")
    st_config: dict[str, Any] = {}
    for name in TRANSFORMER_CONFIG_FILES:
        if (transformer_dir / name).exists():
            st_config = _read_json(transformer_dir / name)
            break
    task = st_config.get("transformer_task", "feature-extraction")
    if task != "feature-extraction":
        raise UserError(f"{transformer_dir}: Transformer task {task!r} is not supported (only feature-extraction)")
    pooling_file = folder / modules[1].get("path", "") / "config.json"
    pooling_config = _read_json(pooling_file) if pooling_file.exists() else {}
    model_config = {}
    if (folder / "config_sentence_transformers.json").exists():
        model_config = _read_json(folder / "config_sentence_transformers.json")
    if model_config.get("model_type", "SentenceTransformer") != "SentenceTransformer":
        raise UserError(f"{folder / 'config_sentence_transformers.json'}: a {model_config['model_type']} model, "
                        f"not a SentenceTransformer")
    tokenizer_kwargs = dict(st_config.get("processor_kwargs") or st_config.get("tokenizer_args") or {})
    tokenizer_kwargs.pop("trust_remote_code", None)
    return {
        "transformer_dir": transformer_dir,
        "tokenizer_kwargs": tokenizer_kwargs,
        "max_seq_length": st_config.get("max_seq_length"),
        "do_lower_case": bool(st_config.get("do_lower_case", False)),
        "pooling": pooling_from_config(pooling_config, pooling_file),
        "include_prompt": bool(pooling_config.get("include_prompt", True)),
        "normalize": len(modules) == 3,
        "prompts": dict(model_config.get("prompts") or {}),
        "default_prompt_name": model_config.get("default_prompt_name"),
        "similarity_fn_name": model_config.get("similarity_fn_name"),
        "truncate_dim": model_config.get("truncate_dim"),
    }


def check_tokenizer(tokenizer: Any, folder: Path | str) -> None:
    """Refuse a tokenizer that knows nothing but its special tokens: what transformers builds from a model folder
    without tokenizer files (every word becomes [UNK], so all texts embed alike)."""
    special = set(tokenizer.all_special_tokens)
    if not set(tokenizer.get_vocab()) - special:
        raise UserError(f"{folder}: no tokenizer files (tokenizer.json, vocab.txt, sentencepiece model, ...): the "
                        f"tokenizer would know only its {len(special)} special tokens; copy the base model's "
                        "tokenizer files into the folder")


def load_sentence_model(path: str | Path, *, dtype: Any = jnp.float32) -> SentenceModel:
    """Load a sentence-transformers folder, or a plain Hugging Face folder (mean pooling, normalised), from a local
    path or a Hub model id. Every setting resolves as in sentence-transformers (v2 to v6 layouts)."""
    from transformers import AutoTokenizer

    folder = resolve_model_folder(path)
    settings: dict[str, Any] = {"transformer_dir": folder, "tokenizer_kwargs": {}, "max_seq_length": None,
                                "pooling": "mean", "normalize": True}
    if (folder / "modules.json").exists():
        settings = read_pipeline(folder)
    transformer_dir = settings.pop("transformer_dir")
    tokenizer_kwargs = settings.pop("tokenizer_kwargs")
    max_seq_length = settings.pop("max_seq_length")
    # Precedence as sentence-transformers': the Transformer config's tokenizer model_max_length, then its
    # max_seq_length, then the tokenizer's own model_max_length capped at the model's max_position_embeddings.
    explicit = "model_max_length" in tokenizer_kwargs or max_seq_length is not None
    if max_seq_length is not None:
        tokenizer_kwargs.setdefault("model_max_length", max_seq_length)
    encoder = load_hf_encoder(transformer_dir, dtype=dtype)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(transformer_dir), **tokenizer_kwargs)
    except Exception as error:
        raise UserError(f"cannot load the tokenizer in {transformer_dir}: {error}") from error
    check_tokenizer(tokenizer, transformer_dir)
    length = int(tokenizer.model_max_length)
    if not explicit and encoder.config.max_positions != -1:
        length = min(length, encoder.config.max_positions)
    # Position ids of the RoBERTa family and MPNet start at padding_idx + 1, which costs that many positions: a
    # longer length would index past the position table (sentence-transformers fails there).
    offset = 0 if encoder.config.padding_idx is None else encoder.config.padding_idx + 1
    length = min(length, encoder.config.max_positions - offset)
    sentence_encoder = SentenceEncoder(encoder, settings.pop("pooling"), settings.pop("normalize"),
                                       settings.pop("include_prompt", True))
    return SentenceModel(sentence_encoder, tokenizer, length, source_dir=folder, **settings)
