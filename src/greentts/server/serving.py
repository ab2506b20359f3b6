"""The speech service: between HTTP and the engine. Translates OpenAI requests into engine settings,
admits or refuses work (429), streams encoded audio as segments finish, stops at the next segment when
the client goes away or the request times out, and keeps each finished request's energy report."""

from __future__ import annotations

import base64
import json
import logging
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anyio

from ..errors import FormatError, GreenTTSError, VoiceError
from ..runtime.audio import MEDIA_TYPES, StreamEncoder, check_format, encode
from ..serving.client import EngineClient
from ..serving.records import Publish, Record, RequestLog, SharedState, Snapshot, new_id
from ..settings import TIER_BACKENDS, DialogueSettings, validated
from ..voices.store import rename_blend
from .config import ServerConfig
from .errors import HTTPError, TooBusy, namespace, status_for
from .metrics import Metrics
from .schemas import MODELS, OPENAI_VOICES, PRESET_WORDS, SpeechRequest

__all__ = ["SpeechService", "HTTPError", "TooBusy", "Ticket", "status_for", "Job", "namespace"]

log = logging.getLogger("greentts.server")
COST_EWMA = 0.2  # weight of each new first-audio measurement in the admission estimate

_SSML_VOICE_RE = re.compile(r"(<(?:\w+:)?voice\b[^>]*?\bname\s*=\s*)([\"'])(.*?)\2")


@dataclass
class Ticket:
    """One admitted request's place in the admission queue."""

    ahead: int  # admitted requests still waiting for their first audio when this one was admitted
    admitted: float = field(default_factory=time.perf_counter)
    waiting: bool = True  # until its first audio (or its end)


@dataclass
class Job:
    """An enrollment started over HTTP."""

    id: str
    name: str
    owner: str = ""  # the API key's namespace: other keys are told there is no such job
    status: str = "queued"  # queued | analysing | preview | refining | done | error
    stage: str = ""
    done: int = 0
    total: int = 0
    error: str | None = None
    meta: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "status": self.status,
                "progress": {"stage": self.stage, "done": self.done, "total": self.total},
                "error": self.error, "voice": self.meta}


class SpeechService:
    def __init__(self, engine: EngineClient, config: ServerConfig, metrics: Metrics) -> None:
        self.engine, self.config, self.metrics = engine, config, metrics
        self._lock = threading.Lock()
        self._active = 0
        self._waiting = 0  # admitted speech requests without first audio yet
        self._cost_s = config.first_audio_cost_s  # measured: seconds of first-audio wait per request ahead
        self.log = RequestLog(config.keep_reports, [metrics])
        self.jobs: dict[str, Job] = {}
        self.shared: SharedState | None = None  # other processes of this deployment (Ray Serve replicas)

    def share(self, shared: SharedState) -> None:
        """Publish finished records and job progress to ``shared`` and look there for ids not made here, so
        ``GET /v1/requests/{id}`` and ``/v1/voices/jobs/{id}`` work on any replica behind a load balancer."""
        self.shared = shared
        self.log.sinks.append(Publish(shared))

    # -- admission -------------------------------------------------------------------------------

    def admit(self, first_audio: bool = True) -> Ticket:
        """Admit a request or raise 429 with a Retry-After. ``first_audio``: the request streams, so it is
        refused when its first audio is estimated to wait more than ``max_first_audio_wait_s``: the
        requests still waiting for theirs, times the measured wait per request ahead (see
        :meth:`first_audio`). A request that finds none waiting is always admitted."""
        cfg = self.config
        with self._lock:
            if self._active >= cfg.max_requests:
                self._refuse(f"{self._active} requests running, the limit is {cfg.max_requests}",
                             cfg.retry_after_s)
            estimate = (self._waiting + 1) * self._cost_s
            if first_audio and self._waiting and estimate > cfg.max_first_audio_wait_s:
                retry = max(cfg.retry_after_s, math.ceil(estimate - cfg.max_first_audio_wait_s))
                self._refuse(f"first audio would take about {estimate:.1f} s ({self._waiting} requests are waiting "
                             f"for theirs); the limit is {cfg.max_first_audio_wait_s:g} s", retry)
            ticket = Ticket(self._waiting, waiting=first_audio)
            self._waiting += first_audio
            self._active += 1
            self.metrics.in_flight.set(self._active)
            return ticket

    def _refuse(self, why: str, retry_after: int) -> None:
        """(lock held) Count and raise the 429."""
        self.metrics.rejected.inc()
        raise TooBusy(429, f"the server is busy: {why}; retry after {retry_after} s", "rate_limit_error",
                      code="server_busy", headers={"Retry-After": str(retry_after)})

    def first_audio(self, ticket: Ticket) -> None:
        """The request's first audio is ready: measure the wait per request that was ahead of it."""
        with self._lock:
            if ticket.waiting:
                ticket.waiting = False
                self._waiting -= 1
                sample = (time.perf_counter() - ticket.admitted) / (ticket.ahead + 1)
                self._cost_s += COST_EWMA * (sample - self._cost_s)

    def release(self, ticket: Ticket) -> None:
        with self._lock:
            if ticket.waiting:
                ticket.waiting = False
                self._waiting -= 1
            self._active -= 1
            self.metrics.in_flight.set(self._active)

    def admission(self) -> dict[str, float]:
        """What admission sees now (in ``/v1/stats``)."""
        with self._lock:
            return {"in_flight": self._active, "waiting_for_first_audio": self._waiting,
                    "first_audio_wait_per_request_ahead_s": round(self._cost_s, 4),
                    "estimated_first_audio_wait_s": round((self._waiting + 1) * self._cost_s, 3),
                    "max_first_audio_wait_s": self.config.max_first_audio_wait_s}

    @property
    def active(self) -> int:
        return self._active

    # -- requests --------------------------------------------------------------------------------

    def resolve_voice(self, spec: str, ns: str) -> str:
        """OpenAI names -> Kokoro voices; the caller's enrolled voices by their plain name; blends too."""
        stock = set(self.engine.stock_voice_names()) if ns else set()

        def rename(name: str) -> str:
            name = OPENAI_VOICES.get(name, name)
            return ns + name if ns and name not in stock and not name.startswith(ns) else name

        return rename_blend(spec, rename)

    def settings(self, req: SpeechRequest, ns: str) -> tuple[dict[str, Any], list[str]]:
        """Engine settings for ``req`` and notes on what was mapped (sent back in a header)."""
        notes: list[str] = []  # (an unknown model is refused by the schema: SpeechRequest.model is an enum)
        if not req.input.strip():
            raise HTTPError(400, "input is empty: give the text to speak", param="input")
        if len(req.input) > self.config.max_input_chars:
            raise HTTPError(413, f"input is {len(req.input)} characters; the limit is {self.config.max_input_chars} "
                                 "(split the text, or use a batch job)", param="input", code="input_too_long")
        if not 0.5 <= req.speed <= 2.0:
            raise HTTPError(400, f"speed {req.speed} is outside 0.5-2.0 (the range this engine speaks)",
                            param="speed")
        if req.response_format == "aac":
            raise HTTPError(400, "response_format 'aac' is not available (no AAC encoder ships with greentts); "
                                 "use mp3, opus, flac, wav or pcm", param="response_format",
                            code="unsupported_format")
        rate = req.sample_rate or self.engine.native_rate(req.tier or MODELS[req.model])
        try:
            check_format(req.response_format, rate)
        except FormatError as exc:
            raise HTTPError(400, str(exc), param="sample_rate" if req.sample_rate else "response_format") from None
        prosody = req.prosody
        if req.instructions and prosody is None:
            low = req.instructions.lower()
            prosody = next((p for p, words in PRESET_WORDS.items() if any(w in low for w in words)), None)
            notes.append(f"instructions->prosody={prosody}" if prosody else "instructions not applied (no preset "
                         "named: " + ", ".join(PRESET_WORDS) + ")")
        if req.voice in OPENAI_VOICES:
            notes.append(f"voice {req.voice}->{OPENAI_VOICES[req.voice]}")
        s: dict[str, Any] = {"voice": self.resolve_voice(req.voice, ns), "lang": req.language,
                             "tier": req.tier or MODELS[req.model], "speed": req.speed, "sample_rate": req.sample_rate,
                             "prosody": prosody, "pronunciations": tuple(req.pronunciations), "audio_cache": req.cache,
                             "input_format": req.input_format, "ssml_strict": req.ssml_strict}
        return s, notes

    def ssml_voices(self, text: str, ns: str) -> str:
        """SSML ``<voice name=...>`` mapped like the request's voice (OpenAI names; the caller's own
        enrolled voices, never another key's)."""
        return _SSML_VOICE_RE.sub(lambda m: m[1] + m[2] + self.resolve_voice(m[3], ns) + m[2], text)

    def open(self, req: SpeechRequest, ns: str, ticket: Ticket | None = None,
             record: Record | None = None) -> tuple[Any, Record, StreamEncoder]:
        """Validate and start the request (raises HTTPError); the caller iterates with :meth:`chunks`.
        ``record``: a request spoken in several parts (Wyoming's streamed text) keeps one record.

        Every segment is planned here (``plan_ahead``), so that no error in the text can surface after
        the response has started."""
        settings, notes = self.settings(req, ns)
        if record is None:
            record = Record(new_id(), req.model, settings["voice"], req.response_format, owner=ns)
            record.ticket = ticket
        record.voice = settings["voice"]
        record.notes.extend(n for n in notes if n not in record.notes)
        try:
            text = self.ssml_voices(req.input, ns) if req.input_format != "text" and "<" in req.input else req.input
            stream = self.engine.stream(text, plan_ahead=True, **settings)
        except GreenTTSError as exc:
            status, kind = status_for(exc)
            param = "voice" if isinstance(exc, VoiceError) else None
            raise HTTPError(status, str(exc), kind, param=param) from None
        record.tier, record.backend = stream.tier, stream.backend.name
        return stream, record, StreamEncoder(req.response_format, stream.sample_rate)

    async def chunks(self, stream: Any, record: Record, encoder: StreamEncoder,
                     is_disconnected: Any = None, events: list[dict[str, Any]] | None = None,
                     route: str | None = "/v1/audio/speech") -> AsyncIterator[bytes]:
        """Encoded bytes as segments finish. Stops at the next segment boundary on disconnect or timeout;
        the stream is closed (pending segments cancelled) whatever happens, and the request ends in the
        log under ``route`` (None: the caller ends it, after more parts)."""
        deadline = record.received + self.config.request_timeout_s
        sentinel = object()
        record.status = "running"
        try:
            while True:
                chunk = await anyio.to_thread.run_sync(next, stream, sentinel)
                if chunk is sentinel:
                    break
                if record.ticket is not None and record.ticket.waiting:
                    self.first_audio(record.ticket)
                record.audio_s += chunk.duration_s
                if events is not None:  # word and mark times, sent with the audio that holds them
                    events.extend({"type": "speech.word", **w} for w in chunk.words)
                    seg = chunk.segment
                    events.extend({"type": "speech.mark", "name": n, "time": seg.start_s} for n in seg.marks)
                    events.extend({"type": "speech.mark", "name": n,
                                   "time": round(seg.start_s + seg.duration_s - seg.pause_s, 4)} for n in seg.end_marks)
                data = encoder.feed(chunk.audio)
                if data:
                    if record.first_audio_s is None:
                        record.first_audio_s = time.perf_counter() - record.received
                        self.metrics.first_audio.observe(record.first_audio_s)
                    yield data
                if time.perf_counter() > deadline:
                    record.status = "timeout"
                    record.notes.append(f"stopped after {self.config.request_timeout_s:g} s (request_timeout_s)")
                    return
                if is_disconnected is not None and await is_disconnected():
                    record.status = "cancelled"
                    return
            tail = encoder.finish()
            if tail:
                if record.first_audio_s is None:
                    record.first_audio_s = time.perf_counter() - record.received
                    self.metrics.first_audio.observe(record.first_audio_s)
                yield tail
            record.status = "complete"
        except Exception as exc:
            record.status = "error"
            record.notes.append(str(exc) if isinstance(exc, GreenTTSError) else f"internal error: {exc!r}")
            raise
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(stream.close)
                if record.status == "running":
                    record.status = "cancelled"
                if route is not None:
                    self.finish(stream, record, route)

    async def audio(self, stream: Any, record: Record, encoder: StreamEncoder) -> AsyncIterator[bytes]:
        """The streamed audio body. An error after the first byte (the status is sent by then) ends the
        body cleanly; the error is in the request's record (``GET /v1/requests/{id}``) and the log."""
        try:
            async for data in self.chunks(stream, record, encoder):
                yield data
        except Exception:  # noqa: BLE001 - recorded by chunks(); a started response can only end
            log.exception("request %s failed after its response started", record.id)

    async def sse(self, stream: Any, record: Record, encoder: StreamEncoder, is_disconnected: Any = None,
                  input_chars: int = 0) -> AsyncIterator[bytes]:
        """Server-sent events: ``speech.audio.delta`` (base64 audio), each followed by the
        ``speech.word`` events (word, start, end in seconds, char_start, char_end) and ``speech.mark``
        events (SSML marks) of the audio sent so far, ... ``speech.audio.done`` (usage, energy,
        timings). An error ends the stream with an ``error`` event."""
        events: list[dict[str, Any]] = []
        try:
            async for data in self.chunks(stream, record, encoder, is_disconnected, events):
                yield _event({"type": "speech.audio.delta", "audio": base64.b64encode(data).decode()})
                for ev in events:
                    yield _event(ev)
                events.clear()
        except Exception as exc:  # noqa: BLE001 - every error ends the stream with an error event
            status, kind = status_for(exc) if isinstance(exc, GreenTTSError) else (500, "server_error")
            if not isinstance(exc, GreenTTSError):
                log.exception("request %s failed after its response started", record.id)
            yield _event({"type": "error", "error": {"message": record.notes[-1], "type": kind, "code": str(status)}})
            return
        for ev in events:
            yield _event(ev)
        if record.status == "complete":
            yield _event({"type": "speech.audio.done",
                          "usage": {"input_tokens": input_chars, "output_tokens": 0, "total_tokens": input_chars},
                          "greentts": record.as_dict()})
        elif record.status == "timeout":
            yield _event({"type": "error", "error": {"message": record.notes[-1], "type": "timeout", "code": "504"}})

    def record(self, record_id: str, ns: str) -> Record | Snapshot | None:
        """A finished request's record, if it is the caller's (may block on the shared state)."""
        record: Record | Snapshot | None = self.log.get(record_id)
        if record is None and self.shared is not None:
            record = self.shared.get("record", record_id)
        return record if record is not None and record.owner == ns else None

    def job(self, job_id: str, ns: str) -> Job | Snapshot | None:
        """An enrollment job, if it is the caller's (like :meth:`record`, it may block)."""
        job: Job | Snapshot | None = self.jobs.get(job_id)
        if job is None and self.shared is not None:
            job = self.shared.get("job", job_id)
        return job if job is not None and job.owner == ns else None

    def job_changed(self, job: Job) -> None:
        """A job's state changed: published to the other replicas (none in one process)."""
        if self.shared is not None:
            self.shared.put("job", job.id, Snapshot(job.owner, job.as_dict()))

    def finish(self, stream: Any, record: Record, route: str = "/v1/audio/speech") -> None:
        self.done(record, stream.energy.as_dict() if stream.energy is not None else None, route)

    def done(self, record: Record, energy: dict[str, Any] | None, route: str) -> None:
        """A request has ended (speech, dialogue): recorded, counted in the metrics and the totals, kept for
        ``GET /v1/requests/{id}`` (:meth:`RequestLog.done`, the path batch items and chapters take too)."""
        self.log.done(record, energy, route)

    @property
    def records(self) -> OrderedDict[str, Record]:
        return self.log.records

    def dialogue(self, req: Any, ns: str) -> tuple[bytes, dict[str, Any], Record]:
        """Render a dialogue request whole (runs in a worker thread): the encoded mix, its report and its
        record (kept like a speech request's, counted in the metrics)."""
        received = time.perf_counter()
        script = req.script
        size = len(script) if isinstance(script, str) else len(json.dumps(script, ensure_ascii=False))
        limit = 20 * self.config.max_input_chars
        if size > limit:
            raise HTTPError(413, f"the script is {size} characters; the limit is {limit} (use greentts dialogue "
                                 "for long scripts)", param="script", code="input_too_long")
        rate = req.sample_rate or self.engine.native_rate(req.tier)
        try:
            check_format(req.response_format, rate)
            voices = {k: self.resolve_voice(v, ns) for k, v in req.voices.items()}
            settings = validated(DialogueSettings, None, sample_rate=rate, gap_scale=req.gap_scale, tier=req.tier)
            dialogue = self.engine.dialogue(script, voices, settings, auto_voices=req.auto_voices)
            audio, turns = dialogue.collect()
        except VoiceError as exc:
            raise HTTPError(400, str(exc), param="voices") from None
        except GreenTTSError as exc:
            status, kind = status_for(exc)
            raise HTTPError(status, str(exc), kind, param="script") from None
        data = encode(audio, rate, req.response_format)
        energy = dialogue.energy.as_dict()
        record = Record(new_id(), "dialogue", ",".join(sorted(set(dialogue.voices.values()))),
                        req.response_format, owner=ns, status="complete", received=received,
                        audio_s=len(audio) / rate, tier=req.tier, backend=TIER_BACKENDS[req.tier])
        self.done(record, energy, "/v1/dialogue")
        report = {"duration_s": round(len(audio) / rate, 3), "speakers": dialogue.voices, "turns": turns,
                  "energy": energy, "request_id": record.id}
        return data, report, record

    def energy_headers(self, record: Record) -> dict[str, str]:
        h = {"x-request-id": record.id, "x-greentts-tier": record.tier, "x-greentts-backend": record.backend}
        if record.notes:
            h["x-greentts-notes"] = "; ".join(record.notes)[:500]
        e = record.energy
        if e is not None:
            h.update({"x-greentts-energy-joules": f"{e['joules']:.6g}", "x-greentts-energy-kwh": f"{e['kwh']:.6g}",
                      "x-greentts-gco2e": f"{e['gco2e']:.6g}", "x-greentts-energy-method": e["method"],
                      "x-greentts-audio-seconds": f"{record.audio_s:.4f}", "x-greentts-cache": e.get("cache", "off"),
                      "x-greentts-energy-avoided-joules": f"{e.get('avoided_joules', 0.0):.6g}",
                      "x-greentts-energy-parts": ";".join(f"{k}={v:.4g}" for k, v in sorted((e.get("parts") or {}).items()))})
            if record.total_s and record.audio_s:
                h["x-greentts-rtf"] = f"{record.total_s / record.audio_s:.4f}"
        return h

    def totals(self) -> dict[str, Any]:
        t = self.engine.energy()
        return {**self.log.totals(), "in_flight": self._active, "admission": self.admission(), **self.engine.stats(),
                "engine_energy": {"total_j": t.total_j, "idle_j": t.idle_j, "attributed_j": t.attributed_j,
                                  "startup_j": t.startup_j, "method": t.method}}


def media_type(fmt: str) -> str:
    return MEDIA_TYPES[fmt]


def _event(obj: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(obj, separators=(',', ':'))}\n\n".encode()
