"""Guards of a training run: an output_dir that is the run's own (a marker) and one run's at a time (a lock), what a
resume may change, a start that writes nothing until it is accepted, and divergence (a non-finite step is never
applied, never saved, and reported with its likely cause)."""

from __future__ import annotations

import fcntl
import json
import math
import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from se1b.errors import UserError
from se1b.files import apply_usual_modes
from se1b.safety import check_not_broad
from training.loop.checkpoint import Checkpointer
from training.loop.config import TrainConfig, save_config

# What a resume may change: the schedule, evaluation, logging, checkpointing, memory/compute knobs and the card.
# Everything else (model, shapes, data, seed, objective) would make the checkpoint mean something else.
RESUME_MAY_CHANGE = frozenset({
    "steps", "learning_rate", "warmup_steps", "schedule", "weight_decay", "grad_clip",
    "log_every", "checkpoint_every", "keep_checkpoints", "eval_sts", "eval_translation", "eval_every",
    "precision", "gradcache_chunk", "loss_block_rows", "pack", "teacher_batch_size", "cache_dir",
    "model_name", "model_kind", "languages", "license", "output_dir",
})


RUN_MARKER = ".se1b-run"  # in every output_dir a run wrote: only such a folder (or a new or empty one) is trained into
LOCK_FILE = ".se1b-train.lock"
# What a run keeps in output_dir: `se1b export --out` may not replace any of it.
RUN_STATE = ("checkpoints", "best", "base-model", "tensorboard", "config.json", "metrics.jsonl", "best_score.json",
             RUN_MARKER, LOCK_FILE)


def check_output_dir(output_dir: Path) -> None:
    """Refuse an output_dir that is the file system root, the home folder or above it, or that holds files no run
    wrote (no RUN_MARKER): a run replaces model/, config.json and metrics.jsonl in it."""
    check_not_broad(output_dir, "output_dir")
    if not output_dir.exists() or (output_dir / RUN_MARKER).is_file():
        return
    if not output_dir.is_dir():
        raise UserError(f"output_dir {output_dir} is not a folder")
    others = sorted(path.name for path in output_dir.iterdir() if path.name != LOCK_FILE)
    if others:
        raise UserError(f"output_dir {output_dir} holds files `se1b train` did not write (no {RUN_MARKER} marker; "
                        f"{', '.join(others[:3])}{', ...' if len(others) > 3 else ''}), which a run would replace; "
                        "choose a new or empty folder")


class RunLock:
    """One `se1b train` at a time per output_dir: LOCK_FILE names its owner (process, host, start) and is held with
    flock, which the kernel releases however the owner ends. A lock file whose lock is free was left by a run that
    was killed: it is reported and taken over. Released (and the file removed) at the end of the run; an output_dir
    created only for the lock is removed again when the run never started."""

    def __init__(self, output_dir: Path):
        self.output_dir = output_dir
        self.path = output_dir / LOCK_FILE
        self.fd: int | None = None
        self.created_dir = False

    def acquire(self) -> None:
        self.created_dir = not self.output_dir.exists()
        while True:  # until the lock held is the file at the path (another run may unlink it as we open it)
            try:
                self.output_dir.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as error:
                raise UserError(f"output_dir {self.output_dir}: cannot write there ({error.strerror or error})"
                                ) from error
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = os.read(fd, 4096).decode("utf-8", "replace")
                os.close(fd)
                raise UserError(f"{self.output_dir} is in use by another `se1b train` ({_owner(owner)}); wait for it "
                                "to finish, or train into another output_dir") from None
            try:
                if os.stat(self.path).st_ino == os.fstat(fd).st_ino:
                    break
            except FileNotFoundError:
                pass
            os.close(fd)
        self.fd = fd
        stale = os.read(fd, 4096).decode("utf-8", "replace")
        if stale.strip():
            print(f"cleared a stale lock: {_owner(stale)} no longer holds {self.output_dir} (it was stopped before "
                  "it finished)")
        owner = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(owner).encode(), 0)

    def release(self) -> None:
        if self.fd is None:
            return
        self.path.unlink(missing_ok=True)
        os.close(self.fd)
        self.fd = None
        if self.created_dir and not any(self.output_dir.iterdir()):
            self.output_dir.rmdir()


def _owner(text: str) -> str:
    """"process PID on HOST since TIME" from a lock file's content."""
    try:
        owner = json.loads(text)
        return f"process {owner['pid']} on {owner['host']} since {owner['started']}"
    except (ValueError, KeyError, TypeError):
        return "an unknown process"


def latest_checkpoint(output_dir: Path) -> int | None:
    """The latest saved step in output_dir/checkpoints, without creating anything."""
    folder = output_dir / "checkpoints"
    if not folder.is_dir():
        return None
    checkpoints = Checkpointer(folder, keep=1)
    try:
        return checkpoints.latest_step()
    finally:
        checkpoints.close()


def check_start(config: TrainConfig, resume: bool) -> int | None:
    """The checkpoint step this run resumes from (None: a fresh start). Refuses a fresh start over checkpoints and
    a resume that changes a field the checkpoint depends on; prints what a resume changes."""
    output_dir = Path(config.output_dir)
    latest = latest_checkpoint(output_dir)
    lead = jax.process_index() == 0
    if latest is None:
        if resume and lead:
            print(f"--resume: no checkpoint in {output_dir / 'checkpoints'}; starting fresh")
        return None
    if not resume:
        raise UserError(f"{output_dir} already holds checkpoints; pass --resume to continue, or another output_dir")
    saved_file = output_dir / "config.json"
    if saved_file.is_file():
        saved = json.loads(saved_file.read_text(encoding="utf-8"))
        current = config.to_dict()
        changed = [name for name in current if name in saved and saved[name] != current[name]]
        refused = [name for name in changed if name not in RESUME_MAY_CHANGE]
        if refused:
            details = ", ".join(f"{name} ({saved[name]!r} -> {current[name]!r})" for name in refused)
            raise UserError(f"--resume cannot change {details}: the checkpoints in {output_dir} depend on them; "
                            "restore them, or train into another output_dir")
        if changed and lead:
            print("--resume changes " + ", ".join(f"{name} {saved[name]!r} -> {current[name]!r}" for name in changed))
    return latest


def accept_start(config: TrainConfig, staged_base_model: Path | None) -> None:
    """Called once every check passed (process 0): create output_dir and its marker, install a freshly written tiny
    base model (replacing any stale one) and write config.json."""
    output_dir = Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / RUN_MARKER).write_text(json.dumps({"written_by": "se1b train"}) + "\n")
    if staged_base_model is not None and (staged_base_model / "config.json").exists():
        target = output_dir / "base-model"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(staged_base_model, target)
        apply_usual_modes(target)  # the staging folder was private (0700)
    save_config(config, output_dir / "config.json")


def all_finite(tree: Any) -> jax.Array:
    """One boolean: every leaf of `tree` is finite (inside jit)."""
    leaves = [jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree)]
    return jnp.stack(leaves).all()


def keep_if(ok: jax.Array, new: Any, old: Any) -> Any:
    """`new` where `ok`, else `old`, leaf by leaf (inside jit): a non-finite update is never applied."""
    return jax.tree.map(lambda a, b: jnp.where(ok, a, b), new, old)


def check_finite_state(params: Any, where: str) -> None:
    """Refuse (host) parameters holding NaN or infinity (a checkpoint written by an older version, say)."""
    bad = [jax.tree_util.keystr(path) for path, leaf in jax.tree_util.tree_leaves_with_path(params)
           if not np.isfinite(np.asarray(leaf)).all()]
    if bad:
        raise UserError(f"{where}: {len(bad)} parameter tensor(s) hold NaN or infinity (first: {bad[0]}); "
                        "resume from an earlier checkpoint (delete this one) or start afresh")


def divergence_error(config: TrainConfig, checkpoints: Checkpointer, *, step: int, first_step: bool, loss: float,
                     grad_norm: float, learning_rate: float) -> UserError:
    """The one-line error for a non-finite training step `step` (1-based), after dropping a checkpoint whose
    parameters produced the non-finite loss: the kept checkpoint is one that trains on."""
    checkpoints.wait()
    scale_hint = (f"scale ({config.scale:g}) is likely too high" if config.objective == "mnrl"
                  else "check the data and the base model")
    lr_hint = f"learning_rate ({config.learning_rate:g}; {learning_rate:.3g} at this step) is likely too high"
    if not math.isfinite(loss) and first_step:
        cause = f"the loss overflowed before any update: {scale_hint}"
    elif not math.isfinite(loss):
        cause = f"the parameters diverged: {lr_hint}"
        if checkpoints.latest_step() == step - 1:  # saved by this run from the very parameters that gave this loss
            checkpoints.manager.delete(step - 1)
            cause += f" (checkpoint {step - 1} held those parameters and was deleted)"
    elif not math.isfinite(grad_norm):
        cause = f"the gradients overflowed: {scale_hint}"
    else:
        cause = f"the update overflowed the parameters: {lr_hint}"
    last = checkpoints.latest_step()
    kept = (f"the last good checkpoint (step {last}) is kept in {checkpoints.directory}" if last is not None
            else "no good checkpoint was saved")
    return UserError(f"step {step} is not finite (loss {loss}, gradient norm {grad_norm}); stopped without applying "
                     f"it. Likely cause: {cause}. {kept}; fix the config, then rerun with --resume")
