"""Scoring speech against a hand-written spoken reference, independent of greentts' own normalizer.

A reference is what a careful reader says, in words (``"call five five five oh one four two"``); two
correct readings are written as alternatives in braces (``"{sequel|s q l}"``) and the one closer to
what was heard counts. The hypothesis comes from Whisper with digit tokens suppressed
(:meth:`Transcriber.transcribe` with ``spell_numbers=True``), so it is in words too. Neither side goes
through greentts' normalizer: a normalizer that reads "555-0199" wrongly cannot hide its error by
reading the reference the same wrong way.

- English: word error rate over canonical words (:func:`en_words`).
- Mandarin: pinyin error rate, syllables without tone, so homophones written with other characters
  are not errors but a wrong reading of a polyphone (重 zhong/chong) is (:func:`zh_tokens`).
- Code-switched: token error over pinyin syllables plus English words (the same :func:`zh_tokens`).
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Callable, Sequence

__all__ = ["expand_alternatives", "en_words", "zh_tokens", "edit_distance", "best_errors", "pinyin_error_rate"]

_ALT_RE = re.compile(r"\{([^{}]*)\}")
MAX_READINGS = 64
# Spoken spellings Whisper uses interchangeably; mapped to one form on both sides.
_EN_SAME = {"oh": "zero", "okay": "ok", "percent": "percent", "per": "per", "cent": "cent",
            "mr": "mister", "mrs": "missus", "dr": "doctor", "vs": "versus", "versus": "versus",
            "colour": "color", "metres": "meters", "metre": "meter", "kilometres": "kilometers",
            "kilometre": "kilometer", "litres": "liters", "litre": "liter", "grey": "gray",
            "ninety's": "nineties", "eighty's": "eighties", "seventy's": "seventies", "sixty's": "sixties",
            "mt": "mount", "sr": "senior", "jr": "junior", "lt": "lieutenant", "col": "colonel",
            "sgt": "sergeant", "capt": "captain", "gov": "governor", "sen": "senator", "prof": "professor",
            "maj": "major", "gen": "general", "dept": "department", "blvd": "boulevard", "ave": "avenue", "etc": "et cetera", "email": "email", "e-mail": "email",
            "alright": "all right", "am": "a m", "pm": "p m"}
_NUMBER_WORDS = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
                 "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
                 "nineteen", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"}


def expand_alternatives(reference: str) -> list[str]:
    """Every reading of a reference with ``{a|b}`` groups (at most :data:`MAX_READINGS`)."""
    parts = _ALT_RE.split(reference)
    choices = [[p] if i % 2 == 0 else p.split("|") for i, p in enumerate(parts)]
    readings = ["".join(c) for c in itertools.islice(itertools.product(*choices), MAX_READINGS)]
    return readings


def en_words(text: str) -> list[str]:
    """Canonical English words: lowercase, no punctuation, hyphens as spaces, spelled letters joined
    ("F.B.I.", "F B I" and "FBI" -> "fbi"), "oh" = "zero", "hundred and five" = "hundred five"."""
    text = unicodedata.normalize("NFKC", text).replace("’", "'").replace("‘", "'")
    text = re.sub(r"\b([A-Za-z])\.(?=[A-Za-z]\.)", r"\1 ", text)  # F.B.I. -> F B I.
    # Whisper writes what it hears as an address: "example.com" was said "example dot com"
    text = re.sub(r"(?<=[A-Za-z0-9])\.(?=[A-Za-z0-9]{2,})", " dot ", text)
    text = re.sub(r"(?<=\w)@(?=\w)", " at ", text)
    text = re.sub(r"(?<=\w)/(?=\w)", " slash ", text).replace("_", " underscore ")
    raw = re.findall(r"[A-Za-z0-9]+(?:'[A-Za-z]+)?", text.replace("-", " ").replace("/", " "))
    words: list[str] = []
    for w in raw:
        low = w.lower()
        words.extend(_EN_SAME.get(low, low).split())
    out: list[str] = []
    for i, w in enumerate(words):
        if w == "and" and out and out[-1] in ("hundred", "thousand", "million", "billion") \
                and i + 1 < len(words) and words[i + 1] in _NUMBER_WORDS:
            continue  # "one hundred and five" = "one hundred five"
        out.append(w)
    return _join_letters(out)


def _join_letters(words: list[str]) -> list[str]:
    """Runs of two or more single letters are one spelled token: ["f", "b", "i"] -> ["fbi"]."""
    out: list[str] = []
    run: list[str] = []
    for w in [*words, ""]:
        if len(w) == 1 and w.isalpha():
            run.append(w)
            continue
        if len(run) >= 2:
            out.append("".join(run))
        else:
            out.extend(run)
        run = []
        if w:
            out.append(w)
    return out


def zh_tokens(text: str) -> list[str]:
    """Pinyin syllables without tone for Han characters (read in context, so 重庆 -> chong qing) plus
    canonical English words for Latin text (spelled letters joined, as in :func:`en_words`)."""
    from pypinyin import Style, lazy_pinyin

    text = unicodedata.normalize("NFKC", text)
    tokens: list[str] = []
    for han, other in re.findall(r"([\u3400-\u9fff]+)|([^\u3400-\u9fff]+)", text):
        if han:
            tokens.extend(lazy_pinyin(han, style=Style.NORMAL, errors="ignore"))
        else:
            tokens.extend(en_words(other))
    return [t.replace("ü", "v") for t in tokens]


def edit_distance(ref: Sequence[str], hyp: Sequence[str]) -> int:
    """Levenshtein distance between two token sequences."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i]
        for j, h in enumerate(hyp, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h)))
        prev = cur
    return prev[-1]


def best_errors(reference: str, hypothesis: str, tokens: Callable[[str], list[str]]) -> tuple[int, int]:
    """(errors, reference length) for the reading of ``reference`` closest to ``hypothesis``."""
    hyp = tokens(hypothesis)
    best: tuple[float, int, int] | None = None
    for reading in expand_alternatives(reference):
        ref = tokens(reading)
        errors = edit_distance(ref, hyp)
        rate = errors / max(len(ref), 1)
        if best is None or rate < best[0]:
            best = (rate, errors, len(ref))
    assert best is not None
    return best[1], best[2]


def pinyin_error_rate(reference: str, hypothesis: str) -> float:
    """Toneless pinyin error of a Mandarin transcript: homophones Whisper writes with other characters
    (酒店 for 九点, 离巴 for 篱笆) are not errors, a syllable heard wrong is."""
    ref = zh_tokens(reference)
    return edit_distance(ref, zh_tokens(hypothesis)) / max(len(ref), 1)
