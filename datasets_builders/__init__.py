"""Pair-source builders and Hub-native dataset publishing.

Every source of the 2021 "1B training pairs" mix (and any source a miner adds) is built into one of two schemas
(`datasets_builders.schema`): pairs {anchor, positive} (a source with arity (2,)) or triplets {anchor, positive,
negative} (arity (3,)), and published as a Hub dataset repo folder: `data/<config>/train-XXXXX-of-YYYYY.parquet`
shards plus a README.md card whose YAML `configs:` (one marked `default: true`) lets `load_dataset(folder_or_repo_id)`
and `load_dataset(folder_or_repo_id, config)` work with no remote code.

Public API (import from `datasets_builders`):

    Source(...)                                   catalog facts + how to read raw files (source.py)
    register_source(source, *, replace=False)     add a source (miners do this on import)
    get_source(name) -> Source;  list_sources() -> list[Source]
    build_source(source, raw_paths=None, *, on_error="raise", dedupe=False, out_dir=None, progress=True,
                 address=None, num_cpus=None) -> Build       (runs on Ray Data: datasets_builders/engine.py)
        Build: .source, .dataset (memory-mapped datasets.Dataset), .stats (BuildStats), .path, .facts
    load_build(folder) -> Build                   reopen a build made with out_dir=folder (`se1b data build`)
    mine_reddit(path, *, stats=None, **filters)   Reddit (parent, reply) pairs of comment dumps (exact join)
    mine_stackexchange(path, kind, *, stats=None, **filters)   Stack Exchange pairs of site dumps (exact joins)
    mine_wikipedia(path, *, stats=None, **options)   intros of articles sharing a category (group-by on Ray Data)
    mine_nli(path, kind="triplets", *, stats=None)   SNLI/MultiNLI triplets or pairs (grouped by premise)
    iter_rows(source, paths, stats, on_error="raise") -> Iterator[(anchor, positive, negative|None)]
        (negative is None for a pair source; the build writes only the columns of the source's schema)
    publish(builds, out_dir, *, max_shard_bytes=DEFAULT_MAX_SHARD_BYTES, pretty_name=None, default_config=None,
            progress=True) -> Path
        builds: Build(s) or build folders; existing configs in out_dir are kept, a config of the same name replaced;
        writes data/<name>/train-XXXXX-of-YYYYY.parquet (<= max_shard_bytes of Arrow data each, 256 MiB default),
        build_reports/<name>.json and README.md (model_cards.dataset_card.write_dataset_card(out_dir) rewrites it)
    RecordError(reason, detail, line=None)        a bad record; `reason` is the key it is counted under
    Filtered(reason)                              a record a source's own filters drop: counted, never an error
    Bounded(reason, count)                        pairs a source's bounds did not form: counted, not a record

Every message names a place as `file:line N:` (or `file:row 3 (Id=7):`, `file:page 2 (Title):`, `file:line 4,
column 2:` for XML syntax), and a whole-file problem as `file: reason:`; compressed files of any kind (gzip, bz2,
xz, zstd, recognised by content) are read by datasets_builders/compressed.py, which keeps what precedes damage and
reports its compressed byte offset.

Command line:

    se1b data list
    se1b data build SOURCE [--raw PATH...] --out BUILD_DIR [--on-error skip] [--dedupe] [--num-cpus N | --address ADDR]
        [--min-chars N --min-score N ...]   (a mined source's filters and bounds; defaults in --help)
    se1b data publish ITEM... --out REPO_DIR [--raw PATH...] [--max-shard-mb N] [--pretty-name T]   (ITEM: a build
        folder or a source name; publish also takes --on-error, --dedupe, --num-cpus, --address for the sources it
        builds)

Adding a source (what a miner writes, e.g. in datasets_builders/miners/<name>.py, imported by miners/__init__.py):

    from datasets_builders import Filtered, RecordError, Source, register_source

    def read_posts(path):                     # Reader: yields (location, record); constant memory
        for number, post in enumerate(parse_xml(path), 1):
            yield number, post                # or yield number, RecordError("missing_attribute", "no Title")
                                              # or yield number, Filtered("low_score") (counted, never fatal)
                                              # raise RecordError("corrupt_file", "...", line=number) if unreadable
    def post_texts(post):                     # ToTexts: record -> [(anchor, positive)] or [(a, p, negative)]
        return [(post["Title"], post["Body"])]

    register_source(Source(name="stackexchange_xml_title_body", pretty_name=..., description=..., license=...,
                           citation=..., homepage=..., raw_format="Posts.xml of a site dump",
                           reader=read_posts, to_texts=post_texts))

Then `build_source("stackexchange_xml_title_body", [path])`, `publish(...)`, the card and
`se1b data list|build|publish` all work for it: cleaning (whitespace, empty texts, optional dedupe), the error policy
and the counting are the builder's, not the miner's. The registry loads `datasets_builders.catalog` and, if present,
`datasets_builders.miners` the first time it is asked.
"""

import importlib

# Each public name and the module that defines it, imported on first use (PEP 562): a Ray worker imports this package
# before the module of the task it runs (tasks.py), and importing every module here would cost each fresh worker
# `datasets`, the publisher and the card templates (~0.3 s of start-up) that no task uses.
_EXPORTS = {
    "Build": "build", "build_source": "build", "load_build": "build",
    "BuildStats": "stats", "iter_rows": "rows",
    "mine_nli": "mined", "mine_reddit": "mined", "mine_stackexchange": "mined", "mine_wikipedia": "mined",
    "DEFAULT_MAX_SHARD_BYTES": "publishing", "publish": "publishing",
    "Filtered": "readers", "RecordError": "readers", "read_json_lines": "readers", "record_texts": "readers",
    "get_source": "registry", "list_sources": "registry", "register_source": "registry",
    "PAIR_FEATURES": "schema", "TRIPLET_FEATURES": "schema", "features_for": "schema", "kind_of": "schema",
    "Source": "source",
}  # fmt: skip
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value  # found directly from now on
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
