"""Attribution without a model: a scripted meter, units on several threads, conservation to the joule."""

import threading

import pytest

from greentts import InputError
from greentts.energy import (CarbonFactors, CompositeMeter, CpuTimeMeter, EnergyAccountant, EnergyTally, NvmlMeter)
from greentts.energy.meter import Reading
from test_energy import FakeNvml


class ScriptedMeter:
    """A counter the test advances by hand: joules per device and a wall clock."""

    method = "measured"
    name = "scripted"

    def __init__(self):
        self.j = {"a": 0.0, "b": 0.0}
        self.t = 0.0
        self.device_methods = {"a": "measured", "b": "measured"}
        self.lock = threading.Lock()

    def advance(self, seconds, **joules):
        with self.lock:
            self.t += seconds
            for k, v in joules.items():
                self.j[k] += v

    def read(self):
        with self.lock:
            return Reading(dict(self.j), self.t, self.method)

    def delta(self, start, end):
        return {k: end.joules[k] - start.joules[k] for k in end.joules}


def accountant(meter=None):
    return EnergyAccountant(meter or ScriptedMeter(), CarbonFactors(400.0, 1.2, "test grid"))


def test_idle_interval_goes_to_idle_and_work_is_split_by_audio_seconds():
    acct = accountant()
    m = acct.meter
    acct.idle_watts = {"a": 1.0, "b": 0.0}
    m.advance(10, a=10.0)  # nothing running: all idle
    one, two = EnergyTally(), EnergyTally()
    with acct.unit() as unit:
        m.advance(2, a=2.0 + 6.0, b=3.0)  # 2 s: 2 J idle floor on a, 6 J + 3 J of work
        unit.assign((one, 1.0), (two, 2.0))  # a batch: one request got 1 s of audio, the other 2 s
    t = acct.totals()
    assert t.idle == {"a": pytest.approx(12.0), "b": 0.0}
    assert one.joules == {"a": pytest.approx(2.0), "b": pytest.approx(1.0)}
    assert two.joules == {"a": pytest.approx(4.0), "b": pytest.approx(2.0)}
    assert t.total_j == pytest.approx(t.idle_j + t.attributed_j) and t.in_flight_j == 0


def test_idle_floor_never_exceeds_what_the_meter_saw():
    acct = accountant()
    acct.idle_watts = {"a": 5.0, "b": 5.0}
    tally = EnergyTally()
    with acct.unit() as unit:
        acct.meter.advance(1, a=2.0, b=9.0)  # a below its idle power (counter granularity): no negative work
        unit.assign((tally, 1.0))
    assert tally.joules["a"] == 0.0 and tally.joules["b"] == pytest.approx(4.0)
    assert acct.totals().idle == {"a": pytest.approx(2.0), "b": pytest.approx(5.0)}


def test_report_converts_to_kwh_and_gco2e():
    acct = accountant()
    tally = EnergyTally()
    with acct.unit() as unit:
        acct.meter.advance(1, a=3.6e6)
        unit.assign((tally, 1.0))
    tally.audio_s = 2.0
    r = acct.report(tally)
    assert r.joules == pytest.approx(3.6e6) and r.kwh == pytest.approx(1.0)
    assert r.gco2e == pytest.approx(400.0 * 1.2) and r.method == "measured"
    assert r.joules_per_audio_s == pytest.approx(1.8e6)
    assert r.devices["a"] == {"joules": pytest.approx(3.6e6), "method": "measured"}
    assert "gCO2e" in r.summary() and "measured" in r.summary() and "test grid" in r.summary()


def test_conservation_under_concurrent_units():
    """Many threads start and end units while the meter runs: requests + idle == meter total, always."""
    meter = ScriptedMeter()
    acct = accountant(meter)
    acct.idle_watts = {"a": 0.3, "b": 0.1}
    tallies = [EnergyTally() for _ in range(8)]
    stop = threading.Event()

    def tick():  # the "hardware": energy keeps flowing, whether or not work runs
        while not stop.is_set():
            meter.advance(0.001, a=0.002, b=0.0005)

    def worker(i):
        for k in range(200):
            with acct.unit() as unit:
                meter.advance(0.0, a=0.01)
                unit.assign((tallies[i], 1.0 + k % 3), (tallies[(i + 1) % 8], 0.5))

    ticker = threading.Thread(target=tick)
    ticker.start()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    ticker.join()
    t = acct.totals()
    requests = sum(x.total_j for x in tallies)
    assert t.in_flight_j == 0
    assert requests == pytest.approx(t.attributed_j, rel=1e-9)
    assert requests + t.idle_j == pytest.approx(t.total_j, rel=1e-9)
    assert t.total_j == pytest.approx(sum(meter.j.values()), rel=1e-9)
    assert all(x.total_j > 0 for x in tallies)


def test_cpu_time_splits_concurrent_units():
    """Two units overlap; the one whose thread burns CPU gets (nearly) all of the shared interval."""
    acct = EnergyAccountant(CpuTimeMeter(active_watts_per_vcpu=10.0, ram_gb=0.0, idle_watts_per_vcpu=0.0),
                            CarbonFactors(100.0))
    busy, lazy = EnergyTally(), EnergyTally()
    started, done = threading.Event(), threading.Event()

    def sleeper():
        with acct.unit() as unit:
            unit.assign((lazy, 1.0))
            started.set()
            done.wait(10)

    t = threading.Thread(target=sleeper)
    t.start()
    started.wait(10)
    with acct.unit() as unit:
        unit.assign((busy, 1.0))
        x = 0
        for i in range(5_000_000):
            x += i
    done.set()
    t.join()
    assert busy.total_j > 0.3  # ~0.1 s CPU x 10 W
    assert lazy.total_j < 0.1 * busy.total_j


def test_composite_meter_keeps_each_devices_method():
    fake = FakeNvml(1000.0)
    meter = CompositeMeter(NvmlMeter(fake), CpuTimeMeter(ram_gb=1.0))
    assert meter.method == "mixed" and meter.device_methods == {"gpu0": "measured", "cpu": "estimated",
                                                                "ram": "estimated"}
    acct = EnergyAccountant(meter, CarbonFactors(100.0))
    tally = EnergyTally()
    with acct.unit() as unit:
        fake.mj = [6000.0]  # the GPU spent 5 J
        unit.assign((tally, 1.0))
    report = acct.report(tally)
    assert report.devices["gpu0"] == {"joules": pytest.approx(5.0), "method": "measured"}
    assert report.devices["cpu"]["method"] == "estimated" and report.method == "mixed"


def test_carbon_resolution_from_config():
    assert CarbonFactors.resolve("deu").label.startswith("Germany")
    world = CarbonFactors.resolve()
    assert world.gco2e_per_kwh == 475.0 and "world average" in world.label and "default" in world.label
    assert CarbonFactors.resolve(gco2e_per_kwh=12.0, pue=1.4).gco2e(3.6e6) == pytest.approx(12.0 * 1.4)
    with pytest.raises(InputError, match="either country or grid"):
        CarbonFactors.resolve("DEU", 100.0)
    with pytest.raises(InputError, match="unknown country code 'ATLANTIS'"):
        CarbonFactors.resolve("ATLANTIS")


def test_joules_are_reported_by_kind_of_work_and_the_parts_add_up():
    from greentts.energy.accounting import PARTS, EnergySum, combine_reports

    acct = accountant()
    acct.idle_watts = {"a": 0.0, "b": 0.0}
    one, two = EnergyTally(), EnergyTally()
    with acct.unit(part="frontend") as unit:
        acct.meter.advance(1, a=1.0)
        unit.assign((one, 1.0))
    with acct.unit(2, part="fast_lane") as unit:
        acct.meter.advance(1, a=4.0, b=2.0)
        unit.assign((one, 1.0))
    with acct.unit(part="speech") as unit:  # a batch over two requests: split by audio seconds
        acct.meter.advance(1, a=9.0)
        unit.assign((one, 1.0), (two, 2.0))
    with acct.unit() as unit:  # unlabelled work is "other", never dropped
        acct.meter.advance(1, b=0.5)
        unit.assign((two, 1.0))
    r1, r2 = acct.report(one), acct.report(two)
    assert r1.parts == {"frontend": pytest.approx(1.0), "fast_lane": pytest.approx(6.0), "speech": pytest.approx(3.0)}
    assert r2.parts == {"speech": pytest.approx(6.0), "other": pytest.approx(0.5)}
    for r in (r1, r2):
        assert sum(r.parts.values()) == pytest.approx(r.joules) and set(r.parts) <= set(PARTS)
        assert r.as_dict()["parts"] == r.parts
    total = EnergySum()
    total.add(r1)
    total.add(r2.as_dict())
    assert total.as_dict()["parts"] == {"frontend": pytest.approx(1.0), "fast_lane": pytest.approx(6.0),
                                        "speech": pytest.approx(9.0), "other": pytest.approx(0.5)}
    assert combine_reports([r1.as_dict(), r2.as_dict()])["parts"]["speech"] == pytest.approx(9.0)
