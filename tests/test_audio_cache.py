"""The audio cache on the real model: a repeated request streams from disk, sample for sample what a fresh
rendering gives, and reports the energy it avoided in results, records, headers, /metrics and the ledger."""

import json
import sqlite3

import numpy as np
import pytest

pytestmark = pytest.mark.model

PROMPT = "Thank you for calling. Your call is important to us. Please hold."


@pytest.fixture(scope="module")
def cached(cache_dir, tmp_path_factory):
    from greentts import Engine

    where = tmp_path_factory.mktemp("audio-cache")
    ledger = where / "ledger.sqlite"
    with Engine(cache_dir=cache_dir, audio_cache_mb=64, audio_cache_dir=where / "audio", ledger=ledger,
                workers=2, idle_probe_s=0.2) as eng:
        yield eng, where


def test_a_repeated_request_is_a_hit_with_the_same_samples_and_the_energy_avoided(cached, engine):
    eng, _ = cached
    first = eng.synthesize(PROMPT)
    again = eng.synthesize(PROMPT)
    fresh = engine.synthesize(PROMPT)  # the session's engine has no cache
    assert first.energy.cache == "miss" and first.energy.cache_misses == len(first.segments)
    assert again.energy.cache == "hit" and again.energy.cache_hits == len(again.segments)
    assert np.array_equal(again.audio, first.audio) and np.array_equal(again.audio, fresh.audio)
    assert fresh.energy.cache == "off" and fresh.energy.avoided_joules == 0.0
    # avoided: what the segments cost when rendered (the request's total also holds its frontend work)
    assert 0.5 * first.energy.joules < again.energy.avoided_joules <= first.energy.joules
    assert again.energy.avoided_method == "estimated" and again.energy.avoided_gco2e > 0
    assert again.energy.joules < 0.2 * first.energy.joules  # reading it back, not rendering it
    assert all(seg.synth_s == 0.0 for seg in again.segments)
    assert again.words == first.words  # word timings come back with the audio
    stats = eng.audio_cache_stats()
    assert stats["hits"] >= len(again.segments) and stats["bytes"] > 0 and stats["avoided_joules"] > 0


def test_settings_after_the_model_apply_to_a_hit_and_settings_before_it_miss(cached):
    eng, _ = cached
    base = eng.synthesize("The museum opens at nine.")
    louder = eng.synthesize("The museum opens at nine.", loudness_lufs=-16.0, sample_rate=16000)
    assert louder.energy.cache == "hit" and louder.sample_rate == 16000
    faster = eng.synthesize("The museum opens at nine.", speed=1.2)
    other = eng.synthesize("The museum opens at nine.", voice="am_michael")
    assert faster.energy.cache == "miss" and other.energy.cache == "miss"
    assert len(faster.audio) < len(base.audio)


def test_opting_out_renders_afresh_and_stores_nothing(cached):
    eng, _ = cached
    text = "This sentence is never kept."
    off = eng.synthesize(text, audio_cache=False)
    assert off.energy.cache == "off" and off.energy.cache_misses == 0
    assert eng.synthesize(text).energy.cache == "miss"  # nothing was stored by the opted-out request


def test_a_corrupt_entry_is_a_miss_never_bad_audio(cached):
    eng, where = cached
    text = "A prompt whose cached audio gets damaged."
    good = eng.synthesize(text)
    before = {p: p.stat().st_mtime for p in (where / "audio").glob("*/*.blob")}
    for path in before:  # damage every entry: only this prompt's is read below
        data = bytearray(path.read_bytes())
        data[-10] ^= 0xFF
        path.write_bytes(bytes(data))
    again = eng.synthesize(text)
    assert again.energy.cache == "miss" and np.array_equal(again.audio, good.audio)
    assert eng.audio_cache_stats()["corrupt"] >= 1
    assert eng.synthesize(text).energy.cache == "hit"  # rewritten whole


def test_streams_dialogue_and_the_ledger_report_it(cached):
    eng, where = cached
    text = "Press one for sales. Press two for support."
    list(eng.stream(text))
    s = eng.stream(text)
    first = next(s)
    assert first.audio.size > 0
    list(s)
    assert s.energy.cache == "hit" and s.energy.avoided_joules > 0
    script = "[S1] Hello there.\n[S2] Hello, how can I help?"
    eng.dialogue(script, voices={"S1": "af_heart", "S2": "am_michael"}).collect()
    d = eng.dialogue(script, voices={"S1": "af_heart", "S2": "am_michael"})
    d.collect()
    assert d.energy.as_dict()["cache"] == "hit" and d.energy.avoided_joules > 0
    db = sqlite3.connect(where / "ledger.sqlite")
    rows = db.execute("SELECT cache, avoided_j FROM requests").fetchall()
    assert ("hit", pytest.approx(s.energy.avoided_joules)) in [(c, a) for c, a in rows]
    assert any(c == "miss" and a == 0 for c, a in rows)
    from greentts.energy.ledger import summarize

    assert summarize(where / "ledger.sqlite")["avoided_j"] == pytest.approx(sum(a for _, a in rows))


def test_the_server_reports_hits_in_headers_sse_and_metrics(cached):
    pytest.importorskip("fastapi")
    import httpx2 as httpx
    from test_server import _serve

    eng, _ = cached
    server, _ = _serve(eng)
    try:
        body = {"model": "tts-1", "voice": "af_heart", "input": "Your order has shipped.", "response_format": "wav",
                "stream": False}
        r1 = httpx.post(server.url + "/v1/audio/speech", json=body, timeout=120)
        r2 = httpx.post(server.url + "/v1/audio/speech", json=body, timeout=120)
        assert r1.headers["x-greentts-cache"] == "miss" and r2.headers["x-greentts-cache"] == "hit"
        assert float(r2.headers["x-greentts-energy-avoided-joules"]) > 0
        assert r1.content == r2.content
        off = httpx.post(server.url + "/v1/audio/speech", json={**body, "cache": False}, timeout=120)
        assert off.headers["x-greentts-cache"] == "off"
        sse = httpx.post(server.url + "/v1/audio/speech", json={**body, "stream": True, "stream_format": "sse"},
                         timeout=120)
        events = [json.loads(line[6:]) for line in sse.text.splitlines() if line.startswith("data: ")]
        done = [e for e in events if e.get("type") == "speech.audio.done"][0]
        assert done["greentts"]["energy"]["cache"] == "hit" and done["greentts"]["energy"]["avoided_joules"] > 0
        rec = httpx.get(server.url + "/v1/requests/" + r2.headers["x-request-id"], timeout=30).json()
        assert rec["energy"]["cache"] == "hit"
        metrics = httpx.get(server.url + "/metrics", timeout=30).text
        avoided = [float(line.split()[-1]) for line in metrics.splitlines()
                   if line.startswith("greentts_energy_avoided_joules_total{")]
        assert avoided and sum(avoided) > 0
        assert 'greentts_audio_cache_requests_total{result="hit"}' in metrics
        assert "greentts_audio_cache_bytes" in metrics
    finally:
        server.stop()


def test_a_version_1_ledger_is_upgraded_in_place_to_the_current_schema(tmp_path):
    from greentts.energy.ledger import Ledger, summarize

    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE requests (id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, session TEXT NOT NULL,
            voice TEXT NOT NULL, backend TEXT NOT NULL, tier TEXT NOT NULL, lang TEXT NOT NULL,
            chars INTEGER NOT NULL, sentences INTEGER NOT NULL, segments INTEGER NOT NULL,
            audio_s REAL NOT NULL, wall_s REAL NOT NULL, status TEXT NOT NULL,
            joules REAL NOT NULL, kwh REAL NOT NULL, gco2e REAL NOT NULL, method TEXT NOT NULL,
            devices TEXT NOT NULL, gco2e_per_kwh REAL NOT NULL, pue REAL NOT NULL, grid TEXT NOT NULL);
        INSERT INTO requests VALUES (NULL, 1.0, 's', 'af_heart', 'kokoro', 'standard', 'en', 10, 1, 1,
            2.0, 1.0, 'complete', 5.0, 1.4e-6, 0.5, 'estimated', '{}', 400, 1.0, 'x');
        PRAGMA user_version=1;
    """)
    db.close()
    Ledger(path).record({"voice": "af_heart", "backend": "kokoro", "tier": "standard", "lang": "en", "chars": 10,
                         "sentences": 1, "segments": 1, "audio_s": 2.0, "wall_s": 0.01, "status": "complete",
                         "joules": 0.1, "kwh": 2.8e-8, "gco2e": 0.01, "method": "estimated", "devices": {},
                         "gco2e_per_kwh": 400, "pue": 1.0, "grid": "x", "cache": "hit", "avoided_j": 5.0,
                         "parts": {"cache": 0.04, "speech": 0.06}})
    s = summarize(path)
    assert s["avoided_j"] == 5.0 and s["groups"][0]["requests"] == 2 and s["groups"][0]["cache_hits"] == 1
    assert s["parts_j"] == {"cache": 0.04, "speech": 0.06}  # the version-1 row has none
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 3
