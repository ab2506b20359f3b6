"""English G2P: hibari's spaCy-free port of misaki (Kokoro's own G2P), with dictionary overrides.

American and British variants are loaded lazily and separately (British voices use British rules).
"""

from __future__ import annotations

import functools
import importlib
import re
import threading
from collections.abc import Callable, Mapping, Sequence

from .lexicon import Entry, RuleHit, en_overrides

__all__ = ["EnglishG2P", "bound_words"]

# misaki's (and so hibari's) sub-token search is cubic in the sub-tokens of one whitespace-free word
# ("Hello" + "/" * 200 took 15 s). Words are cut so that none has more than MAX_SUBTOKENS of them.
MAX_SUBTOKENS = 8
_REPEAT_RE = re.compile(r"([^\w\s])\1{3,}")  # a run of one symbol, 4 or more long
_WORD_RE = re.compile(r"\S{%d,}" % MAX_SUBTOKENS)
# sub-token boundaries, as misaki cuts words: case changes, letters/digits, each symbol on its own
_SUBTOKEN_RE = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+|[^\w\s]|_+|\w")


class EnglishG2P:
    """Callable: normalized English text -> Kokoro phonemes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._g2p: dict[bool, object] = {}

    def _get(self, british: bool):  # noqa: ANN202 - hibari has no types
        with self._lock:
            if british not in self._g2p:
                from hibari.g2p import G2P

                self._g2p[british] = G2P(british=british)
            return self._g2p[british]

    def warm_up(self, british: bool = False) -> None:
        self(("Hello."), british=british)

    def __call__(self, text: str, *, british: bool = False, entries: Sequence[Entry] = (),
                 inline: Mapping[str, Entry] | None = None, hits: dict[tuple, RuleHit] | None = None,
                 units: list[tuple[str, str]] | None = None) -> str:
        """Phonemes for ``text``. ``units``, if given, receives ``(word, phonemes)`` for each
        whitespace-separated word, in order (how word timestamps find each word's phonemes)."""
        hits = {} if hits is None else hits
        text = bound_words(text)  # before the overrides: their [word](/phonemes/) markup is not cut
        if entries:
            text = en_overrides(text, entries, hits)
        for ch, entry in (inline or {}).items():
            n = text.count(ch)
            if n:
                text = text.replace(ch, f" [{entry.grapheme}](/{entry.phoneme}/) ")
                h = hits.setdefault(entry.key, RuleHit(entry.source, entry.grapheme, entry.phoneme, None))
                h.count += n
        g2p = self._get(british)
        with self._lock:  # hibari's tagger/OOV net keep state; one call at a time
            tokens = g2p.phonemize_tokens(g2p.tokenize(_normalize_outside_markup(text)))
        # hibari's own join (G2P.__call__): a space where the text had one
        out, word_text, word_ph = [], "", ""
        for tk in tokens:
            ph = g2p.unk if tk.phonemes is None else tk.phonemes
            out.append(ph + (" " if tk.whitespace else ""))
            word_text, word_ph = word_text + tk.text, word_ph + ph
            if tk.whitespace and units is not None:
                units.append((word_text, word_ph))
                word_text, word_ph = "", ""
        if units is not None and (word_text or word_ph):
            units.append((word_text, word_ph))
        return "".join(out).strip()


def _hibari_normalize(text: str) -> str:
    normalize, not_a_numeral = _hibari_normalizer()
    return normalize(not_a_numeral.sub(rf"\1{_GUARD}", text)).replace(_GUARD, "")


# hibari's roman-numeral pattern also matches the empty string before any capital I/V/X/L/C, so a title or
# name from its lists followed by such a word was read with a numeral that is not there: "Queen Victoria",
# "King Charles", "George Lucas", "Chapter Intro" became "Queen the zeroth Victoria", ..., "Chapter 0 Intro"
# (hibari-tts 0.3; found by bench/intelligibility.py). Where the word after such a title is not a whole
# numeral, a private-use character (the frontend drops those from the input, so only this one is there)
# stands before it while hibari normalizes, and is taken out after: hibari's own module stays untouched.
_GUARD = "\ue000"


@functools.cache
def _hibari_normalizer() -> tuple[Callable[[str], str], re.Pattern[str]]:
    """hibari's normalize function, and where a title from its numeral lists precedes a word that is not one."""
    module = importlib.import_module("hibari.g2p.normalize")  # the module: hibari.g2p.normalize is its function
    titles = module._alt([*module.ROMAN_ORDINAL, *module.ROMAN_CARDINAL])
    return module.normalize, re.compile(rf"(\b(?:{titles}) )(?=[IVXLC])(?![IVXLCDM]+\b)")


_MARKUP_RE = re.compile(r"(\[[^\[\]\n]+\]\(/)([^()\n]+)(/\))")


def _normalize_outside_markup(text: str) -> str:
    """hibari's normalizer on the text, never inside ``[word](/phonemes/)`` overrides: it reads
    symbols aloud, and a Mandarin tone arrow "→" in an override's phonemes would become "to". Each
    override's phonemes stand aside as a letters-only key while the normalizer runs."""
    held: list[str] = []

    def hold(m: re.Match[str]) -> str:
        held.append(m[2])
        return f"{m[1]}{_key(len(held) - 1)}{m[3]}"

    out = _hibari_normalize(_MARKUP_RE.sub(hold, text))
    for i, phonemes in enumerate(held):  # "(/key/)" is delimited: key 1 is never found inside key 11
        out = out.replace(f"(/{_key(i)}/)", f"(/{phonemes}/)")
    return out


def _key(i: int) -> str:
    return "qzq" + "".join("abcdefghij"[int(d)] for d in str(i))


def bound_words(text: str) -> str:
    """``text`` with runs of one symbol cut to three ("////////" -> "///") and every whitespace-free word
    of more than :data:`MAX_SUBTOKENS` sub-tokens cut into words of at most that many, so that G2P time
    stays linear in the length of the text. Ordinary words, URLs and numbers are left as they are."""
    text = _REPEAT_RE.sub(lambda m: m[1] * 3, text)
    return _WORD_RE.sub(_cut_word, text)


def _cut_word(m: re.Match[str]) -> str:
    parts = _SUBTOKEN_RE.findall(m[0])
    if len(parts) <= MAX_SUBTOKENS:
        return m[0]
    return " ".join("".join(parts[i:i + MAX_SUBTOKENS]) for i in range(0, len(parts), MAX_SUBTOKENS))
