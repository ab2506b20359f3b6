"""Differentiable front end shared by the speaker encoders: 24 kHz -> 16 kHz resampling and Kaldi fbank.

Both are torch graphs (gradients flow from an encoder's embedding back to the audio).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["kaldi_fbank", "resample_24k_to_16k", "SAMPLE_RATE", "N_MELS"]

SAMPLE_RATE = 16000
N_MELS = 80
FRAME_LENGTH = 400  # 25 ms at 16 kHz
FRAME_SHIFT = 160  # 10 ms
N_FFT = 512  # frame length rounded up to a power of two, as Kaldi does
PREEMPHASIS = 0.97
LOW_FREQ = 20.0
HIGH_FREQ = 8000.0  # Kaldi's high_freq=0 means the Nyquist frequency
LOG_FLOOR = float(torch.finfo(torch.float32).eps)

def _constant(values: np.ndarray) -> torch.Tensor:
    """A float32 CPU tensor that is usable by autograd even when first built under ``inference_mode``."""
    with torch.inference_mode(False):
        return torch.tensor(np.ascontiguousarray(values), dtype=torch.float32)


@lru_cache(maxsize=None)
def _lowpass_24k_to_16k() -> torch.Tensor:
    """Anti-aliasing FIR at the 48 kHz intermediate rate, shape (1, 1, taps), gain 2 for the zero-stuffing.

    361 taps (7.5 ms), Kaiser beta 8.6 (about 85 dB stop band), -6 dB at 7.64 kHz, stop band from about
    8.0 kHz: the pass band reaches about 7.3 kHz, like soxr's default quality.
    """
    from scipy.signal import firwin

    taps = firwin(361, 7640.0, window=("kaiser", 8.6), fs=48000.0) * 2.0
    return _constant(taps).view(1, 1, -1)


def resample_24k_to_16k(audio: torch.Tensor) -> torch.Tensor:
    """Differentiable polyphase resampling 24 kHz -> 16 kHz (up 2, down 3) as one strided conv1d.

    ``audio`` is 1-D; the result has ``ceil(2 * len / 3)`` samples and no delay (the filter is centred).
    """
    kernel = _lowpass_24k_to_16k().to(device=audio.device, dtype=audio.dtype)
    n = audio.shape[-1]
    stuffed = torch.stack([audio, torch.zeros_like(audio)], dim=-1).reshape(1, 1, 2 * n)
    half = (kernel.shape[-1] - 1) // 2
    return F.conv1d(F.pad(stuffed, (half, half)), kernel, stride=3).reshape(-1)


def _mel(freq: np.ndarray | float) -> np.ndarray:
    return 1127.0 * np.log(1.0 + np.asarray(freq, dtype=np.float64) / 700.0)


@lru_cache(maxsize=None)
def _kaldi_mel_banks() -> torch.Tensor:
    """Kaldi's triangular mel filters (mel = 1127 ln(1 + f/700), triangles in mel), shape (257, 80).

    Built on the 256 FFT bins below Nyquist like Kaldi; the Nyquist bin gets a zero row.
    """
    mel_low, mel_high = _mel(LOW_FREQ), _mel(HIGH_FREQ)
    delta = (mel_high - mel_low) / (N_MELS + 1)
    left = mel_low + delta * np.arange(N_MELS)[:, None]
    center, right = left + delta, left + 2.0 * delta
    bins = _mel(SAMPLE_RATE / N_FFT * np.arange(N_FFT // 2))[None, :]
    up, down = (bins - left) / (center - left), (right - bins) / (right - center)
    banks = np.maximum(0.0, np.minimum(up, down))  # (80, 256)
    banks = np.concatenate([banks, np.zeros((N_MELS, 1))], axis=1)
    return _constant(banks.T)


@lru_cache(maxsize=None)
def _povey_window() -> torch.Tensor:
    """Kaldi's "povey" window: a symmetric Hann window raised to the power 0.85."""
    n = np.arange(FRAME_LENGTH, dtype=np.float64)
    hann = 0.5 - 0.5 * np.cos(2.0 * math.pi * n / (FRAME_LENGTH - 1))
    return _constant(hann ** 0.85)


def kaldi_fbank(audio: torch.Tensor) -> torch.Tensor:
    """Log mel filter bank of a 16 kHz 1-D waveform, (frames, 80), as ``torchaudio.compliance.kaldi.fbank``.

    Defaults of that function with ``num_mel_bins=80, dither=0``: ``snip_edges`` framing (25 ms / 10 ms),
    DC removal per frame, pre-emphasis 0.97 (first sample against itself), povey window, zero padding to
    512, power spectrum, 80 Kaldi mel bins from 20 Hz to 8 kHz, ``log(max(x, float32 eps))``. The power
    spectrum is ``re**2 + im**2`` so the gradient is defined everywhere.
    """
    frames = audio.unfold(0, FRAME_LENGTH, FRAME_SHIFT)  # (T, 400)
    frames = frames - frames.mean(dim=1, keepdim=True)
    previous = torch.cat([frames[:, :1], frames[:, :-1]], dim=1)
    frames = (frames - PREEMPHASIS * previous) * _povey_window().to(audio.device, audio.dtype)
    spec = torch.fft.rfft(frames, n=N_FFT)
    power = spec.real.square() + spec.imag.square()  # (T, 257)
    mel = power @ _kaldi_mel_banks().to(audio.device, audio.dtype)
    return mel.clamp_min(LOG_FLOOR).log()
