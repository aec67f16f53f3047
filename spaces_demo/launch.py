"""`se1b demo`: launch the Gradio Space locally on chosen models.

    se1b demo --models out/my-model sentence-transformers/all-MiniLM-L6-v2 --port 7860

Without --models the Space's own list applies (SE1B_DEMO_MODELS, else spaces_demo/models.txt). The page is served
on 127.0.0.1 unless --host says otherwise; --share yes asks Gradio for a public link (needs the network).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from se1b.errors import UserError


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the `se1b demo` arguments."""
    parser.add_argument(
        "--models",
        nargs="+",
        metavar="PATH_OR_ID",
        help="sentence-transformers model folders or Hub ids to offer (default: SE1B_DEMO_MODELS or models.txt)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to serve on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=7860, help="port to serve on (default: %(default)s)")
    parser.add_argument(
        "--share", choices=["no", "yes"], default="no", help="create a public Gradio link (default: %(default)s)"
    )


def check_model_source(source: str) -> None:
    """A local-looking source must be a model folder; a Hub id (`owner/name` or `name`) is checked when loaded."""
    path = Path(source).expanduser()
    looks_local = source.startswith((".", "/", "~")) or source.count("/") > 1
    if path.exists() or looks_local:
        if not path.is_dir():
            raise UserError(f"--models: {source}: no such model folder")
        if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
            raise UserError(f"--models: {source}: not a sentence-transformers or Hugging Face model folder")


def main(args: argparse.Namespace) -> int:
    """Build the Space on the chosen models and serve it until interrupted."""
    for source in args.models or []:
        check_model_source(source)
    from spaces_demo.app import build_demo, launch
    from spaces_demo.registry import ModelRegistry

    demo = build_demo(ModelRegistry(args.models))
    try:
        launch(demo, server_name=args.host, server_port=args.port, share=args.share == "yes")
    except OSError as error:  # the port is taken, or the host cannot be bound
        raise UserError(f"cannot serve on {args.host}:{args.port}: {error}") from None
    return 0
