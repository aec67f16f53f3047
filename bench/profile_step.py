"""Where the CPU train step's time goes, ours (JAX/XLA) against sentence-transformers (PyTorch), at equal work.

Both sides get the same all-MiniLM-L6-v2 weights and the same token batch: B pairs of real texts (anchor and
positive columns), each column padded to the same length L (so the padded work is equal), dropout on, one-way MNRL
(scale 20). For each side it times, after warm-up, the median of N repeats of:

  forward    embed both columns, no gradient (eval mode: no dropout)
  fwd+bwd    loss and parameter gradients (train mode: dropout)
  step       fwd+bwd plus the AdamW update (ours: the loop's own jitted train step)

and one encoder layer forward and forward+backward (torch: the model's own BertLayer with SDPA attention), and its
parts (attention block, feed-forward block).
`--ops` times single ops forward + backward on the layer's shapes instead, both sides: a dense layer on 3-D
[batch, seq, hidden] and on 2-D [batch * seq, hidden] input, the attention core (ours as written, torch's manual
matmul-softmax-matmul and its fused SDPA) and LayerNorm.

    python bench/profile_step.py --pairs /work/shared/data/pairs/flickr8k_captions.jsonl.gz --seq 64
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from bench_train import read_pairs


def timed(fn, repeats: int) -> float:
    fn()  # warm-up (compilation on our side)
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=Path, required=True, help="a .jsonl.gz of {anchor, positive} rows")
    parser.add_argument("--seq", type=int, default=64, help="padded length of every text (equal work on both sides)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--sides", nargs="+", default=["ours", "torch"])
    parser.add_argument("--ops", action="store_true", help="time single ops of a layer instead (see above)")
    args = parser.parse_args()
    if args.ops:
        return time_ops(2 * args.batch, args.seq, args.repeats)

    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax
    import torch
    from flax import nnx

    from training.loop.config import TrainConfig
    from training.loop.setup import make_objective, make_optimizer
    from training.model.encoders import _dropout
    from training.model.sentence_model import load_sentence_model
    from training.model.tiny import minilm_folder

    # bench_train's reader (this folder is on sys.path when a bench script runs).
    anchors, positives = read_pairs(args.pairs.parent, args.pairs.name.removesuffix(".jsonl.gz"), args.batch)
    folder = minilm_folder()
    results: dict[str, float] = {}

    model = load_sentence_model(folder)
    tokens = {}
    for column, texts in (("anchor", anchors), ("positive", positives)):
        encoded = model.tokenizer(texts, truncation=True, max_length=args.seq, padding="max_length")
        tokens[column] = {k: np.asarray(encoded[k], dtype=np.int32) for k in ("input_ids", "attention_mask")}
    real = sum(int(t["attention_mask"].sum()) for t in tokens.values())
    share = real / (2 * args.batch * args.seq)
    print(f"batch {args.batch} pairs x 2 columns x {args.seq} positions; real tokens {share:.0%} of positions;"
          f" jax {jax.__version__} on {jax.devices()[0].platform}, torch {torch.__version__} with "
          f"{torch.get_num_threads()} threads")

    if "ours" in args.sides:
        config = TrainConfig(model=str(folder), data="unused", output_dir="unused", batch_size=args.batch,
                             learning_rate=2e-5, symmetric=False)
        objective = make_objective(config, model.dimension)
        graphdef, params, rest = nnx.split(model.model, nnx.Param, ...)
        optimizer, _ = make_optimizer(config)
        opt_state = optimizer.init(params)
        batch = jax.tree.map(jnp.asarray, tokens)
        key = jax.random.key(0)

        def embed(p, training):
            m = nnx.merge(graphdef, p, rest)
            return {c: m(f["input_ids"], f["attention_mask"],
                         dropout_rng=jax.random.fold_in(key, i) if training else None)
                    for i, (c, f) in enumerate(sorted(batch.items()))}

        forward = jax.jit(lambda p: embed(p, False))
        grad = jax.jit(jax.value_and_grad(lambda p: objective.loss(embed(p, True), {})[0]))

        def step(p, o):
            loss, g = jax.value_and_grad(lambda q: objective.loss(embed(q, True), {})[0])(p)
            updates, o = optimizer.update(g, o, p)
            return optax.apply_updates(p, updates), o, loss

        step_jit = jax.jit(step)
        results["ours forward"] = timed(lambda: jax.block_until_ready(forward(params)), args.repeats)
        results["ours fwd+bwd"] = timed(lambda: jax.block_until_ready(grad(params)), args.repeats)
        results["ours step"] = timed(lambda: jax.block_until_ready(step_jit(params, opt_state)), args.repeats)

        # One encoder layer, and how much of it is dropout (random bits drawn on the CPU).
        layer = model.model.encoder.layers[0]
        lgraph, lparams, lrest = nnx.split(layer, nnx.Param, ...)
        hidden = jax.random.normal(jax.random.key(1), (2 * args.batch, args.seq, model.model.encoder.hidden_size))
        mask = jnp.concatenate([batch["anchor"]["attention_mask"], batch["positive"]["attention_mask"]])
        bias = jnp.where(mask[:, None, None, :] > 0, 0.0, jnp.finfo(jnp.float32).min)

        def layer_loss(p, rng):
            return jnp.sum(nnx.merge(lgraph, p, lrest)(hidden, bias, rng) ** 2)

        layer_fwd = jax.jit(lambda p: nnx.merge(lgraph, p, lrest)(hidden, bias, None))
        layer_grad = jax.jit(jax.grad(layer_loss))
        layer_grad_plain = jax.jit(jax.grad(lambda p: layer_loss(p, None)))
        results["ours layer fwd"] = timed(lambda: jax.block_until_ready(layer_fwd(lparams)), args.repeats)
        results["ours layer fwd+bwd"] = timed(lambda: jax.block_until_ready(layer_grad(lparams, key)), args.repeats)
        results["ours layer fwd+bwd, no dropout"] = timed(
            lambda: jax.block_until_ready(layer_grad_plain(lparams)), args.repeats)
        shapes = [(2 * args.batch, model.model.encoder.config.num_heads, args.seq, args.seq),
                  (2 * args.batch, args.seq, model.model.encoder.hidden_size)]
        ones = [jnp.ones(shape) for shape in shapes + shapes[1:] + shapes[1:]]
        bits = jax.jit(lambda k: [_dropout(x, 0.1, jax.random.fold_in(k, i)) for i, x in enumerate(ones)])
        results["ours dropout masks of a layer"] = timed(lambda: jax.block_until_ready(bits(key)), args.repeats)

        # The layer's two blocks, forward + backward without dropout: self-attention (q/k/v/o projections, scores,
        # softmax, weighted sum) and the feed-forward block (dense, GELU, dense). The same blocks are timed in torch.
        def attention_block(p):
            block = nnx.merge(lgraph, p, lrest)
            b, s_, h = hidden.shape
            heads = lambda t: t.reshape(b, s_, block.num_heads, h // block.num_heads).transpose(0, 2, 1, 3)  # noqa: E731
            q, k, v = heads(block.query(hidden)), heads(block.key(hidden)), heads(block.value(hidden))
            scores = (q * (h // block.num_heads) ** -0.5) @ k.transpose(0, 1, 3, 2) + bias
            weights = jnp.exp(scores - jax.lax.stop_gradient(scores.max(axis=-1, keepdims=True)))
            context = (weights @ v) / weights.sum(axis=-1, keepdims=True)
            return jnp.sum(block.attention_out(context.transpose(0, 2, 1, 3).reshape(b, s_, h)) ** 2)

        def feed_forward_block(p):
            block = nnx.merge(lgraph, p, lrest)
            return jnp.sum(block.ffn_out(block.activation(block.ffn_in(hidden))) ** 2)

        for name, fn in (("attention", attention_block), ("feed-forward", feed_forward_block)):
            compiled = jax.jit(jax.grad(fn))
            results[f"ours {name} block fwd+bwd"] = timed(lambda c=compiled: jax.block_until_ready(c(lparams)),
                                                          args.repeats)

    if "torch" in args.sides:
        from sentence_transformers import SentenceTransformer

        st = SentenceTransformer(str(folder), device="cpu")
        st.max_seq_length = args.seq
        features = {c: {k: torch.tensor(v, dtype=torch.long) for k, v in t.items()} for c, t in tokens.items()}
        scale = 20.0

        def st_embed(columns):
            return [st({**features[c], "token_type_ids": torch.zeros_like(features[c]["input_ids"])})
                    ["sentence_embedding"] for c in columns]

        def st_loss():
            a, p = st_embed(["anchor", "positive"])
            a, p = torch.nn.functional.normalize(a, dim=-1), torch.nn.functional.normalize(p, dim=-1)
            scores = a @ p.T * scale
            return torch.nn.functional.cross_entropy(scores, torch.arange(len(a)))

        optim = torch.optim.AdamW(st.parameters(), lr=2e-5, weight_decay=0.01)

        def st_forward():
            st.eval()
            with torch.no_grad():
                st_embed(["anchor", "positive"])

        def st_grad():
            st.train()
            st.zero_grad()
            st_loss().backward()

        def st_step():
            st_grad()
            torch.nn.utils.clip_grad_norm_(st.parameters(), 1.0)
            optim.step()

        results["torch forward"] = timed(st_forward, args.repeats)
        results["torch fwd+bwd"] = timed(st_grad, args.repeats)
        results["torch step"] = timed(st_step, args.repeats)

        bert_layer = st[0].auto_model.encoder.layer[0].eval()
        torch_hidden = torch.randn(2 * args.batch, args.seq, bert_layer.output.dense.out_features)
        torch_mask = torch.cat([features["anchor"]["attention_mask"], features["positive"]["attention_mask"]])
        torch_bias = (1.0 - torch_mask[:, None, None, :].float()) * torch.finfo(torch.float32).min

        def torch_block(run):
            bert_layer.zero_grad()
            (run() ** 2).sum().backward()

        blocks = {
            "attention": lambda: bert_layer.attention.self(torch_hidden, attention_mask=torch_bias)[0]
            @ bert_layer.attention.output.dense.weight.T,
            "feed-forward": lambda: bert_layer.output.dense(bert_layer.intermediate(torch_hidden)),
        }
        for name, run in blocks.items():
            results[f"torch {name} block fwd+bwd"] = timed(lambda r=run: torch_block(r), args.repeats)

        # The whole BertLayer (SDPA attention, as sentence-transformers runs it), on the same masks as ours.
        def torch_layer_fwd():
            bert_layer.eval()
            with torch.no_grad():
                bert_layer(torch_hidden, attention_mask=torch_bias)

        def torch_layer_grad():
            bert_layer.train()  # dropout on, as in "ours layer fwd+bwd"
            bert_layer.zero_grad()
            (bert_layer(torch_hidden, attention_mask=torch_bias)[0] ** 2).sum().backward()

        results["torch layer fwd"] = timed(torch_layer_fwd, args.repeats)
        results["torch layer fwd+bwd"] = timed(torch_layer_grad, args.repeats)

    for name, seconds in results.items():
        print(f"{name:32s} {seconds * 1000:9.1f} ms")
    for part in ("forward", "fwd+bwd", "step", "layer fwd", "layer fwd+bwd", "attention block fwd+bwd",
                 "feed-forward block fwd+bwd"):
        if f"ours {part}" in results and f"torch {part}" in results:
            print(f"ratio {part}: torch time / ours = {results[f'torch {part}'] / results[f'ours {part}']:.2f}x")


def time_ops(batch: int, seq: int, repeats: int, hidden: int = 384, heads: int = 12) -> None:
    """Forward + backward (all inputs and parameters) of single ops on MiniLM's layer shapes, JAX vs torch."""
    import math

    import jax
    import jax.numpy as jnp
    import torch

    head_dim = hidden // heads
    keys = jax.random.split(jax.random.key(0), 4)
    x = jax.random.normal(keys[0], (batch, seq, hidden))
    w, b = jax.random.normal(keys[1], (hidden, hidden)) * 0.05, jnp.zeros(hidden)
    q, k, v = (jax.random.normal(key, (batch, heads, seq, head_dim)) for key in keys[1:])
    mask = jnp.ones((batch, seq)).at[:, seq * 3 // 4:].set(0)
    bias = jnp.where(mask[:, None, None, :] > 0, 0.0, jnp.finfo(jnp.float32).min)

    def attention(q, k, v):  # as training/model/encoders.py writes it
        scores = (q * (1 / math.sqrt(head_dim))) @ k.transpose(0, 1, 3, 2) + bias
        weights = jnp.exp(scores - jax.lax.stop_gradient(scores.max(-1, keepdims=True)))
        return (weights @ v) / weights.sum(-1, keepdims=True)

    def layer_norm(x, g, beta):
        mean = x.mean(-1, keepdims=True)
        return (x - mean) * jax.lax.rsqrt(((x - mean) ** 2).mean(-1, keepdims=True) + 1e-12) * g + beta

    def jax_grad(fn, *inputs):
        compiled = jax.jit(jax.grad(lambda *a: jnp.sum(fn(*a) ** 2), argnums=tuple(range(len(inputs)))))
        return timed(lambda: jax.block_until_ready(compiled(*inputs)), repeats)

    results = {
        "dense, 3-D input": (jax_grad(lambda x, w, b: x @ w + b, x, w, b), None),
        "dense, 2-D input": (jax_grad(lambda x, w, b: x.reshape(-1, hidden) @ w + b, x, w, b), None),
        "attention core": (jax_grad(attention, q, k, v), None),
        "layer norm": (jax_grad(layer_norm, x, jnp.ones(hidden), jnp.zeros(hidden)), None),
    }
    tx = torch.randn(batch, seq, hidden, requires_grad=True)
    dense, norm = torch.nn.Linear(hidden, hidden), torch.nn.LayerNorm(hidden, eps=1e-12)
    tq, tk, tv = (torch.randn(batch, heads, seq, head_dim, requires_grad=True) for _ in range(3))
    tmask = torch.ones(batch, seq)
    tmask[:, seq * 3 // 4:] = 0
    tbias = (1 - tmask[:, None, None, :]) * torch.finfo(torch.float32).min

    def torch_grad(fn):
        def run():
            for tensor in (tx, tq, tk, tv, *dense.parameters(), *norm.parameters()):
                tensor.grad = None
            (fn() ** 2).sum().backward()
        return timed(run, repeats)

    torch_times = {
        "dense, 3-D input": torch_grad(lambda: dense(tx)),
        "dense, 2-D input": torch_grad(lambda: dense(tx.reshape(-1, hidden))),
        "attention core": torch_grad(lambda: torch.softmax((tq / math.sqrt(head_dim)) @ tk.transpose(-1, -2)
                                                           + tbias, -1) @ tv),
        "attention core, torch SDPA": torch_grad(
            lambda: torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, attn_mask=tbias)),
        "layer norm": torch_grad(lambda: norm(tx)),
    }
    print(f"[{batch}, {seq}, {hidden}] activations, {heads} heads; forward + backward, median of {repeats}")
    print(f"{'op':30s} {'ours ms':>9s} {'torch ms':>9s} {'torch / ours':>13s}")
    for name, torch_ms in torch_times.items():
        ours = results.get(name, results["attention core"])[0]
        print(f"{name:30s} {ours * 1000:9.1f} {torch_ms * 1000:9.1f} {torch_ms / ours:12.2f}x")


if __name__ == "__main__":
    main()
