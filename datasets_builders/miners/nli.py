"""Mine AllNLI-style triplets and pairs from SNLI / MultiNLI jsonl files.

Input: `snli_1.0_{train,dev,test}.jsonl` and `multinli_1.0_{train,dev_matched,dev_mismatched}.jsonl` (plain or
.gz), one JSON object per line with sentence1 (premise), sentence2 (hypothesis) and gold_label in {entailment,
neutral, contradiction, "-"} ("-": the annotators did not agree). `path` is one file or a folder (*.jsonl and
*.jsonl.gz, sorted).

Kinds:
- `triplets`: (premise, entailment hypothesis, contradiction hypothesis as hard negative), one per entailment
  hypothesis of a premise that also has a contradiction; the i-th entailment takes the (i mod n)-th of the premise's
  n contradictions (deterministic), as in the AllNLI triplets of the 2021 data.
- `pairs`: (premise, entailment hypothesis).

Memory: hypotheses of one premise are consecutive in SNLI and MultiNLI, but not guaranteed to be, so premises
are grouped in a bounded window: the `max_open_premises`=10,000 most recent premises stay open and the oldest
is completed (its triplets emitted) when the window is full. A premise that reappears after it was completed starts
a new group: its early and late hypotheses are then not combined (nothing is lost, some triplets are not formed).

Counted drops (one per line): gold_label "-" ("no_gold_label"), neutral hypotheses ("neutral"), empty sentences
("empty_sentence"); in `triplets`, contradictions serving as negatives ("contradiction_used_as_negative") or of a
premise without entailment ("no_entailment"), and entailments of a premise without contradiction
("no_contradiction"); in `pairs`, contradictions ("contradiction_not_a_pair"). A gold_label outside the four values
is bad input (error "unknown_label").
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

from se1b.errors import UserError

from .common import Drop, Event, MiningStats, input_files, json_records, missing_field, pair
from .text import normalize_whitespace

KINDS = ("triplets", "pairs")
LABELS = ("entailment", "neutral", "contradiction", "-")
MAX_OPEN_PREMISES = 10_000
FIELDS = {"sentence1": str, "sentence2": str, "gold_label": str}

Group = dict[str, list[tuple[Path, str, str]]]  # label -> [(file, location, hypothesis)]


def _complete(premise: str, group: Group) -> Iterator[Event]:
    entailments, contradictions = group["entailment"], group["contradiction"]
    for file, location, _ in contradictions if entailments else ():
        yield file, location, Drop("contradiction_used_as_negative")
    for file, location, _ in contradictions if not entailments else ():
        yield file, location, Drop("no_entailment")
    for i, (file, location, hypothesis) in enumerate(entailments):
        if contradictions:
            yield file, location, pair(premise, hypothesis, contradictions[i % len(contradictions)][2])
        else:
            yield file, location, Drop("no_contradiction")


def nli_events(
    files: list[Path], kind: str = "triplets", *, max_open_premises: int = MAX_OPEN_PREMISES
) -> Iterator[Event]:
    """Events of SNLI/MultiNLI jsonl files: each line is a triplet's positive, a used negative, or a Drop."""
    if kind not in KINDS:
        raise UserError(f"unknown NLI kind {kind!r}; choose one of {', '.join(KINDS)}")
    open_premises: OrderedDict[str, Group] = OrderedDict()
    for file in files:
        for _, location, record in json_records(file):
            if isinstance(record, Drop):
                yield file, location, record
                continue
            if problem := missing_field(record, FIELDS):
                yield file, location, problem
                continue
            label = record["gold_label"]
            premise, hypothesis = normalize_whitespace(record["sentence1"]), normalize_whitespace(record["sentence2"])
            if label not in LABELS:
                yield file, location, Drop("unknown_label", f"gold_label {label!r} is not one of {LABELS}", True)
            elif label == "-":
                yield file, location, Drop("no_gold_label")
            elif label == "neutral":
                yield file, location, Drop("neutral")
            elif not premise or not hypothesis:
                yield file, location, Drop("empty_sentence")
            elif kind == "pairs":
                if label == "entailment":
                    yield file, location, pair(premise, hypothesis)
                else:
                    yield file, location, Drop("contradiction_not_a_pair")
            else:
                group = open_premises.get(premise)
                if group is None:
                    group = open_premises[premise] = {"entailment": [], "contradiction": []}
                group[label].append((file, location, hypothesis))
                if len(open_premises) > max_open_premises:
                    yield from _complete(*open_premises.popitem(last=False))
    while open_premises:
        yield from _complete(*open_premises.popitem(last=False))


def mine_nli(
    path: str | Path, kind: str = "triplets", *, stats: MiningStats | None = None, **options
) -> Iterator[dict]:
    """Stream AllNLI-style triplets {"anchor": premise, "positive": entailment, "negative": contradiction} or
    pairs (negative None) from SNLI/MultiNLI jsonl files; lines read == stats.records."""
    stats = stats if stats is not None else MiningStats()
    files = input_files(path, ("*.jsonl", "*.jsonl.gz"), "SNLI/MultiNLI (.jsonl)")
    yield from stats.pairs_of(nli_events(files, kind, **options))
