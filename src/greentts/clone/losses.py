"""Differentiable measures the refinement loss is built from (torch tensors in, torch tensors out)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Goal", "spoken_rate", "spectral_envelope", "log_f0_centre"]


@dataclass
class Goal:
    """What every refinement step is measured against (torch tensors, built once by ``Enroller._goal``)."""

    table_b: Any  # the start voice's table
    spread: Any  # per-dimension spread of the stock tables
    embedding: Any  # the reference's CAM++ embedding
    ltas: Any  # the reference's spectral envelope
    ge2e: Any  # the GE2E encoder, or None when W_GE2E is 0
    ge2e_embedding: Any
    rate_ratio: float | None
    rates: list[float] | None  # target phoneme rate per training sentence


def spoken_rate(k: Any, prep: Any, dur_float: Any) -> Any:
    """Predicted phoneme ids per second, without the silence at both ends (the pad tokens and the final
    punctuation carry it)."""
    return (prep.n_ids - 1) / (dur_float[1:-2].sum() * k.FRAME_S)


def spectral_envelope(torch: Any, audio: Any) -> Any:
    """Long-term average log-mel spectrum (80 Kaldi bins up to 8 kHz) of 24 kHz audio over its speech
    frames (within 35 dB of the loudest), level removed (mean over bins subtracted): the envelope's shape."""
    from .fbank import kaldi_fbank, resample_24k_to_16k

    fb = kaldi_fbank(resample_24k_to_16k(audio))
    energy = fb.detach().logsumexp(dim=1)
    mean = fb[energy > energy.max() - 8.0].mean(dim=0)
    return mean - mean.mean()


def log_f0_centre(torch: Any, f0: Any) -> Any:
    """ln of the predicted contour's central pitch: mean ln F0 of the voiced frames between their 25th and
    75th percentiles (a smooth stand-in for the median, which is what pYIN-measured references give)."""
    logf = torch.log(f0[f0.detach() > 50.0].clamp(min=1.0))
    if logf.numel() < 8:
        return torch.log(f0.detach().clamp(min=1.0)).mean()
    lo, hi = torch.quantile(logf.detach(), torch.tensor([0.25, 0.75]))
    return logf[(logf >= lo) & (logf <= hi)].mean()
