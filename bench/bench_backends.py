"""CPU encode speed and fidelity of an export's backends, side by side on the same texts: torch
(SentenceTransformer on model.safetensors), the project's Flax encoder, onnx/model.onnx, onnx/model_qint8_avx512.onnx
and openvino/openvino_model.xml (training/model/backends.py), all of one folder exported here from all-MiniLM-L6-v2.

    python bench/bench_backends.py --data ../shared/data/pairs --sentences 1000 --rounds 3

The ONNX and OpenVINO graphs are run the way sentence-transformers runs them (its backend loaders need optimum,
which does not install beside transformers 5 here): texts sorted by length, batches padded to their longest text,
the graph's last_hidden_state mean-pooled over the attention mask and normalised. Prints per backend the median
sentences/s over alternating rounds, the ratio to torch, and the cosine of its embeddings to torch's (min, mean);
the load average before and after, since this box is shared.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from bench_encode import real_sentences
from sentence_transformers import SentenceTransformer
from transformers import AutoTokenizer

from training.model.backends import ONNX_FILE, OPENVINO_FILE
from training.model.export import export_sentence_model, model_settings
from training.model.sentence_model import load_sentence_model
from training.model.tiny import minilm_folder

QINT8_FILE = "onnx/model_qint8_avx512.onnx"


def graph_encoder(folder: Path, run: Callable[[dict[str, np.ndarray]], np.ndarray], max_seq_length: int,
                  batch_size: int) -> Callable[[list[str]], np.ndarray]:
    """encode(texts) for a graph that maps tokenizer outputs to last_hidden_state, batched as sentence-transformers
    batches (sorted by length, padded to each batch's longest)."""
    tokenizer = AutoTokenizer.from_pretrained(str(folder))

    def encode(texts: list[str]) -> np.ndarray:
        order = np.argsort([-len(text) for text in texts], kind="stable")
        out = np.empty((len(texts), 0), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            chosen = order[start : start + batch_size]
            inputs = dict(tokenizer([texts[i] for i in chosen], padding=True, truncation=True,
                                    max_length=max_seq_length, return_tensors="np"))
            hidden = run(inputs)
            mask = inputs["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
            pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
            if out.shape[1] == 0:
                out = np.empty((len(texts), pooled.shape[1]), dtype=np.float32)
            out[chosen] = pooled
        return out

    return encode


def onnx_runner(path: Path) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return lambda inputs: session.run(None, {name: inputs[name].astype(np.int64) for name in names})[0]


def openvino_runner(path: Path) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    import openvino

    compiled = openvino.Core().compile_model(str(path), "CPU")
    names = [port.any_name for port in compiled.inputs]
    return lambda inputs: compiled({name: inputs[name] for name in names})[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/pairs"))
    parser.add_argument("--sentences", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    texts = real_sentences(args.data, args.sentences)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "model"
        base = load_sentence_model(minilm_folder())
        start = time.perf_counter()
        export_sentence_model(base.model, base.tokenizer, folder, backends=("onnx", "openvino"),
                              **model_settings(base))
        print(f"export with onnx + openvino: {time.perf_counter() - start:.1f}s")
        peer = SentenceTransformer(str(folder), device="cpu")
        flax = load_sentence_model(folder)
        length = peer.max_seq_length
        encoders = {
            "torch (sentence-transformers, safetensors)": lambda t: peer.encode(t, batch_size=args.batch_size),
            "flax (se1b encoder)": lambda t: flax.encode(t, batch_size=args.batch_size),
            "onnx": graph_encoder(folder, onnx_runner(folder / ONNX_FILE), length, args.batch_size),
            "onnx-qint8": graph_encoder(folder, onnx_runner(folder / QINT8_FILE), length, args.batch_size),
            "openvino": graph_encoder(folder, openvino_runner(folder / OPENVINO_FILE), length, args.batch_size),
        }
        print(f"{len(texts)} sentences, batch {args.batch_size}, max_seq_length {length}, torch threads "
              f"{torch.get_num_threads()}, load average before {load_before[0]:.1f}")
        embeddings = {name: encode(texts) for name, encode in encoders.items()}  # warm-up (jit, allocation)
        rates: dict[str, list[float]] = {name: [] for name in encoders}
        for round_index in range(args.rounds):
            for name, encode in encoders.items():
                start = time.perf_counter()
                encode(texts)
                rates[name].append(len(texts) / (time.perf_counter() - start))
            done = ", ".join(f"{name.split()[0]} {r[-1]:.1f}/s" for name, r in rates.items())
            print(f"round {round_index}: {done}", flush=True)
    reference_name = next(iter(encoders))
    reference, reference_rate = embeddings[reference_name], statistics.median(rates[reference_name])
    print(f"load average after {os.getloadavg()[0]:.1f}")
    print("| backend | sentences/s (median) | vs torch | cosine to safetensors/torch (min / mean) |")
    print("|---|---:|---:|---:|")
    for name in encoders:
        cosine = (embeddings[name] * reference).sum(axis=1)
        rate = statistics.median(rates[name])
        print(f"| {name} | {rate:.1f} | {rate / reference_rate:.2f}x | {cosine.min():.6f} / {cosine.mean():.6f} |")


if __name__ == "__main__":
    main()
