"""Measuring a cloned voice against its reference: used by the tests and ``bench/clone.py``.

* similarity: cosine between the reference clip and held-out sentences spoken by the voice, with two
  encoders: CAM++ (the one enrollment optimises) and Resemblyzer's GE2E (independent of enrollment);
* pitch: median F0 (pYIN) of the held-out sentences vs the reference's;
* intelligibility: Whisper base transcribes the held-out sentences (WER over six English sentences, so
  one wrong word moves the rate by about one point; CER over twelve Mandarin sentences, about 180
  characters, so one wrong character moves it by about half a point).

Reference clips for tests are synthesized with stock voices the cloning prior never saw
(``Prior.held_out``), optionally altered in pitch and speed (``alter``: a tape-speed change, which
raises pitch and rate together by the same factor).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..models.kokoro import SAMPLE_RATE as SR
from . import require
from .analysis import pitch_stats

__all__ = ["REFERENCE_TEXT", "HELD_OUT_SENTENCES", "reference_clip", "Judge", "SpeakerJudges", "VoiceScore"]

REFERENCE_TEXT = {
    "en": ("I moved to the coast three years ago, and I still walk along the harbour every evening. "
           "The fishing boats come in around six, and the whole place smells of salt and diesel."),
    "zh": "我三年前搬到了海边，现在每天傍晚还会沿着港口散步。渔船六点左右回来，整个地方都是海水和柴油的味道。",
}
HELD_OUT_SENTENCES = {
    "en": ["Your appointment has been moved to Thursday at half past two.",
           "The library will be closed on Monday for the public holiday.",
           "Turn left at the second traffic light and the station is on your right.",
           "Please bring your passport and boarding pass to the gate.",
           "The house specialty at this restaurant is braised fish.",
           "There will be light rain tomorrow morning, so take an umbrella."],
    "zh": ["您的预约已经改到星期四下午两点半。", "图书馆星期一放假，不对外开放。", "在第二个红绿灯左转，车站就在您的右边。",
           "请把护照和登机牌准备好。", "这家饭店的招牌菜是红烧鱼。", "明天上午会有小雨，记得带伞。",
           "我们明天早上八点在公司门口集合。", "这本书一共有三百二十页。", "他每天骑自行车去上班。",
           "请您稍等一下，经理马上就来。", "今年夏天特别热，空调一直开着。", "孩子们在公园里放风筝。"],
}


def reference_clip(engine: Any, voice: str, lang: str, alter: float = 1.0) -> np.ndarray:
    """A 24 kHz reference recording of ``voice`` reading :data:`REFERENCE_TEXT`; ``alter`` > 1 speeds it
    up and raises its pitch by that factor (resampling), < 1 the opposite."""
    import soxr

    audio = engine.synthesize(REFERENCE_TEXT[lang], voice=voice, lang=lang).audio
    if alter != 1.0:
        audio = soxr.resample(audio, SR, round(SR / alter)).astype(np.float32)
    return audio


def resemblyzer_embedding(encoder: Any, audio: np.ndarray, sr: int) -> np.ndarray:
    """Resemblyzer's own utterance embedding (its preprocessing: 16 kHz, volume, voice-activity trim)."""
    import soxr
    from resemblyzer import preprocess_wav

    wav = preprocess_wav(soxr.resample(audio, sr, 16000).astype(np.float32), source_sr=16000)
    return encoder.embed_utterance(wav)


@dataclass
class VoiceScore:
    voice: str
    campplus: float  # mean cosine to the reference over the held-out sentences
    resemblyzer: float
    f0_median_hz: float
    error_rate: float  # WER (en) or CER (zh), 0..1
    duration_s: float  # total audio of the held-out sentences

    def as_dict(self) -> dict[str, Any]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


class Judge:
    """Holds the encoders and the ASR model; scores voices on held-out sentences."""

    def __init__(self, engine: Any, cache_dir: Any) -> None:
        from pathlib import Path

        from ..quality.asr import Transcriber
        from .campplus import SpeakerEncoder, fetch_campplus_weights

        require("resemblyzer")
        from resemblyzer import VoiceEncoder

        self.engine = engine
        self.campplus = SpeakerEncoder(fetch_campplus_weights(Path(cache_dir)))
        self.ge2e = VoiceEncoder(device="cpu", verbose=False)
        self.asr = Transcriber(Path(cache_dir))

    def _ge2e(self, audio: np.ndarray, sr: int) -> np.ndarray:
        return resemblyzer_embedding(self.ge2e, audio, sr)

    @staticmethod
    def _cos(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))

    def reference(self, audio: np.ndarray, sr: int = SR) -> dict[str, Any]:
        return {"campplus": self.campplus.embed_numpy(audio, sr), "ge2e": self._ge2e(audio, sr),
                "pitch": pitch_stats(audio, sr)}

    def score(self, voice: str, ref: dict[str, Any], lang: str, **settings: Any) -> VoiceScore:
        from ..quality.asr import char_error_rate, word_error_rate

        cams, ges, errs, audio_all = [], [], [], []
        for text in HELD_OUT_SENTENCES[lang]:
            r = self.engine.synthesize(text, voice=voice, lang=lang, **settings)
            cams.append(self._cos(self.campplus.embed_numpy(r.audio, r.sample_rate), ref["campplus"]))
            ges.append(self._cos(self._ge2e(r.audio, r.sample_rate), ref["ge2e"]))
            hyp = self.asr.transcribe(r.audio, r.sample_rate, lang)
            errs.append(char_error_rate(text, hyp) if lang == "zh" else word_error_rate(text, hyp))
            audio_all.append(r.audio)
        joined = np.concatenate(audio_all)
        return VoiceScore(voice, float(np.mean(cams)), float(np.mean(ges)), pitch_stats(joined, SR).median_hz,
                          float(np.mean(errs)), len(joined) / SR)


class SpeakerJudges:
    """Speaker encoders that judge clones, each an ``embed`` of 24 kHz audio, plus Whisper for intelligibility.

    ``campplus`` is the encoder enrollment's loss uses; ``ge2e`` (Resemblyzer) and ``ecapa`` are in no loss
    and were not used to fit the preview map: they are the judges a clone cannot have been fitted to.
    """

    def __init__(self, cache_dir: Any) -> None:
        from pathlib import Path

        from ..quality.asr import Transcriber
        from .campplus import SpeakerEncoder, fetch_campplus_weights
        from .ecapa import EcapaEncoder, fetch_ecapa_weights

        require("resemblyzer")
        from resemblyzer import VoiceEncoder

        self._campplus = SpeakerEncoder(fetch_campplus_weights(Path(cache_dir)))
        self._ge2e = VoiceEncoder(device="cpu", verbose=False)
        self._ecapa = EcapaEncoder(fetch_ecapa_weights(Path(cache_dir)))
        self._fns = {"campplus": lambda a: self._campplus.embed_numpy(a, SR), "ge2e": self._embed_ge2e,
                     "ecapa": lambda a: self._ecapa.embed(a, SR)}
        self._asr = Transcriber(Path(cache_dir))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._fns)

    def _embed_ge2e(self, audio: np.ndarray) -> np.ndarray:
        return resemblyzer_embedding(self._ge2e, audio, SR)

    def embed(self, audio: np.ndarray) -> dict[str, np.ndarray]:
        return {k: np.asarray(f(np.asarray(audio, np.float32)), np.float32).reshape(-1) for k, f in self._fns.items()}

    @staticmethod
    def cos(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))

    def error_rate(self, audio: list[np.ndarray], lang: str, n: int) -> float:
        """Mean WER (en) / CER (zh) of ``audio``: the first ``n`` held-out sentences read in order."""
        from ..quality.asr import char_error_rate, word_error_rate

        errs = []
        for text, a in zip(HELD_OUT_SENTENCES[lang][:n], audio):
            hyp = self._asr.transcribe(a, SR, lang)
            errs.append(char_error_rate(text, hyp) if lang == "zh" else word_error_rate(text, hyp))
        return float(np.mean(errs))
