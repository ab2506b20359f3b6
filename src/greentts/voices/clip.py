"""Reference clips for voice enrollment: read, check and prepare, with one clear error per problem.

``prepare_clip`` accepts a path (anything libsndfile reads: wav, flac, ogg/opus, mp3) or a float array
with its sample rate. It mixes down to mono, resamples to 24 kHz (soxr), trims silence at both ends,
checks what is left (3-30 s, not silent, not clipped) and normalizes loudness (BS.1770) to -20 LUFS.
The clip's identity for the voice cache is the sha256 of the prepared 16-bit samples, so the same
recording in another lossless container is the same clip.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError

__all__ = ["Clip", "prepare_clip", "speech_duration", "CLIP_RATE", "MIN_CLIP_S", "MAX_CLIP_S"]

CLIP_RATE = 24000
MIN_CLIP_S = 3.0
MAX_CLIP_S = 30.0
TARGET_LUFS = -20.0
SILENCE_DBFS = -50.0  # a 20 ms frame quieter than this (RMS) counts as silence for trimming
CLIP_LEVEL = 0.999  # |sample| at or above this is clipped
MAX_CLIPPED = 0.001  # more than 0.1 % clipped samples is refused
MAX_RAW_S = 600.0  # refuse to decode more than 10 minutes


@dataclass(frozen=True)
class Clip:
    audio: np.ndarray  # mono float32 at CLIP_RATE, trimmed, loudness-normalized
    sample_rate: int
    sha256: str
    trimmed_s: float  # silence removed at the ends
    source: str

    @property
    def duration_s(self) -> float:
        return len(self.audio) / self.sample_rate


def prepare_clip(audio: str | Path | np.ndarray, sample_rate: int | None = None) -> Clip:
    """Read (if a path), check and prepare a reference clip; raises InputError naming the problem."""
    samples, rate, source = _read(audio, sample_rate)
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    if not np.all(np.isfinite(samples)):
        raise InputError(f"{source}: the audio contains NaN or infinite samples")
    clipped = float(np.mean(np.abs(samples) >= CLIP_LEVEL)) if len(samples) else 0.0
    if clipped > MAX_CLIPPED:
        raise InputError(f"{source}: {100 * clipped:.2f}% of the samples are clipped (at full scale); "
                         "record again with lower input gain (at most 0.1% may be clipped)")
    if rate != CLIP_RATE:
        import soxr

        samples = soxr.resample(samples, rate, CLIP_RATE, quality="HQ")
    samples = samples.astype(np.float32)
    start, end = _speech_bounds(samples, source)
    trimmed = (len(samples) - (end - start)) / CLIP_RATE
    samples = samples[start:end]
    duration = len(samples) / CLIP_RATE
    if duration < MIN_CLIP_S:
        raise InputError(f"{source}: {duration:.1f} s of speech after trimming silence; at least "
                         f"{MIN_CLIP_S:g} s is needed")
    if duration > MAX_CLIP_S:
        raise InputError(f"{source}: {duration:.1f} s of speech after trimming silence; at most "
                         f"{MAX_CLIP_S:g} s (cut a 5-20 s passage)")
    from ..runtime.audio import loudness_gain

    samples = samples * loudness_gain(samples, CLIP_RATE, TARGET_LUFS)
    peak = float(np.max(np.abs(samples)))
    if peak > 0.99:  # loud normalization must not clip: back off to a 0.99 peak
        samples = samples * (0.99 / peak)
    samples = samples.astype(np.float32)
    pcm = np.round(np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    return Clip(samples, CLIP_RATE, hashlib.sha256(pcm.tobytes()).hexdigest(), trimmed, source)


def speech_duration(samples: np.ndarray) -> float:
    """Seconds of ``samples`` (24 kHz) between the first and last non-silent frame, trimmed exactly as
    :func:`prepare_clip` trims a reference: what a clip's duration is compared with."""
    start, end = _speech_bounds(np.asarray(samples, np.float32), "the audio")
    return (end - start) / CLIP_RATE


def _read(audio: str | Path | np.ndarray, sample_rate: int | None) -> tuple[np.ndarray, int, str]:
    if isinstance(audio, np.ndarray):
        if sample_rate is None:
            raise InputError("an audio array needs its sample_rate")
        if audio.ndim not in (1, 2) or audio.size == 0:
            raise InputError(f"an audio array must be 1-D (mono) or 2-D (frames x channels), got shape {audio.shape}")
        if not 8000 <= sample_rate <= 192000:
            raise InputError(f"sample_rate {sample_rate} is outside 8000-192000 Hz")
        data = audio.astype(np.float64)
        if audio.ndim == 2 and audio.shape[0] < audio.shape[1]:
            data = data.T  # (channels, frames) -> (frames, channels)
        return data, int(sample_rate), "the audio array"
    import soundfile as sf

    path = Path(audio)
    if not path.is_file():
        raise InputError(f"reference clip {path} does not exist")
    try:
        info = sf.info(str(path))
        if info.frames / info.samplerate > MAX_RAW_S:
            raise InputError(f"{path}: {info.frames / info.samplerate:.0f} s long; give a clip under "
                             f"{MAX_RAW_S / 60:.0f} minutes (3-30 s of speech is used)")
        data, rate = sf.read(str(path), dtype="float64", always_2d=False)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise InputError(f"cannot read {path} as audio: {exc}") from None
    return data, int(rate), str(path)


def _speech_bounds(samples: np.ndarray, source: str) -> tuple[int, int]:
    """First and last non-silent 20 ms frames (RMS above SILENCE_DBFS), with 100 ms of margin."""
    frame = CLIP_RATE // 50
    n = len(samples) // frame
    if n == 0:
        raise InputError(f"{source}: the clip is empty")
    rms = np.sqrt(np.mean(samples[: n * frame].reshape(n, frame).astype(np.float64) ** 2, axis=1))
    loud = np.flatnonzero(20 * np.log10(rms + 1e-12) > SILENCE_DBFS)
    if len(loud) == 0:
        raise InputError(f"{source}: the clip is silent (no 20 ms frame above {SILENCE_DBFS:g} dBFS)")
    margin = 5 * frame
    return max(0, loud[0] * frame - margin), min(len(samples), (loud[-1] + 1) * frame + margin)
