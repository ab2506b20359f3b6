"""Enrollment: a reference clip -> a Kokoro style table, by a learned preview then gradient refinement.

A style table row for an utterance of n phoneme ids is ``T_b[n-1] + delta * spread``: ``T_b`` is the
stock voice nearest to the reference (CAM++ cosine), ``spread`` the per-dimension standard deviation
across the 54 stock tables and ``delta`` (256 numbers) what enrollment finds.

1. **Preview** (``Enroller.preview``, well under 2 s): ``delta`` from a ridge map of the reference's
   speaker embedding and log-F0 relative to the base voice's. The map was fitted on self-generated data
   (``tools/fit_clone_prior.py``: random styles around the stock voices, synthesized and embedded).
2. **Refinement** (``Enroller.refine``): Adam on ``delta`` through the differentiable Kokoro
   (:mod:`.kokoro_torch`) and CAM++ (:mod:`.campplus`). Loss per step, on one training sentence:

   * ``1 - cos(embedding(synthesis), embedding(reference))`` (timbre, both halves of the style);
   * ``W_F0 * (ln central F0 of the predicted contour - ln median F0 of the reference)^2`` (pitch,
     through the prosody predictor's F0 output, which the vocoder follows);
   * with a transcript (given, or from Whisper if the ``asr`` extra is installed), speaking rate, like
     for like: the start voice reads the transcript on the real (ONNX) path, segmented and paused as
     the engine does, and is trimmed as the clip was; ``ratio`` = its duration / the clip's. Each
     training sentence's target rate is the start voice's predicted rate on it times ``ratio``:
     ``W_RATE * (ln rate - ln target)^2``. (Phoneme rate depends on the text, so comparing the clip's
     ids per second with other sentences' rates is off by 10 % or more.)
   * ``W_REG * mean(delta^2) + W_REG_TIMBRE * mean(delta[:128]^2)`` keeps the style in the region the
     model knows. The timbre half (the decoder's style) also shapes articulation: left free it drifts
     into directions that raise CAM++ similarity without raising an independent encoder's (GE2E) and
     blur vowels and tones (a Mandarin clone's Whisper CER went 6.4 % -> 14 % at timbre RMS 1.2 spreads);
     the extra weight cuts that tail (``docs/cloning.md`` has the measurements).

   Durations are re-predicted (no gradient) every step; the text encoders run once per sentence.
3. **AdaIN offsets** (``ADAIN``): alongside ``delta``, the same steps learn an offset for each output of
   the decoder's 58 AdaIN projections (37,396 per-channel scales and shifts; the style vector only
   reaches them through one 128-d linear map each), in units of their spread across the stock voices,
   with ``W_REG_ADAIN * mean(a^2)``. The voice file carries them; the ONNX graph takes them as its
   ``adain`` input (:mod:`greentts.models.optimize`); stock voices feed zeros. On four real speakers
   this raised the ECAPA share of the gap closed (start voice -> same-speaker ceiling, ECAPA in no loss)
   from 33 % to 66 % at the same cost per step.
4. **Intelligibility guard**: Whisper reads ``GUARD_SENTENCES`` by the start voice and by the clone; if
   the clone's error rate is more than ``ASR_GIVE`` above, its AdaIN offsets are scaled by
   ``GUARD_SCALES`` until it is not (metadata ``intelligibility``).
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, ModelError
from ..models.kokoro import SAMPLE_RATE as SR
from ..text.frontend import Frontend, mostly_han
from ..voices.clip import Clip
from ..voices.store import VoiceStore
from . import require
from .analysis import PitchStats, pitch_stats

__all__ = ["Enroller", "Reference", "ENROLL_VERSION", "TRAIN_SENTENCES", "Progress"]

ENROLL_VERSION = 5  # bump when the method changes: cached enrollments of older versions are redone
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
# Measurements only (tools/clone_oracle.py): (reference, synthesized audio tensor) -> extra loss term.
# Never set by greentts itself.
EXTRA_LOSS: Callable[[Any, Any], Any] | None = None
WINDOW_FRAMES: int | None = 80  # decode 2 s of each training sentence per step (25 ms frames)
Progress = Callable[[str, int, int], None]  # (stage, done, total)

# Training sentences (never used by tests or benchmarks as held-out text), about 2-3 s each.
TRAIN_SENTENCES = {
    "en": ["She opened the window and let the morning air into the room.",
           "We will meet again next week to talk about the plan.",
           "How much does it cost to send a letter to Canada?",
           "The old bridge was closed for repairs all summer long."],
    "zh": ["她打开窗户，让早晨的空气进到房间里。",
           "我们下个星期再见面，商量一下这个计划。",
           "寄一封信到加拿大要多少钱？",
           "那座老桥整个夏天都在维修。"],
}
VALIDATION_SENTENCE = {"en": "Thank you for calling, your order is on its way.",
                       "zh": "谢谢您的来电，您的订单已经发出。"}
# Intelligibility guard (Whisper, when the asr extra is installed): a clone may add at most ASR_GIVE to
# its start voice's mean WER (en) / CER (zh) on these; otherwise its AdaIN offsets are scaled down.
GUARD_SENTENCES = {"en": [VALIDATION_SENTENCE["en"], "Please turn left at the next corner and walk straight on."],
                   "zh": [VALIDATION_SENTENCE["zh"], "请在下一个路口向左转，然后一直往前走。"]}
ASR_GIVE = 0.03
SPOKEN_CACHE = 8  # ONNX renderings remembered by Enroller.speak
GUARD_SCALES = (0.5, 0.0)  # AdaIN offsets x this, tried in order until the clone is within ASR_GIVE


@dataclass
class Reference:
    """What enrollment needs to know about the clip."""

    clip: Clip
    embedding: np.ndarray  # CAM++ (192), unit length
    pitch: PitchStats
    lang: str  # "en" | "zh"
    lang_source: str  # "given" | "text" | "asr" | "default"
    text: str | None
    text_source: str | None  # "given" | "asr" | None
    ge2e: np.ndarray | None = None  # GE2E (256), unit length, pauses trimmed
    pitch_source: str = "clip"  # "clip" | "recording" (:meth:`Enroller.recording_pitch`)


@dataclass
class Prior:
    """The shipped preview model (``data/clone_prior.npz``)."""

    voices: list[str]
    emb: np.ndarray  # (V, 192) unit-length mean embedding of each stock voice
    logf0: np.ndarray  # (V,) ln median F0 of each stock voice
    spread: np.ndarray  # (256,)
    weights: np.ndarray  # (194, 256) ridge map [emb diff (192), logf0 diff, 1] -> delta
    held_out: list[str] = field(default_factory=list)  # voices the map was not fitted on (for tests)
    ge2e: dict[str, np.ndarray] = field(default_factory=dict)  # stock voice -> mean GE2E embedding

    @classmethod
    def load(cls) -> Prior:
        data = files("greentts") / "data"
        path = data / "clone_prior.npz"
        try:
            with np.load(str(path)) as z:
                prior = cls([str(v) for v in z["voices"]], z["emb"], z["logf0"], z["spread"], z["weights"],
                            [str(v) for v in z["held_out"]])
            with np.load(str(data / "stock_ge2e.npz")) as z:
                prior.ge2e = {str(v): e for v, e in zip(z["voices"], z["emb"])}
        except (OSError, KeyError) as exc:
            raise ModelError(f"the cloning prior in {data} is missing or damaged ({exc}); reinstall greentts") from exc
        return prior

    def features(self, emb: np.ndarray, logf0: float, base: int) -> np.ndarray:
        return np.concatenate([emb - self.emb[base], [logf0 - self.logf0[base], 1.0]]).astype(np.float32)


class Enroller:
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
            lang = "zh" if mostly_han(text) else "en"
        ref = Reference(clip, emb, pitch, lang or "en", lang_source, text, text_source, ge2e)
        return self.transcribe(ref) if transcribe else ref

    def transcribe(self, ref: Reference) -> Reference:
        """Fill in the transcript (and the language, unless given) with Whisper, if it is installed."""
        if ref.text is not None or not self._asr_available():
            return ref
        asr = self._transcriber()
        clip = ref.clip
        if ref.lang_source == "default":
            lang, text = asr.detect(clip.audio, clip.sample_rate)
            ref.lang, ref.lang_source = lang, "asr"
        else:
            text = asr.transcribe(clip.audio, clip.sample_rate, ref.lang)
        if text and text.strip():
            ref.text, ref.text_source = text, "asr"
        return ref

    def recording_pitch(self, ref: Reference) -> Reference:
        """Measure the reference pitch on the recording around the window (``Clip.context``, up to 30 s),
        when the clip was cut from a longer one: the speaker's median F0 over more speech. The preview
        used the window's (it must not wait for this)."""
        if ref.clip.context is None:
            return ref
        try:
            ref.pitch = pitch_stats(ref.clip.context, ref.clip.sample_rate)
            ref.pitch_source = "recording"
        except ValueError:
            pass
        return ref

    def voice_f0(self, lang: str, table: np.ndarray, adain: np.ndarray | None = None) -> float | None:
        """Median F0 (pYIN) of ``table`` reading both ``GUARD_SENTENCES`` on the ONNX path: the pitch that
        calibration compares with the reference (one sentence's median moves by up to ~8 % with its
        intonation; two halve that)."""
        audio = np.concatenate([self.speak(table, self._ids(t, lang), adain) for t in GUARD_SENTENCES[lang]])
        try:
            return pitch_stats(audio, SR).median_hz
        except ValueError:
            return None

    def _asr_available(self) -> bool:
        try:
            import faster_whisper  # noqa: F401
            from ..quality.asr import whisper_dir

            whisper_dir(self._cache_dir)
            return True
        except Exception:  # noqa: BLE001 - ASR is optional: without it, no transcript
            return False

    def _transcriber(self) -> Any:
        if self._asr is None:
            from ..quality.asr import Transcriber

            self._asr = Transcriber(self._cache_dir, threads=self.threads)
        return self._asr

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
        """Gradient refinement of ``delta``; returns (delta, stats)."""
        torch = self.torch
        with self._lock:
            k = self.kokoro
            prepared = [self._prepare(t, ref.lang) for t in TRAIN_SENTENCES[ref.lang]]
            table_b = torch.from_numpy(self.voices.get(base).table.astype(np.float32))
            spread = torch.from_numpy(self.prior.spread.astype(np.float32))
            e_ref = torch.from_numpy(ref.embedding.astype(np.float32))
            start = self.table(base, delta0)
            rate_ratio = self.rate_ratio(ref, start)
            targets = self._rate_targets(prepared, start, rate_ratio)
            with torch.no_grad():
                ltas_ref = spectral_envelope(torch, torch.from_numpy(np.ascontiguousarray(ref.clip.audio, np.float32)))
            ge2e = self.ge2e() if W_GE2E > 0 else None
            e_ge2e = None
            if ge2e is not None:  # the analysis already embedded the clip
                e_ge2e = torch.from_numpy(ref.ge2e if ref.ge2e is not None else self._unit(ge2e.embed_numpy(ref.clip.audio)))
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
                prep = prepared[i]
                style = (table_b[prep.n_ids - 1] + delta * spread).unsqueeze(0)
                window = None if WINDOW_FRAMES is None else ((step * 29) % 97, WINDOW_FRAMES)
                out = k.forward(prep, style, window=window,
                                adain=None if a_unit is None else a_unit * a_spread)
                emb = self.encoder.embed(out.audio, SR)
                cos = torch.nn.functional.cosine_similarity(emb, e_ref, dim=0)
                loss_f0 = (log_f0_centre(torch, out.f0) - math.log(ref.pitch.median_hz)) ** 2
                loss = (1 - cos) + W_F0 * loss_f0 + W_REG * (delta ** 2).mean() + W_REG_TIMBRE * (delta[:128] ** 2).mean()
                if a_unit is not None:
                    loss = loss + W_REG_ADAIN * (a_unit ** 2).mean()
                loss_ge2e = torch.zeros(())
                if ge2e is not None:
                    loss_ge2e = 1 - ge2e.embed(out.audio) @ e_ge2e
                    loss = loss + W_GE2E * loss_ge2e
                if EXTRA_LOSS is not None:
                    loss = loss + EXTRA_LOSS(ref, out.audio)
                loss_spec = torch.zeros(())
                if W_SPEC > 0:
                    loss_spec = ((spectral_envelope(torch, out.audio) - ltas_ref) ** 2).mean()
                    loss = loss + W_SPEC * loss_spec
                loss_rate = torch.zeros(())
                if targets is not None:
                    loss_rate = (torch.log(spoken_rate(k, prep, out.dur_float)) - math.log(targets[i])) ** 2
                    loss = loss + W_RATE * loss_rate
                opt.zero_grad()
                loss.backward()
                opt.step()
                history.append({"cos": round(float(cos.detach()), 4), "f0": float(loss_f0.detach()),
                                "rate": float(loss_rate.detach()), "spec": float(loss_spec.detach()),
                                "ge2e": float(loss_ge2e.detach())})
                if progress is not None:
                    progress("refine", step + 1, steps)
        adain = None if a_unit is None else (a_unit * a_spread).detach().numpy().astype(np.float32)
        stats = {"steps": len(history), "history": history, "rate_ratio": rate_ratio, "adain": adain}
        if a_unit is not None:  # how far the offsets went, in stock-voice spreads (RMS)
            stats["adain_rms"] = round(float(a_unit.detach().pow(2).mean().sqrt()), 4)
        return delta.detach().numpy().astype(np.float32), stats

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

    def rate_ratio(self, ref: Reference, table: np.ndarray, adain: np.ndarray | None = None) -> float | None:
        """How much faster the reference speaks than ``table``'s voice, like for like (needs the
        transcript): the voice reads the transcript as the engine would (segments, pauses), trimmed as the
        clip was; returns its duration / the clip's duration (> 1: the reference is faster), or None."""
        if not ref.text:
            return None
        from ..voices.clip import speech_duration

        parts = []
        # as Engine.synthesize plans it (no short first segment: that is for streaming latency)
        segments = self.frontend.phonemize(ref.text, lang=ref.lang, first_max_ids=510)
        for i, seg in enumerate(segments):
            if seg.ids:
                parts.append(self.speak(table, list(seg.ids), adain))
            if i < len(segments) - 1:
                parts.append(np.zeros(round(seg.pause_s * SR), np.float32))
        if not parts:
            return None
        # a given transcript covers the whole recording; Whisper's covers the clip (the chosen window)
        spoken = ref.clip.transcript_s if ref.text_source == "given" else ref.clip.duration_s
        return speech_duration(np.concatenate(parts)) / spoken

    def _rate_targets(self, prepared: list[Any], table: np.ndarray, ratio: float | None) -> list[float] | None:
        """Per training sentence: ``table``'s predicted speaking rate there, times ``ratio``."""
        if ratio is None:
            return None
        torch = self.torch
        t = torch.from_numpy(np.array(table, np.float32))
        with torch.no_grad():
            return [float(spoken_rate(self.kokoro, p, self.kokoro.durations(p, t[p.n_ids - 1: p.n_ids]))) * ratio
                    for p in prepared]

    def speak(self, table: np.ndarray, ids: list[int], adain: np.ndarray | None = None) -> np.ndarray:
        """24 kHz audio of ``ids`` with ``table`` (and AdaIN offsets): the ONNX path when the enroller was
        given ``synth``."""
        ids = ids[:510]
        if self._synth is not None:
            table = np.ascontiguousarray(table, dtype=np.float32)
            h = hashlib.blake2b(table.tobytes(), digest_size=16)
            h.update(np.asarray(ids, np.int64).tobytes())
            if adain is not None:
                h.update(np.ascontiguousarray(adain, dtype=np.float32).tobytes())
            key = h.digest()
            if key not in self._spoken:
                self._spoken[key] = self._synth(table, ids, adain)
                while len(self._spoken) > SPOKEN_CACHE:
                    self._spoken.popitem(last=False)
            self._spoken.move_to_end(key)
            return self._spoken[key]
        with self._lock:
            prep = self.kokoro.prepare(ids)
            return self.kokoro.synthesize(prep, table[prep.n_ids - 1], adain=adain)

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

    def score(self, ref: Reference, table: np.ndarray, sentence: str | None = None,
              adain: np.ndarray | None = None) -> dict[str, float]:
        """Similarity (CAM++ cosine; GE2E cosine and their sum, ``combined``) of ``table`` speaking a
        validation sentence (ONNX path when the enroller was given ``synth``, else torch); its pitch is
        :meth:`voice_f0`'s."""
        text = sentence or VALIDATION_SENTENCE[ref.lang]
        audio = self.speak(table, self._ids(text, ref.lang), adain)
        emb = self._unit(self.encoder.embed_numpy(audio, SR))
        out = {"similarity": float(emb @ ref.embedding)}
        out["combined"] = out["similarity"]
        if ref.ge2e is not None:
            out["ge2e_similarity"] = float(self._unit(self.ge2e().embed_numpy(audio)) @ ref.ge2e)
            out["combined"] += out["ge2e_similarity"]
        return out

    def stock_intelligibility(self, lang: str, table: np.ndarray) -> float | None:
        """:meth:`intelligibility` of a stock table, remembered per table (start voices recur)."""
        key = (lang, hash(np.asarray(table, np.float32).tobytes()))
        if key not in self._stock_asr:
            self._stock_asr[key] = self.intelligibility(lang, np.ascontiguousarray(table, dtype=np.float32))
        return self._stock_asr[key]

    def intelligibility(self, lang: str, table: np.ndarray, adain: np.ndarray | None = None) -> float | None:
        """Mean Whisper WER (en) / CER (zh) of ``table`` reading the guard sentences; None without ASR."""
        if not self._asr_available():
            return None
        from ..quality.asr import char_error_rate, word_error_rate

        asr, errs = self._transcriber(), []
        for text in GUARD_SENTENCES[lang]:
            audio = self.speak(table, self._ids(text, lang), adain)
            hyp = asr.transcribe(audio, SR, lang)
            errs.append(char_error_rate(text, hyp) if lang == "zh" else word_error_rate(text, hyp))
        return float(np.mean(errs))

    def _ids(self, text: str, lang: str) -> list[int]:
        return [i for seg in self.frontend.phonemize(text, lang=lang) for i in seg.ids]

    @staticmethod
    def _unit(v: np.ndarray) -> np.ndarray:
        v = np.asarray(v, dtype=np.float32).reshape(-1)
        return v / max(float(np.linalg.norm(v)), 1e-8)


def spoken_rate(k: Any, prep: Any, dur_float: Any) -> Any:
    """Predicted phoneme ids per second, without the silence at both ends (the pad tokens and the final
    punctuation carry it)."""
    return (prep.n_ids - 1) / (dur_float[1:-2].sum() * k.FRAME_S)


def voice_language(name: str) -> str | None:
    """"en" or "zh" for stock voices that speak it (Kokoro's a*/b* and z* voices), else None."""
    if len(name) > 2 and name[2] == "_" and name[1] in "fm":
        return {"a": "en", "b": "en", "z": "zh"}.get(name[0])
    return None


def spectral_envelope(torch: Any, audio: Any) -> Any:
    """Long-term average log-mel spectrum (80 Kaldi bins up to 8 kHz) of 24 kHz audio over its speech
    frames (within 35 dB of the loudest), level removed (mean over bins subtracted): the envelope's shape."""
    from .campplus import kaldi_fbank, resample_24k_to_16k

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
