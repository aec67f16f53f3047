"""Translation retrieval (bitext matching): for every source sentence, is its own translation the nearest target by
cosine similarity among all targets of the file, and the other way round?

Reads a parallel TSV: `source<TAB>target` per line (plain or .gz), optionally headed by the language codes
(`en<TAB>de`); without a header the pair is taken from the file name (`tatoeba-en-de.tsv` -> en-de).

    >>> data = load_translation(Path("tatoeba-en-de.tsv"))
    >>> evaluate_translation(model.encode, data)
    {'src2tgt_accuracy': 0.93, 'tgt2src_accuracy': 0.92, 'accuracy': 0.925, 'pairs': 1000}
"""

from __future__ import annotations

import gzip
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from se1b.errors import UserError
from training.evaluation.embed import Encode, embed_texts

LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}$")
PAIR_IN_NAME = re.compile(r"(?<![a-z])([a-z]{2})[-_]([a-z]{2})(?![a-z])")  # two-letter codes: "sts-dev" is none
CHUNK = 1024  # query rows scored against all candidates at once


@dataclass
class TranslationData:
    sources: list[str]
    targets: list[str]
    name: str  # file name, for reports
    language_pair: str | None  # "en-de" from the header or the file name


def language_pair_from_name(path: str | Path) -> str | None:
    """`sts17-en-de.tsv` -> "en-de"; None when the name holds no `xx-yy` pair."""
    match = PAIR_IN_NAME.search(Path(path).name.lower())
    return f"{match.group(1)}-{match.group(2)}" if match else None


def load_translation(path: str | Path) -> TranslationData:
    """Read a parallel TSV; a line without exactly one tab or with an empty side is a `UserError` naming it."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    raw = gzip.open(path) if path.suffix == ".gz" else path.open("rb")
    data = TranslationData([], [], path.name, language_pair_from_name(path))
    with io.TextIOWrapper(raw, encoding="utf-8", newline="") as lines:
        for number, line in enumerate(lines, start=1):
            fields = line.rstrip("\r\n").split("\t")
            if number == 1 and len(fields) == 2 and all(LANGUAGE_CODE.match(f.strip()) for f in fields):
                data.language_pair = "-".join(f.strip() for f in fields)
                continue
            if len(fields) != 2:
                raise UserError(f"{path}: line {number}: {len(fields)} tab-separated fields; expected "
                                "source<TAB>target")
            if not fields[0].strip() or not fields[1].strip():
                raise UserError(f"{path}: line {number}: the {'source' if not fields[0].strip() else 'target'} "
                                "side is empty")
            data.sources.append(fields[0])
            data.targets.append(fields[1])
    if len(data.sources) < 2:
        raise UserError(f"{path}: {len(data.sources)} sentence pair(s); need 2+ to retrieve among")
    return data


def _accuracy(queries: np.ndarray, candidates: np.ndarray) -> float:
    """Share of rows i whose nearest candidate (cosine; rows are unit length) is candidate i."""
    hits = 0
    for start in range(0, len(queries), CHUNK):
        nearest = np.argmax(queries[start : start + CHUNK] @ candidates.T, axis=1)
        hits += int(np.sum(nearest == np.arange(start, start + len(nearest))))
    return hits / len(queries)


def evaluate_translation(encode: Encode, data: TranslationData) -> dict[str, float]:
    """Source -> target and target -> source nearest-neighbour accuracy, and their mean."""
    sources = embed_texts(encode, data.sources, desc="sources")
    targets = embed_texts(encode, data.targets, desc="targets")
    forward, backward = _accuracy(sources, targets), _accuracy(targets, sources)
    return {"src2tgt_accuracy": forward, "tgt2src_accuracy": backward, "accuracy": (forward + backward) / 2,
            "pairs": len(data.sources)}
