"""An exported folder's ONNX and OpenVINO files (training/model/backends.py) and its tokenizer files: what
sentence-transformers' `backend="onnx" | "openvino"` and transformers' slow tokenizer load without exporting or
converting anything again. Tiny random BERT, exported here."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from training.model.backends import ONNX_FILE, OPENVINO_FILE, QUANTISED_ONNX_FILES, missing_packages

TEXTS = ["A man is eating food.", "Three dogs run across the snowy field. " * 20, "ok"]
MISSING = missing_packages(["onnx", "openvino"])
needs_backends = pytest.mark.skipif(bool(MISSING), reason=f"not installed: {', '.join(MISSING)} (se1b[backends])")
# The module's export (its slowest part) serves the helper-venv loads too: CI runs the whole module once, after
# building those venvs (.ci/run).
pytestmark = pytest.mark.helper_venvs


def export(source, out, backends=()):
    from training.model.export import export_sentence_model, model_settings
    from training.model.sentence_model import load_sentence_model

    model = load_sentence_model(source)
    return export_sentence_model(model.model, model.tokenizer, out, backends=backends, **model_settings(model))


@pytest.fixture(scope="module")
def tiny_source(tmp_path_factory):
    from training.model.tiny import write_tiny_model

    return write_tiny_model(tmp_path_factory.mktemp("source") / "tiny-bert", "bert", seed=0)


@pytest.fixture(scope="module")
def exported(tiny_source, tmp_path_factory):
    backends = () if MISSING else ("onnx", "openvino")
    return export(tiny_source, tmp_path_factory.mktemp("export") / "model", backends)


def mean_pooled(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """sentence-transformers' Pooling(mean) + Normalize on a last_hidden_state."""
    weights = mask[..., None].astype(np.float32)
    pooled = (hidden * weights).sum(axis=1) / weights.sum(axis=1)
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def tokenized(folder):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    return dict(tokenizer(TEXTS, padding=True, truncation=True, return_tensors="np"))


def test_tokenizer_files_load_as_a_slow_tokenizer_and_match_the_model(exported, tmp_path):
    from transformers import AutoTokenizer, BertTokenizer

    # Only the slow tokenizer's files (no tokenizer.json): what transformers 4's use_fast=False reads.
    slow_only = tmp_path / "slow"
    slow_only.mkdir()
    for name in ("vocab.txt", "special_tokens_map.json", "tokenizer_config.json"):
        shutil.copy(exported / name, slow_only / name)
    slow = AutoTokenizer.from_pretrained(str(slow_only), use_fast=False)
    fast = AutoTokenizer.from_pretrained(str(exported))
    assert isinstance(slow, BertTokenizer)
    assert slow(TEXTS)["input_ids"] == fast(TEXTS)["input_ids"]
    assert json.loads((exported / "special_tokens_map.json").read_text())["cls_token"] == "[CLS]"
    # The tokenizer truncates where the model does.
    max_seq_length = json.loads((exported / "sentence_bert_config.json").read_text())["max_seq_length"]
    assert fast.model_max_length == slow.model_max_length == max_seq_length


def test_backend_files_need_their_packages(tiny_source, tmp_path, monkeypatch):
    from se1b.errors import UserError
    from training.model import backends

    monkeypatch.setattr(backends, "missing_packages", lambda names: ["openvino"])
    with pytest.raises(UserError, match=r"needs openvino: pip install 'se1b\[backends\]'"):
        export(tiny_source, tmp_path / "model", ("openvino",))
    assert not (tmp_path / "model").exists()  # nothing half-written
    with pytest.raises(UserError, match="unknown backend 'tflite'"):
        backends.check_backends(["tflite"])


@needs_backends
def test_onnx_files_give_the_safetensors_embeddings(exported):
    import onnx
    import onnxruntime

    reference = SentenceTransformer(str(exported), device="cpu").encode(TEXTS)
    inputs = tokenized(exported)
    for relative in (ONNX_FILE, *QUANTISED_ONNX_FILES):
        graph = onnx.load(str(exported / relative))
        assert [i.name for i in graph.graph.input] == list(inputs)
        assert [o.name for o in graph.graph.output] == ["last_hidden_state"]
        session = onnxruntime.InferenceSession(str(exported / relative), providers=["CPUExecutionProvider"])
        (hidden,) = session.run(None, {name: value.astype(np.int64) for name, value in inputs.items()})
        cosine = (mean_pooled(hidden, inputs["attention_mask"]) * reference).sum(axis=1)
        assert cosine.min() > (0.99999 if relative == ONNX_FILE else 0.95), relative
    quantised = {n.op_type for n in onnx.load(str(exported / next(iter(QUANTISED_ONNX_FILES)))).graph.node}
    assert "MatMulInteger" in quantised or "DynamicQuantizeLinear" in quantised


@needs_backends
def test_openvino_file_gives_the_safetensors_embeddings(exported):
    import openvino

    reference = SentenceTransformer(str(exported), device="cpu").encode(TEXTS)
    inputs = tokenized(exported)
    compiled = openvino.Core().compile_model(str(exported / OPENVINO_FILE), "CPU")
    hidden = compiled({port.any_name: inputs[port.any_name] for port in compiled.inputs})[0]
    cosine = (mean_pooled(hidden, inputs["attention_mask"]) * reference).sum(axis=1)
    assert cosine.min() > 0.9999


# The OpenVINO conversion alone, in a process of its own whose home folder is the test's.
CONVERT = """
import multiprocessing, sys
from pathlib import Path
from training.model.backends import export_openvino
export_openvino(Path(sys.argv[1]))
import openvino.tools.ovc.telemetry_utils as telemetry
print(telemetry.tm.__name__, len(multiprocessing.active_children()))
"""


@needs_backends
def test_the_openvino_conversion_sends_no_telemetry(exported, tmp_path):
    folder, home = shutil.copytree(exported, tmp_path / "model"), tmp_path / "home"
    home.mkdir()
    done = subprocess.run([sys.executable, "-c", CONVERT, str(folder)], env=os.environ | {"HOME": str(home)},
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    # OpenVINO's no-op telemetry stub, no process left posting usage data, no client id written to ~/intel
    assert done.stdout.split() == ["openvino.tools.ovc.telemetry_stub", "0"] and not (home / "intel").exists()


# sentence-transformers loads these backends through optimum, which does not install beside transformers 5.25:
# the test runs in-process where optimum is installed, else in the python an environment variable names (one with
# sentence-transformers and optimum; bench/st_backends.py builds both), else it is skipped.
LOAD = """
import io, json, logging, sys
import numpy as np
from sentence_transformers import SentenceTransformer
log = io.StringIO()
logging.basicConfig(stream=log, level=logging.WARNING, force=True)
model = SentenceTransformer(sys.argv[1], device="cpu", backend=sys.argv[2], model_kwargs=json.loads(sys.argv[5]))
np.save(sys.argv[3], model.encode(json.loads(sys.argv[4])))
print(json.dumps(log.getvalue()))
"""


@pytest.mark.parametrize(("backend", "model_kwargs", "min_cosine"), [
    ("onnx", {}, 0.9999), ("onnx", {"file_name": "onnx/model_qint8_avx512.onnx"}, 0.95), ("openvino", {}, 0.9999)])
def test_sentence_transformers_loads_the_backend_without_exporting(exported, backend, model_kwargs, min_cosine,
                                                                   tmp_path):
    module, python_variable = {"onnx": ("optimum.onnxruntime", "SE1B_ST_ONNX_PYTHON"),
                               "openvino": ("optimum.intel", "SE1B_ST_OPENVINO_PYTHON")}[backend]
    in_process = importlib.util.find_spec("optimum") is not None and importlib.util.find_spec(module) is not None
    python = sys.executable if in_process else os.environ.get(python_variable)
    if MISSING or not python:
        pytest.skip(f"{module} is not installed (optimum-onnx needs transformers < 4.58, optimum-intel 2.2 "
                    f"transformers < 5.6); set {python_variable} to a python that has it (bench/st_backends.py)")
    before = sorted(path.relative_to(exported) for path in exported.rglob("*"))
    result = subprocess.run([python, "-c", LOAD, str(exported), backend, str(tmp_path / "e.npy"), json.dumps(TEXTS),
                             json.dumps(model_kwargs)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    log = json.loads(result.stdout.strip().splitlines()[-1])
    assert "Exporting the model" not in log, log  # what sentence-transformers logs when it must export
    assert sorted(path.relative_to(exported) for path in exported.rglob("*")) == before  # nothing written
    reference = SentenceTransformer(str(exported), device="cpu").encode(TEXTS)
    assert (np.load(tmp_path / "e.npy") * reference).sum(axis=1).min() > min_cosine
