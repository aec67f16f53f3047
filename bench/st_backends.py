"""Virtualenvs in which sentence-transformers' own backend loaders run, for tests/test_backends.py: its ONNX and
OpenVINO loaders need optimum, and neither optimum package installs beside this project's transformers 5.25
(optimum-onnx 0.1 needs transformers < 4.58, optimum-intel 2.2 transformers < 5.6). So each gets its own stack:

    onnx:     sentence-transformers 5.x, transformers 4.57, optimum-onnx[onnxruntime] 0.1
    openvino: sentence-transformers 6.3, transformers 5.5, optimum-intel[openvino] 2.2

    python bench/st_backends.py --root /tmp/se1b-st-backends
    SE1B_ST_ONNX_PYTHON=... SE1B_ST_OPENVINO_PYTHON=... pytest tests/test_backends.py   # the two lines it prints

Then the test loads an exported folder with `SentenceTransformer(folder, backend=...)` in those pythons and checks
that nothing is exported again and the embeddings match the safetensors model's.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

STACKS = {
    "onnx": ["sentence-transformers>=5,<6", "transformers>=4.57,<4.58", "optimum-onnx[onnxruntime]==0.1.0"],
    "openvino": ["sentence-transformers==6.3.0", "transformers>=5.5,<5.6", "optimum-intel[openvino]==2.2.0"],
}


def build_venv(venv: Path, torch: str, requirements: list[str]) -> Path:
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", torch, *requirements], check=True)
        # optimum-intel pulls torchvision, whose wheel does not match the CPU torch here (importing transformers then
        # fails: "operator torchvision::nms does not exist"); only image models need it.
        subprocess.run([str(python), "-m", "pip", "uninstall", "-q", "-y", "torchvision"], check=True)
    return python


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path(tempfile.gettempdir()) / "se1b-st-backends")
    parser.add_argument("--torch", default="torch==2.13.0", help="pip requirement or wheel path for torch")
    args = parser.parse_args()
    for backend, requirements in STACKS.items():
        python = build_venv(args.root / backend, args.torch, requirements)
        print(f"export SE1B_ST_{backend.upper()}_PYTHON={python}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
