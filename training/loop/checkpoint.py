"""Orbax checkpoints of a training run: parameters, optimizer state, step, RNG key and the data pipeline's state.

Layout: `<output_dir>/checkpoints/<step>/{state,extra}`; `state` holds the arrays (orbax StandardSave), `extra`
holds JSON (the data pipeline's `state_dict()`, the config). Orbax writes into a temporary folder and renames it
when complete, so a run killed mid-save leaves the previous checkpoints intact. The last `keep` are kept; the best
evaluation checkpoint lives in its own manager (`<output_dir>/best`, keep 1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp

from se1b.errors import UserError


class Checkpointer:
    """Save and restore `state` (a pytree of arrays) plus `extra` (a JSON-serialisable dict) by step."""

    def __init__(self, directory: str | Path, keep: int):
        self.directory = Path(directory).absolute()
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True)
        self.manager = ocp.CheckpointManager(self.directory, options=options)

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def save(self, step: int, state: Any, extra: dict[str, Any]) -> None:
        """Write checkpoint `step` (asynchronously; `wait()` before relying on it)."""
        args = ocp.args.Composite(state=ocp.args.StandardSave(state), extra=ocp.args.JsonSave(extra))
        self.manager.save(step, args=args, force=True)

    def restore(self, step: int, like: Any) -> tuple[Any, dict[str, Any]]:
        """Restore checkpoint `step` into arrays shaped and sharded like `like`; returns (state, extra)."""
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
        args = ocp.args.Composite(state=ocp.args.StandardRestore(abstract), extra=ocp.args.JsonRestore())
        try:
            restored = self.manager.restore(step, args=args)
        except Exception as error:  # orbax/tensorstore raise many types for a truncated or missing file
            reason = str(error).strip().splitlines()[0][:300] if str(error).strip() else type(error).__name__
            raise UserError(f"checkpoint {self.directory / str(step)} cannot be read ({type(error).__name__}: "
                            f"{reason}); it is truncated or incomplete: delete that folder to use the one before "
                            f"(available: {list(self.manager.all_steps())})") from error
        return restored.state, restored.extra

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.close()
