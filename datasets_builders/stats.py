"""What a build read, kept and dropped, and why: `BuildStats`, counted by every task and summed on the driver.

    rows read = rows kept + rows filtered + rows rejected     (a row is one raw record, e.g. one JSON line)
    pairs generated = pairs written + duplicates removed + same_text   (a set record gives several pairs)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

_MAX_ERROR_SAMPLES = 5
LISTED_NOT_INPUTS = 10


@dataclass
class BuildStats:
    """What a build read, kept and dropped, and why. Saved next to the data and shown in the card."""

    source: str
    files: list[str] = field(default_factory=list)
    on_error: str = "raise"
    dedupe: bool = False
    rows_read: int = 0
    rows_kept: int = 0
    filtered: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    pairs_generated: int = 0
    duplicates_removed: int = 0
    pairs_written: int = 0
    error_samples: list[str] = field(default_factory=list)
    not_formed: dict[str, int] = field(default_factory=dict)  # pairs a source's bounds did not form, by reason
    same_text: int = 0  # pairs whose two texts are equal after normalisation: never written
    not_inputs: list[str] = field(default_factory=list)  # files in raw folders the source does not read

    @property
    def rows_rejected(self) -> int:
        return sum(self.rejected.values())

    @property
    def rows_filtered(self) -> int:
        return sum(self.filtered.values())

    def reject(self, reason: str, where: str, detail: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1
        if len(self.error_samples) < _MAX_ERROR_SAMPLES:
            self.error_samples.append(f"{where}: {reason}: {detail}")

    def add(self, part: BuildStats) -> None:
        """Add the counts of a build of some of the files (a parallel worker's) to these."""
        self.files += part.files
        self.not_inputs += part.not_inputs
        for name in ("rows_read", "rows_kept", "pairs_generated", "duplicates_removed", "pairs_written", "same_text"):
            setattr(self, name, getattr(self, name) + getattr(part, name))
        for mine, theirs in (
            (self.filtered, part.filtered), (self.rejected, part.rejected), (self.not_formed, part.not_formed)
        ):
            for reason, count in theirs.items():
                mine[reason] = mine.get(reason, 0) + count
        self.error_samples = (self.error_samples + part.error_samples)[:_MAX_ERROR_SAMPLES]

    def to_dict(self) -> dict:
        return asdict(self) | {"rows_rejected": self.rows_rejected, "rows_filtered": self.rows_filtered}

    @classmethod
    def from_dict(cls, data: dict) -> BuildStats:
        return cls(**{key: value for key, value in data.items() if key not in ("rows_rejected", "rows_filtered")})

    def summary(self) -> str:
        """One line for command output."""

        def reasons(counts: dict[str, int]) -> str:
            return ", ".join(f"{reason} {count:,}" for reason, count in sorted(counts.items())) or "none"

        filtered = f", filtered {self.rows_filtered:,} ({reasons(self.filtered)})" if self.filtered else ""
        bounds = f"; not formed by the source's bounds: {reasons(self.not_formed)}" if self.not_formed else ""
        same = f", {self.same_text:,} same_text (both sides equal)" if self.same_text else ""
        skipped = ""
        if self.not_inputs:
            count = len(self.not_inputs)
            listed = ", ".join(self.not_inputs[:LISTED_NOT_INPUTS])
            listed += f" and {count - LISTED_NOT_INPUTS:,} more" if count > LISTED_NOT_INPUTS else ""
            files = "1 file that is not an input" if count == 1 else f"{count:,} files that are not inputs"
            skipped = f"; skipped {files}: {listed}"
        return (
            f"{self.source}: read {self.rows_read:,} rows, kept {self.rows_kept:,}{filtered}, rejected "
            f"{self.rows_rejected:,} ({reasons(self.rejected)}); {self.pairs_written:,} pairs written, "
            f"{self.duplicates_removed:,} duplicates removed{same}{bounds}{skipped}"
        )

    def warning(self) -> str | None:
        """Why a build that read rows wrote no pair (None otherwise): the drop reasons, most frequent first, with
        what the main one means."""
        if self.pairs_written or not self.rows_read:
            return None
        drops = sorted({**self.filtered, **self.rejected}.items(), key=lambda item: -item[1])
        listed = ", ".join(f"{reason} {count:,}" for reason, count in drops[:5]) or "none"
        hint = _EMPTY_BUILD_HINTS.get(drops[0][0], "") if drops else ""
        return f"warning: {self.source}: 0 pairs written from {self.rows_read:,} rows read ({listed}){hint}"


# What the main drop reason of a build that wrote nothing means, for its warning.
_EMPTY_BUILD_HINTS = {
    "no_shared_category": ": no two articles share a category (a dump head this small rarely holds two articles of "
    "one category; mine more of the dump, e.g. a whole pages-articles part)",
    "no_category": ": no article has a category link the miner keeps (see --skip-categories)",
    "parent_not_in_input": ": no reply's parent comment is in the input (give consecutive months together)",
    "parent_is_submission": ": every comment replies to a submission, not to a comment",
    "question_without_answer": ": no question has an answer that passes the filters",
    "link_question_missing": ": no duplicate link joins two questions of the input",
}
