"""Enrollment orchestration: clip -> preview voice (instant) -> refined voice, saved in the voice store.

This module is torch-free; the optimisation itself is :mod:`greentts.clone` (the ``clone`` extra),
imported only when an enrollment actually has to run (a cache hit needs nothing). The job handle,
:class:`~greentts.voices.enrollment.Enrollment`, lives with the voices.

:class:`EnrollmentService` is one engine's enrollment: the shared enroller (loaded on first use, as
start-up energy), the cache of enrolled clips, jobs in the calling thread or in the background, and the
prosody half of a reference clip (``prosody_from=clip.wav``). A job's stages (:class:`_Job`): analyse
and preview (saved at once, usable while refined), transcribe and refine, choose the closest of
refined / preview / start voice, the intelligibility guard, the pitch check, save (atomically
replacing the preview).
"""

from __future__ import annotations

import datetime as _dt
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..energy.accounting import EnergyAccountant, EnergyTally
from ..errors import GreenTTSError, InputError, VoiceError
from ..voice import Voice
from ..voices.clip import Clip, prepare_clip
from ..voices.enrollment import Enrollment, ProgressFn
from ..voices.store import VoiceStore

__all__ = ["EnrollmentService", "cache_key"]

PROSODY_CACHE = 32  # prosody halves of reference clips kept in memory


class EnrollmentService:
    """Enrollment for one engine. ``load_enroller`` builds the :class:`greentts.clone.enroll.Enroller`
    (needs the clone extra); it runs once, on first use, charged to ``startup`` energy."""

    def __init__(self, voices: VoiceStore, accountant: EnergyAccountant, startup: EnergyTally,
                 load_enroller: Callable[[], Any]) -> None:
        self.voices = voices
        self.accountant = accountant
        self.startup = startup
        self._load = load_enroller
        self._enroller: Any = None
        self._lock = threading.Lock()
        self._prosody: dict[tuple[str, str], np.ndarray] = {}

    def enroller(self) -> Any:
        """The shared enroller (loaded on first use)."""
        with self._lock:
            if self._enroller is None:
                with self.accountant.unit(2) as unit:  # loading: start-up energy
                    unit.assign((self.startup, 1.0))
                    self._enroller = self._load()
            return self._enroller

    def enroll(self, audio: str | Path | np.ndarray, name: str, text: str | None = None, lang: str | None = None,
               *, sample_rate: int | None = None, steps: int | None = None, background: bool = False,
               overwrite: bool = False, progress: ProgressFn | None = None,
               exclude_voices: tuple[str, ...] = ()) -> Enrollment:
        """See :meth:`greentts.Engine.enroll`."""
        self.voices.check_new_name(name)
        if steps is not None and not 0 <= steps <= 500:
            raise InputError(f"steps must be between 0 and 500, got {steps}")
        exclude = tuple(sorted(set(exclude_voices)))
        unknown = [v for v in exclude if v not in self.voices.names()]
        if unknown:
            raise VoiceError(f"exclude_voices names unknown stock voices: {', '.join(unknown)}")
        clip = prepare_clip(audio, sample_rate)
        from ..clone.enroll import STEPS

        steps = STEPS if steps is None else steps
        cached = self._cached(clip, name, cache_key(text, lang, steps, exclude), overwrite)
        if cached is not None:
            return cached
        job = Enrollment(name)
        run = _Job(self, job, clip, text, lang, steps, exclude, progress, overwrite).run
        if not background:
            run()
            job.wait()
            return job
        threading.Thread(target=run, name=f"greentts-enroll-{name}", daemon=True).start()
        while job.status == "running" and not job.done():  # return once the preview is saved
            time.sleep(0.01)
        if job.error is not None:
            raise job.error
        return job

    def _cached(self, clip: Clip, name: str, key: dict[str, Any], overwrite: bool) -> Enrollment | None:
        """The finished enrollment of this clip with these settings (copied under ``name`` if it was
        saved under another), or None; an existing voice of that name from another clip is an error
        unless ``overwrite``."""
        hit = self.voices.find_clip(clip.sha256, status="done", **key)
        existing = next((m for m in self.voices.enrolled() if m.get("name") == name), None)
        if hit is not None:
            if hit["name"] == name:
                return Enrollment(name, hit, cached=True)
            if existing is None or overwrite:
                table = self.voices.get(hit["name"]).table
                self.voices.save(name, table, {**hit, "copied_from": hit["name"]}, overwrite=overwrite)
                return Enrollment(name, self.voices.enrolled_meta(name), cached=True)
        if existing is not None and not overwrite:
            raise VoiceError(f"an enrolled voice named {name!r} exists (from another clip or settings); "
                             "pass overwrite=True (--overwrite) or choose another name")
        return None

    def prosody_half(self, voice: Voice, path: Path) -> tuple[np.ndarray, str]:
        """The prosody half of ``voice``'s table fitted to the clip at ``path``, and the clip's label."""
        clip = prepare_clip(path)  # InputError for a missing, unreadable, silent ... file
        key = (voice.name, clip.sha256)
        with self._lock:
            half = self._prosody.get(key)
        if half is None:
            enroller = self.enroller()
            with self.accountant.unit(enroller.threads, part="enrollment") as unit:
                unit.assign((self.startup, 1.0))
                ref = enroller.reference(clip, None, None)
                half = enroller.prosody_half(ref, voice.table)
            with self._lock:
                self._prosody[key] = half
                while len(self._prosody) > PROSODY_CACHE:
                    self._prosody.pop(next(iter(self._prosody)))
        return half, clip.sha256[:12]


class _Job:
    """One enrollment, stage by stage, in the calling thread; errors end up on the job handle."""

    def __init__(self, service: EnrollmentService, job: Enrollment, clip: Clip, text: str | None,
                 lang: str | None, steps: int, exclude: tuple[str, ...], progress: ProgressFn | None,
                 overwrite: bool) -> None:
        self.service, self.store, self.job, self.clip = service, service.voices, job, clip
        self.text, self.lang, self.steps, self.exclude, self.overwrite = text, lang, steps, exclude, overwrite
        self.tally = EnergyTally()
        self.timings: dict[str, float] = {}
        self.progress = progress
        self.t0 = time.perf_counter()

    def report(self, stage: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(stage, done, total)

    def run(self) -> None:
        job = self.job
        try:
            self.enroller = self.service.enroller()
            self.preview()
            with self.service.accountant.unit(self.enroller.threads, part="enrollment") as unit:
                unit.assign((self.tally, 1.0))
                self.refine()
                final = self.choose()
                final = self.guard(final)
                final = self.check_pitch(final)
                pace = self.pace(final)
            self.timings["total_s"] = time.perf_counter() - self.t0
            meta = self.final_meta(final, pace)
            self.store.save(job.name, final["table"], meta, overwrite=True, adain=final["adain"])
            job.meta, job.status = meta, meta["status"]
            self.report("save", 1, 1)
        except BaseException as exc:  # noqa: BLE001 - delivered to wait()
            job.error = exc if isinstance(exc, GreenTTSError) else VoiceError(
                f"enrollment of {job.name!r} failed: {exc!r}")
            if not isinstance(exc, GreenTTSError):
                job.error.__cause__ = exc
            job.status = "error"
        finally:
            job._done.set()

    def preview(self) -> None:
        """Analyse the clip and save the preview voice (before any ASR: the voice is usable at once)."""
        enr = self.enroller
        with self.service.accountant.unit(enr.threads, part="enrollment") as unit:
            unit.assign((self.tally, 1.0))
            self.report("analyse", 0, 1)
            self.ref = enr.reference(self.clip, self.text, self.lang, transcribe=False)  # ASR after the preview
            self.timings["analyse_s"] = time.perf_counter() - self.t0
            self.report("analyse", 1, 1)
            t = time.perf_counter()
            self.base, self.delta0 = enr.preview(self.ref, self.exclude)
            self.table0 = enr.table(self.base, self.delta0)
            self.timings["preview_s"] = time.perf_counter() - t
        self.nearest_cos = float(enr.nearest(self.ref, self.exclude)[1])
        meta = self.request_meta()
        meta.update(status="preview", similarity={"nearest_stock_embedding": round(self.nearest_cos, 4)},
                    time_s={k: round(v, 3) for k, v in self.timings.items()}, energy=self.energy())
        self.store.save(self.job.name, self.table0, meta, overwrite=self.overwrite)
        self.job.meta, self.job.status = meta, "preview"
        self.report("preview", 1, 1)

    def refine(self) -> None:
        """Transcribe (if no text was given), measure the recording's pitch, refine the preview."""
        from ..clone.enroll import voice_language

        enr, t = self.enroller, time.perf_counter()
        self.ref = enr.recording_pitch(enr.transcribe(self.ref))
        if voice_language(self.base) != self.ref.lang:  # Whisper found the language after the preview: start again
            self.base, self.delta0 = enr.preview(self.ref, self.exclude)
            self.table0 = enr.table(self.base, self.delta0)
            self.nearest_cos = float(enr.nearest(self.ref, self.exclude)[1])
        self.delta, self.stats = enr.refine(self.ref, self.base, self.delta0, self.steps, progress=self.report,
                                            cancel=self.job._cancel)
        self.timings["refine_s"] = time.perf_counter() - t

    def choose(self) -> dict[str, Any]:
        """Whichever of refined, preview and start voice is closest to the reference on the validation
        sentence (CAM++ + GE2E): the start voice is a candidate, so a clone is never further than it."""
        enr, t = self.enroller, time.perf_counter()
        base_table = np.ascontiguousarray(self.store.get(self.base).table, dtype=np.float32)
        table1, adain1 = enr.table(self.base, self.delta), self.stats.get("adain")
        self.s_base = enr.score(self.ref, base_table)
        self.s_prev = enr.score(self.ref, self.table0)
        self.s_ref = enr.score(self.ref, table1, adain=adain1)
        self.timings["score_s"] = time.perf_counter() - t
        self.start = {"table": base_table, "chosen": "base", "score": self.s_base,
                      "delta": np.zeros_like(self.delta0), "adain": None}
        options = [(self.s_ref["combined"], 2, {"table": table1, "chosen": "refined", "score": self.s_ref,
                                                "delta": self.delta, "adain": adain1}),
                   (self.s_prev["combined"], 1, {"table": self.table0, "chosen": "preview", "score": self.s_prev,
                                                 "delta": self.delta0, "adain": None}),
                   (self.s_base["combined"], 0, self.start)]
        return dict(max(options, key=lambda o: (o[0], o[1]))[2])

    def guard(self, final: dict[str, Any]) -> dict[str, Any]:
        """Whisper on the guard sentences: scale the AdaIN offsets down until the clone is intelligible."""
        self.guard_report = None
        if final["adain"] is None or self.job._cancel.is_set():
            return final
        t = time.perf_counter()
        self.guard_report, adain, label = _intelligibility_guard(
            self.enroller, self.ref.lang, self.store.get(self.base).table, final["table"], final["adain"])
        if label:
            final = {**final, "adain": adain, "chosen": f"{final['chosen']}+{label}",
                     "score": self.enroller.score(self.ref, final["table"], adain=adain)}
            if final["score"]["combined"] < self.s_base["combined"]:  # never further than the start voice
                final = dict(self.start)
        self.timings["guard_s"] = time.perf_counter() - t
        return final

    def check_pitch(self, final: dict[str, Any]) -> dict[str, Any]:
        """The clone's pitch on the guard sentences; beyond the tolerance, calibrate the style offset
        (up to ``CALIBRATION_ROUNDS`` times, each from the last measurement) and keep each round that
        improves pitch without losing more similarity than allowed."""
        from ..clone.enroll import (CALIBRATION_ROUNDS, F0_BAR, PITCH_TOLERANCE, SIMILARITY_GIVE,
                                    SIMILARITY_GIVE_OVER_BAR)

        enr, lang = self.enroller, self.ref.lang
        f0 = enr.voice_f0(lang, final["table"], final["adain"])
        target = self.ref.pitch.median_hz
        final = {**final, "f0": f0}
        if not f0 or abs(f0 / target - 1) <= PITCH_TOLERANCE or self.job._cancel.is_set():
            return final
        t = time.perf_counter()
        # Pitch is a stated requirement: beyond the 10 % bar, trade more similarity to get inside it.
        give = SIMILARITY_GIVE_OVER_BAR if abs(f0 / target - 1) > F0_BAR else SIMILARITY_GIVE
        floor = final["score"]["similarity"] - give
        for _ in range(CALIBRATION_ROUNDS):  # measured feedback: a round lands closer, not always inside
            d_cal = enr.calibrate_pitch(self.ref, self.base, final["delta"], final["f0"])
            table_c = enr.table(self.base, d_cal)
            s_cal = enr.score(self.ref, table_c, adain=final["adain"])
            f0_cal = enr.voice_f0(lang, table_c, final["adain"]) or final["f0"]
            if not (abs(f0_cal / target - 1) < abs(final["f0"] / target - 1) and s_cal["similarity"] >= floor):
                break
            chosen = final["chosen"] if final["chosen"].endswith("+pitch-calibrated") else \
                final["chosen"] + "+pitch-calibrated"
            final = {**final, "table": table_c, "delta": d_cal, "chosen": chosen, "score": s_cal, "f0": f0_cal}
            if abs(f0_cal / target - 1) <= PITCH_TOLERANCE or self.job._cancel.is_set():
                break
        self.timings["calibrate_s"] = time.perf_counter() - t
        return final

    def pace(self, final: dict[str, Any]) -> dict[str, Any] | None:
        """Measured speaking rate: the clone reading the transcript vs the clip (None without a rate term)."""
        if self.stats.get("rate_ratio") is None:
            return None
        return {"start_voice": round(self.stats["rate_ratio"], 4),
                "clone": round(self.enroller.rate_ratio(self.ref, final["table"], final["adain"]), 4),
                "measured_on": "transcript read on the ONNX path, duration / clip duration"}

    def final_meta(self, final: dict[str, Any], pace: dict[str, Any] | None) -> dict[str, Any]:
        from ..clone.sentences import GUARD_SENTENCES

        meta = self.request_meta()
        if pace is not None:
            meta["duration_ratio"] = pace
        if self.guard_report is not None:
            meta["intelligibility"] = self.guard_report
        adain = final["adain"]
        scores = (("reached", final["score"]), ("base_voice", self.s_base), ("preview", self.s_prev),
                  ("refined", self.s_ref))
        meta.update(status="done" if not self.job._cancel.is_set() else "cancelled", chosen=final["chosen"],
                    steps_run=self.stats["steps"],
                    representation="style table + decoder AdaIN offsets" if adain is not None else "style table",
                    adain_rms_spreads=self.stats.get("adain_rms") if adain is not None else None,
                    similarity={**{k: round(v["similarity"], 4) for k, v in scores},
                                "nearest_stock_embedding": round(self.nearest_cos, 4),
                                "ge2e": {k: round(v.get("ge2e_similarity", float("nan")), 4) for k, v in scores},
                                "measured_on": "validation sentence, CAM++ cosine (and GE2E)"},
                    clone_f0_median_hz=round(final["f0"] or float("nan"), 2),
                    clone_f0_measured_on=f"guard sentences ({len(GUARD_SENTENCES[self.ref.lang])}) read on the ONNX path, pYIN median",
                    time_s={k: round(v, 3) for k, v in self.timings.items()},
                    energy=self.energy())
        return meta

    def energy(self) -> dict[str, Any]:
        out = self.service.accountant.report(self.tally).as_dict()
        out.pop("joules_per_audio_s", None)
        out.pop("audio_s", None)
        return out

    def request_meta(self) -> dict[str, Any]:
        from ..clone.enroll import ENROLL_VERSION

        clip, ref = self.clip, self.ref
        return {
            "clip_sha256": clip.sha256, "clip_s": round(clip.duration_s, 3), "clip_source": clip.source,
            "clip_window": clip.window.as_dict() if clip.window is not None else None,
            "language": "zh" if ref.lang == "zh" else "en-us",
            "language_name": "enrolled (Mandarin reference)" if ref.lang == "zh" else "enrolled (English reference)",
            "lang_source": ref.lang_source, "transcript": ref.text, "transcript_source": ref.text_source,
            "reference_pitch": ref.pitch.as_dict(), "reference_pitch_measured_on": ref.pitch_source,
            "base_voice": self.base, "enroll_version": ENROLL_VERSION,
            "request": {"text": self.text, "lang": self.lang, "steps": self.steps, "exclude": sorted(self.exclude)},
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }


def _intelligibility_guard(enroller: Any, lang: str, base_table: np.ndarray, table: np.ndarray,
                           adain: np.ndarray) -> tuple[dict[str, Any] | None, np.ndarray | None, str]:
    """Whisper on the guard sentences: keep the AdaIN offsets if the clone is within ``ASR_GIVE`` of its
    start voice, else the largest of ``GUARD_SCALES`` that is, found by bisection (intelligibility falls
    smoothly with the scale), or the clearest tried. Returns (what was measured, the offsets to keep, a
    label for ``chosen`` or "")."""
    from ..clone.enroll import ASR_GIVE, GUARD_SCALES
    from ..clone.sentences import GUARD_SENTENCES

    start = enroller.stock_intelligibility(lang, base_table)
    if start is None:
        return None, adain, ""
    tries = {1.0: enroller.intelligibility(lang, table, adain)}
    lo, hi = 0, 0 if tries[1.0] <= start + ASR_GIVE else len(GUARD_SCALES)
    while lo < hi:  # the first passing index of GUARD_SCALES (largest to smallest)
        mid = (lo + hi) // 2
        s = GUARD_SCALES[mid]
        tries[s] = enroller.intelligibility(lang, table, (adain * s).astype(np.float32) if s else None)
        lo, hi = (lo, mid) if tries[s] <= start + ASR_GIVE else (mid + 1, hi)
    ok = [s for s, e in tries.items() if e <= start + ASR_GIVE]
    scale = max(ok) if ok else min(tries, key=lambda s: (tries[s], -s))
    kept = None if scale == 0 else (adain if scale == 1 else (adain * scale).astype(np.float32))
    report = {"start_voice": round(start, 4), "clone": round(tries[scale], 4), "adain_scale": scale,
              "tried": [{"adain_scale": s, "error_rate": round(e, 4)} for s, e in tries.items()],
              "measured_on": f"Whisper base {'toneless pinyin error' if lang == 'zh' else 'WER'}, "
                             f"{len(GUARD_SENTENCES[lang])} guard sentences (ONNX path)"}
    return report, kept, "" if scale == 1 else f"adain-x{scale:g}"


def cache_key(text: str | None, lang: str | None, steps: int, exclude: tuple[str, ...]) -> dict[str, Any]:
    """The settings two enrollments of one clip must share to be interchangeable."""
    from ..clone.enroll import ENROLL_VERSION

    return {"enroll_version": ENROLL_VERSION,
            "request": {"text": text, "lang": lang, "steps": steps, "exclude": sorted(exclude)}}
