"""Dates and times of day."""

from __future__ import annotations

import re

from .abbreviations import MONTH_NAMES
from .words import MONTHS, ordinal_words, words

ISO_DATE_RE = re.compile(r"(?<![\d-])(?P<y>\d{4})-(?P<m>0?[1-9]|1[0-2])-(?P<d>0?[1-9]|[12]\d|3[01])(?![\d-])")
US_DATE_RE = re.compile(r"(?<![\d/])(?P<m>0?[1-9]|1[0-2])/(?P<d>0?[1-9]|[12]\d|3[01])/(?P<y>\d{4}|\d{2})(?![\d/])")
MONTH_DAY_RE = re.compile(r"\b(?P<mon>" + MONTH_NAMES + r")\s+(?P<d>[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?\b"
                           r"(?P<y>,?\s+\d{4}\b)?")
DAY_OF_MONTH_RE = re.compile(r"\b(?P<d>[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?\s+(?P<of>of\s+)?(?P<mon>" + MONTH_NAMES
                              + r")\b(?P<y>,?\s+\d{4}\b)?")


def year_words(y: int | str) -> str:
    return words(y, "year")


def date_rule(y: str | None, mo: int, d: int) -> str:
    text = f"{MONTHS[mo - 1]} {ordinal_words(d)}"
    if y:
        yy = y.strip(" ,")
        text += f", {year_words(yy if len(yy) == 4 else '20' + yy)}"
    return text


def month_day(m: re.Match[str]) -> str:
    return f"{m['mon']} {ordinal_words(int(m['d']))}" + (f", {year_words(m['y'].strip(' ,'))}" if m["y"] else "")


def day_of_month(m: re.Match[str]) -> str:
    year = f", {year_words(m['y'].strip(' ,'))}" if m["y"] else ""
    return f"{ordinal_words(int(m['d']))} of {m['mon']}{year}"


# times
_ZONES = "EST|EDT|CST|CDT|MST|MDT|PST|PDT|AKST|HST|UTC|GMT|BST|CET|CEST|EET|IST|JST|KST|AEST|AEDT|ET|PT|CT|MT"
TIME_RE = re.compile(
    r"(?<![\d:.])(?P<h>[01]?\d|2[0-3]):(?P<m>[0-5]\d)(?::(?P<s>[0-5]\d))?"
    r"(?:\s?(?P<ap>[aApP])\.?\s?[mM]\b(?:\.(?=\s+[a-z]|,|\s(?:" + _ZONES + r")\b))?)?(?P<z>\s(?:" + _ZONES + r")\b)?"
)
HOUR_AMPM_RE = re.compile(r"(?<![\w:.])(?P<h>1[0-2]|0?[1-9])\s?(?P<ap>[aApP])\.?\s?[mM]\b(?:\.(?=\s+[a-z]|,|\s(?:" + _ZONES + r")\b))?(?P<z>\s(?:" + _ZONES + r")\b)?")


def _ampm(ap: str | None) -> str:
    return "" if not ap else " AM" if ap.lower() == "a" else " PM"  # "a m" would be read "uh m"


def _zone(z: str | None) -> str:
    return " " + z.strip() if z else ""  # EST: the G2P spells it as one word


def time_rule(m: re.Match[str]) -> str:
    h, mi = int(m["h"]), int(m["m"])
    ap = m["ap"]
    if mi == 0:
        if ap or 1 <= h <= 12 and not m["s"]:
            text = words(h) + ("" if ap else " o'clock")
        else:
            text = ("zero " if h < 10 and m["h"].startswith("0") and h else "") + words(h) + " hundred"
            if h == 0:
                text = "zero hundred"
    elif mi < 10:
        text = f"{words(h)} oh {words(mi)}"
    else:
        text = f"{words(h)} {words(mi)}"
    if m["s"]:
        text += f" and {words(int(m['s']))} seconds"
    return text + _ampm(ap) + _zone(m["z"])


TIME_RANGE_RE = re.compile(r"(?<=\d)(?P<ap>\s?[aApP]\.?[mM]\b\.?)?\s?[-–—]\s?(?=\d{1,2}(?::\d\d)?\s?[aApP]\.?[mM]\b)")


def time_range(m: re.Match[str]) -> str:
    return (m["ap"] or "") + " to "


def hour_ampm(m: re.Match[str]) -> str:
    return words(int(m["h"])) + _ampm(m["ap"]) + _zone(m["z"])


# ranges and scores: "5-7", "5–7 pm", "1990-1995", "3-1"; a minus needs spaces on both sides
