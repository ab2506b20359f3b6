"""Ranges and scores, currency, percentages and units."""

from __future__ import annotations

import re

from .dates import year_words
from .symbols import EQUATION
from .words import decimal_words, words

_RANGE_RE = re.compile(r"(?<![\w.,/:-])(?P<a>\d+(?:\.\d+)?)\s?(?:–|—|-(?!\s)|\s–\s|\sto\s)\s?(?P<b>\d+(?:\.\d+)?)(?![\w/:-]|\.\d|,\d)")
DASH_RANGE_RE = re.compile(r"(?<![\w.,/:-])(?P<a>\d+(?:\.\d+)?)(?:\s?[–—]\s?|-)(?P<b>\d+(?:\.\d+)?)(?![\w/:-]|\.\d|,\d)")


def _is_year(s: str) -> bool:
    return len(s) == 4 and 1100 <= int(s) <= 2099


def range_rule(m: re.Match[str]) -> str:
    a, b = m["a"], m["b"]
    if _is_year(a) and (_is_year(b) or len(b) == 2):
        return f"{year_words(a)} to {year_words(b) if len(b) == 4 else words(b)}"
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
CURRENCY_RE = re.compile(
    r"(?P<neg>-)?(?P<sym>US\$|A\$|C\$|[$€£¥₹₩₽₿])\s?(?P<num>" + _NUM + r")?(?:\.(?P<frac>\d+))?"
    r"(?:\s?(?:-|–|to)\s?(?P=sym)?(?P<num2>" + _NUM + r")(?:\.(?P<frac2>\d+))?)?"
    r"(?:\s?(?P<scale>" + _SCALES + r")\b|(?P<sabbr>[kKmMbBtT]n?|mm|Bn)\b)?"
)
CENTS_RE = re.compile(r"(?<![\w.])(?P<num>\d+)\s?¢")


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


def currency_rule(m: re.Match[str], text: str = "") -> str:
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
PERCENT_RE = re.compile(r"(?<![\w.])(?P<neg>-)?(?P<num>\d+(?:,\d{3})*(?:\.\d+)?|\.\d+)\s?(?:(?:-|–|to)\s?"
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
UNIT_RE = re.compile(r"(?<![\w.,])(?P<neg>-)?(?P<num>\d+(?:,\d{3})*(?:\.\d+)?|\.\d+)(?P<sp>\s?)(?P<unit>"
                      + _UNIT_ALT + r")(?![\w/^°])")
UNIT_RANGE_RE = re.compile(r"(?<![\w.,])(?P<a>\d+(?:\.\d+)?)\s?(?:-|–|to)\s?(?P<b>\d+(?:\.\d+)?)(?P<sp>\s?)(?P<unit>"
                            + _UNIT_ALT + r")(?![\w/^°])")
# the word before a bare "in"/"A"/"s"/"m" decides whether it is a unit ("5 in" inches vs "5 in the box")
_AMBIGUOUS_AFTER = re.compile(r"\s*(?:[a-z]|the\b|a\b|an\b|\d)")


FEET_INCHES_RE = re.compile(r"(?<![\w.])(?P<f>\d+)\s?(?:ft\.?|'|′|feet|foot)\s?(?P<i>\d+)\s?(?:in\.?|\"|″|inches)(?![\w])")


def feet_inches(m: re.Match[str]) -> str:
    feet = "foot" if m["f"] == "1" else "feet"
    inches = "inch" if m["i"] == "1" else "inches"
    return f"{words(m['f'])} {feet} {words(m['i'])} {inches}"


def _unit_name(num: str, unit: str) -> str:
    one, many = _UNITS[unit]
    singular = num.replace(",", "").lstrip("-") in ("1",)
    return one if singular else many


def unit_rule(m: re.Match[str], text: str) -> str:
    unit = m["unit"]
    if unit in _UNIT_SPACED_ONLY:
        if not m["sp"] and unit not in ("x",):
            return m[0]
        if unit in ("in", "A", "s", "m", "t", "h", "l", "K") and _AMBIGUOUS_AFTER.match(text, m.end()):
            return m[0]
        if unit == "x" and (m["sp"] or EQUATION.search(text)):
            return m[0]
    num = ("-" if m["neg"] else "") + m["num"]
    name = _UNITS[unit][0] if _adjectival(m, text) else _unit_name(m["num"], unit)
    return f"{decimal_words(num)} {name}"


def unit_range(m: re.Match[str], text: str) -> str:
    unit = m["unit"]
    if unit in _UNIT_SPACED_ONLY and (not m["sp"] or _AMBIGUOUS_AFTER.match(text, m.end())):
        return m[0]
    return f"{decimal_words(m['a'])} to {decimal_words(m['b'])} {_UNITS[unit][1]}"


# roman numerals
