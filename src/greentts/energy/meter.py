"""Energy meters. Each reading says whether it was ``measured`` or ``estimated``.

* :class:`NvmlMeter` — NVIDIA GPUs: ``nvmlDeviceGetTotalEnergyConsumption`` (mJ counter), measured.
* :class:`RaplMeter` — Intel/AMD RAPL via ``/sys/class/powercap/intel-rapl*/energy_uj``, measured,
  with wrap-around handled through ``max_energy_range_uj``.
* :class:`CpuTimeMeter` — everywhere else: process CPU seconds x active watts per vCPU, plus an idle
  share (idle watts per vCPU x the vCPUs this process may use x wall time), plus RAM as a static
  watts-per-GB term over wall time (on the process's resident memory); estimated. Defaults follow Cloud
  Carbon Footprint's SPECpower-derived averages for compute (min 0.74 W, max 3.5 W per vCPU: active =
  max - min) and 0.392 W per GB of memory; all configurable.
* :class:`CompositeMeter` — several meters side by side (a GPU's NVML counter plus the CPU's RAPL or
  estimate), each device keeping its own method.

A meter is read before and after a unit of work; ``delta`` gives joules per device, and
``device_methods`` says for each device whether its joules are measured or estimated.
"""

from __future__ import annotations

import os
import resource
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

__all__ = ["Reading", "EnergyMeter", "CpuTimeMeter", "RaplMeter", "NvmlMeter", "CompositeMeter", "auto_meter",
           "CCF_MIN_WATTS_PER_VCPU", "CCF_MAX_WATTS_PER_VCPU", "CCF_WATTS_PER_GB"]

RSS_SAMPLE_S = 0.5  # the CPU-time model re-reads resident memory at most this often

# Cloud Carbon Footprint methodology (SPECpower-derived averages over cloud CPU microarchitectures).
CCF_MIN_WATTS_PER_VCPU = 0.74
CCF_MAX_WATTS_PER_VCPU = 3.5
CCF_WATTS_PER_GB = 0.392


@dataclass(frozen=True)
class Reading:
    """Cumulative counters at one instant: joules per device, plus wall time."""

    joules: dict[str, float]
    wall_s: float
    method: str  # "measured" | "estimated"
    raw: dict[str, float] = field(default_factory=dict, compare=False)


class EnergyMeter(Protocol):
    method: str  # "measured" | "estimated" | "mixed"
    name: str
    device_methods: dict[str, str]

    def read(self) -> Reading: ...

    def delta(self, start: Reading, end: Reading) -> dict[str, float]:
        """Joules per device between two readings."""
        ...


class CpuTimeMeter:
    """Estimated energy from this process's CPU time (all threads), its resident memory and wall time.

    ``ram_gb=None`` follows the process's resident set size (integrated over time between reads);
    a number fixes it. ``vcpus=None`` counts the CPUs this process may run on.
    """

    method = "estimated"
    name = "cpu-time model"

    def __init__(self, active_watts_per_vcpu: float = CCF_MAX_WATTS_PER_VCPU - CCF_MIN_WATTS_PER_VCPU,
                 ram_gb: float | None = None, watts_per_gb: float = CCF_WATTS_PER_GB,
                 idle_watts_per_vcpu: float = CCF_MIN_WATTS_PER_VCPU, vcpus: int | None = None) -> None:
        if min(active_watts_per_vcpu, watts_per_gb, idle_watts_per_vcpu) < 0:
            raise ValueError("power coefficients must be >= 0")
        self.active_watts_per_vcpu = active_watts_per_vcpu
        self.idle_watts_per_vcpu = idle_watts_per_vcpu
        self.watts_per_gb = watts_per_gb
        self.vcpus = vcpus if vcpus is not None else _usable_cpus()
        self.ram_gb = ram_gb
        self.device_methods = {"cpu": self.method, "ram": self.method}
        self._lock = threading.Lock()
        self._ram_j = 0.0
        self._last_wall = self._rss_at = time.monotonic()
        self._last_gb = ram_gb if ram_gb is not None else _rss_gb()

    def read(self) -> Reading:
        with self._lock:
            usage = resource.getrusage(resource.RUSAGE_SELF)
            wall = time.monotonic()
            gb = self.ram_gb if self.ram_gb is not None else self._last_gb
            if self.ram_gb is None and wall - self._rss_at >= RSS_SAMPLE_S:  # /proc read, not on every unit
                gb, self._rss_at = _rss_gb(), wall
            # trapezoid between memory samples
            self._ram_j += (wall - self._last_wall) * 0.5 * (gb + self._last_gb) * self.watts_per_gb
            self._last_wall, self._last_gb = wall, gb
            cpu_s = usage.ru_utime + usage.ru_stime
            cpu_j = cpu_s * self.active_watts_per_vcpu + wall * self.vcpus * self.idle_watts_per_vcpu
            return Reading({"cpu": cpu_j, "ram": self._ram_j}, wall, self.method, {"cpu_s": cpu_s, "ram_gb": gb})

    def delta(self, start: Reading, end: Reading) -> dict[str, float]:
        return {k: end.joules[k] - start.joules[k] for k in end.joules}


class RaplMeter:
    """Measured package/DRAM energy from the powercap sysfs tree (``root`` is injectable for tests)."""

    method = "measured"
    name = "RAPL"

    def __init__(self, root: str | Path = "/sys/class/powercap") -> None:
        # Top-level package zones, plus DRAM subzones (servers put DRAM under the package, and it is not
        # part of the package figure); core/uncore subzones are inside the package and are skipped.
        # psys (client platforms) covers the packages, so it is used only when there is no package zone.
        self.zones: dict[str, tuple[Path, float]] = {}
        found: list[tuple[str, Path]] = []
        for zone in sorted(Path(root).glob("intel-rapl:*")):
            name = (zone / "name").read_text().strip() if (zone / "name").is_file() else zone.name
            depth = zone.name.count(":")
            if depth == 1 or (depth == 2 and name.startswith("dram")):
                found.append((name, zone))
        if any(name.startswith("package") for name, _ in found):
            found = [(n, z) for n, z in found if n != "psys"]
        for name, zone in found:
            energy, limit = zone / "energy_uj", zone / "max_energy_range_uj"
            if energy.is_file() and limit.is_file():
                self.zones[f"{name}:{zone.name}"] = (energy, float(limit.read_text()))
        if not self.zones:
            raise FileNotFoundError(f"no readable RAPL zones under {root}")
        for path, _ in self.zones.values():
            path.read_text()  # energy_uj is often root-only: fail here, not mid-request
        self.device_methods = {k: self.method for k in self.zones}

    def read(self) -> Reading:
        raw = {k: float(path.read_text()) for k, (path, _) in self.zones.items()}
        return Reading({k: v / 1e6 for k, v in raw.items()}, time.monotonic(), self.method, raw)

    def delta(self, start: Reading, end: Reading) -> dict[str, float]:
        out = {}
        for k, (_, max_uj) in self.zones.items():
            d = end.raw[k] - start.raw[k]
            if d < 0:  # the counter wrapped around once
                d += max_uj
            out[k] = d / 1e6
        return out


class NvmlMeter:
    """Measured GPU energy (mJ counters) via NVML; needs ``pip install greentts[gpu]`` (nvidia-ml-py)."""

    method = "measured"
    name = "NVML"

    def __init__(self, nvml=None) -> None:  # noqa: ANN001 - the module, injectable for tests
        if nvml is None:
            try:
                import pynvml as nvml
            except ImportError as exc:
                raise ImportError("GPU energy needs nvidia-ml-py: pip install 'greentts[gpu]'") from exc
        self._nvml = nvml
        nvml.nvmlInit()
        self._handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(nvml.nvmlDeviceGetCount())]
        if not self._handles:
            raise FileNotFoundError("NVML found no GPU")
        self.device_methods = {f"gpu{i}": self.method for i in range(len(self._handles))}
        self.read()  # a GPU without the energy counter (pre-Volta) fails here, not mid-request

    def read(self) -> Reading:
        mj = {f"gpu{i}": float(self._nvml.nvmlDeviceGetTotalEnergyConsumption(h)) for i, h in enumerate(self._handles)}
        return Reading({k: v / 1e3 for k, v in mj.items()}, time.monotonic(), self.method, mj)

    def delta(self, start: Reading, end: Reading) -> dict[str, float]:
        return {k: end.joules[k] - start.joules[k] for k in end.joules}


class CompositeMeter:
    """Several meters read together, e.g. NVML for the GPU plus RAPL or the CPU-time model for the host."""

    def __init__(self, *meters: EnergyMeter) -> None:
        if not meters:
            raise ValueError("CompositeMeter needs at least one meter")
        self.meters = meters
        self.device_methods = {d: m for meter in meters for d, m in meter.device_methods.items()}
        if len(self.device_methods) != sum(len(m.device_methods) for m in meters):
            raise ValueError("meters report overlapping device names")
        methods = set(self.device_methods.values())
        self.method = methods.pop() if len(methods) == 1 else "mixed"
        self.name = " + ".join(m.name for m in meters)

    def read(self) -> Reading:
        readings = [m.read() for m in self.meters]
        return Reading({k: v for r in readings for k, v in r.joules.items()}, readings[-1].wall_s, self.method,
                       {"parts": readings})  # type: ignore[dict-item]

    def delta(self, start: Reading, end: Reading) -> dict[str, float]:
        out: dict[str, float] = {}
        for meter, a, b in zip(self.meters, start.raw["parts"], end.raw["parts"]):  # type: ignore[arg-type]
            out.update(meter.delta(a, b))
        return out


METERS = ("auto", "nvml", "rapl", "cpu")


def auto_meter(prefer: str | None = None, cpu: CpuTimeMeter | None = None) -> EnergyMeter:
    """Pick meters: NVML for GPUs if one answers, plus RAPL for the host if readable, else the CPU-time estimate.

    ``prefer`` ("nvml" | "rapl" | "cpu") forces one meter and fails loudly if it cannot be read.
    ``cpu`` is the configured CPU-time model to use when the host is estimated.
    """
    choices = {"nvml": NvmlMeter, "rapl": RaplMeter, "cpu": lambda: cpu or CpuTimeMeter()}
    if prefer not in (None, "auto"):
        if prefer not in choices:
            raise ValueError(f"unknown meter {prefer!r}; choose from {', '.join(METERS)}")
        return choices[prefer]()  # type: ignore[operator]
    meters: list[EnergyMeter] = []
    try:
        meters.append(NvmlMeter())
    except Exception:  # noqa: BLE001 - no driver, no GPU, no nvidia-ml-py: the host meter alone
        pass
    try:
        meters.append(RaplMeter())
    except Exception:  # noqa: BLE001 - absent or unreadable (root-only) powercap: estimate instead
        meters.append(cpu or CpuTimeMeter())
    return meters[0] if len(meters) == 1 else CompositeMeter(*meters)


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _rss_gb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e9
    except OSError:
        return 0.0
