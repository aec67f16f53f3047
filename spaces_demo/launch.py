"""`se1b demo`: launch the Gradio Space locally on chosen models.

    se1b demo --models out/my-model sentence-transformers/all-MiniLM-L6-v2 --port 7860

Without --models the Space's own list applies (SE1B_DEMO_MODELS, else spaces_demo/models.txt). The page is served
on --host and --port when given, else on Gradio's own environment variables GRADIO_SERVER_NAME and
GRADIO_SERVER_PORT, else on 127.0.0.1:7860; --share yes asks Gradio for a public link (needs the network).

Not part of the Space upload (`se1b push space` leaves this file out): app.py never needs it.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from se1b.errors import UserError

HOST_ENV_VAR = "GRADIO_SERVER_NAME"
PORT_ENV_VAR = "GRADIO_SERVER_PORT"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the `se1b demo` arguments."""
    parser.add_argument(
        "--models",
        nargs="+",
        metavar="PATH_OR_ID",
        help="sentence-transformers model folders or Hub ids to offer (default: SE1B_DEMO_MODELS or models.txt)",
    )
    parser.add_argument("--host", help=f"interface to serve on (default: ${HOST_ENV_VAR}, else {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, help=f"port to serve on (default: ${PORT_ENV_VAR}, else {DEFAULT_PORT})")
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


def server_address(host: str | None, port: int | None) -> tuple[str, int]:
    """(host, port): the flags when given, else Gradio's environment variables, else 127.0.0.1:7860."""
    host = host or os.environ.get(HOST_ENV_VAR, "").strip() or DEFAULT_HOST
    if port is None:
        value = os.environ.get(PORT_ENV_VAR, "").strip()
        if not value:
            port = DEFAULT_PORT
        elif value.isdigit() and 0 < int(value) < 65536:
            port = int(value)
        else:
            raise UserError(f"{PORT_ENV_VAR}={value!r}: not a port number (1 to 65535)")
    return host, port


def main(args: argparse.Namespace) -> int:
    """Build the Space on the chosen models and serve it until interrupted."""
    host, port = server_address(args.host, args.port)
    for source in args.models or []:
        check_model_source(source)
    from spaces_demo.app import build_demo, launch
    from spaces_demo.registry import ModelRegistry

    demo = build_demo(ModelRegistry(args.models))
    try:
        launch(demo, server_name=host, server_port=port, share=args.share == "yes")
    except OSError as error:  # the port is taken, or the host cannot be bound
        raise UserError(f"cannot serve on {host}:{port}: {error}") from None
    return 0
