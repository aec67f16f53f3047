"""Sequence packing: packed rows give the same embeddings as one text per row, for every encoder family."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from training.model.packing import pack_texts, padding_efficiency, unpad
from training.model.sentence_model import SentenceEncoder, load_sentence_model
from training.model.tiny import TINY_FAMILIES, write_tiny_model

TEXTS = [
    "A man is eating food.",
    "The quick brown fox jumps over the lazy dog, then runs into the forest and hides until the hunters pass by "
    "and the night falls over the hills, the river and the sleeping village below.",
    "Hi",
    "Packing puts several short texts into one row of the batch.",
    "Each text attends only to itself.",
    "Positions restart at every text, so the encoder cannot tell a packed text from a padded one.",
    "ok",
]


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_packed_embeddings_equal_unpacked(tmp_path, family):
    # RoBERTa-family and MPNet positions count from padding_idx + 1; MPNet adds relative position buckets.
    model = load_sentence_model(write_tiny_model(tmp_path / family, family, seed=2))
    padded = model.tokenize(TEXTS, max_seq_length=64)
    expected = np.asarray(model.model(padded["input_ids"], padded["attention_mask"]))
    packed = pack_texts(unpad(padded), row_length=64, pad_id=model.tokenizer.pad_token_id, row_multiple=2)
    assert packed["input_ids"].shape[0] < len(TEXTS)  # several texts really share rows
    assert packed["input_ids"].shape[0] % 2 == 0  # rounded up to row_multiple: an empty row is harmless too
    for pooling in ("mean", "cls", "max"):
        encoder = SentenceEncoder(model.model.encoder, pooling, normalize=pooling != "max")
        reference = np.asarray(encoder(padded["input_ids"], padded["attention_mask"])) if pooling != "mean" \
            else expected
        got = np.asarray(jax.jit(lambda p, e=encoder: e(p["input_ids"], p["attention_mask"], text_ids=p["text_ids"],
                                                        num_texts=len(TEXTS)))(packed))
        np.testing.assert_allclose(got, reference, atol=1e-5, rtol=0, err_msg=f"{family} {pooling}")


def test_packed_training_gradients_equal_unpacked(tmp_path):
    # Dropout off: the packed and padded forward passes are the same function of the parameters.
    from flax import nnx

    model = load_sentence_model(write_tiny_model(tmp_path / "m", "mpnet", seed=3))
    padded = model.tokenize(TEXTS, max_seq_length=64)
    packed = pack_texts(unpad(padded), row_length=64, pad_id=model.tokenizer.pad_token_id)
    graphdef, params = nnx.split(model.model)
    target = jnp.asarray(np.random.default_rng(0).normal(size=(len(TEXTS), 32)), jnp.float32)

    def loss(p, features, **packing):
        return jnp.sum(nnx.merge(graphdef, p)(features["input_ids"], features["attention_mask"], **packing) * target)

    grads = jax.grad(loss)(params, padded)
    packed_grads = jax.grad(loss)(params, packed, text_ids=packed["text_ids"], num_texts=len(TEXTS))
    for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(packed_grads), strict=True):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), atol=1e-5, rtol=0)


def test_packing_computes_fewer_positions_and_bounds_row_counts():
    rng = np.random.default_rng(0)
    texts = [list(range(1, int(n) + 1)) for n in rng.integers(4, 40, size=256)]
    padded = {"input_ids": np.zeros((256, 128), np.int32),
              "attention_mask": (np.arange(128) < np.array([len(t) for t in texts])[:, None]).astype(np.int32)}
    packed = pack_texts(texts, row_length=128, row_multiple=8)
    real, computed = padding_efficiency(packed)
    assert real == sum(map(len, texts)) == padding_efficiency(padded)[0]
    assert real / computed > 0.85 > 2 * real / padded["attention_mask"].size
    assert packed["input_ids"].shape[0] % 8 == 0
    # Every text appears exactly once, contiguous and in order.
    for index, tokens in enumerate(texts):
        row = np.flatnonzero((packed["text_ids"] == index).any(axis=1))
        assert row.size == 1
        assert packed["input_ids"][row[0]][packed["text_ids"][row[0]] == index].tolist() == tokens
    with pytest.raises(ValueError, match="does not fit in rows of 16"):
        pack_texts([list(range(20))], row_length=16)


def test_packed_train_step_equals_padded_step_and_logs_padding_efficiency(tmp_path):
    # One real train step on a tiny RoBERTa without dropout (the two steps then see the same network): packed and
    # padded batches give the same loss and updated parameters. Then a short run logs padding efficiency.
    import json

    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P
    from test_train import write_fixture_data

    from training.loop.config import TrainConfig
    from training.loop.setup import load_base_model, make_mesh, make_objective
    from training.loop.train import global_batch, init_state, make_train_step, pack_batch, train

    folder = write_tiny_model(tmp_path / "tiny", "roberta")
    hf_config = json.loads((folder / "config.json").read_text())
    hf_config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (folder / "config.json").write_text(json.dumps(hf_config))
    config = TrainConfig(model=str(folder), data="unused", batch_size=len(TEXTS) + 1, learning_rate=1e-3,
                         warmup_steps=0, max_seq_length=64)
    model = load_base_model(config)
    texts = TEXTS + ["one more"]
    local = {"anchor": model.tokenize(texts, 64), "positive": model.tokenize(texts[::-1], 64)}
    objective = make_objective(config)
    results = []
    for packed in (False, True):
        mesh = make_mesh(config)
        graphdef, params, rest, optimizer, _, opt_state = init_state(config, model, mesh)
        step = make_train_step(graphdef, config, objective, optimizer, mesh)
        batch = pack_batch(local, objective, 64, model.tokenizer.pad_token_id, 2) if packed else local
        results.append(step(params, opt_state, rest, global_batch(batch, objective, NamedSharding(mesh, P("data"))),
                            jax.random.key(0)))
    (padded_params, _, padded_metrics), (packed_params, _, packed_metrics) = results
    assert float(packed_metrics["loss"]) == pytest.approx(float(padded_metrics["loss"]), rel=1e-5)
    for a, b in zip(jax.tree.leaves(padded_params), jax.tree.leaves(packed_params), strict=True):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), atol=1e-5, rtol=0)

    paths = write_fixture_data(tmp_path / "data", rows=200)
    run = TrainConfig(model="tiny-bert", data=str(paths["data"]), output_dir=str(tmp_path / "run"), batch_size=16,
                      steps=3, warmup_steps=1, max_seq_length=32, log_every=1, checkpoint_every=3, pack=True)
    train(run)
    logged = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    efficiency = [row["padding_efficiency"] for row in logged if "padding_efficiency" in row]
    assert len(efficiency) == 3 and all(0.5 < e <= 1.0 for e in efficiency)
    # The card shows the run's padding efficiency (the mean of the logged column), packing on, and the shape count.
    meta = json.loads((tmp_path / "run" / "model" / "run_metadata.json").read_text())["training"]
    assert meta["packing"] is True
    assert meta["padding_efficiency"] == pytest.approx(sum(efficiency) / len(efficiency), abs=1e-12)
    assert 1 <= meta["compiled_shapes"] <= 3
    card = (tmp_path / "run" / "model" / "README.md").read_text()
    assert "| sequence packing | on" in card
    assert f"| padding efficiency (real tokens / computed positions) | {100 * meta['padding_efficiency']:.1f}% |" \
        in card
    assert f"| compiled batch shapes | {meta['compiled_shapes']} |" in card


def test_packed_gradcache_step_equals_packed_plain_step(tmp_path):
    # GradCache over packed rows: each chunk's texts (j, j+n, ...) are packed into rows of their own, so every text
    # is embedded by one chunk and the loss sees the embeddings in text order. Dropout off and plain SGD with rate 1:
    # the parameter change of a step is its gradient, compared between padded, packed and packed + GradCache steps.
    import json

    import optax
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    from training.loop.config import TrainConfig
    from training.loop.setup import load_base_model, make_mesh, make_objective
    from training.loop.train import global_batch, init_state, make_train_step, pack_batch

    folder = write_tiny_model(tmp_path / "tiny", "roberta")
    hf_config = json.loads((folder / "config.json").read_text())
    hf_config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (folder / "config.json").write_text(json.dumps(hf_config))
    texts = TEXTS + ["one more"]  # 8 pairs: 4 GradCache chunks of 2
    base = TrainConfig(model=str(folder), data="unused", batch_size=len(texts), max_seq_length=64)
    model = load_base_model(base)
    local = {"anchor": model.tokenize(texts, 64), "positive": model.tokenize(texts[::-1], 64)}
    objective = make_objective(base)
    results = {}
    for name, pack, chunk in (("padded", False, 0), ("packed", True, 0), ("packed+gradcache", True, 2)):
        config = TrainConfig(model=str(folder), data="unused", batch_size=len(texts), max_seq_length=64,
                             pack=pack, gradcache_chunk=chunk)
        mesh = make_mesh(config)
        graphdef, params, rest, _, _, _ = init_state(config, model, mesh)
        before = jax.tree.map(np.array, params)  # a copy: the step donates its input buffers
        sgd = optax.sgd(1.0)
        step = make_train_step(graphdef, config, objective, sgd, mesh)
        num_chunks = len(texts) // chunk if chunk else 1
        batch = pack_batch(local, objective, 64, model.tokenizer.pad_token_id, 1, num_chunks=num_chunks) \
            if pack else local
        if chunk:  # the interleaved layout: GradCache's chunk j (rows j, j+n, ...) holds exactly texts j, j+n, ...
            for j in range(num_chunks):
                numbers = batch["anchor"]["text_ids"][j::num_chunks]
                assert sorted(set(numbers[numbers >= 0].tolist())) == list(range(len(texts) // num_chunks))
        after, _, metrics = step(params, sgd.init(params), rest,
                                 global_batch(batch, objective, NamedSharding(mesh, P("data"))), jax.random.key(0))
        results[name] = (float(metrics["loss"]), jax.tree.map(lambda a, b: a - np.asarray(b), before, after))
    loss, grads = results["padded"]
    for name in ("packed", "packed+gradcache"):
        assert results[name][0] == pytest.approx(loss, rel=1e-5), name
        for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(results[name][1]), strict=True):
            np.testing.assert_allclose(b, a, atol=1e-5, rtol=0, err_msg=name)
    assert max(float(np.abs(g).max()) for g in jax.tree.leaves(grads)) > 1e-3  # the gradients are not all ~0


def test_packed_row_counts_are_bounded():
    # Rows per chunk <= texts per chunk, rounded up to the multiple: at most 8 row counts (compiled shapes) per
    # column, and every count shards evenly over the local devices.
    from training.loop.train import packed_row_multiple

    for texts in range(1, 600):
        for devices in (1, 2, 4, 8):
            multiple = packed_row_multiple(texts, devices)
            assert multiple % devices == 0 and math.ceil(texts / multiple) <= 8


def test_packed_chunks_that_split_processes_are_a_one_line_error(tmp_path, monkeypatch):
    # 4 processes x 4 rows cannot each hold a share of 8 GradCache chunks of 2 rows: refused before anything is
    # written (the count of processes is faked; the check comes before any collective).
    from se1b.errors import UserError
    from training.loop.config import TrainConfig
    from training.loop.train import train

    monkeypatch.setattr(jax, "process_count", lambda: 4)
    config = TrainConfig(model="tiny-bert", data="unused", output_dir=str(tmp_path / "run"), batch_size=16,
                         gradcache_chunk=2, pack=True)
    with pytest.raises(UserError, match="4 rows must split into the 8 GradCache chunks"):
        train(config)
    assert not (tmp_path / "run").exists()


def test_pack_auto_packs_short_wasteful_texts_only_and_never_where_packing_cannot_apply():
    from se1b.errors import UserError
    from training.loop.packing_choice import choose_packing, packing_at_start

    # The first batch's counts as padded: real tokens, computed positions, texts, max_seq_length.
    pack, why = choose_packing(960, 1920, 64, 64)  # captions at 64: 15 tokens per text, efficiency 0.50
    assert pack and why == ("pack auto: the first batch's padding efficiency 0.50 (below 0.6), 15.0 tokens per text "
                            "on average (at most max_seq_length / 3 = 21.3): packing on")
    assert not choose_packing(960, 1200, 64, 64)[0]  # the same texts padded with little waste (0.80)
    pack, why = choose_packing(4160, 8192, 64, 128)  # docstring -> code at 128: 0.51, but 65 tokens per text
    assert not pack and "65.0 tokens per text on average (over max_seq_length / 3 = 42.7): packing off" in why
    # Before the first batch: the config's choice, or auto off where packing cannot apply (4 processes x 4 rows
    # cannot each hold a share of 8 GradCache chunks), where `pack: true` is refused in one line.
    assert packing_at_start("auto", 16, 1, 8) == (None, "")
    assert packing_at_start(False, 16, 1, 1) == (False, "pack: false (the config)")
    assert packing_at_start(True, 16, 1, 8) == (True, "pack: true (the config)")
    assert packing_at_start("auto", 16, 4, 8) == (False, "pack auto: packing off (each of the 4 processes' 4 rows "
                                                         "must split into the 8 GradCache chunks (batch_size / "
                                                         "gradcache_chunk))")
    with pytest.raises(UserError, match="4 rows must split into the 8 GradCache chunks"):
        packing_at_start(True, 16, 4, 8)
    # The config field: true, false or auto (the default).
    from training.loop.config import load_config

    base = ["model=tiny-bert", "data=unused"]
    assert [load_config(None, base + sets).pack for sets in ([], ["pack=true"], ["pack=false"], ["pack=auto"])] \
        == ["auto", True, False, "auto"]
    with pytest.raises(UserError, match=r"--set 'pack=1': config field 'pack' has the wrong type: 1"):
        load_config(None, base + ["pack=1"])


def _write_pairs(root, anchors, positives):
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    (root / "pairs" / "data").mkdir(parents=True)
    pq.write_table(pa.table({"anchor": anchors, "positive": positives}), root / "pairs" / "data" / "train.parquet")
    (root / "pairs" / "README.md").write_text(
        "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n    path: data/*.parquet\n---\n")
    (root / "data.json").write_text(json.dumps({"sources": [{"name": "words", "path": str(root / "pairs")}]}))
    return root / "data.json"


def test_pack_auto_is_the_default_and_the_run_metadata_says_what_it_chose(tmp_path):
    # Short texts, every 4th five words longer: each batch column pads to the longer ones (efficiency ~0.5), so
    # the default packs. Texts of one length pad with little waste: it does not.
    import json
    import random
    import re

    from training.loop.config import TrainConfig
    from training.loop.train import train

    rng = random.Random(0)
    words = "cat dog horse cow rain snow wind storm red blue green car bus train".split()
    varied = [" ".join(rng.sample(words, 6 if i % 4 == 0 else 1) + [str(i)]) for i in range(256)]
    even = [" ".join(rng.sample(words, 4) + [str(i)]) for i in range(256)]
    runs = {"varied": _write_pairs(tmp_path / "data-varied", varied, varied[::-1]),
            "even": _write_pairs(tmp_path / "data-even", even, even[::-1])}
    meta = {}
    for name, data in runs.items():
        config = TrainConfig(model="tiny-bert", data=str(data), output_dir=str(tmp_path / name), batch_size=16,
                             steps=2, warmup_steps=1, max_seq_length=32, log_every=1, checkpoint_every=2)
        assert config.pack == "auto"
        train(config)
        meta[name] = json.loads((tmp_path / name / "model" / "run_metadata.json").read_text())["training"]
    assert meta["varied"]["packing"] is True
    assert meta["varied"]["packing_decision"].startswith("pack auto: the first batch's padding efficiency 0.")
    assert meta["varied"]["packing_decision"].endswith("packing on")
    measured = float(re.search(r"padding efficiency ([0-9.]+) ", meta["varied"]["packing_decision"]).group(1))
    assert meta["varied"]["padding_efficiency"] > measured  # the logged efficiency is the packed rows'
    assert meta["even"]["packing"] is False and meta["even"]["packing_decision"].endswith("packing off")
    assert "(not below 0.6)" in meta["even"]["packing_decision"]
