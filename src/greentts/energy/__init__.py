"""Energy and carbon accounting: meters (measured or estimated), attribution, grid-intensity conversion."""

from .accounting import EnergyAccountant, EnergyReport, EnergyTally, EnergyTotals, Unit
from .carbon import CarbonFactors, grid_intensity
from .meter import CompositeMeter, CpuTimeMeter, EnergyMeter, NvmlMeter, RaplMeter, auto_meter

__all__ = ["CarbonFactors", "grid_intensity", "EnergyMeter", "CpuTimeMeter", "RaplMeter", "NvmlMeter",
           "CompositeMeter", "auto_meter", "EnergyAccountant", "EnergyReport", "EnergyTally", "EnergyTotals",
           "Unit"]
