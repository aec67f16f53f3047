"""`se1b data`: list the pair sources, build one, publish builds as a Hub-native dataset folder.

se1b data list
se1b data build squad --raw squad_pairs.jsonl.gz --out builds/squad
se1b data publish builds/squad builds/gooaq --out hub/pairs
se1b data publish squad --raw squad_pairs.jsonl.gz --out hub/pairs --on-error skip
se1b data mine-negatives hub/pairs --config squad --model MODEL --out hub/pairs   # + config squad-hard-negatives
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from datasets_builders import engine
from datasets_builders.build import STATS_FILE, Build, build_source, load_build
from datasets_builders.miners.options import add_miner_options, miner_options
from datasets_builders.publishing import DEFAULT_MAX_SHARD_BYTES, check_out_dir, publish
from datasets_builders.registry import get_source, list_sources
from datasets_builders.rows import ON_ERROR
from datasets_builders.source import Source
from se1b.errors import UserError
from se1b.files import check_output_folder


def configure(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    """Add the `data` subcommands; returns them, so the command line can add `mine-negatives` (training/)."""
    commands = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    commands.add_parser("list", help="list the catalogued sources: pairs and weight in the 2021 mix, licence, format")

    def build_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--raw",
            nargs="+",
            metavar="PATH",
            help="local raw files or folders (default: download the source's canonical files)",
        )
        sub.add_argument(
            "--on-error",
            choices=ON_ERROR,
            default="raise",
            help="bad records: stop with file and line (raise, default) or skip them and count by reason (skip)",
        )
        sub.add_argument("--dedupe", action="store_true", help="drop exact duplicate pairs (counted)")
        sub.add_argument(
            "--address",
            help="run on an existing Ray cluster: auto, ray://HOST:10001 or HOST:6379 (default: RAY_ADDRESS, else a "
            "local Ray instance started for the command and stopped after it)",
        )
        sub.add_argument(
            "--num-cpus",
            "--num-proc",
            dest="num_cpus",
            type=int,
            help="CPUs of the local Ray instance, i.e. raw files read at once, and for publish the shards written "
            "at once (default: all of the machine's)",
        )
        add_miner_options(sub)

    build = commands.add_parser(
        "build",
        help="build one source into its schema: pairs (anchor, positive) or triplets (+ negative)",
        description="Read a source's raw files, clean them and write a build folder (pairs.arrow + build.json) "
        "that `se1b data publish` turns into a Hub dataset.",
    )
    build.add_argument("source", help="source name (see `se1b data list`)")
    build_options(build)
    build.add_argument("--out", required=True, type=Path, help="build folder to write")

    pub = commands.add_parser(
        "publish",
        help="write builds as a Hub-native dataset folder (Parquet shards per config + README.md card)",
        description="Each ITEM is a build folder (from `se1b data build`) or a source name, built on the fly from "
        "--raw files or its canonical URLs. Each becomes config <source> of the folder --out; configs already "
        "there are kept.",
    )
    pub.add_argument("items", nargs="+", metavar="ITEM", help="build folder or source name")
    build_options(pub)
    pub.add_argument("--out", required=True, type=Path, help="dataset repo folder to write (or add configs to)")
    pub.add_argument(
        "--max-shard-mb",
        type=float,
        default=DEFAULT_MAX_SHARD_BYTES / 2**20,
        help="largest shard, in MiB of Arrow data (default %(default)s)",
    )
    pub.add_argument("--pretty-name", help="title of the dataset card")
    return commands


def main(args: argparse.Namespace) -> int:
    """Run a `data` subcommand."""
    if args.data_command == "list":
        return _list()
    check_output_folder(args.out)
    if args.num_cpus is not None and args.num_cpus < 1:
        raise UserError("--num-cpus must be at least 1")
    if args.data_command == "build":
        with engine.session(args.address, args.num_cpus):
            build = build_source(
                _configured(args.source, args), args.raw, on_error=args.on_error, dedupe=args.dedupe, out_dir=args.out
            )
        _report(build)
        print(f"build written to {args.out}; publish it with: se1b data publish {args.out} --out DIR")
        return 0
    names = [item for item in args.items if not (Path(item) / STATS_FILE).is_file()]
    if args.raw and len(args.items) != 1:
        raise UserError(
            "--raw needs exactly one ITEM (a source name); build sources one by one with `se1b data build`"
        )
    if args.max_shard_mb <= 0:
        raise UserError("--max-shard-mb must be positive")
    check_out_dir(args.out)  # before any build: a folder publish may not write into is refused at once
    builds: list[Build] = []
    if names:  # one Ray instance for all the sources built here
        with engine.session(args.address, args.num_cpus):
            built = {name: build_source(_configured(name, args), args.raw, on_error=args.on_error, dedupe=args.dedupe)
                     for name in names}
    for item in args.items:
        build = built[item] if item in names else load_build(item)
        _report(build)
        builds.append(build)
    out = publish(builds, args.out, max_shard_bytes=int(args.max_shard_mb * 2**20), pretty_name=args.pretty_name,
                  num_threads=args.num_cpus)
    configs = ", ".join(build.facts["name"] for build in builds)
    print(f"published {configs} to {out} (card: {out / 'README.md'})")
    return 0


def _configured(name: str, args: argparse.Namespace) -> str | Source:
    """The source to build: by name, or configured with the miner options given on the command line."""
    options = miner_options(args)
    if not options:
        return name
    source = get_source(name)
    if source.configure is None:
        raise UserError(f"{name} is not a mined source: the miner options ({', '.join(options)}) do not apply to it")
    return source.configure(**options)


def _report(build: Build) -> None:
    print(build.stats.summary())
    for sample in build.stats.error_samples:
        print(f"  rejected: {sample}")
    if warning := build.stats.warning():
        print(warning, file=sys.stderr)


def _list() -> int:
    rows = [
        (s.name, f"{s.pairs_2021:,}", str(s.weight_2021), s.license, s.raw_format.split(": ", 1)[-1])
        for s in list_sources()
    ]
    header = ("name", "pairs (2021)", "weight", "licence", "format")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print(
            "  ".join(
                cell.rjust(w) if i in (1, 2) else cell.ljust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
        )
    total_pairs = sum(s.pairs_2021 for s in list_sources())
    print(f"{len(rows)} sources, {total_pairs:,} pairs in the 2021 mix")
    return 0
