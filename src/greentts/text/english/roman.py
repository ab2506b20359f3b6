"""Roman numerals: regnal names, chapters and acts, years."""

from __future__ import annotations

import re

from .dates import year_words
from .words import ordinal_words, words

_ROMAN_RE = r"(?=[MDCLXVI])M{0,3}(?:CM|CD|D?C{0,3})(?:XC|XL|L?X{0,3})(?:IX|IV|V?I{0,3})"
_REGNAL = ("Louis|Henry|Elizabeth|George|Charles|Edward|William|Richard|James|John|Paul|Pius|Leo|Gregory|"
           "Benedict|Innocent|Clement|Urban|Boniface|Alexander|Peter|Catherine|Frederick|Napoleon|Philip|Felipe|"
           "Juan|Carlos|Ferdinand|Ramesses|Ramses|Amenhotep|Thutmose|Ptolemy|Antiochus|Constantine|Justinian|"
           "Otto|Wilhelm|Friedrich|Ludwig|Gustav|Christian|Harald|Olav|Haakon|Carl|Mary|Anne|Victoria|Isabella|"
           "Nicholas|Ivan|Stephen|David|Malcolm|Robert|Alfonso|Pedro|Manuel|Sancho|Rudolf|Francis|Francesco|"
           "Sixtus|Julius|Martin|Nero|Darius|Xerxes|Cyrus|Artaxerxes|Mehmed|Selim|Suleiman|Murad|Rama|Akihito|"
           "Henri|Baudouin|Albert|Leopold|Umberto|Vittorio|Emmanuel|Hirohito|Kamehameha|Tutankhamun|Sobhuza|"
           "Mohammed|Hussein|Abdullah|Faisal|Rainier|Hans|Adam|Jean|Willem|Juliana|Beatrix|Margrethe|Sigismund")
REGNAL_RE = re.compile(r"\b(?P<name>" + _REGNAL + r")\s(?P<r>" + _ROMAN_RE + r")\b(?P<pos>'s)?(?![\w-])")
_ROMAN_KEYWORDS = ("Chapter|Part|Act|Book|Volume|Vol|Section|Article|Title|Phase|Stage|Level|Super Bowl|War|"
                   "Apollo|Rocky|Episode|Appendix|Schedule|Series|Mark|Mk|Canto|Psalm|Gemini|Saturn|Vatican Council|"
                   "Olympiad|Amendment|Division|Corps|Chapters|Parts|Acts|Books|Final Fantasy|Grand Theft Auto|"
                   "Civilization|Warcraft|Diablo|Halo|Pentium|Saw|Star Wars Episode|Scene|Vatican|Type|Stage|Tier|Grade|"
                   "Class|Round|Year|Game|Symphony|Op|Movement|Unit|Lesson|Item|Exhibit|Plate|Table|Figure")
KEYWORD_ROMAN_RE = re.compile(r"\b(?P<kw>" + _ROMAN_KEYWORDS + r")\s(?P<r>" + _ROMAN_RE + r")\b(?![\w-])")
_ROMAN_VALUES = {"M": 1000, "D": 500, "C": 100, "L": 50, "X": 10, "V": 5, "I": 1}


COPYRIGHT_ROMAN_RE = re.compile(r"(?P<kw>\b[Cc]opyright\s|©\s?)(?P<r>M{1,3}" + _ROMAN_RE[len("(?=[MDCLXVI])M{0,3}"):] + r")\b")


LOWER_ROMAN_RE = re.compile(r"\b(?P<kw>Scene|scene|Act|act|Part|part|Chapter|chapter|Book|book|Canto|canto|"
                             r"Appendix|appendix|Section|section|Psalm|psalm)\s(?P<r>(?=[ivx])x{0,3}(?:ix|iv|v?i{0,3}))\b(?![\w'-])")
YEAR_ROMAN_RE = re.compile(r"\b(?P<r>M{1,2}(?:CM|CD|D?C{0,3})(?:XC|XL|L?X{0,3})(?:IX|IV|V?I{0,3}))\b(?![\w'-])")


def year_roman(m: re.Match[str]) -> str:
    """MCMXCVIII -> nineteen ninety eight (a roman numeral of 1000-2099 written out in full)."""
    r = m["r"]
    value = roman_value(r) if len(r) >= 4 else 0
    return year_words(value) if 1000 <= value <= 2099 else m[0]


def roman_value(s: str) -> int:
    total = 0
    for a, b in zip(s, s[1:] + " "):
        v = _ROMAN_VALUES[a]
        total += -v if b != " " and _ROMAN_VALUES[b] > v else v
    return total


def regnal_rule(m: re.Match[str]) -> str:
    r = m["r"]
    if r == "I" and m["name"] in ("John", "Paul", "Peter", "Adam", "Martin", "David", "Robert", "James"):
        return m[0]  # "John I ..." is more likely "John, I ..."
    if r == "X" and m["name"] == "Malcolm":
        return m[0]
    word = ordinal_words(roman_value(r))
    return f"{m['name']} the {word}" + ("'s" if m["pos"] else "")


def keyword_roman(m: re.Match[str]) -> str:
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
