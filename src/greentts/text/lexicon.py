"""Pronunciation dictionaries: global files, per-request entries and inline overrides.

Dictionary files are JSONL, one entry per line (blank lines and lines starting with ``#`` are ignored)::

    {"grapheme": "重", "phoneme": "chong2", "context": "重庆"}   # zh: pinyin, tone digits 1-5
    {"grapheme": "银行", "phoneme": "yin2 hang2"}                 # zh phrase: one syllable per character
    {"grapheme": "tomato", "phoneme": "təmˈɑːtoʊ"}               # en: Kokoro phonemes
    {"grapheme": "Nguyen", "phoneme": "wˈɪn", "lang": "en"}

``lang`` is optional (a grapheme with Han characters is zh, otherwise en). ``context`` limits an
entry to occurrences of the grapheme inside that phrase. Priority: per-request entries before
global ones, entries with a context before those without, longer graphemes before shorter ones.

Inline overrides in the text itself: ``[重](chong2)``, ``[重庆](chong2 qing4)`` (pinyin) and
``[tomato](/təmˈɑːtoʊ/)`` (Kokoro phonemes between slashes, any language).

Every application is counted, so a result can say which rules fired and users can prune the rest.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ..errors import DictionaryError
from .normalize import is_han

__all__ = ["Entry", "RuleHit", "Lexicon", "kokoro_vocab", "parse_entry", "pinyin_to_phonemes", "validate_phonemes"]

_ALLOWED_KEYS = {"grapheme", "phoneme", "context", "lang"}
_PINYIN_RE = re.compile(r"^[a-zü:v]+[1-5]$")


@dataclass(frozen=True)
class Entry:
    """One pronunciation rule. ``syllables`` holds pinyin for zh entries (one per Han character)."""

    grapheme: str
    phoneme: str
    lang: str
    source: str
    context: str | None = None
    syllables: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str, str | None]:
        return (self.source, self.grapheme, self.context)


@dataclass
class RuleHit:
    """How often one rule fired in one request."""

    source: str
    grapheme: str
    phoneme: str
    context: str | None
    count: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "grapheme": self.grapheme, "phoneme": self.phoneme,
                "context": self.context, "count": self.count}


@cache
def kokoro_vocab() -> dict[str, int]:
    """Kokoro's 114-symbol phoneme vocabulary (symbol -> id)."""
    from importlib.resources import files

    return json.loads((files("greentts") / "data" / "kokoro_vocab.json").read_text(encoding="utf-8"))


def validate_phonemes(phonemes: str) -> str:
    """Return ``phonemes`` if every character is in Kokoro's vocabulary, else raise ValueError."""
    vocab = kokoro_vocab()
    bad = sorted({c for c in phonemes if c not in vocab})
    if bad:
        raise ValueError(f"phonemes {phonemes!r} contain symbols outside Kokoro's vocabulary: {' '.join(bad)}")
    if not phonemes.strip():
        raise ValueError("phonemes are empty")
    return phonemes


@cache
def _py2ipa(syllable: str) -> str:
    with warnings.catch_warnings():  # misaki.zh imports jieba, which imports the deprecated pkg_resources
        warnings.simplefilter("ignore", UserWarning)
        from misaki.zh import ZHG2P

    return ZHG2P.py2ipa(syllable.replace("ü", "v").replace("u:", "v"))


def pinyin_to_phonemes(syllables: Sequence[str]) -> str:
    """Pinyin syllables with tone digits -> Kokoro phonemes (Kokoro v1.0's Mandarin convention)."""
    return "".join(_py2ipa(s) for s in syllables)


def _parse_pinyin(grapheme: str, phoneme: str) -> tuple[str, ...]:
    syllables = tuple(phoneme.lower().split())
    n_han = sum(1 for c in grapheme if is_han(c))
    if n_han != len(grapheme):
        raise ValueError(f"zh grapheme {grapheme!r} must consist of Han characters only")
    if len(syllables) != n_han:
        raise ValueError(f"{grapheme!r} has {n_han} characters but {len(syllables)} pinyin syllables ({phoneme!r})")
    for s in syllables:
        if not _PINYIN_RE.match(s):
            raise ValueError(f"{s!r} is not pinyin with a tone digit 1-5 (e.g. chong2)")
        try:
            ipa = _py2ipa(s)
        except Exception as exc:  # misaki raises assorted errors for impossible syllables
            raise ValueError(f"{s!r} is not a valid pinyin syllable") from exc
        if not ipa:
            raise ValueError(f"{s!r} is not a valid pinyin syllable")
    return syllables


def parse_entry(obj: Any, source: str) -> Entry:
    """Validate one dictionary entry (a dict from JSON); raises ValueError describing the problem."""
    if not isinstance(obj, dict):
        raise ValueError("an entry must be a JSON object with 'grapheme' and 'phoneme'")
    unknown = set(obj) - _ALLOWED_KEYS
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(_ALLOWED_KEYS))}")
    grapheme, phoneme = obj.get("grapheme"), obj.get("phoneme")
    if not isinstance(grapheme, str) or not grapheme.strip():
        raise ValueError("'grapheme' must be a non-empty string")
    if not isinstance(phoneme, str) or not phoneme.strip():
        raise ValueError("'phoneme' must be a non-empty string")
    grapheme = grapheme.strip()
    context = obj.get("context")
    if context is not None and (not isinstance(context, str) or grapheme not in context):
        raise ValueError(f"'context' must be a string containing the grapheme {grapheme!r}")
    lang = obj.get("lang") or ("zh" if any(is_han(c) for c in grapheme) else "en")
    if lang not in ("en", "zh"):
        raise ValueError(f"'lang' must be 'en' or 'zh', not {lang!r}")
    phoneme = phoneme.strip()
    if phoneme.startswith("/") and phoneme.endswith("/") and len(phoneme) > 1:
        return Entry(grapheme, validate_phonemes(phoneme.strip("/")), lang, source, context)
    if lang == "zh":
        syllables = _parse_pinyin(grapheme, phoneme)
        return Entry(grapheme, phoneme, lang, source, context, syllables)
    return Entry(grapheme, validate_phonemes(phoneme), lang, source, context)


class Lexicon:
    """An ordered collection of entries; earlier entries win over later ones at the same priority."""

    def __init__(self, entries: Iterable[Entry] = ()) -> None:
        self.entries: tuple[Entry, ...] = tuple(entries)
        self._ordered = tuple(sorted(self.entries, key=lambda e: (e.context is None, -len(e.grapheme))))

    def __len__(self) -> int:
        return len(self.entries)

    def __add__(self, other: Lexicon) -> Lexicon:
        """``request + global``: entries of the left operand take priority."""
        return Lexicon(self.entries + other.entries)

    @classmethod
    def load(cls, path: str | Path) -> Lexicon:
        """Read a JSONL dictionary; a malformed line raises DictionaryError naming file and line."""
        p = Path(path)
        try:
            lines = p.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise DictionaryError(f"cannot read dictionary: {exc}", source=str(p)) from exc
        entries = []
        for n, line in enumerate(lines, start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                entries.append(parse_entry(json.loads(line), f"{p.name}:{n}"))
            except (ValueError, json.JSONDecodeError) as exc:
                raise DictionaryError(str(exc), source=str(p), line=n) from exc
        return cls(entries)

    @classmethod
    def from_entries(cls, items: Sequence[Any], source: str = "request") -> Lexicon:
        """Per-request entries (dicts); errors name the entry's index."""
        entries = []
        for i, obj in enumerate(items):
            try:
                entries.append(parse_entry(obj, f"{source}[{i}]"))
            except ValueError as exc:
                raise DictionaryError(f"{source}[{i}]: {exc}") from exc
        return cls(entries)

    def for_lang(self, lang: str) -> tuple[Entry, ...]:
        return tuple(e for e in self._ordered if e.lang == lang)


def _occurrences(haystack: str, needle: str) -> Iterable[int]:
    start = haystack.find(needle)
    while start >= 0:
        yield start
        start = haystack.find(needle, start + 1)


def zh_overrides(run: str, entries: Sequence[Entry], hits: dict[tuple, RuleHit]) -> dict[int, str]:
    """Per-character pinyin (position in ``run`` -> syllable, or raw phonemes) chosen by dictionary entries."""
    chosen: dict[int, str] = {}
    for e in entries:
        span = e.context or e.grapheme
        offset = span.find(e.grapheme)
        for start in _occurrences(run, span):
            pos = start + offset
            positions = range(pos, pos + len(e.grapheme))
            if any(p in chosen for p in positions):
                continue
            if e.syllables:
                chosen.update(zip(positions, e.syllables))
            else:  # raw Kokoro phonemes for the whole grapheme: first position carries them
                chosen.update({p: "" for p in positions})
                chosen[pos] = "/" + e.phoneme
            _hit(hits, e)
    return chosen


def en_overrides(text: str, entries: Sequence[Entry], hits: dict[tuple, RuleHit]) -> str:
    """Rewrite matched words into ``[word](/phonemes/)`` markup, which the English G2P honours."""
    for e in entries:
        word = re.escape(e.grapheme)
        pattern = re.compile(rf"(?<![\w\[\]/])({word})(?![\w\]])", re.IGNORECASE)
        if e.context:
            ctx = re.compile(rf"(?<![\w\[]){re.escape(e.context)}(?![\w\]])", re.IGNORECASE)

            def in_context(m: re.Match[str], e: Entry = e, pattern: re.Pattern[str] = pattern) -> str:
                inner, n = pattern.subn(lambda w: f"[{w[1]}](/{e.phoneme}/)", m[0], count=1)
                if n:
                    _hit(hits, e, n)
                return inner

            text = ctx.sub(in_context, text)
        else:
            text, n = pattern.subn(lambda w, e=e: f"[{w[1]}](/{e.phoneme}/)", text)
            if n:
                _hit(hits, e, n)
    return text


def _hit(hits: dict[tuple, RuleHit], e: Entry, n: int = 1) -> None:
    h = hits.get(e.key)
    if h is None:
        h = hits[e.key] = RuleHit(e.source, e.grapheme, e.phoneme, e.context)
    h.count += n
