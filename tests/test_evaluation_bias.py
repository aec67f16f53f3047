"""The gender-bias set and its measure: built as documented, sensitive to bias, and self-consistent."""

import re
import zlib

import numpy as np
import pytest

from spaces_demo.gender_bias import evaluate_gender_bias, load_occupations, load_set, make_cases

MALE_WORDS = {"he", "his", "man"}
FEMALE_WORDS = {"she", "her", "woman"}
GENDERED = MALE_WORDS | FEMALE_WORDS | {"him", "hers", "men", "women"}


def words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def bag_of_words(text: str, dim: int = 64) -> np.ndarray:
    """A fixed random vector per word, summed: similar texts share words. Gendered words are left to the
    gender axis of each test model."""
    vector = np.zeros(dim)
    for word in sorted(set(words(text)) - GENDERED):
        vector += np.random.default_rng(zlib.crc32(word.encode())).normal(size=dim)
    return vector


def gender_axis(text: str, occupations: dict[str, str], strength: float) -> np.ndarray:
    """+strength along a "male" axis for male words or male-majority occupations, minus for female ones."""
    sign = 0.0
    tokens = set(words(text))
    sign += len(tokens & MALE_WORDS) - len(tokens & FEMALE_WORDS)
    for occupation, stereotype in occupations.items():
        if re.search(rf"\b{re.escape(occupation)}\b", text):
            sign += 1 if stereotype == "male" else -1
    return np.array([strength * sign, 0.0])


def test_the_set_is_built_as_documented():
    data = load_set()
    assert "bls.gov" in data["source"]["url"] and "2023" in data["source"]["title"]
    occupations = load_occupations()
    assert len(occupations) >= 40
    for occupation in occupations:
        assert occupation.stereotype == ("female" if occupation.percent_women > 50 else "male")
        assert 0 <= occupation.percent_women <= 100 and occupation.bls_occupation
    cases = make_cases()
    per_occupation = {}
    for case in cases:
        per_occupation.setdefault(case.occupation, set()).add(case.anchor)
        assert not set(words(case.anchor)) & GENDERED, case.anchor  # anchors are gender-neutral
        assert case.occupation in case.anchor
        male, female = re.findall(r"\w+|\W", case.male), re.findall(r"\w+|\W", case.female)
        differing = [(m, f) for m, f in zip(male, female, strict=True) if m != f]
        assert len(male) == len(female) and len(differing) == 1, case
        assert differing[0][0].lower() in MALE_WORDS and differing[0][1].lower() in FEMALE_WORDS
    assert min(len(anchors) for anchors in per_occupation.values()) >= 10
    assert len(per_occupation) == len(occupations)


def test_a_model_built_to_follow_stereotypes_measures_far_from_half():
    stereotypes = {o.occupation: o.stereotype for o in load_occupations()}

    def biased_encode(texts):
        return np.stack([np.concatenate([bag_of_words(t), gender_axis(t, stereotypes, 3.0)]) for t in texts])

    report = evaluate_gender_bias(biased_encode)
    assert report.overall["stereotypical_share"] > 0.95
    assert report.overall["mean_gap"] > 0
    # the set is balanced between male- and female-majority occupations, so the pronoun preference is neutral
    assert report.overall["male_share"] == pytest.approx(0.5, abs=0.05)


def test_a_model_that_prefers_he_everywhere_is_caught_by_male_share():
    def he_encode(texts):  # anchors and male propositions share an axis; female ones get an axis of the same norm
        tokens = [set(words(t)) for t in texts]
        return np.stack([
            np.concatenate([bag_of_words(t), [0.0, 3.0] if w & FEMALE_WORDS else [3.0, 0.0]])
            for t, w in zip(texts, tokens, strict=True)
        ])

    report = evaluate_gender_bias(he_encode)
    assert report.overall["male_share"] > 0.95
    male_majority = sum(row["cases"] for row in report.per_occupation if row["stereotype"] == "male")
    assert report.overall["stereotypical"] == male_majority  # right exactly where the stereotype is male


def test_a_gender_blind_model_scores_exactly_half():
    def blind_encode(texts):
        return np.stack([bag_of_words(t) for t in texts])

    report = evaluate_gender_bias(blind_encode)
    assert report.overall["ties"] == report.overall["cases"]
    assert report.overall["stereotypical_share"] == 0.5
    assert report.overall["mean_gap"] == pytest.approx(0, abs=1e-12)


def test_per_occupation_numbers_add_up_to_the_overall_ones():
    rng = np.random.default_rng(0)
    stereotypes = {o.occupation: o.stereotype for o in load_occupations()}

    def noisy_biased_encode(texts):  # some bias plus noise: shares vary between occupations
        return np.stack([np.concatenate([bag_of_words(t), gender_axis(t, stereotypes, 0.8), rng.normal(size=8)])
                         for t in texts])

    report = evaluate_gender_bias(noisy_biased_encode)
    rows, overall = report.per_occupation, report.overall
    assert len(rows) == len(stereotypes)
    for key in ("cases", "stereotypical", "ties", "male_preferred"):
        assert sum(row[key] for row in rows) == overall[key]
    for key in ("stereotypical_share", "male_share", "mean_gap"):
        weighted = sum(row[key] * row["cases"] for row in rows) / overall["cases"]
        assert weighted == pytest.approx(overall[key], abs=1e-12)
    assert 0.5 < overall["stereotypical_share"] < 1.0
    assert len({row["stereotypical_share"] for row in rows}) > 1
