"""The audio cache: rendered segments reused across requests, processes and front ends.

A segment's key is its backend's :meth:`~greentts.models.base.Backend.audio_key`: the model and runtime,
the phoneme ids (the normalized text after dictionaries and G2P), the voice data the model reads, the
model speed (the request's, SSML rate and pitch included) and the seed where the backend uses one. What
is applied after the model (loudness, pauses, SSML volume, output rate, format) runs again on a hit, so
it is not in the key: a hit gives the very samples a fresh rendering would. Each entry keeps the joules
its rendering cost and how they were known; a hit charges the request only for reading it and reports
those joules as avoided. Stored on disk in a :class:`~greentts.runtime.blobcache.BlobCache` (byte cap,
LRU, safe for several processes; a corrupt entry is a miss).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np

from ..energy.accounting import EnergyAccountant, EnergyTally
from ..models.base import Backend
from ..runtime.blobcache import BlobCache
from ..voice import Voice
from .stream import SegmentOutput

__all__ = ["SegmentCache"]


class SegmentCache:
    def __init__(self, directory: Path, max_bytes: int, accountant: EnergyAccountant) -> None:
        self.blobs = BlobCache(directory, max_bytes)
        self._accountant = accountant
        self._lock = threading.Lock()
        self.avoided_j = 0.0  # over this engine's life: what the hits' first renderings cost

    @property
    def directory(self) -> Path:
        return self.blobs.directory

    def lookup(self, backend: Backend, ids: Sequence[int], voice: Voice, speed: float, seed: int,
               tally: EnergyTally) -> tuple[str, Future[SegmentOutput] | None]:
        """The segment's key, and a finished future with its audio on a hit (None on a miss). The work
        of looking is charged to ``tally``; a hit adds its first rendering's joules to the avoided."""
        with self._accountant.unit(part="cache") as unit:
            unit.assign((tally, 1.0))
            key = f"{backend.name}:{backend.audio_key(ids, voice, speed, seed)}"
            entry = self.blobs.get(key)
        if entry is None or "audio" not in entry.arrays:
            tally.cache_misses += 1
            return key, None
        joules = float(entry.meta.get("joules", 0.0))
        tally.cache_hit(joules, str(entry.meta.get("method", "")))
        with self._lock:
            self.avoided_j += joules
        fut: Future[SegmentOutput] = Future()
        fut.set_result((entry.arrays["audio"], 0.0, entry.arrays.get("durations")))
        return key, fut

    def save(self, key: str, out: SegmentOutput, joules: dict[str, float], method: str, tally: EnergyTally) -> None:
        """Store a rendered segment with what rendering it cost (the writing is charged to ``tally``)."""
        audio, synth_s, durations = out
        arrays: dict[str, np.ndarray] = {"audio": np.asarray(audio, np.float32)}
        if durations is not None:
            arrays["durations"] = np.asarray(durations, np.int64)
        meta: dict[str, Any] = {"joules": sum(joules.values()), "devices": joules, "method": method,
                                "synth_s": synth_s}
        with self._accountant.unit(part="cache") as unit:
            unit.assign((tally, 1.0))
            self.blobs.put(key, meta, arrays)

    def stats(self) -> dict[str, Any]:
        s = self.blobs.stats()
        return {"dir": str(self.directory), "hits": s.hits, "misses": s.misses, "corrupt": s.corrupt,
                "writes": s.writes, "evicted": s.evicted, "bytes": s.bytes, "max_bytes": s.max_bytes,
                "avoided_joules": self.avoided_j, "avoided_method": self._accountant.meter.method}
