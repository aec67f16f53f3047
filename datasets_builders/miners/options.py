"""The miners' filters and bounds as `se1b data build|publish` options, each with its defaults in --help.

Every keyword option of a miner's `*_events` function is an option here (a test checks that none is missing); its
default is read from the function's signature, per miner, so --help cannot drift from the code. An option left
unset keeps each miner's default; one that a source does not take is an error naming the options it does take.
"""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Callable
from typing import Any

from . import codesearchnet, reddit, stackexchange, wikipedia

MINERS: dict[str, tuple[Callable, ...]] = {  # a miner's events function, and its link's when it has options
    "reddit_comments": (reddit.reddit_comments,),
    "stackexchange_dump_*": (stackexchange.stackexchange_events,),
    "wikipedia_category_intros": (wikipedia.wikipedia_events, wikipedia.link_categories),
    "codesearchnet_*": (codesearchnet.codesearchnet_events,),
}
FIXED = {"languages"}  # set by the source itself (one codesearchnet_<language> source per language)


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _yes_no(text: str) -> bool:
    if text.lower() in ("yes", "true", "1"):
        return True
    if text.lower() in ("no", "false", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected yes or no, got {text!r}")


# name -> (argparse type, metavar, what it does)
OPTIONS: dict[str, tuple[Callable[[str], Any], str, str]] = {
    "min_chars": (int, "N", "shortest text kept, in characters"),
    "max_chars": (int, "N", "longest text kept, in characters (Wikipedia: intros are cut to it)"),
    "min_score": (int, "N", "lowest Reddit comment score kept"),
    "bot_authors": (_names, "A,B", "Reddit authors dropped as bots, comma-separated"),
    "drop_bot_like_authors": (_yes_no, "yes|no", "drop Reddit authors whose name ends in 'bot'"),
    "min_question_score": (int, "N", "lowest Stack Exchange question score kept"),
    "min_answer_score": (int, "N", "lowest Stack Exchange answer score kept"),
    "min_docstring_tokens": (int, "N", "fewest CodeSearchNet docstring tokens kept"),
    "seed": (int, "N", "seed of the order in which Wikipedia articles are paired"),
    "pairs_per_article": (int, "N", "most pairs a Wikipedia article anchors (pairs left out are counted)"),
    "pairs_per_category": (int, "N", "most pairs one Wikipedia category forms (pairs left out are counted)"),
    "skip_categories": (str, "REGEX", "Wikipedia categories ignored (regular expression)"),
}


def defaults(name: str) -> dict[str, Any]:
    """{miner source: default} of one option, from the miners' signatures."""
    found = {}
    for source, functions in MINERS.items():
        for function in functions:
            parameter = inspect.signature(function).parameters.get(name)
            if parameter is not None and parameter.kind is parameter.KEYWORD_ONLY:
                found[source] = parameter.default
    return found


def _shown(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(value) or "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str) and len(value) > 30:
        return "births/deaths, Living people, stubs and maintenance categories (see miners/wikipedia.py)"
    return f"{value:,}" if isinstance(value, int) else str(value)


def add_miner_options(parser: argparse.ArgumentParser) -> None:
    """The miner options group of `se1b data build|publish`; every default is unset (None): the miner's applies."""
    group = parser.add_argument_group(
        "miner filters and bounds", "only for the mined sources (see `se1b data list`, tag mined); unset: defaults"
    )
    for name, (kind, metavar, description) in OPTIONS.items():
        shown = "; ".join(f"{source} {_shown(value)}" for source, value in defaults(name).items())
        text = f"{description} (default: {shown})".replace("%", "%%")
        group.add_argument("--" + name.replace("_", "-"), dest=name, type=kind, metavar=metavar, help=text)


def miner_options(args: argparse.Namespace) -> dict[str, Any]:
    """The miner options set on the command line."""
    return {name: getattr(args, name) for name in OPTIONS if getattr(args, name, None) is not None}
