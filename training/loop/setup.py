"""What every run sets up before its first step: the distributed runtime, the device mesh, the base model and the
optimizer; plus the helpers that move replicated state between host and devices."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding

from se1b.errors import UserError
from training.loop.config import TrainConfig
from training.model.sentence_model import SentenceModel, load_sentence_model
from training.objectives.base import Objective
from training.objectives.distillation import Distillation
from training.objectives.mnrl import MNRL


def init_distributed(coordinator: str | None, num_processes: int | None, process_id: int | None) -> None:
    """Join a multi-process run (no-op for a single process). On CPU the collectives go through gloo."""
    if not coordinator:
        return
    if num_processes is None or process_id is None:
        raise UserError("--coordinator needs --num-processes and --process-id")
    # Before any backend call; it only concerns CPU devices, so it is harmless on accelerators.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator, num_processes, process_id)


def load_base_model(config: TrainConfig, *, staging: Path | None = None) -> SentenceModel:
    """The starting model: a folder, or `tiny-<family>` (a tiny random model kept in output_dir/base-model).
    With `staging` (a fresh run), a tiny model is written there instead, never reusing a stale output_dir/base-model;
    the run installs it once accepted. Every process writes its own copy: the same seed gives the same weights."""
    dtype = jnp.bfloat16 if config.precision == "bf16" else jnp.float32
    path = Path(config.model)
    if config.model.startswith("tiny-") and not path.exists():
        from training.model.tiny import TINY_FAMILIES, write_tiny_model

        family = config.model.removeprefix("tiny-")
        if family not in TINY_FAMILIES:
            raise UserError(f"unknown tiny model {config.model!r}; choose tiny-{' | tiny-'.join(TINY_FAMILIES)}")
        if staging is not None:
            path = write_tiny_model(staging, family, seed=config.seed)
        else:
            path = Path(config.output_dir) / "base-model"
            failure = None
            if jax.process_index() == 0 and not (path / "config.json").exists():
                try:
                    write_tiny_model(path, family, seed=config.seed)
                except Exception as error:  # the others wait for it: they must hear it failed
                    failure = error
            agree(failure)  # a barrier that carries a failure (this process's or one from an earlier check)
    model = load_sentence_model(path, dtype=dtype)
    encoder_config = model.model.encoder.config
    offset = 0 if encoder_config.padding_idx is None else encoder_config.padding_idx + 1  # RoBERTa-family positions
    positions = encoder_config.max_positions - offset
    for name in ("max_seq_length", "export_max_seq_length"):
        if getattr(config, name) > positions:
            raise UserError(f"config field '{name}' ({getattr(config, name)}) exceeds the {positions} positions "
                            f"of the model {config.model}")
    if config.prompts:  # the run's prompts replace the base model's; training and export both read model.prompts
        model.prompts = dict(config.prompts)
    return model


def make_optimizer(config: TrainConfig) -> tuple[optax.GradientTransformation, optax.Schedule]:
    """AdamW with warmup then decay; weight decay only on matrices (not biases, not LayerNorm scales)."""
    warmup = optax.linear_schedule(0.0, config.learning_rate, config.warmup_steps)
    decay_steps = max(config.steps - config.warmup_steps, 1)
    decay = {
        "linear": optax.linear_schedule(config.learning_rate, 0.0, decay_steps),
        "cosine": optax.cosine_decay_schedule(config.learning_rate, decay_steps),
        "constant": optax.constant_schedule(config.learning_rate),
    }[config.schedule]
    schedule = optax.join_schedules([warmup, decay], [config.warmup_steps])

    def decay_mask(params):
        return jax.tree.map(lambda p: p.ndim > 1, params)

    adamw = optax.adamw(schedule, b1=0.9, b2=0.999, eps=1e-6, weight_decay=config.weight_decay, mask=decay_mask)
    parts = [optax.clip_by_global_norm(config.grad_clip)] if config.grad_clip else []
    return optax.chain(*parts, adamw), schedule


AGREE_MESSAGE_BYTES = 512  # a failure's first line, as sent to the other processes


def agree(failure: BaseException | None) -> None:
    """Multi-process: every process says whether its start-up checks passed (one small all-gather of a flag and a
    message), before anything else collective and before any write. When one failed, every process raises: the
    failing one its own error, the others a UserError naming the process that failed and its message. Without
    this, a process failing alone (a file only it cannot read) would leave the others waiting in a collective.

    Every agreement point sends the same shapes, so a process that failed before an earlier agreement point (the
    tiny base model's, on a resume) still pairs with the others there and they stop too. No-op for one process
    (the failure, if any, is raised as it is)."""
    if failure is not None and (jax.process_count() == 1 or getattr(failure, "se1b_agreed", False)):
        raise failure  # one process, or the others heard of this failure already (at an earlier point)
    if jax.process_count() == 1:
        return
    from jax.experimental import multihost_utils

    line = "" if failure is None else (str(failure).strip().splitlines() or [type(failure).__name__])[0]
    encoded = line.encode("utf-8")[:AGREE_MESSAGE_BYTES]
    payload = np.zeros(AGREE_MESSAGE_BYTES + 1, dtype=np.uint8)
    payload[0] = failure is not None
    payload[1:1 + len(encoded)] = np.frombuffer(encoded, dtype=np.uint8)
    gathered = np.asarray(multihost_utils.process_allgather(payload))  # processes x (1 + message)
    if failure is not None:
        failure.se1b_agreed = True
        raise failure
    failed = np.flatnonzero(gathered[:, 0])
    if failed.size:
        index = int(failed[0])
        message = bytes(gathered[index, 1:]).rstrip(b"\0").decode("utf-8", errors="replace")
        error = UserError(f"process {index} of {jax.process_count()} failed its start-up checks, so this process "
                          f"(process {jax.process_index()}) stops too: {message}")
        error.se1b_agreed = True
        raise error


def barrier(name: str) -> None:
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def replicate(tree: Any, sharding: NamedSharding) -> Any:
    """Place identical host values on every device of every process (works multi-host, unlike device_put)."""
    def place(x):
        return jax.make_array_from_callback(np.shape(x), sharding, lambda index: np.asarray(x)[index])

    return jax.tree.map(place, tree)


def host(tree: Any) -> Any:
    """A host (numpy) copy of replicated arrays: the local shard is the whole value."""
    return jax.tree.map(lambda x: np.asarray(x.addressable_data(0)), tree)


def make_mesh(config: TrainConfig) -> Mesh:
    """A one-axis mesh over every device of every process: the batch is split on 'data'."""
    devices = jax.devices()
    if config.batch_size % len(devices):
        raise UserError(f"batch_size {config.batch_size} must be a multiple of the device count ({len(devices)})")
    return Mesh(np.array(devices), ("data",))


def make_objective(config: TrainConfig, width: int | None = None) -> Objective:
    """The objective a config asks for; `width` (the model's embedding width) checks matryoshka_dims."""
    if config.objective == "distillation":
        objective = Distillation()
    elif config.guide:
        from training.objectives.guided import GuidedMNRL

        objective = GuidedMNRL(scale=config.scale, symmetric=config.symmetric, margin=config.guide_margin)
    else:
        objective = MNRL(scale=config.scale, symmetric=config.symmetric, block_rows=config.loss_block_rows)
    if config.matryoshka_dims:
        from training.objectives.matryoshka import Matryoshka, check_dims

        check_dims(config.matryoshka_dims, config.matryoshka_weights, width)
        objective = Matryoshka(objective, tuple(config.matryoshka_dims),
                               tuple(float(w) for w in config.matryoshka_weights))
    return objective
