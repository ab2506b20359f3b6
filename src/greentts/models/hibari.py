"""hibari: a 6M-parameter English student of Kokoro (voice af_heart), the eco tier. 24 kHz, ~100x real time."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import InputError, ModelError, VoiceError
from ..voice import Voice
from .assets import hibari_model_path
from .base import audio_digest, ort_session, runtime_version

__all__ = ["HibariBackend"]


class HibariBackend:
    name = "hibari"
    sample_rate = 24_000
    languages = frozenset({"en"})
    max_ids = 400  # hibari's own sentence limit

    def __init__(self) -> None:
        self._path: Path | None = None
        self._identity: str | None = None  # package and runtime versions, read once (not per segment)

    def load(self) -> None:
        if self._path is None:
            self._path = hibari_model_path()

    def new_session(self, threads: int) -> _HibariSession:
        self.load()
        return _HibariSession(ort_session(str(self._path), threads))

    def audio_key(self, ids: Sequence[int], voice: Voice, speed: float, seed: int = 0) -> str:
        """hibari speaks one voice (it reads no table) and draws its noise from ``seed``."""
        if self._identity is None:
            from importlib.metadata import version

            self._identity = f"{version('hibari-tts')}:{runtime_version()}"
        return audio_digest("hibari", self._identity, voice.name, list(ids), float(speed), int(seed))


class _HibariSession:
    def __init__(self, session) -> None:  # noqa: ANN001
        self._sess = session

    def synthesize(self, ids: Sequence[int], voice: Voice, speed: float, seed: int = 0) -> np.ndarray:
        from hibari import dsp

        if "hibari" not in voice.backends:
            raise VoiceError(f"the eco tier (hibari) speaks only af_heart, not {voice.name!r}")
        if not 1 <= len(ids) <= HibariBackend.max_ids:
            raise InputError(f"hibari takes 1..{HibariBackend.max_ids} phoneme ids per segment, got {len(ids)}")
        try:
            out = self._sess.run(None, {"ids": np.asarray([[0, *ids, 0]], np.int64),
                                        "speed": np.asarray([speed], np.float32)})
            lh, th, ln, lr, phi, f0 = (o[0] for o in out)
            audio = dsp.synth(lh, th, ln, lr, phi, f0, np.random.default_rng(seed))
        except Exception as exc:
            raise ModelError(f"hibari failed on a {len(ids)}-id segment: {exc}") from exc
        return np.asarray(audio, dtype=np.float32).reshape(-1)
