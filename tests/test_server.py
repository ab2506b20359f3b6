"""The HTTP server against a live uvicorn on loopback, driven by the real OpenAI SDK and real models."""

from __future__ import annotations

import base64
import io
import json
import socket
import threading
import time

import numpy as np
import pytest

pytest.importorskip("fastapi")
openai = pytest.importorskip("openai")
import httpx2 as httpx  # noqa: E402  (the HTTP client the OpenAI SDK ships with)
import soundfile as sf  # noqa: E402
import uvicorn  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from greentts.server import ServerConfig, create_app  # noqa: E402

pytestmark = [pytest.mark.model, pytest.mark.slow]

LONG = " ".join(["The quick brown fox jumps over the lazy dog, and then it runs far away into the woods."] * 8)


class LiveServer:
    def __init__(self, app) -> None:  # noqa: ANN001
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if httpx.get(self.url + "/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError("server did not become ready")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def _serve(engine, **cfg):  # noqa: ANN001, ANN202
    app = create_app(ServerConfig(**cfg), engine=engine)
    return LiveServer(app), app


@pytest.fixture(scope="module")
def live(engine):
    server, app = _serve(engine)
    yield server, app
    server.stop()


@pytest.fixture(scope="module")
def client(live):
    return openai.OpenAI(base_url=live[0].url + "/v1", api_key="unused", max_retries=0)


def _decode(data: bytes) -> np.ndarray:
    audio, _ = sf.read(io.BytesIO(data), dtype="float32")
    return audio


def test_openai_sdk_speech_create(client):
    resp = client.audio.speech.create(model="tts-1", voice="alloy", input="Hello from the OpenAI client.",
                                      response_format="wav")
    audio = _decode(resp.content)
    assert len(audio) / 24000 > 1.0 and np.abs(audio).max() > 0.05
    assert resp.response.headers["x-greentts-tier"] == "standard"
    assert "alloy->af_alloy" in resp.response.headers["x-greentts-notes"]


def test_openai_sdk_streaming_response_arrives_in_pieces(client, live):
    t0 = time.perf_counter()
    first = None
    parts = []
    with client.audio.speech.with_streaming_response.create(model="tts-1", voice="af_heart", input=LONG,
                                                            response_format="pcm") as resp:
        request_id = resp.headers["x-request-id"]
        for part in resp.iter_bytes():
            first = first or time.perf_counter() - t0
            parts.append(part)
    total = time.perf_counter() - t0
    pcm = np.frombuffer(b"".join(parts), "<i2")
    assert len(pcm) / 24000 > 20  # 8 sentences
    assert first < total / 3, (first, total)  # audio started long before the end: progressive
    report = httpx.get(f"{live[0].url}/v1/requests/{request_id}").json()
    assert report["status"] == "complete" and report["energy"]["joules"] > 0
    assert report["energy"]["method"] == "estimated" and report["audio_s"] > 20


def test_sse_events_carry_audio_and_energy(live):
    body = {"model": "tts-1", "voice": "af_heart", "input": "Two sentences. Streamed as events.",
            "response_format": "pcm", "stream_format": "sse"}
    events = []
    with httpx.stream("POST", live[0].url + "/v1/audio/speech", json=body, timeout=120) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    deltas = [e for e in events if e["type"] == "speech.audio.delta"]
    assert len(deltas) >= 2 and events[-1]["type"] == "speech.audio.done"
    pcm = np.frombuffer(b"".join(base64.b64decode(e["audio"]) for e in deltas), "<i2")
    done = events[-1]["greentts"]
    assert abs(len(pcm) / 24000 - done["audio_s"]) < 0.01
    assert done["energy"]["joules"] > 0 and done["energy"]["gco2e"] > 0 and done["first_audio_s"] > 0
    assert sum(done["energy"]["parts"].values()) == pytest.approx(done["energy"]["joules"])  # by kind of work


@pytest.mark.parametrize("fmt", ["mp3", "opus", "flac", "wav"])
def test_formats_decode(client, fmt):
    resp = client.audio.speech.create(model="tts-1", voice="nova", input="A short test.", response_format=fmt)
    audio = _decode(resp.content)
    assert 0.5 < len(audio) / 24000 < 5


def test_buffered_request_has_energy_headers_and_sample_rate(live):
    body = {"model": "kokoro", "voice": "zf_xiaoxiao", "input": "你好，世界。", "response_format": "wav",
            "stream": False, "sample_rate": 16000, "language": "zh"}
    r = httpx.post(live[0].url + "/v1/audio/speech", json=body, timeout=120)
    assert r.status_code == 200
    audio, rate = sf.read(io.BytesIO(r.content))
    assert rate == 16000 and len(audio) > 8000
    assert float(r.headers["x-greentts-energy-joules"]) > 0 and r.headers["x-greentts-energy-method"] == "estimated"
    assert float(r.headers["x-greentts-gco2e"]) > 0
    parts = dict(kv.split("=") for kv in r.headers["x-greentts-energy-parts"].split(";"))  # by kind of work
    assert {"frontend", "post"} <= set(parts) and ({"speech", "fast_lane"} & set(parts))
    assert sum(map(float, parts.values())) == pytest.approx(float(r.headers["x-greentts-energy-joules"]), rel=1e-3)


def test_errors_use_the_openai_shape(client, live):
    with pytest.raises(openai.BadRequestError, match="aac"):
        client.audio.speech.create(model="tts-1", voice="alloy", input="x", response_format="aac")
    with pytest.raises(openai.BadRequestError) as err:
        client.audio.speech.create(model="tts-1", voice="nobody", input="Hello.")
    assert err.value.body["param"] == "voice" and "nobody" in err.value.body["message"]
    with pytest.raises(openai.BadRequestError, match="speed"):
        client.audio.speech.create(model="tts-1", voice="alloy", input="Hello.", speed=3.0)
    with pytest.raises(openai.BadRequestError, match="model: Input should be .tts-1"):
        client.audio.speech.create(model="whisper-1", voice="alloy", input="Hello.")
    r = httpx.post(live[0].url + "/v1/audio/speech", json={"model": "tts-1", "voice": "alloy", "input": "a" * 5000})
    assert r.status_code == 413 and "4096" in r.json()["error"]["message"]
    r = httpx.post(live[0].url + "/v1/audio/speech", json={"model": "tts-1", "voice": "alloy", "input": "x",
                                                            "colour": "red"})
    assert r.status_code == 400 and "colour" in r.json()["error"]["message"]


def test_models_voices_health(live):
    url = live[0].url
    assert any(m["id"] == "tts-1" for m in httpx.get(url + "/v1/models").json()["data"])
    names = {v["name"] for v in httpx.get(url + "/v1/voices").json()["data"]}
    assert {"af_heart", "zf_xiaoxiao"} <= names
    assert httpx.get(url + "/healthz").json() == {"status": "ok"}
    assert httpx.get(url + "/readyz").json()["status"] == "ready"
    page = httpx.get(url + "/").text
    assert "<title>greentts</title>" in page and "/v1/audio/speech" in page


def test_metrics_parse_with_prometheus_client(live, client):
    client.audio.speech.create(model="tts-1", voice="alloy", input="Counted.", response_format="wav")
    text = httpx.get(live[0].url + "/metrics").text
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    reqs = [s for s in fams["greentts_requests"].samples if s.name == "greentts_requests_total"]
    assert any(s.labels["route"] == "/v1/audio/speech" and s.labels["status"] == "200" and s.value >= 1 for s in reqs)
    ttfa = [s for s in fams["greentts_time_to_first_audio_seconds"].samples if s.name.endswith("_count")]
    assert ttfa[0].value >= 1
    energy = [s for s in fams["greentts_energy_joules"].samples if s.name == "greentts_energy_joules_total"]
    assert any(s.labels["method"] == "estimated" and s.value > 0 for s in energy)
    parts = {s.labels["part"]: s.value for s in fams["greentts_energy_part_joules"].samples
             if s.name == "greentts_energy_part_joules_total"}
    assert parts.get("frontend", 0) > 0 and parts.get("speech", 0) + parts.get("fast_lane", 0) > 0
    for name in ("greentts_queue_depth", "greentts_busy_workers", "greentts_idle_joules", "greentts_model_load_seconds",
                 "greentts_rtf", "greentts_audio_seconds", "greentts_gco2e"):
        assert name in fams, name


def test_full_server_answers_429_with_retry_after(engine):
    server, app = _serve(engine, max_requests=1, warm_up=False)
    try:
        body = {"model": "tts-1", "voice": "af_heart", "input": LONG, "response_format": "pcm"}
        with httpx.stream("POST", server.url + "/v1/audio/speech", json=body, timeout=120) as first:
            next(first.iter_bytes())  # admitted and streaming
            r = httpx.post(server.url + "/v1/audio/speech", json={**body, "input": "Me too."})
            assert r.status_code == 429 and r.headers["Retry-After"] == "1"
            assert r.json()["error"]["type"] == "rate_limit_error"
    finally:
        server.stop()
    assert engine.wait_idle(60)


def test_client_disconnect_cancels_and_frees_the_workers(live, engine):
    svc = live[1].state.service
    body = {"model": "tts-1", "voice": "af_heart", "input": LONG * 2, "response_format": "pcm"}
    with httpx.stream("POST", live[0].url + "/v1/audio/speech", json=body, timeout=120) as r:
        request_id = r.headers["x-request-id"]
        next(r.iter_bytes())  # first audio, then hang up
    deadline = time.time() + 30
    while request_id not in svc.records and time.time() < deadline:
        time.sleep(0.1)
    rec = svc.records[request_id]
    assert rec.status == "cancelled" and rec.audio_s < 60  # far from the ~100 s the text would take
    assert rec.energy is not None and rec.energy["joules"] > 0  # what was spent is still reported
    assert engine.wait_idle(30) and engine.stats()["busy_workers"] == 0 and svc.active == 0


def test_api_keys_and_voice_namespaces(engine, tmp_path):
    from greentts.server.serving import namespace

    server, app = _serve(engine, api_keys=("key-one", "key-two"), warm_up=False)
    try:
        url = server.url
        r = httpx.get(url + "/v1/voices")
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
        assert httpx.get(url + "/v1/voices", headers={"Authorization": "Bearer nope"}).status_code == 401
        table = engine.voices.get("af_bella").table
        own = namespace("key-one") + "mine"
        engine.voices.save(own, table, {"language": "en-us", "clip_sha256": "", "status": "done"}, overwrite=True)
        try:
            one = httpx.get(url + "/v1/voices", headers={"Authorization": "Bearer key-one"}).json()["data"]
            two = httpx.get(url + "/v1/voices", headers={"Authorization": "Bearer key-two"}).json()["data"]
            assert "mine" in {v["name"] for v in one} and "mine" not in {v["name"] for v in two}
            c1 = openai.OpenAI(base_url=url + "/v1", api_key="key-one", max_retries=0)
            audio = _decode(c1.audio.speech.create(model="tts-1", voice="mine", input="My own voice.",
                                                   response_format="wav").content)
            assert len(audio) > 12000
            c2 = openai.OpenAI(base_url=url + "/v1", api_key="key-two", max_retries=0)
            with pytest.raises(openai.BadRequestError):
                c2.audio.speech.create(model="tts-1", voice="mine", input="Not yours.")
        finally:
            engine.voices.delete(own)
    finally:
        server.stop()


def test_request_timeout_stops_at_a_segment_boundary(engine):
    server, app = _serve(engine, request_timeout_s=0.5, warm_up=False)
    try:
        body = {"model": "tts-1", "voice": "af_heart", "input": LONG, "response_format": "pcm",
                "stream_format": "sse"}
        with httpx.stream("POST", server.url + "/v1/audio/speech", json=body, timeout=120) as r:
            events = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: ")]
        assert events[-1]["type"] == "error" and events[-1]["error"]["type"] == "timeout"
        assert "request_timeout_s" in events[-1]["error"]["message"]
    finally:
        server.stop()
    assert engine.wait_idle(60)


def test_enrollment_over_http_is_a_job(live, engine, tmp_path):
    pytest.importorskip("torch")
    ref = engine.synthesize("I moved to the coast three years ago, and I still walk along the harbour every "
                            "evening.", voice="am_eric")
    path = tmp_path / "ref.wav"
    ref.save(path)
    url = live[0].url
    with open(path, "rb") as f:
        r = httpx.post(url + "/v1/voices", files={"file": ("ref.wav", f, "audio/wav")},
                       data={"name": "http-voice", "language": "en", "steps": "0"}, timeout=60)
    assert r.status_code == 202, r.text
    job = r.json()
    deadline = time.time() + 300
    while job["status"] not in ("done", "error") and time.time() < deadline:
        time.sleep(1)
        job = httpx.get(url + job.get("status_url", f"/v1/voices/jobs/{job['id']}")).json()
    try:
        assert job["status"] == "done", job
        assert job["voice"]["steps_run"] == 0 and job["voice"]["similarity"]["reached"] > 0  # steps as sent
        names = {v["name"] for v in httpx.get(url + "/v1/voices").json()["data"]}
        assert "http-voice" in names
        r = httpx.post(url + "/v1/audio/speech", json={"model": "tts-1", "voice": "http-voice", "input": "Cloned.",
                                                       "response_format": "wav", "stream": False}, timeout=120)
        assert r.status_code == 200 and len(r.content) > 20000
    finally:
        assert httpx.delete(url + "/v1/voices/http-voice").json() == {"deleted": "http-voice"}
    assert httpx.delete(url + "/v1/voices/http-voice").status_code == 404
    assert httpx.delete(url + "/v1/voices/af_heart").status_code == 400
    r = httpx.post(url + "/v1/voices", files={"file": ("x.wav", b"not audio", "audio/wav")}, data={"name": "x"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_audio"


def test_dialogue_endpoint_returns_the_mix_and_turns(live):
    body = {"script": "[S1] Good morning.\n[S2] 早上好。", "voices": {"S1": "af_heart"}, "auto_voices": True,
            "response_format": "wav", "timestamps": True}
    r = httpx.post(live[0].url + "/v1/dialogue", json=body, timeout=120)
    assert r.status_code == 200, r.text
    data = r.json()
    audio, sr = sf.read(io.BytesIO(base64.b64decode(data["audio_base64"])))
    assert sr == 24000 and abs(len(audio) / sr - data["duration_s"]) < 0.01
    assert [t["speaker"] for t in data["turns"]] == ["S1", "S2"] and data["speakers"]["S2"].startswith("z")
    assert data["turns"][0]["end_s"] < data["turns"][1]["start_s"] and float(r.headers["x-greentts-energy-joules"]) > 0
    plain = httpx.post(live[0].url + "/v1/dialogue", json={**body, "timestamps": False, "response_format": "mp3"},
                       timeout=120)
    assert plain.status_code == 200 and plain.headers["content-type"].startswith("audio/mpeg")
    bad = httpx.post(live[0].url + "/v1/dialogue", json={"script": "[S1] Hi.\n[S2] Hello."}, timeout=60)
    assert bad.status_code in (400, 404) and "S1" in bad.json()["error"]["message"]


def test_a_dialogue_is_recorded_and_counted_like_a_speech_request(live):
    url = live[0].url
    r = httpx.post(url + "/v1/dialogue", json={"script": "[S1] Hello there.\n[S2] Hi.", "auto_voices": True,
                                               "response_format": "wav"}, timeout=120)
    assert r.status_code == 200, r.text
    record = httpx.get(url + f"/v1/requests/{r.headers['x-request-id']}").json()
    assert record["status"] == "complete" and record["model"] == "dialogue" and record["audio_s"] > 0.5
    assert record["energy"]["method"] == "estimated" and record["energy"]["gco2e"] > 0
    assert float(r.headers["x-greentts-energy-joules"]) == pytest.approx(record["energy"]["joules"], rel=1e-5)
    fams = {f.name: f for f in text_string_to_metric_families(httpx.get(url + "/metrics").text)}
    latency = [s for s in fams["greentts_request_duration_seconds"].samples if s.name.endswith("_count")]
    assert any(s.labels["route"] == "/v1/dialogue" and s.value >= 1 for s in latency)
