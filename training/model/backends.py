"""ONNX and OpenVINO copies of a sentence-transformers folder's transformer, under the names the Hub's embedding
repos use (sentence-transformers/all-MiniLM-L6-v2), so `SentenceTransformer(folder, backend="onnx" | "openvino")`
loads them instead of exporting the model again on every load:

    onnx/model.onnx                  float32
    onnx/model_qint8_avx512.onnx     dynamic int8 quantisation, signed weights (AVX-512 / VNNI, ARM64)
    onnx/model_quint8_avx2.onnx      dynamic int8 quantisation, unsigned weights (AVX2 without VNNI, where signed
                                     weights can saturate)
    openvino/openvino_model.xml/.bin float32, converted from onnx/model.onnx

The graph is the Transformer module only, as optimum's feature-extraction export writes it: inputs `input_ids`,
`attention_mask` (and `token_type_ids` where the tokenizer returns them), output `last_hidden_state` of shape
[batch, tokens, hidden]; sentence-transformers applies the folder's Pooling and Normalize modules after it.

Written with torch.onnx, onnxruntime's quantiser and OpenVINO's converter (the `backends` extra), not optimum:
optimum-onnx needs transformers < 4.58 and optimum-intel 2.2 transformers < 5.6, neither installs beside
transformers 5.25.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from se1b.errors import UserError

BACKENDS = ("onnx", "openvino")
ONNX_FILE = "onnx/model.onnx"
# file -> onnxruntime weight type of its dynamic quantisation (activations are quantised to uint8 at run time)
QUANTISED_ONNX_FILES = {"onnx/model_qint8_avx512.onnx": "QInt8", "onnx/model_quint8_avx2.onnx": "QUInt8"}
OPENVINO_FILE = "openvino/openvino_model.xml"
ONNX_OPSET = 18
# What each backend needs installed (import name -> pip name).
REQUIRED_PACKAGES = {"onnx": {"onnx": "onnx", "onnxscript": "onnxscript", "onnxruntime": "onnxruntime"},
                     "openvino": {"onnx": "onnx", "onnxscript": "onnxscript", "openvino": "openvino"}}


def missing_packages(backends: list[str] | tuple[str, ...]) -> list[str]:
    """The pip names of the packages `backends` need that are not installed (OpenVINO converts the ONNX graph,
    so it needs torch.onnx's packages too)."""
    import importlib.util

    needed: dict[str, str] = {}
    for backend in backends:
        needed |= REQUIRED_PACKAGES[backend]
    return [pip for module, pip in needed.items() if importlib.util.find_spec(module) is None]


def check_backends(backends: list[str] | tuple[str, ...], field: str = "export_backends") -> None:
    """A one-line `UserError` for an unknown backend or a missing package; call before training, not after."""
    unknown = [name for name in backends if name not in BACKENDS]
    if unknown:
        raise UserError(f"{field}: unknown backend {unknown[0]!r}; choose from {', '.join(BACKENDS)}")
    missing = missing_packages(backends)
    if missing:
        raise UserError(f"{field} {list(backends)} needs {', '.join(missing)}: pip install 'se1b[backends]' "
                        f"(or set {field} to [])")


def export_backends(folder: str | Path, backends: list[str] | tuple[str, ...] = BACKENDS) -> list[str]:
    """Write the `backends` files of the sentence-transformers folder `folder` (its transformer at the root, as
    export_sentence_model writes it); returns their paths relative to the folder."""
    folder = Path(folder)
    check_backends(backends, "backends")
    written = []
    if "onnx" in backends:
        written += export_onnx(folder)
    if "openvino" in backends:
        written.append(export_openvino(folder))
    return written


def _example_inputs(folder: Path) -> dict[str, Any]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    return dict(tokenizer(["An example sentence to trace the graph with.", "Another one."], padding=True,
                          return_tensors="pt"))


def write_onnx_graph(folder: Path, target: Path) -> None:
    """The float32 graph of the folder's transformer (its safetensors weights) at `target`."""
    import torch
    from transformers import AutoModel

    inputs = _example_inputs(folder)
    names = list(inputs)
    # Eager attention: the SDPA path's mask construction does not trace to a graph valid for every shape.
    model = AutoModel.from_pretrained(str(folder), attn_implementation="eager").eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            return self.model(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    target.parent.mkdir(parents=True, exist_ok=True)
    batch, tokens = torch.export.Dim("batch_size"), torch.export.Dim("sequence_length")
    with torch.no_grad():
        torch.onnx.export(
            LastHiddenState().eval(), (), str(target), kwargs=inputs, input_names=names,
            output_names=["last_hidden_state"], opset_version=ONNX_OPSET, dynamo=True, external_data=False,
            dynamic_shapes={name: {0: batch, 1: tokens} for name in names}, verbose=False,
        )  # fmt: skip


def export_onnx(folder: Path) -> list[str]:
    """onnx/model.onnx and its quantised variants."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    write_onnx_graph(folder, folder / ONNX_FILE)
    for relative, weight_type in QUANTISED_ONNX_FILES.items():
        quantize_dynamic(folder / ONNX_FILE, folder / relative, weight_type=getattr(QuantType, weight_type),
                         per_channel=True)
    return [ONNX_FILE, *QUANTISED_ONNX_FILES]


def _no_openvino_telemetry() -> None:
    """OpenVINO's converter sends usage telemetry unless the user opted out (a consent file in ~/intel): a forked
    process posts it and writes a client id there. Offline, that process can hang in getaddrinfo, and the exiting
    program waits for it (`se1b quickstart` once never returned). Its converter falls back to a no-op stub when
    `openvino_telemetry` cannot be imported, so we make that import fail, before OpenVINO is first imported (a
    process that imported OpenVINO itself keeps its own telemetry settings)."""
    if "openvino" not in sys.modules:
        sys.modules.setdefault("openvino_telemetry", None)  # None: `import openvino_telemetry` raises ImportError


def export_openvino(folder: Path) -> str:
    """openvino/openvino_model.xml (+ .bin), converted by OpenVINO's own converter from onnx/model.onnx (written
    to a temporary file when the onnx backend is not exported)."""
    _no_openvino_telemetry()
    import openvino

    target = folder / OPENVINO_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        graph = folder / ONNX_FILE
        if not graph.exists():
            graph = Path(scratch) / "model.onnx"
            write_onnx_graph(folder, graph)
        model = openvino.convert_model(str(graph))
    openvino.save_model(model, str(target), compress_to_fp16=False)
    return OPENVINO_FILE
