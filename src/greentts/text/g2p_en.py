"""English G2P: hibari's spaCy-free port of misaki (Kokoro's own G2P), with dictionary overrides.

American and British variants are loaded lazily and separately (British voices use British rules).
"""

from __future__ import annotations

import functools
import importlib
import logging
import re
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .lexicon import Entry, RuleHit, en_overrides

__all__ = ["EnglishG2P", "bound_words"]

_log = logging.getLogger("greentts.text")

# misaki's (and so hibari's) sub-token search is cubic in the sub-tokens of one whitespace-free word
# ("Hello" + "/" * 200 took 15 s). Words are cut so that none has more than MAX_SUBTOKENS of them.
MAX_SUBTOKENS = 8
_REPEAT_RE = re.compile(r"([^\w\s])\1{3,}")  # a run of one symbol, 4 or more long
_WORD_RE = re.compile(r"\S{%d,}" % MAX_SUBTOKENS)
# sub-token boundaries, as misaki cuts words: case changes, letters/digits, each symbol on its own
_SUBTOKEN_RE = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+|[^\w\s]|_+|\w")


class EnglishG2P:
    """Callable: normalized English text -> Kokoro phonemes.

    ``tables``: a folder for the lexicons and the tagger's weights as on-disk tables
    (:mod:`greentts.text.compact`: ~100 MB less memory, the same phonemes); None: hibari's own dicts."""

    def __init__(self, tables: Path | None = None) -> None:
        self._lock = threading.Lock()
        self._g2p: dict[bool, object] = {}
        self.tables = tables

    def _get(self, british: bool):  # noqa: ANN202 - hibari has no types
        with self._lock:
            if british not in self._g2p:
                from hibari.g2p import G2P

                g2p = _compact_g2p_or_none(british, self.tables) if self.tables is not None else None
                self._g2p[british] = g2p if g2p is not None else G2P(british=british)
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


def _compact_g2p_or_none(british: bool, folder: Path):  # noqa: ANN202 - hibari has no types
    """:func:`_compact_g2p`, or None (logged) where the cache cannot hold the tables."""
    try:
        return _compact_g2p(british, folder)
    except (OSError, sqlite3.Error) as exc:
        _log.warning("English G2P: no on-disk tables in %s (%s); hibari's dictionaries are loaded into memory",
                     folder, exc)
        return None


def _compact_g2p(british: bool, folder: Path):  # noqa: ANN202 - hibari has no types
    """hibari's G2P with its lexicons and its tagger's weights read from on-disk tables. Built like
    ``G2P.__init__`` builds it (``tests/test_compact.py`` checks the attributes and the phonemes)."""
    import hibari.g2p as hg
    from hibari.g2p.lexicon import Lexicon
    from hibari.g2p.tagger import Tagger
    from hibari.g2p.tokenize import Tokenizer

    from .compact import Table, table_file

    acc = "gb" if british else "us"
    assets = Path(hg.ASSETS)
    gold, silver, tagger = (f"lexicon_{acc}_gold.json.gz", f"lexicon_{acc}_silver.json.gz", "tagger.json.gz")
    lexicon = table_file(folder, f"hibari-lexicon-{acc}", [assets / gold, assets / silver],
                         lambda: {"gold": hg._load_json(gold), "silver": hg._load_json(silver)})
    weights = table_file(folder, "hibari-tagger", [assets / tagger], lambda: _tagger_tables(hg._load_json(tagger)))
    model = dict(Table(weights, "small").items())  # tagdict, tags, vocab: small, kept in memory
    model["weights"] = Table(weights, "weights")
    g2p = hg.G2P.__new__(hg.G2P)
    g2p.lexicon = Lexicon(Table(lexicon, "gold"), Table(lexicon, "silver"), british)
    g2p.tokenizer = Tokenizer(hg._load_json("tokenizer_exceptions.json"))
    g2p.tagger = Tagger(model)
    g2p._oov, g2p.unk, g2p.british = None, "", british
    return g2p


def _tagger_tables(model: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The tagger's weights as a table; its tag dictionary, tags and vocabulary (small) as one row each."""
    return {"weights": model["weights"], "small": {k: v for k, v in model.items() if k != "weights"}}
