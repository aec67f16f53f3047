"""Parallel-sentence sources (one per language pair, e.g. `parallel_en_de`) for multilingual knowledge distillation.

Each row of the common schema is one translation pair: anchor = the source-language sentence, positive = its
target-language translation, negative null. `se1b distill` (training/loop/distill.py) embeds the anchors with an
English teacher and teaches a multilingual student to map both sides onto that vector (Reimers & Gurevych 2020).

Two raw layouts are read, plain or gzip/bz2-compressed:

- TSV, one pair per line: `source<TAB>target` (TED2020 / Tatoeba files of sentence-transformers), or
  `score<TAB>source<TAB>target` (WikiMatrix, the margin score is dropped). A first line that is just the language
  codes (`en<TAB>de`) is a header: counted as filtered "header". No tab, extra columns, a blank line or an empty
  side is a bad record (file and line in the error, or counted with --on-error skip).
- Moses (OPUS, LASER, Tatoeba, Multi30k, WMT): two aligned files, one sentence per line, named by language with a
  2- or 3-letter code after a shared stem: `corpus.de-en.en` + `corpus.de-en.de`, `tatoeba.deu-eng.eng` +
  `tatoeba.deu-eng.deu`, `val.en.gz` + `val.de.gz` (optionally `.gz`, `.bz2`, `.xz`). In a folder holding several
  languages or pairs, the files of the requested pair are read and the others skipped (counted as filtered
  "other_language_pair", one per file). Pass the folder or the source-language file: the target-language file is
  read together with its source-language partner (a target-language file whose partner is missing is an error).
  Different line counts are an error naming both files: the alignment cannot be trusted.

In a folder, what is not a parallel file is skipped and listed (`select_parallel_inputs`): OPUS's
`<Corpus>.<l1>-<l2>.ids` and `.xml` alignment files, README, LICENSE, Multi30k's image lists. A TSV file is
recognised by its name (`.tsv`) or its first line (one tab, or a number and two tabs). A folder with no file of the
requested pair is an error ("no en/ja files in FOLDER") rather than an empty build.

    se1b data publish parallel_en_de --raw TED2020-en-de.tsv.gz --out hub/parallel
    se1b data publish parallel_en_fr --raw opus/ --out hub/parallel          # opus/*.en + opus/*.fr

`register_source(parallel_source(source, target))` adds a pair not in `LANGUAGE_PAIRS`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

from datasets_builders.compressed import BrokenInput, head_text, read_lines
from datasets_builders.readers import COMPRESSED_SUFFIXES, Filtered, RecordError, plain_name
from datasets_builders.source import Source
from se1b.errors import UserError

# English to the languages of the 2020 paper's first experiments and the largest TED2020 / WikiMatrix pairs.
LANGUAGE_PAIRS = tuple(("en", target) for target in (
    "ar", "de", "es", "fr", "it", "ja", "ko", "nl", "pl", "pt", "ru", "tr", "zh",
))

CITATION = """@inproceedings{reimers-2020-multilingual-sentence-bert,
  title = {Making Monolingual Sentence Embeddings Multilingual using Knowledge Distillation},
  author = {Reimers, Nils and Gurevych, Iryna},
  booktitle = {Proceedings of the 2020 Conference on Empirical Methods in Natural Language Processing},
  year = {2020},
  url = {https://arxiv.org/abs/2004.09813}
}"""


# ISO 639-2/3 codes (and the 639-3 codes Tatoeba and LASER use for macrolanguage members, e.g. cmn) of languages
# with a 639-1 code, for reading Moses files named either way: tatoeba.deu-eng.deu is the de side of en-de.
ISO_639_3 = {
    "afr": "af", "amh": "am", "ara": "ar", "arb": "ar", "aze": "az", "bel": "be", "ben": "bn", "bos": "bs",
    "bre": "br", "bul": "bg", "cat": "ca", "ces": "cs", "cze": "cs", "cmn": "zh", "zho": "zh", "chi": "zh",
    "cym": "cy", "wel": "cy", "dan": "da", "deu": "de", "ger": "de", "ell": "el", "gre": "el", "eng": "en",
    "epo": "eo", "est": "et", "eus": "eu", "baq": "eu", "fas": "fa", "per": "fa", "pes": "fa", "fin": "fi",
    "fra": "fr", "fre": "fr", "fry": "fy", "gle": "ga", "gla": "gd", "glg": "gl", "guj": "gu", "heb": "he",
    "hin": "hi", "hrv": "hr", "hun": "hu", "hye": "hy", "arm": "hy", "ind": "id", "isl": "is", "ice": "is",
    "ita": "it", "jpn": "ja", "kat": "ka", "geo": "ka", "kaz": "kk", "khm": "km", "kor": "ko", "kur": "ku",
    "lat": "la", "lit": "lt", "lav": "lv", "lvs": "lv", "mal": "ml", "mar": "mr", "mkd": "mk", "mac": "mk",
    "mon": "mn", "khk": "mn", "msa": "ms", "may": "ms", "zsm": "ms", "mya": "my", "bur": "my", "nld": "nl",
    "dut": "nl", "nob": "nb", "nno": "nn", "nor": "no", "pol": "pl", "por": "pt", "ron": "ro", "rum": "ro",
    "rus": "ru", "sin": "si", "slk": "sk", "slo": "sk", "slv": "sl", "sqi": "sq", "alb": "sq", "als": "sq",
    "srp": "sr", "swa": "sw", "swh": "sw", "swe": "sv", "tam": "ta", "tel": "te", "tgl": "tl", "tha": "th",
    "tur": "tr", "tat": "tt", "uig": "ug", "ukr": "uk", "urd": "ur", "uzb": "uz", "uzn": "uz", "vie": "vi",
    "yid": "yi", "ydd": "yi", "yue": "yue", "wuu": "wuu", "gsw": "gsw", "kab": "kab", "ber": "ber", "tgk": "tg",
}  # fmt: skip


# The ISO 639-1 codes: a file suffix is read as a language only if it is one (or a 3-letter code above), so that
# README.md, notes.py or a .sh script beside the corpus is not taken for a language.
ISO_639_1 = frozenset("""
aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de dv dz ee el en
eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id ie ig ii ik io is it iu ja jv ka
kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl
nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss st su sv sw
ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu
""".split())


def normalize_language(code: str) -> str:
    """A language code as the sources name it: 2-letter ISO 639-1 when there is one ("deu" -> "de")."""
    code = code.lower()
    return ISO_639_3.get(code, code)


def _is_language(code: str) -> bool:
    return code.lower() in ISO_639_1 or code.lower() in ISO_639_3


def _language_of(path: Path) -> tuple[str, str]:
    """`corpus.de-en.en.gz` -> ("en", ".gz"): the last name suffix before a compression suffix."""
    compression = path.suffix if path.suffix in COMPRESSED_SUFFIXES else ""
    stem = Path(path.name.removesuffix(compression))
    return stem.suffix.removeprefix("."), compression


def _declared_codes(path: Path) -> tuple[str, str] | None:
    """The two codes of a Moses name that declares its pair and ends in one of them, as written:
    `tatoeba.ang-eng.ang` -> ("ang", "eng"); `corpus.de-en.ids` -> None (the suffix is not one of the pair)."""
    name = plain_name(path)
    stem, _, code = name.rpartition(".")
    first, dash, second = stem.rpartition(".")[2].partition("-")
    codes = (first, second)
    if dash and all(c.isalpha() and 2 <= len(c) <= 3 for c in codes) and code in codes:
        return codes
    return None


def _pair_of(path: Path) -> tuple[str, str] | None:
    """The language pair a Moses file name declares, normalised: `tatoeba.deu-eng.eng` -> ("de", "en")."""
    codes = _declared_codes(path)
    return (normalize_language(codes[0]), normalize_language(codes[1])) if codes else None


def moses_language(path: Path) -> str | None:
    """The language of a Moses file, normalised ("de" for `corpus.de-en.de`, `tatoeba.deu-eng.deu`, `val.de.gz`),
    or None for a file not named like one (a TSV, `corpus.de-en.ids`, README.md)."""
    code, _ = _language_of(path)
    if _declared_codes(path) or _is_language(code):
        return normalize_language(code)
    return None


def _is_tsv(path: Path) -> bool:
    """A parallel TSV by name (`.tsv`) or by its first line: `source<TAB>target` or `score<TAB>source<TAB>target`
    (an OPUS `.ids` line has four fields, a README none)."""
    if ".tsv" in plain_name(path):
        return True
    first = next((line for line in head_text(path).split("\n") if line.strip()), "")
    fields = first.rstrip("\r").split("\t")
    return len(fields) == 2 or (len(fields) == 3 and _is_number(fields[0]))


def select_parallel_inputs(folder: Path, files: list[Path], source_lang: str, target_lang: str) -> list[Path]:
    """`Source.select_inputs` of a parallel source: the Moses files (of every language: other pairs are counted as
    skipped by the reader) and TSV files of a folder. A folder without a TSV file or a Moses file of the requested
    pair beside its partner is a UserError naming the languages it does hold."""
    moses = {file: moses_language(file) for file in files}
    inputs = [file for file in files if moses[file] is not None or _is_tsv(file)]
    pair = {source_lang, target_lang}

    def of_pair(file: Path) -> bool:
        language = moses[file]
        if language is None:
            return True  # a TSV
        declared = _pair_of(file)
        if language not in pair or (declared is not None and set(declared) != pair):
            return False
        other = target_lang if language == source_lang else source_lang
        return _partner(file, other).is_file()

    if not any(of_pair(file) for file in inputs):
        held = sorted({language for language in moses.values() if language})
        holds = f" (it holds {', '.join(held)} files)" if held else ""
        raise UserError(f"no {source_lang}/{target_lang} files in {folder}{holds}")
    return inputs


def _partner(path: Path, language: str) -> Path:
    """The file of the other language beside a Moses file (same compression suffix), named with a 2- or 3-letter
    code: the one that exists, else the one written like this file's own code."""
    current, compression = _language_of(path)
    stem = path.name.removesuffix(compression).removesuffix("." + current)
    codes = [language] + sorted(code for code, two in ISO_639_3.items() if two == language)
    candidates = [path.with_name(f"{stem}.{code}{compression}") for code in codes]
    existing = next((candidate for candidate in candidates if candidate.is_file()), None)
    if existing is not None:
        return existing
    same_style = next((c for c in candidates if len(_language_of(c)[0]) == len(current)), candidates[0])
    return same_style


def _decoded_lines(path: Path) -> Iterator[tuple[int, str | RecordError]]:
    """(line number, text without the line end) per line; undecodable lines and broken streams as RecordError."""
    try:
        for line_no, raw in read_lines(path):
            try:
                yield line_no, raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as error:
                yield line_no, RecordError("not_utf8", f"invalid UTF-8 byte at column {error.start + 1}")
    except BrokenInput as broken:
        raise RecordError(broken.reason, broken.message, broken.location) from None


def read_parallel_tsv(path: str | Path, source_lang: str, target_lang: str) -> Iterator[tuple[int, object]]:
    """Yield (line, (source, target)) of a parallel TSV; bad lines as RecordError values (see the module doc)."""
    for line_no, text in _decoded_lines(Path(path)):
        if isinstance(text, RecordError):
            yield line_no, text
            continue
        fields = text.split("\t")
        if line_no == 1 and [f.strip().lower() for f in fields[-2:]] == [source_lang, target_lang]:
            yield line_no, Filtered("header")
        elif not text.strip():
            yield line_no, RecordError("blank_line", "empty line")
        elif len(fields) == 1:
            yield line_no, RecordError("missing_tab", f"no tab: expected {source_lang}<TAB>{target_lang}")
        elif len(fields) == 2:
            yield line_no, (fields[0], fields[1])
        elif len(fields) == 3 and _is_number(fields[0]):
            yield line_no, (fields[1], fields[2])  # WikiMatrix: score, source, target
        else:
            yield line_no, RecordError(
                "wrong_columns", f"{len(fields)} tab-separated fields; expected {source_lang}<TAB>{target_lang} "
                f"or score<TAB>{source_lang}<TAB>{target_lang}")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _count_lines(path: Path) -> int:
    count = 0
    for _ in _decoded_lines(path):
        count += 1
    return count


def read_moses(path: str | Path, source_lang: str, target_lang: str) -> Iterator[tuple[int, object]]:
    """Yield (line, (source, target)) of a source-language Moses file and its target-language partner."""
    source_path = Path(path)
    target_path = _partner(source_path, target_lang)
    if not target_path.is_file():
        raise RecordError("missing_partner", f"no {target_lang} file {target_path.name} beside it")
    source_count, target_count = _count_lines(source_path), _count_lines(target_path)
    if source_count != target_count:  # checked first: misaligned files would give wrong pairs, not bad lines
        raise RecordError(
            "line_count_mismatch",
            f"{source_count} lines but its {target_lang} partner {target_path.name} has {target_count}",
            min(source_count, target_count) + 1,
        )
    pairs = zip(_decoded_lines(source_path), _decoded_lines(target_path), strict=True)
    for (line_no, source), (_, target) in pairs:
        bad = next((text for text in (source, target) if isinstance(text, RecordError)), None)
        yield line_no, bad if bad is not None else (source, target)


def read_parallel(path: str, source_lang: str, target_lang: str) -> Iterator[tuple[int, object]]:
    """A parallel raw file of either layout: Moses files by their language suffix (2- or 3-letter codes), anything
    else as TSV. A Moses file of another language or pair (a LASER or Tatoeba folder holds one pair per language, a
    Multi30k folder one file per language) is skipped, counted once per file as filtered "other_language_pair"."""
    file = Path(path)
    language = moses_language(file)
    if language is None:
        yield from read_parallel_tsv(path, source_lang, target_lang)
        return
    declared = _pair_of(file)
    if language not in (source_lang, target_lang) or (
        declared is not None and set(declared) != {source_lang, target_lang}
    ):
        yield None, Filtered("other_language_pair")
        return
    if language == source_lang:
        yield from read_moses(path, source_lang, target_lang)
    elif language == target_lang:
        partner = _partner(file, source_lang)
        if not partner.is_file():
            raise RecordError("missing_partner", f"no {source_lang} file {partner.name} beside it")
        # Its lines are read with the partner (the source-language file); nothing of its own to yield.


def pair_texts(record: tuple[str, str], source_lang: str, target_lang: str) -> list[tuple[str, str]]:
    """(source, target) -> [(anchor, positive)]; an empty side is a bad record naming the language."""
    for text, language in zip(record, (source_lang, target_lang), strict=True):
        if not text.strip():
            raise RecordError("empty_side", f"the {language} side is empty")
    return [record]


def parallel_source(source_lang: str, target_lang: str) -> Source:
    """The `parallel_<source>_<target>` source: anchor = source-language sentence, positive = its translation."""
    return Source(
        name=f"parallel_{source_lang}_{target_lang}",
        pretty_name=f"Parallel sentences {source_lang}-{target_lang}",
        description=(f"Translation pairs: anchor = the {source_lang} sentence, positive = its {target_lang} "
                     "translation (no negative). For multilingual knowledge distillation (`se1b distill`)."),
        license="other",
        citation=CITATION,
        homepage="https://www.sbert.net/examples/sentence_transformer/training/multilingual/README.html",
        raw_format=(f"TSV ({source_lang}<TAB>{target_lang}, or score<TAB>{source_lang}<TAB>{target_lang}) or Moses "
                    f"files (*.{source_lang} + *.{target_lang}, one sentence per line), plain or .gz"),
        language=(source_lang, target_lang),
        tags=("translation", "parallel-corpus"),
        reader=functools.partial(read_parallel, source_lang=source_lang, target_lang=target_lang),
        select_inputs=functools.partial(select_parallel_inputs, source_lang=source_lang, target_lang=target_lang),
        to_texts=functools.partial(pair_texts, source_lang=source_lang, target_lang=target_lang),
        notes=("No canonical download: pass local files with --raw (TED2020, Tatoeba and WikiMatrix TSV files, or "
               "OPUS Moses files). The licence is the corpus's own (TED2020 CC BY-NC-ND 4.0, Tatoeba CC BY 2.0 FR, "
               "WikiMatrix CC BY-SA 3.0)."),
    )


PARALLEL_SOURCES = [parallel_source(source_lang, target_lang) for source_lang, target_lang in LANGUAGE_PAIRS]
