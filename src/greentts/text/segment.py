"""Splitting text: paragraphs -> sentences -> clauses -> language spans, and word-boundary cuts.

All functions are pure and lazy where the input can be long (a 200,000-character book streams).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .english import MAY_END_SENTENCE, NEVER_ENDS_SENTENCE
from .normalize import is_han

__all__ = ["Sentence", "SentenceBuffer", "Span", "split_sentences", "split_clauses", "split_spans", "split_words"]

# A sentence ends at . ! ? … followed by whitespace (plus closing quotes), or at 。！？ anywhere.
_SENT_END = re.compile(r"(?:[.!?…]+[\"”’')\]]*(?=\s)|[。！？]+[”’」』）)]*|(?<=[\u3400-\u9fff])[!?]+)")
_CLAUSE_END = re.compile(r"(?:[,;:—](?=\s)|[，；：、])")
PARAGRAPH_RE = re.compile(r"\n\s*\n")


@dataclass(frozen=True)
class Sentence:
    text: str
    paragraph_end: bool


@dataclass(frozen=True)
class Span:
    lang: str  # "en" | "zh"
    text: str


def _is_sentence_break(text: str, start: int, end: int) -> bool:
    """False for '.' after an abbreviation that cannot end a sentence ("Dr. Smith", "Feb. 3rd", "e.g. this"),
    after an initial ("J. K."), before a lowercase word or a digit after any abbreviation; one that may end
    a sentence ("Inc.", "etc.") ends it only before a capitalized word."""
    mark = text[start:end]
    rest = text[end:].lstrip()
    if rest[:1].islower():
        return False
    if mark.startswith(".") and len(mark.rstrip("\"”’')]")) == 1:
        word = text[:start].rsplit(None, 1)[-1] if text[:start].strip() else ""
        word = word.lstrip("(\"“'‘")
        if word in NEVER_ENDS_SENTENCE or (len(word) == 1 and word.isupper()):
            return False
        if (word in MAY_END_SENTENCE or _DOTTED.fullmatch(word)) and not rest[:1].isupper():
            return False
    return True


_DOTTED = re.compile(r"[A-Za-z](?:\.[A-Za-z])+")


def _paragraphs(text: str) -> Iterator[str]:
    pos = 0
    for m in PARAGRAPH_RE.finditer(text):
        yield text[pos:m.start()]
        pos = m.end()
    yield text[pos:]


def split_sentences(text: str) -> Iterator[Sentence]:
    """Sentences in order; ``paragraph_end`` marks the last sentence of each paragraph."""
    for para in _paragraphs(text):
        sentences = []
        cut = 0
        for m in _SENT_END.finditer(para):
            if _is_sentence_break(para, m.start(), m.end()):
                sentences.append(para[cut:m.end()])
                cut = m.end()
        sentences.append(para[cut:])
        sentences = [" ".join(s.split()) for s in sentences]
        sentences = [s for s in sentences if s]
        for i, s in enumerate(sentences):
            yield Sentence(s, paragraph_end=i == len(sentences) - 1)



class SentenceBuffer:
    """Text that arrives in pieces (an assistant's reply, token by token) -> text to speak, one run of
    whole sentences at a time, by the same rules as :func:`split_sentences`.

    A sentence end counts once text follows it: whether "5. " ends a sentence depends on the next word
    ("5. and" does not). A run with no sentence end longer than ``max_chars`` is cut at its last space
    (or clause end) so that speech never waits on unbounded text."""

    def __init__(self, max_chars: int = 1000) -> None:
        self.max_chars = max_chars
        self._text = ""

    def add(self, chunk: str) -> str:
        """Append ``chunk``; returns the whole sentences now complete ("" if none), whitespace-normalized."""
        self._text += chunk
        cut = _last_break(self._text)
        if not cut and len(self._text) > self.max_chars:
            head = self._text[:self.max_chars]
            cut = max(head.rfind(" "), max((m.end() for m in _CLAUSE_END.finditer(head)), default=0)) or self.max_chars
        done, self._text = self._text[:cut], self._text[cut:]
        return " ".join(done.split())

    def finish(self) -> str:
        """The rest (the text ended): whatever has not been returned yet."""
        rest, self._text = " ".join(self._text.split()), ""
        return rest


def _last_break(text: str) -> int:
    """Index just after the last sentence end (or paragraph break) of ``text`` that more text follows; 0 if none."""
    cut = 0
    for m in _SENT_END.finditer(text):
        if text[m.end():].strip() and _is_sentence_break(text, m.start(), m.end()):
            cut = m.end()
    for m in PARAGRAPH_RE.finditer(text):
        if m.start() > cut and text[m.end():].strip():
            cut = m.start()
    return cut

def split_clauses(sentence: str) -> list[str]:
    """Clauses with their trailing punctuation; never splits inside '1,250'."""
    out, cut = [], 0
    for m in _CLAUSE_END.finditer(sentence):
        out.append(sentence[cut:m.end()])
        cut = m.end()
    out.append(sentence[cut:])
    return [c.strip() for c in out if c.strip()]


def split_spans(text: str, primary: str, lang_of: Callable[[str], str | None]) -> list[Span]:
    """Language spans of mixed text. ``lang_of(ch)`` returns "en", "zh" or None (neutral).

    Neutral runs (digits, spaces, punctuation) join the preceding span, except digits written
    right before a Han character ("3张"), which join the following Mandarin span.
    """
    tagged = [(lang, "".join(chars)) for lang, chars in itertools.groupby(text, lang_of)]
    spans: list[list[str]] = []  # [lang, text]
    for i, (lang, chunk) in enumerate(tagged):
        if lang is None:
            nxt = tagged[i + 1][0] if i + 1 < len(tagged) else None
            prev = spans[-1][0] if spans else None
            if prev is None:
                lang = nxt or primary
            elif nxt == "zh" and prev != "zh" and chunk[-1:].isdigit():
                head = chunk.rstrip("0123456789.,")
                tail = chunk[len(head):]
                if head:
                    spans[-1][1] += head
                spans.append(["zh", tail])
                continue
            else:
                lang = prev
        if spans and spans[-1][0] == lang:
            spans[-1][1] += chunk
        else:
            spans.append([lang, chunk])
    return [Span(lang, t) for lang, t in spans if t.strip()]


def split_words(text: str, cut: Callable[[str], list[str]] | None = None) -> tuple[str, str]:
    """Cut ``text`` in two at the word boundary nearest its middle (spaces; Han text via ``cut``).

    Returns ``(text, "")`` when there is no boundary: a word is never cut.
    """
    if " " in text.strip():
        words = text.split()
    elif cut is not None and any(is_han(c) for c in text):
        words = []
        for w in cut(text):  # punctuation tokens stay with the word before them
            if words and not any(c.isalnum() for c in w):
                words[-1] += w
            elif w:
                words.append(w)
    else:
        words = [text]
    if len(words) < 2:
        return text, ""  # one word: never cut inside it
    total = sum(len(w) for w in words)
    acc, k = 0, 0
    for k, w in enumerate(words[:-1], start=1):
        acc += len(w)
        if acc >= total / 2:
            break
    sep = " " if " " in text.strip() else ""
    return sep.join(words[:k]), sep.join(words[k:])


def han_or_latin(ch: str) -> str | None:
    if is_han(ch):
        return "zh"
    if ch.isalpha() and ch.isascii() or "\u00c0" <= ch <= "\u024f":
        return "en"
    return None
