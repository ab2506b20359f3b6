"""Abbreviations (shared with the sentence splitter) and their expansion."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .words import DAYS, MONTHS, MONTH_ABBR

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
             "Ln": "Lane", "Ct": "Court", "St": "Saint", "Dr.": "Drive"} | MONTH_ABBR | DAYS, may_end=False),
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
MONTH_NAMES = "|".join(MONTHS)
_MONTH_ABBR_ALT = "|".join(sorted(MONTH_ABBR, key=len, reverse=True))


def _expand(m: re.Match[str], text: str) -> str:
    """An abbreviation's expansion; its period stays where it also ends the sentence ("... Inc. The")."""
    abbr = _CONTEXT_FREE[m[1]]
    ends = abbr.may_end and re.match(r"\s*$|\s+[A-Z\"“]", text[m.end():m.end() + 3] or "")
    return abbr.expansion + ("." if ends else "")


_WEEKDAYS = "|".join(sorted((d for d in DAYS if d not in ("Sat", "Sun")), key=len, reverse=True))
# "Mon., Jan. 5", "Tue. 3 May", "Mon. and Tue."; Sat. and Sun. only before a date or another day
_DAY_RE = re.compile(r"(?<![\w.])(" + _WEEKDAYS + r")\.(?=,|\s|$)"
                     r"|(?<![\w.])(Sat|Sun)\.(?=,|\s+(?:\d|" + "|".join(MONTH_ABBR) + r"|and\s+(?:Sat|Sun)\b))")


def abbreviations_rule(t: str) -> str:
    t = _ABBR_RE.sub(lambda m: _expand(m, t), t)
    # months and days: only where a date follows or they stand in a date ("Feb. 3", "Mon., Jan. 5")
    t = re.sub(r"(?<![\w.])(" + _MONTH_ABBR_ALT + r")\.?(?=\s+\d|\s+of\b|,?\s+\d{4})",
               lambda m: MONTH_ABBR[m[1]], t)
    t = _DAY_RE.sub(lambda m: DAYS[m[1] or m[2]], t)
    t = re.sub(r"(?<![\w.])(" + _MONTH_ABBR_ALT + r")\.(?=\s)", lambda m: MONTH_ABBR[m[1]], t)
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
