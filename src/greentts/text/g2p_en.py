"""English G2P: hibari's spaCy-free port of misaki (Kokoro's own G2P), with dictionary overrides.

American and British variants are loaded lazily and separately (British voices use British rules).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

from .lexicon import Entry, RuleHit, en_overrides

__all__ = ["EnglishG2P"]


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
                 inline: Mapping[str, Entry] | None = None, hits: dict[tuple, RuleHit] | None = None) -> str:
        hits = {} if hits is None else hits
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
            result = g2p(text)
        return (result[0] if isinstance(result, tuple) else result).strip()
