"""English text normalization: written text -> the words a careful reader says.

:func:`normalize_en` is an ordered list of rules, one per class of written token (URLs and emails,
abbreviations, dates, telephone numbers, times, ranges and scores, currency, percentages, units, roman
numerals, alphanumerics, acronyms, versions, decades, years, ordinals, fractions, decimals, math,
cardinals). Earlier rules take the tokens that later, more general ones would misread ("555-0199" is a
telephone number before "555" can be a cardinal). The conventions, with examples, are in
``docs/normalization.md``; the cases are data (``tests/data/normalize_en.tsv``).

:data:`ABBREVIATIONS` is shared with the sentence splitter: an abbreviation's period never ends a
sentence unless the abbreviation may end one (Inc., etc.) and a capitalized word follows.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .abbreviations import ABBREVIATIONS, MAY_END_SENTENCE, NEVER_ENDS_SENTENCE, abbreviations_rule
from .codes import (
    ACRONYM_RE, CHIP_RE, CODE_RE, DOTTED_ACRONYM_RE, FLIGHT_RE, LETTER_NUM_RE, MODEL_RE, NUM_LETTER_RE,
    SPECIAL_NUMBERS, SPECIAL_NUMBERS_RE, acronym_rule, code_rule, dotted, letter_num, num_letter,
)
from .contact import EMAIL_RE, EMERGENCY_RE, PHONE_RE, URL_RE, email, extension_rule, phone, url
from .dates import (
    DAY_OF_MONTH_RE, HOUR_AMPM_RE, ISO_DATE_RE, MONTH_DAY_RE, TIME_RANGE_RE, TIME_RE, US_DATE_RE, date_rule,
    day_of_month, hour_ampm, month_day, time_rule, time_range, year_words,
)
from .measures import (
    CENTS_RE, CURRENCY_RE, DASH_RANGE_RE, FEET_INCHES_RE, PERCENT_RE, UNIT_RANGE_RE, UNIT_RE, currency_rule,
    feet_inches, range_rule, unit_rule, unit_range,
)
from .numbers import (
    DECADE_RE, DECIMAL_RE, FRACTION_RE, INT_RE, MIXED_CASE, MIXED_CASE_RE, MIXED_FRACTION_RE, ORDINAL_RE,
    PRODUCT_VERSION_RE, VERSION_RE, YEAR_RE, decade_rule, fraction_rule, integer, mixed_fraction, ordinal_rule,
    version_rule, year_rule,
)
from .roman import (
    COPYRIGHT_ROMAN_RE, KEYWORD_ROMAN_RE, LOWER_ROMAN_RE, REGNAL_RE, YEAR_ROMAN_RE, keyword_roman, regnal_rule,
    year_roman, roman_value,
)
from .symbols import math_rule, pre_rule, symbols_rule
from .words import MAX_SPOKEN_DIGITS, MONTHS, pair_reading, decimal_words, digits_en, words

__all__ = ["normalize_en", "ABBREVIATIONS", "NEVER_ENDS_SENTENCE", "MAY_END_SENTENCE", "MAX_SPOKEN_DIGITS", "MONTHS",
           "words", "digits_en", "decimal_words"]

Rule = Callable[[str], str]


def _sub(pattern: re.Pattern[str], fn: Callable[[re.Match[str]], str] | Callable[[re.Match[str], str], str],
         with_text: bool = False) -> Rule:
    if with_text:
        return lambda t: pattern.sub(lambda m: fn(m, t), t)  # type: ignore[call-arg]
    return lambda t: pattern.sub(fn, t)  # type: ignore[arg-type]



RULES: list[tuple[str, Rule]] = [
    ("pre", pre_rule),
    ("fraction", _sub(SPECIAL_NUMBERS_RE, lambda m: SPECIAL_NUMBERS[m[1]])),
    ("url_email", _sub(EMAIL_RE, email)),
    ("url_email", _sub(URL_RE, url)),
    ("date", _sub(ISO_DATE_RE, lambda m: date_rule(m["y"], int(m["m"]), int(m["d"])))),
    ("date", _sub(US_DATE_RE, lambda m: date_rule(m["y"], int(m["m"]), int(m["d"])))),
    ("abbreviation", abbreviations_rule),
    ("acronym", _sub(DOTTED_ACRONYM_RE, dotted, with_text=True)),
    ("date", _sub(MONTH_DAY_RE, month_day)),
    ("date", _sub(DAY_OF_MONTH_RE, day_of_month)),
    ("telephone", _sub(EMERGENCY_RE, lambda m: digits_en(m[1]))),
    ("telephone", _sub(PHONE_RE, phone)),
    ("telephone", extension_rule),
    ("time", _sub(TIME_RANGE_RE, time_range)),
    ("time", _sub(TIME_RE, time_rule)),
    ("time", _sub(HOUR_AMPM_RE, hour_ampm)),
    ("currency", _sub(CENTS_RE, lambda m: f"{words(m['num'])} {'cent' if m['num'] == '1' else 'cents'}")),
    ("currency", _sub(CURRENCY_RE, currency_rule, with_text=True)),
    ("percent", _sub(PERCENT_RE, lambda m: ("minus " if m["neg"] else "") + decimal_words(m["num"])
                     + (f" to {decimal_words(m['num2'])}" if m["num2"] else "") + " percent")),
    ("version", _sub(PRODUCT_VERSION_RE, lambda m: f"{m['p']} " + " point ".join(
        digits_en(p, oh=True) if len(p) > 1 and p[0] == "0" else words(p) for p in m["n"].split(".")))),
    ("version", _sub(VERSION_RE, version_rule)),
    ("acronym", _sub(MIXED_CASE_RE, lambda m: MIXED_CASE[m[1]])),
    ("math", math_rule),
    ("unit", _sub(FEET_INCHES_RE, feet_inches)),
    ("unit", _sub(UNIT_RANGE_RE, unit_range, with_text=True)),
    ("unit", _sub(UNIT_RE, unit_rule, with_text=True)),
    ("roman", _sub(COPYRIGHT_ROMAN_RE, lambda m: m["kw"] + year_words(roman_value(m["r"])))),
    ("roman", _sub(REGNAL_RE, regnal_rule)),
    ("roman", _sub(KEYWORD_ROMAN_RE, keyword_roman)),
    ("roman", _sub(LOWER_ROMAN_RE, lambda m: f"{m['kw']} {words(roman_value(m['r'].upper()))}" if m["r"] else m[0])),
    ("roman", _sub(YEAR_ROMAN_RE, year_roman)),
    ("decade", _sub(DECADE_RE, decade_rule)),
    ("ordinal", _sub(ORDINAL_RE, ordinal_rule)),
    ("alphanumeric", _sub(MODEL_RE, lambda m: f"{m['b']} {pair_reading(m['n'])}")),
    ("alphanumeric", _sub(FLIGHT_RE, lambda m: f"{m['w']} {m['code']} " + (pair_reading(m["n"]) if len(m["n"]) > 2
                                                                             else words(m["n"])))),
    ("alphanumeric", _sub(CHIP_RE, lambda m: f"{m['l'].strip()} {words(m['n'])}")),
    ("alphanumeric", _sub(CODE_RE, code_rule)),
    ("alphanumeric", _sub(NUM_LETTER_RE, num_letter, with_text=True)),
    ("alphanumeric", _sub(LETTER_NUM_RE, letter_num)),
    ("acronym", _sub(ACRONYM_RE, acronym_rule, with_text=True)),
    ("fraction", _sub(MIXED_FRACTION_RE, mixed_fraction)),
    ("range", _sub(DASH_RANGE_RE, range_rule)),
    ("fraction", _sub(FRACTION_RE, fraction_rule)),
    ("year", _sub(YEAR_RE, year_rule, with_text=True)),
    ("decimal", _sub(DECIMAL_RE, lambda m: decimal_words(("-" if m["neg"] else "") + (m["int"] or "") + "." + m["frac"]))),
    ("cardinal", _sub(INT_RE, integer)),
    ("symbol", symbols_rule),
]


def normalize_en(text: str) -> str:
    """Spell out every number-like token, abbreviation, symbol and code in ``text`` (English)."""
    for _, rule in RULES:
        text = rule(text)
    return re.sub(r"[ \t]{2,}", " ", text).strip(" ") if text.strip() else text
