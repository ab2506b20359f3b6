"""The Engine: frontend + voices + scheduler + backends. Streaming is the primitive; synthesize collects it.

    with Engine() as engine:
        result = engine.synthesize("Hello there.")            # Result: audio, timings, phonemes, rules
        for chunk in engine.stream("长文本……", voice="zf_xiaoxiao"):
            play(chunk.audio)

Thread-safe: any number of threads may call ``stream``/``synthesize``; segments of all requests
share one scheduler (one worker per core, single-thread sessions by default).
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future
from concurrent.futures import wait as futures_wait
from pathlib import Path
from typing import Any

import numpy as np

from .energy.accounting import EnergyAccountant, EnergyReport, EnergyTally, EnergyTotals
from .energy.carbon import CarbonFactors
from .energy.card import choose_tier
from .energy.ledger import Ledger
from .energy.meter import CpuTimeMeter, EnergyMeter, auto_meter
from .errors import EngineClosed, GreenTTSError, InputError, VoiceError
from .models.base import Backend, BackendSession
from .models.hibari import HibariBackend
from .models.kokoro import KokoroBackend
from .result import AudioChunk, Result, SegmentInfo, word_timings
from .runtime import audio as audio_io
from .runtime.scheduler import Scheduler
from .settings import TIER_BACKENDS, EngineConfig, SynthesisSettings, validated
from .text.frontend import Frontend, Plan, Segment, mostly_han
from .text.lexicon import Lexicon, RuleHit
from .text.normalize import Skipped, clean, is_han
from .text.ssml import is_ssml, parse_ssml
from .voices.enrollment import Enrollment, ProgressFn
from .voices.prosody import apply_preset, with_prosody_half
from .voices.store import Voice, VoiceStore, default_voices_dir

__all__ = ["Engine", "SynthesisStream"]

ENERGY_POLL_S = 30.0
PRIORITIES = {"interactive": 0, "bulk": 2}  # scheduler priorities: lower runs first (+1 after a first segment)
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".opus", ".mp3", ".aiff", ".aif", ".m4a"})


class _Worker:
    """Per-worker state: one lazily opened session per backend."""

    def __init__(self, backends: dict[str, Backend], threads: int, accountant: EnergyAccountant,
                 startup: EnergyTally) -> None:
        self._backends = backends
        self._threads = threads
        self._accountant = accountant
        self._startup = startup
        self._sessions: dict[tuple[str, int], BackendSession] = {}

    def session(self, backend: str, threads: int | None = None) -> BackendSession:
        """The worker's session for ``backend``; opening one is start-up energy, not the request's."""
        key = (backend, threads or self._threads)
        sess = self._sessions.get(key)
        if sess is None:
            with self._accountant.unit() as unit:
                unit.assign((self._startup, 1.0))
                sess = self._sessions[key] = self._backends[backend].new_session(key[1])
        return sess


class Engine:
    """Offline bilingual (en + zh) speech synthesis on packaged models."""

    def __init__(self, config: EngineConfig | None = None, **overrides: Any) -> None:
        self.config: EngineConfig = validated(EngineConfig, config, **overrides)
        self.voices = VoiceStore(self.config.voices_dir or default_voices_dir())
        lexicon = Lexicon()
        for path in self.config.dictionaries:
            lexicon = lexicon + Lexicon.load(path)
        self.frontend = Frontend(lexicon, self.config.max_segment_ids, self.config.first_segment_ids)
        self.backends: dict[str, Backend] = {
            "kokoro": KokoroBackend(self.config.cache_dir, self.config.kokoro_graph),
            "hibari": HibariBackend(),
        }
        self.workers = self.config.workers or os.cpu_count() or 1
        # A stream's first segment, when the engine is idle, runs alone on a session using every core.
        self.latency_threads = self.workers * self.config.threads_per_worker
        self.carbon = CarbonFactors.resolve(self.config.country, self.config.grid_gco2_per_kwh, self.config.pue)
        self.ledger = Ledger(self.config.ledger) if self.config.ledger else None
        self.accountant = EnergyAccountant(self._meter(), self.carbon)
        self.accountant.measure_idle(self.config.idle_probe_s)  # before any worker exists: truly idle
        self.startup_energy = EnergyTally()  # loading and warming models: attributed, but to no request
        # settle periodically (RAPL counters wrap) and keep the ledger's session row current
        self.accountant.start_polling(ENERGY_POLL_S, self._record_session if self.ledger else None)
        self._scheduler: Scheduler[_Worker] = Scheduler(
            self.workers, lambda i: _Worker(self.backends, self.config.threads_per_worker, self.accountant,
                                            self.startup_energy), self.config.queue_size,
            latency_workers=self.config.latency_workers, latency_priority=PRIORITIES["interactive"])
        self._closed = False
        self._lock = threading.Lock()
        self._enroller: Any = None
        self._prosody_cache: dict[tuple[str, str], np.ndarray] = {}

    def _meter(self) -> EnergyMeter:
        c = self.config
        cpu = CpuTimeMeter(c.cpu_active_watts_per_vcpu, None, c.ram_watts_per_gb, c.cpu_idle_watts_per_vcpu)
        try:
            return auto_meter(c.energy_meter, cpu=cpu)
        except Exception as exc:  # noqa: BLE001 - NVMLError, OSError, ImportError ...: one clear error
            raise InputError(f"energy_meter={c.energy_meter!r} cannot be read on this machine: {exc}") from None

    # -- lifecycle -------------------------------------------------------------------------------

    def warm_up(self, tiers: tuple[str, ...] = ("standard",)) -> float:
        """Load G2P and open + exercise a session per worker for each tier; returns seconds taken."""
        t0 = time.perf_counter()
        unknown = [t for t in tiers if t not in (*TIER_BACKENDS, "auto")]
        if unknown:
            raise InputError(f"unknown tier(s) {unknown}; choose from {', '.join(TIER_BACKENDS)} or auto")
        tiers = tuple(TIER_BACKENDS) if "auto" in tiers else tiers
        with self.accountant.unit() as unit:  # start-up energy: attributed, but to no request
            unit.assign((self.startup_energy, 1.0))
            self.frontend.warm_up()
            probe = self.frontend.phonemize("Hello.")[0].ids
            voice = self.voices.get("af_heart")  # speakable by every backend
            for tier in tiers:
                backend = TIER_BACKENDS[tier]
                self.backends[backend].load()
                self._scheduler.run_on_each_worker(
                    lambda w, b=backend, v=voice: w.session(b).synthesize(probe, v, 1.0, 0))
                if self.latency_threads > 1 and self.wait_idle():  # the fast lane's session (first segments)
                    fut = self._scheduler.try_submit_exclusive(
                        lambda w, b=backend, v=voice: w.session(b, self.latency_threads).synthesize(probe, v, 1.0, 0))
                    if fut is not None:
                        fut.result()
        if self.wait_idle():  # idle power again, now that models are resident (start-up's other half)
            self.accountant.measure_idle(self.config.idle_probe_s)
        return time.perf_counter() - t0

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._scheduler.close()
        self.accountant.stop_polling()
        if self.ledger is not None:
            self._record_session()

    def _record_session(self) -> None:
        assert self.ledger is not None
        t = self.energy()
        self.ledger.record_session(self.accountant.meter.name, t.method, t.idle_watts, t.wall_s, t.total_j,
                                   t.idle_j, t.attributed_j, t.startup_j, self.carbon.gco2e_per_kwh, self.carbon.pue)

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- public API ------------------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """Scheduler state: workers, busy workers, segments waiting."""
        return {"workers": self.workers, "busy_workers": self._scheduler.busy,
                "queue_depth": self._scheduler.queue_depth}

    def energy(self) -> EnergyTotals:
        """Energy since the engine started, per device: total = idle + attributed + in flight.

        ``attributed`` is every request's energy plus ``startup`` (loading and warming models).
        """
        return self.accountant.totals(self.startup_energy)

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Block until no segment is queued or running (e.g. after cancelling streams); False on timeout."""
        deadline = time.monotonic() + timeout
        while self._scheduler.busy or self._scheduler.queue_depth:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def list_voices(self, lang: str | None = None) -> list[dict[str, object]]:
        return self.voices.list(lang)

    def enroll(self, audio: str | Path | np.ndarray, name: str, text: str | None = None, lang: str | None = None,
               *, sample_rate: int | None = None, steps: int | None = None, background: bool = False,
               overwrite: bool = False, progress: ProgressFn | None = None,
               exclude_voices: tuple[str, ...] = ()) -> Enrollment:
        """Clone a voice from a reference clip (3 s or more; longer ones are cut to their cleanest 5-8 s) and save it as ``name`` (usable like a stock voice).

        ``audio``: a path (wav, flac, ogg, mp3) or a float array with ``sample_rate``. ``text``: what the
        clip says (else Whisper transcribes it when the ``asr`` extra is installed); it lets the speaking
        rate be matched like for like. ``lang``: "en" or "zh" (else from the text or ASR, else "en").
        The same clip with the same settings is a cache hit (instant, no model loaded). The preview is
        saved first; ``background=True`` returns right after it while refinement continues
        (``Enrollment.wait()``). Needs the ``clone`` extra unless it is a cache hit.
        """
        from .voices.clip import prepare_clip
        from .voices.enrollment import Enrollment, cache_key, run_enrollment

        if self._closed:
            raise EngineClosed("the engine is closed")
        self.voices.check_new_name(name)
        if steps is not None and not 0 <= steps <= 500:
            raise InputError(f"steps must be between 0 and 500, got {steps}")
        exclude = tuple(sorted(set(exclude_voices)))
        unknown = [v for v in exclude if v not in self.voices.names()]
        if unknown:
            raise VoiceError(f"exclude_voices names unknown stock voices: {', '.join(unknown)}")
        clip = prepare_clip(audio, sample_rate)
        from .clone.enroll import STEPS

        steps = STEPS if steps is None else steps
        key = cache_key(text, lang, steps, exclude)
        hit = self.voices.find_clip(clip.sha256, status="done", **key)
        existing = next((m for m in self.voices.enrolled() if m.get("name") == name), None)
        if hit is not None:
            if hit["name"] == name:
                return Enrollment(name, hit, cached=True)
            if existing is None or overwrite:
                table = self.voices.get(hit["name"]).table
                meta = {**hit, "copied_from": hit["name"]}
                self.voices.save(name, table, meta, overwrite=overwrite)
                return Enrollment(name, self.voices.enrolled_meta(name), cached=True)
        if existing is not None and not overwrite:
            raise VoiceError(f"an enrolled voice named {name!r} exists (from another clip or settings); "
                             "pass overwrite=True (--overwrite) or choose another name")
        job = Enrollment(name)
        args = (self, job, clip, text, lang, steps, exclude, progress, overwrite)
        if not background:
            run_enrollment(*args)
            job.wait()
            return job
        threading.Thread(target=run_enrollment, args=args, name=f"greentts-enroll-{name}", daemon=True).start()
        while job.status == "running" and not job.done():  # return once the preview is saved
            time.sleep(0.01)
        if job.error is not None:
            raise job.error
        return job

    def enroller(self) -> Any:
        """The shared :class:`greentts.clone.enroll.Enroller` (loaded on first use; needs the clone extra)."""
        with self._lock:
            if self._enroller is None:
                from .clone.enroll import Enroller

                with self.accountant.unit(2) as unit:  # loading: start-up energy
                    unit.assign((self.startup_energy, 1.0))
                    from .models.assets import kokoro_model_path

                    onnx = kokoro_model_path(self.config.cache_dir)  # the original graph: node names map weights
                    session = self.backends["kokoro"].new_session(self.latency_threads)

                    def synth(table: np.ndarray, ids: list[int], adain: np.ndarray | None = None) -> np.ndarray:
                        # the real (ONNX) path
                        voice = Voice("_enrolling", "en-us", "enrolling", "unknown", ("kokoro",), table, adain)
                        return session.synthesize(ids, voice, 1.0, 0)

                    self._enroller = Enroller(onnx, self._cache_dir(), self.frontend, self.voices,
                                              threads=self.latency_threads, synth=synth)
            return self._enroller

    def _cache_dir(self) -> Path:
        from .models.assets import default_cache_dir

        return Path(self.config.cache_dir) if self.config.cache_dir else default_cache_dir()

    def phonemize(self, text: str, **settings: Any) -> list[Segment]:
        """Run the frontend only (no weights): the segments, phonemes and ids that would be spoken."""
        s: SynthesisSettings = validated(SynthesisSettings, None, **settings)
        voice = self._voice(text, s)
        tier, _ = self._tier(text, s, voice)
        return list(self._plan(text, s, voice, self.backends[TIER_BACKENDS[tier]]))

    def stream(self, text: str, settings: SynthesisSettings | None = None, *, low_latency: bool = True,
               priority: str = "interactive", plan_ahead: bool = False, **overrides: Any) -> SynthesisStream:
        """Start synthesizing ``text``; iterate the returned stream for :class:`AudioChunk` s in order.

        Input is validated before this returns (empty text, unknown voice, bad settings raise here).
        ``low_latency`` keeps the first segment short (``EngineConfig.first_segment_ids``) so audio
        starts sooner, at the cost of one extra break in the first sentence. ``priority``:
        "interactive" segments are scheduled ahead of "bulk" ones (batch jobs); within a class, a
        request's first segment goes ahead of later segments, so short requests are not starved.
        The first segment is planned before this returns (text with nothing speakable raises
        EmptyTextError here); ``plan_ahead`` plans every segment, so that no error in the text can
        surface while audio streams (the server does this: a started response cannot change status).
        """
        if priority not in PRIORITIES:
            raise InputError(f"priority must be one of {', '.join(PRIORITIES)}, not {priority!r}")
        t0 = time.perf_counter()
        s: SynthesisSettings = validated(SynthesisSettings, settings, **overrides)
        if self._closed:
            raise EngineClosed("the engine is closed")
        voice = self._voice(text, s)
        tier, reason = self._tier(text, s, voice)
        backend = self.backends[TIER_BACKENDS[tier]]
        problem = self._cannot_speak(tier, text, s, voice) if s.tier != "auto" else None  # auto chose an able one
        if problem is not None:
            raise problem
        self._check_ssml_voices(text, s, tier)
        plan = self._plan(text, s, voice, backend, low_latency)
        stream = SynthesisStream(self, plan, voice, backend, s, t0, low_latency, tier, reason)
        stream.priority = PRIORITIES[priority]
        stream._prepare(plan_ahead)
        return stream

    def synthesize(self, text: str, settings: SynthesisSettings | None = None, *, priority: str = "interactive",
                   **overrides: Any) -> Result:
        """Synthesize all of ``text`` (collects :meth:`stream`)."""
        return self.stream(text, settings, low_latency=False, priority=priority, **overrides).collect()

    def dialogue(self, script: Any, voices: dict[str, str] | None = None, *, auto_voices: bool = False,
                 **settings: Any) -> Any:
        """A multi-speaker script -> a :class:`~greentts.jobs.dialogue.DialogueStream` of rendered turns.

        ``script``: a parsed :class:`~greentts.jobs.script.Script`, script text (``[S1] ...`` or
        ``Name: ...`` lines, or JSON), or a dict (``{"speakers": ..., "turns": [...]}``). ``voices`` maps
        speakers to voices (stock, blend or enrolled); ``auto_voices`` assigns distinct stock voices to
        speakers left unmapped (otherwise they are an error). ``settings``: fields of
        :class:`~greentts.jobs.dialogue.DialogueSettings` (gaps, loudness, sample_rate, tier).
        Iterate it for turns, ``.save(path)`` to write the mix, subtitles, timestamps and stems in
        constant memory, or ``.collect()`` for short scripts.
        """
        from .jobs.dialogue import DialogueSettings, DialogueStream
        from .jobs.script import Script, parse_script

        if self._closed:
            raise EngineClosed("the engine is closed")
        if not isinstance(script, Script):
            script = parse_script(script)
        try:
            config = DialogueSettings(**settings)
        except TypeError as exc:
            raise InputError(f"unknown dialogue setting: {exc}") from None
        return DialogueStream(self, script, voices, auto_assign=auto_voices, settings=config)

    # -- internals -------------------------------------------------------------------------------

    def _check_ssml_voices(self, text: str, s: SynthesisSettings, tier: str) -> None:
        """Every SSML <voice> must exist and be speakable by the tier (raised before any audio)."""
        if not (s.input_format == "ssml" or (s.input_format == "auto" and is_ssml(text))):
            return
        chunks, _ = parse_ssml(text, s.ssml_strict)
        backend = self.backends[TIER_BACKENDS[tier]]
        for name in {c.controls.voice for c in chunks if c.controls.voice}:
            voice = self.voices.get(name)
            if backend.name not in voice.backends:
                raise VoiceError(f"SSML <voice name={name!r}> is not available in the {tier} tier")

    def segment_voice(self, seg: Segment, default: Voice) -> Voice:
        """The voice that speaks ``seg``: its SSML <voice>, else the request's."""
        name = seg.controls.voice if seg.controls is not None else None
        return default if not name or name == default.name else self.voices.get(name)

    def _voice(self, text: str, s: SynthesisSettings) -> Voice:
        if s.voice:
            voice = self.voices.get(s.voice)
        elif s.lang == "zh" or (s.lang == "auto" and mostly_han(clean(text)[0])):
            voice = self.voices.get(self.config.default_voice_zh)
        else:
            voice = self.voices.get(self.config.default_voice_en)
        if s.prosody_from:
            voice = self._prosody_from(voice, s.prosody_from)
        if s.prosody:
            voice = apply_preset(voice, s.prosody)
        return voice

    def _prosody_from(self, voice: Voice, source: str) -> Voice:
        """``voice`` with the prosody half of another voice (by name) or of a reference clip (by path)."""
        path = Path(source).expanduser()
        is_path = path.suffix.lower() in AUDIO_SUFFIXES or "/" in source or os.sep in source
        if not is_path:
            other = self.voices.get(source)  # VoiceError names unknown voices
            return with_prosody_half(voice, other.table[:, 128:], other.name)
        from .voices.clip import prepare_clip

        clip = prepare_clip(path)  # InputError for a missing, unreadable, silent ... file
        key = (voice.name, clip.sha256)
        with self._lock:
            half = self._prosody_cache.get(key)
        if half is None:
            enroller = self.enroller()
            with self.accountant.unit(enroller.threads) as unit:
                unit.assign((self.startup_energy, 1.0))
                ref = enroller.reference(clip, None, None)
                half = enroller.prosody_half(ref, voice.table)
            with self._lock:
                self._prosody_cache[key] = half
                while len(self._prosody_cache) > 32:
                    self._prosody_cache.pop(next(iter(self._prosody_cache)))
        return with_prosody_half(voice, half, clip.sha256[:12])

    def _cannot_speak(self, tier: str, text: str, s: SynthesisSettings, voice: Voice) -> GreenTTSError | None:
        """Why ``tier`` cannot speak this request (an error to raise), or None if it can."""
        backend = self.backends[TIER_BACKENDS[tier]]
        if "zh" not in backend.languages and (s.lang == "zh" or any(is_han(c) for c in text)):
            return InputError(f"the {tier} tier ({backend.name}) speaks English only; this text contains "
                              "Chinese characters (use tier='standard')")
        if backend.name not in voice.backends:
            names = [v["name"] for v in self.voices.list() if backend.name in v["backends"]]
            return VoiceError(f"voice {voice.name!r} is not available in the {tier} tier; "
                              f"{tier} voices: {', '.join(map(str, names))}")
        return None

    def _tier(self, text: str, s: SynthesisSettings, voice: Voice) -> tuple[str, str]:
        """The tier to use and why. ``auto``: the cheapest (energy card) of the tiers that can speak it."""
        if s.tier != "auto":
            return s.tier, "requested"
        able = [t for t in TIER_BACKENDS if self._cannot_speak(t, text, s, voice) is None]
        if not able:
            raise VoiceError(f"no tier can speak voice {voice.name!r} for this text")
        return choose_tier(able, s.max_first_audio_s)

    def _plan(self, text: str, s: SynthesisSettings, voice: Voice, backend: Backend,
              low_latency: bool = False) -> Plan:
        lexicon = Lexicon.from_entries(list(s.pronunciations)) if s.pronunciations else Lexicon()
        for path in s.dictionaries:
            lexicon = lexicon + Lexicon.load(path)
        return self.frontend.plan(text, lang=s.lang, british=voice.british, lexicon=lexicon,
                                  max_ids=backend.max_ids,
                                  first_max_ids=None if low_latency else backend.max_ids,
                                  input_format=s.input_format, ssml_strict=s.ssml_strict,
                                  british_of=lambda name: self.voices.get(name).british)

    def _submit(self, seg: Segment, voice: Voice, backend: str, s: SynthesisSettings, tally: EnergyTally,
                fast_lane: bool = False, priority: int = 0,
                speed: float | None = None) -> Future[tuple[np.ndarray, float, np.ndarray | None]]:
        """Queue one segment. ``fast_lane``: if the engine is idle, run it alone on all cores (first audio).

        The segment is one unit of energy accounting, charged to ``tally`` (its request).
        """
        rate = self.backends[backend].sample_rate

        def task(worker: _Worker, threads: int | None = None) -> tuple[np.ndarray, float, np.ndarray | None]:
            session = worker.session(backend, threads)  # opening one is start-up energy, outside this unit
            with self.accountant.unit(threads or self.config.threads_per_worker) as unit:
                t = time.perf_counter()
                timed = getattr(session, "synthesize_timed", None)
                if timed is not None:
                    audio, durations = timed(seg.ids, voice, speed or s.speed, s.seed + seg.index)
                else:
                    audio, durations = session.synthesize(seg.ids, voice, speed or s.speed, s.seed + seg.index), None
                unit.assign((tally, len(audio) / rate))
                return audio, time.perf_counter() - t, durations

        if fast_lane and self.latency_threads > 1:
            fut = self._scheduler.try_submit_exclusive(lambda w: task(w, self.latency_threads))
            if fut is not None:
                return fut
        return self._scheduler.submit(task, priority=priority + (0 if seg.index == 0 else 1))


class SynthesisStream:
    """An in-order iterator of :class:`AudioChunk` for one request. ``close()`` cancels pending work.

    After iteration: ``segments``, ``rules_fired``, ``skipped``, ``timings`` and ``energy`` (an
    :class:`~greentts.energy.EnergyReport`: joules, kWh, gCO2e, method, per device) describe the request.
    ``tier`` is the tier that spoke it and ``tier_reason`` why (``tier='auto'`` explains its choice).
    """

    def __init__(self, engine: Engine, plan: Plan, voice: Voice, backend: Backend, settings: SynthesisSettings,
                 t0: float, low_latency: bool = False, tier: str = "standard", tier_reason: str = "requested") -> None:
        self.low_latency = low_latency
        self.priority = 0  # scheduler priority base (Engine.stream sets it from "interactive" / "bulk")
        self.tier = tier
        self.tier_reason = tier_reason
        self.energy: EnergyReport | None = None  # set when the stream ends, also when closed early
        self.status = "running"  # then complete | cancelled | error
        self._tally = EnergyTally()
        self._sentences = 0
        self._words_started: set[int] = set()
        self._engine = engine
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
            with self._engine.accountant.unit() as unit:
                unit.assign((self._tally, 1.0))
                self._plan.prepare(whole)
        finally:
            self.timings["frontend_s"] += time.perf_counter() - t

    def _next_segment(self, segments: Iterator[Segment]) -> Segment | None:
        t = time.perf_counter()
        try:
            with self._engine.accountant.unit() as unit:  # the frontend's work is this request's too
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
        eng = self._engine
        self.status = status
        self._tally.audio_s = position
        self.energy = eng.accountant.report(self._tally)
        if eng.ledger is None:
            return
        langs = {seg.lang for seg in self.segments}
        e = self.energy
        eng.ledger.record({
            "voice": self.voice.name, "backend": self.backend.name, "tier": self.tier,
            "lang": langs.pop() if len(langs) == 1 else "mixed", "chars": sum(len(x.text) for x in self.segments),
            "sentences": max(1, self._sentences), "segments": len(self.segments), "audio_s": position,
            "wall_s": self.timings.get("total_s", 0.0), "status": status, "joules": e.joules, "kwh": e.kwh, "gco2e": e.gco2e,
            "method": e.method, "devices": e.devices, "gco2e_per_kwh": e.gco2e_per_kwh, "pue": e.pue,
            "grid": e.grid})

    def _run(self) -> Iterator[AudioChunk]:
        eng, s = self._engine, self.settings
        native = self.backend.sample_rate
        resample = audio_io.StreamResampler(native, self.sample_rate)
        lookahead = eng.config.lookahead or 2 * eng.workers
        segments = iter(self._plan)
        window: deque[tuple[Segment, Future[tuple[np.ndarray, float]]]] = deque()
        gain: float | None = None
        after_break = False
        position = 0.0
        status = "cancelled"
        try:
            seg = self._next_segment(segments)
            while seg is not None or window:
                while seg is not None and len(window) < lookahead:
                    fast = self.low_latency and seg.index == 0
                    window.append((seg, eng._submit(seg, eng.segment_voice(seg, self.voice), self.backend.name, s,
                                                    self._tally, fast, self.priority, _model_speed(seg, s.speed))))
                    seg = self._next_segment(segments)
                current, fut = window.popleft()
                speech, synth_s, durations = fut.result()
                t = time.perf_counter()
                last = seg is None and not window
                with eng.accountant.unit() as unit:
                    unit.assign((self._tally, 1.0))
                    rendered = len(speech)
                    speech = _apply_controls(speech, current, native)
                    explicit = current.pause is not None and current.pause > 0
                    lead = 0
                    if explicit or after_break:  # an SSML <break> is the whole silence: trim the model's own
                        speech, lead = _trim_silence(speech, native, lead=after_break, trail=explicit)
                    after_break = explicit
                    words = _word_times(current, durations, rendered, speech, lead, native, position)
                    if s.loudness_lufs is not None:
                        g = audio_io.loudness_gain(speech, native, s.loudness_lufs)
                        gain = g if gain is None or len(speech) >= 0.4 * native else gain
                        speech = speech * gain
                    pause = 0.0 if last else current.pause_s * s.pause_scale / s.speed
                    if current.pause is not None:  # an SSML <break>: its time exactly
                        pause = 0.0 if last else current.pause
                    out = resample(np.concatenate([speech, audio_io.silence(pause, native)]), last=last)
                self.timings["post_s"] += time.perf_counter() - t
                self.timings["synth_s"] += synth_s
                info = SegmentInfo(current.index, current.text, current.lang, current.phonemes, len(current.ids),
                                   round(position, 4), round(len(out) / self.sample_rate, 4), round(synth_s, 4),
                                   self.backend.name, eng.segment_voice(current, self.voice).name, round(pause, 4),
                                   current.marks, current.end_marks, words)
                position += len(out) / self.sample_rate
                self.segments.append(info)
                if "first_audio_s" not in self.timings:
                    self.timings["first_audio_s"] = time.perf_counter() - self._t0
                self.timings["total_s"] = time.perf_counter() - self._t0
                if last:
                    self._finish(position, "complete")
                starts = {w[1] for w in words} - self._words_started
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
