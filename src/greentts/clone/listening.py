"""How enrollment listens: the ONNX-path rendering of a candidate voice, and what it measures on it.

:class:`Listening` is the half of :class:`~greentts.clone.enroll.Enroller` that renders and judges
(similarity, pitch, speaking rate, Whisper's error rate, the transcript of the clip); the other half
optimises. It holds no state of its own: the attributes it reads are set by ``Enroller.__init__``.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..models.kokoro import SAMPLE_RATE as SR
from ..text.frontend import Frontend
from .analysis import pitch_stats
from .prior import Reference
from .sentences import GUARD_SENTENCES, VALIDATION_SENTENCE

__all__ = ["Listening", "SPOKEN_CACHE"]

SPOKEN_CACHE = 8  # ONNX renderings remembered by Listening.speak


class Listening:
    """Rendering and measuring for the enroller (a mixin: ``Enroller`` sets the attributes below)."""

    frontend: Frontend
    encoder: Any  # CAM++
    threads: int
    kokoro: Any  # the torch rebuild (``Enroller.kokoro``)
    _synth: Callable[[np.ndarray, list[int], np.ndarray | None], np.ndarray] | None
    _spoken: OrderedDict[bytes, np.ndarray]
    _stock_asr: dict[tuple[str, int], float | None]
    _asr: Any
    _lock: threading.RLock
    _cache_dir: Path

    ge2e: Callable[[], Any]  # Enroller.ge2e: the GE2E encoder

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
        """Median F0 (pYIN) of ``table`` reading the ``GUARD_SENTENCES`` on the ONNX path: the pitch that
        calibration compares with the reference (one sentence's median moves by up to ~8 % with its
        intonation; four keep it within a few percent)."""
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
        """Mean Whisper WER (en) / toneless pinyin error (zh) of ``table`` reading the guard sentences;
        None without ASR. Not CER in Mandarin: homophones cost the stock voice zm_yunyang 11.4 % CER on
        these sentences against 1.2 % pinyin error, a noise that let clones at 18 % pinyin error pass."""
        if not self._asr_available():
            return None
        from ..quality.asr import word_error_rate
        from ..quality.scoring import pinyin_error_rate

        asr, errs = self._transcriber(), []
        for text in GUARD_SENTENCES[lang]:
            audio = self.speak(table, self._ids(text, lang), adain)
            hyp = asr.transcribe(audio, SR, lang)
            errs.append(pinyin_error_rate(text, hyp) if lang == "zh" else word_error_rate(text, hyp))
        return float(np.mean(errs))

    def _ids(self, text: str, lang: str) -> list[int]:
        return [i for seg in self.frontend.phonemize(text, lang=lang) for i in seg.ids]

    @staticmethod
    def _unit(v: np.ndarray) -> np.ndarray:
        v = np.asarray(v, dtype=np.float32).reshape(-1)
        return v / max(float(np.linalg.norm(v)), 1e-8)
