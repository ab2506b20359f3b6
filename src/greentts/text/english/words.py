"""Number words: cardinals, ordinals, digits, decimals, and the names of months and days."""

from __future__ import annotations


from num2words import num2words

# Beyond what a listener can follow as one number (sixteen digits and more) digits are read one by one,
# as for codes and IDs (num2words also overflows past ~10**300, int() past 4300 digits).
MAX_SPOKEN_DIGITS = 15

_DIGIT_NAMES = "zero one two three four five six seven eight nine".split()
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"]
MONTH_ABBR = {m[:3]: m for m in MONTHS} | {"Sept": "September"}
DAYS = {"Mon": "Monday", "Tue": "Tuesday", "Tues": "Tuesday", "Wed": "Wednesday", "Thu": "Thursday",
         "Thur": "Thursday", "Thurs": "Thursday", "Fri": "Friday", "Sat": "Saturday", "Sun": "Sunday"}




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


def pair_reading(s: str) -> str:
    """A 3- or 4-digit label read in pairs, as house and model numbers are: 221 -> two twenty one,
    405 -> four oh five, 100 -> one hundred, 1080 -> ten eighty."""
    head, tail = s[:-2], s[-2:]
    if tail == "00":
        return words(s) if len(s) == 3 else f"{words(head)} hundred"
    rest = f"oh {_DIGIT_NAMES[int(tail[1])]}" if tail[0] == "0" else words(tail)
    return f"{words(head)} {rest}"


def ordinal_words(n: int | str) -> str:
    return words(n, "ordinal")


def plural_ordinal(n: int) -> str:
    word = ordinal_words(n)
    return word[:-1] + "ves" if word.endswith("half") else word + "s"
