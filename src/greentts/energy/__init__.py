"""Energy and carbon accounting: meters (measured or estimated) and grid-intensity conversion."""

from .carbon import CarbonFactors, grid_intensity
from .meter import CpuTimeMeter, EnergyMeter, NvmlMeter, RaplMeter, auto_meter

__all__ = ["CarbonFactors", "grid_intensity", "EnergyMeter", "CpuTimeMeter", "RaplMeter", "NvmlMeter", "auto_meter"]
