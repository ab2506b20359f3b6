"""A voice as the models see it: plain data, outside any model object and any store.

The backends (``greentts.models``) condition on it; the voice store (``greentts.voices``) makes them
from stock tables, enrolled files and blends. Any worker session can speak any voice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["ADAIN_DIM", "TABLE_SHAPE", "Voice"]

TABLE_SHAPE = (510, 256)  # Kokoro v1.0 style table: one 256-d style vector per utterance length in ids
ADAIN_DIM = 37396  # per-layer AdaIN offsets of Kokoro-82M v1.0 (58 projections); the graph's ``adain`` input


@dataclass(frozen=True)
class Voice:
    """A voice: metadata plus a 510x256 float32 style table (row n-1 for n phoneme ids)."""

    name: str
    language: str  # e.g. "en-us", "en-gb", "zh"
    language_name: str
    gender: str
    backends: tuple[str, ...]
    table: np.ndarray = field(repr=False, compare=False)
    # Per-layer offsets of the decoder's AdaIN scales and shifts (enrolled voices; None = zeros, as for
    # every stock voice). See greentts.models.optimize: the graph's ``adain`` input.
    adain: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def british(self) -> bool:
        return self.language == "en-gb"

    @property
    def lang(self) -> str:
        """Short language code: "en", "zh", "ja", ..."""
        return self.language.split("-")[0]

    def style(self, n_ids: int) -> np.ndarray:
        """The (1, 256) style vector for an utterance of ``n_ids`` phoneme ids."""
        row = min(max(n_ids, 1), self.table.shape[0]) - 1
        return self.table[row: row + 1]

    def info(self) -> dict[str, object]:
        return {"name": self.name, "language": self.language, "language_name": self.language_name,
                "gender": self.gender, "backends": list(self.backends)}
