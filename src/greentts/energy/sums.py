"""Adding request energies up: a dialogue's turns, a narration's streams, a batch's items, a reply
spoken sentence by sentence (:class:`EnergySum`, :func:`combine_reports`)."""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["EnergySum", "cache_status", "combine_reports"]


class EnergySum:
    """The energy of several requests summed (a dialogue's turns, a narration's streams, a batch's
    items): the one place where reports are added up, with one rule for the combined ``method``:
    the method they share, "mixed" when they differ, "" when nothing was added."""

    def __init__(self) -> None:
        self.joules = self.kwh = self.gco2e = 0.0
        self.avoided_joules = self.avoided_gco2e = 0.0
        self.cache_hits = self.cache_misses = 0
        self.parts: dict[str, float] = {}
        self._methods: set[str] = set()
        self._avoided_methods: set[str] = set()
        self._lock = threading.Lock()

    def add(self, energy: object | dict[str, Any] | None) -> None:
        """Add a report (or its ``as_dict()``, or the dict this class makes); None adds nothing."""
        if energy is None:
            return
        get = energy.get if isinstance(energy, dict) else lambda k, d=None: getattr(energy, k, d)
        with self._lock:
            self.joules += float(get("joules", 0.0) or 0.0)
            self.kwh += float(get("kwh", 0.0) or 0.0)
            self.gco2e += float(get("gco2e", 0.0) or 0.0)
            self.avoided_joules += float(get("avoided_joules", 0.0) or 0.0)
            self.avoided_gco2e += float(get("avoided_gco2e", 0.0) or 0.0)
            self.cache_hits += int(get("cache_hits", 0) or 0)
            self.cache_misses += int(get("cache_misses", 0) or 0)
            for part, joules in (get("parts", None) or {}).items():
                self.parts[part] = self.parts.get(part, 0.0) + float(joules)
            if get("method"):
                self._methods.add(str(get("method")))
            if get("avoided_method"):
                self._avoided_methods.add(str(get("avoided_method")))

    @property
    def method(self) -> str:
        with self._lock:
            return _one_method(self._methods)

    def as_dict(self) -> dict[str, Any]:
        method = self.method
        with self._lock:
            avoided_method = _one_method(self._avoided_methods)
            hits, misses = self.cache_hits, self.cache_misses
            return {"joules": self.joules, "kwh": self.kwh, "gco2e": self.gco2e, "method": method,
                    "cache": cache_status(hits, misses), "cache_hits": hits, "cache_misses": misses,
                    "avoided_joules": self.avoided_joules, "avoided_gco2e": self.avoided_gco2e,
                    "avoided_method": avoided_method, "parts": dict(self.parts)}

def _one_method(methods: set[str]) -> str:
    """The one rule for a combined method: the one they share, "mixed" when they differ, "" for none."""
    return "mixed" if len(methods) > 1 else next(iter(methods), "")


def cache_status(hits: int, misses: int) -> str:
    """"off" when the cache was not used, else "hit" (all segments from it), "miss" (none) or "partial"."""
    if not hits and not misses:
        return "off"
    return "hit" if not misses else "miss" if not hits else "partial"


def combine_reports(reports: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Several :class:`EnergyReport` dicts of one request (a Wyoming reply spoken sentence by sentence)
    as one dict of the same shape: joules, kWh, gCO2e, audio and each device summed; the method by
    :class:`EnergySum`'s rule; the grid, PUE and meter of the first. None when there are none."""
    if not reports:
        return None
    if len(reports) == 1:
        return dict(reports[0])
    total = EnergySum()
    devices: dict[str, dict[str, Any]] = {}
    for r in reports:
        total.add(r)
        for name, dev in (r.get("devices") or {}).items():
            d = devices.setdefault(name, {**dev, "joules": 0.0})
            d["joules"] += float(dev.get("joules", 0.0))
    audio_s = sum(float(r.get("audio_s", 0.0)) for r in reports)
    out = {**reports[0], **total.as_dict(), "devices": devices, "audio_s": audio_s}
    out["joules_per_audio_s"] = out["joules"] / audio_s if audio_s else 0.0
    return out
