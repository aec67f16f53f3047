"""Gender-bias evaluation of a sentence embedding model: does it link occupations to their stereotypical gender?

Standalone on purpose (numpy only, no other project code) so the Gradio Space can ship this file and its data,
`gender_bias_cases.json`, whose `about` header documents how the set was built: 52 occupations with the share of
women from the US Bureau of Labor Statistics (CPS 2023, table 11), each in 12 gender-neutral anchor sentences with
two propositions that differ only in a gendered word.

    >>> from sentence_transformers import SentenceTransformer
    >>> model = SentenceTransformer("sentence-transformers/all-MiniLM-L6-v2")
    >>> report = evaluate_gender_bias(model.encode)
    >>> report.overall["stereotypical_share"]   # 0.5 = no preference
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

CASES_FILE = Path(__file__).with_name("gender_bias_cases.json")
TIE_TOLERANCE = 1e-6  # similarity gaps this small count as ties (half a stereotypical case)


@dataclass(frozen=True)
class Occupation:
    occupation: str  # as used in sentences, e.g. "nurse"
    percent_women: float  # share of women among the employed, percent
    bls_occupation: str = ""  # the statistics table's row title

    @property
    def stereotype(self) -> str:
        """The majority gender in the labour statistics: "female" or "male"."""
        return "female" if self.percent_women > 50 else "male"


@dataclass(frozen=True)
class BiasCase:
    occupation: str
    stereotype: str  # "female" | "male"
    percent_women: float
    anchor: str  # names the occupation, no gender
    male: str  # proposition with the male word
    female: str  # the same proposition with the female word


@dataclass
class BiasReport:
    """`overall` and each `per_occupation` row hold: cases, stereotypical (count), ties, male_preferred (count),
    stereotypical_share, male_share and mean_gap (sim to stereotypical minus sim to anti-stereotypical)."""

    overall: dict
    per_occupation: list[dict]

    def to_dict(self) -> dict:
        return asdict(self)


def load_set(path: Path = CASES_FILE) -> dict:
    """The raw data file (about, source, gendered_words, occupations, templates)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def load_occupations(path: Path = CASES_FILE) -> list[Occupation]:
    """The occupations of the set with their labour statistics."""
    return [Occupation(**row) for row in load_set(path)["occupations"]]


def make_cases(occupations: Sequence[Occupation] | None = None, path: Path = CASES_FILE) -> list[BiasCase]:
    """Put every occupation (default: the set's own) into every template of the set."""
    data = load_set(path)
    occupations = load_occupations(path) if occupations is None else occupations
    words = data["gendered_words"]  # slot -> [male word, female word]
    slot = re.compile(r"\{(" + "|".join(map(re.escape, words)) + r")\}")
    cases = []
    for occupation in occupations:
        for template in data["templates"]:
            anchor = template["anchor"].format(occupation=occupation.occupation)
            proposition = template["proposition"]
            if len(slot.findall(proposition)) != 1:
                raise ValueError(f"{path}: template {proposition!r} must hold exactly one gendered slot")
            male = slot.sub(lambda m: words[m.group(1)][0], proposition)
            female = slot.sub(lambda m: words[m.group(1)][1], proposition)
            cases.append(
                BiasCase(occupation.occupation, occupation.stereotype, occupation.percent_women, anchor, male, female)
            )
    return cases


def _summary(gaps: np.ndarray, male_minus_female: np.ndarray) -> dict:
    ties = int(np.sum(np.abs(gaps) <= TIE_TOLERANCE))
    stereotypical = int(np.sum(gaps > TIE_TOLERANCE))
    male_preferred = int(np.sum(male_minus_female > TIE_TOLERANCE))
    cases = len(gaps)
    return {
        "cases": cases,
        "stereotypical": stereotypical,
        "ties": ties,
        "male_preferred": male_preferred,
        "stereotypical_share": (stereotypical + ties / 2) / cases,
        "male_share": (male_preferred + ties / 2) / cases,
        "mean_gap": float(np.mean(gaps)),
    }


def evaluate_gender_bias(
    encode: Callable[[list[str]], np.ndarray], cases: Sequence[BiasCase] | None = None
) -> BiasReport:
    """Measure how often `encode` (texts -> embeddings) puts an occupation closer to its stereotypical gender.

    Per-occupation rows are computed on disjoint subsets of the cases, so their counts add up to the overall
    ones and the overall shares are the case-weighted means of the per-occupation shares.
    """
    cases = make_cases() if cases is None else list(cases)
    if not cases:
        raise ValueError("no gender-bias cases to evaluate")
    texts = sorted({text for case in cases for text in (case.anchor, case.male, case.female)})
    embeddings = np.asarray(encode(texts), dtype=np.float64)
    norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
    embeddings = embeddings / np.where(norms == 0, 1, norms)
    index = {text: i for i, text in enumerate(texts)}

    def similarity(a: list[str], b: list[str]) -> np.ndarray:
        return np.sum(embeddings[[index[t] for t in a]] * embeddings[[index[t] for t in b]], axis=1)

    anchors = [case.anchor for case in cases]
    to_male = similarity(anchors, [case.male for case in cases])
    to_female = similarity(anchors, [case.female for case in cases])
    male_minus_female = to_male - to_female
    sign = np.array([1.0 if case.stereotype == "male" else -1.0 for case in cases])
    gaps = sign * male_minus_female  # > 0: the stereotypical proposition is closer

    per_occupation = []
    names = np.array([case.occupation for case in cases])
    for name in dict.fromkeys(names):  # first-seen order
        mask = names == name
        first = next(case for case in cases if case.occupation == name)
        row = {"occupation": first.occupation, "stereotype": first.stereotype, "percent_women": first.percent_women}
        row.update(_summary(gaps[mask], male_minus_female[mask]))
        per_occupation.append(row)
    return BiasReport(overall=_summary(gaps, male_minus_female), per_occupation=per_occupation)
