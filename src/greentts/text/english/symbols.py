"""Math, symbols, and the clean-up that runs first (minus signs, superscripts, dimensions)."""

from __future__ import annotations

import re

from .numbers import MATH, POWER_RE, SYMBOLS, power_rule

def math_rule(t: str) -> str:
    t = POWER_RE.sub(power_rule, t)
    for pattern, word in MATH:
        t = pattern.sub(word, t)
    return t


def symbols_rule(t: str) -> str:
    t = re.sub(r"(?<=\w)/(?=\w)", " ", re.sub(r"\band/or\b", "and or", t))
    t = re.sub(r"\bw/(?=\s)", "with", t)
    for sym, word in SYMBOLS.items():
        t = t.replace(sym, word)
    return t


EQUATION = re.compile(r"[=<>≤≥≠±]|\s[+*/−-]\s|\^|[²³]")
_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")


def pre_rule(t: str) -> str:
    t = t.replace("−", "-").replace("‐", "-").replace("‑", "-")
    t = re.sub(r"[⁰¹²³⁴⁵⁶⁷⁸⁹⁻]+", lambda m: "^" + m[0].translate(_SUPERSCRIPTS), t)  # x² -> x^2
    t = re.sub(r"(?<=\d)\s?(?:x|×)\s?(?=\d)", " × ", t)  # "3x4", "1920x1080": dimensions
    if EQUATION.search(t):  # in an equation "3x" and "2ab" are products of a number and variables
        t = re.sub(r"(?<=\d)(?=[a-z]\b|[a-z]{2}\b)", " ", t)
    return t
