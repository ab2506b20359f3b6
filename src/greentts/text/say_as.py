"""SSML ``<say-as interpret-as=...>``: a token read as characters, digits, a telephone number, a number,
an ordinal, a date, a time, a fraction or currency, in English or Mandarin."""

from __future__ import annotations

import re

__all__ = ["SAY_AS", "say_as"]

SAY_AS = ("characters", "spell-out", "digits", "telephone", "cardinal", "number", "ordinal", "date", "time",
          "fraction", "currency")


def say_as(text: str, kind: str, fmt: str | None, lang: str) -> str:
    """The words for ``text`` read as ``kind`` (an SSML interpret-as value) in ``lang``."""
    from . import english as en
    from . import mandarin as zh

    if kind not in SAY_AS:
        raise ValueError(f"interpret-as must be one of {', '.join(SAY_AS)}, not {kind!r}")
    digits = re.sub(r"\D", "", text)
    if kind in ("characters", "spell-out"):
        if lang == "zh":
            return "".join(zh.digits(c) if c.isdigit() else c for c in text if not c.isspace())
        return " ".join(en.digits_en(c) if c.isdigit() else c.upper() if c.isalpha() else "" for c in text
                        if not c.isspace()).replace("  ", " ")
    if kind in ("digits", "telephone") and not digits:
        raise ValueError(f"{text!r} has no digits to read")
    if kind == "digits":
        return zh.digits(digits) if lang == "zh" else en.digits_en(digits)
    if kind == "telephone":
        groups = re.findall(r"\d+", text)
        plus = "加" if lang == "zh" else "plus "
        head = plus if text.strip().startswith("+") else ""
        if lang == "zh":
            return head + "".join(zh.digits(g, phone=True) for g in groups)
        return head + ", ".join(en.digits_en(g, oh=True) for g in groups)
    if kind in ("cardinal", "number", "ordinal"):
        m = re.fullmatch(r"-?\d[\d,]*(?:\.\d+)?", text.replace(" ", ""))
        if not m:
            raise ValueError(f"{text!r} is not a number")
        number = m[0].replace(",", "")
        if kind == "ordinal":
            if "." in number or number.startswith("-"):
                raise ValueError(f"an ordinal must be a whole number, not {text!r}")
            return f"第{zh.cardinal(number)}" if lang == "zh" else en.words(number, "ordinal")
        return zh.cardinal(number) if lang == "zh" else en.decimal_words(number)
    if kind == "date":
        return _date(text, fmt, lang)
    normalized = zh.normalize_zh(text) if lang == "zh" else en.normalize_en(text)
    if re.search(r"\d", normalized):
        raise ValueError(f"{text!r} cannot be read as a {kind}")
    return normalized


def _date(text: str, fmt: str | None, lang: str) -> str:
    from . import english as en
    from . import mandarin as zh

    fmt = (fmt or "ymd" if re.match(r"\d{4}", text.strip()) else fmt or "mdy").lower()
    if not re.fullmatch(r"[ymd]{1,3}", fmt) or len(set(fmt)) != len(fmt):
        raise ValueError(f"format must be like mdy, dmy, ymd, md, dm, ym, my, y, m or d, not {fmt!r}")
    parts = re.findall(r"\d+", text)
    if len(parts) != len(fmt):
        raise ValueError(f"{text!r} does not have the {len(fmt)} numbers of format {fmt!r}")
    values = dict(zip(fmt, parts))
    y, mo, d = values.get("y"), values.get("m"), values.get("d")
    if mo is not None and not 1 <= int(mo) <= 12:
        raise ValueError(f"month {mo} is not 1-12")
    if d is not None and not 1 <= int(d) <= 31:
        raise ValueError(f"day {d} is not 1-31")
    if y is not None and len(y) == 2:
        y = "20" + y
    if lang == "zh":
        out = f"{zh.digits(y)}年" if y else ""
        out += f"{zh.cardinal(str(int(mo)))}月" if mo else ""
        return out + (f"{zh.cardinal(str(int(d)))}日" if d else "")
    month = en.MONTHS[int(mo) - 1] if mo else ""
    day = en.words(int(d), "ordinal") if d else ""
    year = en.words(y, "year") if y else ""
    if fmt.startswith("d") and month:
        text_ = f"the {day} of {month}" if day else month
    else:
        text_ = " ".join(p for p in (month, day) if p)
    return f"{text_}, {year}" if text_ and year else text_ or year
