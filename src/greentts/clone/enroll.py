"""Enrollment: a reference clip -> a Kokoro style table (and decoder AdaIN offsets).

A style table row for an utterance of n phoneme ids is ``T_b[n-1] + delta * spread``: ``T_b`` is the
stock voice nearest to the reference (CAM++ cosine), ``spread`` the per-dimension standard deviation
across the 54 stock tables and ``delta`` (256 numbers) what enrollment finds.

1. **Preview** (:meth:`Enroller.preview`, well under 2 s): ``delta`` from a ridge map (:class:`.prior.Prior`).
2. **Refinement** (:meth:`Enroller.refine`): Adam through the differentiable Kokoro (:mod:`.kokoro_torch`)
   on ``delta`` and, with ``ADAIN``, on an offset per output of the decoder's 58 AdaIN projections. The loss
   (:meth:`Enroller._loss`): CAM++ and GE2E cosine to the reference, log-F0 of the predicted contour,
   speaking rate like for like (with a transcript), the long-term spectral envelope, and ``W_REG*``
   penalties that keep the style where the model knows it.
3. **Calibration** of pitch and the **intelligibility guard** (Whisper: AdaIN offsets are scaled by
   ``GUARD_SCALES`` until the clone is within ``ASR_GIVE`` of its start voice), run by
   :mod:`greentts.serving.enrollment`.

Every term, weight and measurement behind them is in ``docs/cloning.md`` (Pipeline). The constants below
are module attributes on purpose: ``tools/clone_sweep.py`` and ``bench/clone.py`` override them by name.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..models.kokoro import SAMPLE_RATE as SR
from ..text.frontend import Frontend
from ..text.normalize import language_of
from ..voices.clip import Clip
from ..voices.store import VoiceStore
from . import require
from .analysis import pitch_stats
from .listening import Listening
from .losses import Goal, log_f0_centre, spectral_envelope, spoken_rate
from .prior import Prior, Reference, voice_language
from .sentences import TRAIN_SENTENCES

__all__ = ["Enroller", "Reference", "ENROLL_VERSION", "TRAIN_SENTENCES", "Progress", "voice_language"]

ENROLL_VERSION = 7  # bump when the method changes: cached enrollments of older versions are redone
STEPS = 20
LR = 0.1
W_F0 = 8.0
W_RATE = 4.0
W_REG = 0.02
W_REG_TIMBRE = 0.6  # extra weight on the timbre half (articulation lives in the decoder style)
W_GE2E = 1.0  # 1 - cos of Resemblyzer's GE2E (a second encoder in the loss; judges then use others)
W_SPEC = 0.2  # long-term spectral envelope of the synthesis vs the reference (what CAM++'s mean-normalised
              # features cannot see: spectral tilt, formant region levels, the recording's colour)
ADAIN = True  # also learn per-layer offsets of the decoder's AdaIN scales and shifts (voice file ``adain``)
LR_ADAIN = 0.1
W_REG_ADAIN = 0.01  # on mean(a^2), ``a`` in units of the stock voices' spread of each AdaIN output
                    # (0.05: ECAPA gap 56 %; 0.01: 66 %, on lj, atkins, s4, narrator; LR_ADAIN 0.2 blurred words)
PROSODY_STEPS = 40
CALIBRATION_STEPS = 8
PITCH_TOLERANCE = 0.05  # calibrate when the audio's median F0 is further than this from the reference
F0_BAR = 0.10  # a clone's median F0 should be within 10 % of the reference's
SIMILARITY_GIVE = 0.02  # CAM++ similarity a pitch calibration may cost and still be kept ...
SIMILARITY_GIVE_OVER_BAR = 0.05  # ... or when the uncalibrated pitch is outside F0_BAR
CALIBRATION_ROUNDS = 2  # pitch calibrations, each from the last measured F0, while outside PITCH_TOLERANCE
# Measurements only (tools/clone_oracle.py): (reference, synthesized audio tensor) -> extra loss term.
# Never set by greentts itself.
EXTRA_LOSS: Callable[[Any, Any], Any] | None = None
WINDOW_FRAMES: int | None = 80  # decode 2 s of each training sentence per step (25 ms frames)
Progress = Callable[[str, int, int], None]  # (stage, done, total)

ASR_GIVE = 0.03
# AdaIN offsets x this, largest to smallest: the guard keeps the largest within ASR_GIVE (by bisection).
# s4 (Mandarin, 2026-12-06): pinyin error 18.3 / 11.1 / 7.4 / 6.3 / 5.1 / 2.7 / 2.7 % at x1 ... x0 (stock
# 1.2 %), ECAPA 0.663 / 0.646 / 0.603 / 0.565 / 0.532 / 0.497 / 0.441 (stock 0.438): a ladder of two
# (0.5, 0) threw away all of it.
GUARD_SCALES = (0.75, 0.5, 0.35, 0.25, 0.15, 0.0)


class Enroller(Listening):
    """Loads the torch Kokoro, CAM++ and the prior once; turns references into style tables.

    Not tied to an engine: it needs the ONNX path (for the torch rebuild), a cache directory (CAM++
    weights), the text frontend (phoneme ids) and the voice store (stock tables).
    """

    def __init__(self, onnx_path: Path, cache_dir: Path, frontend: Frontend, voices: VoiceStore,
                 threads: int = 2,
                 synth: Callable[[np.ndarray, list[int], np.ndarray | None], np.ndarray] | None = None) -> None:
        self.torch = require("torch")
        from .campplus import SpeakerEncoder, fetch_campplus_weights
        from .kokoro_torch import TorchKokoro

        self.torch.set_num_threads(threads)
        self.threads = threads
        self.frontend = frontend
        self.voices = voices
        self.prior = Prior.load()
        self.encoder = SpeakerEncoder(fetch_campplus_weights(Path(cache_dir)))
        self._onnx_path = onnx_path
        self._kokoro: Any = None
        self._kokoro_cls = TorchKokoro
        self._lock = threading.RLock()  # one optimisation at a time (they use all cores anyway)
        self._prepared: dict[str, Any] = {}
        self._asr: Any = None
        self._ge2e: Any = None
        self._stock_asr: dict[tuple[str, int], float | None] = {}
        self._cache_dir = Path(cache_dir)
        self._synth = synth  # (table, ids, adain) -> 24 kHz audio on the ONNX path, for scoring
        # the last few ONNX renderings: the guard, the final score and the pitch measure read the same
        # sentences with the same voice (deterministic synthesis), so each is rendered once
        self._spoken: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._warm_up()

    def _warm_up(self) -> None:
        """Run the analysis once on a synthetic vowel, so a clip's preview does not pay for first-call
        work (pYIN's numba compilation alone took 4-5 s) but model loading does."""
        t = np.arange(SR, dtype=np.float32) / SR
        vowel = sum(np.sin(2 * np.pi * 140.0 * k * t) / k for k in range(1, 12)).astype(np.float32) * 0.1
        self.encoder.embed_numpy(vowel, SR)
        self.ge2e().embed_numpy(vowel)
        try:
            pitch_stats(vowel, SR)
        except ValueError:
            pass

    def ge2e(self) -> Any:
        """The differentiable GE2E encoder (loaded on first use)."""
        if self._ge2e is None:
            from .ge2e import Ge2eEncoder, fetch_ge2e_weights

            self._ge2e = Ge2eEncoder(fetch_ge2e_weights(self._cache_dir))
        return self._ge2e

    @property
    def kokoro(self) -> Any:
        if self._kokoro is None:
            self._kokoro = self._kokoro_cls(self._onnx_path)
        return self._kokoro

    # -- analysis --------------------------------------------------------------------------------

    def reference(self, clip: Clip, text: str | None = None, lang: str | None = None,
                  transcribe: bool = True) -> Reference:
        """Embed the clip, measure its pitch and settle its language and transcript.

        ``transcribe=False`` skips ASR (the preview does not need it); :meth:`transcribe` adds it later.
        """
        if lang not in (None, "en", "zh"):
            raise InputError(f"lang must be 'en' or 'zh' (or omitted), got {lang!r}")
        if text is not None and not text.strip():
            raise InputError("text, when given, must be the words spoken in the clip (it is empty)")
        # pYIN (about 1.3 s for 10 s of speech) runs beside the speaker encoder: the preview waits for both
        with ThreadPoolExecutor(1, thread_name_prefix="greentts-pitch") as pool:
            pitch_job = pool.submit(pitch_stats, clip.audio, clip.sample_rate)
            emb = self._unit(self.encoder.embed_numpy(clip.audio, clip.sample_rate))
            ge2e = self._unit(self.ge2e().embed_numpy(clip.audio))
        try:
            pitch = pitch_job.result()
        except ValueError as exc:
            raise InputError(f"{clip.source}: {exc}; the clip must contain speech") from None
        text_source = "given" if text else None
        lang_source = "given" if lang else ("text" if text else "default")
        if lang is None and text:
            lang = language_of(text)
        ref = Reference(clip, emb, pitch, lang or "en", lang_source, text, text_source, ge2e)
        return self.transcribe(ref) if transcribe else ref

    # -- preview ---------------------------------------------------------------------------------

    def candidates(self, exclude: tuple[str, ...] = (), lang: str | None = None) -> list[int]:
        """Stock voices enrollment may start from: those of ``lang`` (when given) not in ``exclude``."""
        return [i for i, v in enumerate(self.prior.voices)
                if v not in exclude and (lang is None or voice_language(v) == lang)]

    def nearest(self, ref: Reference, exclude: tuple[str, ...] = ()) -> tuple[str, float]:
        """The stock voice of the reference's language closest to it, and its CAM++ cosine.

        Closest = the highest sum of CAM++ and GE2E cosines: two encoders with different front ends
        (mean-normalised log-mel vs linear mel) agree on a start voice far more often than either
        agrees with an encoder that neither is (measured in ``docs/cloning.md``).
        """
        lang = None if ref.lang_source == "default" else ref.lang  # not known yet: English or Mandarin voices
        idx = ([i for i in self.candidates(exclude, lang) if voice_language(self.prior.voices[i]) is not None]
               or self.candidates(exclude))
        cos = self.prior.emb[idx] @ ref.embedding
        score = cos.copy()
        if ref.ge2e is not None and self.prior.ge2e:
            score += np.array([float(self.prior.ge2e[self.prior.voices[i]] @ ref.ge2e)
                               if self.prior.voices[i] in self.prior.ge2e else 0.0 for i in idx])
        best = int(np.argmax(score))
        return self.prior.voices[idx[best]], float(cos[best])

    def preview(self, ref: Reference, exclude: tuple[str, ...] = ()) -> tuple[str, np.ndarray]:
        """(base voice, delta) from the learned map: milliseconds once the reference is analysed."""
        base, _ = self.nearest(ref, exclude)
        b = self.prior.voices.index(base)
        delta = self.prior.features(ref.embedding, math.log(ref.pitch.median_hz), b) @ self.prior.weights
        return base, np.clip(delta, -3.0, 3.0).astype(np.float32)

    def table(self, base: str, delta: np.ndarray) -> np.ndarray:
        t = self.voices.get(base).table.astype(np.float32) + delta[None, :] * self.prior.spread[None, :]
        return np.ascontiguousarray(t, dtype=np.float32)

    # -- refinement ------------------------------------------------------------------------------

    def _prepare(self, text: str, lang: str) -> Any:
        key = f"{lang}:{text}"
        if key not in self._prepared:
            segs = self.frontend.phonemize(text, lang=lang)
            ids = [i for s in segs for i in s.ids][:510]
            if not ids:
                raise InputError(f"nothing speakable in {text!r}")
            self._prepared[key] = self.kokoro.prepare(ids)
        return self._prepared[key]

    def refine(self, ref: Reference, base: str, delta0: np.ndarray, steps: int = STEPS,
               progress: Progress | None = None, cancel: threading.Event | None = None) -> tuple[np.ndarray, dict]:
        """Gradient refinement of ``delta`` (and the AdaIN offsets when ``ADAIN``); returns (delta, stats)."""
        torch = self.torch
        with self._lock:
            prepared = [self._prepare(t, ref.lang) for t in TRAIN_SENTENCES[ref.lang]]
            goal = self._goal(ref, base, delta0, prepared)
            delta = torch.tensor(delta0, dtype=torch.float32, requires_grad=True)
            groups: list[dict[str, Any]] = [{"params": [delta], "lr": LR}]
            a_unit = a_spread = None
            if ADAIN:
                a_spread = torch.from_numpy(self.adain_spread())
                a_unit = torch.zeros(a_spread.shape[0], requires_grad=True)
                groups.append({"params": [a_unit], "lr": LR_ADAIN})
            opt = torch.optim.Adam(groups)
            history: list[dict[str, float]] = []
            for step in range(steps):
                if cancel is not None and cancel.is_set():
                    break
                i = step % len(prepared)
                window = None if WINDOW_FRAMES is None else ((step * 29) % 97, WINDOW_FRAMES)
                style = (goal.table_b[prepared[i].n_ids - 1] + delta * goal.spread).unsqueeze(0)
                out = self.kokoro.forward(prepared[i], style, window=window,
                                          adain=None if a_unit is None else a_unit * a_spread)
                loss, terms = self._loss(goal, ref, prepared[i], i, out, delta, a_unit)
                opt.zero_grad()
                loss.backward()
                opt.step()
                history.append(terms)
                if progress is not None:
                    progress("refine", step + 1, steps)
        adain = None if a_unit is None else (a_unit * a_spread).detach().numpy().astype(np.float32)
        stats = {"steps": len(history), "history": history, "rate_ratio": goal.rate_ratio, "adain": adain}
        if a_unit is not None:  # how far the offsets went, in stock-voice spreads (RMS)
            stats["adain_rms"] = round(float(a_unit.detach().pow(2).mean().sqrt()), 4)
        return delta.detach().numpy().astype(np.float32), stats

    def _goal(self, ref: Reference, base: str, delta0: np.ndarray, prepared: list[Any]) -> Goal:
        """The reference's measures as tensors, computed once per refinement."""
        torch = self.torch
        start = self.table(base, delta0)
        rate_ratio = self.rate_ratio(ref, start)
        with torch.no_grad():
            ltas = spectral_envelope(torch, torch.from_numpy(np.ascontiguousarray(ref.clip.audio, np.float32)))
        ge2e = self.ge2e() if W_GE2E > 0 else None
        e_ge2e = None
        if ge2e is not None:  # the analysis already embedded the clip
            e_ge2e = torch.from_numpy(ref.ge2e if ref.ge2e is not None else self._unit(ge2e.embed_numpy(ref.clip.audio)))
        return Goal(table_b=torch.from_numpy(self.voices.get(base).table.astype(np.float32)),
                     spread=torch.from_numpy(self.prior.spread.astype(np.float32)),
                     embedding=torch.from_numpy(ref.embedding.astype(np.float32)), ltas=ltas, ge2e=ge2e,
                     ge2e_embedding=e_ge2e, rate_ratio=rate_ratio,
                     rates=self._rate_targets(prepared, start, rate_ratio))

    def _loss(self, goal: Goal, ref: Reference, prep: Any, i: int, out: Any, delta: Any,
              a_unit: Any) -> tuple[Any, dict[str, float]]:
        """One step's loss (the terms of the module docstring) and its parts, for the history."""
        torch = self.torch
        cos = torch.nn.functional.cosine_similarity(self.encoder.embed(out.audio, SR), goal.embedding, dim=0)
        loss_f0 = (log_f0_centre(torch, out.f0) - math.log(ref.pitch.median_hz)) ** 2
        loss = (1 - cos) + W_F0 * loss_f0 + W_REG * (delta ** 2).mean() + W_REG_TIMBRE * (delta[:128] ** 2).mean()
        if a_unit is not None:
            loss = loss + W_REG_ADAIN * (a_unit ** 2).mean()
        loss_ge2e = loss_spec = loss_rate = torch.zeros(())
        if goal.ge2e is not None:
            loss_ge2e = 1 - goal.ge2e.embed(out.audio) @ goal.ge2e_embedding
            loss = loss + W_GE2E * loss_ge2e
        if EXTRA_LOSS is not None:
            loss = loss + EXTRA_LOSS(ref, out.audio)
        if W_SPEC > 0:
            loss_spec = ((spectral_envelope(torch, out.audio) - goal.ltas) ** 2).mean()
            loss = loss + W_SPEC * loss_spec
        if goal.rates is not None:
            loss_rate = (torch.log(spoken_rate(self.kokoro, prep, out.dur_float)) - math.log(goal.rates[i])) ** 2
            loss = loss + W_RATE * loss_rate
        return loss, {"cos": round(float(cos.detach()), 4), "f0": float(loss_f0.detach()),
                      "rate": float(loss_rate.detach()), "spec": float(loss_spec.detach()),
                      "ge2e": float(loss_ge2e.detach())}

    def adain_spread(self) -> np.ndarray:
        """Per AdaIN output: its standard deviation across the stock voices (timbre half of the table row
        for a 40-id utterance), the unit in which enrollment moves the per-layer offsets."""
        if getattr(self, "_adain_spread", None) is None:
            torch = self.torch
            rows = np.stack([self.voices.get(v).table[39, :128] for v in self.prior.voices]).astype(np.float32)
            out = self.kokoro.adain_outputs(torch.from_numpy(rows))
            self._adain_spread = out.std(dim=0).clamp(min=1e-3).numpy().astype(np.float32)
        return self._adain_spread

    def calibrate_pitch(self, ref: Reference, base: str, delta: np.ndarray, measured_hz: float,
                        steps: int = CALIBRATION_STEPS) -> np.ndarray:
        """Measured feedback: shift the prosody half so the predicted pitch moves by ref / measured.

        The optimiser matches the *predicted* F0 contour; the audio's pitch (pYIN on the ONNX output) can
        land a few percent away, more for breathy voices. This closes the loop on the measurement with a
        predictor-only optimisation (no vocoder), changing only the prosody half.
        """
        torch = self.torch
        shift = math.log(ref.pitch.median_hz / measured_hz)
        with self._lock:
            k = self.kokoro
            prepared = [self._prepare(t, ref.lang) for t in TRAIN_SENTENCES[ref.lang]]
            table_b = torch.from_numpy(self.voices.get(base).table.astype(np.float32))
            spread = torch.from_numpy(self.prior.spread.astype(np.float32))
            d0 = torch.from_numpy(np.asarray(delta, np.float32))
            rows = [(table_b[p.n_ids - 1] + d0 * spread).unsqueeze(0) for p in prepared]
            with torch.no_grad():
                targets = [float(log_f0_centre(torch, k.forward(p, r, audio=False).f0)) + shift
                           for p, r in zip(prepared, rows)]
            dp = torch.zeros(128, requires_grad=True)
            opt = torch.optim.Adam([dp], lr=LR / 2)
            for _ in range(steps):
                loss = W_REG * (dp ** 2).mean()
                for prep, row, target in zip(prepared, rows, targets):
                    style = torch.cat([row[:, :128], row[:, 128:] + dp * spread[128:]], dim=1)
                    loss = loss + (log_f0_centre(torch, k.forward(prep, style, audio=False).f0) - target) ** 2
                opt.zero_grad()
                loss.backward()
                opt.step()
        out = np.asarray(delta, np.float32).copy()
        out[128:] += dp.detach().numpy()
        return out

    def _rate_targets(self, prepared: list[Any], table: np.ndarray, ratio: float | None) -> list[float] | None:
        """Per training sentence: ``table``'s predicted speaking rate there, times ``ratio``."""
        if ratio is None:
            return None
        torch = self.torch
        t = torch.from_numpy(np.array(table, np.float32))
        with torch.no_grad():
            return [float(spoken_rate(self.kokoro, p, self.kokoro.durations(p, t[p.n_ids - 1: p.n_ids]))) * ratio
                    for p in prepared]

    def prosody_half(self, ref: Reference, table: np.ndarray, steps: int = PROSODY_STEPS) -> np.ndarray:
        """A (510, 128) prosody half for ``table``'s voice that speaks with the reference's pitch range and
        (with a transcript) its speaking rate, keeping the voice's own pitch level.

        Only the prosody predictor runs (no vocoder, no speaker encoder).
        """
        torch = self.torch
        with self._lock:
            k = self.kokoro
            prepared = [self._prepare(t, ref.lang) for t in TRAIN_SENTENCES[ref.lang][:3]]
            targets = self._rate_targets(prepared, table, self.rate_ratio(ref, table))
            base = torch.from_numpy(np.array(table, np.float32))
            spread = torch.from_numpy(self.prior.spread[128:].astype(np.float32))
            with torch.no_grad():  # the voice's own pitch level on each sentence (kept)
                levels = [float(log_f0_centre(torch, k.forward(p, base[p.n_ids - 1: p.n_ids], audio=False).f0))
                          for p in prepared]
            delta = torch.zeros(128, requires_grad=True)
            opt = torch.optim.Adam([delta], lr=LR)
            for _ in range(steps):
                loss = W_REG * (delta ** 2).mean()
                for i, (prep, level) in enumerate(zip(prepared, levels)):
                    row = base[prep.n_ids - 1: prep.n_ids]
                    style = torch.cat([row[:, :128], row[:, 128:] + delta * spread], dim=1)
                    out = k.forward(prep, style, audio=False)
                    logf = torch.log(out.f0[out.f0.detach() > 50.0].clamp(min=1.0))
                    if logf.numel() > 10:
                        q = torch.quantile(logf, torch.tensor([0.1, 0.9]))
                        range_st = 12.0 / math.log(2.0) * (q[1] - q[0])
                        loss = loss + (torch.log(range_st.clamp(min=0.5)) - math.log(ref.pitch.range_st)) ** 2
                    loss = loss + W_F0 * (log_f0_centre(torch, out.f0) - level) ** 2
                    if targets is not None:
                        rate = spoken_rate(k, prep, out.dur_float)
                        loss = loss + W_RATE * (torch.log(rate) - math.log(targets[i])) ** 2
                opt.zero_grad()
                loss.backward()
                opt.step()
            half = base[:, 128:] + delta.detach() * spread
        return half.numpy().astype(np.float32)
