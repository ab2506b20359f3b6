"""SSML input: a hardened parse of the W3C Speech Synthesis Markup Language subset greentts speaks.

Supported: ``speak``, ``p``, ``s``, ``break`` (time, strength), ``prosody`` (rate, pitch, volume),
``emphasis`` (level), ``say-as`` (interpret-as characters/spell-out, digits, telephone, cardinal/number,
ordinal, date with format, time, fraction, currency), ``phoneme`` (alphabet ``ipa``: Kokoro phonemes;
``x-pinyin``), ``sub`` (alias), ``voice`` (name), ``lang`` (xml:lang), ``mark`` (name).

:func:`parse_ssml` turns a document into :class:`Chunk` s: runs of text with one set of controls (rate,
pitch, volume, voice, language), each ending in a pause, sentence, paragraph or nothing. Text keeps
greentts' own markup: ``phoneme`` becomes an inline pronunciation (``[word](/phonemes/)``), ``say-as``
and ``sub`` become the words to say, and everything else goes through the same normalization as plain
text. The XML parser is defusedxml's: DTDs, entity declarations and external references are refused
before any expansion, so "billion laughs" and external-entity documents fail at once.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import InputError

from .say_as import SAY_AS, say_as

__all__ = ["Controls", "Chunk", "parse_ssml", "is_ssml", "SSML_TAGS", "SAY_AS", "say_as"]

SSML_TAGS = ("speak", "p", "s", "break", "prosody", "emphasis", "say-as", "phoneme", "sub", "voice", "lang", "mark")
MAX_BREAK_S = 10.0
MAX_SSML_DEPTH = 32
_BREAK_STRENGTH = {"none": 0.0, "x-weak": 0.08, "weak": 0.15, "medium": 0.3, "strong": 0.6, "x-strong": 1.0}
_RATES = {"x-slow": 0.6, "slow": 0.8, "medium": 1.0, "default": 1.0, "fast": 1.25, "x-fast": 1.6}
_PITCH_ST = {"x-low": -4.0, "low": -2.0, "medium": 0.0, "default": 0.0, "high": 2.0, "x-high": 4.0}
_VOLUME_DB = {"silent": -120.0, "x-soft": -12.0, "soft": -6.0, "medium": 0.0, "default": 0.0, "loud": 6.0,
              "x-loud": 10.0}
_EMPHASIS = {"strong": (0.88, 1.0, 3.0), "moderate": (0.94, 0.5, 1.5), "none": (1.0, 0.0, 0.0),
             "reduced": (1.08, -0.5, -3.0)}  # (rate, pitch semitones, volume dB)
_BASE_PITCH_HZ = 200.0  # pitch="+20Hz" is read relative to a typical speaking pitch


@dataclass(frozen=True)
class Controls:
    """Per-chunk controls: rate and pitch are factors, volume in dB; voice/lang None = the request's."""

    rate: float = 1.0
    pitch: float = 1.0
    volume_db: float = 0.0
    voice: str | None = None
    lang: str | None = None


@dataclass
class Chunk:
    """Text spoken with one set of controls. ``end``: how it ends (None: it runs on into the next);
    ``pause_s``: an explicit pause after it (``break``); ``marks``: mark names at its start."""

    text: str
    controls: Controls
    end: str | None = None
    pause_s: float | None = None
    marks: list[str] = field(default_factory=list)


def is_ssml(text: str) -> bool:
    """True for text that is an SSML document (starts with ``<speak``, or an XML declaration or DOCTYPE
    followed by it)."""
    head = text.lstrip()[:1000]
    return head.startswith("<speak") or (head.startswith(("<?xml", "<!DOCTYPE", "<!doctype")) and "<speak" in head)


# --------------------------------------------------------------------------------------------------
# parsing
# --------------------------------------------------------------------------------------------------


@dataclass
class _Node:
    tag: str
    attrs: dict[str, str]
    line: int
    col: int
    children: list[Any] = field(default_factory=list)  # _Node | str


class _Builder:
    """An ElementTree parser target that keeps every element's line and column (for error messages)."""

    def __init__(self) -> None:
        self.parser: Any = None
        self.stack: list[_Node] = []
        self.root: _Node | None = None

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        p = self.parser.parser
        node = _Node(tag, dict(attrs), p.CurrentLineNumber, p.CurrentColumnNumber + 1)
        if len(self.stack) >= MAX_SSML_DEPTH:
            raise InputError(f"SSML nests deeper than {MAX_SSML_DEPTH} elements at line {node.line}, column {node.col}")
        if self.stack:
            self.stack[-1].children.append(node)
        else:
            self.root = node
        self.stack.append(node)

    def end(self, tag: str) -> None:
        self.stack.pop()

    def data(self, text: str) -> None:
        if self.stack:
            self.stack[-1].children.append(text)

    def close(self) -> _Node | None:
        return self.root


def _parse_xml(text: str) -> _Node:
    from xml.etree.ElementTree import ParseError

    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import DefusedXMLParser

    builder = _Builder()
    parser = DefusedXMLParser(target=builder, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    builder.parser = parser
    try:
        parser.feed(text)
        root = parser.close()
    except DefusedXmlException as exc:
        raise InputError(f"SSML must not declare a DTD or entities, or refer to external resources ({exc})") from None
    except ParseError as exc:
        line, col = exc.position
        raise InputError(f"malformed SSML at line {line}, column {col + 1}: {str(exc).split(':')[0]}") from None
    if root is None:
        raise InputError("SSML document is empty")
    return root


def _local(tag: str) -> str:
    """``{http://www.w3.org/2001/10/synthesis}prosody`` -> ``prosody``."""
    return tag.rsplit("}", 1)[-1]


def _attr(node: _Node, name: str) -> str | None:
    for key, value in node.attrs.items():
        if _local(key) == name:
            return value.strip()
    return None


class _Walker:
    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.chunks: list[Chunk] = []
        self.ignored: list[str] = []
        self._pending_marks: list[str] = []

    # -- output ----------------------------------------------------------------------------------

    def text(self, text: str, controls: Controls) -> None:
        if not text:
            return
        last = self.chunks[-1] if self.chunks else None
        if last is not None and last.end is None and last.pause_s is None and last.controls == controls \
                and not self._pending_marks:
            last.text += text
            return
        self.chunks.append(Chunk(text, controls, marks=self._pending_marks))
        self._pending_marks = []

    def boundary(self, end: str, pause_s: float | None = None) -> None:
        """End the current chunk: ``end`` is "word", "clause", "sentence" or "paragraph"."""
        if not self.chunks or (self.chunks[-1].end is not None and pause_s is None):
            if pause_s is not None and self.chunks:
                self.chunks[-1].pause_s = (self.chunks[-1].pause_s or 0.0) + pause_s
            return
        last = self.chunks[-1]
        order = ["word", "clause", "sentence", "paragraph"]
        if last.end is None or order.index(end) > order.index(last.end):
            last.end = end
        if pause_s is not None:
            last.pause_s = (last.pause_s or 0.0) + pause_s

    def mark(self, name: str) -> None:
        if self.chunks and self.chunks[-1].end is None:
            self.chunks[-1].end = "word"
        self._pending_marks.append(name)

    def finish(self) -> list[Chunk]:
        if self._pending_marks:  # marks after the last words: on an empty chunk at the end
            self.chunks.append(Chunk("", Controls(), end="word", marks=self._pending_marks))
        return self.chunks

    # -- walking ---------------------------------------------------------------------------------

    def walk(self, node: _Node, controls: Controls) -> None:
        tag = _local(node.tag)
        where = f"line {node.line}, column {node.col}"
        handler = getattr(self, "_" + tag.replace("-", "_"), None)
        if tag not in SSML_TAGS or handler is None:
            if self.strict:
                raise InputError(f"unsupported SSML element <{tag}> at {where} (supported: {', '.join(SSML_TAGS)}; "
                                 f"ssml_strict=False reads its text and reports it)")
            self.ignored.append(f"<{tag}> at {where}")
            self.children(node, controls)
            return
        try:
            handler(node, controls)
        except InputError:
            raise
        except ValueError as exc:
            raise InputError(f"SSML <{tag}> at {where}: {exc}") from None

    def children(self, node: _Node, controls: Controls) -> None:
        for child in node.children:
            if isinstance(child, str):
                self.text(child, controls)
            else:
                self.walk(child, controls)

    def _speak(self, node: _Node, c: Controls) -> None:
        lang = _attr(node, "lang")
        self.children(node, replace(c, lang=_lang(lang)) if lang else c)

    def _p(self, node: _Node, c: Controls) -> None:
        self.boundary("paragraph")
        self.children(node, c)
        self.boundary("paragraph")

    def _s(self, node: _Node, c: Controls) -> None:
        self.boundary("sentence")
        self.children(node, c)
        self.boundary("sentence")

    def _break(self, node: _Node, c: Controls) -> None:
        time_, strength = _attr(node, "time"), _attr(node, "strength")
        if time_ is not None:
            pause = _seconds(time_)
        elif strength is not None:
            if strength not in _BREAK_STRENGTH:
                raise ValueError(f"strength must be one of {', '.join(_BREAK_STRENGTH)}, not {strength!r}")
            pause = _BREAK_STRENGTH[strength]
        else:
            pause = _BREAK_STRENGTH["medium"]
        self.boundary("word", pause)

    def _prosody(self, node: _Node, c: Controls) -> None:
        rate, pitch, volume = _attr(node, "rate"), _attr(node, "pitch"), _attr(node, "volume")
        new = replace(c, rate=c.rate * (_rate(rate) if rate else 1.0),
                      pitch=c.pitch * (_pitch(pitch) if pitch else 1.0),
                      volume_db=c.volume_db + (_volume(volume) if volume else 0.0))
        if not 0.5 <= new.rate <= 2.0:
            raise ValueError(f"the rate comes to {new.rate:.2f}x the voice's own; it must be between 0.5 and 2")
        if not 0.5 <= new.pitch <= 2.0:
            raise ValueError(f"the pitch comes to {new.pitch:.2f}x the voice's own; it must be between 0.5 and 2")
        self.children(node, new)

    def _emphasis(self, node: _Node, c: Controls) -> None:
        level = _attr(node, "level") or "moderate"
        if level not in _EMPHASIS:
            raise ValueError(f"level must be one of {', '.join(_EMPHASIS)}, not {level!r}")
        rate, semitones, db = _EMPHASIS[level]
        self.children(node, replace(c, rate=c.rate * rate, pitch=c.pitch * 2 ** (semitones / 12),
                                    volume_db=c.volume_db + db))

    def _voice(self, node: _Node, c: Controls) -> None:
        name = _attr(node, "name")
        if not name:
            raise ValueError("needs a name attribute (a stock, blended or enrolled voice)")
        self.children(node, replace(c, voice=name))

    def _lang(self, node: _Node, c: Controls) -> None:
        lang = _attr(node, "lang")
        if not lang:
            raise ValueError("needs an xml:lang attribute")
        self.children(node, replace(c, lang=_lang(lang)))

    def _mark(self, node: _Node, c: Controls) -> None:
        name = _attr(node, "name")
        if not name:
            raise ValueError("needs a name attribute")
        self.mark(name)
        self.children(node, c)

    def _sub(self, node: _Node, c: Controls) -> None:
        alias = _attr(node, "alias")
        if alias is None:
            raise ValueError("needs an alias attribute")
        self.text(alias, c)

    def _phoneme(self, node: _Node, c: Controls) -> None:
        alphabet, ph = (_attr(node, "alphabet") or "ipa").lower(), _attr(node, "ph")
        text = _plain(node).strip()
        if not ph:
            raise ValueError("needs a ph attribute")
        if not text:
            raise ValueError("needs the written word inside it")
        if re.search(r"[\[\]()\n]", text + ph):
            raise ValueError("the word and its phonemes cannot contain brackets, parentheses or newlines")
        if alphabet in ("ipa", "x-kokoro"):
            self.text(f" [{text}](/{ph}/) ", c)
        elif alphabet in ("x-pinyin", "pinyin"):
            self.text(f"[{text}]({ph})", c)
        else:
            raise ValueError(f"alphabet must be 'ipa' (Kokoro's phonemes) or 'x-pinyin', not {alphabet!r}")

    def _say_as(self, node: _Node, c: Controls) -> None:
        kind = (_attr(node, "interpret-as") or "").lower()
        text = _plain(node).strip()
        lang = c.lang or ("zh" if any("\u4e00" <= ch <= "\u9fff" for ch in text) else "en")
        self.text(" " + say_as(text, kind, _attr(node, "format"), lang) + " ", c)


def _plain(node: _Node) -> str:
    return "".join(ch if isinstance(ch, str) else _plain(ch) for ch in node.children)


def _lang(code: str) -> str:
    low = code.lower()
    if low.startswith("en"):
        return "en"
    if low.startswith(("zh", "cmn")):
        return "zh"
    raise ValueError(f"xml:lang {code!r} is not spoken (en-* or zh-*)")


def _seconds(value: str) -> float:
    return parse_seconds(value, MAX_BREAK_S, what="a break")


def parse_seconds(value: str, max_s: float, what: str = "a pause", unit_required: bool = True) -> float:
    """A duration written as "500ms" or "1.5s" (or a bare number of seconds where ``unit_required`` is
    false), at most ``max_s``; ValueError saying what is wrong. SSML break times and script pauses."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s)" + ("" if unit_required else "?") + r"\s*", value or "")
    if not m:
        raise ValueError(f"cannot read the time {value!r}; write e.g. 500ms or 1.5s")
    seconds = float(m[1]) / (1000.0 if m[2] == "ms" else 1.0)
    if seconds > max_s:
        raise ValueError(f"{what} is at most {max_s:g} s, not {value!r}")
    return seconds


def _rate(value: str) -> float:
    if value in _RATES:
        return _RATES[value]
    m = re.fullmatch(r"([+-]?\d+(?:\.\d+)?)(%)?", value)
    if not m:
        raise ValueError(f"rate must be x-slow..x-fast, a percentage or a number, not {value!r}")
    number = float(m[1])
    if m[2]:
        return 1.0 + number / 100.0 if value[0] in "+-" else number / 100.0
    return number


def _pitch(value: str) -> float:
    if value in _PITCH_ST:
        return 2 ** (_PITCH_ST[value] / 12)
    m = re.fullmatch(r"([+-]?\d+(?:\.\d+)?)(st|Hz|%)", value)
    if not m:
        raise ValueError(f"pitch must be x-low..x-high or like '+2st', '-10%', '+20Hz', not {value!r}")
    number, unit = float(m[1]), m[2]
    if unit == "st":
        return 2 ** (number / 12)
    if unit == "%":
        return 1.0 + number / 100.0
    return (_BASE_PITCH_HZ + number) / _BASE_PITCH_HZ if value[0] in "+-" else number / _BASE_PITCH_HZ


def _volume(value: str) -> float:
    """Volume in dB: a keyword, "+6dB", a signed percentage change ("+50%"), or a level 0-100."""
    if value in _VOLUME_DB:
        return _VOLUME_DB[value]
    m = re.fullmatch(r"([+-]?\d+(?:\.\d+)?)(dB|%)?", value)
    if not m:
        raise ValueError(f"volume must be silent..x-loud, '+6dB', '+50%' or a level 0-100, not {value!r}")
    number, unit = float(m[1]), m[2]
    if unit == "dB":
        return number
    if value[0] in "+-":
        return 20 * math.log10(max(1e-6, 1 + number / 100.0))
    return -120.0 if number <= 0 else 20 * math.log10(min(number, 100.0) / 100.0)


def parse_ssml(text: str, strict: bool = True) -> tuple[list[Chunk], list[str]]:
    """Chunks of an SSML document, and what was ignored (non-strict: unknown elements, by position).

    Raises InputError naming the problem and its line and column: malformed XML, a DTD or entity,
    an unknown element (``strict``), a bad attribute value.
    """
    root = _parse_xml(text)
    if _local(root.tag) != "speak":
        raise InputError(f"SSML must have <speak> as its root element, not <{_local(root.tag)}>")
    walker = _Walker(strict)
    walker.walk(root, Controls())
    chunks = [c for c in walker.finish() if c.text.strip() or c.marks or c.pause_s]
    return chunks, walker.ignored
