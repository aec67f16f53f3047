"""Semantic textual similarity: Spearman and Pearson correlation of cosine similarity with gold scores.

Reads the STS benchmark in its common shapes:

- a tsv/csv with a header naming `sentence1`, `sentence2` and `score` (the STSb tsv; sentence-transformers'
  `stsbenchmark.tsv.gz`, whose `split` column `--split` selects); `.gz` is read transparently;
- the original STSb files (`sts-dev.csv`: tab-separated, no header: genre, file, year, id, score, sentence1,
  sentence2[, source...]);
- a Hub-format dataset (a local folder or a Hub id) with columns sentence1, sentence2, score.

    >>> data = load_sts(Path("stsbenchmark/sts-dev.csv"))
    >>> evaluate_sts(model.encode, data)
    {'spearman': 0.87, 'pearson': 0.87, 'pairs': 1500}
"""

from __future__ import annotations

import csv
import gzip
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import pearsonr, spearmanr

from se1b.errors import UserError, library_logs_held
from training.evaluation.embed import Encode, embed_texts

RAW_STSB_COLUMNS = 7  # genre, file, year, id, score, sentence1, sentence2


@dataclass
class STSData:
    sentences1: list[str]
    sentences2: list[str]
    scores: list[float]
    name: str  # where it came from, for reports


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path), encoding="utf-8", newline="")
    return path.open(encoding="utf-8", newline="")


def _score(value: str, path: Path, line: int) -> float:
    try:
        score = float(value)
    except ValueError:
        raise UserError(f"{path}: line {line}: score {value!r} is not a number") from None
    if not math.isfinite(score):
        raise UserError(f"{path}: line {line}: score {value!r} is not a finite number")
    return score


def _read_table(path: Path, split: str | None) -> STSData:
    """`_parse_table`, with undecodable or binary files reported on one line."""
    try:
        return _parse_table(path, split)
    except UnicodeDecodeError as error:
        raise UserError(f"{path}: not UTF-8 text ({error.reason}); give a UTF-8 tsv/csv") from error
    except csv.Error as error:
        raise UserError(f"{path}: not a readable tsv/csv file ({error})") from error
    except (OSError, EOFError) as error:  # a corrupt or truncated .gz
        raise UserError(f"{path}: cannot read ({error})") from error


def _parse_table(path: Path, split: str | None) -> STSData:
    with _open_text(path) as handle:
        first = handle.readline()
        handle.seek(0)
        delimiter = "\t" if "\t" in first else ","
        header = [field.strip().lower() for field in first.rstrip("\r\n").split(delimiter)]
        # STS text holds unbalanced quotes; tab files are never quoted, comma files may be
        quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
        rows = csv.reader(handle, delimiter=delimiter, quoting=quoting)
        data = STSData([], [], [], f"{path.parent.name}/{path.name}")
        if {"sentence1", "sentence2", "score"} <= set(header):
            next(rows)
            columns = {name: header.index(name) for name in ("sentence1", "sentence2", "score")}
            split_column = header.index("split") if "split" in header else None
            if split is not None and split_column is None:
                raise UserError(f"{path}: no 'split' column to select split {split!r} from")
            for line, row in enumerate(rows, start=2):
                if len(row) < len(header):
                    raise UserError(f"{path}: line {line}: {len(row)} fields, the header has {len(header)}")
                if split is not None and row[split_column] != split:
                    continue
                data.sentences1.append(row[columns["sentence1"]])
                data.sentences2.append(row[columns["sentence2"]])
                data.scores.append(_score(row[columns["score"]], path, line))
        elif delimiter == "\t":  # the original STSb files
            for line, row in enumerate(rows, start=1):
                if len(row) < RAW_STSB_COLUMNS:
                    raise UserError(
                        f"{path}: line {line}: {len(row)} fields; expected a header with sentence1, sentence2, score "
                        f"or the raw STSb layout (genre, file, year, id, score, sentence1, sentence2)"
                    )
                data.scores.append(_score(row[4], path, line))
                data.sentences1.append(row[5])
                data.sentences2.append(row[6])
        else:
            raise UserError(f"{path}: line 1: expected a header with sentence1, sentence2 and score")
    return data


def _read_dataset(source: str, split: str | None) -> STSData:
    import datasets

    saved = Path(source) / "dataset_dict.json"  # written by DatasetDict.save_to_disk
    with library_logs_held("datasets"):  # its error lines would repeat the UserError's
        try:
            loaded = datasets.load_from_disk(str(source)) if saved.exists() else datasets.load_dataset(source)
        except Exception as error:  # datasets raises many types; the user needs the message, not the type
            raise UserError(f"{source}: cannot load as a dataset: {error}") from error
    splits = list(loaded)
    chosen = split or next((name for name in ("test", "validation", "dev") if name in splits), splits[0])
    if chosen not in splits:
        raise UserError(f"{source}: no split {chosen!r} (splits: {', '.join(splits)})")
    table = loaded[chosen]
    missing = [name for name in ("sentence1", "sentence2", "score") if name not in table.column_names]
    if missing:
        raise UserError(f"{source}: split {chosen!r} lacks column(s) {', '.join(missing)}")
    return STSData(
        list(table["sentence1"]), list(table["sentence2"]), [float(s) for s in table["score"]], f"{source}:{chosen}"
    )


def load_sts(source: str | Path, split: str | None = None) -> STSData:
    """Read STS pairs from a tsv/csv(.gz) file, a Hub-format dataset folder or a Hub dataset id."""
    path = Path(source)
    if path.is_file():
        data = _read_table(path, split)
    elif path.is_dir() or not path.suffix:  # a folder, or something shaped like a Hub id
        data = _read_dataset(str(source), split)
    else:
        raise UserError(f"{source}: no such file")
    if len(data.scores) < 2:
        raise UserError(f"{source}: {len(data.scores)} STS pair(s){f' in split {split!r}' if split else ''}; need 2+")
    if not all(math.isfinite(score) for score in data.scores):
        raise UserError(f"{source}: a gold score is NaN or infinite")
    if len(set(data.scores)) == 1:
        raise UserError(f"{source}: all {len(data.scores)} gold scores are {data.scores[0]}: a correlation with a "
                        "constant is undefined")
    return data


def evaluate_sts(encode: Encode, data: STSData) -> dict[str, float]:
    """Spearman and Pearson correlation between the cosine similarity of each pair and its gold score."""
    unique = list(dict.fromkeys(data.sentences1 + data.sentences2))
    embeddings = embed_texts(encode, unique, desc="STS")
    index = {text: i for i, text in enumerate(unique)}
    left = embeddings[[index[t] for t in data.sentences1]]
    right = embeddings[[index[t] for t in data.sentences2]]
    cosine = np.sum(left * right, axis=1)
    gold = np.asarray(data.scores, dtype=np.float64)
    return {
        "spearman": float(spearmanr(gold, cosine).statistic),
        "pearson": float(pearsonr(gold, cosine).statistic),
        "pairs": len(gold),
    }
