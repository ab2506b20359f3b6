"""Text normalization: turn digits, symbols and abbreviations into the words a speaker would say.

Two languages, one shape: :func:`normalize_en` and :func:`normalize_zh` take a span of text in that
language and return the same span with every number-like token spelled out. Both are pure functions
of their input (no weights, no I/O) and are tested from tables in ``tests/test_normalize.py``.

:func:`clean` runs first on the raw input: it removes characters that cannot be spoken (control
characters, emoji, private-use code points) and reports each one, so nothing is dropped silently.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import cn2an
from num2words import num2words

__all__ = ["Skipped", "describe_skipped", "clean", "normalize_en", "normalize_zh", "is_han"]


# --------------------------------------------------------------------------------------------------
# cleaning
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Skipped:
    """A character removed from the input because it cannot be spoken."""

    position: int
    char: str
    reason: str

    @property
    def codepoint(self) -> str:
        """``U+XXXX`` for a character; a word the G2P could not read is quoted."""
        return f"U+{ord(self.char):04X}" if len(self.char) == 1 else repr(self.char)


def describe_skipped(skipped: list[Skipped], limit: int = 4) -> str:
    """What was removed, grouped by reason: ``'안녕하세요' (Hangul script: no voice speaks it)``."""
    groups: dict[str, str] = {}
    for sk in skipped:
        text = groups.get(sk.reason, "")
        if len(text) < 24:
            groups[sk.reason] = text + (" " if len(sk.char) > 1 and text else "") + sk.char
    parts = [f"{text.strip()!r} ({reason})" for reason, text in list(groups.items())[:limit]]
    more = len(groups) - limit
    return ", ".join(parts) + (f" and {more} more kinds" if more > 0 else "")


_KEEP_CONTROL = {"\n", "\t", "\r"}
# Joiners and variation selectors belong to emoji sequences: drop them with the emoji.
_INVISIBLE = {"\u200d", "\ufe0f", "\ufe0e", "\u200b", "\ufeff"}
# Full-width ASCII (Ｆｕｌｌ ｗｉｄｔｈ １２３) -> ASCII; CJK punctuation is left as it is.
_FULLWIDTH = {c: c - 0xFEE0 for c in range(0xFF10, 0xFF1A)}
_FULLWIDTH.update({c: c - 0xFEE0 for c in range(0xFF21, 0xFF3B)})
_FULLWIDTH.update({c: c - 0xFEE0 for c in range(0xFF41, 0xFF5B)})
_FULLWIDTH.update({0xFF05: ord("%"), 0xFF04: ord("$"), 0xFF0E: ord("."), 0x3000: ord(" ")})


def clean(text: str) -> tuple[str, list[Skipped]]:
    """Remove unspeakable characters; return the cleaned text and what was removed, with positions.

    Removed: control characters (except newline, tab, carriage return), emoji and other pictographic
    symbols (Unicode category So/Sk outside currency and degree signs), private-use, surrogate and
    unassigned code points, zero-width joiners and variation selectors, and letters of scripts no
    voice speaks (Hangul, Cyrillic, Arabic, Devanagari, kana ...: only Latin, Greek and Han are read).
    Digits of any script (१२३, ٣٤٥, 𝟏𝟐𝟑) and other numerals (①, ½, ⁴) become ASCII, so they are read as
    numbers.
    """
    out: list[str] = []
    skipped: list[Skipped] = []
    for i, ch in enumerate(text):
        reason = _skip_reason(ch)
        if reason:
            skipped.append(Skipped(i, ch, reason))
            out.append(" " if reason != "invisible" else "")
        elif ch > "\x7f" and unicodedata.category(ch) in ("Nd", "No"):
            out.append(_ascii_number(ch))
        else:
            out.append(ch)
    return "".join(out).translate(_FULLWIDTH), skipped


def _ascii_number(ch: str) -> str:
    """A non-ASCII digit or numeral in ASCII: ١ -> 1, 𝟏 -> 1, ① -> 1, ⑳ -> 20, ½ -> 1/2, ² -> 2."""
    if unicodedata.category(ch) == "Nd":
        return str(unicodedata.decimal(ch))
    nfkc = unicodedata.normalize("NFKC", ch).replace("\u2044", "/")
    if nfkc.isascii():
        return nfkc
    value = unicodedata.numeric(ch)
    return str(int(value)) if value == int(value) else f"{value:g}"


def _skip_reason(ch: str) -> str | None:
    if ch in _KEEP_CONTROL:
        return None
    if ch in _INVISIBLE:
        return "invisible"
    cat = unicodedata.category(ch)
    if cat in ("Cc", "Cf"):
        return "control character"
    if cat in ("Co", "Cs", "Cn"):
        return "unassigned or private-use code point"
    if cat == "So" and ch not in "°℃℉©®™":
        return "emoji or pictographic symbol"
    if cat[0] in "LM" and ch > "\u024f" and not is_han(ch) and not _SPOKEN_SCRIPT.match(ch):
        return f"{_script(ch)} script: no voice speaks it"
    return None


# Letters outside Latin (up to U+024F) and Han that the G2Ps read: Greek (letter names), IPA and
# phonetic extensions, Latin extended additional (Vietnamese), combining marks, CJK symbols/punctuation
# (〇, 々), full-width forms, letter-like symbols and Roman numerals.
_SPOKEN_SCRIPT = re.compile("[\u0250-\u036f\u0370-\u03ff\u1d00-\u1dff\u1e00-\u1eff\u2070-\u218f"
                            "\u3000-\u303f\uff00-\uffef\U0001d400-\U0001d7ff]")


def _script(ch: str) -> str:
    """The script's name from the character's Unicode name ("HANGUL", "CYRILLIC", ...)."""
    try:
        return unicodedata.name(ch).split()[0].capitalize()
    except ValueError:
        return "an unknown"


def is_han(ch: str) -> bool:
    """True for CJK unified ideographs (the characters Mandarin G2P reads)."""
    o = ord(ch)
    return 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0xF900 <= o <= 0xFAFF


# --------------------------------------------------------------------------------------------------
# English
# --------------------------------------------------------------------------------------------------

_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"]
_MONTH_ABBR = {m[:3].lower(): m for m in _MONTHS} | {"sept": "September"}

# Abbreviations whose expansion does not depend on context. Keys are matched case-sensitively,
# with the trailing period.
_ABBREVIATIONS = {
    "Mr.": "Mister", "Mrs.": "Missus", "Ms.": "Miz", "Dr.": "Doctor", "Prof.": "Professor",
    "Jr.": "Junior", "Sr.": "Senior", "Mt.": "Mount", "Ave.": "Avenue", "Rd.": "Road",
    "Blvd.": "Boulevard", "Capt.": "Captain", "Gen.": "General", "Sgt.": "Sergeant", "Lt.": "Lieutenant",
    "Gov.": "Governor", "Sen.": "Senator", "Rep.": "Representative", "Inc.": "Incorporated",
    "Ltd.": "Limited", "Corp.": "Corporation", "Co.": "Company", "Dept.": "Department",
    "vs.": "versus", "etc.": "et cetera", "e.g.": "for example", "i.e.": "that is",
    "approx.": "approximately", "Fig.": "Figure", "fig.": "figure", "Vol.": "Volume", "Ch.": "Chapter",
}
_ABBR_RE = re.compile(r"(?<![\w.])(" + "|".join(re.escape(k) for k in _ABBREVIATIONS) + r")(?=\s|$|[,;:!?)])")
_ST_RE = re.compile(r"(?<![\w.])St\.(?=\s+[A-Z])")
_NO_RE = re.compile(r"(?<![\w.])No\.(?=\s*\d)")

_CURRENCIES = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "US$": ("dollar", "dollars", "cent", "cents"),
    "€": ("euro", "euros", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "¥": ("yen", "yen", "", ""),
    "₹": ("rupee", "rupees", "paisa", "paise"),
}
_SCALES = "thousand|million|billion|trillion"
_CURRENCY_RE = re.compile(
    r"(?P<neg>-)?(?P<sym>US\$|[$€£¥₹])\s?(?P<num>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<frac>\d+))?"
    r"(?:\s?(?P<scale>" + _SCALES + r"|[kKmMbB]n?)\b)?"
)
_SCALE_ABBR = {"k": "thousand", "m": "million", "b": "billion", "bn": "billion", "mn": "million"}

_UNITS = {
    "km": ("kilometer", "kilometers"), "m": ("meter", "meters"), "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"), "kg": ("kilogram", "kilograms"), "g": ("gram", "grams"),
    "mg": ("milligram", "milligrams"), "lb": ("pound", "pounds"), "lbs": ("pound", "pounds"),
    "oz": ("ounce", "ounces"), "mph": ("mile per hour", "miles per hour"),
    "km/h": ("kilometer per hour", "kilometers per hour"), "kph": ("kilometer per hour", "kilometers per hour"),
    "ml": ("milliliter", "milliliters"), "mL": ("milliliter", "milliliters"), "l": ("liter", "liters"),
    "L": ("liter", "liters"), "ft": ("foot", "feet"), "mi": ("mile", "miles"), "ms": ("millisecond", "milliseconds"),
    "kB": ("kilobyte", "kilobytes"), "KB": ("kilobyte", "kilobytes"), "MB": ("megabyte", "megabytes"),
    "GB": ("gigabyte", "gigabytes"), "TB": ("terabyte", "terabytes"), "Hz": ("hertz", "hertz"),
    "kHz": ("kilohertz", "kilohertz"), "MHz": ("megahertz", "megahertz"), "GHz": ("gigahertz", "gigahertz"),
    "W": ("watt", "watts"), "kW": ("kilowatt", "kilowatts"), "kWh": ("kilowatt hour", "kilowatt hours"),
    "V": ("volt", "volts"), "°C": ("degree Celsius", "degrees Celsius"), "°F": ("degree Fahrenheit", "degrees Fahrenheit"),
    "℃": ("degree Celsius", "degrees Celsius"), "℉": ("degree Fahrenheit", "degrees Fahrenheit"),
    "°": ("degree", "degrees"),
}
_UNIT_RE = re.compile(
    r"(?<![\w.])(?P<num>-?\d+(?:,\d{3})*(?:\.\d+)?)\s?(?P<unit>"
    + "|".join(sorted((re.escape(u) for u in _UNITS), key=len, reverse=True))
    + r")(?![\w/])"
)
_PHONE_RE = re.compile(
    r"(?<![\w])(?:\+(?P<cc>\d{1,3})[\s.-]?)?(?:\((?P<area1>\d{3})\)\s?|(?P<area2>\d{3})[\s.-])(?P<a>\d{3})[\s.-](?P<b>\d{4})(?!\d)"
)
_TIME_RE = re.compile(
    r"(?<![\d:])(?P<h>[01]?\d|2[0-3]):(?P<m>[0-5]\d)(?::(?P<s>[0-5]\d))?(?:\s?(?P<ap>[aApP])\.?\s?[mM](?:\.(?=\s+[a-z]))?(?=\W|$))?"
)
_HOUR_AMPM_RE = re.compile(r"(?<![\w:])(?P<h>1[0-2]|0?[1-9])\s?(?P<ap>[aApP])\.?[mM](?:\.(?=\s+[a-z]))?(?=\W|$)")
_ISO_DATE_RE = re.compile(r"(?<![\d-])(?P<y>\d{4})-(?P<m>0?[1-9]|1[0-2])-(?P<d>0?[1-9]|[12]\d|3[01])(?![\d-])")
_US_DATE_RE = re.compile(r"(?<![\d/])(?P<m>0?[1-9]|1[0-2])/(?P<d>0?[1-9]|[12]\d|3[01])/(?P<y>\d{4})(?![\d/])")
_MONTH_DAY_RE = re.compile(
    r"\b(?P<mon>" + "|".join(_MONTHS) + r"|(?:Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.?)\s+"
    r"(?P<d>[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?\b"
)
_ORDINAL_RE = re.compile(r"(?<![\w.])(?P<n>\d+)(?P<suf>st|nd|rd|th)\b", re.IGNORECASE)
_PERCENT_RE = re.compile(r"(?<![\w.])(?P<num>-?\d+(?:,\d{3})*(?:\.\d+)?)\s?%")
_FRACTION_RE = re.compile(r"(?<![\w./])(?P<a>\d+)/(?P<b>\d+)(?![\w/])")
_YEAR_RE = re.compile(r"(?<![\w.,$€£])(?P<y>1[1-9]\d\d|20\d\d)(?P<s>s)?(?![\w.,]\d|\d)")
_DECIMAL_RE = re.compile(r"(?<![\w.])(?P<neg>-)?(?P<int>\d+(?:,\d{3})*)\.(?P<frac>\d+)(?![\d.])")
_INT_RE = re.compile(r"(?<![\w.])(?P<neg>-(?=\d))?(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?![\d])")
_SYMBOLS_EN = {"&": " and ", "+": " plus ", "=": " equals ", "@": " at ", "#": " number "}


# num2words reads up to 10**27 and overflows past ~10**300; beyond what a listener can follow as one
# number (fifteen digits and more) digits are read one by one, as for codes and IDs.
MAX_SPOKEN_DIGITS = 15


def _words(n: int | str, to: str = "cardinal") -> str:
    """``n`` (an int, or digits with optional commas) in words; very long numbers digit by digit."""
    digits = str(n).replace(",", "").lstrip("-")
    neg = "minus " if str(n).startswith("-") else ""
    if len(digits.lstrip("0")) > MAX_SPOKEN_DIGITS:  # also keeps int() under Python's 4300-digit limit
        return neg + _digits_en(digits)
    return neg + num2words(int(digits), lang="en", to=to).replace("-", " ").replace(",", "")


def _digits_en(s: str) -> str:
    names = "zero one two three four five six seven eight nine".split()
    return " ".join(names[int(c)] for c in s if "0" <= c <= "9")


def _currency_en(m: re.Match[str]) -> str:
    one, many, sub_one, sub_many = _CURRENCIES[m["sym"]]
    num, frac, scale = m["num"].replace(",", ""), m["frac"], m["scale"]
    neg = "minus " if m["neg"] else ""
    if scale:
        scale_word = _SCALE_ABBR.get(scale.lower(), scale.lower())
        amount = f"{num}.{frac}" if frac else num
        return f"{neg}{_decimal_words(amount)} {scale_word} {many}"
    text = f"{neg}{_words(num)} {one if num.lstrip('0') == '1' else many}"
    if frac and sub_one:
        cents = int((frac + "0")[:2])
        if cents:
            text += f" and {_words(cents)} {sub_one if cents == 1 else sub_many}"
    elif frac:
        text = f"{neg}{_decimal_words(f'{num}.{frac}')} {many}"
    return text


def _decimal_words(s: str) -> str:
    s = s.replace(",", "")
    if "." not in s:
        return _words(s)
    whole, frac = s.split(".", 1)
    return f"{_words(whole or 0)} point {_digits_en(frac)}"


def _number_words(s: str) -> str:
    neg = s.startswith("-")
    body = _decimal_words(s.lstrip("-"))
    return ("minus " if neg else "") + body


def _unit_en(m: re.Match[str]) -> str:
    num = m["num"]
    one, many = _UNITS[m["unit"]]
    singular = num.replace(",", "").lstrip("-") in ("1", "1.0")
    return f"{_number_words(num)} {one if singular else many}"


def _time_en(m: re.Match[str]) -> str:
    h, mi = int(m["h"]), int(m["m"])
    ap = m["ap"]
    if mi == 0:
        words = _words(h) + ("" if ap else " o'clock" if h <= 12 else " hundred")
    elif mi < 10:
        words = f"{_words(h)} oh {_words(mi)}"
    else:
        words = f"{_words(h)} {_words(mi)}"
    if m["s"]:
        words += f" and {_words(int(m['s']))} seconds"
    if ap:
        words += " a m" if ap.lower() == "a" else " p m"
    return words


def _date_words(y: int, mo: int, d: int) -> str:
    return f"{_MONTHS[mo - 1]} {_words(d, 'ordinal')}, {_words(y, 'year')}"


def _month_day(m: re.Match[str]) -> str:
    mon = m["mon"].rstrip(".")
    mon = _MONTH_ABBR.get(mon.lower(), mon)
    return f"{mon} {_words(int(m['d']), 'ordinal')}"


def _phone_en(m: re.Match[str]) -> str:
    parts = [m["cc"], m["area1"] or m["area2"], m["a"], m["b"]]
    return ", ".join(_digits_en(p) for p in parts if p)


def _year_en(m: re.Match[str]) -> str:
    y = int(m["y"])
    words = _words(y, "year")
    if m["s"]:  # 1990s -> nineteen nineties
        words = re.sub(r"y$", "ies", words) if words.endswith("y") else words + "s"
    return words


def _fraction_en(m: re.Match[str]) -> str:
    if max(len(m["a"]), len(m["b"])) > MAX_SPOKEN_DIGITS:
        return f"{_words(m['a'])} slash {_words(m['b'])}"
    a, b = int(m["a"]), int(m["b"])
    if b == 0:
        return f"{_words(a)} slash {_words(b)}"
    if b == 2:
        return f"{_words(a)} {'half' if a == 1 else 'halves'}"
    if b == 4:
        return f"{_words(a)} {'quarter' if a == 1 else 'quarters'}"
    den = _words(b, "ordinal")
    return f"{_words(a)} {den if a == 1 else den + 's'}"


def _integer_en(m: re.Match[str]) -> str:
    digits = m["int"].replace(",", "")
    if len(digits) > MAX_SPOKEN_DIGITS or (len(digits) > 1 and digits.startswith("0")):
        return ("minus " if m["neg"] else "") + _digits_en(digits)  # codes, IDs, absurdly long numbers
    return ("minus " if m["neg"] else "") + _words(digits)


def normalize_en(text: str) -> str:
    """Spell out numbers, currency, dates, times, phone numbers, units and abbreviations (English)."""
    t = _ABBR_RE.sub(lambda m: _ABBREVIATIONS[m[1]], text)
    t = _ST_RE.sub("Saint", t)
    t = re.sub(r"(?<=[a-z]\s)St\.", "Street", t)
    t = _NO_RE.sub("number", t)
    t = _ISO_DATE_RE.sub(lambda m: _date_words(int(m["y"]), int(m["m"]), int(m["d"])), t)
    t = _US_DATE_RE.sub(lambda m: _date_words(int(m["y"]), int(m["m"]), int(m["d"])), t)
    t = _PHONE_RE.sub(_phone_en, t)
    t = _TIME_RE.sub(_time_en, t)
    t = _HOUR_AMPM_RE.sub(lambda m: f"{_words(int(m['h']))} {'a m' if m['ap'].lower() == 'a' else 'p m'}", t)
    t = _CURRENCY_RE.sub(_currency_en, t)
    t = _PERCENT_RE.sub(lambda m: f"{_number_words(m['num'])} percent", t)
    t = _MONTH_DAY_RE.sub(_month_day, t)
    t = _UNIT_RE.sub(_unit_en, t)
    t = _ORDINAL_RE.sub(lambda m: _words(m["n"], "ordinal"), t)
    t = _FRACTION_RE.sub(_fraction_en, t)
    t = _YEAR_RE.sub(_year_en, t)
    t = _DECIMAL_RE.sub(lambda m: ("minus " if m["neg"] else "") + _decimal_words(f"{m['int']}.{m['frac']}"), t)
    t = _INT_RE.sub(_integer_en, t)
    for sym, word in _SYMBOLS_EN.items():
        t = t.replace(sym, word)
    return re.sub(r"[ \t]{2,}", " ", t)


# --------------------------------------------------------------------------------------------------
# Mandarin
# --------------------------------------------------------------------------------------------------

_ZH_DIGITS = "零一二三四五六七八九"
_ZH_PHONE_DIGITS = "零幺二三四五六七八九"
_ZH_CURRENCY = {"¥": "元", "￥": "元", "$": "美元", "€": "欧元", "£": "英镑"}
_ZH_UNITS = {
    "km": "公里", "m": "米", "cm": "厘米", "mm": "毫米", "kg": "千克", "g": "克", "mg": "毫克",
    "ml": "毫升", "mL": "毫升", "l": "升", "L": "升", "℃": "摄氏度", "°C": "摄氏度", "°F": "华氏度",
    "km/h": "公里每小时", "kWh": "千瓦时", "kW": "千瓦", "W": "瓦", "GB": "吉字节", "MB": "兆字节",
    "Hz": "赫兹", "°": "度", "s": "秒", "h": "小时", "min": "分钟",
}
# Measure words before which "2" is read 两 (两个, 两张) rather than 二.
_ZH_CLASSIFIERS = "个只张本条件位次名头辆台部把块双对份瓶杯碗篇首页层岁天周年月小点种样家间所门"

_ZH_DATE_RE = re.compile(r"(?P<y>\d{2,4})年(?:(?P<m>\d{1,2})月(?:(?P<d>\d{1,2})[日号])?)?")
_ZH_MD_RE = re.compile(r"(?P<m>\d{1,2})月(?P<d>\d{1,2})[日号]")
_ZH_ISO_RE = re.compile(r"(?<!\d)(?P<y>\d{4})[-/.](?P<m>0?[1-9]|1[0-2])[-/.](?P<d>0?[1-9]|[12]\d|3[01])(?!\d)")
_ZH_TIME_RE = re.compile(r"(?<![\d:])(?P<h>[01]?\d|2[0-3])[:：](?P<m>[0-5]\d)(?:[:：](?P<s>[0-5]\d))?(?!\d)")
_ZH_PHONE_RE = re.compile(r"(?<!\d)(?:\+?86[\s-]?)?(?:1[3-9]\d[\s-]?\d{4}[\s-]?\d{4}|0\d{2,3}-\d{7,8}|400-?\d{3}-?\d{4})(?!\d)")
_ZH_CURRENCY_RE = re.compile(r"(?P<sym>[¥￥$€£])\s?(?P<num>\d+(?:,\d{3})*(?:\.\d+)?)(?:元)?")
_ZH_PERCENT_RE = re.compile(r"(?P<num>-?\d+(?:\.\d+)?)\s?[%％]")
_ZH_PERMILLE_RE = re.compile(r"(?P<num>-?\d+(?:\.\d+)?)‰")
_ZH_RANGE_RE = re.compile(r"(?P<a>\d+(?:\.\d+)?)\s?[-~～至](?P<b>\d+(?:\.\d+)?)(?=\s?[^\d\s.,])")
_ZH_FRACTION_RE = re.compile(r"(?<![\d/])(?P<a>\d+)/(?P<b>\d+)(?![\d/])")
_ZH_UNIT_RE = re.compile(
    r"(?P<num>-?\d+(?:\.\d+)?)\s?(?P<unit>"
    + "|".join(sorted((re.escape(u) for u in _ZH_UNITS), key=len, reverse=True))
    + r")(?![A-Za-z/])"
)
_ZH_NUMBER_RE = re.compile(r"(?P<neg>-)?(?P<num>\d+(?:,\d{3})*(?:\.\d+)?)")


def _zh_digits(s: str, phone: bool = False) -> str:
    table = _ZH_PHONE_DIGITS if phone else _ZH_DIGITS
    return "".join(table[int(c)] for c in s if "0" <= c <= "9")


def _zh_cardinal(s: str) -> str:
    s = s.replace(",", "")
    neg = s.startswith("-")
    s = s.lstrip("-")
    whole, _, frac = s.partition(".")
    # cn2an reads at most 16 digits; longer numbers are read digit by digit
    words = cn2an.an2cn(whole or "0") if len(whole) <= MAX_SPOKEN_DIGITS else _zh_digits(whole)
    if frac:
        words += "点" + _zh_digits(frac)
    return ("负" if neg else "") + words


def _zh_date(m: re.Match[str]) -> str:
    out = f"{_zh_digits(m['y'])}年"
    if m["m"]:
        out += f"{cn2an.an2cn(str(int(m['m'])))}月"
    if m["d"]:
        out += f"{cn2an.an2cn(str(int(m['d'])))}日"
    return out


def _zh_time(m: re.Match[str]) -> str:
    h, mi = int(m["h"]), int(m["m"])
    out = ("两" if h == 2 else cn2an.an2cn(str(h))) + "点"
    if mi == 30 and not m["s"]:
        out += "三十分"
    elif mi:
        out += ("零" if mi < 10 else "") + cn2an.an2cn(str(mi)) + "分"
    else:
        out += "整"
    if m["s"]:
        out += cn2an.an2cn(str(int(m["s"]))) + "秒"
    return out


def _zh_number(m: re.Match[str], text: str) -> str:
    num = m["num"]
    after = text[m.end(): m.end() + 1]
    before = text[m.start() - 1: m.start()] if m.start() else ""
    if num == "2" and after and after in _ZH_CLASSIFIERS and not m["neg"] and before != "第":  # 第二个, not 第两个
        return "两"
    # long digit strings without separators (codes, IDs) are read digit by digit
    if (re.fullmatch(r"0\d+|\d{5,}", num) and "," not in num) or len(num.replace(",", "")) > MAX_SPOKEN_DIGITS:
        return _zh_digits(num)
    return _zh_cardinal(("-" if m["neg"] else "") + num)


def normalize_zh(text: str) -> str:
    """Spell out numbers, dates, times, percentages, currency, phone numbers and units (Mandarin)."""
    t = _ZH_ISO_RE.sub(_zh_date, text)
    t = _ZH_DATE_RE.sub(_zh_date, t)
    t = _ZH_MD_RE.sub(lambda m: f"{cn2an.an2cn(str(int(m['m'])))}月{cn2an.an2cn(str(int(m['d'])))}日", t)
    t = _ZH_PHONE_RE.sub(lambda m: _zh_digits(m[0], phone=True), t)
    t = _ZH_TIME_RE.sub(_zh_time, t)
    t = re.sub(r"(?<!\d)2(?=点)", "两", t)
    t = _ZH_CURRENCY_RE.sub(lambda m: _zh_cardinal(m["num"]) + _ZH_CURRENCY[m["sym"]], t)
    t = _ZH_PERCENT_RE.sub(lambda m: "百分之" + _zh_cardinal(m["num"]), t)
    t = _ZH_PERMILLE_RE.sub(lambda m: "千分之" + _zh_cardinal(m["num"]), t)
    t = _ZH_FRACTION_RE.sub(lambda m: f"{_zh_cardinal(m['b'])}分之{_zh_cardinal(m['a'])}", t)
    t = _ZH_RANGE_RE.sub(lambda m: f"{_zh_cardinal(m['a'])}到{_zh_cardinal(m['b'])}", t)
    t = _ZH_UNIT_RE.sub(lambda m: _zh_cardinal(m["num"]) + _ZH_UNITS[m["unit"]], t)
    t = _ZH_NUMBER_RE.sub(lambda m: _zh_number(m, t), t)
    return t
