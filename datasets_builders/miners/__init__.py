"""Miners: pair sources made from raw dumps rather than ready pair files.

    stackexchange.py   a site's .7z (or Posts.xml + PostLinks.xml) -> title/body, title(+body)/answer, duplicates
    reddit.py          monthly comment dumps (.bz2/.xz/.zst)     -> (parent comment, reply)
    codesearchnet.py   CodeSearchNet jsonl.gz                    -> (docstring, code) per language
    nli.py             SNLI / MultiNLI jsonl                     -> AllNLI-style triplets and pairs
    wikipedia.py       pages-articles XML dump (.bz2)            -> intros of two articles sharing a category
    options.py         the miners' filters as `se1b data build` options

Each reads its files in constant memory (bounded indexes, documented per module). Reddit, Stack Exchange, Wikipedia
and NLI triplets pair records across all the input on Ray Data (joins and group-bys run by the builder: replies to
their parents, answers to their questions and duplicate links to both questions, articles by category, hypotheses by
premise): their Python API is `datasets_builders.mine_reddit(path)`, `mine_stackexchange(path, kind)`,
`mine_wikipedia(path)`, `mine_nli(path, kind)`; here is `mine_codesearchnet(path)`; each yields {"anchor",
"positive", "negative"} dicts, counting drops by reason in a
`MiningStats` (on_error="raise" or "skip"). Importing this package registers them as builder sources
(sources.py), so `se1b data build|publish stackexchange_dump_title_answer --raw SITE_FOLDER ...` works.
"""

from .codesearchnet import mine_codesearchnet
from .common import Drop, MiningStats
from .sources import SOURCES, miner_reader

__all__ = [
    "SOURCES",
    "Drop",
    "MiningStats",
    "mine_codesearchnet",
    "miner_reader",
]
