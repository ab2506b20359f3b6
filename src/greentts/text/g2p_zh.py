"""Mandarin G2P for Kokoro v1.0: jieba word segmentation + pypinyin (phrase-aware polyphones),
pinyin mapped to Kokoro's IPA with misaki's tables, plus dictionary and inline overrides.

The output follows misaki's legacy Mandarin convention (what Kokoro-82M v1.0 was trained on): one
phoneme word per jieba word, separated by spaces, punctuation mapped to ASCII.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

from .lexicon import Entry, RuleHit, pinyin_to_phonemes, zh_overrides

__all__ = ["MandarinG2P"]

_log = logging.getLogger("greentts.text")

_PUNCT = {"、": ", ", "，": ", ", "。": ". ", "．": ". ", "！": "! ", "：": ": ", "；": "; ", "？": "? ",
          "«": " “", "»": "” ", "《": " “", "》": "” ", "「": " “", "」": "” ", "【": " “", "】": "” ",
          "（": " (", "）": ") ", "…": "… ", "——": "—", "～": " "}


class MandarinG2P:
    """Callable: normalized Mandarin text -> Kokoro phonemes. Loads jieba's dictionary on first use."""

    def __init__(self, tables: Path | None = None) -> None:
        """``tables``: a folder for jieba's prefix dictionary as an on-disk table (:mod:`greentts.text.compact`:
        ~65 MB less memory, the same words); None: jieba's own dict."""
        self._lock = threading.Lock()
        self._jieba = None
        self.tables = tables

    def _segmenter(self):  # noqa: ANN202 - jieba has no types
        with self._lock:
            if self._jieba is None:
                with warnings.catch_warnings():  # jieba imports the deprecated pkg_resources
                    warnings.simplefilter("ignore", UserWarning)
                    import jieba

                jieba.setLogLevel(logging.WARNING)
                self._jieba = self._compact(jieba) if self.tables is not None else None
                if self._jieba is None:
                    jieba.initialize()
                    self._jieba = jieba.dt
        return self._jieba

    def _compact(self, jieba):  # noqa: ANN001, ANN202 - jieba has no types
        """jieba on the on-disk table, or None (logged) where the cache cannot hold it."""
        try:
            return _compact_tokenizer(jieba, self.tables)
        except (OSError, sqlite3.Error) as exc:
            _log.warning("Mandarin G2P: no on-disk table in %s (%s); jieba's dictionary is loaded into memory",
                         self.tables, exc)
            return None

    def warm_up(self) -> None:
        self._segmenter()

    def __call__(self, text: str, entries: Sequence[Entry] = (), inline: Mapping[str, Entry] | None = None,
                 hits: dict[tuple, RuleHit] | None = None, units: list[tuple[str, str]] | None = None) -> str:
        """Phonemes for ``text``. ``units``, if given, receives ``(character, phonemes)`` for each Han
        character and ``(word, phonemes)`` for each inline override, in order (for word timestamps)."""
        hits = {} if hits is None else hits
        inline = inline or {}
        out: list[str] = []
        for han, other in re.findall(r"([\u3400-\u9fff\uf900-\ufaff]+)|([^\u3400-\u9fff\uf900-\ufaff]+)", text):
            if han:
                out.append(self._han_run(han, entries, hits, units))
            else:
                out.append(self._other_run(other, inline, hits, units))
        return re.sub(r"\s{2,}", " ", "".join(out)).strip()

    def _han_run(self, run: str, entries: Sequence[Entry], hits: dict[tuple, RuleHit],
                 units: list[tuple[str, str]] | None = None) -> str:
        from pypinyin import Style, lazy_pinyin

        chosen = zh_overrides(run, entries, hits) if entries else {}
        words, pos = [], 0
        for word in self._segmenter().lcut(run, HMM=True):
            syllables = lazy_pinyin(word, style=Style.TONE3, neutral_tone_with_five=True)
            if len(syllables) != len(word):  # pypinyin merged something odd: fall back per character
                syllables = [lazy_pinyin(c, style=Style.TONE3, neutral_tone_with_five=True)[0] for c in word]
            parts = []
            for i, syl in enumerate(syllables):
                override = chosen.get(pos + i)
                if override is None:
                    parts.append(pinyin_to_phonemes([syl]))
                elif not override:
                    continue  # covered by a raw-phoneme entry that starts earlier
                elif override.startswith("/"):
                    parts.append(override[1:])
                else:
                    parts.append(pinyin_to_phonemes([override]))
                if units is not None:
                    units.append((word[i] if i < len(word) else "", parts[-1]))
            pos += len(word)
            words.append("".join(parts))
        return " ".join(words)

    @staticmethod
    def _other_run(run: str, inline: Mapping[str, Entry], hits: dict[tuple, RuleHit],
                   units: list[tuple[str, str]] | None = None) -> str:
        out = []
        for ch in run:
            entry = inline.get(ch)
            if entry is not None:
                phonemes = pinyin_to_phonemes(entry.syllables) if entry.syllables else entry.phoneme
                out.append(" " + phonemes + " ")
                if units is not None:
                    units.append((ch, phonemes))
                h = hits.setdefault(entry.key, RuleHit(entry.source, entry.grapheme, entry.phoneme, None))
                h.count += 1
            else:
                out.append(_PUNCT.get(ch, ch))
        return "".join(out)


def _compact_tokenizer(jieba, folder: Path):  # noqa: ANN001, ANN202 - jieba has no types
    """A jieba ``Tokenizer`` on its default dictionary whose prefix dictionary (word or prefix -> count)
    is read from an on-disk table instead of being loaded into a dict."""
    from .compact import Table, table_file

    tokenizer = jieba.Tokenizer()
    source = Path(jieba.__file__).with_name(jieba.DEFAULT_DICT_NAME)

    def build() -> dict[str, dict[str, int]]:
        with open(source, "rb") as f:
            freq, total = tokenizer.gen_pfdict(f)
        return {"freq": freq, "total": {"total": total}}

    path = table_file(folder, "jieba", [source], build)
    tokenizer.FREQ, tokenizer.total = Table(path, "freq"), Table(path, "total")["total"]
    tokenizer.initialized = True
    return tokenizer
