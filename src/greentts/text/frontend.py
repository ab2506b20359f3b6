"""The text frontend: raw text -> segments of phoneme ids the model can speak. Runs without weights.

Pipeline per request::

    clean (drop + report unspeakable chars) -> inline overrides -> paragraphs/sentences (lazy)
      -> clauses -> language spans -> normalize (en|zh) -> G2P with dictionaries -> pack into segments

A segment never exceeds ``max_ids`` phoneme ids (Kokoro: 510) and is never cut inside a word. The
first segment of a request is kept short (``first_max_ids``) so streaming starts quickly.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import EmptyTextError, GreenTTSError, InputError
from ..runtime.files import default_cache_dir
from .g2p_en import EnglishG2P, bound_words
from .g2p_zh import MandarinG2P
from .lexicon import Entry, Lexicon, RuleHit, kokoro_vocab, parse_entry, pinyin_to_phonemes
from .mandarin import units_in_han_text
from .normalize import Skipped, clean, describe_skipped, is_han, language_of, mostly_han, normalize_en, normalize_zh
from .segment import Sentence, Span, split_clauses, split_sentences, split_spans, split_words
from .planning import Context, Piece, to_ids, word_spans
from .ssml import Chunk, Controls, is_ssml, parse_ssml

__all__ = ["Segment", "Plan", "Frontend", "PAUSES", "kokoro_vocab", "language_of", "mostly_han"]

# Silence (seconds at speed 1.0) inserted after a segment, by how the segment ends.
PAUSES = {"word": 0.0, "clause": 0.12, "sentence": 0.25, "paragraph": 0.6}
_INLINE_RE = re.compile(r"\[([^\[\]\n]+)\]\(([^()\n]+)\)")
_PLACEHOLDER_BASE = 0xF0000  # plane-15 private use: free because clean() removed user private-use chars
# A clause longer than this (in characters) is halved at a word boundary before G2P: a segment holds at
# most 510 ids, and spoken text has at least ~0.25 ids per character. This keeps planning linear.
LONG_CLAUSE_CHARS = 2048
# What the G2P libraries (hibari/misaki, jieba, pypinyin, cn2an) raise on input they cannot read.
G2P_ERRORS = (ValueError, KeyError, IndexError, TypeError, OverflowError, AttributeError, UnicodeError)


@dataclass(frozen=True)
class Segment:
    """One unit of synthesis: a clause group that fits the model. ``text`` is the normalized text."""

    index: int
    text: str
    lang: str  # "en", "zh" or "en+zh"
    phonemes: str
    ids: tuple[int, ...]
    end: str  # "word" | "clause" | "sentence" | "paragraph"
    # SSML: the segment's controls (rate, pitch, volume, voice), an explicit pause after it (<break>),
    # and the <mark> names at its start and at the end of its speech
    controls: Controls | None = None
    pause: float | None = None
    marks: tuple[str, ...] = ()
    end_marks: tuple[str, ...] = ()
    # word timing: (spoken word, index of the written word in Plan.words, first id, end id) per spoken
    # word; ids index ``ids`` (the model adds one pad before them)
    words: tuple[tuple[str, int, int, int], ...] = ()

    @property
    def pause_s(self) -> float:
        return PAUSES[self.end] if self.pause is None else self.pause


@dataclass
class Plan:
    """The frontend's result for one text: segments (lazy), what was skipped, which rules fired."""

    skipped: list[Skipped]
    _segments: Iterator[Segment]
    _hits: dict[tuple, RuleHit] = field(default_factory=dict)
    text: str = ""
    # the written words of the input, in order, as (word, start, end): character offsets in ``text``
    # (None where the word could not be found there); Segment.words index this list
    words: list[tuple[str, int | None, int | None]] = field(default_factory=list)

    def __iter__(self) -> Iterator[Segment]:
        return self._segments

    def prepare(self, whole: bool = False) -> None:
        """Plan the first segment now (``whole``: every segment), so that errors in the text are raised
        here rather than while audio streams. Raises EmptyTextError when nothing in it can be spoken."""
        ready = list(self._segments) if whole else list(itertools.islice(self._segments, 1))
        if not ready:
            raise EmptyTextError(_nothing_speakable(self.text, self.skipped))
        self._segments = itertools.chain(ready, self._segments)

    @property
    def rules_fired(self) -> list[RuleHit]:
        return [h for h in self._hits.values() if h.count]


class Frontend:
    """Text -> segments. Thread-safe; G2P resources load lazily on first use."""

    def __init__(self, lexicon: Lexicon | None = None, max_ids: int = 510, first_max_ids: int = 48, *,
                 compact: bool = True, cache_dir: Path | None = None) -> None:
        """``compact``: the G2P dictionaries are read from tables in ``<cache_dir>/frontend`` (default cache:
        ``default_cache_dir()``; :mod:`greentts.text.compact`); False: the libraries load them into memory."""
        if not 16 <= max_ids <= 510:
            raise InputError(f"max_ids must be between 16 and 510, got {max_ids}")
        self.lexicon = lexicon or Lexicon()
        self.max_ids = max_ids
        self.first_max_ids = min(first_max_ids, max_ids)
        tables = Path(cache_dir or default_cache_dir()) / "frontend" if compact else None
        self.en = EnglishG2P(tables)
        self.zh = MandarinG2P(tables)

    def warm_up(self) -> None:
        """Load both G2Ps and their dictionaries now rather than on the first request."""
        list(self.plan("Hello, 你好。"))

    def primary_language(self, text: str, lang: str = "auto", input_format: str = "auto") -> str:
        """The request's primary language, decided here only: ``lang`` unless "auto"; else "zh" when Han
        characters dominate the spoken text (:func:`mostly_han`; for SSML, the text of its elements),
        else "en". The default voice, the plan and dialogue's voice assignment all follow it."""
        if lang != "auto":
            return lang
        if input_format == "ssml" or (input_format == "auto" and is_ssml(text)):
            return language_of(" ".join(c.text for c in parse_ssml(text, False)[0]))
        return language_of(self._inline(clean(text)[0])[0])

    def plan(self, text: str, *, lang: str = "auto", british: bool = False, lexicon: Lexicon | None = None,
             first_max_ids: int | None = None, max_ids: int | None = None, input_format: str = "auto",
             ssml_strict: bool = True, british_of: Callable[[str], bool] | None = None) -> Plan:
        """Validate and prepare ``text`` now; segments are produced lazily while iterating.

        ``input_format``: "text", "ssml", or "auto" (SSML when the text starts with ``<speak``).
        ``ssml_strict``: unknown SSML elements are an error (else their text is read and they are
        reported in ``Plan.skipped``). ``british_of(voice)``: whether an SSML ``<voice>`` is British.
        """
        if not isinstance(text, str):
            raise InputError(f"text must be a string, not {type(text).__name__}")
        if lang not in ("auto", "en", "zh"):
            raise InputError(f"lang must be 'auto', 'en' or 'zh', not {lang!r}")
        if input_format not in ("auto", "text", "ssml"):
            raise InputError(f"input_format must be 'auto', 'text' or 'ssml', not {input_format!r}")
        limit = min(max_ids or self.max_ids, self.max_ids)
        first = min(first_max_ids if first_max_ids is not None else self.first_max_ids, limit)
        req = (lexicon or Lexicon()) + self.lexicon
        if input_format == "ssml" or (input_format == "auto" and is_ssml(text)):
            return self._plan_ssml(text, lang, british, req, first, limit, ssml_strict, british_of)
        cleaned, skipped = clean(text)
        cleaned, inline = self._inline(cleaned)
        if not any(ch.isalnum() or ch in inline for ch in cleaned):
            raise EmptyTextError(_nothing_speakable(text, skipped))
        primary = lang if lang != "auto" else language_of(cleaned)
        hits: dict[tuple, RuleHit] = {}
        ctx = Context(primary, british, req.for_lang("en"), req.for_lang("zh"), inline, hits, skipped,
                       source=text)
        return Plan(skipped, self._segments(cleaned, ctx, first, limit), hits, text, ctx.words)

    # -- SSML ------------------------------------------------------------------------------------

    def _plan_ssml(self, text: str, lang: str, british: bool, req: Lexicon, first: int, limit: int,
                   strict: bool, british_of: Callable[[str], bool] | None) -> Plan:
        chunks, ignored = parse_ssml(text, strict)
        skipped = [Skipped(-1, tag, "unsupported SSML element: its text was read") for tag in ignored]
        hits: dict[tuple, RuleHit] = {}
        whole = " ".join(c.text for c in chunks)
        auto = language_of(whole)
        words: list[tuple[str, int | None, int | None]] = []
        cursor = [0]
        prepared = []
        for chunk in chunks:
            cleaned, sk = clean(chunk.text)
            skipped.extend(sk)
            cleaned, inline = self._inline(cleaned)
            primary = chunk.controls.lang or (lang if lang != "auto" else auto)
            voice = chunk.controls.voice
            brit = british_of(voice) if voice and british_of else british
            ctx = Context(primary, brit, req.for_lang("en"), req.for_lang("zh"), inline, hits, skipped,
                           source=text, words=words, cursor=cursor)
            speakable = any(ch.isalnum() or ch in inline for ch in cleaned)
            prepared.append((chunk, cleaned if speakable else "", ctx))
        return Plan(skipped, self._ssml_segments(prepared, first, limit), hits, text, words)

    def _ssml_segments(self, prepared: list[tuple[Chunk, str, Context]], first: int, limit: int) -> Iterator[Segment]:
        index = 0
        held: Segment | None = None  # the last segment so far: trailing marks may still land on it
        pending: list[str] = []
        for chunk, cleaned, ctx in prepared:
            segs = list(self._segments(cleaned, ctx, first if index == 0 else limit, limit, index)) if cleaned else []
            if not segs:
                pending.extend(chunk.marks)
                if held is not None and chunk.pause_s:
                    held = replace(held, pause=(held.pause or 0.0) + chunk.pause_s)
                continue
            controls = chunk.controls if chunk.controls != Controls(lang=chunk.controls.lang) else None
            segs = [replace(sg, controls=controls) for sg in segs]
            segs[0] = replace(segs[0], marks=tuple(pending + chunk.marks))
            end = max(_natural_end(cleaned), chunk.end or "word", key=_END_ORDER.index)
            pause = chunk.pause_s if chunk.pause_s is not None else (0.0 if end == "word" else None)
            segs[-1] = replace(segs[-1], end=end, pause=pause)
            pending = []
            if held is not None:
                yield held
            yield from segs[:-1]
            held = segs[-1]
            index += len(segs)
        if held is not None:
            yield replace(held, end_marks=tuple(pending)) if pending else held

    def phonemize(self, text: str, **kwargs: object) -> list[Segment]:
        """All segments of ``text`` at once (for inspection and the CLI's ``phonemize``)."""
        return list(self.plan(text, **kwargs))  # type: ignore[arg-type]

    # -- inline overrides ----------------------------------------------------------------------

    @staticmethod
    def _inline(text: str) -> tuple[str, dict[str, Entry]]:
        inline: dict[str, Entry] = {}

        def repl(m: re.Match[str]) -> str:
            ch = chr(_PLACEHOLDER_BASE + len(inline))
            try:
                inline[ch] = parse_entry({"grapheme": m[1], "phoneme": m[2]}, "inline")
            except ValueError as exc:
                raise InputError(f"inline pronunciation {m[0]!r} at character {m.start()}: {exc}") from exc
            return ch

        return _INLINE_RE.sub(repl, text), inline

    # -- planning --------------------------------------------------------------------------------

    def _segments(self, text: str, ctx: Context, first_max_ids: int, max_ids: int,
                  index: int = 0) -> Iterator[Segment]:
        for sentence in split_sentences(text):
            limit = first_max_ids if index == 0 else max_ids
            pieces = list(self._pieces(sentence, ctx, limit, max_ids))
            ctx.align(sentence.text, pieces)
            for group in self._pack(iter(pieces), limit, max_ids):
                phonemes = " ".join(p.phonemes for p in group)
                langs = frozenset().union(*(p.langs for p in group))
                yield Segment(index, ctx.display(_join_text(p.text for p in group)), "+".join(sorted(langs)),
                              phonemes, to_ids(phonemes), group[-1].end, words=word_spans(phonemes, group))
                index += 1
                limit = max_ids

    @staticmethod
    def _pack(pieces: Iterator[Piece], first_limit: int, max_ids: int) -> Iterator[list[Piece]]:
        group: list[Piece] = []
        size, limit = 0, first_limit
        for piece in pieces:
            n = piece.n_ids
            if group and size + 1 + n > limit:
                yield group
                group, size, limit = [], 0, max_ids
            group.append(piece)
            size += n + (1 if size else 0)
        if group:
            yield group

    def _pieces(self, sentence: Sentence, ctx: Context, first_limit: int, max_ids: int) -> Iterator[Piece]:
        # Normalize first, so that limits and word boundaries apply to what will be spoken
        # ("$1,250,000" is one token written but five words spoken).
        text = units_in_han_text(sentence.text) if ctx.primary == "zh" else sentence.text
        spoken = "".join(_normalize(sp) for sp in split_spans(text, ctx.primary, ctx.lang_of))
        clauses = split_clauses(spoken)
        limit = first_limit
        for i, clause in enumerate(clauses):
            last = i == len(clauses) - 1
            end = ("paragraph" if sentence.paragraph_end else "sentence") if last else "clause"
            yield from self._fit(clause, end, ctx, limit, max_ids)
            limit = max_ids

    def _fit(self, text: str, end: str, ctx: Context, limit: int, max_ids: int) -> Iterator[Piece]:
        """One clause as pieces of at most ``limit`` ids, cut at word boundaries only when needed."""
        if len(text) > LONG_CLAUSE_CHARS:  # certainly too long for one segment: halve it before any G2P
            head, tail = split_words(text, self._cut_han)
            if tail:
                yield from self._fit(head, "word", ctx, limit, max_ids)
                yield from self._fit(tail, end, ctx, max_ids, max_ids)
                return
        piece = self._g2p(text, end, ctx)
        if piece.n_ids <= limit:
            if piece.n_ids:  # phonemes outside the model's vocabulary alone ("'") are nothing to speak
                yield piece
            return
        head, tail = split_words(text, self._cut_han)
        if not tail and piece.n_ids <= max_ids:
            yield piece  # over the soft first-segment limit, but a single word: keep it whole
            return
        if not tail:
            raise InputError(f"a single word of {piece.n_ids} phonemes cannot fit the model's "
                             f"{max_ids}-id limit: {text[:40]!r}...")
        yield from self._fit(head, "word", ctx, limit, max_ids)
        yield from self._fit(tail, end, ctx, max_ids, max_ids)

    def _cut_han(self, text: str) -> list[str]:
        return self.zh._segmenter().lcut(text)

    def _g2p(self, text: str, end: str, ctx: Context) -> Piece:
        parts, langs, units = [], set(), []
        for span in split_spans(text, ctx.primary, ctx.lang_of):
            span_units: list[tuple[str, str]] = []
            try:
                ph = self._g2p_span(span.lang, span.text, ctx, span_units)
            except GreenTTSError:
                raise
            except G2P_ERRORS:  # a G2P library failed on something in it: read it word by word
                span_units = []
                ph = " ".join(filter(None, (self._g2p_word(span.lang, w, ctx, span_units) for w in span.text.split())))
            if ph:
                parts.append(ph)
                langs.add(span.lang)
                units.extend((ctx.display(t), p) for t, p in span_units)
        return Piece(text, " ".join(parts), frozenset(langs), end, units)

    def _g2p_span(self, lang: str, text: str, ctx: Context, units: list[tuple[str, str]] | None = None) -> str:
        if lang == "en" and ctx.primary == "zh" and ZH_LETTER_NAMES and _CAPS_RE.search(text):
            return self._letters_in_mandarin(text, ctx, units)
        if lang == "zh":
            return self.zh(text, ctx.zh_entries, ctx.inline, ctx.hits, units=units)
        return self.en(text, british=ctx.british, entries=ctx.en_entries, inline=ctx.inline, hits=ctx.hits,
                       units=units)

    def _letters_in_mandarin(self, text: str, ctx: Context, units: list[tuple[str, str]] | None) -> str:
        """English in Mandarin text: capital-letter codes (API, GPU, HR) said with the letter names a
        Mandarin speaker uses, in Mandarin phonemes, which a zh voice says clearly; other words by the
        English G2P."""
        parts: list[str] = []
        pos = 0
        for m in _CAPS_RE.finditer(text):
            if text[pos:m.start()].strip():
                parts.append(self._g2p_span("en", text[pos:m.start()], replace(ctx, primary="en"), units))
            phonemes = " ".join(pinyin_to_phonemes(ZH_LETTER_NAMES[c].split()) for c in m[0])
            parts.append(phonemes)
            if units is not None:
                units.append((m[0], phonemes))
            pos = m.end()
        if text[pos:].strip():
            parts.append(self._g2p_span("en", text[pos:], replace(ctx, primary="en"), units))
        return " ".join(p for p in parts if p)

    def _g2p_word(self, lang: str, word: str, ctx: Context, units: list[tuple[str, str]] | None = None) -> str:
        """One word's phonemes; a word the G2P cannot read is skipped and reported in ``Plan.skipped``."""
        try:
            return self._g2p_span(lang, word, ctx, units)
        except GreenTTSError:
            raise
        except G2P_ERRORS as exc:
            ctx.skipped.append(Skipped(-1, ctx.display(word), f"the {lang} G2P cannot read it "
                                                              f"({type(exc).__name__}: {exc})"[:200]))
            return ""


_END_ORDER = ["word", "clause", "sentence", "paragraph"]
# Letter names as Mandarin speakers say them (A "ei", B "bi", ... W "da bu liu"), in pinyin
ZH_LETTER_NAMES = {
    "A": "ei1", "B": "bi4", "C": "xi1", "D": "di4", "E": "yi4", "F": "ai2 fu5", "G": "ji4", "H": "ai2 qi1",
    "I": "ai4", "J": "jie4", "K": "kai4", "L": "ai2 le5", "M": "ai2 mu5", "N": "en1", "O": "ou1", "P": "pi4",
    "Q": "kiu1", "R": "a4 er5", "S": "ai2 si5", "T": "ti4", "U": "you1", "V": "wei1", "W": "da2 bu5 liu5",
    "X": "ai2 ke5 si5", "Y": "wai4", "Z": "zei4"}
_CAPS_RE = re.compile(r"(?<![A-Za-z])[A-Z]{1,5}(?![a-z])")


def _natural_end(text: str) -> str:
    """How a run of text ends by its punctuation: "sentence", "clause" or "word"."""
    tail = text.rstrip().rstrip("\"”’')]」』）")
    if tail[-1:] in ".!?。！？…":
        return "sentence"
    return "clause" if tail[-1:] in ",;:，；：、—" else "word"


def _nothing_speakable(text: str, skipped: list[Skipped]) -> str:
    if not text.strip():
        return "text is empty"
    if not skipped:
        return "text has nothing speakable (no letters or digits the voices can read)"
    return f"text has nothing speakable after removing {len(skipped)} characters or words: " \
           + describe_skipped(skipped)


def _normalize(span: Span) -> str:
    """The span spelled out; if a number library fails on it, the G2P reads it as written."""
    try:
        # English: cut words of very many sub-tokens ("aBaB...", "a/a/...") as the G2P will, so that a
        # segment can be cut between them
        return normalize_zh(span.text) if span.lang == "zh" else bound_words(normalize_en(span.text))
    except G2P_ERRORS:
        return span.text


def _join_text(parts: Iterator[str]) -> str:
    """Join pieces with a space, except between CJK characters/punctuation (which use none)."""
    out = ""
    for part in parts:
        if out and not (_cjk(out[-1]) or _cjk(part[0])):
            out += " "
        out += part
    return out


def _cjk(ch: str) -> bool:
    return is_han(ch) or "\u3000" <= ch <= "\u303f" or "\uff00" <= ch <= "\uffef"
