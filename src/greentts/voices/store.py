"""Stock voices: Kokoro v1.0's 54 style tables (from kokoro-js 1.2.1, Apache-2.0), with metadata.

A :class:`Voice` is plain data (name, language, gender, which backends can speak it, its style
table); it lives outside the model objects so any worker session can use any voice.

Blends are voices too: ``"af_heart:0.6,af_bella:0.4"`` is the weighted mean of the two style tables
(weights are normalized to sum to 1; ``"af_heart,af_bella"`` weighs them equally). A blend speaks the
language of its heaviest component.
"""

from __future__ import annotations

import difflib
import json
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from importlib.resources import files

import numpy as np

from ..errors import VoiceError

__all__ = ["Voice", "VoiceStore"]

_DATA = files("greentts") / "data"
# Voices the eco tier (hibari) can speak: hibari's bundled model is a student of af_heart.
ECO_VOICES = frozenset({"af_heart"})
MAX_BLEND_PARTS = 8
_BLEND_CACHE = 64  # blends kept in memory (each table is 510 x 256 float32, about 0.5 MB)


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
        self._blends: OrderedDict[str, Voice] = OrderedDict()
        self._lock = threading.Lock()

    def names(self, lang: str | None = None) -> list[str]:
        """Voice names, optionally only those whose language starts with ``lang`` ("en", "zh", "en-gb")."""
        return [n for n, m in sorted(self._meta.items()) if lang is None or m["language"].startswith(lang)]

    def get(self, name: str) -> Voice:
        """A stock voice by name, or a blend such as ``"af_heart:0.6,af_bella:0.4"``."""
        if not isinstance(name, str) or not name.strip():
            raise VoiceError("a voice name must be a non-empty string")
        if "," in name or ":" in name:
            return self.blend(name)
        return self._stock(name.strip())

    def blend(self, spec: str) -> Voice:
        """The weighted mean of stock voices' style tables (``name:weight`` parts joined by commas)."""
        parts = parse_blend(spec)
        key = ",".join(f"{n}:{w:.4g}" for n, w in parts)
        with self._lock:
            if key in self._blends:
                self._blends.move_to_end(key)
                return self._blends[key]
        voices = [(self._stock(n), w) for n, w in parts]
        table = sum(v.table.astype(np.float64) * w for v, w in voices)
        table = np.ascontiguousarray(table, dtype=np.float32)
        table.setflags(write=False)
        main = max(voices, key=lambda vw: vw[1])[0]
        genders = {v.gender for v, _ in voices}
        backends = main.backends if all(v.name == main.name for v, _ in voices) else ("kokoro",)
        voice = Voice(key, main.language, main.language_name, genders.pop() if len(genders) == 1 else "mixed",
                      backends, table)
        with self._lock:
            self._blends[key] = voice
            while len(self._blends) > _BLEND_CACHE:
                self._blends.popitem(last=False)
        return voice

    def _stock(self, name: str) -> Voice:
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


def parse_blend(spec: str) -> list[tuple[str, float]]:
    """``"a:0.6,b:0.4"`` -> [("a", 0.6), ("b", 0.4)], weights normalized; clear errors for bad specs."""
    parts: list[tuple[str, float]] = []
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            raise VoiceError(f"voice blend {spec!r} has an empty part; write e.g. af_heart:0.6,af_bella:0.4")
        name, sep, weight = item.partition(":")
        name = name.strip()
        try:
            w = float(weight) if sep else 1.0
        except ValueError:
            raise VoiceError(f"voice blend {spec!r}: weight {weight.strip()!r} of {name!r} is not a number") from None
        if not math.isfinite(w) or w <= 0:
            raise VoiceError(f"voice blend {spec!r}: the weight of {name!r} must be a positive number, got {w:g}")
        parts.append((name, w))
    names = [n for n, _ in parts]
    if len(set(names)) != len(names):
        raise VoiceError(f"voice blend {spec!r} names a voice twice")
    if len(parts) > MAX_BLEND_PARTS:
        raise VoiceError(f"voice blend {spec!r} has {len(parts)} parts; at most {MAX_BLEND_PARTS}")
    total = sum(w for _, w in parts)
    return [(n, w / total) for n, w in parts]
