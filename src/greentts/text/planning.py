"""What the frontend's planner carries while it turns one request into segments.

:class:`Piece` is a run of text with its phonemes (and its spoken words); :class:`Context` holds the
request-wide state (primary language, dictionaries, inline overrides, rule hits, the written words and
where each spoken word came from); :func:`word_spans` finds each word's phoneme-id range in a segment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from .align import align_spoken, written_tokens
from .lexicon import Entry, RuleHit, kokoro_vocab
from .normalize import Skipped
from .segment import han_or_latin

__all__ = ["Piece", "Context", "word_spans", "to_ids", "PUNCT_PHONEMES"]

PUNCT_PHONEMES = ".,;:!?—…\"()“”«» -"


@dataclass
class Piece:
    text: str
    phonemes: str
    langs: frozenset[str]
    end: str
    units: list[tuple[str, str]] = field(default_factory=list)  # (spoken word, phonemes)
    written: list[int] = field(default_factory=list)  # per unit: index into Plan.words

    @cached_property
    def n_ids(self) -> int:
        return len(to_ids(self.phonemes))


def to_ids(phonemes: str) -> tuple[int, ...]:
    vocab = kokoro_vocab()
    return tuple(vocab[c] for c in phonemes if c in vocab)


@dataclass
class Context:
    primary: str
    british: bool
    en_entries: tuple[Entry, ...]
    zh_entries: tuple[Entry, ...]
    inline: dict[str, Entry]
    hits: dict[tuple, RuleHit]
    skipped: list[Skipped]  # the plan's list: words the G2P could not read are added while planning
    source: str = ""  # the request's text: written words' character offsets are found in it
    words: list[tuple[str, int | None, int | None]] = field(default_factory=list)  # Plan.words
    cursor: list[int] = field(default_factory=lambda: [0])  # where the next written word is searched

    def align(self, sentence: str, pieces: list[Piece]) -> None:
        """Give each spoken word of ``pieces`` the index (in ``words``) of the written word it says."""
        tokens = [(self.display(t), a, b) for t, a, b in written_tokens(sentence)]
        base = len(self.words)
        for word, _, _ in tokens:
            at = self.source.find(word, self.cursor[0])
            if at >= 0:
                self.words.append((word, at, at + len(word)))
                self.cursor[0] = at + len(word)
            else:  # changed by cleaning (e.g. a digit of another script): no offset
                self.words.append((word, None, None))
        spoken = [u[0] for p in pieces for u in p.units]
        owners = align_spoken([t[0] for t in tokens], spoken)
        k = 0
        for p in pieces:
            p.written = [base + owners[k + i] for i in range(len(p.units))]
            k += len(p.units)

    def display(self, text: str) -> str:
        """The text with inline-override placeholders turned back into their graphemes."""
        for ch, entry in self.inline.items():
            text = text.replace(ch, entry.grapheme)
        return text

    def lang_of(self, ch: str) -> str | None:
        entry = self.inline.get(ch)
        return entry.lang if entry is not None else han_or_latin(ch)


def word_spans(phonemes: str, group: list[Piece]) -> tuple[tuple[str, int, int, int], ...]:
    """Each spoken word's id range in a segment's ids: its phonemes found in order in ``phonemes``."""
    vocab = kokoro_vocab()
    before = [0]
    for ch in phonemes:
        before.append(before[-1] + (ch in vocab))
    out, cursor = [], 0
    for piece in group:
        for (text, ph), owner in zip(piece.units, piece.written):
            core = ph.strip(PUNCT_PHONEMES)  # a word's time is its sounds, not the pause after its comma
            if not any(ch in vocab for ch in core):
                continue
            at = phonemes.find(ph, cursor)
            if at < 0:
                return ()  # the G2P changed its mind between calls: no word timing for this segment
            head = at + ph.index(core)
            out.append((text, owner, before[head], before[head + len(core)]))
            cursor = at + len(ph)
    return tuple(out)
