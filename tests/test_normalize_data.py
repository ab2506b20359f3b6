"""Normalization cases as data, one test per class (tests/data/normalize_{en,zh}.tsv; no weights).

Each case is ``class<TAB>written<TAB>spoken``: what a careful reader says for what is written, by the
conventions in docs/normalization.md. Comparison ignores case, punctuation other than apostrophes and
repeated spaces (commas change pauses, not words).
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from pathlib import Path

import pytest

from greentts.text.normalize import clean, normalize_en, normalize_zh

DATA = Path(__file__).parent / "data"


def load(lang: str) -> dict[str, list[tuple[str, str]]]:
    cases: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for line in (DATA / f"normalize_{lang}.tsv").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            cls, written, spoken = line.split("\t")
            cases[cls.strip()].append((written, spoken))
    return cases


EN, ZH = load("en"), load("zh")


def canonical(text: str) -> str:
    """Case, punctuation and spacing aside; spelled capitals are one word ("F B I", "F.B.I." and "FBI"
    are all read as letters by the G2P, which is given "FBI")."""
    text = unicodedata.normalize("NFKC", text).replace("’", "'")
    text = re.sub(r"[^\w'\s]|_", " ", text)
    text = re.sub(r"\b[A-Z](?:\s+[A-Z]\b)+", lambda m: m[0].replace(" ", ""), text)
    text = re.sub(r"(?<![a-z])'|'(?![a-z])", " ", text.lower())
    return " ".join(text.split())


def spoken(written: str, lang: str) -> str:
    cleaned, _ = clean(written)
    return normalize_en(cleaned) if lang == "en" else normalize_zh(cleaned)


def _check(cases: list[tuple[str, str]], lang: str) -> None:
    wrong = [(w, s, spoken(w, lang)) for w, s in cases if canonical(spoken(w, lang)) != canonical(s)]
    report = "\n".join(f"  {w!r}\n    expected {s!r}\n    got      {g!r}" for w, s, g in wrong)
    assert not wrong, f"{len(wrong)}/{len(cases)} wrong:\n{report}"


def test_the_data_is_large_enough():
    assert sum(map(len, EN.values())) >= 300 and sum(map(len, ZH.values())) >= 200
    assert min(map(len, EN.values())) >= 10 and min(map(len, ZH.values())) >= 10


@pytest.mark.parametrize("cls", sorted(EN))
def test_english(cls):
    _check(EN[cls], "en")


@pytest.mark.parametrize("cls", sorted(ZH))
def test_mandarin(cls):
    _check(ZH[cls], "zh")


# --------------------------------------------------------------------------------------------------
# segmentation never splits at an abbreviation
# --------------------------------------------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from greentts.text.english import MAY_END_SENTENCE, NEVER_ENDS_SENTENCE  # noqa: E402
from greentts.text.segment import split_sentences  # noqa: E402

_WORDS = st.sampled_from(["the", "report", "came", "from", "our", "office", "and", "it", "was", "late", "Smith",
                          "Paris", "we", "met", "there", "yesterday"])
_NEXT_NEVER = st.sampled_from(["Smith", "3rd", "5", "Louis", "the", "example", "42", "Everest", "approximately",
                               "Jones", "Kim"])
_NEXT_MAY = st.sampled_from(["and", "said", "the", "3", "2024", "with", "to", "in", "5th"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_WORDS, max_size=6), st.sampled_from(sorted(NEVER_ENDS_SENTENCE)), _NEXT_NEVER,
       st.lists(_WORDS, max_size=6))
def test_never_splits_after_an_abbreviation_that_cannot_end_a_sentence(before, abbr, nxt, after):
    text = " ".join(["We", *before, abbr + ".", nxt, *after]) + "."
    assert len(list(split_sentences(text))) == 1, text


@settings(max_examples=200, deadline=None)
@given(st.lists(_WORDS, max_size=6), st.sampled_from(sorted(MAY_END_SENTENCE)), _NEXT_MAY,
       st.lists(_WORDS, max_size=6))
def test_never_splits_after_an_abbreviation_before_lowercase_or_digits(before, abbr, nxt, after):
    text = " ".join(["We", *before, abbr + ".", nxt, *after]) + "."
    assert len(list(split_sentences(text))) == 1, text


@pytest.mark.parametrize("text", ["Apple Inc. The company grew.", "We ate apples, pears, etc. Then we left.",
                                  "They met at 9 a.m. The day was long."])
def test_an_abbreviation_that_may_end_a_sentence_ends_one_before_a_capital(text):
    assert len(list(split_sentences(text))) == 2
