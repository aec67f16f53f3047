"""The Flax encoders equal transformers' PyTorch models on tiny random configs of every supported family."""

import json

import jax.numpy as jnp
import numpy as np
import pytest
import torch
import transformers

from se1b.errors import UserError
from training.model.encoders import SUPPORTED_MODEL_TYPES, encoder_state_dict, load_hf_encoder
from training.model.tiny import TINY_FAMILIES, write_tiny_model


def padded_batch(family: str, lengths: list[int], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random token ids with right padding; lengths up to 60 reach MPNet's log-spaced relative buckets."""
    pad = 0 if family in ("bert", "distilbert") else 1
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, 30000, size=(len(lengths), max(lengths)))
    mask = np.zeros_like(ids)
    for row, length in enumerate(lengths):
        ids[row, length:] = pad
        mask[row, :length] = 1
    return ids.astype(np.int32), mask.astype(np.int32)


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_flax_matches_pytorch_last_hidden_state(tmp_path, family):
    folder = write_tiny_model(tmp_path / family, family, seed=1, sentence_transformers=False)
    torch_model = transformers.AutoModel.from_pretrained(folder).eval()
    ids, mask = padded_batch(family, [60, 23, 7, 1])
    with torch.no_grad():
        expected = torch_model(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask)).last_hidden_state
    got = np.asarray(load_hf_encoder(folder)(jnp.asarray(ids), jnp.asarray(mask)))
    real = mask.astype(bool)  # padded positions are undefined in both implementations
    np.testing.assert_allclose(got[real], expected.numpy()[real], atol=1e-5, rtol=0)


def test_pytorch_bin_checkpoint_loads_like_safetensors(tmp_path):
    folder = write_tiny_model(tmp_path / "bin", "bert", sentence_transformers=False)
    from_safetensors = encoder_state_dict(load_hf_encoder(folder))
    state = transformers.AutoModel.from_pretrained(folder).state_dict()
    (folder / "model.safetensors").unlink()
    torch.save(state, folder / "pytorch_model.bin")
    from_bin = encoder_state_dict(load_hf_encoder(folder))
    assert from_bin.keys() == from_safetensors.keys()
    for name in from_bin:
        np.testing.assert_array_equal(from_bin[name], from_safetensors[name])


def test_dropout_is_replayed_by_the_same_key(tmp_path):
    import jax

    encoder = load_hf_encoder(write_tiny_model(tmp_path / "m", "bert", sentence_transformers=False))
    ids, mask = padded_batch("bert", [12, 5])
    a = encoder(jnp.asarray(ids), jnp.asarray(mask), dropout_rng=jax.random.key(3))
    b = encoder(jnp.asarray(ids), jnp.asarray(mask), dropout_rng=jax.random.key(3))
    c = encoder(jnp.asarray(ids), jnp.asarray(mask), dropout_rng=jax.random.key(4))
    off = encoder(jnp.asarray(ids), jnp.asarray(mask))
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not np.allclose(np.asarray(a), np.asarray(c))
    assert not np.allclose(np.asarray(a), np.asarray(off))


def test_unknown_architecture_lists_the_supported_ones(tmp_path):
    folder = write_tiny_model(tmp_path / "m", "bert", sentence_transformers=False)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "model_type": "gpt2"}))
    with pytest.raises(UserError, match="gpt2.*supported: " + ", ".join(SUPPORTED_MODEL_TYPES)):
        load_hf_encoder(folder)


def test_missing_weight_is_named(tmp_path):
    from safetensors.numpy import load_file, save_file

    folder = write_tiny_model(tmp_path / "m", "bert", sentence_transformers=False)
    tensors = load_file(str(folder / "model.safetensors"))
    del tensors["encoder.layer.1.output.dense.weight"]
    save_file(tensors, str(folder / "model.safetensors"))
    with pytest.raises(UserError, match="missing weight 'encoder.layer.1.output.dense.weight'"):
        load_hf_encoder(folder)


def test_dropout_words_are_fair_and_uncorrelated():
    """The counter-based words behind the dropout masks (`_random_words`): each of the 32 bits is a fair coin,
    neighbouring 16-bit halves are uncorrelated, and so are the words of keys folded in per layer and step. Bounds
    are 4 standard deviations of a truly random source (fixed keys: the test is deterministic)."""
    from itertools import combinations

    import jax

    from training.model.encoders import _random_words

    key = jax.random.key(0)
    words = np.asarray(_random_words(key, 1 << 20))
    bits = (words[:, None] >> np.arange(32, dtype=np.uint32)) & 1
    assert np.abs(bits.mean(axis=0) - 0.5).max() < 4 * (0.25 / len(words)) ** 0.5
    halves = words.view(np.uint16).astype(np.float64)
    for lag in (1, 2, 3, 64, 4096):
        assert abs(np.corrcoef(halves[:-lag], halves[lag:])[0, 1]) < 4 / len(halves) ** 0.5, lag
    streams = [np.asarray(_random_words(jax.random.fold_in(key, i), 1 << 18)).astype(np.float64) for i in range(4)]
    streams.append(np.asarray(_random_words(jax.random.key(1), 1 << 18)).astype(np.float64))
    for a, b in combinations(streams, 2):
        assert abs(np.corrcoef(a, b)[0, 1]) < 4 / len(a) ** 0.5


@pytest.mark.parametrize("rate, shape", [(0.1, (64, 4, 33, 33)), (0.5, (1001,)), (0.9, (3, 5, 7))])
def test_dropout_drops_at_its_rate_and_keeps_the_expectation(rate, shape):
    """The 16-bit mask (training/model/encoders.py `_dropout`): drop share within 4 standard deviations of `rate`,
    survivors scaled so the mean is kept, odd sizes included, masks independent across keys."""
    import jax

    from training.model.encoders import _dropout

    ones = jnp.ones(shape)
    draws = np.stack([np.asarray(_dropout(ones, rate, jax.random.key(seed))) for seed in range(20)])
    dropped = float((draws == 0).mean())
    sd = (rate * (1 - rate) / draws.size) ** 0.5
    assert abs(dropped - rate) < 4 * sd + 2**-17
    survivors = draws[draws != 0]
    np.testing.assert_allclose(survivors, 65536 / round((1 - rate) * 65536), rtol=1e-6)
    assert abs(float(draws.mean()) - 1.0) < 4 * sd / (1 - rate) + 1e-4
    assert not np.array_equal(draws[0] == 0, draws[1] == 0)
    np.testing.assert_array_equal(np.asarray(_dropout(ones, rate, None)), np.asarray(ones))
