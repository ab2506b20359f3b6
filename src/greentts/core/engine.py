"""The engine core: frontend + voices + scheduler + backends + energy. Streaming is the primitive.

``prepare(text, settings)`` is the one place where a request's voice, language, tier, plan and output
rate are decided; ``stream(prepared)`` runs it (see :mod:`greentts.core.stream`); ``synthesize``
collects a stream. Enrollment, dialogue and clip analysis live above the core
(:class:`greentts.Engine` adds them). Thread-safe: any number of threads may prepare and stream;
segments of all requests share one scheduler (one worker per core, single-thread sessions by default).
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..energy.accounting import EnergyAccountant, EnergyTally, EnergyTotals
from ..energy.carbon import CarbonFactors
from ..energy.ledger import Ledger
from ..energy.meter import CpuTimeMeter, EnergyMeter, auto_meter
from ..errors import EngineClosed, InputError
from ..models.assets import default_cache_dir
from ..models.base import Backend, BackendSession
from ..models.hibari import HibariBackend
from ..models.kokoro import KokoroBackend
from ..result import Result
from ..runtime.scheduler import Scheduler
from ..settings import TIER_BACKENDS, EngineConfig, SynthesisSettings, validated
from ..text.frontend import Frontend, Plan, Segment
from ..text.lexicon import Lexicon
from ..voice import Voice
from ..voices.store import VoiceStore, default_voices_dir
from .audio_cache import SegmentCache
from .policy import RequestPolicy
from .stream import SegmentOutput, StreamRuntime, SynthesisStream

__all__ = ["EngineCore", "Prepared"]

ENERGY_POLL_S = 30.0
PRIORITIES = {"interactive": 0, "bulk": 2}  # scheduler priorities: lower runs first (+1 after a first segment)
_Core = TypeVar("_Core", bound="EngineCore")


@dataclass(frozen=True)
class Prepared:
    """A request decided: what :meth:`EngineCore.stream` runs. Built only by :meth:`EngineCore.prepare`."""

    text: str
    settings: SynthesisSettings
    voice: Voice
    tier: str
    tier_reason: str
    backend: Backend
    plan: Plan
    sample_rate: int  # the output rate
    low_latency: bool
    priority: int
    t0: float  # when the request arrived (perf_counter), for first-audio and total times


class _Worker:
    """Per-worker state: lazily opened sessions, one per (backend, threads). Workers given the same
    ``shared`` dict get the same session for the same key, so the weights (and onnxruntime's prepacked
    copies of them) are held once: ``run`` is thread-safe, and a 1-thread session runs each call on the
    calling thread."""

    def __init__(self, backends: dict[str, Backend], threads: int, accountant: EnergyAccountant,
                 startup: EnergyTally, shared: dict[tuple[str, int], BackendSession] | None = None,
                 lock: threading.Lock | None = None) -> None:
        self._backends = backends
        self._threads = threads
        self._accountant = accountant
        self._startup = startup
        self._sessions: dict[tuple[str, int], BackendSession] = {} if shared is None else shared
        self._lock = lock or threading.Lock()

    def session(self, backend: str, threads: int | None = None) -> BackendSession:
        """The session for ``backend``; opening one is start-up energy, not the request's."""
        key = (backend, threads or self._threads)
        sess = self._sessions.get(key)
        if sess is None:
            with self._lock:  # opened once, even when several workers ask at the same moment
                sess = self._sessions.get(key)
                if sess is None:
                    with self._accountant.unit() as unit:
                        unit.assign((self._startup, 1.0))
                        sess = self._sessions[key] = self._backends[backend].new_session(key[1])
        return sess


class EngineCore:
    """Offline bilingual (en + zh) speech synthesis on packaged models: the request path."""

    def __init__(self, config: EngineConfig | None = None, **overrides: Any) -> None:
        self.config: EngineConfig = validated(EngineConfig, config, **overrides)
        self.voices = VoiceStore(self.config.voices_dir or default_voices_dir())
        lexicon = Lexicon()
        for path in self.config.dictionaries:
            lexicon = lexicon + Lexicon.load(path)
        self.frontend = Frontend(lexicon, self.config.max_segment_ids, self.config.first_segment_ids,
                                 compact=self.config.compact_frontend, cache_dir=self.config.cache_dir)
        self.backends: dict[str, Backend] = {"kokoro": self._kokoro(), "hibari": HibariBackend()}
        self.workers = self.config.workers or os.cpu_count() or 1
        # The fast lane: when the engine is idle, a stream's first segment (or a whole request's only one)
        # runs alone on a session using every core.
        self.latency_threads = self.workers * self.config.threads_per_worker
        # (not on a GPU: there the batcher, not a session's thread count, decides the speed)
        self.fast_lane = self.config.fast_lane and self.latency_threads > 1 and self.config.device == "cpu"
        self.carbon = CarbonFactors.resolve(self.config.country, self.config.grid_gco2_per_kwh, self.config.pue)
        self.ledger = Ledger(self.config.ledger) if self.config.ledger else None
        self.accountant = EnergyAccountant(self._meter(), self.carbon)
        self.accountant.measure_idle(self.config.idle_probe_s)  # before any worker exists: truly idle
        self.startup_energy = EnergyTally()  # loading and warming models: attributed, but to no request
        # settle periodically (RAPL counters wrap) and keep the ledger's session row current
        self.accountant.start_polling(ENERGY_POLL_S, self._record_session if self.ledger else None)
        # a latency worker (first segments only) speaks on regular worker i's sessions: weights held once
        # for the two; regular workers keep their own (one session run from two busy workers costs ~7 %)
        pools: list[dict[tuple[str, int], BackendSession]] = [{} for _ in range(self.workers)]
        locks = [threading.Lock() for _ in range(self.workers)]
        share = self.config.share_sessions
        self._scheduler: Scheduler[_Worker] = Scheduler(
            self.workers, lambda i: _Worker(self.backends, self.config.threads_per_worker, self.accountant,
                                            self.startup_energy, pools[i % self.workers] if share else None,
                                            locks[i % self.workers]), self.config.queue_size,
            latency_workers=self.config.latency_workers, latency_priority=PRIORITIES["interactive"])
        self.audio_cache = self._audio_cache()
        self.policy = RequestPolicy(self.config, self.voices, self.backends, self.frontend,
                                    lambda voice, path: self._clip_prosody(voice, path))
        self._closed = False
        self._lock = threading.Lock()

    def _kokoro(self) -> Backend:
        """int8 onnxruntime on CPU; on a CUDA device, PyTorch with dynamic batching (InputError if the
        device cannot be used here, ModelError if torch is not installed)."""
        c = self.config
        if c.device == "cpu":
            return KokoroBackend(c.cache_dir, c.kokoro_graph, c.map_weights)
        from ..models.kokoro_gpu import TorchKokoroBackend

        return TorchKokoroBackend(c.cache_dir, c.device, c.gpu_dtype, c.max_batch)

    def _audio_cache(self) -> SegmentCache | None:
        c = self.config
        if c.audio_cache_mb <= 0:
            return None
        where = c.audio_cache_dir or Path(c.cache_dir or default_cache_dir()) / "audio"
        return SegmentCache(Path(where).expanduser(), int(c.audio_cache_mb * 1e6), self.accountant)

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
                if self.fast_lane and self.wait_idle():  # the fast lane's session (first segments)
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
        for backend in self.backends.values():  # a batching backend's thread
            getattr(backend, "close", lambda: None)()
        self.accountant.stop_polling()
        if self.ledger is not None:
            self._record_session()

    def _record_session(self) -> None:
        assert self.ledger is not None
        t = self.energy()
        self.ledger.record_session(self.accountant.meter.name, t.method, t.idle_watts, t.wall_s, t.total_j,
                                   t.idle_j, t.attributed_j, t.startup_j, self.carbon.gco2e_per_kwh, self.carbon.pue)

    def __enter__(self: _Core) -> _Core:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- public API ------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    def native_rate(self, tier: str = "standard") -> int:
        """The rate the tier's model renders at: a request's output rate unless it asks for another."""
        if tier == "auto":  # every tier auto may choose; they agree today, and must for this answer
            rates = {self.backends[b].sample_rate for b in TIER_BACKENDS.values()}
            if len(rates) == 1:
                return rates.pop()
            raise InputError("tier='auto' has no single native rate here; pass sample_rate")
        if tier not in TIER_BACKENDS:
            raise InputError(f"unknown tier {tier!r}; choose from {', '.join(TIER_BACKENDS)} or auto")
        return self.backends[TIER_BACKENDS[tier]].sample_rate

    def stats(self) -> dict[str, int]:
        """Scheduler state: workers, busy workers, segments waiting."""
        return {"workers": self.workers, "busy_workers": self._scheduler.busy,
                "queue_depth": self._scheduler.queue_depth}

    def audio_cache_stats(self) -> dict[str, Any] | None:
        """The audio cache's counters (this process), size and energy avoided; None without a cache."""
        return None if self.audio_cache is None else self.audio_cache.stats()

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
        """Stock and enrolled voices with their metadata (``lang``: "en", "zh", "en-gb" ...)."""
        return self.voices.list(lang)

    def stock_voice_names(self, lang: str | None = None) -> list[str]:
        return self.voices.names(lang)

    def check_new_voice_name(self, name: str) -> None:
        """Raise VoiceError unless ``name`` may name an enrolled voice."""
        self.voices.check_new_name(name)

    def delete_voice(self, name: str) -> None:
        """Remove an enrolled voice (VoiceError for a stock voice or an unknown name)."""
        self.voices.delete(name)

    def install_voice(self, name: str, table: Any, meta: dict[str, Any], adain: Any = None) -> None:
        """Save a voice made elsewhere (a batch driver ships its enrolled voices to Ray workers)."""
        self.voices.save(name, table, meta, overwrite=True, adain=adain)

    def phonemize(self, text: str, **settings: Any) -> list[Segment]:
        """Run the frontend only (no weights): the segments, phonemes and ids that would be spoken."""
        s: SynthesisSettings = validated(SynthesisSettings, None, **settings)
        voice = self.policy.voice(text, s)
        tier, _ = self.policy.tier(text, s, voice)
        return list(self.policy.plan(text, s, voice, self.backends[TIER_BACKENDS[tier]]))

    def prepare(self, text: str, settings: SynthesisSettings | None = None, *, low_latency: bool = True,
                priority: str = "interactive", **overrides: Any) -> Prepared:
        """Decide a request: voice, language, tier, plan and output rate (errors in them raise here).

        ``low_latency`` keeps the first segment short (``EngineConfig.first_segment_ids``) so audio
        starts sooner, at the cost of one extra break in the first sentence. ``priority``:
        "interactive" segments are scheduled ahead of "bulk" ones (batch jobs); within a class, a
        request's first segment goes ahead of later segments, so short requests are not starved.
        """
        if priority not in PRIORITIES:
            raise InputError(f"priority must be one of {', '.join(PRIORITIES)}, not {priority!r}")
        t0 = time.perf_counter()
        s: SynthesisSettings = validated(SynthesisSettings, settings, **overrides)
        if self._closed:
            raise EngineClosed("the engine is closed")
        voice = self.policy.voice(text, s)
        tier, reason = self.policy.tier(text, s, voice)
        backend = self.backends[TIER_BACKENDS[tier]]
        problem = self.policy.cannot_speak(tier, text, s, voice) if s.tier != "auto" else None  # auto chose an able one
        if problem is not None:
            raise problem
        self.policy.check_ssml_voices(text, s, tier)
        plan = self.policy.plan(text, s, voice, backend, low_latency)
        return Prepared(text, s, voice, tier, reason, backend, plan, s.sample_rate or backend.sample_rate,
                        low_latency, PRIORITIES[priority], t0)

    def stream(self, text: str | Prepared, settings: SynthesisSettings | None = None, *, low_latency: bool = True,
               priority: str = "interactive", plan_ahead: bool = False, **overrides: Any) -> SynthesisStream:
        """Start synthesizing ``text`` (or a :class:`Prepared` request); iterate the returned stream for
        :class:`AudioChunk` s in order.

        Input is validated before this returns (empty text, unknown voice, bad settings raise here;
        see :meth:`prepare` for ``low_latency`` and ``priority``). The first segment is planned before
        this returns (text with nothing speakable raises EmptyTextError here); ``plan_ahead`` plans
        every segment, so that no error in the text can surface while audio streams (the server does
        this: a started response cannot change status).
        """
        p = text if isinstance(text, Prepared) else self.prepare(text, settings, low_latency=low_latency,
                                                                  priority=priority, **overrides)
        if self._closed:
            raise EngineClosed("the engine is closed")
        runtime = StreamRuntime(self._submit, self.segment_voice, self.accountant,
                                self.ledger.record if self.ledger else None, self.config.lookahead or 2 * self.workers)
        stream = SynthesisStream(runtime, p.plan, p.voice, p.backend, p.settings, p.t0,
                                 p.low_latency, p.tier, p.tier_reason, p.priority)
        stream._prepare(plan_ahead)
        return stream

    def synthesize(self, text: str, settings: SynthesisSettings | None = None, *, priority: str = "interactive",
                   **overrides: Any) -> Result:
        """Synthesize all of ``text`` (collects :meth:`stream`)."""
        return self.stream(text, settings, low_latency=False, priority=priority, **overrides).collect()

    # -- internals -------------------------------------------------------------------------------

    def segment_voice(self, seg: Segment, default: Voice) -> Voice:
        """The voice that speaks ``seg``: its SSML <voice>, else the request's."""
        name = seg.controls.voice if seg.controls is not None else None
        return default if not name or name == default.name else self.voices.get(name)

    def _clip_prosody(self, voice: Voice, path: Path) -> Voice:
        """``voice`` with the prosody half of the clip at ``path``: analysing a clip is enrollment's work,
        which the core does not do (:class:`greentts.Engine` does)."""
        raise InputError(f"prosody_from={str(path)!r}: a reference clip needs greentts.Engine (enrollment)")

    def _submit(self, seg: Segment, voice: Voice, backend: str, s: SynthesisSettings, tally: EnergyTally,
                fast_lane: bool = False, priority: int = 0,
                speed: float | None = None) -> Future[SegmentOutput]:
        """Queue one segment. ``fast_lane``: if the engine is idle (and the config allows), run it alone
        on all cores: a low-latency stream's first segment, or a whole request's only one.

        The segment is one unit of energy accounting, charged to ``tally`` (its request).
        """
        rate = self.backends[backend].sample_rate
        speed, seed = speed or s.speed, s.seed + seg.index
        cache, key = (self.audio_cache if s.audio_cache else None), ""
        if cache is not None:  # a hit is a finished future: it streams at once, nothing is rendered
            key, hit = cache.lookup(self.backends[backend], seg.ids, voice, speed, seed, tally)
            if hit is not None:
                return hit

        def task(worker: _Worker, threads: int | None = None) -> SegmentOutput:
            session = worker.session(backend, threads)  # opening one is start-up energy, outside this unit
            with self.accountant.unit(threads or self.config.threads_per_worker,
                                      part="fast_lane" if threads else "speech") as unit:
                t = time.perf_counter()
                timed = getattr(session, "synthesize_timed", None)
                if timed is not None:
                    audio, durations = timed(seg.ids, voice, speed, seed)
                else:
                    audio, durations = session.synthesize(seg.ids, voice, speed, seed), None
                unit.assign((tally, len(audio) / rate))
                out = audio, time.perf_counter() - t, durations
            if cache is not None:  # with what it cost: a later hit reports it as avoided
                cache.save(key, out, unit.joules, self.accountant.meter.method, tally)
            return out

        if fast_lane and self.fast_lane:
            fut = self._scheduler.try_submit_exclusive(lambda w: task(w, self.latency_threads))
            if fut is not None:
                return fut
        return self._scheduler.submit(task, priority=priority + (0 if seg.index == 0 else 1))
