"""Wyoming, Home Assistant's voice protocol: ``greentts wyoming --uri tcp://0.0.0.0:10200``.

Events are the ``wyoming`` library's own (``pip install 'greentts[wyoming]'``):

- ``describe`` -> ``info``: one TTS program listing every stock and enrolled voice the engine speaks
  (English, Mandarin) with its languages, ``supports_synthesize_streaming: true``;
- ``synthesize`` -> ``audio-start``, ``audio-chunk``... as segments finish, ``audio-stop``;
- ``synthesize-start`` -> ``synthesize-chunk``... -> ``synthesize-stop``: the text is spoken sentence by
  sentence as it arrives (an assistant's reply, token by token); one ``audio-start`` ... ``audio-stop``,
  then ``synthesize-stopped``. The ``synthesize`` that streaming clients also send is ignored there;
- anything refused is an ``error`` event (text, code); the connection stays open.

Each request (a ``synthesize``, or a ``synthesize-start`` ... ``synthesize-stop``) is one request of the
:class:`~greentts.server.serving.SpeechService`: admitted or refused like an HTTP request, one
:class:`~greentts.serving.records.Record` with the same energy report, in the same log and Prometheus
metrics (route ``wyoming``). ``audio-stop`` carries the record under ``data.greentts``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
from dataclasses import dataclass
from typing import Any

import anyio
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Attribution, Describe, Info, TtsProgram, TtsVoice
from wyoming.server import AsyncEventHandler, AsyncServer
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeStopped, SynthesizeVoice

from .._version import __version__
from ..energy.accounting import combine_reports
from ..errors import GreenTTSError
from ..server.errors import HTTPError, namespaced, status_for
from ..server.schemas import SpeechRequest
from ..server.serving import SpeechService
from ..serving.records import Record, new_id
from ..text.segment import SentenceBuffer

__all__ = ["WyomingOptions", "SpeechHandler", "describe", "serve", "ROUTE"]

log = logging.getLogger("greentts.wyoming")
ROUTE = "wyoming"  # the route of Wyoming requests in the log and the metrics
WIDTH, CHANNELS = 2, 1  # 16-bit mono PCM
KOKORO = Attribution(name="hexgrad (Kokoro-82M), greentts", url="https://huggingface.co/hexgrad/Kokoro-82M")


@dataclass(frozen=True)
class WyomingOptions:
    """How this Wyoming server speaks (the same for every client)."""

    tier: str = "standard"  # standard | eco | auto
    sample_rate: int | None = None  # None: the tier's own rate (24 kHz)
    speed: float = 1.0
    samples_per_chunk: int = 1024  # audio per audio-chunk event
    ready_timeout_s: float = 300.0  # a request waits this long for the models to load


def _languages(language: str) -> list[str] | None:
    """A voice's language -> the tags Home Assistant matches ("en", "en-US"); None: not spoken here."""
    tag = language.lower().replace("_", "-")
    if tag.startswith("en"):
        region = tag[3:5].upper()
        return ["en", f"en-{region}"] if region else ["en"]
    if tag.startswith(("zh", "cmn")):
        return ["zh", "zh-CN"]
    return None


def describe(service: SpeechService) -> Info:
    """The ``info`` reply: every stock and enrolled voice in English or Mandarin (an API key's enrolled
    voices stay private: this port has no keys)."""
    voices = []
    for v in service.engine.list_voices():
        langs = _languages(str(v.get("language", "")))
        if langs is None or namespaced(str(v["name"])):
            continue
        kind = " ".join(filter(None, (str(v.get("gender") or ""), "enrolled voice" if v.get("enrolled") else "stock voice")))
        voices.append(TtsVoice(name=str(v["name"]), attribution=KOKORO, installed=True, version=None,
                               description=f"{v.get('language_name') or langs[-1]}, {kind}", languages=langs))
    program = TtsProgram(name="greentts", attribution=Attribution(name="greentts", url="https://pypi.org/project/greentts/"),
                         installed=True, version=__version__, voices=voices, supports_synthesize_streaming=True,
                         description="greentts: English and Mandarin speech that reports its energy per request")
    return Info(tts=[program])


class _Refused(Exception):
    """A request this server will not (or can no longer) speak: sent as an ``error`` event."""

    def __init__(self, text: str, code: str, status: int = 400, retry_after_s: int | None = None) -> None:
        super().__init__(text)
        self.text, self.code, self.status, self.retry_after_s = text, code, status, retry_after_s


def _refusal(exc: HTTPError) -> _Refused:
    retry = exc.headers.get("Retry-After")
    return _Refused(exc.message, exc.code or (f"invalid_{exc.param}" if exc.param else exc.type), exc.status,
                    int(retry) if retry else None)


def _language(tag: str | None) -> str:
    if not tag:
        return "auto"
    langs = _languages(tag)
    if langs is None:
        raise _Refused(f"language {tag!r} is not spoken here: greentts speaks English (en) and Mandarin (zh)",
                       "unsupported_language")
    return langs[0]


def _input_format(text_format: Any) -> str:
    fmt = str(getattr(text_format, "value", text_format) or "")
    return fmt if fmt in ("text", "ssml") else "auto"


class Utterance:
    """One Wyoming request: one admission ticket, one record, one ``audio-start`` ... ``audio-stop``, however
    many pieces its text is spoken in."""

    def __init__(self, handler: SpeechHandler, voice: SynthesizeVoice | None, text_format: Any) -> None:
        self.handler = handler
        svc = handler.service
        lang = _language(voice.language if voice else None)
        cfg = svc.engine.config
        self.voice = (voice.name if voice and voice.name else
                      cfg.default_voice_zh if lang == "zh" else cfg.default_voice_en)
        self.lang = lang
        self.input_format = _input_format(text_format)
        try:
            self.ticket = svc.admit()
        except HTTPError as exc:
            raise _refusal(exc) from None
        self.record = Record(new_id(), ROUTE, self.voice, "pcm")
        self.record.ticket = self.ticket
        self.buffer = SentenceBuffer(max_chars=min(1000, svc.config.max_input_chars))
        self.ssml = ""  # streamed SSML is spoken whole, at synthesize-stop
        self.reports: list[dict[str, Any]] = []
        self.rate: int | None = None
        self.opened = False  # some of its text has started speaking
        self.status = 200  # the HTTP-equivalent outcome, for the requests metric
        self.closed = False

    def take(self, chunk: str) -> str:
        """Streamed text in; the whole sentences that are now ready to speak out."""
        if self.input_format == "ssml":
            self.ssml += chunk
            return ""
        return self.buffer.add(chunk)

    def rest(self) -> str:
        """What is left to speak when the text has ended."""
        if self.input_format == "ssml":
            rest, self.ssml = self.ssml, ""
            return rest
        return self.buffer.finish()

    async def speak(self, text: str) -> None:
        """Speak one piece: its audio chunks as its segments finish."""
        if not text.strip():
            return
        svc, opts, h = self.handler.service, self.handler.options, self.handler
        await h.wait_ready()
        try:
            req = SpeechRequest(model="greentts", input=text, voice=self.voice, response_format="pcm",
                                language=self.lang, tier=opts.tier, sample_rate=opts.sample_rate, speed=opts.speed,
                                input_format=self.input_format)
            stream, record, encoder = await anyio.to_thread.run_sync(svc.open, req, "", self.ticket, self.record)
        except HTTPError as exc:
            raise _refusal(exc) from None
        self.opened = True
        if self.rate is None:
            self.rate = stream.sample_rate
            await h.write_event(AudioStart(rate=self.rate, width=WIDTH, channels=CHANNELS).event())
        step = opts.samples_per_chunk * WIDTH * CHANNELS
        try:
            async with contextlib.aclosing(svc.chunks(stream, record, encoder, h.gone, route=None)) as parts:
                async for data in parts:
                    for i in range(0, len(data), step):
                        await h.write_event(AudioChunk(rate=self.rate, width=WIDTH, channels=CHANNELS,
                                                       audio=data[i:i + step]).event())
        except GreenTTSError as exc:
            status, _ = status_for(exc)
            raise _Refused(str(exc), type(exc).__name__, status) from None
        finally:
            if stream.energy is not None:
                self.reports.append(stream.energy.as_dict())
        if record.status == "timeout":
            raise _Refused(record.notes[-1], "timeout", 504)

    async def end(self, refused: _Refused | None = None) -> None:
        """The request is over (done, refused or its client gone): logged once, ``audio-stop`` if audio began."""
        if self.closed:
            return
        self.closed = True
        svc, rec = self.handler.service, self.record
        svc.release(self.ticket)
        if refused is not None:
            rec.status, self.status = ("timeout" if refused.status == 504 else "error"), refused.status
            if refused.text not in rec.notes:
                rec.notes.append(refused.text)
        elif self.handler.closing or rec.status == "cancelled":
            rec.status, self.status = "cancelled", 499
        else:
            rec.status = "complete"
        if self.opened or refused is None:  # as over HTTP: a request refused before it began leaves no record
            svc.done(rec, combine_reports(self.reports), ROUTE)
        svc.metrics.requests.labels(ROUTE, str(self.status)).inc()
        if self.rate is not None and not self.handler.closing:
            stop = AudioStop().event()
            stop.data["greentts"] = rec.as_dict()
            await self.handler.write_event(stop)


class SpeechHandler(AsyncEventHandler):
    """One connection's events (the ``wyoming`` library runs one per client)."""

    def __init__(self, service: SpeechService, ready: threading.Event, options: WyomingOptions,
                 reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        super().__init__(reader, writer)
        self.service, self.ready, self.options = service, ready, options
        self.utterance: Utterance | None = None
        self.streaming = False  # between synthesize-start and synthesize-stop
        self.closing = False  # the client has gone

    async def handle_event(self, event: Event) -> bool:
        if Describe.is_type(event.type):
            await self.write_event(describe(self.service).event())
            return True
        try:
            await self._handle(event)
        except _Refused as exc:
            await self._refuse(exc)
        except (ConnectionError, OSError):  # the client went away while audio was being sent
            self.closing = True
            await self.disconnect()
            return False
        return True

    async def _handle(self, event: Event) -> None:
        if Synthesize.is_type(event.type):
            if self.streaming:
                return  # the copy of the streamed text that streaming clients send for older servers
            syn = Synthesize.from_event(event)
            if not syn.text.strip():
                raise _Refused("the text is empty: give the text to speak", "empty_text")
            self.utterance = Utterance(self, syn.voice, syn.text_format)
            await self.utterance.speak(syn.text)
            await self._end()
        elif SynthesizeStart.is_type(event.type):
            await self._end()  # a request left open by its client
            self.streaming = True
            start = SynthesizeStart.from_event(event)
            self.utterance = Utterance(self, start.voice, start.text_format)
        elif SynthesizeChunk.is_type(event.type):
            if self.utterance is not None:
                await self.utterance.speak(self.utterance.take(SynthesizeChunk.from_event(event).text))
        elif SynthesizeStop.is_type(event.type):
            u, self.streaming = self.utterance, False
            if u is not None:
                await u.speak(u.rest())
                await self._end()
            await self.write_event(SynthesizeStopped().event())

    async def _end(self, refused: _Refused | None = None) -> None:
        u, self.utterance = self.utterance, None
        if u is not None:
            await u.end(refused)

    async def _refuse(self, exc: _Refused) -> None:
        if self.utterance is not None:
            await self._end(exc)
        else:  # refused before it began (admission, language): counted like an HTTP refusal
            self.service.metrics.requests.labels(ROUTE, str(exc.status)).inc()
        log.info("wyoming request refused: %s (%s)", exc.text, exc.code)
        error = Error(text=exc.text, code=exc.code).event()
        if exc.retry_after_s is not None:  # server_busy: when to try again (HTTP's Retry-After)
            error.data["retry_after_s"] = exc.retry_after_s
        await self.write_event(error)

    async def wait_ready(self) -> None:
        if not self.ready.is_set():
            ok = await anyio.to_thread.run_sync(self.ready.wait, self.options.ready_timeout_s)
            if not ok:
                raise _Refused("the models are still loading; try again shortly", "not_ready", 503)

    async def gone(self) -> bool:
        self.closing = self.closing or self.writer.is_closing()
        return self.closing

    async def disconnect(self) -> None:
        self.closing = True
        with contextlib.suppress(ConnectionError, OSError):
            await self._end()


async def serve(service: SpeechService, ready: threading.Event, uri: str, options: WyomingOptions | None = None,
                started: threading.Event | None = None) -> None:
    """Serve Wyoming on ``uri`` (``tcp://HOST:PORT``, ``unix://PATH``) until cancelled. ``started`` is set
    once the socket listens."""
    server = AsyncServer.from_uri(uri)
    factory = functools.partial(SpeechHandler, service, ready, options or WyomingOptions())
    if started is None:
        await server.run(factory)
        return
    await server.start(factory)
    started.set()
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


async def run(config: Any, uri: str, options: WyomingOptions, http: bool = False,
              zeroconf: str | None = None) -> None:
    """``greentts wyoming``: build the server's app (engine, SpeechService) from ``config``; serve Wyoming
    on ``uri``, and with ``http`` the HTTP API on ``config.host:port`` beside it (one engine, one log:
    ``/metrics`` and ``/v1/requests/{id}`` show the Wyoming requests too). ``zeroconf``: announce the
    server over mDNS under this name ("" = the machine's MAC address), as Home Assistant discovers it."""
    from ..server import create_app
    from ..server.app import load_models

    AsyncServer.from_uri(uri)  # a bad URI fails (ValueError) before the models load
    app = create_app(config)
    service, ready = app.state.service, app.state.ready
    tasks = [asyncio.ensure_future(serve(service, ready, uri, options))]
    if http:
        import uvicorn

        server = uvicorn.Server(uvicorn.Config(app, host=config.host, port=config.port, log_level="warning"))
        tasks.append(asyncio.ensure_future(server.serve()))  # its start-up loads the models
    else:
        anyio.to_thread.current_default_thread_limiter().total_tokens = max(40, config.max_requests + 8)
        threading.Thread(target=load_models, args=(app,), name="greentts-load", daemon=True).start()
    if zeroconf is not None:
        await _announce(uri, zeroconf)
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for t in done:
            t.result()
    finally:
        for t in tasks:
            t.cancel()
        if not http:  # (the HTTP app's shutdown closes its engine)
            service.engine.close()


async def _announce(uri: str, name: str) -> None:
    from urllib.parse import urlparse

    try:
        from wyoming.zeroconf import HomeAssistantZeroconf
    except ImportError:
        raise GreenTTSError("--zeroconf needs the zeroconf package: pip install 'greentts[wyoming]'") from None
    parsed = urlparse(uri)
    if parsed.scheme != "tcp" or parsed.port is None:
        raise GreenTTSError(f"--zeroconf needs a tcp:// URI with a port, not {uri!r}")
    host = parsed.hostname if parsed.hostname not in ("0.0.0.0", "::", "") else None
    await HomeAssistantZeroconf(port=parsed.port, name=name or None, host=host).register_server()
    log.info("announced over mDNS as %s (_wyoming._tcp)", name or "this machine's MAC address")
