"""Versions, decades, years, ordinals, fractions, decimals and cardinals."""

from __future__ import annotations

import re

from .dates import year_words
from .words import MAX_SPOKEN_DIGITS, ordinal_words, pair_reading, plural_ordinal, digits_en, words

_PRODUCTS = ("Python|Java|Node|Node\\.js|Ruby|PHP|Perl|Rust|Swift|Kotlin|Scala|Django|Rails|Angular|React|Vue|"
             "Windows|macOS|iOS|iPadOS|watchOS|Android|Ubuntu|Debian|Fedora|Chrome|Firefox|Safari|Linux|kernel|"
             "Excel|HTTP|TLS|SSL|Bluetooth|USB|Wi-Fi|PostgreSQL|MySQL|npm|pip|Kubernetes|Docker|Unity|Unreal|"
             "Blender|Photoshop|Word|Office|Java SE|OpenSSL|Git|GCC|Qt|Xcode|TensorFlow|PyTorch|CUDA|OpenGL|"
             "DirectX|Vulkan|Chromium|Edge|Electron|Go|Golang|Dart|Flutter|Elixir|Erlang|Haskell|Lua|Julia|R")
PRODUCT_VERSION_RE = re.compile(r"\b(?P<p>" + _PRODUCTS + r")\s(?P<n>\d+\.\d+)(?![\w.]|\.\d)")
MIXED_CASE = {"iPadOS": "iPad OS", "watchOS": "watch OS", "tvOS": "TV OS", "PhD": "P h D", "PhDs": "P h Ds"}
MIXED_CASE_RE = re.compile(r"\b(" + "|".join(k for k, v in MIXED_CASE.items() if k != v) + r")\b")
VERSION_RE = re.compile(r"(?<![\w.])(?P<v>v|V|version |Version |ver\. |release |Release )?(?P<n>\d+(?:\.\d+){1,4})(?P<x>\.x)?(?![\w.]|\.\d)")
DECADE_RE = re.compile(r"(?<![\w])(?:(?P<apos>['’])(?P<yy>\d0)|(?P<cent>1[1-9]|20)?(?P<dd>\d0))s\b")
YEAR_RE = re.compile(r"(?<![\w.,$€£¥:/-])(?P<y>1[1-9]\d\d|20\d\d)(?!\w|[.,]\d)"
                      r"|\b(?P<prep>in|In|of|by|since|from|until|year|circa|around|after|before) (?P<old>1[01]\d\d|(?<=in |In |ar |ca |ce )[1-9]\d\d(?= (?:AD|BC|BCE|CE)\b|[.,;]))(?P<era> (?:AD|BC|BCE|CE)\b)?(?!\w|[.,]\d)")
ORDINAL_RE = re.compile(r"(?<![\w.])(?P<n>\d{1,3}(?:,\d{3})*|\d+)(?P<suf>st|nd|rd|th|ST|ND|RD|TH)\b")
MIXED_FRACTION_RE = re.compile(r"(?<![\w./])(?P<w>\d+)[\s-](?P<a>\d+)/(?P<b>\d+)(?![\w/])")
FRACTION_RE = re.compile(r"(?<![\w./])(?P<a>\d+)/(?P<b>\d+)(?![\w/]|\.\d)")
DECIMAL_RE = re.compile(r"(?<![\w.])(?P<neg>-)?(?P<int>\d+(?:,\d{3})*)?\.(?P<frac>\d+)(?![\d.]|\.\d)")
INT_RE = re.compile(r"(?<![\w.])(?P<neg>-(?=\d))?(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?![\d])")
POWER_RE = re.compile(r"(?<=[\w)])\^(?P<n>-?\d+)")
MATH = [
    (re.compile(r"(?<=\w)\s?×\s?(?=[\w(])|(?<=\d)\s[x*]\s(?=\d)|(?<=\d)\*(?=\d)"), " times "),
    (re.compile(r"\s?÷\s?"), " divided by "),
    (re.compile(r"\s?≠\s?"), " not equal to "),
    (re.compile(r"\s?≈\s?|(?<![\w~])~(?=\s?\d)"), " approximately "),
    (re.compile(r"\s?±\s?"), " plus or minus "),
    (re.compile(r"\s?(?:≤|<=)\s?"), " less than or equal to "),
    (re.compile(r"\s?(?:≥|>=)\s?"), " greater than or equal to "),
    (re.compile(r"(?<=[\w)])\s?<\s?(?=[\w(-])|(?<=\s)<(?=\s)"), " less than "),
    (re.compile(r"(?<=[\w)])\s?>\s?(?=[\w(-])|(?<=\s)>(?=\s)"), " greater than "),
    (re.compile(r"√\s?"), " square root of "),
    (re.compile(r"∞"), " infinity "),
    (re.compile(r"π"), " pi "),
    (re.compile(r"(?<=[\w)])\s[-−]\s(?=[\w(])"), " minus "),
    (re.compile(r"\s?\+\s?(?=[\w(])|(?<=\w)\s?\+(?=\s|$)"), " plus "),
    (re.compile(r"\s?=\s?"), " equals "),
    (re.compile(r"(?<=\d)\s/\s(?=\d)"), " divided by "),
    (re.compile(r"(?<=\d)\s?/\s?(?=[a-z])|(?<=[a-z])/(?=\d)"), " per "),
    (re.compile(r"(?<=[A-Z])/(?=\d)"), " "),
]
SYMBOLS = {"&": " and ", "@": " at ", "#": " number ", "§": " section ", "¶": " paragraph ", "‰": " per mille ",
            "°": " degrees ", "™": " ", "®": " ", "©": " copyright ", "→": " to ", "←": " from ", "↔": " to and from "}


def power_rule(m: re.Match[str]) -> str:
    n = m["n"]
    return {"2": " squared", "3": " cubed"}.get(n, f" to the power of {words(n)}")


def version_rule(m: re.Match[str]) -> str:
    n = m["n"]
    parts = n.split(".")
    if not m["v"] and len(parts) == 2:
        return m[0]  # a decimal ("3.14"): read later as one
    if not m["v"] and len(parts) == 4 and all(p.isdigit() and int(p) <= 255 for p in parts):
        return " dot ".join(words(p) for p in parts)  # an IPv4 address
    prefix = "version " if m["v"] in ("v", "V") else (m["v"] or "")
    body = " point ".join(words(p) if not (len(p) > 1 and p.startswith("0")) else digits_en(p, oh=True) for p in parts)
    return f"{prefix}{body}" + (" point x" if m["x"] else "")


_DECADE_WORDS = {"00": "hundreds", "10": "tens", "20": "twenties", "30": "thirties", "40": "forties",
                 "50": "fifties", "60": "sixties", "70": "seventies", "80": "eighties", "90": "nineties"}


def decade_rule(m: re.Match[str]) -> str:
    if m["apos"]:
        return _DECADE_WORDS[m["yy"]] if m["yy"] != "00" else "two thousands"
    cent, dd = m["cent"], m["dd"]
    if cent is None:
        if dd == "00":
            return m[0]
        return _DECADE_WORDS[dd] if len(dd) == 2 else m[0]
    if cent == "20" and dd == "00":
        return "two thousands"
    if dd == "00":
        return f"{words(cent)} hundreds"
    if cent == "20" and dd == "10":
        return "twenty tens"
    return f"{words(cent)} {_DECADE_WORDS[dd]}"


_COUNTED = re.compile(r"\s+(?:[a-z]+s|people|men|women|children|feet|sheep|fish|deer|mice|geese|teeth|data)\b")


def year_rule(m: re.Match[str], text: str) -> str:
    if m["old"]:
        era = " " + " ".join(m["era"].strip()) if m["era"] else ""
        return f"{m['prep']} " + (year_words(m["old"]) if len(m["old"]) == 4 else pair_reading(m["old"])) + era
    y = m["y"]
    if _COUNTED.match(text, m.end()) and not re.search(r"\b(?:in|since|of|from|by|until|during|year|circa)\s+$",
                                                      text[max(0, m.start() - 12):m.start()]):
        return words(y)  # "1984 people" is a count
    return year_words(y)


def mixed_fraction(m: re.Match[str]) -> str:
    a, b = int(m["a"]), int(m["b"])
    if a >= b or b == 0:
        return m[0]
    return f"{words(m['w'])} and {_fraction_words(a, b, mixed=True)}"


def _fraction_words(a: int, b: int, mixed: bool = False) -> str:
    if b == 2:
        return ("a half" if mixed else "one half") if a == 1 else f"{words(a)} halves"
    if b == 4:
        return ("a quarter" if mixed else "one quarter") if a == 1 else f"{words(a)} quarters"
    if a == 1:
        ordinal = ordinal_words(b)
        if ordinal.startswith("one "):
            ordinal = ordinal[4:]
        return ("a " if mixed else "one ") + ordinal
    return f"{words(a)} {plural_ordinal(b)}"


def fraction_rule(m: re.Match[str]) -> str:
    a, b = m["a"], m["b"]
    if max(len(a), len(b)) > 4 or int(b) == 0 or int(b) > 100:
        return f"{words(a)} slash {words(b)}"
    return _fraction_words(int(a), int(b))


def ordinal_rule(m: re.Match[str]) -> str:
    return ordinal_words(m["n"].replace(",", ""))


def integer(m: re.Match[str]) -> str:
    digits = m["int"].replace(",", "")
    neg = "minus " if m["neg"] else ""
    if len(digits) > MAX_SPOKEN_DIGITS or (len(digits) > 1 and digits.startswith("0")):
        return neg + digits_en(digits)  # codes, IDs, absurdly long numbers
    return neg + words(digits)
