"""Text normalization: turn digits, symbols and abbreviations into the words a speaker would say.

Two languages, one shape: :func:`normalize_en` and :func:`normalize_zh` take a span of text in that
language and return the same span with every number-like token spelled out (rules in
:mod:`greentts.text.english` and :mod:`greentts.text.mandarin`). Both are pure functions of their input
(no weights) and are tested from data in ``tests/data/normalize_{en,zh}.tsv``.

:func:`clean` runs first on the raw input: it removes characters that cannot be spoken (control
characters, emoji, private-use code points) and reports each one, so nothing is dropped silently.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from .english import normalize_en
from .mandarin import normalize_zh

__all__ = ["Skipped", "describe_skipped", "clean", "normalize_en", "normalize_zh", "is_han", "language_of", "mostly_han"]


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
        elif "\u3380" <= ch <= "\u33ff":  # squared unit signs: ㎡ -> m², ㎏ -> kg
            out.append(re.sub(r"(?<=[a-zA-Z])([23])$", lambda m: "²" if m[1] == "2" else "³",
                              unicodedata.normalize("NFKC", ch)))
        elif ch > "\x7f" and unicodedata.category(ch) in ("Nd", "No"):
            number = _ascii_number(ch)
            if "SUPERSCRIPT" in unicodedata.name(ch, "") and out and (out[-1][-1:].isalnum() or out[-1][-1:] in ")]" or out[-1] in _POWERS):
                number = ch  # x², m³: a power, read by the normalizers ("x squared", 平方米)
            elif "/" in number and out and out[-1][-1:].isdigit():
                number = " " + number  # 2½ -> 2 1/2
            out.append(number)
        else:
            out.append(ch)
    return "".join(out).translate(_FULLWIDTH), skipped


_POWERS = set("⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


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
    if cat == "So" and ch not in "°℃℉©®™" and not "\u3380" <= ch <= "\u33ff":
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


def language_of(spoken: str) -> str:
    """ "zh" when Han characters dominate ``spoken`` (already cleaned text), else "en"."""
    return "zh" if mostly_han(spoken) else "en"


def mostly_han(text: str) -> bool:
    """True when Han characters dominate (used to pick the primary language for lang='auto')."""
    han = sum(1 for c in text if is_han(c))
    latin = sum(1 for c in text if c.isascii() and c.isalpha())
    return han > 0 and han >= latin / 4
