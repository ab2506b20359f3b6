"""Reference clips for voice enrollment: read, check and prepare, with one clear error per problem.

``prepare_clip`` accepts a path (anything libsndfile reads: wav, flac, ogg/opus, mp3) or a float array
with its sample rate. It mixes down to mono, resamples to 24 kHz (soxr), trims silence at both ends,
picks the cleanest 5-8 s window of a longer recording (:func:`best_window`: signal-to-noise ratio,
voicing, no clipping, cut in pauses), checks what is left (at least 3 s, not silent, not clipped) and
normalizes loudness (BS.1770) to -20 LUFS.
The clip's identity for the voice cache is the sha256 of the prepared 16-bit samples, so the same
recording in another lossless container is the same clip.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..models.kokoro import SAMPLE_RATE as KOKORO_RATE

__all__ = ["Clip", "Window", "prepare_clip", "best_window", "speech_duration", "CLIP_RATE", "MIN_CLIP_S",
           "MAX_CLIP_S", "WINDOW_MIN_S", "WINDOW_MAX_S"]

CLIP_RATE = KOKORO_RATE
MIN_CLIP_S = 3.0
MAX_CLIP_S = 30.0  # without window selection (window=False), the longest clip accepted
WINDOW_MIN_S = 5.0  # a longer recording is cut to its cleanest window of 5-8 s
WINDOW_MAX_S = 8.0
TARGET_LUFS = -20.0
SILENCE_DBFS = -50.0  # a 20 ms frame quieter than this (RMS) counts as silence for trimming
CLIP_LEVEL = 0.999  # |sample| at or above this is clipped
MAX_CLIPPED = 0.001  # more than 0.1 % clipped samples is refused
MAX_RAW_S = 600.0  # refuse to decode more than 10 minutes
CONTEXT_S = 30.0  # of a longer recording, this much around the window is kept for pitch statistics
FRAME = CLIP_RATE // 50  # 20 ms analysis frames


@dataclass(frozen=True)
class Window:
    """Where the clip was cut from a longer recording, and why that part."""

    start_s: float  # in the recording after trimming silence at its ends
    end_s: float
    snr_db: float  # speech frames' median level over the window's noise floor (its pauses)
    voiced: float  # share of 20 ms frames with a clear pitch period
    clipped: float  # share of clipped samples
    candidates: int  # windows compared

    def as_dict(self) -> dict[str, float | int]:
        return {"start_s": round(self.start_s, 3), "end_s": round(self.end_s, 3), "snr_db": round(self.snr_db, 1),
                "voiced": round(self.voiced, 3), "clipped": round(self.clipped, 5), "candidates": self.candidates}


@dataclass(frozen=True)
class Clip:
    audio: np.ndarray  # mono float32 at CLIP_RATE, trimmed, loudness-normalized
    sample_rate: int
    sha256: str
    trimmed_s: float  # silence removed at the ends
    source: str
    window: Window | None = None  # set when the clip is the cleanest part of a longer recording
    recording_s: float | None = None  # speech in the whole recording (what a given transcript covers)
    # up to CONTEXT_S of the trimmed recording around the window (not normalized): the speaker's pitch is
    # measured on more speech than the 5-8 s window (one window's median F0 is off by up to ~6 %)
    context: np.ndarray | None = None

    @property
    def duration_s(self) -> float:
        return len(self.audio) / self.sample_rate

    @property
    def transcript_s(self) -> float:
        """Seconds of speech a transcript given for the recording covers (the whole recording, trimmed)."""
        return self.recording_s if self.recording_s is not None else self.duration_s


def prepare_clip(audio: str | Path | np.ndarray, sample_rate: int | None = None, window: bool = True) -> Clip:
    """Read (if a path), check and prepare a reference clip; raises InputError naming the problem.

    With ``window`` (the default), a recording with more than :data:`WINDOW_MAX_S` of speech is cut to
    its cleanest window (:func:`best_window`; ``Clip.window`` says which part and why), so any length up
    to 10 minutes is accepted; without it, 3-30 s of speech is required and used whole.
    """
    samples, rate, source = _read(audio, sample_rate)
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    if not np.all(np.isfinite(samples)):
        raise InputError(f"{source}: the audio contains NaN or infinite samples")
    clipped_mask = np.abs(samples) >= CLIP_LEVEL
    if rate != CLIP_RATE:
        import soxr

        samples = soxr.resample(samples, rate, CLIP_RATE, quality="HQ")
    samples = samples.astype(np.float32)
    # clipped samples per 24 kHz sample position (for the window choice and the check)
    hits = np.zeros(len(samples) + 1)
    np.add.at(hits, np.minimum(np.flatnonzero(clipped_mask) * CLIP_RATE // rate, len(samples)), 1.0)
    hits = hits[:len(samples)] * (rate / CLIP_RATE)
    start, end = _speech_bounds(samples, source)
    trimmed = (len(samples) - (end - start)) / CLIP_RATE
    samples, hits = samples[start:end], hits[start:end]
    duration = len(samples) / CLIP_RATE
    if duration < MIN_CLIP_S:
        raise InputError(f"{source}: {duration:.1f} s of speech after trimming silence; at least "
                         f"{MIN_CLIP_S:g} s is needed")
    chosen: Window | None = None
    context: np.ndarray | None = None
    if window and duration > WINDOW_MAX_S:
        chosen = best_window(samples, hits)
        a, b = round(chosen.start_s * CLIP_RATE), round(chosen.end_s * CLIP_RATE)
        context = _around(samples, a, b, round(CONTEXT_S * CLIP_RATE))
        samples, hits = samples[a:b], hits[a:b]
    elif duration > MAX_CLIP_S:
        raise InputError(f"{source}: {duration:.1f} s of speech after trimming silence; at most "
                         f"{MAX_CLIP_S:g} s without window selection (cut a 5-20 s passage)")
    clipped = float(hits.sum() / max(len(samples), 1))
    if clipped > MAX_CLIPPED:
        where = "even in its cleanest window, " if chosen is not None else ""
        raise InputError(f"{source}: {where}{100 * clipped:.2f}% of the samples are clipped (at full scale); "
                         "record again with lower input gain (at most 0.1% may be clipped)")
    from ..runtime.audio import loudness_gain

    samples = samples * loudness_gain(samples, CLIP_RATE, TARGET_LUFS)
    peak = float(np.max(np.abs(samples)))
    if peak > 0.99:  # loud normalization must not clip: back off to a 0.99 peak
        samples = samples * (0.99 / peak)
    samples = samples.astype(np.float32)
    pcm = np.round(np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    return Clip(samples, CLIP_RATE, hashlib.sha256(pcm.tobytes()).hexdigest(), trimmed, source, chosen,
                duration if chosen is not None else None, context)


def _around(samples: np.ndarray, a: int, b: int, n: int) -> np.ndarray:
    """At most ``n`` samples of ``samples`` centred on ``[a, b)`` (shifted inwards at the ends), a copy."""
    if len(samples) <= n:
        return samples.copy()
    start = min(max((a + b) // 2 - n // 2, 0), len(samples) - n)
    return samples[start:start + n].copy()


def best_window(samples: np.ndarray, clipped: np.ndarray | None = None, min_s: float = WINDOW_MIN_S,
                max_s: float = WINDOW_MAX_S) -> Window:
    """The cleanest stretch of ``min_s``-``max_s`` seconds of a 24 kHz recording, cut in pauses.

    Every window of ``max_s``, their mean and ``min_s`` seconds starting on a 100 ms grid is scored on
    20 ms frames: its speech frames'
    median level above its noise floor (10th percentile of its frame levels: the pauses; signal-to-noise
    ratio, up to 30 dB counted), its share of voiced frames (normalised autocorrelation above 0.5 at a
    pitch period of 2.5-14 ms), its share of clipped samples (``clipped``: per-sample counts) and, a
    little, its length.
    The best window's ends then move to the quietest frame within 0.5 s inwards, so no word is cut,
    as long as at least ``min_s`` remains.
    """
    x = np.asarray(samples, np.float32)
    n = len(x) // FRAME
    frames = x[: n * FRAME].reshape(n, FRAME).astype(np.float64)
    level = np.maximum(20 * np.log10(np.sqrt(np.mean(frames ** 2, axis=1)) + 1e-9), -90.0)
    voiced = _voiced(frames)
    clip_f = (np.zeros(n) if clipped is None else
              np.asarray(clipped, np.float64)[: n * FRAME].reshape(n, FRAME).sum(axis=1))
    step = 5  # 100 ms
    best: tuple[float, int, int] | None = None
    count = 0
    for span in sorted({min(n, round(x * 50)) for x in (max_s, (min_s + max_s) / 2, min_s)}, reverse=True):
        for a in range(0, max(n - span, 0) + 1, step):
            snr, speech = _snr(level[a: a + span])
            if speech < 0.3:
                continue  # mostly pause or noise
            clip_share = clip_f[a: a + span].sum() / (span * FRAME)
            # a longer window is worth a little (more speech to learn from), a cleaner one much more
            score = (min(snr, 30.0) / 30.0 + voiced[a: a + span].mean() - 200.0 * clip_share
                     + 0.1 * span / (max_s * 50))
            count += 1
            if best is None or score > best[0]:
                best = (score, a, span)
    if best is None:  # no window is mostly speech: take the loudest
        span = min(n, round(max_s * 50))
        a = int(np.argmax(np.convolve(level, np.ones(span), "valid")))
        count = 1
    else:
        _, a, span = best
    b = a + span
    reach, min_frames = 25, round(min_s * 50)  # move each end to a pause within 0.5 s, keeping >= min_s
    a2 = a + int(np.argmin(level[a: a + reach]))
    b2 = b - reach + int(np.argmin(level[b - reach: b])) + 1 if b - reach > a2 else b
    if b2 - a2 < min_frames:
        a2, b2 = a, b
    snr, _ = _snr(level[a2:b2])
    return Window(a2 * FRAME / CLIP_RATE, b2 * FRAME / CLIP_RATE, snr, float(voiced[a2:b2].mean()),
                  float(clip_f[a2:b2].sum() / max((b2 - a2) * FRAME, 1)), count)


def _snr(level: np.ndarray) -> tuple[float, float]:
    """(dB of the median speech frame over the window's noise floor, share of speech frames): the floor
    is the 10th percentile of frame levels (the pauses), speech is what lies 10 dB or more above it."""
    floor = float(np.percentile(level, 10))
    speech = level > floor + 10.0
    return (float(np.median(level[speech])) - floor if speech.any() else 0.0), float(speech.mean())


def _voiced(frames: np.ndarray) -> np.ndarray:
    """Per 20 ms frame: 1.0 where the normalised autocorrelation peaks above 0.5 at a 2.5-14 ms lag."""
    f = frames - frames.mean(axis=1, keepdims=True)
    spec = np.fft.rfft(f, 2 * FRAME, axis=1)
    ac = np.fft.irfft(np.abs(spec) ** 2, axis=1)[:, :FRAME]
    lo, hi = CLIP_RATE // 400, CLIP_RATE // 70  # 70-400 Hz
    peak = ac[:, lo:hi].max(axis=1) / np.maximum(ac[:, 0], 1e-12)
    return (peak > 0.5).astype(np.float64)


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
                             f"{MAX_RAW_S / 60:.0f} minutes (its cleanest 5-8 s of speech is used)")
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
