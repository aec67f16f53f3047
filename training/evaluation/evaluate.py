"""`se1b eval`: evaluate a sentence embedding model on STS, retrieval, translation retrieval and gender bias; print
a table, write JSON.

    se1b eval sentence-transformers/all-MiniLM-L6-v2 --sts stsbenchmark/sts-test.csv --retrieval scifact --bias \\
        --output results.json
    se1b eval out/model --backend flax --sts data/stsb/dev.tsv
    se1b eval runs/mrl/model --sts dev.tsv --dims 384,256,128,64,32   # Matryoshka: each metric at each prefix
    se1b eval runs/multilingual/model --translation tatoeba-en-de.tsv --translation tatoeba-en-fr.tsv \\
        --sts sts17-en-de.tsv --sts sts17-en-en.tsv          # multilingual: one result per language pair

A language pair in a file name (`sts17-en-de.tsv`) or a translation file's `en<TAB>de` header is shown with its
result, so each pair gets its own row in the table and the model card.

The same evaluations run inside training through `evaluate_model(encode, ...)`, which returns the
`model_cards.metadata.Evaluation` records a model card reads.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from model_cards.metadata import Evaluation, public_reference
from se1b.errors import UserError, first_line
from se1b.files import check_writable, write_output
from spaces_demo.gender_bias import evaluate_gender_bias
from training.evaluation.retrieval import evaluate_retrieval, load_beir
from training.evaluation.sts import evaluate_sts, load_sts
from training.evaluation.translation import evaluate_translation, language_pair_from_name, load_translation

BACKENDS = ("sentence-transformers", "flax")
BIAS_DATASET = "se1b-gender-bias-occupations"
BIAS_NAME = "se1b gender bias, 52 occupations (BLS CPS 2023)"


def load_encoder(model: str, backend: str = "sentence-transformers", batch_size: int = 64) -> Callable:
    """An `encode(texts) -> np.ndarray` for a model id or folder, run by sentence-transformers (PyTorch) or by
    the project's Flax encoder."""
    if backend == "sentence-transformers":
        import transformers
        from sentence_transformers import SentenceTransformer

        from training.model.sentence_model import check_tokenizer

        verbosity = transformers.logging.get_verbosity()
        transformers.logging.set_verbosity_error()  # a failed load logs a report table before raising
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch's warning about the pickle it then refuses
                st_model = SentenceTransformer(model)
        except Exception as error:  # a missing or foreign folder, a refused pickle, weights unlike the config, ...
            reason = ("its weights do not have the sizes its config.json gives" if "mismatched_sizes" in str(error)
                      else first_line(error))
            raise UserError(f"{model}: cannot load as a sentence-transformers model: {reason}") from error
        finally:
            transformers.logging.set_verbosity(verbosity)
        check_tokenizer(st_model.tokenizer, model)
        return lambda texts: st_model.encode(texts, batch_size=batch_size, convert_to_numpy=True)
    if backend == "flax":
        from training.model.sentence_model import load_sentence_model

        flax_model = load_sentence_model(model)
        return lambda texts: flax_model.encode(texts, batch_size=batch_size)
    raise UserError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")


def evaluate_model(
    encode: Callable[[list[str]], np.ndarray],
    *,
    sts: str | Path | list[str | Path] | None = None,
    sts_split: str | None = None,
    retrieval: Path | None = None,
    retrieval_split: str = "test",
    bias: bool = False,
    translation: list[str | Path] = (),
    step: int | None = None,
) -> list[Evaluation]:
    """Run the requested evaluations; one `Evaluation` each (task "sts", "retrieval", "translation" or
    "gender-bias"). `sts` may list several files (cross-lingual STS, one per language pair)."""
    results = []
    for source in [sts] if isinstance(sts, (str, Path)) else sts or []:
        data = load_sts(source, sts_split)
        pair = language_pair_from_name(source) if Path(source).is_file() else None
        results.append(
            Evaluation(task="sts", dataset=_dataset_id(source),
                       dataset_name=f"{data.name} ({pair})" if pair else data.name,
                       split=sts_split or _split_name(source), step=step, metrics=evaluate_sts(encode, data))
        )
    for source in translation:
        pairs = load_translation(source)
        label = f"{pairs.name} ({pairs.language_pair})" if pairs.language_pair else pairs.name
        results.append(
            Evaluation(task="translation", dataset=_dataset_id(source), dataset_name=label,
                       split=_split_name(source), step=step, metrics=evaluate_translation(encode, pairs))
        )
    if retrieval is not None:
        beir = load_beir(Path(retrieval), retrieval_split)
        for reason, count in sorted(beir.skipped.items()):
            print(f"retrieval {beir.name}: left out {count:,} x {reason}")
        results.append(
            Evaluation(task="retrieval", dataset=_dataset_id(retrieval), dataset_name=beir.name,
                       split=retrieval_split, step=step, metrics=evaluate_retrieval(encode, beir))
        )
    if bias:
        report = evaluate_gender_bias(encode)
        results.append(
            Evaluation(task="gender-bias", dataset=BIAS_DATASET, dataset_name=BIAS_NAME, split="test", step=step,
                       metrics=report.overall, details=report.per_occupation)
        )
    return results


def prefix_encoder(encode: Callable[[list[str]], np.ndarray], dimension: int) -> Callable[[list[str]], np.ndarray]:
    """`encode` keeping the first `dimension` values of each embedding: what
    `SentenceTransformer(path, truncate_dim=dimension)` returns (the metrics take cosines, so no renormalising)."""
    return lambda texts: encode(texts)[:, :dimension]


def evaluate_dimensions(encode: Callable[[list[str]], np.ndarray], dims: Sequence[int], **evaluations
                        ) -> list[Evaluation]:
    """`evaluate_model(..., **evaluations)` at each embedding prefix in `dims` (Matryoshka models); every
    result carries its `dimension`. Texts are embedded once and sliced for each prefix. The gender-bias evaluation
    is left out (it is reported at full width)."""
    cache: dict[tuple[str, ...], np.ndarray] = {}

    def cached(texts: list[str]) -> np.ndarray:
        key = tuple(texts)
        if key not in cache:
            cache[key] = encode(list(texts))
        return cache[key]

    results = []
    for dim in dims:
        for result in evaluate_model(prefix_encoder(cached, dim), **(evaluations | {"bias": False})):
            results.append(dataclasses.replace(result, dimension=dim))
    return results


def _dataset_id(source: str | Path) -> str:
    """A Hub id stays as given (the card links it and files results under it); a local path becomes "a local file"
    or "a local folder" (its short name goes to dataset_name), never the machine's path or a file name posing as
    a Hub id."""
    return public_reference(str(source)) if Path(source).exists() else str(source)


def _split_name(source: str | Path) -> str:
    """A file's split from its name (sts-dev.csv, dev.tsv -> dev); "test" when the name does not say."""
    name = Path(source).name.lower()
    return next((split for split in ("train", "dev", "validation", "test") if split in name), "test")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="sentence-transformers model id or folder (or a plain Hugging Face folder)")
    parser.add_argument("--sts", metavar="PATH", action="append", help="STS file (tsv/csv, STSb raw or with "
                        "sentence1, sentence2, score columns) or Hub-format dataset folder/id; repeatable "
                        "(cross-lingual STS: one file per language pair, e.g. sts17-en-de.tsv)")
    parser.add_argument("--sts-split", help="split to use: the 'split' column of a file, or a dataset split "
                        "(default: the whole file; for datasets test, then validation)")
    parser.add_argument("--retrieval", metavar="DIR", type=Path,
                        help="BEIR-layout folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv")
    parser.add_argument("--retrieval-split", default="test", help="qrels file to use (default: %(default)s)")
    parser.add_argument("--translation", metavar="PATH", action="append", default=[],
                        help="parallel TSV (source<TAB>target per line, optional 'en<TAB>de' header): translation "
                        "retrieval accuracy source->target and back; repeatable, one per language pair")
    parser.add_argument("--bias", action="store_true", help="run the gender-bias evaluation (52 occupations)")
    parser.add_argument("--backend", choices=BACKENDS, default="sentence-transformers",
                        help="which implementation encodes (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=64, help="texts per encode batch (default: %(default)s)")
    parser.add_argument("--dims", type=_dims, default=[], metavar="D1,D2,...",
                        help="Matryoshka models: also report every metric on the first D values of each embedding "
                        "(e.g. 384,256,128,64,32; what SentenceTransformer(..., truncate_dim=D) gives)")
    parser.add_argument("--output", type=Path, help="write the results as JSON here")


def _dims(text: str) -> list[int]:
    try:
        dims = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from error
    if not dims or any(d <= 0 for d in dims):
        raise argparse.ArgumentTypeError(f"expected positive dimensions, got {text!r}")
    return dims


def main(args: argparse.Namespace) -> int:
    if not args.sts and args.retrieval is None and not args.bias and not args.translation:
        raise UserError("nothing to evaluate: give --sts PATH, --retrieval DIR, --translation PATH and/or --bias")
    for sts in args.sts or []:
        if Path(sts).suffix and not Path(sts).is_file():
            raise UserError(f"--sts {sts}: no such file")  # checked before the slow model load
    for path in args.translation:
        if not Path(path).is_file():
            raise UserError(f"--translation {path}: no such file")
    if args.retrieval is not None and not args.retrieval.is_dir():
        raise UserError(f"--retrieval {args.retrieval}: no such folder")
    if args.batch_size < 1:
        raise UserError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.output is not None:
        check_writable(args.output)
    encode = load_encoder(args.model, args.backend, args.batch_size)
    chosen = dict(sts=args.sts, sts_split=args.sts_split, retrieval=args.retrieval,
                  retrieval_split=args.retrieval_split, translation=args.translation)
    if args.dims:
        width = encode(["a"]).shape[1]
        if max(args.dims) > width:
            raise UserError(f"--dims {max(args.dims)} exceeds the model's embedding width ({width})")
    results = evaluate_model(encode, bias=args.bias, **chosen)
    results += evaluate_dimensions(encode, args.dims, **chosen) if args.dims else []
    print_table(args.model, results)
    undefined = [f"{r.dataset_name or r.dataset} {name}" for r in results for name, value in r.metrics.items()
                 if isinstance(value, float) and not math.isfinite(value)]
    if undefined:  # e.g. a model that gives every pair the same similarity: no rank correlation exists
        raise UserError(f"undefined metric(s): {', '.join(undefined)} (the model's scores are constant or not "
                        "finite)")
    if args.output is not None:
        payload = {"model": args.model, "backend": args.backend, "evaluations": [asdict(r) for r in results]}
        write_output(args.output, lambda path: path.write_text(json.dumps(payload, indent=2) + "\n",
                                                                 encoding="utf-8"))
        print(f"wrote {args.output}")
    return 0


def print_table(model: str, results: list[Evaluation]) -> None:
    """One row per metric, with rich."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"evaluation of {model}")
    for column in ("task", "dataset", "split", "metric", "dim"):
        table.add_column(column)
    table.add_column("value", justify="right")
    for result in results:
        for metric, value in result.metrics.items():
            shown = f"{value:,}" if isinstance(value, int) else f"{value:.4f}"
            table.add_row(result.task, result.dataset_name or result.dataset, result.split, metric,
                          str(result.dimension or "all"), shown)
    Console().print(table)
