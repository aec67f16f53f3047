"""The GPU suite: one script, under 8 minutes on one H200, measuring side by side in one run

1. training pairs/s and MFU, MiniLM-L6 and MPNet-base shapes (random init), batch 1024, seq 128, bf16: ours (the
   real `make_train_step`, training/loop/train.py) vs the PyTorch peer (the model through transformers with SDPA
   attention, bf16 autocast, mean pooling, sentence-transformers' MultipleNegativesRankingLoss, fused AdamW: the
   compute of one sentence-transformers Trainer step; the Trainer itself needs `datasets`, absent on the device);
2. ours with sequence packing on real-length text (lengths drawn from bench/gpu/lengths.json, the token-length
   histogram of the shared pair files), pairs/s and padding efficiency;
3. compile count and time of every jitted program above;
4. GradCache + blocked loss: peak device memory of one MiniLM-L6 step at 65,536 pairs, seq 128;
5. encoding sentences/s, ours vs the PyTorch peer (bf16, batch 1024, seq 128);
and from (1) the projected wall time of the 2021 recipe (100k steps x 1024 pairs, seq 128) on this GPU.

    python3 bench/gpu/suite.py --out results.json          # on the device (about 5 minutes)
    python bench/gpu/suite.py --dry-run                    # tiny shapes on CPU (tests/test_gpu_suite.py)
    python3 bench/gpu/suite.py --only train:MiniLM-L6:ours memory     # a rerun of some parts

Each part runs in its own process and records its own failure, so one broken part still leaves the others.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # the repository's training package, wherever the script is started from

SHAPES = {  # Hugging Face config.json fields of the two shapes (random weights)
    "MiniLM-L6": {"model_type": "bert", "vocab_size": 30522, "hidden_size": 384, "num_hidden_layers": 6,
                  "num_attention_heads": 12, "intermediate_size": 1536, "max_position_embeddings": 512,
                  "type_vocab_size": 2, "pad_token_id": 0},
    "MPNet-base": {"model_type": "mpnet", "vocab_size": 30527, "hidden_size": 768, "num_hidden_layers": 12,
                   "num_attention_heads": 12, "intermediate_size": 3072, "max_position_embeddings": 514,
                   "relative_attention_num_buckets": 32, "pad_token_id": 1},
}
TINY = {"model_type": "bert", "vocab_size": 1000, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
        "intermediate_size": 64, "max_position_embeddings": 64, "type_vocab_size": 2, "pad_token_id": 0}
COMMON = {"hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
          "layer_norm_eps": 1e-12}
H200_BF16_PEAK = 989e12  # dense bf16 FLOP/s, the datasheet's; KINDS.md measured ~790e12 on 8192^3 products


def training_flops(config: dict, pairs: int, seq: int) -> float:
    """Model FLOPs of one training step (forward + backward = 3x forward) over both sides of `pairs` pairs padded
    to `seq`: 6 * (non-embedding parameters) per token + attention's 12 * layers * hidden * seq per token."""
    h, layers, inner = config["hidden_size"], config["num_hidden_layers"], config["intermediate_size"]
    per_layer = 4 * h * h + 2 * h * inner
    tokens = 2 * pairs * seq
    return tokens * (6 * layers * per_layer + 12 * layers * h * seq)


def token_batch(rng: np.random.Generator, rows: int, seq: int, vocab: int, lengths: np.ndarray | None = None):
    """Random token ids [rows, seq] (first id 101, so never the padding id), mask from `lengths` (None: full)."""
    ids = rng.integers(1000 if vocab > 2000 else 2, vocab, size=(rows, seq)).astype(np.int32)
    ids[:, 0] = 101 if vocab > 2000 else 2
    lengths = np.full(rows, seq) if lengths is None else lengths
    mask = (np.arange(seq)[None, :] < lengths[:, None]).astype(np.int32)
    return {"input_ids": ids, "attention_mask": mask}


def draw_lengths(rng: np.random.Generator, side: str, rows: int, seq: int) -> np.ndarray:
    histogram = json.loads((Path(__file__).parent / "lengths.json").read_text())[side]
    values = np.array([int(k) for k in histogram]), np.array(list(histogram.values()), dtype=np.float64)
    return np.minimum(rng.choice(values[0], size=rows, p=values[1] / values[1].sum()), seq)


def block(tree):
    import jax

    return jax.block_until_ready(tree)


# ---------------------------------------------------------------------------------------------------------------
# Ours.


class Ours:
    """The real train step of `se1b train` on a randomly initialised model of the given config."""

    def __init__(self, config: dict, pairs: int, seq: int, *, gradcache_chunk: int = 0, loss_block_rows: int = 0,
                 pack: bool = False):
        import jax
        import jax.numpy as jnp
        from jax.sharding import NamedSharding
        from jax.sharding import PartitionSpec as P

        from training.loop.config import TrainConfig
        from training.loop.setup import make_mesh, make_objective
        from training.loop.train import init_state, make_train_step
        from training.model.encoders import TransformerEncoder
        from training.model.sentence_model import SentenceEncoder, SentenceModel

        self.config = TrainConfig(model="random", data="unused", batch_size=pairs, max_seq_length=seq,
                                  precision="bf16", gradcache_chunk=gradcache_chunk, loss_block_rows=loss_block_rows,
                                  pack=pack, warmup_steps=10, steps=1000)
        encoder = SentenceEncoder(TransformerEncoder(config, dtype=jnp.bfloat16))
        mesh = make_mesh(self.config)
        self.graphdef, self.params, self.rest, optimizer, _, self.opt_state = init_state(
            self.config, SentenceModel(encoder, None, seq), mesh)
        self.objective = make_objective(self.config)
        self.step_fn = make_train_step(self.graphdef, self.config, self.objective, optimizer, mesh)
        self.sharding = NamedSharding(mesh, P("data"))
        self.encode_fn = jax.jit(lambda params, rest, ids, mask: encoder_call(self.graphdef, params, rest, ids, mask))
        self.compiles: list[dict] = []
        self.shapes: set = set()

    def step(self, local: dict, key: int):
        import jax

        from training.loop.train import global_batch, token_counts

        shapes = token_counts(local, self.objective)[2]
        batch = global_batch(local, self.objective, self.sharding)
        start = time.perf_counter()
        self.params, self.opt_state, metrics = self.step_fn(self.params, self.opt_state, self.rest, batch,
                                                            jax.random.key(key))
        block(metrics)
        if shapes not in self.shapes:  # first call for this shape: compile + run
            self.shapes.add(shapes)
            self.compiles.append({"shapes": [list(s) for s in shapes], "first_call_s": time.perf_counter() - start})
        return metrics


def encoder_call(graphdef, params, rest, ids, mask):
    from flax import nnx

    return nnx.merge(graphdef, params, rest)(ids, mask)


def time_steps(run, batches: list, warmup: int, steps: int) -> float:
    """Seconds per step over `steps` timed steps after `warmup` untimed ones (batches cycled)."""
    for i in range(warmup):
        run(batches[i % len(batches)], i)
    start = time.perf_counter()
    for i in range(steps):
        run(batches[(warmup + i) % len(batches)], warmup + i)
    return (time.perf_counter() - start) / steps


# ---------------------------------------------------------------------------------------------------------------
# The PyTorch peer.


class Torch:
    """transformers model (SDPA) + mean pooling + sentence-transformers' MNRL + fused AdamW, bf16 autocast."""

    def __init__(self, config: dict, device: str):
        import torch
        import transformers

        hf = transformers.AutoConfig.for_model(**config)
        try:
            self.model, self.attention = transformers.AutoModel.from_config(hf, attn_implementation="sdpa"), "sdpa"
        except ValueError:  # a family without an SDPA path in this transformers version
            self.model, self.attention = transformers.AutoModel.from_config(hf, attn_implementation="eager"), "eager"
        self.model = self.model.to(device)
        self.device = device
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=2e-5, weight_decay=0.01,
                                           fused=device == "cuda")
        try:
            from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
        except ImportError:  # older layout
            from sentence_transformers.losses import MultipleNegativesRankingLoss
        self.loss = MultipleNegativesRankingLoss(None, scale=20.0, directions=("query_to_doc", "doc_to_query"),
                                                 partition_mode="per_direction")

    def embed(self, features):
        import torch

        hidden = self.model(**features).last_hidden_state
        mask = features["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled.float(), dim=-1)

    def to_device(self, batch: dict) -> dict:
        import torch

        return {side: {k: torch.from_numpy(v).long().to(self.device) for k, v in features.items()}
                for side, features in batch.items()}

    def step(self, batch: dict, _key: int):
        import torch

        self.model.train()
        with torch.autocast(self.device, dtype=torch.bfloat16):
            loss = self.loss.compute_loss_from_embeddings([self.embed(batch["anchor"]), self.embed(batch["positive"])],
                                                          None)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.device == "cuda":
            torch.cuda.synchronize()
        return loss

    def encode(self, features: dict):
        import torch

        self.model.eval()
        with torch.inference_mode(), torch.autocast(self.device, dtype=torch.bfloat16):
            out = self.embed(features)
        if self.device == "cuda":
            torch.cuda.synchronize()
        return out


# ---------------------------------------------------------------------------------------------------------------
# The parts: each runs in its own process (a clean device, its own peak-memory counter, JAX's and torch's allocators
# never competing), prints one RESULT line, and catches its own failure.


def settings(dry_run: bool) -> dict:
    if dry_run:
        return {"shapes": {"tiny": {**COMMON, **TINY}}, "pairs": 16, "seq": 32, "warmup": 1, "steps": 1,
                "memory_pairs": 64, "chunk": 16, "block_rows": 16, "encode_rows": 16, "repeats": 2, "device": "cpu"}
    return {"shapes": {name: {**COMMON, **config} for name, config in SHAPES.items()}, "pairs": 1024, "seq": 128,
            "warmup": 3, "steps": 10, "memory_pairs": 65536, "chunk": 2048, "block_rows": 2048, "encode_rows": 1024,
            "repeats": 20, "device": "cuda"}


def part_train(s: dict, shape: str, side: str) -> dict:
    config, pairs, seq = s["shapes"][shape], s["pairs"], s["seq"]
    rng = np.random.default_rng(0)
    batches = [{c: token_batch(rng, pairs, seq, config["vocab_size"]) for c in ("anchor", "positive")}
               for _ in range(2)]
    flops = training_flops(config, pairs, seq)
    row = {"part": "train", "shape": shape, "side": side, "pairs": pairs, "seq": seq, "model_flops_per_step": flops}
    if side == "ours":
        runner = Ours(config, pairs, seq)
    else:
        runner = Torch(config, s["device"])
        batches = [runner.to_device(b) for b in batches]
        row["attention"] = runner.attention
    seconds = time_steps(runner.step, batches, s["warmup"], s["steps"])
    row.update(pairs_s=pairs / seconds, mfu=flops / seconds / H200_BF16_PEAK,
               recipe_hours_projected=100_000 * 1024 / (pairs / seconds) / 3600)
    if side == "ours":
        row["compiles"] = runner.compiles
    return row


def part_packing(s: dict) -> dict:
    from training.loop.train import pack_batch
    from training.model.packing import padding_efficiency

    shape = next(iter(s["shapes"]))
    config, pairs, seq = s["shapes"][shape], s["pairs"], s["seq"]
    rng = np.random.default_rng(1)
    padded = [{c: token_batch(rng, pairs, seq, config["vocab_size"], draw_lengths(rng, c, pairs, seq))
               for c in ("anchor", "positive")} for _ in range(min(4, s["warmup"] + s["steps"]))]
    row = {"part": "packing", "shape": shape, "pairs": pairs, "seq": seq}
    ours = Ours(config, pairs, seq, pack=True)
    start = time.perf_counter()
    packed = [pack_batch(b, ours.objective, seq, config["pad_token_id"], max(pairs // 8, 1)) for b in padded]
    row["pack_s_per_batch_host"] = (time.perf_counter() - start) / len(padded)
    real = sum(padding_efficiency(b[c])[0] for b in packed for c in b)
    row["padding_efficiency_packed"] = real / sum(padding_efficiency(b[c])[1] for b in packed for c in b)
    row["padding_efficiency_padded_to_seq"] = real / sum(padding_efficiency(b[c])[1] for b in padded for c in b)
    seconds = time_steps(ours.step, packed, s["warmup"], s["steps"])
    row.update(pairs_s=pairs / seconds, compiles=ours.compiles)
    return row


def part_memory(s: dict) -> dict:
    import jax

    shape = next(iter(s["shapes"]))
    config, pairs, seq = s["shapes"][shape], s["memory_pairs"], s["seq"]
    row = {"part": "gradcache_memory", "shape": shape, "pairs": pairs, "seq": seq, "gradcache_chunk": s["chunk"],
           "loss_block_rows": s["block_rows"]}
    rng = np.random.default_rng(2)
    ours = Ours(config, pairs, seq, gradcache_chunk=s["chunk"], loss_block_rows=s["block_rows"])
    batch = {c: token_batch(rng, pairs, seq, config["vocab_size"]) for c in ("anchor", "positive")}
    for name in ("first_step_s", "step_s"):
        start = time.perf_counter()
        ours.step(batch, 0)
        row[name] = time.perf_counter() - start
    stats = jax.devices()[0].memory_stats() or {}  # None on CPU
    row["peak_bytes_in_use"] = stats.get("peak_bytes_in_use")
    row["pairs_s"] = pairs / row["step_s"]
    return row


def part_encode(s: dict, side: str) -> dict:
    shape = next(iter(s["shapes"]))
    config, rows, seq = s["shapes"][shape], s["encode_rows"], s["seq"]
    batch = token_batch(np.random.default_rng(3), rows, seq, config["vocab_size"])
    if side == "ours":
        ours = Ours(config, rows, seq)
        call = lambda: block(ours.encode_fn(ours.params, ours.rest, batch["input_ids"], batch["attention_mask"]))  # noqa: E731
    else:
        peer = Torch(config, s["device"])
        features = peer.to_device({"x": batch})["x"]
        call = lambda: peer.encode(features)  # noqa: E731
    call()
    start = time.perf_counter()
    for _ in range(s["repeats"]):
        call()
    return {"part": "encode", "shape": shape, "side": side, "batch": rows, "seq": seq,
            "sentences_s": rows * s["repeats"] / (time.perf_counter() - start)}


def run_part(name: str, dry_run: bool) -> dict:
    s = settings(dry_run)
    kind, *rest = name.split(":")
    try:
        if kind == "train":
            return part_train(s, *rest)
        if kind == "packing":
            return part_packing(s)
        if kind == "memory":
            return part_memory(s)
        return part_encode(s, *rest)
    except Exception:
        return {"part": name, "error": traceback.format_exc(limit=4)}


def parts(dry_run: bool) -> list[str]:
    names = [f"train:{shape}:{side}" for shape in settings(dry_run)["shapes"] for side in ("ours", "torch")]
    return names + ["packing", "memory", "encode:ours", "encode:torch"]


def summarise(rows: list[dict]) -> dict:
    """Ratios ours / torch per shape, the recipe projection and the compile totals."""
    summary: dict = {"training": {}, "compiles": {"count": 0, "seconds": 0.0}}
    by = {(r.get("part"), r.get("shape"), r.get("side")): r for r in rows}
    for (part, shape, side), row in by.items():
        if part == "train" and side == "ours":
            peer = by.get(("train", shape, "torch"), {})
            summary["training"][shape] = {
                "ours_pairs_s": row.get("pairs_s"), "torch_pairs_s": peer.get("pairs_s"),
                "ratio": row["pairs_s"] / peer["pairs_s"] if "pairs_s" in row and "pairs_s" in peer else None,
                "ours_mfu": row.get("mfu"), "torch_mfu": peer.get("mfu"),
                "recipe_hours_projected": row.get("recipe_hours_projected")}
        for compile_ in row.get("compiles", []):
            summary["compiles"]["count"] += 1
            summary["compiles"]["seconds"] += compile_["first_call_s"]
    encodes = [r for r in rows if r.get("part") == "encode"]
    ours = next((r for r in encodes if r.get("side") == "ours" and "sentences_s" in r), None)
    peer = next((r for r in encodes if r.get("side") == "torch" and "sentences_s" in r), None)
    if ours and peer:
        summary["encode_ratio"] = ours["sentences_s"] / peer["sentences_s"]
    return summary


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description="the GPU suite (see the module docstring)")
    parser.add_argument("--dry-run", action="store_true", help="tiny shapes on CPU: checks that every part runs")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--part", help="run one part in this process (used by the suite itself)")
    parser.add_argument("--only", nargs="*", help="run only these parts (names as printed)")
    parser.add_argument("--in-process", action="store_true", help="run the parts in this process (the dry run's "
                        "default: one JAX start instead of six)")
    args = parser.parse_args(argv)
    if args.part:
        if args.dry_run:
            os.environ["JAX_PLATFORMS"] = "cpu"
        print("RESULT " + json.dumps(run_part(args.part, args.dry_run)), flush=True)
        return {}

    env = dict(os.environ, XLA_PYTHON_CLIENT_MEM_FRACTION="0.92", TOKENIZERS_PARALLELISM="false")
    if args.dry_run:
        env["JAX_PLATFORMS"] = "cpu"
    if args.dry_run and not args.only:
        args.in_process = True
    if args.in_process and args.dry_run:
        os.environ["JAX_PLATFORMS"] = "cpu"
    rows, started = [], time.perf_counter()
    for name in args.only or parts(args.dry_run):
        start = time.perf_counter()
        if args.in_process:
            rows.append({**run_part(name, args.dry_run), "process_s": time.perf_counter() - start})
            print(json.dumps(rows[-1]), flush=True)
            continue
        command = [sys.executable, __file__, "--part", name] + (["--dry-run"] if args.dry_run else [])
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        row = json.loads(lines[-1][7:]) if lines else {"part": name, "error": (done.stdout + done.stderr)[-2000:]}
        row["process_s"] = time.perf_counter() - start
        rows.append(row)
        print(json.dumps(row), flush=True)
    results = {"dry_run": args.dry_run, "parts": rows, "summary": summarise(rows),
               "wall_s": time.perf_counter() - started}
    print(json.dumps(results["summary"], indent=2), flush=True)
    print(f"wall time {results['wall_s']:.0f} s", flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
