"""Attribution: the meter's joules, split over executed units of work, then over requests.

The accountant keeps one running ledger of meter readings. Every time a unit of work starts or ends it
reads the meter and settles the interval since the previous reading:

* the *idle* part of the interval (idle watts, measured at start-up, x its length, capped by what the
  meter saw) goes to ``idle``; an interval in which no unit ran goes to ``idle`` whole;
* the rest is split over the units running in the interval, in proportion to the CPU time each unit's
  thread used in it, times the threads it drives (equally when that clock is unavailable or all are zero).

When a unit ends, its joules are split over its requests in proportion to the audio seconds each got
(:meth:`Unit.assign`). Nothing is dropped or counted twice, so over any window
``attributed + idle == meter total`` (``in_flight`` holds units still running; it is zero when the
engine is idle). Devices are kept apart throughout (``cpu``, ``ram``, ``gpu0``, RAPL zones ...).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .carbon import CarbonFactors
from .sums import EnergySum, _one_method, cache_status, combine_reports
from .meter import EnergyMeter, Reading

__all__ = ["PARTS", "EnergyAccountant", "EnergyReport", "EnergySum", "cache_status", "combine_reports", "EnergyTally", "EnergyTotals", "Unit"]

_log = logging.getLogger("greentts.energy")

# The kinds of work a request's joules are split into (EnergyReport.parts): rendering speech on a worker
# ("speech") or alone on every core ("fast_lane"), planning text ("frontend"), shaping and resampling the
# rendered audio ("post"), looking up and writing the audio cache ("cache"), analysing a reference clip
# ("enrollment"), anything else ("other").
PARTS = ("speech", "fast_lane", "frontend", "post", "cache", "enrollment", "other")


def _thread_clock() -> int | None:
    try:
        return time.pthread_getcpuclockid(threading.get_ident())
    except (AttributeError, OSError):  # not POSIX
        return None


def _add(into: dict[str, float], part: dict[str, float], scale: float = 1.0) -> None:
    for k, v in part.items():
        into[k] = into.get(k, 0.0) + v * scale


class EnergyTally:
    """What one request has been charged so far (joules per device), plus the audio it received, and
    what the audio cache saved it: segments served from the cache (``cache_hits``) with the joules their
    first rendering cost (``avoided_j``, by the methods in ``avoided_methods``), and segments rendered
    with the cache on (``cache_misses``)."""

    def __init__(self) -> None:
        self.joules: dict[str, float] = {}
        self.audio_s = 0.0
        self.cache_hits = self.cache_misses = 0
        self.avoided_j = 0.0
        self.avoided_methods: set[str] = set()
        self.parts: dict[str, float] = {}  # joules by kind of work (see PARTS)

    def cache_hit(self, joules: float, method: str) -> None:
        self.cache_hits += 1
        self.avoided_j += joules
        self.avoided_methods.add(method)

    @property
    def total_j(self) -> float:
        return sum(self.joules.values())


class Unit:
    """One executed unit of work (a segment, a batch, a frontend step). See :meth:`EnergyAccountant.unit`."""

    def __init__(self, threads: int = 1, part: str = "other") -> None:
        self.part = part
        self.joules: dict[str, float] = {}
        self.shares: list[tuple[EnergyTally, float]] = []
        self.threads = max(1, threads)  # a multi-thread session: its pool works alongside this thread
        self._clock = _thread_clock()
        self._cpu = self._cpu_now()

    def _cpu_now(self) -> float:
        if self._clock is None:
            return 0.0
        try:
            return time.clock_gettime(self._clock)
        except OSError:
            return 0.0

    def _cpu_used(self) -> float:
        now = self._cpu_now()
        used, self._cpu = max(0.0, now - self._cpu), now
        return used

    def assign(self, *shares: tuple[EnergyTally, float]) -> None:
        """Charge this unit to requests: ``(tally, audio_seconds)`` pairs; weights need not sum to 1."""
        self.shares = list(shares)


@dataclass(frozen=True)
class EnergyReport:
    """A request's energy: joules per device (each measured or estimated), kWh, gCO2e and their basis."""

    joules: float
    kwh: float
    gco2e: float
    method: str  # "measured" | "estimated" | "mixed"
    devices: dict[str, dict[str, Any]]  # device -> {"joules": .., "method": ..}
    audio_s: float
    gco2e_per_kwh: float
    pue: float
    grid: str  # where the grid intensity comes from
    meter: str
    # the audio cache: "off" (not used), "miss" (every segment rendered), "hit" (every segment from the
    # cache), "partial"; what the cached segments cost when first rendered (not spent again: not in joules)
    cache: str = "off"
    cache_hits: int = 0
    cache_misses: int = 0
    avoided_joules: float = 0.0
    avoided_gco2e: float = 0.0
    avoided_method: str = ""  # how the avoided joules were known when they were spent: measured | estimated
    # the joules by kind of work (PARTS): "speech" scales with the audio; the rest is per-request work
    parts: dict[str, float] = field(default_factory=dict)

    @property
    def joules_per_audio_s(self) -> float:
        return self.joules / self.audio_s if self.audio_s else 0.0

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["joules_per_audio_s"] = self.joules_per_audio_s
        return out

    def summary(self) -> str:
        """One line for people: ``energy 12.3 J (3.42e-06 kWh, 0.0013 gCO2e) estimated ...``."""
        return (f"energy {self.joules:.3g} J ({self.kwh:.3g} kWh, {self.gco2e:.3g} gCO2e; "
                f"{self.joules_per_audio_s:.3g} J per audio second) {self.method} by {self.meter}; "
                f"grid {self.gco2e_per_kwh:g} gCO2e/kWh [{self.grid}], PUE {self.pue:g}")


@dataclass(frozen=True)
class EnergyTotals:
    """Cumulative figures since the accountant started: ``total == idle + attributed + in_flight``.

    ``startup`` is the part of ``attributed`` spent loading and warming models (charged to no request).
    """

    total: dict[str, float]
    idle: dict[str, float]
    attributed: dict[str, float]
    in_flight: dict[str, float]
    idle_watts: dict[str, float]
    wall_s: float
    method: str
    device_methods: dict[str, str] = field(default_factory=dict)
    startup: dict[str, float] = field(default_factory=dict)

    @staticmethod
    def _sum(d: dict[str, float]) -> float:
        return sum(d.values())

    @property
    def total_j(self) -> float:
        return self._sum(self.total)

    @property
    def idle_j(self) -> float:
        return self._sum(self.idle)

    @property
    def attributed_j(self) -> float:
        return self._sum(self.attributed)

    @property
    def in_flight_j(self) -> float:
        return self._sum(self.in_flight)

    @property
    def startup_j(self) -> float:
        return self._sum(self.startup)

    def as_dict(self) -> dict[str, Any]:
        return {"total_j": self.total_j, "idle_j": self.idle_j, "attributed_j": self.attributed_j,
                "in_flight_j": self.in_flight_j, "startup_j": self.startup_j, "wall_s": self.wall_s, "method": self.method,
                "idle_watts": self.idle_watts, "devices": {
                    d: {"total_j": self.total.get(d, 0.0), "idle_j": self.idle.get(d, 0.0),
                        "attributed_j": self.attributed.get(d, 0.0), "method": self.device_methods.get(d, "")}
                    for d in self.total}}


class EnergyAccountant:
    """Thread-safe: units may start and end on any thread, concurrently."""

    def __init__(self, meter: EnergyMeter, carbon: CarbonFactors) -> None:
        self.meter = meter
        self.carbon = carbon
        self.idle_watts: dict[str, float] = {}
        self.lock = threading.Lock()
        self._active: list[Unit] = []
        self._first = self._last = meter.read()
        self._total: dict[str, float] = {}
        self._idle: dict[str, float] = {}
        self._attributed: dict[str, float] = {}
        self._poller: threading.Thread | None = None
        self._stop = threading.Event()

    def measure_idle(self, seconds: float) -> dict[str, float]:
        """Measure idle power (watts per device) over ``seconds`` of doing nothing; used from then on.

        Call it while no work runs (at start-up). The probe's own energy is settled as idle.
        """
        if seconds <= 0:
            return self.idle_watts
        start = self.meter.read()
        time.sleep(seconds)
        end = self.meter.read()
        wall = max(end.wall_s - start.wall_s, 1e-9)
        with self.lock:
            self.idle_watts = {k: max(0.0, j) / wall for k, j in self.meter.delta(start, end).items()}
        return self.idle_watts

    @contextmanager
    def unit(self, threads: int = 1, part: str = "other") -> Iterator[Unit]:
        """Account one unit of work run by the calling thread; call ``assign`` on it before it ends.

        ``threads``: the unit drives a pool of that many threads (e.g. a multi-thread onnxruntime
        session) whose CPU time is not on this thread's clock; its thread time is scaled by it.
        ``part``: what kind of work it is (one of :data:`PARTS`), reported per request.
        """
        if part not in PARTS:
            raise ValueError(f"unknown energy part {part!r}; one of {', '.join(PARTS)}")
        u = Unit(threads, part)
        with self.lock:
            self._settle()
            u._cpu_used()  # CPU time is counted from the moment the unit joined
            self._active.append(u)
        try:
            yield u
        finally:
            with self.lock:
                try:
                    self._settle()
                finally:  # even if the meter failed: never leave a dead unit taking shares
                    self._active.remove(u)
                    _add(self._attributed, u.joules)
                    self._charge(u)

    def totals(self, startup: EnergyTally | None = None) -> EnergyTotals:
        """One consistent snapshot; ``startup`` (a tally) is copied into it under the same lock."""
        with self.lock:
            self._settle()
            in_flight: dict[str, float] = {}
            for u in self._active:
                _add(in_flight, u.joules)
            return EnergyTotals(dict(self._total), dict(self._idle), dict(self._attributed), in_flight,
                                dict(self.idle_watts), self._last.wall_s - self._first.wall_s, self.meter.method,
                                dict(self.meter.device_methods), dict(startup.joules) if startup else {})

    def start_polling(self, interval_s: float, on_poll: Callable[[], None] | None = None) -> None:
        """Settle every ``interval_s`` from a daemon thread, so counters that wrap (RAPL) never wrap
        twice between readings, and ``on_poll`` (e.g. a ledger update) runs periodically."""
        if self._poller is not None or interval_s <= 0:
            return
        self._stop.clear()

        def loop() -> None:
            while not self._stop.wait(interval_s):
                try:
                    with self.lock:
                        self._settle()
                    if on_poll is not None:
                        on_poll()
                except Exception:  # noqa: BLE001 - a failed poll must not kill the thread
                    _log.warning("energy poll failed", exc_info=True)

        self._poller = threading.Thread(target=loop, name="greentts-energy-poll", daemon=True)
        self._poller.start()

    def stop_polling(self) -> None:
        self._stop.set()
        if self._poller is not None and self._poller is not threading.current_thread():
            self._poller.join(timeout=5)
        self._poller = None

    def report(self, tally: EnergyTally) -> EnergyReport:
        with self.lock:
            joules = dict(tally.joules)
            parts = dict(tally.parts)
        total = sum(joules.values())
        methods = self.meter.device_methods
        used = {methods.get(d, self.meter.method) for d in joules} or {self.meter.method}
        return EnergyReport(
            joules=total, kwh=self.carbon.kwh(total), gco2e=self.carbon.gco2e(total),
            method=used.pop() if len(used) == 1 else "mixed",
            devices={d: {"joules": j, "method": methods.get(d, self.meter.method)} for d, j in joules.items()},
            audio_s=tally.audio_s, gco2e_per_kwh=self.carbon.gco2e_per_kwh, pue=self.carbon.pue,
            grid=self.carbon.label, meter=getattr(self.meter, "name", type(self.meter).__name__),
            cache=cache_status(tally.cache_hits, tally.cache_misses), cache_hits=tally.cache_hits,
            cache_misses=tally.cache_misses, avoided_joules=tally.avoided_j,
            avoided_gco2e=self.carbon.gco2e(tally.avoided_j), avoided_method=_one_method(tally.avoided_methods),
            parts=parts)

    # -- internals (lock held) ---------------------------------------------------------------------

    def _settle(self) -> None:
        now: Reading = self.meter.read()
        delta = self.meter.delta(self._last, now)
        wall = max(0.0, now.wall_s - self._last.wall_s)
        self._last = now
        _add(self._total, delta)
        if not self._active:
            _add(self._idle, delta)
            return
        weights = [u._cpu_used() * u.threads for u in self._active]
        if sum(weights) <= 0:
            weights = [1.0] * len(self._active)
        norm = sum(weights)
        for device, joules in delta.items():
            idle = min(max(joules, 0.0), self.idle_watts.get(device, 0.0) * wall)
            self._idle[device] = self._idle.get(device, 0.0) + idle
            for u, w in zip(self._active, weights):
                u.joules[device] = u.joules.get(device, 0.0) + (joules - idle) * w / norm

    def _charge(self, u: Unit) -> None:
        shares = [(t, w) for t, w in u.shares if w > 0] or [(t, 1.0) for t, _ in u.shares]
        norm = sum(w for _, w in shares)
        spent = sum(u.joules.values())
        for tally, w in shares:
            _add(tally.joules, u.joules, w / norm)
            tally.parts[u.part] = tally.parts.get(u.part, 0.0) + spent * w / norm
        # a unit charged to nobody stays in `attributed` (visible in totals), never silently lost
