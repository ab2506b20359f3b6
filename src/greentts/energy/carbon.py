"""Joules -> kWh -> gCO2e, with a grid-intensity table shipped in the package (no network, no geolocation).

The table (``data/grid_intensity.json``) is derived from codecarbon 3.3.2's ``global_energy_mix.json``
(MIT; Our World in Data / Ember statistics): one life-cycle grid carbon intensity per country
(ISO 3166-1 alpha-3 code) with its year. An unknown country is an error, never a silent default.
With no country and no explicit intensity configured, the world average (475 gCO2e/kWh, IEA 2019, the
figure codecarbon falls back to) is used and every report's ``grid`` label says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from ..errors import InputError

__all__ = ["CarbonFactors", "grid_intensity", "JOULES_PER_KWH"]

JOULES_PER_KWH = 3.6e6


@cache
def _table() -> dict:
    return json.loads((files("greentts") / "data" / "grid_intensity.json").read_text(encoding="utf-8"))


def grid_intensity(country: str) -> tuple[float, str]:
    """(gCO2e per kWh, label with source and year) for an ISO alpha-3 country code such as "DEU"."""
    table = _table()
    row = table["countries"].get(country.upper())
    if row is None:
        raise InputError(f"unknown country code {country!r}: use an ISO 3166-1 alpha-3 code such as DEU, USA, "
                         f"CHN ({len(table['countries'])} countries in the table), or set grid_gco2_per_kwh")
    return float(row["gco2e_per_kwh"]), f"{row['name']} {row['year']} ({table['source'].split(',')[0]})"


@dataclass(frozen=True)
class CarbonFactors:
    """How joules become gCO2e: grid intensity (gCO2e/kWh) x PUE, with where the number comes from."""

    gco2e_per_kwh: float
    pue: float = 1.0
    label: str = "explicit"

    @classmethod
    def for_country(cls, country: str, pue: float = 1.0) -> CarbonFactors:
        intensity, label = grid_intensity(country)
        return cls(intensity, pue, label)

    @classmethod
    def world_average(cls, pue: float = 1.0) -> CarbonFactors:
        row = _table()["world_average"]
        return cls(float(row["gco2e_per_kwh"]), pue,
                   f"world average {row['year']} (IEA; default: set country or grid_gco2_per_kwh)")

    @classmethod
    def resolve(cls, country: str | None = None, gco2e_per_kwh: float | None = None,
                pue: float = 1.0) -> CarbonFactors:
        """From configuration: a country code, or an explicit intensity, or (neither) the world average."""
        if country is not None and gco2e_per_kwh is not None:
            raise InputError("give either country or grid_gco2_per_kwh, not both")
        if country is not None:
            return cls.for_country(country, pue)
        if gco2e_per_kwh is not None:
            return cls(gco2e_per_kwh, pue, "configured grid_gco2_per_kwh")
        return cls.world_average(pue)

    def __post_init__(self) -> None:
        if self.gco2e_per_kwh < 0:
            raise InputError("grid intensity must be >= 0 gCO2e/kWh")
        if self.pue < 1.0:
            raise InputError("PUE must be >= 1.0")

    @staticmethod
    def kwh(joules: float) -> float:
        return joules / JOULES_PER_KWH

    def gco2e(self, joules: float) -> float:
        return self.kwh(joules) * self.gco2e_per_kwh * self.pue
