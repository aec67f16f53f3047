"""Peak memory of one training step at very large batches: GradCache + the blocked MNRL loss vs the loss in one piece.

Reads XLA's buffer assignment of the compiled train step (`compiled.memory_analysis()`): arguments (parameters,
optimizer state, the token batch) + outputs - donated aliases + temporaries is the memory the step needs at its
peak. Nothing is run, so 65,536 pairs can be sized on a laptop: the figures are the CPU backend's plan for the real
`make_train_step` (training/loop/train.py), the same program a run executes. The GPU backend fuses differently,
so treat GPU figures as projections within some tens of percent (bench/gpu/suite.py measures them on the device).

    python bench/bench_memory.py                       # 1-layer, width 384, seq 16; then MiniLM-L6 at seq 128
    python bench/bench_memory.py --pairs 8192 --layers 6 --seq 128
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from training.loop.config import TrainConfig
from training.loop.setup import make_mesh, make_objective
from training.loop.train import init_state, make_train_step
from training.model.encoders import TransformerEncoder
from training.model.sentence_model import SentenceEncoder, SentenceModel

GIB = 1024**3


def minilm_like(layers: int) -> dict:
    """all-MiniLM-L6-v2's config.json with `layers` layers (width 384, 12 heads, FFN 1536, BERT vocabulary)."""
    return {"model_type": "bert", "vocab_size": 30522, "hidden_size": 384, "num_hidden_layers": layers,
            "num_attention_heads": 12, "intermediate_size": 1536, "hidden_act": "gelu",
            "max_position_embeddings": 512, "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
            "type_vocab_size": 2, "layer_norm_eps": 1e-12}


def step_memory(hf_config: dict, pairs: int, seq: int, chunk: int, block_rows: int, precision: str = "fp32") -> dict:
    """XLA's memory plan (bytes) for one train step on `pairs` (anchor, positive) pairs of `seq` tokens."""
    config = TrainConfig(model="unused", data="unused", batch_size=pairs, gradcache_chunk=chunk,
                         loss_block_rows=block_rows, max_seq_length=seq, precision=precision)
    dtype = jnp.bfloat16 if precision == "bf16" else jnp.float32
    model = SentenceModel(SentenceEncoder(TransformerEncoder(hf_config, dtype=dtype)), None, seq)
    mesh = make_mesh(config)
    graphdef, params, rest, optimizer, _, opt_state = init_state(config, model, mesh)
    objective = make_objective(config)
    step = make_train_step(graphdef, config, objective, optimizer, mesh)
    tokens = jax.ShapeDtypeStruct((pairs, seq), jnp.int32, sharding=NamedSharding(mesh, P("data")))
    batch = {column: {"input_ids": tokens, "attention_mask": tokens} for column in ("anchor", "positive")}
    start = time.perf_counter()
    stats = step.lower(params, opt_state, rest, batch, jax.random.key(0)).compile().memory_analysis()
    compile_s = time.perf_counter() - start
    peak = (stats.argument_size_in_bytes + stats.output_size_in_bytes - stats.alias_size_in_bytes
            + stats.temp_size_in_bytes)
    return {"pairs": pairs, "seq": seq, "chunk": chunk, "block_rows": block_rows, "peak": peak,
            "arguments": stats.argument_size_in_bytes, "temp": stats.temp_size_in_bytes, "compile_s": compile_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, nargs="+", default=[8192, 32768, 65536])
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--seq", type=int, default=16)
    parser.add_argument("--chunk", type=int, default=1024, help="GradCache chunk (rows)")
    parser.add_argument("--block-rows", type=int, default=1024, help="loss block (anchor rows)")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    parser.add_argument("--no-minilm", action="store_true", help="skip the MiniLM-L6 seq-128 rows")
    args = parser.parse_args()

    cases = [(args.layers, p, args.seq, b) for p in args.pairs for b in (args.block_rows, 0)]
    if not args.no_minilm:
        cases += [(6, p, 128, args.block_rows) for p in args.pairs]
    print("| layers | pairs | seq | loss | peak GiB | of which temporaries GiB | compile s |")
    print("|---|---|---|---|---|---|---|")
    for layers, pairs, seq, block_rows in cases:
        row = step_memory(minilm_like(layers), pairs, seq, args.chunk, block_rows, args.precision)
        loss = f"blocked ({block_rows} rows)" if block_rows else "one piece"
        print(f"| {layers} | {pairs:,} | {seq} | {loss} | {row['peak'] / GIB:.2f} | {row['temp'] / GIB:.2f} | "
              f"{row['compile_s']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
