"""Issue 15 on the real models and a live server on loopback: each repro failed on the old code."""

from __future__ import annotations

import io
import json
import socket
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from greentts.errors import EmptyTextError, GreenTTSError, ModelError

pytestmark = [pytest.mark.model, pytest.mark.slow]
pytest.importorskip("fastapi")
import httpx2 as httpx  # noqa: E402
import soundfile as sf  # noqa: E402
from test_server import _serve  # noqa: E402

from greentts.server.serving import namespace  # noqa: E402

KEYS = ("key-alpha", "key-bravo")
A, B = ({"Authorization": f"Bearer {k}"} for k in KEYS)


@pytest.fixture(scope="module")
def open_server(engine):
    server, app = _serve(engine, warm_up=False)
    yield server, app
    server.stop()


@pytest.fixture(scope="module")
def keyed(engine):
    server, app = _serve(engine, api_keys=KEYS, warm_up=False, max_upload_mb=1.0)
    yield server, app
    server.stop()


# -- the engine: audio or a GreenTTSError -------------------------------------------------------------------

@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(text=st.text(st.characters(codec=None), max_size=24) | st.text(st.sampled_from(
    list("0123456789$%.,/-'‘()!?。，安好的了 aBz①١") + ["안", "Я"]), max_size=24), lang=st.sampled_from(["auto", "en", "zh"]))
def test_fuzz_engine_synthesize(engine, text, lang):
    try:
        result = engine.synthesize(text, lang=lang)
    except GreenTTSError:
        return
    assert result.duration_s > 0 and np.isfinite(result.audio).all()


@pytest.mark.parametrize("text", ["안녕하세요", "Привет", "こんにちは", "😀", "___"])
def test_unspeakable_text_raises_before_any_audio(engine, text):
    with pytest.raises(EmptyTextError, match="nothing speakable"):
        engine.stream(text)


def test_a_huge_number_is_spoken(engine):
    result = engine.synthesize("Your code is " + "9" * 40 + ".")
    assert result.duration_s > 10  # forty "nine"s


# -- 3. nothing fails after the status line -------------------------------------------------------------------

def test_streamed_huge_number_is_complete_audio(open_server):
    body = {"model": "tts-1", "voice": "af_heart", "input": "9" * 60 + " is the number.", "response_format": "wav"}
    with httpx.stream("POST", open_server[0].url + "/v1/audio/speech", json=body, timeout=300) as r:
        assert r.status_code == 200
        data = r.read()
    audio, sr = sf.read(io.BytesIO(data))
    assert len(audio) / sr > 15
    record = httpx.get(open_server[0].url + f"/v1/requests/{r.headers['x-request-id']}").json()
    assert record["status"] == "complete"


def test_a_pronunciation_too_long_is_a_400_before_the_first_byte(open_server):
    entry = {"grapheme": "zyx", "phoneme": "a" * 5001}
    body = {"model": "tts-1", "voice": "af_heart", "input": "Say zyx now.", "pronunciations": [entry]}
    for extra in ({}, {"stream_format": "sse"}):
        r = httpx.post(open_server[0].url + "/v1/audio/speech", json={**body, **extra}, timeout=60)
        assert r.status_code == 400, r.text
        assert r.headers["content-type"].startswith("application/json") and r.json()["error"]["message"]


def test_a_failure_after_the_first_byte_ends_cleanly_and_is_recorded(engine):
    """A model fault in the second segment (injected): SSE ends with an error event, audio with a clean
    close, and the record says what failed."""
    server, app = _serve(engine, warm_up=False)
    real = engine._submit

    def failing(seg, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        if seg.index >= 1:
            from concurrent.futures import Future

            fut: Future = Future()
            fut.set_exception(ModelError("injected fault in segment 1"))
            return fut
        return real(seg, *args, **kwargs)

    engine._submit = failing
    text = "This is the first part, and it is fine. " + "This second sentence is long enough to be its own segment. " * 12
    try:
        url = server.url + "/v1/audio/speech"
        body = {"model": "tts-1", "voice": "af_heart", "input": text, "response_format": "pcm"}
        with httpx.stream("POST", url, json={**body, "stream_format": "sse"}, timeout=120) as r:
            events = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: ")]
        assert events[0]["type"] == "speech.audio.delta" and events[-1]["type"] == "error"
        assert "injected fault" in events[-1]["error"]["message"]
        with httpx.stream("POST", url, json=body, timeout=120) as r:
            assert r.status_code == 200
            data = r.read()  # no RemoteProtocolError: the body ended cleanly
            rid = r.headers["x-request-id"]
        assert len(data) > 0
        record = httpx.get(server.url + f"/v1/requests/{rid}").json()
        assert record["status"] == "error" and any("injected fault" in n for n in record["notes"])
    finally:
        engine._submit = real
        server.stop()
    assert engine.wait_idle(60)


# -- 4. dialogue: JSON errors, never a text/plain 500 ----------------------------------------------------------

def test_dialogue_with_a_huge_number_and_errors_in_json(open_server, monkeypatch):
    url = open_server[0].url + "/v1/dialogue"
    r = httpx.post(url, json={"script": "[S1] I paid $" + "9" * 30 + ".", "voices": {"S1": "af_heart"},
                              "response_format": "wav"}, timeout=300)
    assert r.status_code == 200, r.text
    r = httpx.post(url, json={"script": "[S1] 안녕하세요", "voices": {"S1": "af_heart"}}, timeout=60)
    assert r.status_code == 400 and "nothing speakable" in r.json()["error"]["message"]
    r = httpx.post(url, json={"script": "[S1] Hi.", "voices": {"S1": "nobody"}}, timeout=60)
    assert r.status_code == 400 and "nobody" in r.json()["error"]["message"]
    svc = open_server[1].state.service

    def broken(*a, **k):  # noqa: ANN002, ANN003
        raise RuntimeError("a bug")

    monkeypatch.setattr(svc, "dialogue", broken)
    r = httpx.post(url, json={"script": "[S1] Hi.", "voices": {"S1": "af_heart"}}, timeout=60)
    assert r.status_code == 500 and r.headers["content-type"].startswith("application/json")
    assert r.json()["error"]["type"] == "server_error" and "RuntimeError" in r.json()["error"]["message"]


# -- 5. uploads with odd file names --------------------------------------------------------------------------

def _uploads() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("greentts-upload-*")}


def test_an_upload_with_a_300_character_extension_is_a_400_and_leaves_nothing(keyed):
    pytest.importorskip("torch")
    before = _uploads()
    name = "clip." + "a" * 300
    r = httpx.post(keyed[0].url + "/v1/voices", headers=A, files={"file": (name, b"RIFF not audio", "audio/wav")},
                   data={"name": "odd"}, timeout=60)
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_audio", r.text
    assert _uploads() == before


# -- 6. one key cannot read another's records --------------------------------------------------------------------

def test_records_and_jobs_answer_404_to_other_keys(keyed):
    url = keyed[0].url
    r = httpx.post(url + "/v1/audio/speech", headers=A, timeout=120,
                   json={"model": "tts-1", "voice": "af_heart", "input": "Mine.", "stream": False})
    assert r.status_code == 200
    rid = r.headers["x-request-id"]
    assert httpx.get(url + f"/v1/requests/{rid}", headers=A).status_code == 200
    r = httpx.get(url + f"/v1/requests/{rid}", headers=B)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    from greentts.server.serving import Job

    svc = keyed[1].state.service
    job = Job("feedc0ffee000001", "mine", owner=namespace(KEYS[0]))
    svc.jobs[job.id] = job
    assert httpx.get(url + f"/v1/voices/jobs/{job.id}", headers=A).status_code == 200
    assert httpx.get(url + f"/v1/voices/jobs/{job.id}", headers=B).status_code == 404


# -- 8. names are checked as written, before the key's prefix ----------------------------------------------------

@pytest.mark.parametrize("name", ["af_heart", "alloy", "-x", "me\n", "k0123abcd_x", "", "A"])
def test_enrolled_voice_names_are_checked_as_written(keyed, name):
    pytest.importorskip("torch")
    r = httpx.post(keyed[0].url + "/v1/voices", headers=A, files={"file": ("c.wav", b"RIFF", "audio/wav")},
                   data={"name": name}, timeout=60)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == "name"


# -- 9. auth before the body; the body is capped -----------------------------------------------------------------

def _raw(port: int, head: str, send_bytes: int) -> tuple[str, float]:
    """Send ``head`` then up to ``send_bytes`` of body; return the status line and seconds to get it."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        t = time.perf_counter()
        s.sendall(head.encode())
        sent = 0
        s.settimeout(0.05)
        reply = b""
        while sent < send_bytes and not reply:
            try:
                s.sendall(b"x" * 65536)
                sent += 65536
            except OSError:
                break
            try:
                reply = s.recv(4096)
            except TimeoutError:
                pass
        s.settimeout(30)
        while b"\r\n" not in reply:
            chunk = s.recv(4096)
            if not chunk:
                break
            reply += chunk
        return reply.split(b"\r\n", 1)[0].decode(), time.perf_counter() - t


def test_auth_is_checked_before_the_body_is_read(keyed):
    port = keyed[0].port
    head = ("POST /v1/voices HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            "Content-Length: 100000000\r\n{auth}\r\n")
    status, seconds = _raw(port, head.format(auth=""), 8 * 1024 * 1024)
    assert " 401 " in status and seconds < 5
    status, _ = _raw(port, head.format(auth="Authorization: Bearer key-alpha\r\n"), 8 * 1024 * 1024)
    assert " 413 " in status  # a declared 100 MB body is refused before it is read
    r = httpx.post(keyed[0].url + "/v1/audio/speech", headers=A, content=b"{" + b" " * 3_000_000 + b"}",
                   timeout=60)
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"

    def chunks():  # no Content-Length: cut off while read
        for _ in range(48):
            yield b" " * 65536

    r = httpx.post(keyed[0].url + "/v1/audio/speech", headers={**A, "Content-Type": "application/json"},
                   content=chunks(), timeout=60)
    assert r.status_code == 413


def test_metrics_and_docs_need_a_key_unless_configured_open(keyed, engine):
    for path in ("/metrics", "/openapi.json", "/docs"):
        assert httpx.get(keyed[0].url + path).status_code == 401
        assert httpx.get(keyed[0].url + path, headers=A).status_code == 200
    for path in ("/healthz", "/readyz", "/"):
        assert httpx.get(keyed[0].url + path).status_code in (200, 503)
    server, _ = _serve(engine, api_keys=KEYS, warm_up=False, public_ops=True)
    try:
        assert httpx.get(server.url + "/metrics").status_code == 200
        assert httpx.get(server.url + "/v1/models").status_code == 401
    finally:
        server.stop()


# -- 10. no 200 with 0 s of audio ------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["안녕하세요", "Привет мир", "😀😀", "こんにちは"])
def test_http_unspeakable_text_is_a_400(open_server, text):
    r = httpx.post(open_server[0].url + "/v1/audio/speech", timeout=60,
                   json={"model": "tts-1", "voice": "af_heart", "input": text})
    assert r.status_code == 400 and "nothing speakable" in r.json()["error"]["message"]


# -- latency-bounded admission -------------------------------------------------------------------------------

def test_requests_whose_first_audio_would_wait_too_long_get_429(engine):
    """With a 1 s bound and 0.6 s per request ahead, a second request waiting with the first is refused,
    with a computed Retry-After; the admitted one streams."""
    server, app = _serve(engine, warm_up=False, max_first_audio_wait_s=1.0, first_audio_cost_s=0.6)
    try:
        url = server.url + "/v1/audio/speech"
        body = {"model": "tts-1", "voice": "af_heart", "input": "One two three, four five six.", "response_format": "pcm"}
        svc = app.state.service
        ticket = svc.admit()  # someone is waiting for first audio
        try:
            r = httpx.post(url, json=body, timeout=60)
            assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
            assert "first audio would take about 1.2 s" in r.json()["error"]["message"]
        finally:
            svc.release(ticket)
        r = httpx.post(url, json=body, timeout=60)
        assert r.status_code == 200 and len(r.content) > 24000
        stats = httpx.get(server.url + "/v1/stats").json()["admission"]
        assert stats["waiting_for_first_audio"] == 0 and stats["first_audio_wait_per_request_ahead_s"] != 0.6
    finally:
        server.stop()
