"""Does an exported folder load in the oldest sentence-transformers the card claims (2.2.2), with the embeddings
today's sentence-transformers gives? Builds a virtualenv with sentence-transformers 2.2.2, transformers 4.30.2,
huggingface_hub < 0.26 and this machine's torch wheel (pip, from the configured package sources), exports tiny
models with `se1b convert` and encodes with both versions.

    python bench/old_sentence_transformers.py --venv /tmp/se1b-st222

Prints one line per folder: the old version's max_seq_length and the largest embedding difference. The venv's python
can then be given to the test suite: SE1B_OLD_ST_PYTHON=/tmp/se1b-st222/bin/python pytest tests/test_export_compat.py
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from sentence_transformers import SentenceTransformer

from se1b.cli import main as se1b
from training.model.tiny import write_tiny_model

OLD_STACK = ["transformers==4.30.2", "huggingface_hub<0.26", "numpy<2", "scipy", "scikit-learn", "nltk",
             "sentencepiece", "tqdm", "requests", "pillow"]
TEXTS = ["A man is eating food.", "Three dogs run across the snowy field. " * 30, "ok"]
ENCODE = """
import json, sys
import numpy as np
from sentence_transformers import SentenceTransformer
model = SentenceTransformer(sys.argv[1], device="cpu")
np.save(sys.argv[2], model.encode(json.loads(sys.argv[3])))
print(model.max_seq_length)
"""


def build_venv(venv: Path, torch_wheel: str) -> Path:
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", torch_wheel, *OLD_STACK], check=True)
        # 2.2.2 also pins torchvision, which only its image models use.
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "sentence-transformers==2.2.2"],
                       check=True)
    return python


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--venv", type=Path, default=Path(tempfile.gettempdir()) / "se1b-st222")
    parser.add_argument("--torch", default="torch==2.13.0", help="pip requirement or wheel path for torch")
    args = parser.parse_args()
    python = build_venv(args.venv, args.torch)
    with tempfile.TemporaryDirectory() as tmp:
        for family in ("bert", "roberta", "mpnet"):
            source = write_tiny_model(Path(tmp) / f"{family}-src", family)
            out = Path(tmp) / family
            assert se1b(["convert", str(source), str(out)]) == 0
            old = subprocess.run([str(python), "-c", ENCODE, str(out), str(Path(tmp) / "old.npy"), json.dumps(TEXTS)],
                                 capture_output=True, text=True)
            if old.returncode:
                print(f"{family}: sentence-transformers 2.2.2 FAILED: {old.stderr.strip().splitlines()[-1]}")
                continue
            new = SentenceTransformer(str(out), device="cpu").encode(TEXTS)
            difference = float(np.abs(np.load(Path(tmp) / "old.npy") - new).max())
            print(f"{family}: loads in sentence-transformers 2.2.2, max_seq_length {old.stdout.strip()}, "
                  f"max |embedding difference| vs {SentenceTransformer.__module__.split('.')[0]} today "
                  f"{difference:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
