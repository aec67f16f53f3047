"""Mine AllNLI-style triplets and pairs from SNLI / MultiNLI jsonl files.

Input: `snli_1.0_{train,dev,test}.jsonl` and `multinli_1.0_{train,dev_matched,dev_mismatched}.jsonl` (plain or
.gz), one JSON object per line with sentence1 (premise), sentence2 (hypothesis) and gold_label in {entailment,
neutral, contradiction, "-"} ("-": the annotators did not agree). `path` is one file or a folder (*.jsonl and
*.jsonl.gz, sorted). Each file is read by its own Ray task.

Kinds:
- `triplets`: (premise, entailment hypothesis, contradiction hypothesis as hard negative), one per entailment
  hypothesis of a premise that also has a contradiction; the i-th entailment takes the (i mod n)-th of the premise's
  n contradictions, both in input order (files in natural order, then lines), as in the AllNLI triplets of the 2021
  data. The hypotheses of one premise are grouped by premise (whitespace-normalised) on Ray Data
  (`link_hypotheses`, the source's `Link`): wherever they are in the files and whatever the order the files are
  given in, exactly (a group-by, no window of open premises).
- `pairs`: (premise, entailment hypothesis), line by line.

Counted drops (one per line): gold_label "-" ("no_gold_label"), neutral hypotheses ("neutral"), empty sentences
("empty_sentence"); in `triplets`, contradictions serving as negatives ("contradiction_used_as_negative") or of a
premise without entailment ("no_entailment"), and entailments of a premise without contradiction
("no_contradiction"); in `pairs`, contradictions ("contradiction_not_a_pair"). A gold_label outside the four values
is bad input (error "unknown_label").
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from datasets_builders import engine
from se1b.errors import UserError

from .common import OUTCOME, Drop, Event, json_records, missing_field, pair
from .text import normalize_whitespace

KINDS = ("triplets", "pairs")
LABELS = ("entailment", "neutral", "contradiction", "-")
FIELDS = {"sentence1": str, "sentence2": str, "gold_label": str}
RECORD_FIELDS = ("premise", "hypothesis", "label")


def nli_events(files: list[Path], kind: str = "triplets") -> Iterator[Event]:
    """Events of SNLI/MultiNLI jsonl files, line by line: a pair (`pairs`), a record {"premise", "hypothesis",
    "label"} of an entailment or contradiction to group (`triplets`, see `link_hypotheses`), or a Drop."""
    if kind not in KINDS:
        raise UserError(f"unknown NLI kind {kind!r}; choose one of {', '.join(KINDS)}")
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
            elif kind == "triplets":
                yield file, location, {"premise": premise, "hypothesis": hypothesis, "label": label}
            elif label == "entailment":
                yield file, location, pair(premise, hypothesis)
            else:
                yield file, location, Drop("contradiction_not_a_pair")


def link_hypotheses(hypotheses):
    """The outcome of every entailment and contradiction record (see `Link`): grouped by premise on Ray Data, each
    entailment a triplet with a contradiction of its premise, or why not; each contradiction used as a negative or
    not (see the module's notes)."""
    partitions = engine.shuffle_partitions(hypotheses)
    return hypotheses.groupby("premise", num_partitions=partitions).map_groups(_triplets, batch_format="pyarrow")


def _triplets(group: pa.Table) -> pa.Table:
    """One premise: its hypotheses in input order (file, line), each entailment with the (i mod n)-th contradiction."""
    rows = sorted(group.to_pylist(), key=lambda row: (row["file"], row["seq"]))
    has_entailment = any(row["label"] == "entailment" for row in rows)
    contradictions = [row["hypothesis"] for row in rows if row["label"] == "contradiction"]
    outcomes = []
    entailments = 0
    for row in rows:
        texts = (None, None, None)
        if row["label"] == "contradiction":
            reason = "contradiction_used_as_negative" if has_entailment else "no_entailment"
        elif not contradictions:
            reason = "no_contradiction"
        else:
            reason = None
            texts = (row["premise"], row["hypothesis"], contradictions[entailments % len(contradictions)])
            entailments += 1
        outcomes.append((row["file"], row["seq"], row["location"], reason, *texts))
    return pa.table([list(column) for column in zip(*outcomes, strict=True)], schema=OUTCOME)
