"""Log-mel distance between two renderings of the same speech (how far a graph change moved the sound).

``mel_distance_db``: mean absolute difference, in dB, of 80-band log-mel spectrograms (1024-point FFT,
10 ms hop), over the bins within 60 dB of the reference's peak (silence, where dB differences mean
nothing, is left out). Needs librosa (the ``clone`` extra).
"""

from __future__ import annotations

import numpy as np

__all__ = ["mel_distance_db"]


def _log_mel(x: np.ndarray, rate: int) -> np.ndarray:
    try:
        import librosa
    except ImportError as exc:
        from ..errors import GreenTTSError

        raise GreenTTSError("mel distances need librosa: pip install 'greentts[clone]'") from exc
    m = librosa.feature.melspectrogram(y=np.asarray(x, np.float32), sr=rate, n_fft=1024, hop_length=rate // 100,
                                       n_mels=80)
    return 10 * np.log10(np.maximum(m, 1e-10))


def mel_distance_db(reference: np.ndarray, other: np.ndarray, rate: int) -> float:
    """Mean |dB| between the log-mel spectrograms of ``reference`` and ``other`` (cut to the shorter)."""
    n = min(len(reference), len(other))
    if n < 1024:
        raise ValueError(f"mel distance needs at least 1024 samples, got {n}")
    a, b = _log_mel(reference[:n], rate), _log_mel(other[:n], rate)
    loud = a > a.max() - 60.0
    return float(np.mean(np.abs(a - b)[loud]))
