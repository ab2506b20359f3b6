"""Energy meters. Each reading says whether it was ``measured`` or ``estimated``.

* :class:`NvmlMeter` — NVIDIA GPUs: ``nvmlDeviceGetTotalEnergyConsumption`` (mJ counter), measured.
* :class:`RaplMeter` — Intel/AMD RAPL via ``/sys/class/powercap/intel-rapl*/energy_uj``, measured,
  with wrap-around handled through ``max_energy_range_uj``.
* :class:`CpuTimeMeter` — everywhere else: process CPU seconds x active watts per vCPU, plus RAM as a
  static watts-per-GB term over wall time; estimated. Defaults follow Cloud Carbon Footprint's
  SPECpower-derived averages for compute (min 0.74 W, max 3.5 W per vCPU: active = max - min) and
  0.392 W per GB of memory; all configurable.

A meter is read before and after a unit of work; ``delta`` gives joules per device.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

__all__ = ["Reading", "EnergyMeter", "CpuTimeMeter", "RaplMeter", "NvmlMeter", "auto_meter"]


@dataclass(frozen=True)
class Reading:
    """Cumulative counters at one instant: joules per device, plus wall time."""

    joules: dict[str, float]
    wall_s: float
    method: str  # "measured" | "estimated"
    raw: dict[str, float] = field(default_factory=dict, compare=False)


class EnergyMeter(Protocol):
    method: str

    def read(self) -> Reading: ...

    def delta(self, start: Reading, end: Reading) -> dict[str, float]:
        """Joules per device between two readings."""
        ...


class CpuTimeMeter:
    """Estimated energy from CPU time (this process, all threads) and wall time."""

    method = "estimated"

    def __init__(self, active_watts_per_vcpu: float = 3.5 - 0.74, ram_gb: float | None = None,
                 watts_per_gb: float = 0.392) -> None:
        if active_watts_per_vcpu < 0 or watts_per_gb < 0:
            raise ValueError("power coefficients must be >= 0")
        self.active_watts_per_vcpu = active_watts_per_vcpu
        self.watts_per_gb = watts_per_gb
        self.ram_gb = ram_gb if ram_gb is not None else _rss_gb()

    def read(self) -> Reading:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu_s = usage.ru_utime + usage.ru_stime
        wall = time.monotonic()
        return Reading({"cpu": cpu_s * self.active_watts_per_vcpu, "ram": wall * self.ram_gb * self.watts_per_gb},
                       wall, self.method, {"cpu_s": cpu_s})

    def delta(self, start: Reading, end: Reading) -> dict[str, float]:
        return {k: end.joules[k] - start.joules[k] for k in end.joules}


class RaplMeter:
    """Measured package/DRAM energy from the powercap sysfs tree (``root`` is injectable for tests)."""

    method = "measured"

    def __init__(self, root: str | Path = "/sys/class/powercap") -> None:
        self.zones: dict[str, tuple[Path, float]] = {}
        for zone in sorted(Path(root).glob("intel-rapl:*")):
            if zone.name.count(":") != 1:  # top-level packages only; subzones are part of them
                continue
            energy, limit = zone / "energy_uj", zone / "max_energy_range_uj"
            if energy.is_file() and limit.is_file():
                name = (zone / "name").read_text().strip() if (zone / "name").is_file() else zone.name
                self.zones[f"{name}:{zone.name}"] = (energy, float(limit.read_text()))
        if not self.zones:
            raise FileNotFoundError(f"no readable RAPL zones under {root}")

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

    def read(self) -> Reading:
        mj = {f"gpu{i}": float(self._nvml.nvmlDeviceGetTotalEnergyConsumption(h)) for i, h in enumerate(self._handles)}
        return Reading({k: v / 1e3 for k, v in mj.items()}, time.monotonic(), self.method, mj)

    def delta(self, start: Reading, end: Reading) -> dict[str, float]:
        return {k: end.joules[k] - start.joules[k] for k in end.joules}


def auto_meter(prefer: str | None = None) -> EnergyMeter:
    """NVML if a GPU answers, else RAPL if readable, else the CPU-time estimate. ``prefer`` forces one."""
    choices = {"nvml": NvmlMeter, "rapl": RaplMeter, "cpu": CpuTimeMeter}
    if prefer is not None:
        if prefer not in choices:
            raise ValueError(f"unknown meter {prefer!r}; choose from {', '.join(choices)}")
        return choices[prefer]()
    for make in (NvmlMeter, RaplMeter):
        try:
            return make()
        except Exception:  # noqa: BLE001 - absent hardware/driver/permission: try the next meter
            continue
    return CpuTimeMeter()


def _rss_gb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e9
    except OSError:
        return 0.0
