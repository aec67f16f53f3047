"""Orbax checkpoints of a training run: parameters, optimizer state, step, RNG key and the data pipeline's state.

Layout: `<output_dir>/checkpoints/<step>/{state,extra}`; `state` holds the arrays (orbax StandardSave), `extra`
holds JSON (the data pipeline's `state_dict()`, the config). Orbax writes into a temporary folder and renames it
when complete, so a run killed mid-save leaves the previous checkpoints intact. The last `keep` are kept; the best
evaluation checkpoint lives in its own manager (`<output_dir>/best`, keep 1).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp

from se1b.errors import UserError
from se1b.files import disk_full_error, free_space, is_disk_full


def _not_disk_full(record: logging.LogRecord) -> bool:
    """A logging filter: orbax's background threads log every failed write with a traceback; a full disk is
    reported once, as one line, by `Checkpointer`."""
    return not (is_disk_full(record.exc_info[1]) if record.exc_info else is_disk_full(Exception(record.getMessage())))


def _nbytes(state: Any) -> int:
    return sum(leaf.size * leaf.dtype.itemsize for leaf in jax.tree.leaves(state) if hasattr(leaf, "dtype"))


class Checkpointer:
    """Save and restore `state` (a pytree of arrays) plus `extra` (a JSON-serialisable dict) by step."""

    def __init__(self, directory: str | Path, keep: int):
        self.directory = Path(directory).absolute()
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True)
        self.manager = ocp.CheckpointManager(self.directory, options=options)
        self._saving: tuple[int, int] | None = None  # (step, bytes) of the save in flight
        logging.getLogger("absl").addFilter(_not_disk_full)

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def save(self, step: int, state: Any, extra: dict[str, Any]) -> None:
        """Write checkpoint `step` (asynchronously; `wait()` before relying on it). A disk without room for it is
        refused before writing (the arrays' size is what an uncompressed save takes)."""
        needed = _nbytes(state)
        with self._disk_full_as_one_line():  # the save before this one may have failed
            self.manager.wait_until_finished()
        if free_space(self.directory) < needed:
            raise disk_full_error(self.directory, needed, f"checkpoint {step}")
        args = ocp.args.Composite(state=ocp.args.StandardSave(state), extra=ocp.args.JsonSave(extra))
        self._saving = (step, needed)
        with self._disk_full_as_one_line():
            self.manager.save(step, args=args, force=True)

    @contextlib.contextmanager
    def _disk_full_as_one_line(self) -> Iterator[None]:
        """A save that ran out of space: its temporary folder removed (the earlier checkpoints are untouched), one
        line naming the folder and the space needed."""
        try:
            yield
        except Exception as error:
            if not is_disk_full(error) or self._saving is None:
                raise
            for partial in self.directory.glob("*.orbax-checkpoint-tmp*"):
                shutil.rmtree(partial, ignore_errors=True)
            step, needed = self._saving
            raise disk_full_error(self.directory, needed, f"checkpoint {step}") from None

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
        with self._disk_full_as_one_line():
            self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.close()
