"""Energy on the real engine: every result carries it, conservation holds under concurrency, ledger, auto tier."""

import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from greentts import Engine, InputError, VoiceError
from greentts.cli import app
from greentts.energy.card import tier_figures
from greentts.energy.ledger import summarize

pytestmark = pytest.mark.model


def test_every_result_and_stream_end_carries_energy(engine):
    r = engine.synthesize("A short sentence about the weather.")
    e = r.energy
    assert e is not None and e.joules > 0 and e.method == "estimated"  # no RAPL, no GPU on these machines
    assert e.kwh == pytest.approx(e.joules / 3.6e6)
    assert e.gco2e == pytest.approx(e.kwh * e.gco2e_per_kwh * e.pue)
    assert set(e.devices) == {"cpu", "ram"} and all(d["method"] == "estimated" for d in e.devices.values())
    assert e.audio_s == pytest.approx(r.duration_s, abs=0.01)
    assert r.report()["energy"]["joules"] == e.joules
    stream = engine.stream("第一句话。第二句话。", voice="zf_xiaoxiao")
    chunks = list(stream)
    assert chunks and stream.energy is not None and stream.energy.joules > 0


def test_conservation_under_concurrent_requests(engine):
    """Requests + start-up + idle == the meter's total over the window, with 6 concurrent mixed requests."""
    assert engine.wait_idle()
    before = engine.energy()
    texts = ["Good morning. The train to Berlin leaves at 9:40 from platform two.",
             "我们明天早上八点出发，请大家准时到达。", "Short one.",
             "The quarterly report shows revenue up 12% on last year, driven by new customers.",
             "银行下午三点半关门。", "Please hold, your call is important to us."]
    results = [None] * len(texts)

    def go(i):
        results[i] = engine.synthesize(texts[i], tier="eco" if i == 5 else "standard")

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert engine.wait_idle()
    after = engine.energy()
    requests = sum(r.energy.joules for r in results)
    startup = after.startup_j - before.startup_j
    total, idle = after.total_j - before.total_j, after.idle_j - before.idle_j
    assert after.in_flight_j == 0 and all(r.energy.joules > 0 for r in results)
    assert requests + startup + idle == pytest.approx(total, rel=1e-9)
    assert idle > 0 and requests > 0
    for device in after.total:  # per device too
        d_req = sum(r.energy.devices.get(device, {}).get("joules", 0.0) for r in results)
        d_total = after.total[device] - before.total[device]
        d_idle = after.idle.get(device, 0.0) - before.idle.get(device, 0.0)
        d_start = after.startup.get(device, 0.0) - before.startup.get(device, 0.0)
        assert d_req + d_idle + d_start == pytest.approx(d_total, rel=1e-9, abs=1e-9)


def test_twice_the_work_about_twice_the_joules(engine):
    # two sentences, so both requests run the same way (segments on the workers); a one-segment request
    # takes the all-cores fast lane, which costs ~8 % more CPU time (bench/whole_request.py)
    text = "The committee will publish its findings on the fourth of June. The hearings close a week before."
    # CPU time on a shared 2-vCPU CI machine varies run to run (CI once saw 2.69), so: best of three
    # each, and a band that still rejects "no proportionality" (1x) and double counting (4x).
    one = min((engine.synthesize(text) for _ in range(3)), key=lambda r: r.energy.joules)
    two = min((engine.synthesize(text + " " + text) for _ in range(3)), key=lambda r: r.energy.joules)
    assert two.duration_s / one.duration_s == pytest.approx(2.0, rel=0.15)
    assert 1.4 < two.energy.joules / one.energy.joules < 3.0
    for r in (one, two):  # the joules by kind of work add up to the whole; rendering is nearly all of it
        parts = r.energy.parts
        assert sum(parts.values()) == pytest.approx(r.energy.joules) and parts["frontend"] > 0
        assert parts["speech"] > 0.9 * r.energy.joules and "fast_lane" not in parts


def test_a_one_sentence_request_is_charged_to_the_fast_lane_whose_sessions_do_not_spin(engine):
    # one sentence takes the all-cores fast lane, two run on the workers. With onnxruntime's spin-waiting
    # the fast lane cost 1.29-1.69x the CPU of a worker for the same audio, a per-request constant no
    # report named (bench/spinning.py). How close twice the text comes to twice the joules is a
    # measurement of CPU time, proven side by side by bench/proportional.py (docs/energy.md), not by a
    # timed test: CI saw 1.48x where this machine alone saw 1.80-2.15x, and in the full suite here the
    # same requests cost 2-3x what they cost alone (19.4 J on the fast lane vs 6-9 J). Here: the split
    # is reported, and no session the fast lane opens spins.
    text = "The committee will publish its findings on the fourth of June."
    one, two = engine.synthesize(text), engine.synthesize(text + " " + text)
    assert one.energy.parts.get("fast_lane", 0.0) > 0.9 * one.energy.joules and "speech" not in one.energy.parts
    assert two.energy.parts.get("speech", 0.0) > 0.9 * two.energy.joules and "fast_lane" not in two.energy.parts
    for r in (one, two):
        assert sum(r.energy.parts.values()) == pytest.approx(r.energy.joules)
    session = engine.backends["kokoro"].new_session(engine.latency_threads)  # as the fast lane opens it
    for part in (session._front, session._decoder):
        assert part.get_session_options().get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_idle_power_was_measured_and_is_kept_out_of_requests(engine):
    watts = engine.accountant.idle_watts
    assert watts["cpu"] > 0 and watts["ram"] > 0
    t = engine.energy()
    assert t.idle_j > 0 and t.startup_j > 0 and t.as_dict()["idle_j"] == t.idle_j


def test_carbon_config_country_and_errors(cache_dir):
    with Engine(cache_dir=cache_dir, country="FRA", pue=1.5, idle_probe_s=0.1) as eng:
        r = eng.synthesize("Bonjour means hello.", tier="eco")
        assert "France" in r.energy.grid and r.energy.pue == 1.5
        assert r.energy.gco2e == pytest.approx(r.energy.kwh * r.energy.gco2e_per_kwh * 1.5)
    with pytest.raises(InputError, match="unknown country code 'XYZ'"):
        Engine(cache_dir=cache_dir, country="XYZ")
    if not any(Path("/sys/class/powercap").glob("intel-rapl:*")):
        with pytest.raises(InputError, match="energy_meter='rapl' cannot be read"):
            Engine(cache_dir=cache_dir, energy_meter="rapl")
    with pytest.raises(InputError, match="energy_meter='nvml' cannot be read"):  # no GPU (or no NVML) here
        Engine(cache_dir=cache_dir, energy_meter="nvml")
    with pytest.raises(InputError, match="either country or grid"):
        Engine(cache_dir=cache_dir, country="DEU", grid_gco2_per_kwh=300)


def test_ledger_and_report(tmp_path, cache_dir):
    ledger = tmp_path / "energy.sqlite"
    with Engine(cache_dir=cache_dir, ledger=ledger, idle_probe_s=0.1) as eng:
        eng.synthesize("One sentence. Two sentences. Three!", tier="eco")
        eng.synthesize("Hello again.", tier="eco")
        eng.synthesize("你好。再见。", voice="zf_xiaoxiao")
    summary = summarize(ledger)
    groups = {(g["voice"], g["tier"]): g for g in summary["groups"]}
    eco = groups[("af_heart", "eco")]
    assert eco["requests"] == 2 and eco["sentences"] == 4 and eco["backend"] == "hibari"
    assert eco["j_per_audio_s"] > 0 and eco["kwh_per_1000_sentences"] > 0
    assert groups[("zf_xiaoxiao", "standard")]["sentences"] == 2
    s = summary["sessions"]
    assert s["count"] == 1 and s["idle_j"] > 0
    assert s["total_j"] == pytest.approx(s["idle_j"] + s["attributed_j"], rel=1e-9)
    assert sum(summary["parts_j"].values()) == pytest.approx(summary["requests_j"], rel=1e-6)
    assert {"speech", "frontend"} <= set(summary["parts_j"])
    res = CliRunner().invoke(app, ["energy", "report", "--ledger", str(ledger)])
    assert res.exit_code == 0, res.output
    assert "af_heart" in res.stdout and "kWh/1000" in res.stdout and "idle" in res.stdout
    assert "requests by kind of work: " in res.stdout and "speech" in res.stdout
    bad = tmp_path / "bad.sqlite"
    bad.write_text("not a database")
    res = CliRunner().invoke(app, ["energy", "report", "--ledger", str(bad)])
    assert res.exit_code == 2 and "not a greentts energy ledger" in res.output


def test_cli_prints_one_line_energy_summary(tmp_path, cache_dir, monkeypatch):
    monkeypatch.setenv("GREENTTS_CACHE_DIR", str(cache_dir))
    ledger = tmp_path / "l.sqlite"
    res = CliRunner().invoke(app, ["say", "Energy, please.", "-o", str(tmp_path / "e.wav"), "--tier", "eco",
                                   "--country", "DEU", "--ledger", str(ledger)])
    assert res.exit_code == 0, res.output
    line = [x for x in res.stdout.splitlines() if x.startswith("energy ")]
    assert len(line) == 1 and " J (" in line[0] and "kWh" in line[0] and "gCO2e" in line[0]
    assert "estimated" in line[0] and "Germany" in line[0]
    assert summarize(ledger)["groups"][0]["requests"] == 1


def test_auto_tier_picks_the_cheapest_that_can_speak(engine):
    card = tier_figures()["tiers"]
    assert card["eco"]["j_per_audio_s"] < card["standard"]["j_per_audio_s"]
    en = engine.synthesize("Your parcel arrives tomorrow.", tier="auto")
    assert en.tier == "eco" and en.backend == "hibari" and "auto" in en.extra["tier_reason"]
    zh = engine.synthesize("您的包裹明天到达。", tier="auto")
    assert zh.tier == "standard" and zh.backend == "kokoro"
    voice = engine.synthesize("Your parcel arrives tomorrow.", tier="auto", voice="am_michael")
    assert voice.tier == "standard"  # hibari has only af_heart
    fastest = min(card["eco"]["first_audio_s"], card["standard"]["first_audio_s"])
    with pytest.raises(InputError, match="first audio within"):
        engine.synthesize("Your parcel arrives tomorrow.", tier="auto", max_first_audio_s=fastest / 2)
    with pytest.raises(VoiceError):
        engine.synthesize("Hello.", tier="eco", voice="am_michael")


def test_a_stream_closed_early_still_reports_and_is_recorded(tmp_path, cache_dir):
    ledger = tmp_path / "l.sqlite"
    text = " ".join(f"This is sentence number {i} of a long text." for i in range(30))
    with Engine(cache_dir=cache_dir, ledger=ledger, idle_probe_s=0.1) as eng:
        stream = eng.stream(text)
        next(iter(stream))
        stream.close()
        assert stream.status == "cancelled" and stream.energy is not None and stream.energy.joules > 0
        assert eng.wait_idle()
        t = eng.energy()
        assert t.in_flight_j == 0
        assert stream.energy.joules + t.startup_j + t.idle_j == pytest.approx(t.total_j, rel=1e-9)
    assert summarize(ledger)["groups"][0]["incomplete"] == 1


def test_a_failing_ledger_never_breaks_synthesis(tmp_path, cache_dir, monkeypatch, caplog):
    import sqlite3

    from greentts.energy.ledger import Ledger

    with Engine(cache_dir=cache_dir, ledger=tmp_path / "l.sqlite", idle_probe_s=0.0) as eng:
        def broken(self):
            raise sqlite3.OperationalError("database or disk is full")

        monkeypatch.setattr(Ledger, "_connect", broken)
        r = eng.synthesize("Still speaking.", tier="eco")
        assert r.duration_s > 0.5 and r.energy.joules > 0
    assert "write failed" in caplog.text


def test_a_foreign_sqlite_file_is_refused_as_ledger(tmp_path, cache_dir):
    import sqlite3

    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE t (x)")
    with pytest.raises(InputError, match="schema version"):
        Engine(cache_dir=cache_dir, ledger=other, idle_probe_s=0.0)
