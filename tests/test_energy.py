"""Energy meters and carbon conversion (fake sysfs / fake NVML where hardware is absent)."""

import subprocess
import sys

import pytest

from greentts import InputError
from greentts.energy import CarbonFactors, CpuTimeMeter, NvmlMeter, RaplMeter, auto_meter, grid_intensity


def make_zone(root, name, label, energy_uj, max_uj):
    zone = root / name
    zone.mkdir(parents=True)
    (zone / "name").write_text(label + "\n")
    (zone / "energy_uj").write_text(f"{energy_uj}\n")
    (zone / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return zone


def test_rapl_delta_and_wrap_around(tmp_path):
    pkg = make_zone(tmp_path, "intel-rapl:0", "package-0", 1_000_000, 262_143_328_850)
    make_zone(tmp_path, "intel-rapl:0:0", "core", 5, 100)  # inside the package: ignored
    dram = make_zone(tmp_path, "intel-rapl:1", "dram", 262_143_000_000, 262_143_328_850)
    meter = RaplMeter(tmp_path)
    assert meter.method == "measured" and len(meter.zones) == 2
    start = meter.read()
    (pkg / "energy_uj").write_text("3500000\n")  # +2.5 J
    (dram / "energy_uj").write_text("671150\n")  # wrapped: +328850 + 671150 uJ = 1.0 J
    delta = meter.delta(start, meter.read())
    assert delta["package-0:intel-rapl:0"] == pytest.approx(2.5)
    assert delta["dram:intel-rapl:1"] == pytest.approx(1.0)


def test_rapl_counts_server_dram_subzones_and_skips_psys_with_packages(tmp_path):
    make_zone(tmp_path, "intel-rapl:0", "package-0", 0, 1000)
    make_zone(tmp_path, "intel-rapl:0:0", "dram", 0, 1000)  # server layout: DRAM under the package
    make_zone(tmp_path, "intel-rapl:0:1", "core", 0, 1000)
    make_zone(tmp_path, "intel-rapl:1", "psys", 0, 1000)  # covers the package: would double count
    assert sorted(RaplMeter(tmp_path).zones) == ["dram:intel-rapl:0:0", "package-0:intel-rapl:0"]


def test_rapl_psys_alone_is_used(tmp_path):
    make_zone(tmp_path, "intel-rapl:1", "psys", 0, 1000)
    assert list(RaplMeter(tmp_path).zones) == ["psys:intel-rapl:1"]


def test_rapl_absent_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        RaplMeter(tmp_path)


def _burn(n):
    x = 0
    for i in range(n):
        x += i * i
    return x


def test_cpu_model_is_linear_in_work():
    import resource
    import statistics

    meter = CpuTimeMeter(active_watts_per_vcpu=2.0, ram_gb=0.0, idle_watts_per_vcpu=0.0)
    assert meter.method == "estimated"
    # The model itself: joules are exactly the watts times this process's CPU seconds.
    usage = resource.getrusage(resource.RUSAGE_SELF)
    before = meter.read()
    _burn(300_000)
    after = meter.read()
    cpu_s = after.raw["cpu_s"] - before.raw["cpu_s"]
    assert meter.delta(before, after)["cpu"] == pytest.approx(2.0 * cpu_s)
    assert before.raw["cpu_s"] >= usage.ru_utime + usage.ru_stime
    # And CPU seconds follow the work: twice the work, about twice the joules. Process CPU time counts
    # every thread, so this runs in a fresh process: threads that earlier tests left behind in this one
    # (ONNX Runtime pools, servers) would add their own CPU time to short windows. Medians of
    # interleaved runs, because one run on a shared 2-core machine can be slowed by a neighbour.
    ratio = float(subprocess.run([sys.executable, "-c", _LINEAR_PROBE], check=True, capture_output=True,
                                 text=True, timeout=120).stdout)
    assert 1.5 < ratio < 2.6


_LINEAR_PROBE = """
import statistics
from greentts.energy import CpuTimeMeter

def burn(n):
    x = 0
    for i in range(n):
        x += i * i
    return x

meter = CpuTimeMeter(active_watts_per_vcpu=2.0, ram_gb=0.0, idle_watts_per_vcpu=0.0)
burn(200_000)
joules = {1_000_000: [], 2_000_000: []}
for _ in range(7):
    for n, runs in joules.items():
        start = meter.read()
        burn(n)
        runs.append(meter.delta(start, meter.read())["cpu"])
print(statistics.median(joules[2_000_000]) / statistics.median(joules[1_000_000]))
"""


def test_ram_term_grows_with_wall_time():
    import time

    meter = CpuTimeMeter(active_watts_per_vcpu=0.0, ram_gb=2.0, watts_per_gb=0.5)
    start = meter.read()
    time.sleep(0.2)
    assert meter.delta(start, meter.read())["ram"] == pytest.approx(0.2, rel=0.5)


class FakeNvml:
    """Stands in for the pynvml module: one mJ counter per GPU, set by the test."""

    def __init__(self, *mj):
        self.mj = list(mj or (1000.0, 50_000.0))

    def nvmlInit(self):
        pass

    def nvmlDeviceGetCount(self):
        return len(self.mj)

    def nvmlDeviceGetHandleByIndex(self, i):
        return i

    def nvmlDeviceGetTotalEnergyConsumption(self, h):
        return self.mj[h]


def test_nvml_meter_with_a_fake_library():
    fake = FakeNvml()
    meter = NvmlMeter(fake)
    start = meter.read()
    fake.mj = [4000.0, 52_500.0]
    assert meter.delta(start, meter.read()) == {"gpu0": pytest.approx(3.0), "gpu1": pytest.approx(2.5)}


def test_auto_meter_falls_back_to_the_estimate_here():
    meter = auto_meter()
    assert meter.method in ("measured", "estimated")
    with pytest.raises(ValueError):
        auto_meter("geiger")


def test_carbon_conversion_and_table():
    intensity, label = grid_intensity("deu")
    assert 100 < intensity < 1000 and "Germany" in label and "2023" in label
    factors = CarbonFactors(400.0, pue=1.5)
    assert factors.kwh(3.6e6) == 1.0
    assert factors.gco2e(3.6e6) == pytest.approx(600.0)
    assert CarbonFactors.for_country("FRA").gco2e_per_kwh < CarbonFactors.for_country("POL").gco2e_per_kwh


def test_unknown_country_and_bad_factors_are_errors():
    with pytest.raises(InputError, match="unknown country code 'XX'"):
        grid_intensity("XX")
    with pytest.raises(InputError):
        CarbonFactors(400.0, pue=0.9)
