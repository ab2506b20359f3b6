"""Request records: one :class:`Record` per finished request, whatever the front end, and one
:class:`RequestLog` that every front end ends its requests through.

An HTTP speech or dialogue request, a batch item and a narrated chapter all end in
:meth:`RequestLog.done`: it fixes the record's wall time and energy (an
:class:`~greentts.energy.accounting.EnergySum`'s or a report's ``as_dict()``), adds it to the totals,
keeps the latest ``keep`` records for lookup, and tells every sink (the server's Prometheus metrics).
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from contextvars import ContextVar, Token
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..energy.accounting import EnergySum

__all__ = ["Publish", "Record", "RequestLog", "RequestSink", "SharedState", "Snapshot", "forget_id", "given_id", "new_id"]


_GIVEN_ID: ContextVar[str | None] = ContextVar("greentts_request_id", default=None)
_ID_SHAPE = re.compile(r"[A-Za-z0-9_-]{8,64}")


def new_id() -> str:
    """A new record's id: the one a proxy in front gave this request (:func:`given_id`), else a fresh one."""
    return _GIVEN_ID.get() or uuid.uuid4().hex[:16]


def given_id(value: str) -> Token[str | None] | None:
    """Records made in this context take ``value`` as their id (a load balancer's request id, so the one
    ``x-request-id`` a client sees names the record) until the token returned is reset; None, and nothing
    changes, unless it is 8-64 letters, digits, ``-`` or ``_``."""
    return _GIVEN_ID.set(value) if _ID_SHAPE.fullmatch(value) else None


def forget_id(token: Token[str | None] | None) -> None:
    """Undo :func:`given_id`."""
    if token is not None:
        _GIVEN_ID.reset(token)


@dataclass
class Record:
    """One request, kept after it ends so its energy can be fetched."""

    id: str
    model: str  # what was asked for: an HTTP model name, "dialogue", "batch", "narrate"
    voice: str
    format: str
    owner: str = ""  # the API key's namespace: other keys are told there is no such record
    status: str = "running"
    received: float = field(default_factory=time.perf_counter)
    first_audio_s: float | None = None
    total_s: float | None = None
    audio_s: float = 0.0
    tier: str = ""
    backend: str = ""
    energy: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    ticket: Any = field(default=None, repr=False)  # the server's admission ticket, while it runs

    def as_dict(self) -> dict[str, Any]:
        rtf = (self.total_s / self.audio_s) if self.total_s and self.audio_s else None
        return {"id": self.id, "status": self.status, "model": self.model, "voice": self.voice,
                "format": self.format, "tier": self.tier, "backend": self.backend,
                "first_audio_s": None if self.first_audio_s is None else round(self.first_audio_s, 4),
                "total_s": None if self.total_s is None else round(self.total_s, 4),
                "audio_s": round(self.audio_s, 4), "rtf": None if rtf is None else round(rtf, 4),
                "energy": self.energy, "notes": self.notes}


@dataclass(frozen=True)
class Snapshot:
    """A finished request's record or an enrollment job's state as another process of the same
    deployment published it: its owner (API key namespace) and its JSON view."""

    owner: str
    view: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return self.view


class SharedState(Protocol):
    """Where the processes serving one deployment (Ray Serve replicas) publish what a later request may
    ask any of them for: finished requests' records and enrollment jobs' progress. One process needs none."""

    def put(self, kind: str, key: str, snapshot: Snapshot) -> None: ...

    def get(self, kind: str, key: str) -> Snapshot | None: ...


class RequestSink(Protocol):
    """Told of every finished request (the server's metrics are one)."""

    def request_done(self, record: Record, route: str) -> None: ...


class Publish:
    """A request sink: every finished record, as its owner and JSON view, to a :class:`SharedState`."""

    def __init__(self, shared: SharedState) -> None:
        self.shared = shared

    def request_done(self, record: Record, route: str) -> None:
        self.shared.put("record", record.id, Snapshot(record.owner, record.as_dict()))


class RequestLog:
    """The totals and the latest ``keep`` records of every request that ended through :meth:`done`."""

    def __init__(self, keep: int = 1000, sinks: Iterable[RequestSink] = ()) -> None:
        self.keep = keep
        self.sinks = list(sinks)
        self._lock = threading.Lock()
        self.records: OrderedDict[str, Record] = OrderedDict()
        self.served = 0
        self.audio_s = 0.0
        self.energy = EnergySum()  # the same sum as a dialogue's turns, a batch's items, a book's chapters

    def done(self, record: Record, energy: dict[str, Any] | None, route: str) -> Record:
        """``record`` has ended: the one place that fixes its wall time and energy, counts it and keeps it."""
        record.total_s = time.perf_counter() - record.received
        record.energy = energy
        for sink in self.sinks:
            sink.request_done(record, route)
        with self._lock:
            self.served += 1
            self.audio_s += record.audio_s
            self.energy.add(energy)
            self.records[record.id] = record
            while len(self.records) > self.keep:
                self.records.popitem(last=False)
        return record

    def get(self, record_id: str) -> Record | None:
        return self.records.get(record_id)

    def totals(self) -> dict[str, Any]:
        with self._lock:
            return {"requests": self.served, "audio_s": round(self.audio_s, 3), "request_joules": self.energy.joules,
                    "request_gco2e": self.energy.gco2e}
