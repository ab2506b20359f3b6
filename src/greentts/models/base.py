"""The backend protocol: phoneme ids + voice + speed -> float32 audio at the backend's native rate.

A :class:`Backend` holds what is shared and immutable (where the weights are); each scheduler
worker opens its own :class:`BackendSession` with an explicit thread count, lazily, on first use.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from ..voice import Voice

__all__ = ["Backend", "BackendSession", "ort_session"]


@runtime_checkable
class BackendSession(Protocol):
    def synthesize(self, ids: Sequence[int], voice: Voice, speed: float, seed: int) -> np.ndarray:
        """Phoneme ids (without pads) -> mono float32 audio at the backend's sample rate."""
        ...


@runtime_checkable
class Backend(Protocol):
    name: str
    sample_rate: int
    languages: frozenset[str]
    max_ids: int

    def new_session(self, threads: int) -> BackendSession: ...

    def load(self) -> None:
        """Locate/verify weights now (otherwise done by the first session)."""
        ...


def ort_session(path: str, threads: int):  # noqa: ANN201 - onnxruntime has no types
    """An onnxruntime CPU session with explicit intra-op threads."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # EXTENDED measured ~5-10 % faster than the default ALL on Kokoro here (ALL adds NCHWc layout
    # transforms that do not pay off for these 1-D convolutions); keep the memory arena on (off: RSS
    # under load 2.6 GB instead of 1.5 GB, glibc fragmentation).
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    # Memory patterns are planned per input shape, and every segment length is a new shape: with them a
    # loaded server's RSS climbed for minutes (1.01 -> 1.56 GB); without, it levels off at 1.32 GB within
    # 80 s, at the same speed (bench/ort_mem_pattern.py: 1.03x time, within noise).
    so.enable_mem_pattern = False
    so.log_severity_level = 3
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
