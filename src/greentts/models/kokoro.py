"""Kokoro-82M v1.0 int8 ONNX backend (English and Mandarin, 24 kHz). The graph takes batch size 1."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import InputError, ModelError
from ..voice import Voice
from .assets import KOKORO_SHA256, kokoro_fast_model_path, kokoro_model_path
from .base import audio_digest, ort_session, runtime_version
from .optimize import ADAIN_DIM, ADAIN_INPUT, REWRITE_VERSION

__all__ = ["KokoroBackend", "SAMPLE_RATE"]

SAMPLE_RATE = 24_000  # Kokoro-82M renders 24 kHz


class KokoroBackend:
    name = "kokoro"
    sample_rate = SAMPLE_RATE
    languages = frozenset({"en", "zh"})
    max_ids = 510

    def __init__(self, cache_dir: Path | None = None, graph: str = "im2col") -> None:
        """``graph``: "im2col" (default; bit-identical audio, faster convolutions) or "original"."""
        if graph not in ("im2col", "original"):
            raise ValueError(f"graph must be 'im2col' or 'original', not {graph!r}")
        self._cache_dir = cache_dir
        self.graph = graph
        self._path: Path | None = None
        self._lock = threading.Lock()

    def load(self) -> None:
        with self._lock:
            if self._path is None:
                locate = kokoro_fast_model_path if self.graph == "im2col" else kokoro_model_path
                self._path = locate(self._cache_dir)

    @property
    def model_path(self) -> Path:
        self.load()
        assert self._path is not None
        return self._path

    def new_session(self, threads: int) -> _KokoroSession:
        return _KokoroSession(ort_session(str(self.model_path), threads))

    def audio_key(self, ids: Sequence[int], voice: Voice, speed: float, seed: int = 0) -> str:
        """Kokoro reads the style row for ``len(ids)`` and the AdaIN offsets; it ignores ``seed``."""
        graph = f"{self.graph}:{REWRITE_VERSION}" if self.graph == "im2col" else self.graph
        return audio_digest("kokoro", KOKORO_SHA256, graph, runtime_version(), list(ids),
                            np.asarray(voice.style(len(ids)), np.float32), voice.adain, float(speed))


class _KokoroSession:
    def __init__(self, session) -> None:  # noqa: ANN001
        self._sess = session
        outputs = [o.name for o in session.get_outputs()]
        self._timed = "durations" in outputs
        self._adain = ADAIN_INPUT in {i.name for i in session.get_inputs()}
        self._zeros = np.zeros(ADAIN_DIM, np.float32)
        self._outputs = ["audio", "durations"] if self._timed else [outputs[0]]

    def synthesize(self, ids: Sequence[int], voice: Voice, speed: float, seed: int = 0) -> np.ndarray:
        return self.synthesize_timed(ids, voice, speed, seed)[0]

    def synthesize_timed(self, ids: Sequence[int], voice: Voice, speed: float,
                         seed: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
        """Audio, and the frames (600 samples each) spent on each token, pads included (None when the
        graph has no duration output: ``graph="original"``)."""
        n = len(ids)
        if not 1 <= n <= KokoroBackend.max_ids:
            raise InputError(f"Kokoro takes 1..{KokoroBackend.max_ids} phoneme ids per segment, got {n}")
        feed = {
            "tokens": np.asarray([[0, *ids, 0]], dtype=np.int64),
            "style": voice.style(n),
            "speed": np.asarray([speed], dtype=np.float32),
        }
        if self._adain:
            feed[ADAIN_INPUT] = self._zeros if voice.adain is None else voice.adain
        elif voice.adain is not None:
            raise ModelError(f"voice {voice.name!r} carries per-layer AdaIN offsets, which only the im2col "
                             "Kokoro graph takes (graph='original' cannot speak it)")
        try:
            out = self._sess.run(self._outputs, feed)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f"Kokoro failed on a {n}-id segment: {exc}") from exc
        durations = np.asarray(out[1], dtype=np.int64).reshape(-1) if self._timed else None
        return np.asarray(out[0], dtype=np.float32).reshape(-1), durations
