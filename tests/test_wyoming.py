"""The Wyoming server (Home Assistant) driven by the wyoming library's own async TCP client, on real
models; its requests land in the same log and metrics as HTTP requests of the same app."""

from __future__ import annotations

import asyncio
import socket
import statistics
import threading
import time

import numpy as np
import pytest

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402
from wyoming.audio import AudioChunk, AudioStart  # noqa: E402
from wyoming.client import AsyncTcpClient  # noqa: E402
from wyoming.error import Error  # noqa: E402
from wyoming.event import Event  # noqa: E402
from wyoming.info import Describe, Info  # noqa: E402
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeVoice  # noqa: E402

from greentts.protocols.wyoming import WyomingOptions, serve  # noqa: E402
from greentts.quality.asr import char_error_rate, word_error_rate  # noqa: E402
from greentts.server import ServerConfig, create_app  # noqa: E402
from greentts.text.segment import SentenceBuffer  # noqa: E402

pytestmark = [pytest.mark.model, pytest.mark.slow]

EN = "Good evening. The front door is locked and the kitchen lights are off."
ZH = "今天晚上有小雨，明天早上的气温是十二度。"


class WyomingServer:
    """The Wyoming server of ``app`` on a loopback port, in a thread with its own event loop."""

    def __init__(self, app, options: WyomingOptions | None = None) -> None:  # noqa: ANN001
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.loop = asyncio.new_event_loop()
        started = threading.Event()
        coro = serve(app.state.service, app.state.ready, f"tcp://127.0.0.1:{self.port}", options, started=started)
        self.task = self.loop.create_task(coro)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert started.wait(10)

    def _run(self) -> None:
        try:
            self.loop.run_until_complete(self.task)
        except asyncio.CancelledError:
            pass  # stop()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.task.cancel)
        self.thread.join(10)


@pytest.fixture(scope="module")
def app(engine):
    app = create_app(ServerConfig(max_first_audio_wait_s=120), engine=engine)
    app.state.ready.set()  # the session's engine is warm
    return app


@pytest.fixture(scope="module")
def server(app):
    srv = WyomingServer(app)
    yield srv
    srv.stop()


async def _exchange(port: int, events: list, until: tuple[str, ...] = ("audio-stop", "error")) -> dict:
    """Send ``events``; read until one of ``until``. Returns the events, the audio and the first-chunk time."""
    async with AsyncTcpClient("127.0.0.1", port) as client:
        t0 = time.perf_counter()
        for e in events:
            await client.write_event(e.event() if not isinstance(e, Event) else e)
        return await _read(client, t0, until)


async def _read(client: AsyncTcpClient, t0: float, until: tuple[str, ...]) -> dict:
    got: list[Event] = []
    first = None
    while True:
        ev = await asyncio.wait_for(client.read_event(), 120)
        assert ev is not None, f"the server closed the connection after {[e.type for e in got]}"
        got.append(ev)
        if AudioChunk.is_type(ev.type) and first is None:
            first = time.perf_counter() - t0
        if ev.type in until:
            break
    chunks = [AudioChunk.from_event(e) for e in got if AudioChunk.is_type(e.type)]
    pcm = b"".join(c.audio for c in chunks)
    audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    return {"events": got, "types": [e.type for e in got], "chunks": chunks, "audio": audio, "first_s": first,
            "wall_s": time.perf_counter() - t0}


def _run(coro):  # noqa: ANN001, ANN202
    return asyncio.run(coro)


def test_sentence_buffer_waits_for_the_next_word():
    buf = SentenceBuffer()
    out = [buf.add(t) for t in ["It costs 5", ". ", "and more. ", "Dr", ". Smith", " is here. ", "好。", "再见"]]
    assert [o for o in out if o] == ["It costs 5. and more.", "Dr. Smith is here.", "好。"]
    assert buf.finish() == "再见"


def test_describe_lists_english_and_mandarin_voices_with_streaming(server, engine):
    res = _run(_exchange(server.port, [Describe()], until=("info",)))
    program = Info.from_event(res["events"][-1]).tts[0]
    assert program.supports_synthesize_streaming and program.installed
    voices = {v.name: v.languages for v in program.voices}
    assert voices["af_heart"] == ["en", "en-US"] and voices["bm_george"] == ["en", "en-GB"]
    assert voices["zf_xiaoxiao"] == ["zh", "zh-CN"]
    spoken = {v["name"] for v in engine.list_voices() if v["language"].startswith(("en", "zh"))}
    assert set(voices) == spoken  # every voice the engine speaks; none it cannot (ja, es, ...)


def test_synthesize_english_is_heard_and_logged_like_http(server, app, asr):
    from test_server import LiveServer  # the HTTP side of the same app, for the comparison
    import httpx2 as httpx

    res = _run(_exchange(server.port, [Synthesize(EN, voice=SynthesizeVoice(name="af_heart"))]))
    assert res["types"][0] == "audio-start" and res["types"][-1] == "audio-stop"
    start = AudioStart.from_event(res["events"][0])
    assert (start.rate, start.width, start.channels) == (24000, 2, 1)
    assert all(len(c.audio) <= 2048 for c in res["chunks"]) and len(res["chunks"]) > 10
    heard = asr.transcribe(res["audio"], 24000, "en")
    assert word_error_rate(EN, heard) <= 0.1, heard
    rec = res["events"][-1].data["greentts"]
    assert rec["status"] == "complete" and rec["model"] == "wyoming" and rec["voice"] == "af_heart"
    assert rec["audio_s"] == pytest.approx(len(res["audio"]) / 24000, abs=0.01)
    live = LiveServer(app)
    try:
        resp = httpx.post(live.url + "/v1/audio/speech", json={"model": "tts-1", "input": EN, "voice": "af_heart",
                                                                "response_format": "pcm"}, timeout=120)
        http_rec = httpx.get(f"{live.url}/v1/requests/{resp.headers['x-request-id']}").json()
        wy_rec = httpx.get(f"{live.url}/v1/requests/{rec['id']}").json()
        metrics = {(s.name, tuple(sorted(s.labels.items()))): s.value
                   for f in text_string_to_metric_families(httpx.get(live.url + "/metrics").text) for s in f.samples}
    finally:
        live.stop()
    assert wy_rec == rec  # the same record, over HTTP
    assert set(wy_rec) == set(http_rec) and set(wy_rec["energy"]) == set(http_rec["energy"])
    assert wy_rec["energy"]["method"] == "estimated" and wy_rec["energy"]["joules"] > 0
    # the same audio as the HTTP request, within the energy it costs
    assert wy_rec["audio_s"] == pytest.approx(http_rec["audio_s"], abs=0.05)
    assert 0.5 < wy_rec["energy"]["joules"] / http_rec["energy"]["joules"] < 2.0
    assert metrics[("greentts_request_duration_seconds_count", (("route", "wyoming"),))] >= 1
    assert metrics[("greentts_requests_total", (("route", "wyoming"), ("status", "200")))] >= 1
    assert metrics[("greentts_energy_joules_total", (("backend", "kokoro"), ("method", "estimated")))] >= \
        wy_rec["energy"]["joules"] + http_rec["energy"]["joules"] - 1e-6


def test_synthesize_mandarin_by_language(server, asr):
    res = _run(_exchange(server.port, [Synthesize(ZH, voice=SynthesizeVoice(language="zh_CN"))]))
    rec = res["events"][-1].data["greentts"]
    assert rec["voice"] == "zf_xiaoxiao" and rec["status"] == "complete"
    assert char_error_rate(ZH, asr.transcribe(res["audio"], 24000, "zh")) <= 0.15


def test_streamed_text_is_spoken_while_it_arrives(server, app, asr):
    words = "Sure. I have turned on the lights in the living room. Is there anything else?".split()

    async def talk() -> tuple[dict, float]:
        async with AsyncTcpClient("127.0.0.1", server.port) as client:
            t0 = time.perf_counter()
            await client.write_event(SynthesizeStart(voice=SynthesizeVoice(name="am_michael")).event())
            for w in words[:3]:  # "Sure. I have": one whole sentence so far
                await client.write_event(SynthesizeChunk(w + " ").event())
            first = await asyncio.wait_for(client.read_event(), 60)  # speech starts before the text ends
            assert first is not None and first.type == "audio-start"
            early = await asyncio.wait_for(client.read_event(), 60)
            assert early is not None and early.type == "audio-chunk"
            first_s = time.perf_counter() - t0
            for w in words[3:]:
                await client.write_event(SynthesizeChunk(w + " ").event())
            await client.write_event(Synthesize(" ".join(words)).event())  # the copy for older servers: ignored
            await client.write_event(SynthesizeStop().event())
            res = await _read(client, t0, ("synthesize-stopped", "error"))
            res["events"][:0] = [first, early]
            res["types"][:0] = [first.type, early.type]
            res["audio"] = np.concatenate([np.frombuffer(AudioChunk.from_event(early).audio, "<i2") / 32768.0,
                                           res["audio"]]).astype(np.float32)
            return res, first_s

    res, first_s = _run(talk())
    types = res["types"]
    assert types.count("audio-start") == 1 and types.count("audio-stop") == 1 and "error" not in types
    assert types[-2:] == ["audio-stop", "synthesize-stopped"]
    heard = asr.transcribe(res["audio"], 24000, "en")
    assert word_error_rate(" ".join(words), heard) <= 0.15, heard  # spoken once, not twice
    rec = res["events"][-2].data["greentts"]
    assert rec["status"] == "complete" and rec["audio_s"] == pytest.approx(len(res["audio"]) / 24000, abs=0.01)
    energy = rec["energy"]  # the sentences' reports, summed into one of the same shape
    assert energy["audio_s"] == pytest.approx(rec["audio_s"], abs=0.05)
    assert energy["joules"] == pytest.approx(sum(d["joules"] for d in energy["devices"].values()))
    assert app.state.service.log.get(rec["id"]).energy == energy
    print(f"streamed text: first audio {first_s:.3f} s after the first chunk")


def test_refusals_are_error_events_and_the_connection_stays_open(server):
    async def talk() -> list[Event]:
        async with AsyncTcpClient("127.0.0.1", server.port) as client:
            got = []
            for ev in [Synthesize("Hello.", voice=SynthesizeVoice(name="nobody")),
                       Synthesize("Bonjour.", voice=SynthesizeVoice(language="fr")), Synthesize("   ")]:
                await client.write_event(ev.event())
                got.append(await asyncio.wait_for(client.read_event(), 30))
            await client.write_event(Describe().event())  # still serving this connection
            got.append(await asyncio.wait_for(client.read_event(), 30))
            return got

    bad_voice, bad_lang, empty, info = _run(talk())
    assert Error.is_type(bad_voice.type) and "nobody" in bad_voice.data["text"]
    assert bad_voice.data["code"] == "invalid_voice"
    assert Error.is_type(bad_lang.type) and bad_lang.data["code"] == "unsupported_language"
    assert "en" in bad_lang.data["text"] and "zh" in bad_lang.data["text"]
    assert Error.is_type(empty.type) and empty.data["code"] == "empty_text"
    assert info.type == "info"


def test_a_client_that_leaves_mid_stream_stops_the_work(server, app, engine):
    long_text = " ".join(["The quick brown fox jumps over the lazy dog, and then it runs far into the woods."] * 12)
    svc = app.state.service

    async def leave() -> None:
        async with AsyncTcpClient("127.0.0.1", server.port) as client:
            await client.write_event(Synthesize(long_text).event())
            for _ in range(3):
                await asyncio.wait_for(client.read_event(), 60)

    before = svc.log.served
    t0 = time.perf_counter()
    _run(leave())
    assert engine.wait_idle(30)
    stopped_s = time.perf_counter() - t0
    deadline = time.time() + 10
    while svc.log.served == before and time.time() < deadline:
        time.sleep(0.05)
    rec = list(svc.log.records.values())[-1]
    assert rec.model == "wyoming" and rec.status == "cancelled" and rec.audio_s < 20
    assert stopped_s < 20  # the whole text is about 60 s of audio
    res = _run(_exchange(server.port, [Synthesize("Still here.")]))  # and the next client is served
    assert res["types"][-1] == "audio-stop"


def test_eight_concurrent_clients(server, app):
    texts = [f"Timer number {n} is done." for n in ("one", "two", "three", "four", "five", "six", "seven", "eight")]

    async def many() -> list[dict]:
        return await asyncio.gather(*(_exchange(server.port, [Synthesize(t)]) for t in texts))

    t0 = time.perf_counter()
    results = _run(many())
    wall = time.perf_counter() - t0
    assert all(r["types"][-1] == "audio-stop" for r in results), [r["types"][-1] for r in results]
    ids = {r["events"][-1].data["greentts"]["id"] for r in results}
    assert len(ids) == 8 and all(app.state.service.log.get(i).status == "complete" for i in ids)
    audio_s = sum(len(r["audio"]) for r in results) / 24000
    firsts = sorted(r["first_s"] for r in results)
    print(f"8 concurrent clients: first chunk p50 {statistics.median(firsts):.3f} s, max {firsts[-1]:.3f} s; "
          f"{audio_s:.1f} s of audio in {wall:.2f} s ({audio_s / wall:.2f}x real time)")


def test_a_full_server_refuses_with_server_busy_and_a_retry_after(engine):
    app = create_app(ServerConfig(max_requests=1), engine=engine)
    app.state.ready.set()
    srv = WyomingServer(app)
    long_text = " ".join(["The quick brown fox jumps over the lazy dog, and then it runs far into the woods."] * 6)

    async def two() -> Event:
        async with AsyncTcpClient("127.0.0.1", srv.port) as first:
            await first.write_event(Synthesize(long_text).event())
            assert (await asyncio.wait_for(first.read_event(), 60)).type == "audio-start"
            res = await _exchange(srv.port, [Synthesize("Me too.")], until=("audio-stop", "error"))
            return res["events"][-1]

    try:
        refused = _run(two())
    finally:
        srv.stop()
    assert Error.is_type(refused.type) and refused.data["code"] == "server_busy"
    assert refused.data["retry_after_s"] >= 1 and "limit is 1" in refused.data["text"]
    assert engine.wait_idle(30)  # the first client left: its work stopped


def test_cli_serves_wyoming_and_http_side_by_side_and_announces_itself(cache_dir):
    """``greentts wyoming --http-port --zeroconf`` in its own process: Home Assistant finds it over mDNS,
    a Wyoming request speaks, and the HTTP side of the same process shows its record and metrics."""
    import os
    import subprocess
    import sys

    import httpx2 as httpx
    from zeroconf.asyncio import AsyncZeroconf

    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    wy, http = ports
    name = f"greentts-test-{os.getpid()}"
    proc = subprocess.Popen([sys.executable, "-m", "greentts.cli", "wyoming", "--uri", f"tcp://127.0.0.1:{wy}",
                             "--http-port", str(http), "--zeroconf", name, "--tier", "eco", "--rate", "16000"],
                            env=dict(os.environ, GREENTTS_CACHE_DIR=str(cache_dir)),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 180
        while time.time() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{http}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.3)

        async def find() -> object:
            zc = AsyncZeroconf()
            try:
                return await zc.async_get_service_info("_wyoming._tcp.local.", f"{name}._wyoming._tcp.local.", 5000)
            finally:
                await zc.async_close()

        found = _run(find())
        assert found is not None and found.port == wy
        res = _run(_exchange(wy, [Synthesize("The garage door is closed.")]))
        assert AudioStart.from_event(res["events"][0]).rate == 16000 and len(res["audio"]) > 16000
        rec = res["events"][-1].data["greentts"]
        assert rec["tier"] == "eco" and rec["backend"] == "hibari"
        assert httpx.get(f"http://127.0.0.1:{http}/v1/requests/{rec['id']}").json()["energy"] == rec["energy"]
        assert 'greentts_requests_total{route="wyoming",status="200"} 1.0' in \
            httpx.get(f"http://127.0.0.1:{http}/metrics").text
    finally:
        proc.terminate()
        proc.wait(30)
