"""What synthesis returns: streamed :class:`AudioChunk` s and the collected :class:`Result`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .energy.accounting import EnergyReport
from .runtime import audio as audio_io
from .text.lexicon import RuleHit
from .text.normalize import Skipped

__all__ = ["SegmentInfo", "AudioChunk", "Result", "word_timings", "character_alignment"]


@dataclass(frozen=True)
class SegmentInfo:
    index: int
    text: str
    lang: str
    phonemes: str
    n_ids: int
    start_s: float  # where this segment's audio starts in the output
    duration_s: float  # speech plus the pause after it
    synth_s: float  # model compute time (wall, inside the worker)
    backend: str
    voice: str
    pause_s: float = 0.0  # the silence at the end of ``duration_s`` (speech ends at start_s + duration_s - pause_s)
    marks: tuple[str, ...] = ()  # SSML <mark> names at the start of this segment
    end_marks: tuple[str, ...] = ()  # ... and at the end of its speech
    # (spoken word, index of the written word, start s, end s) in the output, per spoken word
    spoken_words: tuple[tuple[str, int, float, float], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class AudioChunk:
    """One streamed piece of audio (one segment, with its trailing pause) at the output rate."""

    audio: np.ndarray
    sample_rate: int
    segment: SegmentInfo
    words: list[dict[str, Any]] = field(default_factory=list)  # the written words this chunk starts

    @property
    def duration_s(self) -> float:
        return len(self.audio) / self.sample_rate


@dataclass
class Result:
    audio: np.ndarray
    sample_rate: int
    segments: list[SegmentInfo]
    rules_fired: list[RuleHit]
    skipped: list[Skipped]
    timings: dict[str, float]
    voice: str
    backend: str
    extra: dict[str, Any] = field(default_factory=dict)
    energy: EnergyReport | None = None  # joules, kWh, gCO2e, method, per-device breakdown
    tier: str = "standard"
    written: list[tuple[str, int | None, int | None]] = field(default_factory=list)  # the input's words

    @property
    def words(self) -> list[dict[str, Any]]:
        """Each written word of the input with its time in the audio: ``{"word", "start", "end",
        "char_start", "char_end"}`` (seconds; character offsets in the input). Words that say nothing
        (a symbol that was skipped) are absent."""
        return word_timings(self.segments, self.written)

    @property
    def duration_s(self) -> float:
        return len(self.audio) / self.sample_rate

    @property
    def marks(self) -> list[dict[str, Any]]:
        """SSML ``<mark>`` names with their time in the audio: ``[{"name": "m1", "time_s": 1.52}, ...]``."""
        out = []
        for seg in self.segments:
            out += [{"name": n, "time_s": seg.start_s} for n in seg.marks]
            out += [{"name": n, "time_s": round(seg.start_s + seg.duration_s - seg.pause_s, 4)} for n in seg.end_marks]
        return out

    @property
    def rtf(self) -> float:
        """Wall seconds per audio second (lower is faster)."""
        return self.timings.get("total_s", 0.0) / self.duration_s if self.duration_s else 0.0

    def to_bytes(self, format: str = "wav", subtype: str | None = None) -> bytes:
        return audio_io.encode(self.audio, self.sample_rate, format, subtype)

    def save(self, path: str | Path, format: str | None = None, subtype: str | None = None) -> Path:
        """Write atomically; the format comes from ``format`` or the file extension."""
        return audio_io.write(path, self.audio, self.sample_rate, format, subtype)

    def report(self) -> dict[str, Any]:
        """Everything but the samples, JSON-ready."""
        return {
            "duration_s": round(self.duration_s, 3), "sample_rate": self.sample_rate, "voice": self.voice,
            "backend": self.backend, "tier": self.tier, "rtf": round(self.rtf, 4), "timings": self.timings,
            "energy": self.energy.as_dict() if self.energy else None, **self.extra,
            "segments": [s.as_dict() for s in self.segments],
            "rules_fired": [h.as_dict() for h in self.rules_fired],
            "skipped": [{"position": s.position, "codepoint": s.codepoint, "reason": s.reason} for s in self.skipped],
        }


def word_timings(segments: list[SegmentInfo], written: list[tuple[str, int | None, int | None]],
                 only: set[int] | None = None) -> list[dict[str, Any]]:
    """Written-word timings from the spoken words' (a written word's span covers all it says)."""
    spans: dict[int, tuple[float, float]] = {}
    for seg in segments:
        for _, owner, start, end in seg.spoken_words:
            if only is not None and owner not in only:
                continue
            old = spans.get(owner)
            spans[owner] = (min(old[0], start), max(old[1], end)) if old else (start, end)
    out = []
    for idx in sorted(spans):
        text, cs, ce = written[idx] if idx < len(written) else ("", None, None)
        start, end = spans[idx]
        out.append({"word": text, "start": start, "end": end, "char_start": cs, "char_end": ce})
    return out


def character_alignment(text: str, words: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Per-character times for ``text`` (ElevenLabs' ``alignment``): the characters of a timed word
    share its span evenly; a character between words (a space, punctuation, a symbol that says
    nothing) spans the gap between them."""
    starts = [0.0] * len(text)
    ends = [0.0] * len(text)
    timed = sorted((w for w in words if w.get("char_start") is not None), key=lambda w: w["char_start"])
    covered = [False] * len(text)
    for w in timed:
        cs, ce = w["char_start"], min(w["char_end"], len(text))
        n = max(ce - cs, 1)
        for k in range(cs, ce):
            starts[k] = round(w["start"] + (w["end"] - w["start"]) * (k - cs) / n, 4)
            ends[k] = round(w["start"] + (w["end"] - w["start"]) * (k - cs + 1) / n, 4)
            covered[k] = True
    prev_end = 0.0
    for k in range(len(text)):
        if covered[k]:
            prev_end = ends[k]
            continue
        nxt = next((starts[j] for j in range(k + 1, len(text)) if covered[j]), prev_end)
        starts[k], ends[k] = prev_end, max(prev_end, nxt)
    return {"characters": list(text), "character_start_times_seconds": starts,
            "character_end_times_seconds": ends}
