"""One request's stream: segments in flight on the scheduler, post-processed and yielded in order.

The stream never sees the engine: it gets a :class:`StreamRuntime` (a submit callable, the voice of a
segment, the accountant, the ledger's record function, the lookahead window), so it can be driven by
any core that provides those.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..energy.accounting import EnergyAccountant, EnergyReport, EnergyTally
from ..models.base import Backend
from ..result import AudioChunk, Result, SegmentInfo, word_timings
from ..runtime import audio as audio_io
from ..settings import SynthesisSettings
from ..text.frontend import Plan, Segment
from ..text.lexicon import RuleHit
from ..text.normalize import Skipped
from ..voice import Voice

__all__ = ["StreamRuntime", "SynthesisStream", "SegmentOutput"]

SegmentOutput = tuple[np.ndarray, float, "np.ndarray | None"]  # audio, synthesis seconds, per-token frames


class SubmitFn(Protocol):
    def __call__(self, seg: Segment, voice: Voice, backend: str, settings: SynthesisSettings, tally: EnergyTally,
                 fast_lane: bool, priority: int, speed: float) -> Future[SegmentOutput]: ...


@dataclass(frozen=True)
class StreamRuntime:
    """What a stream needs from the core that runs it."""

    submit: SubmitFn  # queue one segment as a unit of energy charged to the tally
    voice_of: Callable[[Segment, Voice], Voice]  # the voice that speaks a segment (its SSML <voice>, else the request's)
    accountant: EnergyAccountant
    record: Callable[[dict[str, Any]], None] | None  # the ledger's request record, if there is a ledger
    lookahead: int  # segments in flight per stream


class SynthesisStream:
    """An in-order iterator of :class:`AudioChunk` for one request. ``close()`` cancels pending work.

    After iteration: ``segments``, ``rules_fired``, ``skipped``, ``timings`` and ``energy`` (an
    :class:`~greentts.energy.EnergyReport`: joules, kWh, gCO2e, method, per device) describe the request.
    ``tier`` is the tier that spoke it and ``tier_reason`` why (``tier='auto'`` explains its choice).
    """

    def __init__(self, runtime: StreamRuntime, plan: Plan, voice: Voice, backend: Backend,
                 settings: SynthesisSettings, t0: float, low_latency: bool = False, tier: str = "standard",
                 tier_reason: str = "requested", priority: int = 0) -> None:
        self.low_latency = low_latency
        self.priority = priority  # scheduler priority base (0 "interactive", 2 "bulk")
        self.tier = tier
        self.tier_reason = tier_reason
        self.energy: EnergyReport | None = None  # set when the stream ends, also when closed early
        self.status = "running"  # then complete | cancelled | error
        self._tally = EnergyTally()
        self._sentences = 0
        self._words_started: set[int] = set()
        self._gain: float | None = None  # loudness gain, kept from the last segment long enough to measure
        self._after_break = False  # the previous segment ended in an SSML <break>
        self._rt = runtime
        self._plan = plan
        self.voice = voice
        self.backend = backend
        self.settings = settings
        self.sample_rate = settings.sample_rate or backend.sample_rate
        self.segments: list[SegmentInfo] = []
        self.timings: dict[str, float] = {"frontend_s": 0.0, "synth_s": 0.0, "post_s": 0.0}
        self._t0 = t0
        self._gen = self._run()

    @property
    def words(self) -> list[dict[str, Any]]:
        """Timed written words of the audio produced so far (see :attr:`Result.words`)."""
        return word_timings(self.segments, self._plan.words)

    @property
    def skipped(self) -> list[Skipped]:
        return self._plan.skipped

    @property
    def rules_fired(self) -> list[RuleHit]:
        return self._plan.rules_fired

    def __iter__(self) -> Iterator[AudioChunk]:
        return self

    def __next__(self) -> AudioChunk:
        return next(self._gen)

    def close(self) -> None:
        self._gen.close()

    def __enter__(self) -> SynthesisStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def collect(self) -> Result:
        """Run to the end and return the whole :class:`Result`."""
        parts = [chunk.audio for chunk in self]
        audio = np.concatenate(parts) if parts else np.zeros(0, np.float32)
        return Result(audio, self.sample_rate, self.segments, self.rules_fired, self.skipped, dict(self.timings),
                      self.voice.name, self.backend.name, energy=self.energy, tier=self.tier,
                      extra={"tier_reason": self.tier_reason, "sentences": max(1, self._sentences)},
                      written=self._plan.words)

    # -- the loop --------------------------------------------------------------------------------

    def _prepare(self, whole: bool) -> None:
        """Plan the first (``whole``: every) segment now, as this request's frontend work."""
        t = time.perf_counter()
        try:
            with self._rt.accountant.unit(part="frontend") as unit:
                unit.assign((self._tally, 1.0))
                self._plan.prepare(whole)
        finally:
            self.timings["frontend_s"] += time.perf_counter() - t

    def _next_segment(self, segments: Iterator[Segment]) -> Segment | None:
        t = time.perf_counter()
        try:
            with self._rt.accountant.unit(part="frontend") as unit:  # the frontend's work is this request's too
                unit.assign((self._tally, 1.0))
                seg = next(segments)
            if seg.end in ("sentence", "paragraph"):
                self._sentences += 1
            return seg
        except StopIteration:
            return None
        finally:
            self.timings["frontend_s"] += time.perf_counter() - t

    def _finish(self, position: float, status: str) -> None:
        """The request has ended (``complete`` | ``cancelled`` | ``error``): fix its energy report, record it."""
        self.status = status
        self._tally.audio_s = position
        self.energy = self._rt.accountant.report(self._tally)
        if self._rt.record is None:
            return
        langs = {seg.lang for seg in self.segments}
        e = self.energy
        self._rt.record({
            "voice": self.voice.name, "backend": self.backend.name, "tier": self.tier,
            "lang": langs.pop() if len(langs) == 1 else "mixed", "chars": sum(len(x.text) for x in self.segments),
            "sentences": max(1, self._sentences), "segments": len(self.segments), "audio_s": position,
            "wall_s": self.timings.get("total_s", 0.0), "status": status, "joules": e.joules, "kwh": e.kwh, "gco2e": e.gco2e,
            "method": e.method, "devices": e.devices, "gco2e_per_kwh": e.gco2e_per_kwh, "pue": e.pue,
            "grid": e.grid, "cache": e.cache, "avoided_j": e.avoided_joules, "parts": e.parts})

    def _run(self) -> Iterator[AudioChunk]:
        rt, s = self._rt, self.settings
        resample = audio_io.StreamResampler(self.backend.sample_rate, self.sample_rate)
        segments = iter(self._plan)
        window: deque[tuple[Segment, Future[SegmentOutput]]] = deque()
        position, status = 0.0, "cancelled"
        try:
            seg = self._next_segment(segments)
            while seg is not None or window:
                while seg is not None and len(window) < rt.lookahead:
                    following = None if self.low_latency else self._next_segment(segments)
                    # the fast lane (every core, if the engine is idle) takes a low-latency stream's first
                    # segment, and the only segment of a whole-text request: nothing else could use the cores
                    fast = seg.index == 0 and (self.low_latency or following is None)
                    window.append((seg, rt.submit(seg, rt.voice_of(seg, self.voice), self.backend.name, s,
                                                  self._tally, fast, self.priority, _model_speed(seg, s.speed))))
                    seg = self._next_segment(segments) if self.low_latency else following
                current, fut = window.popleft()
                speech, synth_s, durations = fut.result()
                last = seg is None and not window
                out, info = self._post(current, speech, synth_s, durations, position, last, resample)
                position += len(out) / self.sample_rate
                if last:
                    self._finish(position, "complete")
                starts = {w[1] for w in info.spoken_words} - self._words_started
                self._words_started |= starts
                yield AudioChunk(out.astype(np.float32, copy=False), self.sample_rate, info,
                                 word_timings([info], self._plan.words, starts))
        except BaseException as exc:
            status = "cancelled" if isinstance(exc, GeneratorExit) else "error"
            raise
        finally:
            running = [fut for _, fut in window if not fut.cancel()]
            if self.energy is None:  # closed early or failed: report what was spent, once the work stops
                futures_wait(running, timeout=60)
                self._finish(position, status)

    def _post(self, current: Segment, speech: np.ndarray, synth_s: float, durations: np.ndarray | None,
              position: float, last: bool, resample: audio_io.StreamResampler) -> tuple[np.ndarray, SegmentInfo]:
        """One rendered segment -> output samples (controls, break trimming, loudness, pause, rate) and
        its :class:`SegmentInfo`; charged to this request."""
        s, native = self.settings, self.backend.sample_rate
        t = time.perf_counter()
        with self._rt.accountant.unit(part="post") as unit:
            unit.assign((self._tally, 1.0))
            rendered = len(speech)
            speech = _apply_controls(speech, current, native)
            explicit = current.pause is not None and current.pause > 0
            lead = 0
            if explicit or self._after_break:  # an SSML <break> is the whole silence: trim the model's own
                speech, lead = _trim_silence(speech, native, lead=self._after_break, trail=explicit)
            self._after_break = explicit
            words = _word_times(current, durations, rendered, speech, lead, native, position)
            if s.loudness_lufs is not None:
                g = audio_io.loudness_gain(speech, native, s.loudness_lufs)
                self._gain = g if self._gain is None or len(speech) >= 0.4 * native else self._gain
                speech = speech * self._gain
            pause = 0.0 if last else current.pause_s * s.pause_scale / s.speed
            if current.pause is not None:  # an SSML <break>: its time exactly
                pause = 0.0 if last else current.pause
            out = resample(np.concatenate([speech, audio_io.silence(pause, native)]), last=last)
        self.timings["post_s"] += time.perf_counter() - t
        self.timings["synth_s"] += synth_s
        info = SegmentInfo(current.index, current.text, current.lang, current.phonemes, len(current.ids),
                           round(position, 4), round(len(out) / self.sample_rate, 4), round(synth_s, 4),
                           self.backend.name, self._rt.voice_of(current, self.voice).name, round(pause, 4),
                           current.marks, current.end_marks, words)
        self.segments.append(info)
        if "first_audio_s" not in self.timings:
            self.timings["first_audio_s"] = time.perf_counter() - self._t0
        self.timings["total_s"] = time.perf_counter() - self._t0
        return out, info


def _model_speed(seg: Segment, speed: float) -> float:
    """The model's speed for ``seg``: the request's, times SSML rate, divided by SSML pitch (a pitch
    factor f is rendered f times longer, then resampled f times faster: same length, pitch x f)."""
    c = seg.controls
    return speed if c is None else speed * c.rate / c.pitch


def _apply_controls(speech: np.ndarray, seg: Segment, rate: int) -> np.ndarray:
    """SSML pitch (resampling the longer rendering back to length) and volume (gain in dB, clipped)."""
    c = seg.controls
    if c is None:
        return speech
    if abs(c.pitch - 1.0) > 1e-3 and len(speech):
        import soxr

        speech = soxr.resample(speech.astype(np.float32), rate * c.pitch, rate, quality="HQ")
    if c.volume_db:
        speech = np.clip(speech * 10 ** (c.volume_db / 20), -1.0, 1.0) if c.volume_db > -100 else speech * 0.0
    return speech.astype(np.float32, copy=False)


def _trim_silence(speech: np.ndarray, rate: int, lead: bool, trail: bool,
                  margin_s: float = 0.04) -> tuple[np.ndarray, int]:
    """``speech`` without the model's leading/trailing near-silence (below -40 dB of its peak), keeping
    ``margin_s`` so that no onset or release is cut; and how many samples were cut from the start."""
    if not len(speech):
        return speech, 0
    loud = np.flatnonzero(np.abs(speech) > 0.01 * float(np.abs(speech).max()))
    if not len(loud):
        return speech, 0
    margin = int(margin_s * rate)
    start = max(0, loud[0] - margin) if lead else 0
    end = min(len(speech), loud[-1] + margin) if trail else len(speech)
    return speech[start:end], int(start)


FRAME_SAMPLES = 600  # Kokoro renders 600 samples (25 ms at 24 kHz) per duration frame


def _word_times(seg: Segment, durations: np.ndarray | None, rendered: int, speech: np.ndarray, lead: int, rate: int,
                position: float) -> tuple[tuple[str, int, float, float], ...]:
    """(spoken word, written word index, start s, end s) in the output for each spoken word of ``seg``.

    From the model's per-token durations, scaled for pitch resampling (``rendered`` samples became
    ``len(speech) + lead``), less the ``lead`` samples trimmed, plus where the segment starts
    (``position``). Then each word is fitted to the sound: the decoder's onsets come about
    ONSET_LAG_S after its frames, and a phrase-final sound's frames run on into the silence after it,
    so a word's end is pulled back to its last frame louder than -34 dB of the segment's peak."""
    if durations is None or not seg.words or len(durations) != len(seg.ids) + 2 or not len(speech):
        return ()
    frames = np.concatenate([[0], np.cumsum(durations)])
    scale = (len(speech) + lead) / max(rendered, 1)
    hop = int(ENVELOPE_HOP_S * rate)
    n = len(speech) // hop
    env = np.sqrt(np.mean(speech[: n * hop].reshape(n, hop) ** 2, axis=1)) if n else np.zeros(0)
    loud = env > LOUD_FRACTION * (env.max() if n else 1.0)
    lag = int(ONSET_LAG_S * rate)
    spans = []
    for spoken, owner, a, b in seg.words:
        start = int(frames[a + 1] * FRAME_SAMPLES * scale) - lead - lag
        end = int(frames[b + 1] * FRAME_SAMPLES * scale) - lead - lag
        spans.append((spoken, owner, min(max(start, 0), len(speech)), min(max(end, 0), len(speech))))
    out = []
    for k, (spoken, owner, start, end) in enumerate(spans):
        limit = spans[k + 1][2] if k + 1 < len(spans) else len(speech)  # the next word's start
        i, j = start // hop, max(start // hop + 1, -(-end // hop))
        hits = np.flatnonzero(loud[i:j])
        if len(hits):
            start = max(start, (i + int(hits[0])) * hop - hop)
            last = i + int(hits[-1])
            if last == j - 1:  # still sounding at its last frame: the sound runs on past the frames
                while last + 1 < len(loud) and loud[last + 1] and (last + 1) * hop < limit:
                    last += 1
            end = min(max(end, (last + 1) * hop) if last >= j - 1 else end, (last + 2) * hop, max(limit, start))
        out.append((spoken, owner, round(position + start / rate, 4), round(position + max(end, start) / rate, 4)))
    return tuple(out)


ONSET_LAG_S = 0.04
ENVELOPE_HOP_S = 0.005
LOUD_FRACTION = 0.02  # -34 dB of the segment's loudest 5 ms
