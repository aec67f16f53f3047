"""The quickstart main job, scaled down: stdlib mining -> publish -> training -> in-domain and benchmark scores ->
export -> card, offline, on real text (the local Python standard library), nothing synthetic."""

import json
from collections import Counter

import pytest
import yaml
from datasets import load_dataset
from sentence_transformers import SentenceTransformer

from datasets_builders.miners.pysource import codesearchnet_records, held_out, stdlib_folder
from model_cards.hub_rules import dataset_card_problems
from se1b.cli import main as se1b
from training.model.backends import missing_packages
from training.quickstart.run import DATASET_NAME
from training.quickstart.stdlib_pairs import HELDOUT_LABEL, HELDOUT_NAME, SOURCE

pytestmark = pytest.mark.usefixtures("ray_session")  # builds run on Ray Data: one instance for all tests

MODULE = '''"""A module."""

import functools


def add(a, b):
    """Add two numbers and return the sum.

    Longer text that is not part of the summary.
    """
    return a + b


class Stack:
    @functools.cache
    def push(self, item):
        """Push an item onto the stack."""
        self.items.append(item)

    def pop(self):
        return self.items.pop()

    def only_doc(self):
        """A function that is only its docstring."""
'''


def test_documented_functions_become_codesearchnet_records_without_their_docstring(tmp_path):
    (tmp_path / "pkg" / "tests").mkdir(parents=True)
    (tmp_path / "pkg" / "mod.py").write_text(MODULE)
    (tmp_path / "pkg" / "tests" / "test_mod.py").write_text('def test_it():\n    """In a test folder."""\n    x\n')
    (tmp_path / "pkg" / "broken.py").write_text("def broken(:\n")
    skipped = Counter()
    records = list(codesearchnet_records(tmp_path, skipped=skipped))
    assert skipped == {"unparsable_file": 1}
    assert [(r["func_name"], r["docstring"]) for r in records] == [
        ("add", "Add two numbers and return the sum."), ("push", "Push an item onto the stack.")]
    add, push = records
    assert add["code"] == "def add(a, b):\n    return a + b" and '"""' in add["original_string"]
    assert push["code"] == "@functools.cache\ndef push(self, item):\n    self.items.append(item)"
    assert add["path"] == "pkg/mod.py" and add["language"] == "python" and add["docstring_tokens"][0] == "Add"
    assert add["partition"] == ("test" if held_out("pkg/mod.py", 10) else "train")


def test_the_stdlib_holds_out_whole_modules():
    records = list(codesearchnet_records(stdlib_folder() / "json"))
    assert len(records) > 10  # the standard library's json package is documented
    by_file = {}
    for record in records:
        by_file.setdefault(record["path"], set()).add(record["partition"])
    assert all(len(partitions) == 1 for partitions in by_file.values())


def test_scaled_down_quickstart_end_to_end(tmp_path, capsys):
    sts = tmp_path / "sts.tsv"  # a small STS file written here, standing in for a public benchmark's
    sts.write_text("sentence1\tsentence2\tscore\n" + "".join(
        f"{a}\t{b}\t{s}\n" for a, b, s in [
            ("Return the sum of two numbers.", "Add two numbers together.", 4.5),
            ("Open a file for reading.", "Read the contents of a file.", 3.5),
            ("Sort the list in place.", "Parse an HTTP header.", 0.5),
            ("Close the network socket.", "Shut down the connection.", 4.0),
            ("Encode a string as JSON.", "Compute a square root.", 0.0),
        ]))
    out = tmp_path / "qs"
    assert se1b(["quickstart", "--out", str(out), "--base", "tiny-bert", "--steps", "30", "--batch-size", "16",
                 "--sts", str(sts)]) == 0
    printed = capsys.readouterr().out

    # The published dataset: real stdlib pairs, one pair config (anchor, positive), loadable with no config name,
    # whose card passes the Hub's rules, names the data's real licence and holds no path of this machine.
    dataset_dir = out / "datasets" / DATASET_NAME
    rows = load_dataset(str(dataset_dir), split="train")
    assert len(rows) > 3000 and rows.column_names == ["anchor", "positive"]
    assert any(row["positive"].startswith("def ") for row in rows.select(range(50)))
    card = (dataset_dir / "README.md").read_text()
    metadata = yaml.safe_load(card.split("---\n")[1])
    assert dataset_card_problems(metadata) == []
    assert metadata["license"] == "other" and metadata["license_name"] == "psf-2.0"
    assert [c["config_name"] for c in metadata["configs"]] == [SOURCE]
    for path in dataset_dir.rglob("*"):
        if path.is_file() and path.suffix in (".md", ".json"):
            assert str(tmp_path) not in path.read_text() and str(stdlib_folder()) not in path.read_text()

    # Training improved the in-domain score on modules it never saw; both numbers are in the card's metadata.
    run = json.loads((out / "run" / "model" / "run_metadata.json").read_text())
    heldout = {e["step"]: e["metrics"]["ndcg@10"] for e in run["evaluations"] if e["dataset"] == HELDOUT_NAME}
    # (a tiny random model from 0.04 to 0.08 in 30 steps here: well above chance, ~0.01 for ~570 functions)
    assert set(heldout) == {0, 30} and heldout[30] > 1.5 * heldout[0] and heldout[30] > heldout[0] + 0.02, heldout
    assert all(e["dataset_name"] == HELDOUT_LABEL for e in run["evaluations"] if e["dataset"] == HELDOUT_NAME)
    history = [json.loads(line) for line in (out / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in history if "eval/sts/spearman" in row] == [0, 30]
    losses = [row["loss"] for row in history if "loss" in row]
    assert losses[-1] < losses[0]

    # What it prints says what each number measures.
    assert "In-domain (held-out stdlib modules, docstring -> function retrieval" in printed
    assert "ndcg@10: " in printed and "Public benchmark (sts.tsv, STS Spearman, not in the training data)" in printed
    assert "gender-bias" in {e["task"] for e in run["evaluations"]}

    # The exported model loads in sentence-transformers and finds a held-out function from its docstring.
    model = SentenceTransformer(str(out / "run" / "model"), device="cpu")
    queries = [json.loads(line) for line in (out / "eval" / HELDOUT_NAME / "queries.jsonl").read_text().splitlines()]
    assert model.encode([queries[0]["text"]]).shape == (1, 32)
    # Trained at the quickstart's 64 tokens, exported with the base model's 128 (tiny-bert's; all-MiniLM-L6-v2: 256).
    assert run["training"]["max_seq_length"] == 64 and run["max_seq_length"] == model.max_seq_length == 128
    # With the backends' packages installed, the ONNX / OpenVINO files ship beside the weights.
    shipped = {"onnx/model.onnx", "onnx/model_qint8_avx512.onnx", "openvino/openvino_model.xml"}
    present = {str(path.relative_to(out / "run" / "model")) for path in (out / "run" / "model").rglob("*")}
    if missing_packages(["onnx", "openvino"]):
        assert "not exporting" in printed and not {"onnx", "openvino"} & present
    else:
        assert shipped <= present
    assert f"se1b demo --models {out / 'run' / 'model'}" in printed
    for file in (out / "run" / "model").rglob("*"):  # no path of this machine anywhere in what would be pushed
        assert not file.is_file() or str(tmp_path).encode() not in file.read_bytes(), file


def test_quickstart_refuses_to_overwrite(tmp_path, capsys):
    (tmp_path / "qs").mkdir()
    (tmp_path / "qs" / "mine.txt").write_text("keep")
    assert se1b(["quickstart", "--out", str(tmp_path / "qs"), "--base", "tiny-bert", "--steps", "1"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "qs" / "mine.txt").read_text() == "keep"


def test_quickstart_names_a_bad_option_in_one_line(tmp_path, capsys):
    assert se1b(["quickstart", "--out", str(tmp_path / "qs"), "--stdlib", str(tmp_path / "missing")]) == 2
    assert "--stdlib" in capsys.readouterr().err and not (tmp_path / "qs").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert se1b(["quickstart", "--out", str(tmp_path / "qs2"), "--stdlib", str(empty)]) == 2
    assert "too few documented Python functions" in capsys.readouterr().err and not (tmp_path / "qs2").exists()
