"""Kokoro-82M v1.0 int8 ONNX backend (English and Mandarin, 24 kHz). The graph takes batch size 1.

Graphs: "windowed" (default: the im2col graph split into predictor + decoder, the decoder rendering
only the speech and a little of the boundary padding, :mod:`.windowing`), "im2col" (the whole rewritten
graph: the original's audio bit for bit, faster) and "original" (as shipped)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import InputError, ModelError
from ..voice import Voice
from .assets import KOKORO_SHA256, kokoro_graph_paths
from .base import audio_digest, ort_run_options, ort_session, runtime_version
from .optimize import ADAIN_DIM, ADAIN_INPUT, REWRITE_VERSION
from .windowing import FRONT_OUTPUTS, LEAD_CONTEXT, TRAIL_CONTEXT, WINDOW_VERSION, decoder_feed, place, plan_window

__all__ = ["KokoroBackend", "SAMPLE_RATE"]

SAMPLE_RATE = 24_000  # Kokoro-82M renders 24 kHz
GRAPHS = ("windowed", "im2col", "original")
# ids that render a pause, not a sound, when they end a segment (;:,.!?—…"()“” and the space)
SILENT_IDS = frozenset({1, 2, 3, 4, 5, 6, 9, 10, 11, 12, 13, 14, 15, 16})


class KokoroBackend:
    name = "kokoro"
    sample_rate = SAMPLE_RATE
    languages = frozenset({"en", "zh"})
    max_ids = 510

    def __init__(self, cache_dir: Path | None = None, graph: str = "windowed", mapped: bool = True) -> None:
        if graph not in GRAPHS:
            raise ValueError(f"graph must be one of {', '.join(GRAPHS)}, not {graph!r}")
        self._cache_dir = cache_dir
        self.graph = graph
        self.mapped = mapped  # sessions map the weights and their pre-packed copies (models.base.save_mapped)
        self._paths: tuple[Path, ...] | None = None
        self._lock = threading.Lock()

    def load(self) -> None:
        with self._lock:
            if self._paths is None:
                self._paths = kokoro_graph_paths(self._cache_dir, self.graph, self.mapped)

    def new_session(self, threads: int, spinning: bool = False) -> _KokoroSession | _WindowedSession:
        self.load()
        assert self._paths is not None

        def open_graph(path: Path):  # noqa: ANN202 - onnxruntime has no types
            return ort_session(str(path), threads, spinning=spinning, optimized=self.mapped)

        if self.graph == "windowed":
            front, decoder = self._paths
            return _WindowedSession(open_graph(front), open_graph(decoder))
        return _KokoroSession(open_graph(self._paths[0]))

    def audio_key(self, ids: Sequence[int], voice: Voice, speed: float, seed: int = 0) -> str:
        """Kokoro reads the style row for ``len(ids)`` and the AdaIN offsets; it ignores ``seed``."""
        graph = {"im2col": f"im2col:{REWRITE_VERSION}", "original": "original",
                 "windowed": f"windowed:{REWRITE_VERSION}:{WINDOW_VERSION}:{LEAD_CONTEXT}:{TRAIL_CONTEXT}"}[self.graph]
        return audio_digest("kokoro", KOKORO_SHA256, graph, runtime_version(), list(ids),
                            np.asarray(voice.style(len(ids)), np.float32), voice.adain, float(speed))


def _model_feed(ids: Sequence[int], voice: Voice, speed: float) -> dict[str, np.ndarray]:
    """The inputs every Kokoro graph takes: the ids between the two boundary pads, the voice's style row
    for their count, the speed."""
    n = len(ids)
    if not 1 <= n <= KokoroBackend.max_ids:
        raise InputError(f"Kokoro takes 1..{KokoroBackend.max_ids} phoneme ids per segment, got {n}")
    return {"tokens": np.asarray([[0, *ids, 0]], dtype=np.int64), "style": voice.style(n),
            "speed": np.asarray([speed], dtype=np.float32)}


class _KokoroSession:
    def __init__(self, session) -> None:  # noqa: ANN001
        self._sess = session
        outputs = [o.name for o in session.get_outputs()]
        self._timed = "durations" in outputs
        self._adain = ADAIN_INPUT in {i.name for i in session.get_inputs()}
        self._zeros = np.zeros(ADAIN_DIM, np.float32)
        self._outputs = ["audio", "durations"] if self._timed else [outputs[0]]
        self._run_options = ort_run_options()

    def synthesize(self, ids: Sequence[int], voice: Voice, speed: float, seed: int = 0) -> np.ndarray:
        return self.synthesize_timed(ids, voice, speed, seed)[0]

    def synthesize_timed(self, ids: Sequence[int], voice: Voice, speed: float,
                         seed: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
        """Audio, and the frames (600 samples each) spent on each token, pads included (None when the
        graph has no duration output: ``graph="original"``)."""
        n = len(ids)
        feed = _model_feed(ids, voice, speed)
        if self._adain:
            feed[ADAIN_INPUT] = self._zeros if voice.adain is None else voice.adain
        elif voice.adain is not None:
            raise ModelError(f"voice {voice.name!r} carries per-layer AdaIN offsets, which only the im2col "
                             "Kokoro graph takes (graph='original' cannot speak it)")
        try:
            out = self._sess.run(self._outputs, feed, self._run_options)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f"Kokoro failed on a {n}-id segment: {exc}") from exc
        durations = np.asarray(out[1], dtype=np.int64).reshape(-1) if self._timed else None
        return np.asarray(out[0], dtype=np.float32).reshape(-1), durations


class _WindowedSession:
    """The predictor on the whole segment, then the decoder on its speech only (:mod:`.windowing`)."""

    def __init__(self, front, decoder) -> None:  # noqa: ANN001
        self._front, self._decoder = front, decoder
        self._zeros = np.zeros(ADAIN_DIM, np.float32)
        self._run_options = ort_run_options()

    def synthesize(self, ids: Sequence[int], voice: Voice, speed: float, seed: int = 0) -> np.ndarray:
        return self.synthesize_timed(ids, voice, speed, seed)[0]

    def synthesize_timed(self, ids: Sequence[int], voice: Voice, speed: float,
                         seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Audio (as long as the whole segment's, zeros where no frame was rendered) and the frames
        (600 samples each) of each token, pads included."""
        n = len(ids)
        feed = _model_feed(ids, voice, speed)
        style = feed["style"]
        adain = self._zeros if voice.adain is None else voice.adain
        try:
            front = self._front.run(list(FRONT_OUTPUTS), feed, self._run_options)
            durations = np.asarray(front[0], dtype=np.int64).reshape(-1)
            window = plan_window(durations, 2 if ids[-1] in SILENT_IDS else 1)
            audio = self._decoder.run(["audio"], decoder_feed(front, window, style, adain), self._run_options)[0]
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f"Kokoro failed on a {n}-id segment: {exc}") from exc
        return place(audio, window, int(durations.sum())), durations
