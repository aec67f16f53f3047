"""The small raw files `se1b quickstart` builds from, written by this project (not sampled from any dataset).

Sentences come from templates whose content words each have synonyms. A paraphrase swaps every content word for a
synonym, so the two sides share almost no tokens: a model only scores them as similar once it has learned the
synonyms, which is what training on these pairs teaches. Each file is in the real raw format of a catalogued source:

- sentence_compression.jsonl.gz: one `[sentence, shorter paraphrase]` list per line (the 2021 compression files);
- quora_duplicates_triplets.jsonl.gz: one `[question, duplicate, non-duplicate]` list per line (Quora triplets);
- reddit.jsonl.gz: one `{"context": ..., "response": ...}` object per line (the PolyAI Reddit format);
- sts.tsv: sentence1, sentence2, score (0-5), held-out combinations, for the before/after evaluation.

Regenerate (the files are committed; a test checks they match this generator):
    python -m training.quickstart.synthetic
"""

from __future__ import annotations

import gzip
import io
import json
import random
from pathlib import Path

DATA_DIR = Path(__file__).parent / "data"

# Each concept: two interchangeable wordings. Paraphrases pick the other wording of every concept.
PEOPLE = [
    ("man", "guy"),
    ("woman", "lady"),
    ("child", "kid"),
    ("doctor", "physician"),
    ("student", "pupil"),
    ("chef", "cook"),
    ("farmer", "grower"),
    ("teacher", "instructor"),
    ("officer", "cop"),
    ("baby", "infant"),
]
ACTIONS = [
    ("is repairing", "is fixing"),
    ("is cleaning", "is washing"),
    ("is buying", "is purchasing"),
    ("is painting", "is coloring"),
    ("is carrying", "is holding"),
    ("is selling", "is offering"),
    ("is building", "is constructing"),
    ("is photographing", "is taking a picture of"),
    ("is examining", "is inspecting"),
    ("is throwing", "is tossing"),
]
THINGS = [
    ("car", "automobile"),
    ("bicycle", "bike"),
    ("couch", "sofa"),
    ("television", "tv"),
    ("jacket", "coat"),
    ("cup", "mug"),
    ("rock", "stone"),
    ("present", "gift"),
    ("boat", "ship"),
    ("trash can", "garbage bin"),
    ("phone", "cellphone"),
    ("road", "street"),
]
PLACES = [
    ("in the garden", "in the yard"),
    ("at the store", "at the shop"),
    ("near the river", "by the stream"),
    ("in the kitchen", "in the cooking area"),
    ("downtown", "in the city center"),
    ("at the beach", "on the shore"),
    ("in the forest", "in the woods"),
    ("at school", "at the academy"),
]
QUESTION_FORMS = [
    ("How do I {a} {t}?", "What is the best way to {a} {t}?"),
    ("Where can I {a} {t}?", "Which place lets me {a} {t}?"),
    ("Is it hard to {a} {t}?", "How difficult is it to {a} {t}?"),
]
VERBS = [
    ("repair", "fix"),
    ("clean", "wash"),
    ("buy", "purchase"),
    ("paint", "color"),
    ("sell", "offer"),
    ("build", "construct"),
    ("photograph", "take a picture of"),
    ("inspect", "examine"),
]


def article(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


def scene(person: int, action: int, thing: int, place: int, side: int) -> str:
    """'A man is repairing a car in the garden.' with every concept worded from `side` (0 or 1)."""
    words = (PEOPLE[person][side], ACTIONS[action][side], THINGS[thing][side], PLACES[place][side])
    return f"{article(words[0]).capitalize()} {words[1]} {article(words[2])} {words[3]}."


def _held_out(person: int, action: int, thing: int) -> bool:
    """Combinations kept out of training, so the STS file measures generalisation, not memory."""
    return (person + 2 * action + 3 * thing) % 7 == 0


def compression_pairs(rng: random.Random, count: int) -> list[list[str]]:
    pairs = []
    while len(pairs) < count:
        p, a, t, s = (
            rng.randrange(len(PEOPLE)),
            rng.randrange(len(ACTIONS)),
            rng.randrange(len(THINGS)),
            rng.randrange(len(PLACES)),
        )
        if _held_out(p, a, t):
            continue
        side = rng.randrange(2)
        short = f"{PEOPLE[p][1 - side].capitalize()} {ACTIONS[a][1 - side]} {THINGS[t][1 - side]}."
        pairs.append([scene(p, a, t, s, side), short])
    return pairs


def question_triplets(rng: random.Random, count: int) -> list[list[str]]:
    triplets = []
    while len(triplets) < count:
        form, verb, thing = rng.choice(QUESTION_FORMS), rng.randrange(len(VERBS)), rng.randrange(len(THINGS))
        other = rng.choice([t for t in range(len(THINGS)) if t != thing])
        side = rng.randrange(2)
        question = form[side].format(a=VERBS[verb][side], t=article(THINGS[thing][side]))
        duplicate = form[1 - side].format(a=VERBS[verb][1 - side], t=article(THINGS[thing][1 - side]))
        different = form[1 - side].format(a=VERBS[verb][1 - side], t=article(THINGS[other][1 - side]))
        triplets.append([question, duplicate, different])
    return triplets


def reddit_threads(rng: random.Random, count: int) -> list[dict[str, str]]:
    threads = []
    while len(threads) < count:
        p, a, t, s = (rng.randrange(len(x)) for x in (PEOPLE, ACTIONS, THINGS, PLACES))
        if _held_out(p, a, t):
            continue
        side = rng.randrange(2)
        context = f"Saw something odd today: {scene(p, a, t, s, side).lower()}"
        response = (
            f"Ha, {article(PEOPLE[p][1 - side])} {ACTIONS[a][1 - side]} {article(THINGS[t][1 - side])}? "
            f"Happens all the time {PLACES[s][1 - side]}."
        )
        threads.append({"context": context, "response": response})
    return threads


def sts_rows(rng: random.Random, count: int) -> list[tuple[str, str, float]]:
    """Graded pairs on held-out combinations: 5 = paraphrase, 3 = same actor and action, 1 = same place only."""
    held_out = [
        (p, a, t)
        for p in range(len(PEOPLE))
        for a in range(len(ACTIONS))
        for t in range(len(THINGS))
        if _held_out(p, a, t)
    ]
    rows = []
    for index in range(count):
        p, a, t = rng.choice(held_out)
        s = rng.randrange(len(PLACES))
        kind = index % 3
        if kind == 0:
            rows.append((scene(p, a, t, s, 0), scene(p, a, t, s, 1), 5.0))
        elif kind == 1:
            other = rng.choice([x for x in range(len(THINGS)) if x != t])
            rows.append((scene(p, a, t, s, 0), scene(p, a, other, rng.randrange(len(PLACES)), 1), 3.0))
        else:
            p2 = rng.choice([x for x in range(len(PEOPLE)) if x != p])
            a2 = rng.choice([x for x in range(len(ACTIONS)) if x != a])
            t2 = rng.choice([x for x in range(len(THINGS)) if x != t])
            rows.append((scene(p, a, t, s, 0), scene(p2, a2, t2, s, 1), 1.0))
    return rows


def _jsonl_gz(rows: list) -> bytes:
    buffer = io.BytesIO()
    # mtime=0 keeps the gzip bytes identical across runs, so the committed files can be checked against this code.
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as handle:
        for row in rows:
            handle.write((json.dumps(row, ensure_ascii=False) + "\n").encode())
    return buffer.getvalue()


def generate() -> dict[str, bytes]:
    """File name -> bytes of every quickstart raw file (deterministic)."""
    rng = random.Random(2021)
    sts = "sentence1\tsentence2\tscore\n" + "".join(f"{a}\t{b}\t{s}\n" for a, b, s in sts_rows(rng, 90))
    return {
        "sentence_compression.jsonl.gz": _jsonl_gz(compression_pairs(rng, 3000)),
        "quora_duplicates_triplets.jsonl.gz": _jsonl_gz(question_triplets(rng, 1500)),
        "reddit.jsonl.gz": _jsonl_gz(reddit_threads(rng, 2000)),
        "sts.tsv": sts.encode(),
    }


if __name__ == "__main__":
    DATA_DIR.mkdir(exist_ok=True)
    for name, content in generate().items():
        (DATA_DIR / name).write_bytes(content)
        print(f"wrote {DATA_DIR / name} ({len(content):,} bytes)")
