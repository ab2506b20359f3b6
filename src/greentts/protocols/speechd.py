"""Speech Dispatcher output module ``sd_greentts``: screen readers (Orca) and ``spd-say -o greentts``.

Speech Dispatcher starts the module once and keeps it: the module is the resident, warm engine. It
speaks the output-module protocol on stdin/stdout (INIT, AUDIO, LOGLEVEL, LIST VOICES, SET, SPEAK,
CHAR, KEY, SOUND_ICON, STOP, PAUSE, QUIT) and hands its audio to the daemon (``705 AUDIO``: the daemon
plays it on its own audio output). STOP is answered at once (``703 STOP``): the daemon drops what it
has queued, and no more audio of that message is sent; the segment being rendered finishes unheard.

Each message is one request of the HTTP server's :class:`~greentts.server.serving.SpeechService`: the
same admission, energy record, log and Prometheus metrics (route ``speechd``). The module's log (the
daemon's ``greentts.log``) has one line per message with its energy; ``GreenttsHttpPort`` in the
module's config serves ``/metrics`` and ``/v1/requests/{id}`` from the same process.

Config (``greentts.conf``, optional; one ``Name value`` per line): ``GreenttsTier standard|eco|auto``,
``GreenttsHttpPort N``, ``GreenttsCacheDir PATH``, ``GreenttsVoicesDir PATH``, ``GreenttsWorkers N``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ..errors import GreenTTSError
from ..server.errors import HTTPError
from ..server.schemas import SpeechRequest
from ..server.serving import SpeechService
from ..settings import TIER_BACKENDS
from ..serving.records import Record, new_id
from .speechd_text import ReaderSettings, char_ssml, gain_of, key_ssml, message_ssml, speed_of, voice_for

__all__ = ["Wire", "Module", "main", "ROUTE", "escape_audio", "read_config"]

log = logging.getLogger("greentts.speechd")
ROUTE = "speechd"
CHUNK_SAMPLES = 2400  # 0.1 s at 24 kHz per 705 message: STOP is checked between them


def escape_audio(data: bytes) -> bytes:
    """705 payload escaping: 0x7D -> 7D 5D, 0x0A -> 7D 2A (newlines must not reach the line reader)."""
    return data.replace(b"\x7d", b"\x7d\x5d").replace(b"\x0a", b"\x7d\x2a")


class Wire:
    """The protocol's output: whole replies and events, one writer at a time."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.lock = threading.Lock()

    def send(self, *lines: str) -> None:
        with self.lock:
            self._write(lines)

    def _write(self, lines: tuple[str, ...] | list[str]) -> None:
        self.out.write(("\n".join(lines) + "\n").encode())
        self.out.flush()

    def audio_lines(self, pcm: bytes, rate: int) -> bytes:
        head = (f"705-bits=16\n705-num_channels=1\n705-sample_rate={rate}\n705-num_samples={len(pcm) // 2}\n"
                "705-big_endian=0\n705-AUDIO\x00").encode()
        return head + escape_audio(pcm) + b"\n705 AUDIO\n"


class Message:
    """One message being spoken: its events go out until its one terminal event (702, 703)."""

    def __init__(self, wire: Wire, ssml: str, settings: ReaderSettings) -> None:
        self.wire, self.ssml = wire, ssml
        self.settings = ReaderSettings(**vars(settings))
        self.ended = False
        self.stopped = False
        self.received = time.perf_counter()
        self.first_audio_s: float | None = None

    def event(self, *lines: str, raw: bytes | None = None) -> bool:
        """Send, unless the message has ended or is stopping; False once it has. (A stopped message sends
        nothing more, so that STOP's 703 is not queued behind audio the daemon is slow to read.)"""
        if self.stopped:
            return False
        with self.wire.lock:
            if self.ended or self.stopped:
                return False
            if raw is not None:
                self.wire.out.write(raw)
                self.wire.out.flush()
            else:
                self.wire._write(lines)
            return True

    def end(self, code: str) -> None:
        with self.wire.lock:
            if not self.ended:
                self.ended = True
                self.wire._write([code])

    def stop(self) -> None:
        self.stopped = True
        self.end("703 STOP")


def read_config(path: str | None) -> dict[str, str]:
    """``greentts.conf``: ``Name value`` lines (quotes optional), # comments; a missing file is empty."""
    out: dict[str, str] = {}
    if not path or not Path(path).is_file():
        return out
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line and " " in line:
            name, value = line.split(None, 1)
            out[name.lower()] = value.strip().strip('"')
    return out


class Module:
    """The output module: commands in (one line reader), events out (:class:`Wire`), speech on an event
    loop thread through the :class:`SpeechService`."""

    def __init__(self, wire: Wire, config: dict[str, str]) -> None:
        self.wire, self.config = wire, config
        self.settings = ReaderSettings()
        self.current: Message | None = None
        self._voices: list[dict[str, Any]] | None = None  # the engine's voice list, for each message
        self.service: SpeechService | None = None
        self.ready = threading.Event()
        self.load_error: str | None = None
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="greentts-speechd", daemon=True).start()

    # -- start-up --------------------------------------------------------------------------------

    def load(self) -> None:
        """Build the engine and its service, warm it (in a thread: INIT must answer at once)."""
        try:
            from ..server import ServerConfig, create_app
            from ..server.app import load_models

            engine: dict[str, Any] = {}
            if self.config.get("greenttscachedir"):
                engine["cache_dir"] = self.config["greenttscachedir"]
            if self.config.get("greenttsvoicesdir"):
                engine["voices_dir"] = self.config["greenttsvoicesdir"]
            if self.config.get("greenttsworkers"):
                engine["workers"] = int(self.config["greenttsworkers"])
            port = int(self.config.get("greenttshttpport", "0") or 0)
            app = create_app(ServerConfig(engine=engine, port=port or 8000))
            self.service = app.state.service
            if port:
                self.loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self._http(app, port)))
            load_models(app)
            if app.state.load_error:
                raise GreenTTSError(app.state.load_error)
            log.info("models ready in %s s", app.state.load_s)
        except Exception as exc:  # noqa: BLE001 - every message will say so
            self.load_error = f"{type(exc).__name__}: {exc}"
            log.error("greentts could not load: %s", self.load_error)
        finally:
            self.ready.set()

    async def _http(self, app: Any, port: int) -> None:
        import uvicorn

        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
        await server.serve()

    # -- commands --------------------------------------------------------------------------------

    def run(self, lines: Any) -> None:
        """Read commands until QUIT or end of input."""
        for raw in lines:
            cmd = raw.rstrip("\n").strip()
            if not cmd:
                continue
            word = cmd.upper()
            if word == "QUIT":
                self.stop()
                self.wire.send("210 OK QUIT")
                return
            handler = _COMMANDS.get(word.split(" ")[0] if not word.startswith("LIST VOICES") else "LIST VOICES")
            if handler is None:
                self.wire.send("300 ERR UNKNOWN COMMAND")
            else:
                handler(self, lines)

    def init(self, lines: Any) -> None:
        threading.Thread(target=self.load, name="greentts-load", daemon=True).start()
        self.wire.send("299-greentts: loading the models in the background", "299 OK LOADED SUCCESSFULLY")

    def block(self, lines: Any, ok: str, done: str) -> list[str]:
        """A command with a body: reply ``ok``, read lines to the lone dot, reply ``done``."""
        self.wire.send(ok)
        body = []
        for raw in lines:
            line = raw.rstrip("\n")
            if line == ".":
                break
            body.append(line[1:] if line.startswith("..") else line)  # the daemon doubles a leading dot
        if done:
            self.wire.send(done)
        return body

    def audio(self, lines: Any) -> None:
        self.block(lines, "207 OK RECEIVING AUDIO SETTINGS", "203 OK AUDIO INITIALIZED")

    def loglevel(self, lines: Any) -> None:
        self.block(lines, "207 OK RECEIVING LOGLEVEL SETTINGS", "203 OK LOGLEVEL SET")

    def debug(self, lines: Any) -> None:
        self.wire.send("200 OK DEBUGGING ON")

    def set(self, lines: Any) -> None:
        for line in self.block(lines, "203 OK RECEIVING SETTINGS", "203 OK SETTINGS RECEIVED"):
            if "=" in line:
                name, value = line.split("=", 1)
                self.settings.set(name.strip(), value.strip())

    def list_voices(self, lines: Any) -> None:
        self._voices = None
        rows = [f"200-{name}\t{lang}\tnone" for name, lang in self.voices()]
        self.wire.send(*(rows or ["200-af_heart\ten-US\tnone"]), "200 OK VOICE LIST SENT")

    def voices(self) -> list[tuple[str, str]]:
        """(name, language) of every stock voice in English or Mandarin, and the unkeyed enrolled ones."""
        from ..server.errors import namespaced

        if self.service is not None:
            listed = self.service.engine.list_voices()
        else:  # asked at start-up, before the engine exists: the store needs no model
            from ..voices.store import VoiceStore, default_voices_dir

            listed = VoiceStore(self.config.get("greenttsvoicesdir") or default_voices_dir()).list()
        out = []
        for v in listed:
            lang = str(v.get("language", "")).lower()
            if namespaced(str(v["name"])):
                continue
            if lang.startswith("en"):
                out.append((str(v["name"]), "en-" + (lang[3:5].upper() or "US")))
            elif lang.startswith(("zh", "cmn")):
                out.append((str(v["name"]), "zh-CN"))
        return out

    def speak(self, lines: Any, kind: str = "SPEAK") -> None:
        body = "\n".join(self.block(lines, "202 OK RECEIVING MESSAGE", ""))
        self.stop()  # one message at a time: a new one ends the last
        if kind == "SPEAK":
            ssml = message_ssml(body, self.settings)
        elif kind == "CHAR":
            ssml = char_ssml(body.strip() or "space")
        elif kind == "KEY":
            ssml = key_ssml(body.strip())
        else:  # SOUND_ICON: no icons here; begin and end so the reader goes on
            ssml = ""
        msg = Message(self.wire, ssml, self.settings)
        self.current = msg
        self.wire.send("200 OK SPEAKING")
        asyncio.run_coroutine_threadsafe(self._say(msg), self.loop)

    def stop(self, lines: Any = None) -> None:
        msg, self.current = self.current, None
        if msg is not None:
            msg.stop()

    def close(self) -> None:
        """QUIT or end of input: let the segment in flight finish (at most a second), close the engine."""
        self.stop()
        if self.service is not None:
            self.service.engine.wait_idle(1.0)
            self.service.engine.close()

    # -- speech ----------------------------------------------------------------------------------

    async def _say(self, msg: Message) -> None:
        if not msg.ssml.strip("<speak></speak> "):
            msg.event("701 BEGIN")
            msg.end("702 END")
            return
        await asyncio.to_thread(self.ready.wait)
        svc = self.service
        if svc is None:
            log.error("cannot speak: %s", self.load_error)
            msg.event("701 BEGIN")
            msg.end("702 END")
            return
        record = Record(new_id(), ROUTE, "", "pcm")
        try:
            await self._render(svc, msg, record)
            record.status = "cancelled" if msg.stopped else "complete"
        except (HTTPError, GreenTTSError) as exc:
            record.status = "error"
            record.notes.append(getattr(exc, "message", str(exc)))
            log.warning("message not spoken: %s", record.notes[-1])
        except Exception:  # noqa: BLE001 - the reader must not hang on a bug
            record.status = "error"
            log.exception("message failed")
        finally:
            if msg.first_audio_s is None:  # nothing was spoken: begin and end, so the reader goes on
                msg.event("701 BEGIN")
            msg.end("702 END")
        svc.metrics.requests.labels(ROUTE, {"complete": "200", "cancelled": "499"}.get(record.status, "500")).inc()
        e = record.energy or {}
        log.info("message %s %s: %.2f s audio, first audio %s s, %.3g J %s", record.id, record.status,
                 record.audio_s, record.first_audio_s and round(record.first_audio_s, 3), e.get("joules", 0.0),
                 e.get("method", ""))

    async def _render(self, svc: SpeechService, msg: Message, record: Record) -> None:
        s = msg.settings
        engine = svc.engine
        if self._voices is None:  # read once; LIST VOICES (the daemon asks again when it changes) refreshes it
            self._voices = engine.list_voices()
        defaults = {"en": engine.config.default_voice_en, "zh": engine.config.default_voice_zh}
        voice = voice_for(s, defaults, {str(v["name"]) for v in self._voices})
        tier = self.config.get("greenttstier", "standard")
        if tier in TIER_BACKENDS:  # a tier with few voices (eco: af_heart) speaks in one of its own
            own = [str(v["name"]) for v in self._voices if TIER_BACKENDS[tier] in v.get("backends", ())]
            voice = voice if voice in own or not own else own[0]
        lang = {"en": "en", "zh": "zh"}.get(s.language.lower()[:2], "auto")
        req = SpeechRequest(model="greentts", input=msg.ssml, voice=voice, response_format="pcm", language=lang,
                            tier=tier, speed=speed_of(s.rate),
                            input_format="ssml", ssml_strict=False)
        ticket = svc.admit(first_audio=False)
        record.ticket = ticket
        record.received = msg.received
        try:
            stream, record, encoder = await asyncio.to_thread(svc.open, req, "", ticket, record)
            events: list[dict[str, Any]] = []
            sent_s = 0.0
            gain = gain_of(s.volume)

            async def stopped() -> bool:
                return msg.stopped

            async with contextlib.aclosing(svc.chunks(stream, record, encoder, stopped, events, route=ROUTE)) as parts:
                async for data in parts:
                    sent_s = self._send(msg, data, events, sent_s, stream.sample_rate, gain)
                    if msg.stopped:
                        break
            self._marks(msg, events, float("inf"))
        finally:
            svc.release(ticket)

    def _send(self, msg: Message, data: bytes, events: list[dict[str, Any]], sent_s: float, rate: int,
              gain: float) -> float:
        """One segment's PCM as 705 messages of 0.1 s, each index mark before the audio it falls in."""
        pcm = np.frombuffer(data, dtype="<i2")
        if gain != 1.0:
            pcm = (pcm.astype(np.float32) * gain).astype("<i2")
        for i in range(0, len(pcm), CHUNK_SAMPLES):
            part = pcm[i:i + CHUNK_SAMPLES]
            if msg.first_audio_s is None:  # BEGIN: speech begins with its first audio
                msg.first_audio_s = time.perf_counter() - msg.received
                msg.event("701 BEGIN")
            self._marks(msg, events, sent_s)
            if not msg.event(raw=msg.wire.audio_lines(part.tobytes(), rate)):
                return sent_s
            sent_s += len(part) / rate
        return sent_s

    def _marks(self, msg: Message, events: list[dict[str, Any]], until_s: float) -> None:
        """Send the index marks that fall before ``until_s``; keep the later ones (word events are dropped)."""
        marks = [e for e in events if e["type"] == "speech.mark"]
        for ev in marks:
            if ev["time"] <= until_s + 1e-6:
                msg.event(f"700-{ev['name']}", "700 INDEX MARK")
        events[:] = [e for e in marks if e["time"] > until_s + 1e-6]


_COMMANDS = {
    "INIT": Module.init, "AUDIO": Module.audio, "LOGLEVEL": Module.loglevel, "DEBUG": Module.debug,
    "SET": Module.set, "LIST VOICES": Module.list_voices, "SPEAK": Module.speak, "STOP": Module.stop,
    "PAUSE": Module.stop,  # the daemon plays the audio: a pause is a stop here
    "CHAR": lambda m, lines: m.speak(lines, "CHAR"), "KEY": lambda m, lines: m.speak(lines, "KEY"),
    "SOUND_ICON": lambda m, lines: m.speak(lines, "SOUND_ICON"),
}


def main() -> None:
    """``sd_greentts [CONFIG]``: the module binary Speech Dispatcher runs."""
    proto = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)  # anything else printed goes to the module's log, never into the protocol
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    module = Module(Wire(proto), read_config(sys.argv[1] if len(sys.argv) > 1 else None))
    module.run(iter(sys.stdin.readline, ""))
    module.close()
    os._exit(0)  # the daemon waits about a second for QUIT; native threads need not be torn down

