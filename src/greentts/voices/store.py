"""Stock voices: Kokoro v1.0's 54 style tables (from kokoro-js 1.2.1, Apache-2.0), with metadata.

A :class:`Voice` is plain data (name, language, gender, which backends can speak it, its style
table); it lives outside the model objects so any worker session can use any voice.
"""

from __future__ import annotations

import difflib
import json
import threading
from dataclasses import dataclass, field
from importlib.resources import files

import numpy as np

from ..errors import VoiceError

__all__ = ["Voice", "VoiceStore"]

_DATA = files("greentts") / "data"
# Voices the eco tier (hibari) can speak: hibari's bundled model is a student of af_heart.
ECO_VOICES = frozenset({"af_heart"})


@dataclass(frozen=True)
class Voice:
    """A voice: metadata plus a 510x256 float32 style table (row n-1 for n phoneme ids)."""

    name: str
    language: str  # e.g. "en-us", "en-gb", "zh"
    language_name: str
    gender: str
    backends: tuple[str, ...]
    table: np.ndarray = field(repr=False, compare=False)

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


class VoiceStore:
    """Looks voices up by name; tables are read from the packaged archive on first use."""

    def __init__(self) -> None:
        self._meta: dict[str, dict[str, str]] = json.loads(
            (_DATA / "kokoro_v1_0_voices.json").read_text(encoding="utf-8"))
        self._loaded: dict[str, Voice] = {}
        self._lock = threading.Lock()

    def names(self, lang: str | None = None) -> list[str]:
        """Voice names, optionally only those whose language starts with ``lang`` ("en", "zh", "en-gb")."""
        return [n for n, m in sorted(self._meta.items()) if lang is None or m["language"].startswith(lang)]

    def get(self, name: str) -> Voice:
        with self._lock:
            voice = self._loaded.get(name)
            if voice is None:
                meta = self._meta.get(name)
                if meta is None:
                    close = difflib.get_close_matches(name, self._meta, n=5, cutoff=0.5)
                    hint = f"; did you mean {', '.join(close)}?" if close else ""
                    raise VoiceError(f"unknown voice {name!r}{hint} (greentts voices lists all {len(self._meta)})")
                with np.load(str(_DATA / "kokoro_v1_0_voices.npz")) as archive:
                    table = np.ascontiguousarray(archive[name], dtype=np.float32)
                table.setflags(write=False)
                backends = ("kokoro", "hibari") if name in ECO_VOICES else ("kokoro",)
                voice = Voice(name, meta["language"], meta["language_name"], meta["gender"], backends, table)
                self._loaded[name] = voice
            return voice

    def list(self, lang: str | None = None) -> list[dict[str, object]]:
        out = []
        for name in self.names(lang):
            m = self._meta[name]
            backends = ["kokoro", "hibari"] if name in ECO_VOICES else ["kokoro"]
            out.append({"name": name, **m, "backends": backends})
        return out
