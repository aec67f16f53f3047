"""Hostile or careless input (issue 25, points 15-20): each is one line without a traceback, or a counted bad
record with --on-error skip; nothing is silently kept, dropped or expanded."""

from __future__ import annotations

import gzip
import json
import os
import pickle
import shutil
from pathlib import Path

import pytest

from se1b.cli import main as se1b

TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json")


def _error_line(capsys, command: str) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err[-3000:]
    lines = [line for line in err.splitlines() if line.startswith(f"se1b {command}: error:")]
    assert len(lines) == 1, err[-3000:]
    return lines[0]


def _raw(path: Path, lines: list[bytes]) -> Path:
    with gzip.open(path, "wb") as handle:
        handle.write(b"".join(line + b"\n" for line in lines))
    return path


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    from training.model.tiny import write_tiny_model

    return write_tiny_model(tmp_path_factory.mktemp("model") / "tiny")


@pytest.fixture
def sts_file(tmp_path) -> Path:
    path = tmp_path / "sts.tsv"
    path.write_text("sentence1\tsentence2\tscore\na cat sits\ta dog runs\t1.0\na red car\ta blue bus\t3.0\n"
                    "the sun\tthe moon\t2.0\n")
    return path


def test_a_model_folder_without_tokenizer_files_is_one_line(tmp_path, tiny_model, sts_file, capsys):
    """Point 15: not a 5-token tokenizer that maps every word to [UNK]."""
    folder = tmp_path / "no-tokenizer"
    shutil.copytree(tiny_model, folder)
    for name in TOKENIZER_FILES:
        (folder / name).unlink(missing_ok=True)
    texts = tmp_path / "texts.txt"
    texts.write_text("a cat\nthe stock market fell\n")
    expected = "no tokenizer files"
    assert se1b(["encode", str(folder), "--input", str(texts), "--output", str(tmp_path / "e.npy")]) == 2
    assert expected in _error_line(capsys, "encode")
    assert se1b(["eval", str(folder), "--sts", str(sts_file)]) == 2  # the sentence-transformers backend
    assert expected in _error_line(capsys, "eval")
    assert se1b(["eval", str(folder), "--sts", str(sts_file), "--backend", "flax"]) == 2
    assert expected in _error_line(capsys, "eval")
    assert se1b(["convert", str(folder), str(tmp_path / "converted")]) == 2
    assert expected in _error_line(capsys, "convert")
    assert not (tmp_path / "e.npy").exists() and not (tmp_path / "converted").exists()


def _alias_bomb(levels: int, key: str) -> str:
    """A mapping under `key` whose level i lists level i-1 ten times: 10**levels strings once expanded."""
    lines = [f"{key}:", '  l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels):
        lines.append(f"  l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * 10)}]")
    return "\n".join(lines) + "\n"


def test_a_yaml_alias_bomb_is_refused_before_it_expands(tmp_path, capsys):
    """Point 16: 10 levels of 10 aliases (10^10 strings) in a training config, in a data config and in --set."""
    from training.data.pipeline import load_data_config

    config = tmp_path / "bomb.yaml"
    config.write_text(_alias_bomb(10, key="prompts"))  # a wrong type for prompts: its value was printed in full
    assert se1b(["train", str(config)]) == 2
    line = _error_line(capsys, "train")
    assert f"{config}:" in line and "expands (through aliases) to over" in line and len(line) < 400
    data = tmp_path / "data.yaml"
    data.write_text(_alias_bomb(10, key="sources"))
    with pytest.raises(Exception, match="expands \\(through aliases\\)"):
        load_data_config(data)
    recursive = tmp_path / "recursive.yaml"
    recursive.write_text("steps: &a [1, *a]\n")
    assert se1b(["train", str(recursive)]) == 2
    assert "a recursive document" in _error_line(capsys, "train")
    # A value that is allowed but wrong is printed cut short, not in full.
    wrong = tmp_path / "wrong.yaml"
    nested = "lol"
    for _ in range(4):
        nested = [nested] * 10
    wrong.write_text(f"steps: {json.dumps(nested)}\n")  # 10,000 strings: within the bounds, but not a step count
    assert se1b(["train", str(wrong)]) == 2
    line = _error_line(capsys, "train")
    assert "config field 'steps' has the wrong type: [[" in line and len(line) < 400


def test_lone_surrogates_and_deep_nesting_are_counted_bad_records(tmp_path, capsys):
    """Point 17: a lone surrogate escape and 100,000 nested lists, counted with --on-error skip, else one line."""
    from datasets_builders import load_build

    raw = _raw(tmp_path / "raw.jsonl.gz", [b'["q1", "a1"]', b'["\\ud800 alone", "a2"]', b"[" * 100_000,
                                           b'["\\ud83d\\ude00 a pair of surrogates is one character", "a4"]'])
    out = tmp_path / "build"
    assert se1b(["data", "build", "squad", "--raw", str(raw), "--out", str(out), "--on-error", "skip"]) == 0
    build = load_build(out)
    assert build.stats.rejected == {"invalid_text": 1, "too_deeply_nested": 1}
    assert build.dataset["anchor"] == ["q1", "\U0001f600 a pair of surrogates is one character"]
    assert se1b(["data", "build", "squad", "--raw", str(raw), "--out", str(tmp_path / "strict")]) == 2
    assert "raw.jsonl.gz:line 2: invalid_text" in _error_line(capsys, "data")
    deep = _raw(tmp_path / "deep.jsonl.gz", [b"[" * 100_000])
    assert se1b(["data", "build", "squad", "--raw", str(deep), "--out", str(tmp_path / "strict")]) == 2
    assert "deep.jsonl.gz:line 1: too_deeply_nested" in _error_line(capsys, "data")
    assert not (tmp_path / "strict").exists()


def _write_model_folder_with_pickle(folder: Path, tiny_model: Path, marker: Path) -> None:
    shutil.copytree(tiny_model, folder)
    (folder / "model.safetensors").unlink()

    class RunsCode:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    (folder / "pytorch_model.bin").write_bytes(pickle.dumps({"weight": RunsCode()}))


def test_eval_through_sentence_transformers_refuses_pickles_and_lying_configs_in_one_line(tmp_path, tiny_model,
                                                                                         sts_file, capsys):
    """Point 18: the default backend, like the Flax one: one line, and the pickle never runs."""
    marker = tmp_path / "the-pickle-ran"
    pickled = tmp_path / "pickled"
    _write_model_folder_with_pickle(pickled, tiny_model, marker)
    assert se1b(["eval", str(pickled), "--sts", str(sts_file)]) == 2
    assert "UnpicklingError" in _error_line(capsys, "eval")
    assert not marker.exists()
    lying = tmp_path / "lying"
    shutil.copytree(tiny_model, lying)
    config = json.loads((lying / "config.json").read_text())
    (lying / "config.json").write_text(json.dumps(config | {"hidden_size": 64, "intermediate_size": 128}))
    assert se1b(["eval", str(lying), "--sts", str(sts_file)]) == 2
    assert "do not have the sizes its config.json gives" in _error_line(capsys, "eval")
    assert se1b(["eval", str(lying), "--sts", str(sts_file), "--backend", "flax"]) == 2
    assert "config implies" in _error_line(capsys, "eval")


def _beir(folder: Path, corpus: list[dict], qrels: list[str]) -> Path:
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps(record) + "\n" for record in corpus))
    queries = [{"_id": "q1", "text": "cats"}, {"_id": "q2", "text": "cars"}]
    (folder / "queries.jsonl").write_text("".join(json.dumps(record) + "\n" for record in queries))
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{r}\n" for r in qrels))
    return folder


def test_beir_duplicate_ids_and_judgments_of_missing_documents_are_counted(tmp_path, capsys):
    """Point 19: a repeated corpus _id and a judgment naming a missing document are counted and said; a qrels file
    that matches nothing is refused."""
    import numpy as np

    from se1b.errors import UserError
    from training.evaluation.evaluate import evaluate_model

    corpus = [{"_id": "d1", "text": "a cat"}, {"_id": "d1", "text": "a different document"},
              {"_id": "d2", "text": "a car"}]
    folder = _beir(tmp_path / "beir", corpus, ["q1\td1\t1", "q1\tmissing\t1", "q2\td2\t1"])

    def encode(texts):
        return np.array([[1.0, 0.0] if "cat" in text else [0.0, 1.0] for text in texts])

    [result] = evaluate_model(encode, retrieval=folder)
    out = capsys.readouterr().out
    assert "left out 1 x record with a repeated _id in corpus.jsonl (the first is kept)" in out
    assert "left out 1 x judgment for a document not in corpus.jsonl" in out
    assert result.metrics["corpus"] == 2
    nothing = _beir(tmp_path / "nothing", corpus, ["q1\tmissing\t1", "q2\tgone\t1"])
    with pytest.raises(UserError, match="no query has a relevant document in the corpus"):
        evaluate_model(encode, retrieval=nothing)


def test_zero_width_texts_and_duplicate_keys_are_counted(tmp_path, capsys):
    """Point 20: a text of zero-width characters only is an empty text; an object naming a key twice is a bad
    record (`duplicate_key`), in the pair reader and in the miners' JSON reader."""
    from datasets_builders import load_build

    raw = _raw(tmp_path / "raw.jsonl.gz", [
        '["\u200b\u200d\u2060\ufeff", "a positive"]'.encode(),
        b'{"anchor": "q", "positive": "first", "positive": "second"}',
        '["a text with a zero\u200bwidth space inside", "kept"]'.encode(),
    ])
    out = tmp_path / "build"
    assert se1b(["data", "build", "squad", "--raw", str(raw), "--out", str(out), "--on-error", "skip"]) == 0
    build = load_build(out)
    assert build.stats.rejected == {"empty_text": 1, "duplicate_key": 1}
    assert build.dataset["positive"] == ["kept"]
    assert se1b(["data", "build", "squad", "--raw", str(raw), "--out", str(tmp_path / "strict")]) == 2
    assert "line 1: empty_text: text 1 holds only invisible (zero-width) characters" in _error_line(capsys, "data")

    from datasets_builders.miners.common import json_records

    snli = tmp_path / "snli.jsonl"
    snli.write_text('{"sentence1": "a", "sentence2": "b", "gold_label": "entailment", "gold_label": "contradiction"}'
                    "\n")
    [(_, location, drop)] = list(json_records(snli))
    assert location == "line 1" and drop.reason == "duplicate_key"
