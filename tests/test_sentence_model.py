"""Sentence embeddings, export and the encode/convert commands, against sentence-transformers itself."""

import numpy as np
import pytest
from safetensors.numpy import load_file
from sentence_transformers import SentenceTransformer

from se1b.cli import main as se1b
from training.model.sentence_model import load_sentence_model
from training.model.tiny import write_tiny_model

TEXTS = [
    "A man is eating food.",
    "A man is riding a white horse on an enclosed ground while the crowd watches from the stands.",
    "ok",
    "Three dogs run across the snowy field chasing a red ball that bounces past the fence " * 4,
]


@pytest.fixture(scope="module")
def converted(minilm_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("convert") / "minilm"
    assert se1b(["convert", str(minilm_path), str(out)]) == 0
    return out


def test_flax_embeddings_equal_sentence_transformers_on_real_weights(minilm_path):
    expected = SentenceTransformer(str(minilm_path), device="cpu").encode(TEXTS, batch_size=3)
    got = load_sentence_model(minilm_path).encode(TEXTS, batch_size=3)
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)


def test_convert_round_trip_keeps_weights_and_embeddings(minilm_path, converted):
    source, exported = (
        load_file(str(minilm_path / "model.safetensors")),
        load_file(str(converted / "model.safetensors")),
    )
    # Every weight, not the position_ids buffer transformers rebuilds (stored, transformers 5 reports it UNEXPECTED).
    assert source.keys() - exported.keys() == {"embeddings.position_ids"} and exported.keys() <= source.keys()
    for name in exported:
        assert source[name].dtype == exported[name].dtype and source[name].tobytes() == exported[name].tobytes(), name
    expected = SentenceTransformer(str(minilm_path), device="cpu").encode(TEXTS)
    reloaded = SentenceTransformer(str(converted), device="cpu")
    assert reloaded.max_seq_length == 256
    np.testing.assert_allclose(reloaded.encode(TEXTS), expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("family", ["roberta", "distilbert", "mpnet"])
def test_exported_tiny_models_load_in_sentence_transformers(tmp_path, family):
    source = write_tiny_model(tmp_path / "src", family)
    assert se1b(["convert", str(source), str(tmp_path / "out")]) == 0
    expected = SentenceTransformer(str(source), device="cpu").encode(TEXTS)
    np.testing.assert_allclose(
        SentenceTransformer(str(tmp_path / "out"), device="cpu").encode(TEXTS), expected, atol=1e-5, rtol=0
    )


def test_encode_command_writes_the_same_embeddings(minilm_path, tmp_path):
    (tmp_path / "texts.txt").write_text("\n".join(TEXTS) + "\n")
    assert (
        se1b(
            [
                "encode",
                str(minilm_path),
                "--input",
                str(tmp_path / "texts.txt"),
                "--output",
                str(tmp_path / "emb.npy"),
                "--batch-size",
                "2",
            ]
        )
        == 0
    )
    expected = SentenceTransformer(str(minilm_path), device="cpu").encode(TEXTS)
    np.testing.assert_allclose(np.load(tmp_path / "emb.npy"), expected, atol=1e-5, rtol=0)


def no_output_left(parent, name):
    return not any(p.name == name or p.name.startswith(f".{name}.") for p in parent.iterdir())


def test_convert_refuses_a_non_empty_target_without_overwrite(tmp_path, capsys):
    source = write_tiny_model(tmp_path / "src", "bert")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    assert se1b(["convert", str(source), str(tmp_path / "out")]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "out" / "keep.txt").read_text() == "mine"
    assert se1b(["convert", str(source), str(tmp_path / "out"), "--overwrite"]) == 0
    assert not (tmp_path / "out" / "keep.txt").exists() and (tmp_path / "out" / "modules.json").exists()


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda f: (f / "model.safetensors").unlink(), "no weights in"),
        (
            lambda f: (f / "model.safetensors").write_bytes((f / "model.safetensors").read_bytes()[:1000]),
            "cannot read checkpoint",
        ),
        (lambda f: (f / "config.json").unlink(), "config.json not found"),
        (lambda f: (f / "config.json").write_text('{"model_type": "bert",'), "invalid JSON at line 1"),
        (lambda f: (f / "config.json").write_text('{"model_type": "t5"}'), "unsupported architecture"),
    ],
    ids=["missing-weights", "truncated-weights", "missing-config", "corrupt-config", "unknown-architecture"],
)
def test_bad_checkpoints_give_one_line_errors_and_no_output(tmp_path, capsys, damage, message):
    source = write_tiny_model(tmp_path / "src", "bert")
    damage(source)
    capsys.readouterr()  # drop the fixture's own progress output
    assert se1b(["convert", str(source), str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and len(error.splitlines()) == 1, error
    assert no_output_left(tmp_path, "out")


def test_encode_rejects_empty_and_missing_input(tmp_path, capsys):
    source = write_tiny_model(tmp_path / "src", "bert")
    (tmp_path / "empty.txt").write_text("")
    assert (
        se1b(["encode", str(source), "--input", str(tmp_path / "empty.txt"), "--output", str(tmp_path / "e.npy")]) == 2
    )
    assert "is empty" in capsys.readouterr().err
    assert (
        se1b(["encode", str(source), "--input", str(tmp_path / "nope.txt"), "--output", str(tmp_path / "e.npy")]) == 2
    )
    assert "not found" in capsys.readouterr().err
    (tmp_path / "bad.txt").write_bytes(b"fine\n\xff\xfe broken\n")
    assert (
        se1b(["encode", str(source), "--input", str(tmp_path / "bad.txt"), "--output", str(tmp_path / "e.npy")]) == 2
    )
    assert "bad.txt:2: not valid UTF-8" in capsys.readouterr().err
    assert not (tmp_path / "e.npy").exists()


def test_a_missing_model_is_a_clear_error_offline(tmp_path, capsys):
    (tmp_path / "t.txt").write_text("hello\n")
    out = str(tmp_path / "e.npy")
    assert se1b(["encode", str(tmp_path / "no-such-model"), "--input", str(tmp_path / "t.txt"), "--output", out]) == 2
    assert "does not exist" in capsys.readouterr().err
    # An owner/name id goes to the Hub, which HF_HUB_OFFLINE=1 refuses at once: one line, exit 2.
    assert se1b(["encode", "nobody/no-such-model", "--input", str(tmp_path / "t.txt"), "--output", out]) == 2
    error = capsys.readouterr().err.strip()
    assert "cannot be fetched from the Hub" in error and len(error.splitlines()) == 1


@pytest.mark.parametrize("pooling, normalize", [("cls", False), ("max", True), ("mean", False)])
def test_every_pooling_mode_matches_sentence_transformers(tmp_path, pooling, normalize):
    from training.model.export import write_sentence_transformers_modules

    folder = write_tiny_model(tmp_path / "m", "bert", seed=2)
    (folder / "modules.json").unlink()
    write_sentence_transformers_modules(folder, embedding_dimension=32, max_seq_length=128, normalize=normalize,
                                        pooling=pooling)
    expected = SentenceTransformer(str(folder), device="cpu").encode(TEXTS)
    model = load_sentence_model(folder)
    assert (model.model.pooling, model.model.normalize) == (pooling, normalize)
    np.testing.assert_allclose(model.encode(TEXTS), expected, atol=1e-5, rtol=0)


def test_encode_batches_by_token_count_and_pads_to_fine_buckets(tmp_path, monkeypatch):
    import training.model.sentence_model as sentence_model

    model = load_sentence_model(write_tiny_model(tmp_path / "m", "bert", seed=2))
    # Character length misleads: runs of one-character words are short in characters and long in tokens.
    texts = ["the man is eating food and the woman is", "a b c d e f g h i j k l", "1,2,3,4,5,6", "ok"]
    lengths = [len(ids) for ids in model.token_ids(texts)]
    assert np.argsort(lengths, kind="stable").tolist() != np.argsort([len(t) for t in texts], kind="stable").tolist()
    shapes = []
    embed = sentence_model._embed

    def recording(graphdef, state, input_ids, attention_mask, pooling_mask):
        shapes.append((input_ids.shape[1], sorted(attention_mask.sum(axis=1).tolist())))
        return embed(graphdef, state, input_ids, attention_mask, pooling_mask)

    monkeypatch.setattr(sentence_model, "_embed", recording)
    got = model.encode(texts, batch_size=2)
    longest_two, shortest_two = sorted(lengths)[2:], sorted(lengths)[:2]
    assert shapes == [(sentence_model.bucket_length(longest_two[1], model.max_seq_length), longest_two),
                      (sentence_model.bucket_length(shortest_two[1], model.max_seq_length), shortest_two)]
    assert all(length % 8 == 0 and length - longest < 8 for length, (*_, longest) in shapes)
    one_by_one = np.concatenate([model.encode([text], batch_size=1) for text in texts])
    np.testing.assert_allclose(got, one_by_one, atol=1e-5, rtol=0)


def test_encode_over_several_chunks_keeps_every_text_in_place(tmp_path):
    # batch_size 1 tokenises 256 texts at a time, so 600 texts cross two chunk boundaries; every result lands on
    # its own row (texts differ, so a misplaced row would differ), packed or not.
    model = load_sentence_model(write_tiny_model(tmp_path / "m", "bert", seed=2))
    texts = [f"text number {i} " + "word " * (i % 13) for i in range(600)]
    expected = model.encode(texts, batch_size=64)
    np.testing.assert_allclose(model.encode(texts, batch_size=1), expected, atol=1e-5, rtol=0)
    np.testing.assert_allclose(model.encode(texts, batch_size=1, pack=True), expected, atol=1e-5, rtol=0)
    assert len({row.tobytes() for row in expected}) == len(texts)
