"""Acronyms, alphanumeric codes, model and flight numbers; the G2P dictionary lookup."""

from __future__ import annotations

import functools
import gzip
import json
import re

from .symbols import EQUATION
from .words import pair_reading, digits_en, words

_WORD_ACRONYMS = {
    "NASA", "NATO", "UNESCO", "UNICEF", "NAFTA", "OPEC", "FIFA", "UEFA", "AIDS", "SARS", "COVID", "LASER",
    "RADAR", "SCUBA", "SONAR", "PIN", "ZIP", "SIM", "RAM", "ROM", "CAPTCHA", "POTUS", "SCOTUS", "NASDAQ",
    "IKEA", "LEGO", "ASCII", "GIF", "JPEG", "PNG", "WASP", "YOLO", "FOMO", "GIS", "DOS", "NAND", "OLED",
    "LED", "ISO", "OSHA", "FEMA", "MERS", "TED", "IMAX", "LOL", "ASAP", "AWOL", "INTERPOL", "ANSI", "WIFI",
    "NIMBY", "SWAT", "BASIC", "COBOL", "FORTRAN", "MATLAB", "CERN", "ESA", "DARPA", "NOAA", "ICE", "UNIX",
    "LINUX", "OK", "I", "A", "AM", "PM", "BMW", "ID",
}
# Capitals the G2P would misread; every other all-capital word is left to the G2P, which spells what
# its dictionary does not read as a word (FBI, HDMI) and reads the rest (NASA, JSON, MIX).
_SPECIAL_READINGS = {"GUI": "gooey", "WYSIWYG": "wizzywig", "SCSI": "scuzzy", "COVID": "Covid", "WiFi": "Wi-Fi"}


def _spell(letters: str) -> str:
    return " ".join(letters)


def _letters(tok: str) -> str:
    """Capital letters of a code, spelled unless the group is read as a word (COVID, NASA)."""
    if tok in _SPECIAL_READINGS:
        return _SPECIAL_READINGS[tok]
    if tok in _WORD_ACRONYMS or not tok.isupper() or len(tok) > 5:
        return tok if not (tok.isupper() and tok in _WORD_ACRONYMS and len(tok) > 1) else tok.capitalize()
    return _spell(tok)


FLIGHT_RE = re.compile(r"\b(?P<w>[Ff]lights?|[Tt]rain|[Bb]us|[Rr]oute)\s(?P<code>[A-Z0-9]{2})\s?(?P<n>\d{2,4})\b")
SPECIAL_NUMBERS_RE = re.compile(r"(?<![\w/])(24/7|9/11|7/11|20/20|50/50)(?![\w/])")
SPECIAL_NUMBERS = {"24/7": "twenty four seven", "9/11": "nine eleven", "7/11": "seven eleven",
                    "20/20": "twenty twenty", "50/50": "fifty fifty"}
NUM_LETTER_RE = re.compile(r"(?<![\w.,-])(?P<n>\d+)(?P<l>[A-Z]{1,2}|[a-z])(?![\w'])")
LETTER_NUM_RE = re.compile(r"(?<![\w.-])(?P<l>[A-Z]{1,4}|[A-Z][a-z]+|[a-z])(?P<dash>-?)(?P<n>\d+)(?P<tail>[A-Z]{1,2}|[a-z])?(?![\w'])")
_DIGIT_SUFFIXES = {"p": "p", "K": "K", "D": "D", "G": "G", "x": "times"}


MODEL_RE = re.compile(r"\b(?P<b>Boeing|Airbus|Porsche|Peugeot|Cessna|Yamaha|model|Model)\s(?P<n>[1-9]\d{2})\b")
CHIP_RE = re.compile(r"(?<![\w.-])(?P<l>i|M|A|Ryzen\s)(?P<n>[3579]|1[0-9])(?![\w.])")
CODE_RE = re.compile(r"(?<![\w.-])(?=[A-Za-z0-9]*[A-Z0-9])(?P<code>[A-Z0-9]{1,5}(?:-[A-Z0-9]{1,5})+)(?![\w-])")


def code_rule(m: re.Match[str]) -> str:
    """Hyphenated codes of capitals and digits: R2-D2, USB-C, X-15B (COVID-19 reads COVID as a word)."""
    code = m["code"]
    if code.replace("-", "").isdigit():
        return code  # 3-1, 555-0199: numbers, read by the rules that follow
    out = []
    for part in re.findall(r"[A-Z]+|\d+", code):
        if part.isdigit():
            out.append(pair_reading(part) if len(part) in (3, 4) and part[0] != "0"
                       else words(part) if part[0] != "0" or len(part) == 1 else digits_en(part, oh=True))
        else:
            out.append(_SPECIAL_READINGS.get(part, part))
    return " ".join(out)


def num_letter(m: re.Match[str], text: str = "") -> str:
    n, letters = m["n"], m["l"]
    if letters in ("st", "nd", "rd", "th", "s"):
        return m[0]
    if letters == "x" and len(n) <= 3 and not EQUATION.search(text):
        return f"{words(n)} times"  # "3x faster"; in an equation "3x" is three x
    number = pair_reading(n) if len(n) in (3, 4) and n[0] != "0" else words(n) if n[0] != "0" or len(n) == 1 else digits_en(n)
    return f"{number} {letters}"


def letter_num(m: re.Match[str]) -> str:
    letters, n, tail = m["l"], m["n"], m["tail"] or ""
    if letters[0].islower() and len(letters) == 1 and not m["dash"] and letters not in "vx":
        return m[0]  # "a1" style identifiers are left to the G2P
    if letters == "v" and not m["dash"]:
        return f"version {words(n)}"
    head = _SPECIAL_READINGS.get(letters, letters)
    if len(n) in (3, 4) and n[0] != "0" and not m["dash"]:
        number = pair_reading(n)
    elif n[0] == "0" and len(n) > 1:
        number = digits_en(n, oh=True)
    else:
        number = words(n)
    tail_text = f" {tail}" if tail else ""
    return f"{head} {number}{tail_text}"


ACRONYM_RE = re.compile(r"(?<![\w.'-])(?P<a>[A-Z]{2,5})(?P<s>s|'s)?(?![\w'-])")
DOTTED_ACRONYM_RE = re.compile(r"(?<![\w.])(?P<a>[A-Za-z](?:\.[A-Za-z])+)(?P<dot>\.)?(?=\W|$)")


def dotted(m: re.Match[str], text: str) -> str:
    """U.S. -> U S, Ph.D. -> P h D; a.m. is left to the time rules. The last period stays where it ends a
    sentence."""
    letters = m["a"].replace(".", "")
    if letters.lower() in ("am", "pm") and re.search(r"\d\s?$", text[:m.start()]):
        return m[0]
    if letters.isupper() or len(letters) > 3:
        return m[0]  # U.S., F.B.I.: the G2P reads them as one spelled word
    ends = m["dot"] and re.match(r"\s*$|\s+[A-Z\"“]", text[m.end():m.end() + 3])
    return _spell(letters) + ("." if ends else "")


def acronym_rule(m: re.Match[str], text: str) -> str:
    """Capitals are left to the G2P (it spells FBI as one word, which sounds better than F B I),
    except the few it misreads."""
    a, s = m["a"], m["s"] or ""
    if a in _SPECIAL_READINGS:
        return _SPECIAL_READINGS[a] + s
    return m[0]


@functools.lru_cache(maxsize=1)
def _dictionary() -> frozenset[str]:
    """The words of the English G2P's gold dictionary (hibari's copy of misaki's; data, no weights)."""
    try:
        from importlib.resources import files

        path = files("hibari") / "assets" / "lexicon_us_gold.json.gz"
        with path.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as f:
            return frozenset(json.load(f))
    except (ModuleNotFoundError, FileNotFoundError, OSError, ValueError):
        return frozenset()


def known_word(token: str) -> bool:
    """True when the G2P's dictionary has ``token`` as it is written or in lower case."""
    words_ = _dictionary()
    return token in words_ or token.lower() in words_


def _shouting(text: str, start: int, end: int) -> bool:
    """True when the caps word stands among other caps words of 3+ letters (a shouted phrase)."""
    before = text[max(0, start - 40):start].split()[-1:]
    after = text[end:end + 40].split()[:1]
    return any(re.fullmatch(r"[A-Z]{3,}[!?,.]*", w) and w.strip("!?,.") not in _WORD_ACRONYMS
               and w.strip("!?,.") not in _SPECIAL_READINGS for w in before + after)


# versions, decades, years, ordinals, fractions, math, numbers
