"""The registry of pair sources by name: the 2021 catalog (catalog.py), the miners' sources (miners/sources.py),
the parallel-sentence pairs (parallel.py) and any source a user registers (`register_source`). Registering a source
is all it takes for `build_source`, `publish`, the dataset card and `se1b data list|build|publish` to work with it.
"""

from __future__ import annotations

from functools import cache

from datasets_builders.catalog import CATALOG
from datasets_builders.miners.sources import SOURCES as MINER_SOURCES
from datasets_builders.parallel import PARALLEL_SOURCES
from datasets_builders.source import Source
from se1b.errors import UserError

_REGISTRY: dict[str, Source] = {}


def register_source(source: Source, *, replace: bool = False) -> Source:
    """Add a source to the registry (e.g. from a miner module); returns it. Names must be unique."""
    if not source.name.replace("_", "").isalnum() or source.name != source.name.lower():
        raise ValueError(f"source name {source.name!r} must be lower-case letters, digits and underscores")
    if source.whitespace not in ("collapse", "strip"):
        raise ValueError(f"source {source.name}: whitespace must be 'collapse' or 'strip'")
    if tuple(source.arity) not in ((2,), (3,)):
        raise ValueError(f"source {source.name}: arity must be (2,) (pairs) or (3,) (triplets), got {source.arity}")
    if source.name in _REGISTRY and not replace:
        raise ValueError(f"source {source.name!r} is already registered")
    _REGISTRY[source.name] = source
    return source


@cache
def _load_all() -> None:
    """Register the built-in sources once: the 2021 catalog, the miners' sources and the parallel-sentence pairs."""
    for source in [*CATALOG, *MINER_SOURCES, *PARALLEL_SOURCES]:
        register_source(source, replace=True)


def list_sources() -> list[Source]:
    """Every registered source, in name order."""
    _load_all()
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def get_source(name: str) -> Source:
    """The registered source called `name`; a `UserError` listing the known names otherwise."""
    _load_all()
    if name not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY))
        raise UserError(f"unknown source {name!r}; known sources: {known}")
    return _REGISTRY[name]
