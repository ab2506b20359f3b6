"""The Kokoro backend on PyTorch with dynamic batching (``EngineConfig(device="cuda")``).

One :class:`~greentts.models.kokoro_batched.BatchedKokoro` (weights loaded once, on the device) and
one :class:`~greentts.runtime.batcher.DynamicBatcher` serve every session: the engine's scheduler
workers become concurrency slots, each blocking on its segment while the batcher runs whatever is
ready together (up to ``max_batch`` items, bucketed by length). Voices and requests stay outside the
model: a segment brings its style row and AdaIN offsets.

It also runs on ``device="cpu"`` (float32), which is how its tests run on machines without a GPU; on
CPU the int8 onnxruntime backend is faster, so the engine uses this one only for CUDA devices.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import GreenTTSError, ModelError
from ..voice import Voice
from .assets import KOKORO_SHA256, kokoro_model_path
from .base import audio_digest
from .kokoro import SAMPLE_RATE

__all__ = ["TorchKokoroBackend"]


class TorchKokoroBackend:
    name = "kokoro"
    sample_rate = SAMPLE_RATE
    languages = frozenset({"en", "zh"})
    max_ids = 510

    def __init__(self, cache_dir: Path | None = None, device: str = "cuda", dtype: str = "bfloat16",
                 max_batch: int = 16, max_batch_ids: int = 8192, max_wait_ms: float = 5.0,
                 threads: int | None = None, bucket_edges: Sequence[int] = (16, 32, 64, 128, 256, 512)) -> None:
        from .kokoro_batched import check_device

        self.device = str(check_device(device))  # a clear error before any weights are read
        self.dtype = "float32" if self.device == "cpu" else dtype
        self._cache_dir, self._threads = cache_dir, threads
        self._batching = {"max_batch": max_batch, "max_batch_ids": max_batch_ids, "max_wait_ms": max_wait_ms,
                          "bucket_edges": tuple(bucket_edges)}
        self._model: Any = None
        self._batcher: Any = None
        self._lock = threading.Lock()

    def load(self) -> None:
        with self._lock:
            if self._model is None:
                from ..runtime.batcher import DynamicBatcher
                from .kokoro_batched import BatchedKokoro

                self._model = BatchedKokoro(kokoro_model_path(self._cache_dir), self.device, self.dtype,
                                            self._threads)
                self._batcher = DynamicBatcher(self._run_batch, name="greentts-kokoro-batch", **self._batching)

    def _run_batch(self, items: list[Any]) -> list[tuple[np.ndarray, np.ndarray]]:
        try:
            return self._model.synthesize(items)
        except GreenTTSError:
            raise
        except Exception as exc:  # torch raises its own types (out of memory, CUDA errors ...)
            raise ModelError(f"Kokoro on {self.device} failed on a batch of {len(items)} segments: {exc}") from exc

    def new_session(self, threads: int) -> _BatchedSession:
        self.load()
        return _BatchedSession(self)

    def submit(self, ids: Sequence[int], voice: Voice, speed: float, priority: int = 1):  # noqa: ANN201
        """Queue one segment; a future of (audio, durations)."""
        from .kokoro_batched import BatchItem

        self.load()
        item = BatchItem(list(ids), np.asarray(voice.style(len(ids)), np.float32).reshape(-1), float(speed),
                         voice.adain)
        return self._batcher.submit(item, len(ids) + 2, priority)

    def stats(self) -> dict[str, Any]:
        """Batches run, items, padding, and (on CUDA) the device memory torch holds."""
        out: dict[str, Any] = {"device": self.device, "dtype": self.dtype}
        if self._batcher is not None:
            s = self._batcher.stats
            out.update(batches=s.batches, items=s.items, padding=s.padding, queue_depth=self._batcher.queue_depth)
        if self.device.startswith("cuda") and self._model is not None:
            from .kokoro_torch import torch

            out.update(gpu_memory_allocated=torch.cuda.memory_allocated(self.device),
                       gpu_memory_reserved=torch.cuda.memory_reserved(self.device))
        return out

    def release_memory(self) -> None:
        """Hand cached device memory back to the driver (after a large job)."""
        if self.device.startswith("cuda") and self._model is not None:
            from .kokoro_torch import torch

            torch.cuda.empty_cache()

    def close(self) -> None:
        if self._batcher is not None:
            self._batcher.close()

    def audio_key(self, ids: Sequence[int], voice: Voice, speed: float, seed: int = 0) -> str:
        from .kokoro_torch import torch

        return audio_digest("kokoro-torch", KOKORO_SHA256, self.device.split(":")[0], self.dtype, torch.__version__,
                            list(ids), np.asarray(voice.style(len(ids)), np.float32), voice.adain, float(speed))


class _BatchedSession:
    """A worker's handle: each call queues one segment and waits for its batch."""

    def __init__(self, backend: TorchKokoroBackend) -> None:
        self._backend = backend

    def synthesize(self, ids: Sequence[int], voice: Voice, speed: float, seed: int = 0) -> np.ndarray:
        return self.synthesize_timed(ids, voice, speed, seed)[0]

    def synthesize_timed(self, ids: Sequence[int], voice: Voice, speed: float,
                         seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        audio, durations = self._backend.submit(ids, voice, speed).result()
        return audio, durations
