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

import functools
import gzip
import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from num2words import num2words

__all__ = ["normalize_en", "ABBREVIATIONS", "NEVER_ENDS_SENTENCE", "MAY_END_SENTENCE", "MAX_SPOKEN_DIGITS"]

# Beyond what a listener can follow as one number (sixteen digits and more) digits are read one by one,
# as for codes and IDs (num2words also overflows past ~10**300, int() past 4300 digits).
MAX_SPOKEN_DIGITS = 15

_DIGIT_NAMES = "zero one two three four five six seven eight nine".split()
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"]
_MONTH_ABBR = {m[:3]: m for m in _MONTHS} | {"Sept": "September"}
_DAYS = {"Mon": "Monday", "Tue": "Tuesday", "Tues": "Tuesday", "Wed": "Wednesday", "Thu": "Thursday",
         "Thur": "Thursday", "Thurs": "Thursday", "Fri": "Friday", "Sat": "Saturday", "Sun": "Sunday"}


# --------------------------------------------------------------------------------------------------
# number words
# --------------------------------------------------------------------------------------------------


def words(n: int | str, to: str = "cardinal") -> str:
    """``n`` (an int, or digits with optional commas and sign) in words; very long numbers digit by digit."""
    s = str(n).replace(",", "")
    neg = "minus " if s.startswith("-") else ""
    digits = s.lstrip("-")
    if len(digits.lstrip("0")) > MAX_SPOKEN_DIGITS:
        return neg + digits_en(digits)
    return neg + num2words(int(digits), lang="en", to=to).replace("-", " ").replace(",", "")


def digits_en(s: str, oh: bool = False) -> str:
    """Digits one by one ("0" as "oh" when ``oh``)."""
    names = ["oh", *_DIGIT_NAMES[1:]] if oh else _DIGIT_NAMES
    return " ".join(names[int(c)] for c in s if "0" <= c <= "9")


def decimal_words(s: str) -> str:
    """"3.14" -> three point one four; "-0.5" -> minus zero point five; ".75" -> point seven five."""
    s = s.replace(",", "")
    neg = "minus " if s.startswith("-") else ""
    s = s.lstrip("-")
    if "." not in s:
        return neg + words(s)
    whole, frac = s.split(".", 1)
    head = f"{words(whole)} " if whole else ""
    return f"{neg}{head}point {digits_en(frac)}"


def _pair_reading(s: str) -> str:
    """A 3- or 4-digit label read in pairs, as house and model numbers are: 221 -> two twenty one,
    405 -> four oh five, 100 -> one hundred, 1080 -> ten eighty."""
    head, tail = s[:-2], s[-2:]
    if tail == "00":
        return words(s) if len(s) == 3 else f"{words(head)} hundred"
    rest = f"oh {_DIGIT_NAMES[int(tail[1])]}" if tail[0] == "0" else words(tail)
    return f"{words(head)} {rest}"


def _ordinal(n: int | str) -> str:
    return words(n, "ordinal")


def _plural_ordinal(n: int) -> str:
    word = _ordinal(n)
    return word[:-1] + "ves" if word.endswith("half") else word + "s"


# --------------------------------------------------------------------------------------------------
# abbreviations
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Abbreviation:
    expansion: str
    may_end: bool  # can end a sentence ("... Apple Inc. The company ..."); titles and months cannot


def _abbr(table: dict[str, str], may_end: bool) -> dict[str, Abbreviation]:
    return {k: Abbreviation(v, may_end) for k, v in table.items()}


# Keys are written without the final period and matched case-sensitively.
ABBREVIATIONS: dict[str, Abbreviation] = {
    **_abbr({"Mr": "Mister", "Mrs": "Missus", "Ms": "Miz", "Dr": "Doctor", "Prof": "Professor",
             "Capt": "Captain", "Gen": "General", "Sgt": "Sergeant", "Lt": "Lieutenant", "Col": "Colonel",
             "Cmdr": "Commander", "Adm": "Admiral", "Maj": "Major", "Cpl": "Corporal", "Pvt": "Private",
             "Brig": "Brigadier", "Insp": "Inspector", "Det": "Detective",
             "Attn": "Attention", "Messrs": "Messieurs", "Mme": "Madame",
             "Mlle": "Mademoiselle", "Div": "Division", "Inf": "Infantry", "Regt": "Regiment", "Msgr": "Monsignor", "Atty": "Attorney", "Asst": "Assistant", "Gov": "Governor", "Sen": "Senator", "Rep": "Representative",
             "Pres": "President", "Rev": "Reverend", "Hon": "Honorable", "Fr": "Father", "Supt": "Superintendent",
             "Mt": "Mount", "Ft": "Fort", "Pt": "Point", "vs": "versus", "v": "versus", "e.g": "for example",
             "i.e": "that is", "approx": "approximately", "Fig": "Figure", "fig": "figure", "Figs": "Figures",
             "Vol": "Volume", "vol": "volume", "Ch": "Chapter", "ch": "chapter", "Sec": "Section",
             "sec": "section", "No": "number", "Nos": "numbers", "no": "number", "pp": "pages", "p": "page",
             "Eq": "Equation", "eq": "equation", "ext": "extension", "Ext": "extension", "Apt": "Apartment",
             "Ste": "Suite", "Bldg": "Building", "Rm": "Room", "Dept": "Department", "dept": "department",
             "est": "established", "Est": "Established", "cf": "compare", "ca": "circa", "c": "circa",
             "Gr": "Grade", "Univ": "University", "Assn": "Association", "Intl": "International",
             "Natl": "National", "Mtn": "Mountain", "Hwy": "Highway", "Pl": "Place", "Sq": "Square",
             "Ln": "Lane", "Ct": "Court", "St": "Saint", "Dr.": "Drive"} | _MONTH_ABBR | _DAYS, may_end=False),
    **_abbr({"Inc": "Incorporated", "Ltd": "Limited", "Corp": "Corporation", "Co": "Company",
             "Bros": "Brothers", "Jr": "Junior", "Sr": "Senior", "etc": "et cetera", "Ave": "Avenue",
             "Rd": "Road", "Blvd": "Boulevard", "a.m": "AM", "p.m": "PM",
             "Ph.D": "P h D",
             "B.A": "B A", "M.A": "M A", "B.Sc": "B S c", "M.D": "M D", "a.k.a": "also known as",
             "A.D": "A D", "B.C": "B C", "hrs": "hours", "mins": "minutes", "yrs": "years",
             "oz": "ounces", "lbs": "pounds", "ft": "feet", "in": "inches", "min": "minutes", "Ave.": "Avenue", "Pkwy": "Parkway",
             "Hts": "Heights", "Twp": "Township", "Cty": "County", "Esq": "Esquire", "Mfg": "Manufacturing",
             "Intl.": "International", "Gov't": "Government", "Int'l": "International"}, may_end=True),
}
for _key in ("Dr.", "Ave.", "Intl."):
    ABBREVIATIONS.pop(_key)  # "Dr." (Drive) is handled in context below; kept out of the table
_CONTEXT_FREE = {k: v for k, v in ABBREVIATIONS.items()
                 if k not in ("St", "No", "no", "p", "c", "v", "in", "min", "ft", "oz", "lbs", "Dr", "Sun", "Sat",
                              "Wed", "Mar", "May", "Jun", "Jul", "Aug", "Jan", "Feb", "Apr", "Sep", "Sept",
                              "Oct", "Nov", "Dec", "a.m", "p.m", "Mon", "Tue", "Tues", "Thu", "Thur", "Thurs", "Fri", "Col",
                              "Pt", "Fr", "Gr", "Pl", "Ln", "Ct", "Sq", "Sec", "sec", "est", "Est", "ext", "Ext",
                              "pp", "ca", "hrs", "mins", "yrs", "Rm", "Ch", "ch", "Eq", "eq", "Gen")}
NEVER_ENDS_SENTENCE = frozenset(k for k, v in ABBREVIATIONS.items() if not v.may_end)
MAY_END_SENTENCE = frozenset(k for k, v in ABBREVIATIONS.items() if v.may_end)


def _abbr_re(keys: list[str]) -> re.Pattern[str]:
    alts = "|".join(re.escape(k) for k in sorted(keys, key=len, reverse=True))
    return re.compile(r"(?<![\w.])(" + alts + r")\.(?=\s|$|[,;:!?)\]\"”’'])")


_ABBR_RE = _abbr_re(list(_CONTEXT_FREE))
_MONTH_NAMES = "|".join(_MONTHS)
_MONTH_ABBR_ALT = "|".join(sorted(_MONTH_ABBR, key=len, reverse=True))


def _expand(m: re.Match[str], text: str) -> str:
    """An abbreviation's expansion; its period stays where it also ends the sentence ("... Inc. The")."""
    abbr = _CONTEXT_FREE[m[1]]
    ends = abbr.may_end and re.match(r"\s*$|\s+[A-Z\"“]", text[m.end():m.end() + 3] or "")
    return abbr.expansion + ("." if ends else "")


_WEEKDAYS = "|".join(sorted((d for d in _DAYS if d not in ("Sat", "Sun")), key=len, reverse=True))
# "Mon., Jan. 5", "Tue. 3 May", "Mon. and Tue."; Sat. and Sun. only before a date or another day
_DAY_RE = re.compile(r"(?<![\w.])(" + _WEEKDAYS + r")\.(?=,|\s|$)"
                     r"|(?<![\w.])(Sat|Sun)\.(?=,|\s+(?:\d|" + "|".join(_MONTH_ABBR) + r"|and\s+(?:Sat|Sun)\b))")


def _abbreviations(t: str) -> str:
    t = _ABBR_RE.sub(lambda m: _expand(m, t), t)
    # months and days: only where a date follows or they stand in a date ("Feb. 3", "Mon., Jan. 5")
    t = re.sub(r"(?<![\w.])(" + _MONTH_ABBR_ALT + r")\.?(?=\s+\d|\s+of\b|,?\s+\d{4})",
               lambda m: _MONTH_ABBR[m[1]], t)
    t = _DAY_RE.sub(lambda m: _DAYS[m[1] or m[2]], t)
    t = re.sub(r"(?<![\w.])(" + _MONTH_ABBR_ALT + r")\.(?=\s)", lambda m: _MONTH_ABBR[m[1]], t)
    t = re.sub(r"(?<![\w.])St\.(?=\s+[A-Z])", "Saint", t)  # St. Louis; "Main St." -> Street
    t = re.sub(r"(?<=[A-Za-z]\s)St\.", "Street", t)
    t = re.sub(r"(?<![\w.])St\.", "Saint", t)
    t = re.sub(r"(?<=[a-z]\s)Dr\.(?=$|[,;:.!?]|\s+[a-z])", "Drive", t)  # "Elm Dr." at the end
    t = re.sub(r"(?<![\w.])Dr\.", "Doctor", t)
    t = re.sub(r"(?<![\w.])[Nn]o\.(?=\s*\d)", "number", t)
    t = re.sub(r"(?<![\w.])Nos\.(?=\s*\d)", "numbers", t)
    t = re.sub(r"(?<![\w.])pp\.(?=\s*\d)", "pages", t)
    t = re.sub(r"(?<![\w.])p\.(?=\s*\d)", "page", t)
    t = re.sub(r"(?<![\w.])(Ch|ch|Sec|sec|Eq|eq|Rm|Gr)\.(?=\s*\d)", lambda m: ABBREVIATIONS[m[1]].expansion, t)
    t = re.sub(r"(?<![\w.])(?:c|ca)\.(?=\s*\d)", "circa", t)
    t = re.sub(r"(?<![\w.])(?:est|Est)\.(?=\s*\d)", lambda m: ABBREVIATIONS[m[0][:-1]].expansion, t)
    t = re.sub(r"(?<=\d)\s?(hrs|mins|yrs|lbs|oz|ft|min)\.(?=\s|$)", lambda m: " " + ABBREVIATIONS[m[1]].expansion, t)
    t = re.sub(r"(?<![\w.])(Col|Gen|Pt|Fr|Pl|Ln|Ct|Sq)\.(?=\s+[A-Z])", lambda m: ABBREVIATIONS[m[1]].expansion, t)
    t = re.sub(r"(?<![\w.])v\.(?=\s+[A-Z])", "versus", t)
    return t


# --------------------------------------------------------------------------------------------------
# rules, in the order they run
# --------------------------------------------------------------------------------------------------

_TLDS = ("com|org|net|edu|gov|io|ai|dev|app|co|uk|us|de|fr|cn|jp|info|biz|me|tv|ly|gg|so|xyz|tech|cloud|"
         "online|site|store|shop|blog|news|int|mil|eu|ca|au|in|nl|se|ch|es|it|ru|br|mx|nz|ie|be|at")
_EMAIL_RE = re.compile(r"(?<![\w.+-])([\w.+-]+)@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
_URL_RE = re.compile(r"(?<![\w@./])(?:(https?|ftp)://)?((?:[A-Za-z0-9-]+\.)+(?:" + _TLDS + r"))\b"
                     r"((?:/[\w\-.~%]*)*(?:\?[\w\-.=&%]*)?)(?![\w@])")
_URL_SYMBOLS = {".": " dot ", "/": " slash ", "-": " dash ", "_": " underscore ", "@": " at ", "?": " question mark ",
                "=": " equals ", "&": " and ", "+": " plus ", "~": " tilde ", ":": " colon ", "%": " percent "}


def _spell_address(s: str) -> str:
    out = []
    for tok in re.findall(r"[A-Za-z]+|\d+|.", s):
        if tok.isdigit():
            out.append(digits_en(tok) if len(tok) > 2 else words(tok))
        elif tok.isalpha():
            out.append(" ".join(tok) if tok.isupper() and len(tok) <= 4 and tok.lower() not in ("www",) else tok)
        else:
            out.append(_URL_SYMBOLS.get(tok, " "))
    text = " ".join("".join(out).split())
    return re.sub(r"\bwww\b", "w w w", text)


def _email(m: re.Match[str]) -> str:
    return f"{_spell_address(m[1])} at {_spell_address(_spell_tld(m[2]))}"


def _spell_tld(host: str) -> str:
    """Country-code top-level domains are spelled (co dot U K); co, me, io-like words are not."""
    head, _, tld = host.rpartition(".")
    if len(tld) == 2 and tld.lower() not in ("co", "me", "so", "go", "to", "tv", "io", "ai", "us"):
        return f"{head}.{tld.upper()}"
    if tld.lower() in ("tv", "io", "ai", "us"):
        return f"{head}.{tld.upper()}"
    return host


def _url(m: re.Match[str]) -> str:
    scheme, host, path = m[1], m[2], m[3] or ""
    if not scheme and not path and host.count(".") == 1 and host.split(".")[0].lower() in _NOT_HOSTS:
        return m[0]
    path = path.rstrip("/") if path not in ("/",) else ""
    return _spell_address(_spell_tld(host) + path)


_NOT_HOSTS = {"e", "i", "a", "p", "etc"}

# telephone numbers: groups of digits joined by spaces, dots or dashes, or an area code in parentheses
_PHONE_RE = re.compile(
    r"(?<![\w.+-])(?P<plus>\+)?(?P<cc>\d{1,3}[\s.-])?(?:\((?P<area1>\d{2,4})\)\s?|(?P<area2>\d{3})[\s.-])"
    r"(?P<a>\d{3})[\s.-](?P<b>\d{4})(?![\w-])"
    r"|(?<![\w.+-])\+(?P<icc>\d{1,3})(?P<igroups>(?:[\s.-]\d{1,8}){1,5})(?![\w-])"
    r"|(?<![\w.+-])(?P<nat>0\d{1,4}(?:[\s-]\d{2,8}){1,3})(?![\w-])"
    r"|(?<![\w.+/-])(?P<l1>\d{3})-(?P<l2>\d{4})(?![\w-])"
)
_EMERGENCY_RE = re.compile(r"(?<=\b(?:call|dial|Call|Dial|ring|Ring)\s)(911|999|112|000|411|311)\b")


def _phone_group(g: str, first: bool) -> str:
    if first and len(g) == 3 and g[1:] == "00" and g[0] in "89":
        return words(g)  # toll-free: eight hundred, nine hundred
    return digits_en(g, oh=True)


def _phone(m: re.Match[str]) -> str:
    if m["l1"]:
        return f"{digits_en(m['l1'], oh=True)}, {digits_en(m['l2'], oh=True)}"
    if m["nat"]:
        return ", ".join(digits_en(g, oh=True) for g in re.findall(r"\d+", m["nat"]))
    if m["icc"]:
        groups = re.findall(r"\d+", m["igroups"])
        return ", ".join([f"plus {digits_en(m['icc'], oh=True)}"] + [digits_en(g, oh=True) for g in groups])
    parts = []
    if m["cc"]:
        cc = m["cc"].strip(" .-")
        parts.append(("plus " if m["plus"] else "") + digits_en(cc, oh=True))
    area = m["area1"] or m["area2"]
    parts.append(_phone_group(area, first=True))
    parts += [digits_en(m["a"], oh=True), digits_en(m["b"], oh=True)]
    return ", ".join(parts)


_AFTER_PHONE_EXT_RE = re.compile(r"\b(?P<prev>oh|one|two|three|four|five|six|seven|eight|nine|zero|hundred)"
                                 r"(?:,\s*|\s+)(?:ext\.?|x|extension)\s?(?P<n>\d{1,6})\b", re.IGNORECASE)


_EXT_WORD_RE = re.compile(r"\b(?P<w>extension|Extension|ext\.|Ext\.)\s?(?P<n>\d{1,6})\b")
_SHORT_CODE_RE = re.compile(r"\b(?P<head>(?:[Tt]ext|SMS|sms)\b[^.!?\d]{0,40}?\bto )(?P<n>\d{4,6})\b")


def _extension(t: str) -> str:
    # only right after a telephone number has been spelled ("... oh one nine nine, ext. 204")
    t = _AFTER_PHONE_EXT_RE.sub(lambda m: f"{m['prev']}, extension {digits_en(m['n'], oh=True)}", t)
    t = _EXT_WORD_RE.sub(lambda m: f"extension {digits_en(m['n'], oh=True)}", t)
    return _SHORT_CODE_RE.sub(lambda m: m["head"] + digits_en(m["n"]), t)


# dates
_ISO_DATE_RE = re.compile(r"(?<![\d-])(?P<y>\d{4})-(?P<m>0?[1-9]|1[0-2])-(?P<d>0?[1-9]|[12]\d|3[01])(?![\d-])")
_US_DATE_RE = re.compile(r"(?<![\d/])(?P<m>0?[1-9]|1[0-2])/(?P<d>0?[1-9]|[12]\d|3[01])/(?P<y>\d{4}|\d{2})(?![\d/])")
_MONTH_DAY_RE = re.compile(r"\b(?P<mon>" + _MONTH_NAMES + r")\s+(?P<d>[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?\b"
                           r"(?P<y>,?\s+\d{4}\b)?")
_DAY_OF_MONTH_RE = re.compile(r"\b(?P<d>[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?\s+(?P<of>of\s+)?(?P<mon>" + _MONTH_NAMES
                              + r")\b(?P<y>,?\s+\d{4}\b)?")


def _year_words(y: int | str) -> str:
    return words(y, "year")


def _date(y: str | None, mo: int, d: int) -> str:
    text = f"{_MONTHS[mo - 1]} {_ordinal(d)}"
    if y:
        yy = y.strip(" ,")
        text += f", {_year_words(yy if len(yy) == 4 else '20' + yy)}"
    return text


def _month_day(m: re.Match[str]) -> str:
    return f"{m['mon']} {_ordinal(int(m['d']))}" + (f", {_year_words(m['y'].strip(' ,'))}" if m["y"] else "")


def _day_of_month(m: re.Match[str]) -> str:
    year = f", {_year_words(m['y'].strip(' ,'))}" if m["y"] else ""
    return f"{_ordinal(int(m['d']))} of {m['mon']}{year}"


# times
_ZONES = "EST|EDT|CST|CDT|MST|MDT|PST|PDT|AKST|HST|UTC|GMT|BST|CET|CEST|EET|IST|JST|KST|AEST|AEDT|ET|PT|CT|MT"
_TIME_RE = re.compile(
    r"(?<![\d:.])(?P<h>[01]?\d|2[0-3]):(?P<m>[0-5]\d)(?::(?P<s>[0-5]\d))?"
    r"(?:\s?(?P<ap>[aApP])\.?\s?[mM]\b(?:\.(?=\s+[a-z]|,|\s(?:" + _ZONES + r")\b))?)?(?P<z>\s(?:" + _ZONES + r")\b)?"
)
_HOUR_AMPM_RE = re.compile(r"(?<![\w:.])(?P<h>1[0-2]|0?[1-9])\s?(?P<ap>[aApP])\.?\s?[mM]\b(?:\.(?=\s+[a-z]|,|\s(?:" + _ZONES + r")\b))?(?P<z>\s(?:" + _ZONES + r")\b)?")


def _ampm(ap: str | None) -> str:
    return "" if not ap else " AM" if ap.lower() == "a" else " PM"  # "a m" would be read "uh m"


def _zone(z: str | None) -> str:
    return " " + z.strip() if z else ""  # EST: the G2P spells it as one word


def _time(m: re.Match[str]) -> str:
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


_TIME_RANGE_RE = re.compile(r"(?<=\d)(?P<ap>\s?[aApP]\.?[mM]\b\.?)?\s?[-–—]\s?(?=\d{1,2}(?::\d\d)?\s?[aApP]\.?[mM]\b)")


def _time_range(m: re.Match[str]) -> str:
    return (m["ap"] or "") + " to "


def _hour_ampm(m: re.Match[str]) -> str:
    return words(int(m["h"])) + _ampm(m["ap"]) + _zone(m["z"])


# ranges and scores: "5-7", "5–7 pm", "1990-1995", "3-1"; a minus needs spaces on both sides
_RANGE_RE = re.compile(r"(?<![\w.,/:-])(?P<a>\d+(?:\.\d+)?)\s?(?:–|—|-(?!\s)|\s–\s|\sto\s)\s?(?P<b>\d+(?:\.\d+)?)(?![\w/:-]|\.\d|,\d)")
_DASH_RANGE_RE = re.compile(r"(?<![\w.,/:-])(?P<a>\d+(?:\.\d+)?)(?:\s?[–—]\s?|-)(?P<b>\d+(?:\.\d+)?)(?![\w/:-]|\.\d|,\d)")


def _is_year(s: str) -> bool:
    return len(s) == 4 and 1100 <= int(s) <= 2099


def _range(m: re.Match[str]) -> str:
    a, b = m["a"], m["b"]
    if _is_year(a) and (_is_year(b) or len(b) == 2):
        return f"{_year_words(a)} to {_year_words(b) if len(b) == 4 else words(b)}"
    return f"{decimal_words(a)} to {decimal_words(b)}"


# currency
_CURRENCIES = {
    "$": ("dollar", "dollars", "cent", "cents"), "US$": ("U S dollar", "U S dollars", "cent", "cents"),
    "A$": ("Australian dollar", "Australian dollars", "cent", "cents"),
    "C$": ("Canadian dollar", "Canadian dollars", "cent", "cents"),
    "€": ("euro", "euros", "cent", "cents"), "£": ("pound", "pounds", "penny", "pence"),
    "¥": ("yen", "yen", "", ""), "₹": ("rupee", "rupees", "paisa", "paise"), "₩": ("won", "won", "", ""),
    "₽": ("ruble", "rubles", "kopek", "kopeks"), "₿": ("bitcoin", "bitcoins", "", ""),
    "CHF": ("Swiss franc", "Swiss francs", "centime", "centimes"),
}
_SCALES = "thousand|million|billion|trillion"
_SCALE_ABBR = {"k": "thousand", "K": "thousand", "m": "million", "M": "million", "mm": "million",
               "mn": "million", "b": "billion", "B": "billion", "bn": "billion", "Bn": "billion",
               "t": "trillion", "T": "trillion", "tn": "trillion"}
_NUM = r"\d{1,3}(?:,\d{3})+|\d+"
_CURRENCY_RE = re.compile(
    r"(?P<neg>-)?(?P<sym>US\$|A\$|C\$|[$€£¥₹₩₽₿])\s?(?P<num>" + _NUM + r")?(?:\.(?P<frac>\d+))?"
    r"(?:\s?(?:-|–|to)\s?(?P=sym)?(?P<num2>" + _NUM + r")(?:\.(?P<frac2>\d+))?)?"
    r"(?:\s?(?P<scale>" + _SCALES + r")\b|(?P<sabbr>[kKmMbBtT]n?|mm|Bn)\b)?"
)
_CENTS_RE = re.compile(r"(?<![\w.])(?P<num>\d+)\s?¢")


def _amount(num: str, frac: str | None, names: tuple[str, str, str, str], scale: str | None) -> str:
    one, many, sub_one, sub_many = names
    num = num.replace(",", "")
    if scale:
        return f"{decimal_words(f'{num}.{frac}' if frac else num)} {scale} {many}"
    cents = int((frac + "0")[:2]) if frac and sub_one and len(frac) <= 2 else None
    if frac and cents is None:  # ¥1.5, or more than two decimals: read the decimal
        return f"{decimal_words(f'{num}.{frac}')} {many}"
    if num.lstrip("0") == "" and cents:
        return f"{words(cents)} {sub_one if cents == 1 else sub_many}"
    text = f"{words(num)} {one if num.lstrip('0') == '1' else many}"
    if cents:
        text += f" and {words(cents)} {sub_one if cents == 1 else sub_many}"
    return text


_ARTICLE_BEFORE = re.compile(r"(?:^|\s)(?:a|an|A|An)\s$")
_NOUN_AFTER = re.compile(r"\s+(?!and\b|or\b|to\b|in\b|on\b|of\b|per\b|for\b|a\b|an\b|the\b|is\b|was\b|are\b|at\b)[a-z]{3,}")


def _adjectival(m: re.Match[str], text: str) -> bool:
    """True for an amount used before a noun after "a"/"an": "a $5 million grant", "a 5 MB file"."""
    return bool(_ARTICLE_BEFORE.search(text[max(0, m.start() - 4):m.start()])) and bool(_NOUN_AFTER.match(text, m.end()))


def _currency(m: re.Match[str], text: str = "") -> str:
    if m["num"] is None and m["frac"] is None:
        return m[0]
    names = _CURRENCIES[m["sym"]]
    if _adjectival(m, text):
        names = (names[0], names[0], names[2], names[3])
    neg = "minus " if m["neg"] else ""
    scale = m["scale"] or (_SCALE_ABBR.get(m["sabbr"]) if m["sabbr"] else None)
    num = m["num"] or "0"
    if m["num2"]:
        low = decimal_words(f"{num}.{m['frac']}" if m["frac"] else num)
        return f"{neg}{low} to {_amount(m['num2'], m['frac2'], names, scale)}"
    return neg + _amount(num, m["frac"], names, scale)


# percentages and units
_PERCENT_RE = re.compile(r"(?<![\w.])(?P<neg>-)?(?P<num>\d+(?:,\d{3})*(?:\.\d+)?|\.\d+)\s?(?:(?:-|–|to)\s?"
                         r"(?P<num2>\d+(?:\.\d+)?)\s?)?%")
_UNITS = {
    "km": ("kilometer", "kilometers"), "m": ("meter", "meters"), "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"), "nm": ("nanometer", "nanometers"), "µm": ("micrometer", "micrometers"),
    "kg": ("kilogram", "kilograms"), "g": ("gram", "grams"), "mg": ("milligram", "milligrams"),
    "µg": ("microgram", "micrograms"), "mcg": ("microgram", "micrograms"), "t": ("tonne", "tonnes"),
    "lb": ("pound", "pounds"), "lbs": ("pounds", "pounds"), "oz": ("ounce", "ounces"),
    "mph": ("mile per hour", "miles per hour"), "km/h": ("kilometer per hour", "kilometers per hour"),
    "kph": ("kilometer per hour", "kilometers per hour"), "m/s": ("meter per second", "meters per second"),
    "ml": ("milliliter", "milliliters"), "mL": ("milliliter", "milliliters"), "l": ("liter", "liters"),
    "L": ("liter", "liters"), "cl": ("centiliter", "centiliters"), "dl": ("deciliter", "deciliters"),
    "gal": ("gallon", "gallons"), "ft": ("foot", "feet"), "yd": ("yard", "yards"), "mi": ("mile", "miles"),
    "in": ("inch", "inches"), "ms": ("millisecond", "milliseconds"), "µs": ("microsecond", "microseconds"),
    "ns": ("nanosecond", "nanoseconds"), "s": ("second", "seconds"), "sec": ("second", "seconds"),
    "min": ("minute", "minutes"), "h": ("hour", "hours"), "hr": ("hour", "hours"), "hrs": ("hour", "hours"),
    "kB": ("kilobyte", "kilobytes"), "KB": ("kilobyte", "kilobytes"), "MB": ("megabyte", "megabytes"),
    "GB": ("gigabyte", "gigabytes"), "TB": ("terabyte", "terabytes"), "PB": ("petabyte", "petabytes"),
    "Kb": ("kilobit", "kilobits"), "Mb": ("megabit", "megabits"), "Gb": ("gigabit", "gigabits"),
    "kbps": ("kilobit per second", "kilobits per second"), "Mbps": ("megabit per second", "megabits per second"),
    "Gbps": ("gigabit per second", "gigabits per second"), "MB/s": ("megabyte per second", "megabytes per second"),
    "GB/s": ("gigabyte per second", "gigabytes per second"),
    "Hz": ("hertz", "hertz"), "kHz": ("kilohertz", "kilohertz"), "MHz": ("megahertz", "megahertz"),
    "GHz": ("gigahertz", "gigahertz"), "W": ("watt", "watts"), "kW": ("kilowatt", "kilowatts"),
    "MW": ("megawatt", "megawatts"), "GW": ("gigawatt", "gigawatts"), "mW": ("milliwatt", "milliwatts"),
    "Wh": ("watt hour", "watt hours"), "kWh": ("kilowatt hour", "kilowatt hours"),
    "MWh": ("megawatt hour", "megawatt hours"), "GWh": ("gigawatt hour", "gigawatt hours"),
    "mAh": ("milliamp hour", "milliamp hours"), "V": ("volt", "volts"), "kV": ("kilovolt", "kilovolts"),
    "mV": ("millivolt", "millivolts"), "A": ("amp", "amps"), "mA": ("milliamp", "milliamps"),
    "J": ("joule", "joules"), "kJ": ("kilojoule", "kilojoules"), "cal": ("calorie", "calories"),
    "kcal": ("kilocalorie", "kilocalories"), "Pa": ("pascal", "pascals"), "kPa": ("kilopascal", "kilopascals"),
    "psi": ("psi", "psi"), "dB": ("decibel", "decibels"), "rpm": ("RPM", "RPM"),
    "°C": ("degree Celsius", "degrees Celsius"), "°F": ("degree Fahrenheit", "degrees Fahrenheit"),
    "℃": ("degree Celsius", "degrees Celsius"), "℉": ("degree Fahrenheit", "degrees Fahrenheit"),
    "K": ("kelvin", "kelvin"), "°": ("degree", "degrees"), "sq ft": ("square foot", "square feet"),
    "sq m": ("square meter", "square meters"), "m^2": ("square meter", "square meters"),
    "km^2": ("square kilometer", "square kilometers"), "cm^2": ("square centimeter", "square centimeters"),
    "ft^2": ("square foot", "square feet"),
    "m/s^2": ("meter per second squared", "meters per second squared"), "m^3": ("cubic meter", "cubic meters"),
    "cm^3": ("cubic centimeter", "cubic centimeters"), "cc": ("c c", "c c"), "x": ("times", "times"),
    "kt": ("knot", "knots"), "kn": ("knot", "knots"), "ppm": ("part per million", "parts per million"),
    "mmHg": ("millimeter of mercury", "millimeters of mercury"), "lux": ("lux", "lux"),
}
_UNIT_SPACED_ONLY = {"A", "K", "t", "s", "h", "in", "x", "l", "m"}  # "5 A" amps, but "5A" is a label
_UNIT_ALT = "|".join(sorted((re.escape(u) for u in _UNITS), key=len, reverse=True))
_UNIT_RE = re.compile(r"(?<![\w.,])(?P<neg>-)?(?P<num>\d+(?:,\d{3})*(?:\.\d+)?|\.\d+)(?P<sp>\s?)(?P<unit>"
                      + _UNIT_ALT + r")(?![\w/^°])")
_UNIT_RANGE_RE = re.compile(r"(?<![\w.,])(?P<a>\d+(?:\.\d+)?)\s?(?:-|–|to)\s?(?P<b>\d+(?:\.\d+)?)(?P<sp>\s?)(?P<unit>"
                            + _UNIT_ALT + r")(?![\w/^°])")
# the word before a bare "in"/"A"/"s"/"m" decides whether it is a unit ("5 in" inches vs "5 in the box")
_AMBIGUOUS_AFTER = re.compile(r"\s*(?:[a-z]|the\b|a\b|an\b|\d)")


_FEET_INCHES_RE = re.compile(r"(?<![\w.])(?P<f>\d+)\s?(?:ft\.?|'|′|feet|foot)\s?(?P<i>\d+)\s?(?:in\.?|\"|″|inches)(?![\w])")


def _feet_inches(m: re.Match[str]) -> str:
    feet = "foot" if m["f"] == "1" else "feet"
    inches = "inch" if m["i"] == "1" else "inches"
    return f"{words(m['f'])} {feet} {words(m['i'])} {inches}"


def _unit_name(num: str, unit: str) -> str:
    one, many = _UNITS[unit]
    singular = num.replace(",", "").lstrip("-") in ("1",)
    return one if singular else many


def _unit(m: re.Match[str], text: str) -> str:
    unit = m["unit"]
    if unit in _UNIT_SPACED_ONLY:
        if not m["sp"] and unit not in ("x",):
            return m[0]
        if unit in ("in", "A", "s", "m", "t", "h", "l", "K") and _AMBIGUOUS_AFTER.match(text, m.end()):
            return m[0]
        if unit == "x" and (m["sp"] or _EQUATION.search(text)):
            return m[0]
    num = ("-" if m["neg"] else "") + m["num"]
    name = _UNITS[unit][0] if _adjectival(m, text) else _unit_name(m["num"], unit)
    return f"{decimal_words(num)} {name}"


def _unit_range(m: re.Match[str], text: str) -> str:
    unit = m["unit"]
    if unit in _UNIT_SPACED_ONLY and (not m["sp"] or _AMBIGUOUS_AFTER.match(text, m.end())):
        return m[0]
    return f"{decimal_words(m['a'])} to {decimal_words(m['b'])} {_UNITS[unit][1]}"


# roman numerals
_ROMAN_RE = r"(?=[MDCLXVI])M{0,3}(?:CM|CD|D?C{0,3})(?:XC|XL|L?X{0,3})(?:IX|IV|V?I{0,3})"
_REGNAL = ("Louis|Henry|Elizabeth|George|Charles|Edward|William|Richard|James|John|Paul|Pius|Leo|Gregory|"
           "Benedict|Innocent|Clement|Urban|Boniface|Alexander|Peter|Catherine|Frederick|Napoleon|Philip|Felipe|"
           "Juan|Carlos|Ferdinand|Ramesses|Ramses|Amenhotep|Thutmose|Ptolemy|Antiochus|Constantine|Justinian|"
           "Otto|Wilhelm|Friedrich|Ludwig|Gustav|Christian|Harald|Olav|Haakon|Carl|Mary|Anne|Victoria|Isabella|"
           "Nicholas|Ivan|Stephen|David|Malcolm|Robert|Alfonso|Pedro|Manuel|Sancho|Rudolf|Francis|Francesco|"
           "Sixtus|Julius|Martin|Nero|Darius|Xerxes|Cyrus|Artaxerxes|Mehmed|Selim|Suleiman|Murad|Rama|Akihito|"
           "Henri|Baudouin|Albert|Leopold|Umberto|Vittorio|Emmanuel|Hirohito|Kamehameha|Tutankhamun|Sobhuza|"
           "Mohammed|Hussein|Abdullah|Faisal|Rainier|Hans|Adam|Jean|Willem|Juliana|Beatrix|Margrethe|Sigismund")
_REGNAL_RE = re.compile(r"\b(?P<name>" + _REGNAL + r")\s(?P<r>" + _ROMAN_RE + r")\b(?P<pos>'s)?(?![\w-])")
_ROMAN_KEYWORDS = ("Chapter|Part|Act|Book|Volume|Vol|Section|Article|Title|Phase|Stage|Level|Super Bowl|War|"
                   "Apollo|Rocky|Episode|Appendix|Schedule|Series|Mark|Mk|Canto|Psalm|Gemini|Saturn|Vatican Council|"
                   "Olympiad|Amendment|Division|Corps|Chapters|Parts|Acts|Books|Final Fantasy|Grand Theft Auto|"
                   "Civilization|Warcraft|Diablo|Halo|Pentium|Saw|Star Wars Episode|Scene|Vatican|Type|Stage|Tier|Grade|"
                   "Class|Round|Year|Game|Symphony|Op|Movement|Unit|Lesson|Item|Exhibit|Plate|Table|Figure")
_KEYWORD_ROMAN_RE = re.compile(r"\b(?P<kw>" + _ROMAN_KEYWORDS + r")\s(?P<r>" + _ROMAN_RE + r")\b(?![\w-])")
_ROMAN_VALUES = {"M": 1000, "D": 500, "C": 100, "L": 50, "X": 10, "V": 5, "I": 1}


_COPYRIGHT_ROMAN_RE = re.compile(r"(?P<kw>\b[Cc]opyright\s|©\s?)(?P<r>M{1,3}" + _ROMAN_RE[len("(?=[MDCLXVI])M{0,3}"):] + r")\b")


_LOWER_ROMAN_RE = re.compile(r"\b(?P<kw>Scene|scene|Act|act|Part|part|Chapter|chapter|Book|book|Canto|canto|"
                             r"Appendix|appendix|Section|section|Psalm|psalm)\s(?P<r>(?=[ivx])x{0,3}(?:ix|iv|v?i{0,3}))\b(?![\w'-])")
_YEAR_ROMAN_RE = re.compile(r"\b(?P<r>M{1,2}(?:CM|CD|D?C{0,3})(?:XC|XL|L?X{0,3})(?:IX|IV|V?I{0,3}))\b(?![\w'-])")


def _year_roman(m: re.Match[str]) -> str:
    """MCMXCVIII -> nineteen ninety eight (a roman numeral of 1000-2099 written out in full)."""
    r = m["r"]
    value = roman_value(r) if len(r) >= 4 else 0
    return _year_words(value) if 1000 <= value <= 2099 else m[0]


def roman_value(s: str) -> int:
    total = 0
    for a, b in zip(s, s[1:] + " "):
        v = _ROMAN_VALUES[a]
        total += -v if b != " " and _ROMAN_VALUES[b] > v else v
    return total


def _regnal(m: re.Match[str]) -> str:
    r = m["r"]
    if r == "I" and m["name"] in ("John", "Paul", "Peter", "Adam", "Martin", "David", "Robert", "James"):
        return m[0]  # "John I ..." is more likely "John, I ..."
    if r == "X" and m["name"] == "Malcolm":
        return m[0]
    word = _ordinal(roman_value(r))
    return f"{m['name']} the {word}" + ("'s" if m["pos"] else "")


def _keyword_roman(m: re.Match[str]) -> str:
    r = m["r"]
    if len(r) == 1 and r not in "IVX":
        return m[0]  # "Part C", "Mark L": a letter, not a numeral
    if m["kw"] in ("Grade", "Class", "Exhibit", "Plate", "Table", "Figure", "Item", "Unit") and len(r) == 1:
        return m[0]  # "Exhibit C", "Class V": more likely letters
    if r == "I" and m["kw"] not in ("Chapter", "Part", "Act", "Book", "Volume", "War", "Episode", "Phase",
                                    "Stage", "Level", "Title", "Article", "Section", "Appendix", "Type", "Scene",
                                    "Tier", "Symphony", "Movement", "Round", "Lesson"):
        return m[0]
    return f"{m['kw']} {words(roman_value(r))}"


# alphanumerics and acronyms
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


_FLIGHT_RE = re.compile(r"\b(?P<w>[Ff]lights?|[Tt]rain|[Bb]us|[Rr]oute)\s(?P<code>[A-Z0-9]{2})\s?(?P<n>\d{2,4})\b")
_SPECIAL_NUMBERS_RE = re.compile(r"(?<![\w/])(24/7|9/11|7/11|20/20|50/50)(?![\w/])")
_SPECIAL_NUMBERS = {"24/7": "twenty four seven", "9/11": "nine eleven", "7/11": "seven eleven",
                    "20/20": "twenty twenty", "50/50": "fifty fifty"}
_NUM_LETTER_RE = re.compile(r"(?<![\w.,-])(?P<n>\d+)(?P<l>[A-Z]{1,2}|[a-z])(?![\w'])")
_LETTER_NUM_RE = re.compile(r"(?<![\w.-])(?P<l>[A-Z]{1,4}|[A-Z][a-z]+|[a-z])(?P<dash>-?)(?P<n>\d+)(?P<tail>[A-Z]{1,2}|[a-z])?(?![\w'])")
_DIGIT_SUFFIXES = {"p": "p", "K": "K", "D": "D", "G": "G", "x": "times"}


_MODEL_RE = re.compile(r"\b(?P<b>Boeing|Airbus|Porsche|Peugeot|Cessna|Yamaha|model|Model)\s(?P<n>[1-9]\d{2})\b")
_CHIP_RE = re.compile(r"(?<![\w.-])(?P<l>i|M|A|Ryzen\s)(?P<n>[3579]|1[0-9])(?![\w.])")
_CODE_RE = re.compile(r"(?<![\w.-])(?=[A-Za-z0-9]*[A-Z0-9])(?P<code>[A-Z0-9]{1,5}(?:-[A-Z0-9]{1,5})+)(?![\w-])")


def _code(m: re.Match[str]) -> str:
    """Hyphenated codes of capitals and digits: R2-D2, USB-C, X-15B (COVID-19 reads COVID as a word)."""
    code = m["code"]
    if code.replace("-", "").isdigit():
        return code  # 3-1, 555-0199: numbers, read by the rules that follow
    out = []
    for part in re.findall(r"[A-Z]+|\d+", code):
        if part.isdigit():
            out.append(_pair_reading(part) if len(part) in (3, 4) and part[0] != "0"
                       else words(part) if part[0] != "0" or len(part) == 1 else digits_en(part, oh=True))
        else:
            out.append(_SPECIAL_READINGS.get(part, part))
    return " ".join(out)


def _num_letter(m: re.Match[str], text: str = "") -> str:
    n, letters = m["n"], m["l"]
    if letters in ("st", "nd", "rd", "th", "s"):
        return m[0]
    if letters == "x" and len(n) <= 3 and not _EQUATION.search(text):
        return f"{words(n)} times"  # "3x faster"; in an equation "3x" is three x
    number = _pair_reading(n) if len(n) in (3, 4) and n[0] != "0" else words(n) if n[0] != "0" or len(n) == 1 else digits_en(n)
    return f"{number} {letters}"


def _letter_num(m: re.Match[str]) -> str:
    letters, n, tail = m["l"], m["n"], m["tail"] or ""
    if letters[0].islower() and len(letters) == 1 and not m["dash"] and letters not in "vx":
        return m[0]  # "a1" style identifiers are left to the G2P
    if letters == "v" and not m["dash"]:
        return f"version {words(n)}"
    head = _SPECIAL_READINGS.get(letters, letters)
    if len(n) in (3, 4) and n[0] != "0" and not m["dash"]:
        number = _pair_reading(n)
    elif n[0] == "0" and len(n) > 1:
        number = digits_en(n, oh=True)
    else:
        number = words(n)
    tail_text = f" {tail}" if tail else ""
    return f"{head} {number}{tail_text}"


_ACRONYM_RE = re.compile(r"(?<![\w.'-])(?P<a>[A-Z]{2,5})(?P<s>s|'s)?(?![\w'-])")
_DOTTED_ACRONYM_RE = re.compile(r"(?<![\w.])(?P<a>[A-Za-z](?:\.[A-Za-z])+)(?P<dot>\.)?(?=\W|$)")


def _dotted(m: re.Match[str], text: str) -> str:
    """U.S. -> U S, Ph.D. -> P h D; a.m. is left to the time rules. The last period stays where it ends a
    sentence."""
    letters = m["a"].replace(".", "")
    if letters.lower() in ("am", "pm") and re.search(r"\d\s?$", text[:m.start()]):
        return m[0]
    if letters.isupper() or len(letters) > 3:
        return m[0]  # U.S., F.B.I.: the G2P reads them as one spelled word
    ends = m["dot"] and re.match(r"\s*$|\s+[A-Z\"“]", text[m.end():m.end() + 3])
    return _spell(letters) + ("." if ends else "")


def _acronym(m: re.Match[str], text: str) -> str:
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
_PRODUCTS = ("Python|Java|Node|Node\\.js|Ruby|PHP|Perl|Rust|Swift|Kotlin|Scala|Django|Rails|Angular|React|Vue|"
             "Windows|macOS|iOS|iPadOS|watchOS|Android|Ubuntu|Debian|Fedora|Chrome|Firefox|Safari|Linux|kernel|"
             "Excel|HTTP|TLS|SSL|Bluetooth|USB|Wi-Fi|PostgreSQL|MySQL|npm|pip|Kubernetes|Docker|Unity|Unreal|"
             "Blender|Photoshop|Word|Office|Java SE|OpenSSL|Git|GCC|Qt|Xcode|TensorFlow|PyTorch|CUDA|OpenGL|"
             "DirectX|Vulkan|Chromium|Edge|Electron|Go|Golang|Dart|Flutter|Elixir|Erlang|Haskell|Lua|Julia|R")
_PRODUCT_VERSION_RE = re.compile(r"\b(?P<p>" + _PRODUCTS + r")\s(?P<n>\d+\.\d+)(?![\w.]|\.\d)")
_MIXED_CASE = {"iPadOS": "iPad OS", "watchOS": "watch OS", "tvOS": "TV OS", "PhD": "P h D", "PhDs": "P h Ds"}
_MIXED_CASE_RE = re.compile(r"\b(" + "|".join(k for k, v in _MIXED_CASE.items() if k != v) + r")\b")
_VERSION_RE = re.compile(r"(?<![\w.])(?P<v>v|V|version |Version |ver\. |release |Release )?(?P<n>\d+(?:\.\d+){1,4})(?P<x>\.x)?(?![\w.]|\.\d)")
_DECADE_RE = re.compile(r"(?<![\w])(?:(?P<apos>['’])(?P<yy>\d0)|(?P<cent>1[1-9]|20)?(?P<dd>\d0))s\b")
_YEAR_RE = re.compile(r"(?<![\w.,$€£¥:/-])(?P<y>1[1-9]\d\d|20\d\d)(?!\w|[.,]\d)"
                      r"|\b(?P<prep>in|In|of|by|since|from|until|year|circa|around|after|before) (?P<old>1[01]\d\d|(?<=in |In |ar |ca |ce )[1-9]\d\d(?= (?:AD|BC|BCE|CE)\b|[.,;]))(?P<era> (?:AD|BC|BCE|CE)\b)?(?!\w|[.,]\d)")
_ORDINAL_RE = re.compile(r"(?<![\w.])(?P<n>\d{1,3}(?:,\d{3})*|\d+)(?P<suf>st|nd|rd|th|ST|ND|RD|TH)\b")
_MIXED_FRACTION_RE = re.compile(r"(?<![\w./])(?P<w>\d+)[\s-](?P<a>\d+)/(?P<b>\d+)(?![\w/])")
_FRACTION_RE = re.compile(r"(?<![\w./])(?P<a>\d+)/(?P<b>\d+)(?![\w/]|\.\d)")
_DECIMAL_RE = re.compile(r"(?<![\w.])(?P<neg>-)?(?P<int>\d+(?:,\d{3})*)?\.(?P<frac>\d+)(?![\d.]|\.\d)")
_INT_RE = re.compile(r"(?<![\w.])(?P<neg>-(?=\d))?(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?![\d])")
_POWER_RE = re.compile(r"(?<=[\w)])\^(?P<n>-?\d+)")
_MATH = [
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
_SYMBOLS = {"&": " and ", "@": " at ", "#": " number ", "§": " section ", "¶": " paragraph ", "‰": " per mille ",
            "°": " degrees ", "™": " ", "®": " ", "©": " copyright ", "→": " to ", "←": " from ", "↔": " to and from "}


def _power(m: re.Match[str]) -> str:
    n = m["n"]
    return {"2": " squared", "3": " cubed"}.get(n, f" to the power of {words(n)}")


def _version(m: re.Match[str]) -> str:
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


def _decade(m: re.Match[str]) -> str:
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


def _year(m: re.Match[str], text: str) -> str:
    if m["old"]:
        era = " " + " ".join(m["era"].strip()) if m["era"] else ""
        return f"{m['prep']} " + (_year_words(m["old"]) if len(m["old"]) == 4 else _pair_reading(m["old"])) + era
    y = m["y"]
    if _COUNTED.match(text, m.end()) and not re.search(r"\b(?:in|since|of|from|by|until|during|year|circa)\s+$",
                                                      text[max(0, m.start() - 12):m.start()]):
        return words(y)  # "1984 people" is a count
    return _year_words(y)


def _mixed_fraction(m: re.Match[str]) -> str:
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
        ordinal = _ordinal(b)
        if ordinal.startswith("one "):
            ordinal = ordinal[4:]
        return ("a " if mixed else "one ") + ordinal
    return f"{words(a)} {_plural_ordinal(b)}"


def _fraction(m: re.Match[str]) -> str:
    a, b = m["a"], m["b"]
    if max(len(a), len(b)) > 4 or int(b) == 0 or int(b) > 100:
        return f"{words(a)} slash {words(b)}"
    return _fraction_words(int(a), int(b))


def _ordinal_rule(m: re.Match[str]) -> str:
    return _ordinal(m["n"].replace(",", ""))


def _integer(m: re.Match[str]) -> str:
    digits = m["int"].replace(",", "")
    neg = "minus " if m["neg"] else ""
    if len(digits) > MAX_SPOKEN_DIGITS or (len(digits) > 1 and digits.startswith("0")):
        return neg + digits_en(digits)  # codes, IDs, absurdly long numbers
    return neg + words(digits)


Rule = Callable[[str], str]


def _sub(pattern: re.Pattern[str], fn: Callable[[re.Match[str]], str] | Callable[[re.Match[str], str], str],
         with_text: bool = False) -> Rule:
    if with_text:
        return lambda t: pattern.sub(lambda m: fn(m, t), t)  # type: ignore[call-arg]
    return lambda t: pattern.sub(fn, t)  # type: ignore[arg-type]


def _math(t: str) -> str:
    t = _POWER_RE.sub(_power, t)
    for pattern, word in _MATH:
        t = pattern.sub(word, t)
    return t


def _symbols(t: str) -> str:
    t = re.sub(r"(?<=\w)/(?=\w)", " ", re.sub(r"\band/or\b", "and or", t))
    t = re.sub(r"\bw/(?=\s)", "with", t)
    for sym, word in _SYMBOLS.items():
        t = t.replace(sym, word)
    return t


_EQUATION = re.compile(r"[=<>≤≥≠±]|\s[+*/−-]\s|\^|[²³]")
_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")


def _pre(t: str) -> str:
    t = t.replace("−", "-").replace("‐", "-").replace("‑", "-")
    t = re.sub(r"[⁰¹²³⁴⁵⁶⁷⁸⁹⁻]+", lambda m: "^" + m[0].translate(_SUPERSCRIPTS), t)  # x² -> x^2
    t = re.sub(r"(?<=\d)\s?(?:x|×)\s?(?=\d)", " × ", t)  # "3x4", "1920x1080": dimensions
    if _EQUATION.search(t):  # in an equation "3x" and "2ab" are products of a number and variables
        t = re.sub(r"(?<=\d)(?=[a-z]\b|[a-z]{2}\b)", " ", t)
    return t


RULES: list[tuple[str, Rule]] = [
    ("pre", _pre),
    ("fraction", _sub(_SPECIAL_NUMBERS_RE, lambda m: _SPECIAL_NUMBERS[m[1]])),
    ("url_email", _sub(_EMAIL_RE, _email)),
    ("url_email", _sub(_URL_RE, _url)),
    ("date", _sub(_ISO_DATE_RE, lambda m: _date(m["y"], int(m["m"]), int(m["d"])))),
    ("date", _sub(_US_DATE_RE, lambda m: _date(m["y"], int(m["m"]), int(m["d"])))),
    ("abbreviation", _abbreviations),
    ("acronym", _sub(_DOTTED_ACRONYM_RE, _dotted, with_text=True)),
    ("date", _sub(_MONTH_DAY_RE, _month_day)),
    ("date", _sub(_DAY_OF_MONTH_RE, _day_of_month)),
    ("telephone", _sub(_EMERGENCY_RE, lambda m: digits_en(m[1]))),
    ("telephone", _sub(_PHONE_RE, _phone)),
    ("telephone", _extension),
    ("time", _sub(_TIME_RANGE_RE, _time_range)),
    ("time", _sub(_TIME_RE, _time)),
    ("time", _sub(_HOUR_AMPM_RE, _hour_ampm)),
    ("currency", _sub(_CENTS_RE, lambda m: f"{words(m['num'])} {'cent' if m['num'] == '1' else 'cents'}")),
    ("currency", _sub(_CURRENCY_RE, _currency, with_text=True)),
    ("percent", _sub(_PERCENT_RE, lambda m: ("minus " if m["neg"] else "") + decimal_words(m["num"])
                     + (f" to {decimal_words(m['num2'])}" if m["num2"] else "") + " percent")),
    ("version", _sub(_PRODUCT_VERSION_RE, lambda m: f"{m['p']} " + " point ".join(
        digits_en(p, oh=True) if len(p) > 1 and p[0] == "0" else words(p) for p in m["n"].split(".")))),
    ("version", _sub(_VERSION_RE, _version)),
    ("acronym", _sub(_MIXED_CASE_RE, lambda m: _MIXED_CASE[m[1]])),
    ("math", _math),
    ("unit", _sub(_FEET_INCHES_RE, _feet_inches)),
    ("unit", _sub(_UNIT_RANGE_RE, _unit_range, with_text=True)),
    ("unit", _sub(_UNIT_RE, _unit, with_text=True)),
    ("roman", _sub(_COPYRIGHT_ROMAN_RE, lambda m: m["kw"] + _year_words(roman_value(m["r"])))),
    ("roman", _sub(_REGNAL_RE, _regnal)),
    ("roman", _sub(_KEYWORD_ROMAN_RE, _keyword_roman)),
    ("roman", _sub(_LOWER_ROMAN_RE, lambda m: f"{m['kw']} {words(roman_value(m['r'].upper()))}" if m["r"] else m[0])),
    ("roman", _sub(_YEAR_ROMAN_RE, _year_roman)),
    ("decade", _sub(_DECADE_RE, _decade)),
    ("ordinal", _sub(_ORDINAL_RE, _ordinal_rule)),
    ("alphanumeric", _sub(_MODEL_RE, lambda m: f"{m['b']} {_pair_reading(m['n'])}")),
    ("alphanumeric", _sub(_FLIGHT_RE, lambda m: f"{m['w']} {m['code']} " + (_pair_reading(m["n"]) if len(m["n"]) > 2
                                                                             else words(m["n"])))),
    ("alphanumeric", _sub(_CHIP_RE, lambda m: f"{m['l'].strip()} {words(m['n'])}")),
    ("alphanumeric", _sub(_CODE_RE, _code)),
    ("alphanumeric", _sub(_NUM_LETTER_RE, _num_letter, with_text=True)),
    ("alphanumeric", _sub(_LETTER_NUM_RE, _letter_num)),
    ("acronym", _sub(_ACRONYM_RE, _acronym, with_text=True)),
    ("fraction", _sub(_MIXED_FRACTION_RE, _mixed_fraction)),
    ("range", _sub(_DASH_RANGE_RE, _range)),
    ("fraction", _sub(_FRACTION_RE, _fraction)),
    ("year", _sub(_YEAR_RE, _year, with_text=True)),
    ("decimal", _sub(_DECIMAL_RE, lambda m: decimal_words(("-" if m["neg"] else "") + (m["int"] or "") + "." + m["frac"]))),
    ("cardinal", _sub(_INT_RE, _integer)),
    ("symbol", _symbols),
]


def normalize_en(text: str) -> str:
    """Spell out every number-like token, abbreviation, symbol and code in ``text`` (English)."""
    for _, rule in RULES:
        text = rule(text)
    return re.sub(r"[ \t]{2,}", " ", text).strip(" ") if text.strip() else text
