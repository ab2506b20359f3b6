"""Measurements on speech audio used by enrollment, presets and their tests: pitch and speaking rate.

Pitch is librosa's probabilistic YIN (pYIN) at 16 kHz, 10 ms hop, 60-500 Hz. Figures are over voiced
frames only: median F0, the 10th/90th percentiles and the range between them in semitones, and the
interquartile range in semitones (``iqr_st``), which a few creaky or octave-slipped frames barely move:
on one male voice the 10-90 range of the same preset varied 7.4-13.6 st between sentences, the IQR
3.6-5.1 st (measured on four sentences of am_michael).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from . import require

__all__ = ["PitchStats", "pitch_stats", "F0_MIN_HZ", "F0_MAX_HZ"]

F0_MIN_HZ = 60.0
F0_MAX_HZ = 500.0
_RATE = 16000
OCTAVE_GUARD = 1.8  # frames further than this factor from the median are tracker octave errors


@dataclass(frozen=True)
class PitchStats:
    median_hz: float
    p10_hz: float
    p90_hz: float
    range_st: float  # 12 * log2(p90 / p10)
    mean_log_hz: float  # mean of ln F0 over voiced frames (what the optimiser matches)
    voiced_fraction: float
    iqr_st: float = 0.0  # 12 * log2(p75 / p25): a robust spread for comparing prosody

    def as_dict(self) -> dict[str, float]:
        return {k: round(float(v), 4) for k, v in asdict(self).items()}


def pitch_stats(audio: np.ndarray, sample_rate: int) -> PitchStats:
    """Pitch statistics of mono float ``audio``; raises ValueError if nothing is voiced."""
    librosa = require("librosa")
    import soxr

    y = np.asarray(audio, dtype=np.float32)
    if sample_rate != _RATE:
        y = soxr.resample(y, sample_rate, _RATE).astype(np.float32)
    f0, voiced, _ = librosa.pyin(y, fmin=F0_MIN_HZ, fmax=F0_MAX_HZ, sr=_RATE, frame_length=1024, hop_length=160)
    f = f0[voiced & np.isfinite(f0)]
    if len(f) < 10:
        raise ValueError("no voiced speech found (pitch tracker found fewer than 10 voiced frames)")
    m = float(np.median(f))
    f = f[(f > m / OCTAVE_GUARD) & (f < m * OCTAVE_GUARD)]  # drop octave errors of the tracker
    p10, p25, med, p75, p90 = np.percentile(f, [10, 25, 50, 75, 90])
    return PitchStats(float(med), float(p10), float(p90), float(12 * np.log2(p90 / p10)),
                      float(np.mean(np.log(f))), float(np.mean(voiced)), float(12 * np.log2(p75 / p25)))
