"""``greentts serve --ray`` on a real local Ray cluster (``ray start --head``) with 2 Ray Serve replicas,
driven through Serve's HTTP proxy by the openai SDK, httpx and prometheus_client's parser."""

from __future__ import annotations

import base64
import io
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ray.serve")
openai = pytest.importorskip("openai")
import httpx2 as httpx  # noqa: E402
import soundfile as sf  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from greentts.errors import InputError  # noqa: E402
from greentts.server.ray_serve import RayServeOptions, parse_autoscale  # noqa: E402

GREENTTS = [sys.executable, "-m", "greentts.cli"]
SPEECH = "/v1/audio/speech"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(cache_dir, tmp_path_factory):
    """A Ray head node and ``greentts serve --ray --replicas 2`` on it; yields (url, state)."""
    tmp = tmp_path_factory.mktemp("ray-serve")
    # Ray's token authentication, as `ray start` uses it, with this cluster's own token (a fresh machine has
    # no ~/.ray/auth_token, and the test must not write one into the home directory)
    (tmp / "auth_token").write_text(secrets.token_hex(32))
    env = dict(os.environ, GREENTTS_CACHE_DIR=str(cache_dir), XDG_DATA_HOME=str(tmp / "data"),
               RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(tmp / "auth_token"))
    ray_bin = Path(sys.executable).with_name("ray")
    gcs = _port()
    head = subprocess.run([str(ray_bin), "start", "--head", f"--port={gcs}", "--num-cpus=2", "--include-dashboard=false",
                           "--disable-usage-stats", f"--temp-dir={tempfile.mkdtemp(prefix='gtrs', dir='/tmp')}"],
                          env=env, capture_output=True, text=True, timeout=180)
    assert head.returncode == 0, head.stderr[-2000:]
    port = _port()
    proc = subprocess.Popen([*GREENTTS, "serve", "--ray", "--replicas", "2", "--address", f"127.0.0.1:{gcs}",
                             "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        line = ""
        deadline = time.monotonic() + 400
        while "serving on Ray Serve" not in line and time.monotonic() < deadline and proc.poll() is None:
            line = proc.stdout.readline()
        assert "serving on Ray Serve" in line, (proc.poll(), proc.stderr.read()[-3000:] if proc.poll() else "")
        yield url, {"speech": 0, "voices": tmp / "data" / "greentts" / "voices", "address": f"127.0.0.1:{gcs}",
                   "env": env}
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(60)
        finally:
            proc.kill()
            subprocess.run([str(ray_bin), "stop", "--force"], env=env, capture_output=True, timeout=120)
        assert code == 0, proc.stderr.read()[-2000:]


def _speak(url: str, state: dict, **body) -> httpx.Response:
    state["speech"] += 1
    return httpx.post(url + SPEECH, json={"model": "tts-1", "voice": "alloy", "response_format": "wav",
                                          "stream": False, **body}, timeout=180)


@pytest.mark.model
@pytest.mark.slow
def test_two_replicas_answer_the_openai_sdk_with_the_same_records_as_one_server(cluster):
    url, state = cluster
    client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
    resp = client.audio.speech.create(model="tts-1", voice="alloy", input="Hello from two replicas.",
                                      response_format="wav")
    state["speech"] += 1
    audio, rate = sf.read(io.BytesIO(resp.content))
    assert rate == 24000 and len(audio) / rate > 1.0 and np.abs(audio).max() > 0.05
    # streamed: audio arrives in pieces before the end
    t0, first, parts = time.perf_counter(), None, []
    text = "One sentence streamed. " * 6
    with client.audio.speech.with_streaming_response.create(model="tts-1", voice="af_heart", input=text,
                                                            response_format="pcm") as r:
        for part in r.iter_bytes():
            first = first or time.perf_counter() - t0
            parts.append(part)
    state["speech"] += 1
    assert first < (time.perf_counter() - t0) / 2 and len(b"".join(parts)) / 2 / 24000 > 6
    # SSE: audio deltas, then the record with its energy
    events = []
    with httpx.stream("POST", url + SPEECH, json={"model": "tts-1", "voice": "af_heart", "input": "Two sentences. "
                      "As events.", "response_format": "pcm", "stream_format": "sse"}, timeout=180) as r:
        events = [json.loads(ln[6:]) for ln in r.iter_lines() if ln.startswith("data: ")]
    state["speech"] += 1
    done = events[-1]
    assert done["type"] == "speech.audio.done" and done["greentts"]["energy"]["joules"] > 0
    pcm = b"".join(base64.b64decode(e["audio"]) for e in events if e["type"] == "speech.audio.delta")
    assert abs(len(pcm) / 2 / 24000 - done["greentts"]["audio_s"]) < 0.01
    # every request's record is found on whichever replica is asked; both replicas serve
    served, ids = set(), []
    for i in range(12):
        r = _speak(url, state, input=f"Request number {i + 1}.")
        assert r.status_code == 200 and len(r.headers.get_list("x-request-id")) == 1
        served.add(r.headers["x-greentts-replica"])
        ids.append(r.headers["x-request-id"])
    assert len(served) == 2, served
    answered_by = set()
    for rid in ids:
        rec = httpx.get(url + f"/v1/requests/{rid}", timeout=30)
        assert rec.status_code == 200, rec.text
        answered_by.add(rec.headers["x-greentts-replica"])
        body = rec.json()
        assert body["id"] == rid and body["status"] == "complete" and body["audio_s"] > 0.5
        assert body["energy"]["method"] == "estimated" and body["energy"]["joules"] > 0
        assert set(body) == set(done["greentts"])  # the same record as a single server's (SSE carries it)
    assert httpx.get(url + "/v1/requests/nope-nope-nope", timeout=30).status_code == 404


@pytest.mark.model
@pytest.mark.slow
def test_every_replica_exposes_its_own_metrics(cluster):
    url, state = cluster
    _speak(url, state, input="Counted once.")
    targets = httpx.get(url + "/metrics/targets", timeout=30).json()
    assert len(targets) == 2 and {t["labels"]["replica"] for t in targets} and all(
        t["labels"]["job"] == "greentts" for t in targets)
    speech = joules = 0.0
    for t in targets:
        fams = {f.name: f for f in text_string_to_metric_families(
            httpx.get(f"http://{t['targets'][0]}/metrics", timeout=30).text)}
        speech += sum(s.value for s in fams["greentts_requests"].samples if s.name == "greentts_requests_total"
                      and s.labels["route"] == SPEECH and s.labels["status"] == "200")
        joules += sum(s.value for s in fams["greentts_energy_joules"].samples if s.name.endswith("_total"))
    assert speech == state["speech"], (speech, state["speech"])  # each request counted once, by its replica
    assert joules > 0
    assert "greentts_requests_total" in httpx.get(url + "/metrics", timeout=30).text  # the answering replica's


@pytest.mark.model
@pytest.mark.slow
def test_a_voice_enrolled_through_one_replica_speaks_through_both(cluster, tmp_path):
    url, state = cluster
    ref = _speak(url, state, voice="af_bella", input="The quick brown fox jumps over the lazy dog, then it runs "
                                                      "into the forest to find its friends.")
    r = httpx.post(url + "/v1/voices", files={"file": ("ref.wav", ref.content, "audio/wav")},
                   data={"name": "ray-voice", "language": "en", "steps": "0"}, timeout=120)
    assert r.status_code == 202, r.text
    job, deadline = r.json(), time.time() + 300
    while job["status"] not in ("done", "error") and time.time() < deadline:
        time.sleep(1)
        job = httpx.get(url + job["status_url"] if "status_url" in job else url + f"/v1/voices/jobs/{job['id']}",
                        timeout=30).json()
    assert job["status"] == "done", job
    assert (state["voices"] / "ray-voice.npz").is_file()
    served = set()
    for i in range(12):
        r = _speak(url, state, voice="ray-voice", input=f"Cloned, take {i + 1}.")
        assert r.status_code == 200, r.text
        served.add(r.headers["x-greentts-replica"])
    assert len(served) == 2, served


def test_ray_serve_options_are_checked():
    assert parse_autoscale("1..4") == (1, 4)
    assert RayServeOptions(autoscale=(1, 3)).scaling(2)["autoscaling_config"]["max_replicas"] == 3
    assert RayServeOptions().scaling(3) == {"num_replicas": 3}
    for bad in ("4", "a..b", "1-3"):
        with pytest.raises(InputError, match="MIN..MAX"):
            parse_autoscale(bad)
    with pytest.raises(InputError, match="not both"):
        RayServeOptions(replicas=2, autoscale=(1, 2))
    with pytest.raises(InputError, match="MIN <= MAX"):
        RayServeOptions(autoscale=(3, 1))
    with pytest.raises(InputError, match="--replicas"):
        RayServeOptions(replicas=0)
    proc = subprocess.run([*GREENTTS, "serve", "--replicas", "2"], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "go with --ray" in proc.stdout + proc.stderr


@pytest.mark.model
@pytest.mark.slow
def test_a_replica_larger_than_every_node_is_refused(cluster):
    _url, state = cluster
    proc = subprocess.run([*GREENTTS, "serve", "--ray", "--replicas", "1", "--replica-cpus", "3", "--address",
                           state["address"], "--port", str(_port())], env=state["env"], capture_output=True,
                          text=True, timeout=180)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "--replica-cpus 3 is more than any node" in out and "largest has 2 CPUs" in out, out


def test_replica_metrics_need_the_same_api_key_as_the_app():
    """The per-replica metrics endpoint: the app's key check and error shape (a WSGI call, no cluster)."""
    from prometheus_client import CollectorRegistry, Counter

    from greentts.server.ray_serve import _metrics_wsgi

    registry = CollectorRegistry()
    Counter("greentts_test", "a test counter", registry=registry).inc()

    def call(app, header=None):
        got = {}
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/metrics", "QUERY_STRING": "", "SERVER_NAME": "x",
                   "SERVER_PORT": "1", "wsgi.input": io.BytesIO(), "wsgi.url_scheme": "http"}
        if header is not None:
            environ["HTTP_AUTHORIZATION"] = header
        body = b"".join(app(environ, lambda status, headers: got.update(status=status, headers=dict(headers))))
        return got["status"], got["headers"], body

    locked = _metrics_wsgi(registry, ("k-one", "k-two"))
    for header in (None, "Bearer wrong", "Basic k-one"):
        status, headers, body = call(locked, header)
        assert status.startswith("401") and headers["WWW-Authenticate"] == "Bearer", (header, status)
        assert json.loads(body)["error"]["code"] == "invalid_api_key"
    status, _, body = call(locked, "Bearer k-two")
    assert status.startswith("200") and b"greentts_test_total 1.0" in body
    assert call(_metrics_wsgi(registry, ()), None)[0].startswith("200")
