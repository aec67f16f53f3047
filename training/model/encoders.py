"""Flax NNX transformer encoders that load Hugging Face checkpoints by weight name.

transformers 5 removed its Flax models, so the encoders of the 2021 families are written here: BERT (MiniLM,
TinyBERT), RoBERTa / XLM-RoBERTa / DistilRoBERTa, DistilBERT and MPNet. All are post-LayerNorm encoders of the same
shape; they differ only in
- embeddings: token types (BERT, RoBERTa) or not (DistilBERT, MPNet); position ids counted from 0 (BERT,
  DistilBERT) or from padding_idx + 1 over non-padding tokens (RoBERTa family, MPNet);
- MPNet's relative position bias (T5-style log buckets, one table shared by all layers) added to attention scores;
- weight names (the tables in `_LAYER_NAMES`).

Example:
    >>> encoder = load_hf_encoder("path/to/hf_folder")            # config.json + model.safetensors
    >>> hidden = encoder(input_ids, attention_mask)                 # [batch, seq, hidden], dropout off
    >>> hidden = encoder(input_ids, attention_mask, dropout_rng=jax.random.key(0))   # training
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from se1b.errors import UserError, first_line

SUPPORTED_MODEL_TYPES = ("bert", "roberta", "xlm-roberta", "distilbert", "mpnet")

# Per-layer weight names, relative to the layer prefix; our attribute -> Hugging Face module name.
_BERT_LAYER = {
    "query": "attention.self.query",
    "key": "attention.self.key",
    "value": "attention.self.value",
    "attention_out": "attention.output.dense",
    "attention_norm": "attention.output.LayerNorm",
    "ffn_in": "intermediate.dense",
    "ffn_out": "output.dense",
    "output_norm": "output.LayerNorm",
}
_LAYER_NAMES = {
    "bert": _BERT_LAYER,
    "roberta": _BERT_LAYER,
    "xlm-roberta": _BERT_LAYER,
    "distilbert": {
        "query": "attention.q_lin",
        "key": "attention.k_lin",
        "value": "attention.v_lin",
        "attention_out": "attention.out_lin",
        "attention_norm": "sa_layer_norm",
        "ffn_in": "ffn.lin1",
        "ffn_out": "ffn.lin2",
        "output_norm": "output_layer_norm",
    },
    "mpnet": {
        "query": "attention.attn.q",
        "key": "attention.attn.k",
        "value": "attention.attn.v",
        "attention_out": "attention.attn.o",
        "attention_norm": "attention.LayerNorm",
        "ffn_in": "intermediate.dense",
        "ffn_out": "output.dense",
        "output_norm": "output.LayerNorm",
    },
}
_LAYER_PREFIX = {"distilbert": "transformer.layer.{}."}  # the others: "encoder.layer.{}."
# Task-head checkpoints (e.g. BertForMaskedLM) nest the encoder under the family name.
_CHECKPOINT_PREFIXES = ("bert.", "roberta.", "distilbert.", "mpnet.")


class Passthrough(nnx.Variable):
    """Checkpoint tensors the encoder does not use (e.g. BERT's pooler): kept, untouched by training, so that an
    exported checkpoint holds exactly the tensors that were imported."""


def _check_model_type(config: dict[str, Any]) -> str:
    model_type = config.get("model_type")
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise UserError(
            f"unsupported architecture model_type={model_type!r}; supported: {', '.join(SUPPORTED_MODEL_TYPES)}"
        )
    return model_type


class EncoderConfig:
    """The few numbers the encoder needs, read from a Hugging Face config.json of any supported family."""

    def __init__(self, config: dict[str, Any]):
        self.model_type = _check_model_type(config)
        distil = self.model_type == "distilbert"
        self.vocab_size: int = config["vocab_size"]
        self.hidden_size: int = config["dim" if distil else "hidden_size"]
        self.num_layers: int = config["n_layers" if distil else "num_hidden_layers"]
        self.num_heads: int = config["n_heads" if distil else "num_attention_heads"]
        self.intermediate_size: int = config["hidden_dim" if distil else "intermediate_size"]
        self.activation: str = config["activation" if distil else "hidden_act"]
        self.max_positions: int = config["max_position_embeddings"]
        self.layer_norm_eps: float = 1e-12 if distil else config.get("layer_norm_eps", 1e-12)
        self.dropout: float = config["dropout" if distil else "hidden_dropout_prob"]
        self.attention_dropout: float = config["attention_dropout" if distil else "attention_probs_dropout_prob"]
        self.type_vocab_size: int = (
            0 if self.model_type in ("distilbert", "mpnet") else config.get("type_vocab_size", 2)
        )
        # Position ids count non-padding tokens from padding_idx + 1 in the RoBERTa family (padding_idx =
        # pad_token_id) and MPNet (padding_idx hard-coded to 1); BERT and DistilBERT count from 0.
        self.padding_idx: int | None = None
        if self.model_type in ("roberta", "xlm-roberta"):
            self.padding_idx = config.get("pad_token_id", 1)
        elif self.model_type == "mpnet":
            self.padding_idx = 1
        self.relative_buckets: int = (
            config.get("relative_attention_num_buckets", 32) if self.model_type == "mpnet" else 0
        )


_ACTIVATIONS = {
    "gelu": lambda x: jax.nn.gelu(x, approximate=False),
    "gelu_new": lambda x: jax.nn.gelu(x, approximate=True),
    "gelu_pytorch_tanh": lambda x: jax.nn.gelu(x, approximate=True),
    "relu": jax.nn.relu,
}


def _fmix32(x: jax.Array) -> jax.Array:
    """MurmurHash3's 32-bit finaliser: a bijection of uint32 in which every input bit flips each output bit with
    probability ~1/2."""
    x = (x ^ (x >> 16)) * jnp.uint32(0x85EBCA6B)
    x = (x ^ (x >> 13)) * jnp.uint32(0xC2B2AE35)
    return x ^ (x >> 16)


def _random_words(rng: jax.Array, count: int) -> jax.Array:
    """`count` random uint32 words: element i is a hash of (i, two key words drawn from `rng`).

    Written here rather than drawn with `jax.random.bits` because threefry's 20 rounds per word made the dropout masks
    ~10% of a CPU train step at seq 128 (78 ms for one layer's attention mask of [64, 12, 128, 128] vs 2 ms hashed;
    XLA's RngBitGenerator was 52 ms). A counter-based hash, like torch's Philox dropout: the word of element i does
    not depend on how the array is sharded, so several processes draw the same masks as one."""
    if count > 2**32:
        raise ValueError(f"{count} random words exceed the 2**32 counter")
    k0, k1 = jax.random.bits(rng, (2,), jnp.uint32)
    counter = jax.lax.iota(jnp.uint32, count) * jnp.uint32(0x9E3779B9)  # the golden ratio spreads nearby counters
    return _fmix32(_fmix32(counter + k0) ^ k1)


def _dropout(x: jax.Array, rate: float, rng: jax.Array | None) -> jax.Array:
    """Zero each element with probability `rate` (to within 2**-17) and scale the rest to keep the expectation.

    The mask compares 16 random bits per element with a threshold, two elements per 32-bit word (`_random_words`):
    `jax.random.bernoulli` draws and converts a full float per element."""
    if rng is None or rate == 0.0:
        return x
    threshold = max(round((1.0 - rate) * 65536), 1)  # keep an element when its 16 bits are below this
    size = math.prod(x.shape)
    halves = jax.lax.bitcast_convert_type(_random_words(rng, (size + 1) // 2), jnp.uint16).reshape(-1)
    keep = (halves if size % 2 == 0 else halves[:size]).reshape(x.shape) < threshold
    return jnp.where(keep, x * (65536 / threshold), 0).astype(x.dtype)


class EncoderLayer(nnx.Module):
    def __init__(self, c: EncoderConfig, *, dtype: Any, rngs: nnx.Rngs):
        h, i = c.hidden_size, c.intermediate_size

        def linear(n_in: int, n_out: int) -> nnx.Linear:
            return nnx.Linear(n_in, n_out, dtype=dtype, param_dtype=jnp.float32, rngs=rngs)

        def norm() -> nnx.LayerNorm:
            # LayerNorm statistics stay in fp32 even under bf16 compute.
            return nnx.LayerNorm(h, epsilon=c.layer_norm_eps, dtype=jnp.float32, param_dtype=jnp.float32, rngs=rngs)

        self.query, self.key, self.value, self.attention_out = linear(h, h), linear(h, h), linear(h, h), linear(h, h)
        self.attention_norm = norm()
        self.ffn_in, self.ffn_out = linear(h, i), linear(i, h)
        self.output_norm = norm()
        self.num_heads = c.num_heads
        self.activation = _ACTIVATIONS[c.activation]
        self.dropout, self.attention_dropout = c.dropout, c.attention_dropout
        self.dtype = dtype

    def __call__(self, x: jax.Array, score_bias: jax.Array, rng: jax.Array | None) -> jax.Array:
        batch, seq, hidden = x.shape
        head_dim = hidden // self.num_heads
        rngs = jax.random.split(rng, 3) if rng is not None else (None, None, None)

        def heads(t: jax.Array) -> jax.Array:  # [batch * seq, hidden] -> [batch, heads, seq, head_dim]
            return t.reshape(batch, seq, self.num_heads, head_dim).transpose(0, 2, 1, 3)

        # The dense layers and norms run on [batch * seq, hidden] rows: XLA's CPU backend computes a dense layer's
        # weight gradient from 2-D input ~25% faster than from [batch, seq, hidden] (bench/profile_step.py).
        x = x.reshape(batch * seq, hidden)
        q, k, v = heads(self.query(x)), heads(self.key(x)), heads(self.value(x))
        # scores [batch, heads, query, key]; score_bias carries the padding mask and MPNet's relative positions.
        # Softmax written out so that XLA's CPU backend runs it ~3x faster: q is scaled before the matmul, and the
        # normalisation divides the [.., query, head_dim] output instead of the [.., query, key] probabilities.
        # Dropout on the unnormalised weights equals dropout on the probabilities (the mask is elementwise, the row
        # sums are taken before it). Batched matmuls over [batch, heads, ...] are ~2.5x faster here than an einsum
        # over [batch, seq, heads, dim].
        scores = (q * (1.0 / math.sqrt(head_dim))).astype(self.dtype) @ k.transpose(0, 1, 3, 2)
        scores = scores.astype(jnp.float32) + score_bias
        weights = jnp.exp(scores - jax.lax.stop_gradient(scores.max(axis=-1, keepdims=True)))
        row_sums = weights.sum(axis=-1, keepdims=True)
        weights = _dropout(weights.astype(self.dtype), self.attention_dropout, rngs[0])
        context = ((weights @ v) / row_sums.astype(self.dtype)).transpose(0, 2, 1, 3).reshape(batch * seq, hidden)
        attended = _dropout(self.attention_out(context), self.dropout, rngs[1])
        x = self.attention_norm(x + attended).astype(self.dtype)
        ffn = _dropout(self.ffn_out(self.activation(self.ffn_in(x))), self.dropout, rngs[2])
        return self.output_norm(x + ffn).astype(self.dtype).reshape(batch, seq, hidden)


def _relative_position_bucket(relative_position: jax.Array, num_buckets: int, max_distance: int = 128) -> jax.Array:
    """MPNet's (T5-style) bucketing of key - query distances: exact for small, log-spaced for large, signed."""
    half = num_buckets // 2
    n = -relative_position
    bucket = jnp.where(n < 0, half, 0)
    n = jnp.abs(n)
    max_exact = half // 2
    # max(n, 1) only avoids log(0) in the branch that jnp.where discards for small n.
    large = max_exact + (
        jnp.log(jnp.maximum(n, 1).astype(jnp.float32) / max_exact)
        / math.log(max_distance / max_exact)
        * (half - max_exact)
    ).astype(jnp.int32)
    large = jnp.minimum(large, half - 1)
    return bucket + jnp.where(n < max_exact, n, large)


def segment_start(segment_ids: jax.Array) -> jax.Array:
    """For each token of packed rows [batch, seq], the index of the first token of its segment (its text)."""
    index = jnp.broadcast_to(jnp.arange(segment_ids.shape[1]), segment_ids.shape)
    previous = jnp.pad(segment_ids[:, :-1], ((0, 0), (1, 0)), constant_values=-1)
    return jax.lax.cummax(jnp.where(segment_ids != previous, index, 0), axis=1)


class TransformerEncoder(nnx.Module):
    """A post-LayerNorm transformer encoder of any supported family; returns the last hidden state."""

    def __init__(self, config: dict[str, Any], *, dtype: Any = jnp.float32, seed: int = 0):
        c = self.config = EncoderConfig(config)
        # Kept as a JSON string: static module attributes must be hashable for jax.jit to cache on the graph.
        self.hf_config_json = json.dumps(config, sort_keys=True)
        self.dtype = dtype
        rngs = nnx.Rngs(seed)
        h = c.hidden_size
        self.word_embeddings = nnx.Embed(c.vocab_size, h, dtype=dtype, param_dtype=jnp.float32, rngs=rngs)
        self.position_embeddings = nnx.Embed(c.max_positions, h, dtype=dtype, param_dtype=jnp.float32, rngs=rngs)
        self.token_type_embeddings = (
            nnx.Embed(c.type_vocab_size, h, dtype=dtype, param_dtype=jnp.float32, rngs=rngs)
            if c.type_vocab_size
            else None
        )
        self.embeddings_norm = nnx.LayerNorm(
            h, epsilon=c.layer_norm_eps, dtype=jnp.float32, param_dtype=jnp.float32, rngs=rngs
        )
        self.relative_attention_bias = (
            nnx.Embed(c.relative_buckets, c.num_heads, param_dtype=jnp.float32, rngs=rngs)
            if c.relative_buckets
            else None
        )
        self.layers = nnx.List([EncoderLayer(c, dtype=dtype, rngs=rngs) for _ in range(c.num_layers)])
        self.passthrough = nnx.Dict({})

    def _position_ids(self, input_ids: jax.Array, segment_ids: jax.Array | None = None) -> jax.Array:
        index = jnp.broadcast_to(jnp.arange(input_ids.shape[1]), input_ids.shape)
        # Packed rows: positions restart at each text. start[t] = index of the first token of t's text.
        start = jnp.zeros_like(index) if segment_ids is None else segment_start(segment_ids)
        if self.config.padding_idx is None:
            return index - start
        not_pad = (input_ids != self.config.padding_idx).astype(jnp.int32)
        counted = jnp.cumsum(not_pad, axis=1)
        before_text = jnp.take_along_axis(counted - not_pad, start, axis=1)  # non-pad tokens of earlier texts
        return (counted - before_text) * not_pad + self.config.padding_idx

    def __call__(
        self,
        input_ids: jax.Array,
        attention_mask: jax.Array,
        *,
        dropout_rng: jax.Array | None = None,
        segment_ids: jax.Array | None = None,
    ) -> jax.Array:
        """Last hidden state [batch, seq, hidden]. `segment_ids` [batch, seq] (packed rows: 1, 2, ... numbers the
        texts of a row, 0 is padding) confines attention to each text and restarts positions at each text."""
        x = self.word_embeddings(input_ids) + self.position_embeddings(self._position_ids(input_ids, segment_ids))
        if self.token_type_embeddings is not None:  # single-segment input: token type 0 everywhere
            x = x + self.token_type_embeddings.embedding[0].astype(self.dtype)
        x = self.embeddings_norm(x).astype(self.dtype)
        x = _dropout(
            x, self.config.dropout, None if dropout_rng is None else jax.random.fold_in(dropout_rng, len(self.layers))
        )

        # Additive attention bias [batch or 1, heads or 1, query, key]: padding keys get the most negative float.
        score_bias = jnp.where(attention_mask[:, None, None, :] > 0, 0.0, jnp.finfo(jnp.float32).min)
        if segment_ids is not None:  # block-diagonal: a token sees only the tokens of its own text
            same_text = segment_ids[:, None, :, None] == segment_ids[:, None, None, :]
            score_bias = jnp.where(same_text, score_bias, jnp.finfo(jnp.float32).min)
        # MPNet's relative buckets need no change when packed: within one text, key - query distances are the same
        # whether counted from the row's start or the text's.
        if self.relative_attention_bias is not None:
            positions = jnp.arange(input_ids.shape[1])
            buckets = _relative_position_bucket(positions[None, :] - positions[:, None], self.config.relative_buckets)
            relative = self.relative_attention_bias(buckets).transpose(2, 0, 1)[None]  # [1, heads, q, k]
            score_bias = score_bias + relative
        for index, layer in enumerate(self.layers):
            layer_rng = None if dropout_rng is None else jax.random.fold_in(dropout_rng, index)
            x = layer(x, score_bias, layer_rng)
        return x

    @property
    def hf_config(self) -> dict[str, Any]:
        """The Hugging Face config.json this encoder was built from."""
        return json.loads(self.hf_config_json)

    @property
    def hidden_size(self) -> int:
        return self.config.hidden_size


def encoder_from_hf_config(config: dict[str, Any], *, dtype: Any = jnp.float32, seed: int = 0) -> TransformerEncoder:
    """A randomly initialised encoder for a Hugging Face config dict."""
    return TransformerEncoder(config, dtype=dtype, seed=seed)


# ---------------------------------------------------------------------------------------------------------------
# Weight names: our parameter paths <-> Hugging Face tensor names.


def _hf_name_table(c: EncoderConfig) -> dict[tuple, tuple[str, bool]]:
    """Map each parameter path of our encoder to (Hugging Face tensor name, stored transposed?)."""
    table: dict[tuple, tuple[str, bool]] = {}

    def module(path: tuple, hf: str, kind: str) -> None:
        if kind == "linear":  # torch Linear stores [out, in]; ours is [in, out]
            table[path + ("kernel",)] = (f"{hf}.weight", True)
            table[path + ("bias",)] = (f"{hf}.bias", False)
        elif kind == "norm":
            table[path + ("scale",)] = (f"{hf}.weight", False)
            table[path + ("bias",)] = (f"{hf}.bias", False)
        else:
            table[path + ("embedding",)] = (f"{hf}.weight", False)

    module(("word_embeddings",), "embeddings.word_embeddings", "embed")
    module(("position_embeddings",), "embeddings.position_embeddings", "embed")
    if c.type_vocab_size:
        module(("token_type_embeddings",), "embeddings.token_type_embeddings", "embed")
    module(("embeddings_norm",), "embeddings.LayerNorm", "norm")
    if c.relative_buckets:
        module(("relative_attention_bias",), "encoder.relative_attention_bias", "embed")
    names = _LAYER_NAMES[c.model_type]
    prefix = _LAYER_PREFIX.get(c.model_type, "encoder.layer.{}.")
    for i in range(c.num_layers):
        for attribute, hf in names.items():
            module(("layers", i, attribute), prefix.format(i) + hf, "norm" if attribute.endswith("norm") else "linear")
    return table


def _read_checkpoint(folder: Path) -> dict[str, np.ndarray]:
    safetensors_file, torch_file = folder / "model.safetensors", folder / "pytorch_model.bin"
    try:
        if safetensors_file.exists():
            from safetensors.numpy import load_file

            return load_file(str(safetensors_file))
        if torch_file.exists():
            import torch

            state = torch.load(str(torch_file), map_location="cpu", weights_only=True)
            return {
                name: tensor.float().numpy() if tensor.is_floating_point() else tensor.numpy()
                for name, tensor in state.items()
            }
    except Exception as error:  # corrupt or truncated files raise many different types
        raise UserError(
            f"cannot read checkpoint {safetensors_file if safetensors_file.exists() else torch_file}: "
            f"{first_line(error)}"
        ) from error
    raise UserError(f"no weights in {folder}: expected model.safetensors or pytorch_model.bin")


def read_hf_config(folder: str | Path) -> dict[str, Any]:
    config_file = Path(folder) / "config.json"
    if not config_file.exists():
        raise UserError(f"{config_file} not found: not a Hugging Face model folder")
    try:
        return json.loads(config_file.read_text())
    except json.JSONDecodeError as error:
        raise UserError(f"{config_file}: invalid JSON at line {error.lineno}: {error.msg}") from error


def load_hf_encoder(path: str | Path, *, dtype: Any = jnp.float32) -> TransformerEncoder:
    """Load a Hugging Face checkpoint folder (config.json + model.safetensors or pytorch_model.bin) by weight name."""
    folder = Path(path)
    encoder = TransformerEncoder(read_hf_config(folder), dtype=dtype)
    tensors = _read_checkpoint(folder)
    for prefix in _CHECKPOINT_PREFIXES:  # task-head checkpoints: keep only the encoder, under its bare names
        if any(name.startswith(prefix) for name in tensors):
            tensors = {name[len(prefix) :]: t for name, t in tensors.items() if name.startswith(prefix)}
            break
    tensors = {
        name.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias"): t
        for name, t in tensors.items()
    }

    state = nnx.state(encoder, nnx.Param)
    used = set()
    for path, variable in state.flat_state():
        hf_name, transposed = _hf_name_table(encoder.config)[path]
        if hf_name not in tensors:
            raise UserError(f"{folder}: checkpoint is missing weight {hf_name!r}")
        value = tensors[hf_name].T if transposed else tensors[hf_name]
        if value.shape != variable.get_value().shape:
            raise UserError(
                f"{folder}: weight {hf_name!r} has shape {tensors[hf_name].shape}, config implies "
                f"{variable.get_value().shape[::-1] if transposed else variable.get_value().shape}"
            )
        variable.set_value(jnp.asarray(value, dtype=jnp.float32))
        used.add(hf_name)
    nnx.update(encoder, state)
    encoder.passthrough = nnx.Dict(
        {
            name: Passthrough(jnp.asarray(t), original_dtype=str(t.dtype))
            for name, t in tensors.items()
            if name not in used
        }
    )
    return encoder


def encoder_state_dict(encoder: TransformerEncoder) -> dict[str, np.ndarray]:
    """The encoder's weights under Hugging Face names (fp32, torch layout), plus the passthrough tensors."""
    table = _hf_name_table(encoder.config)
    tensors = {}
    for path, variable in nnx.state(encoder, nnx.Param).flat_state():
        hf_name, transposed = table[path]
        value = np.asarray(variable.get_value(), dtype=np.float32)
        tensors[hf_name] = np.ascontiguousarray(value.T if transposed else value)
    # jax holds int64 buffers (e.g. position_ids) as int32 by default: give them back their checkpoint dtype.
    tensors.update(
        {name: np.asarray(v.get_value()).astype(v.original_dtype) for name, v in encoder.passthrough.items()}
    )
    return tensors
