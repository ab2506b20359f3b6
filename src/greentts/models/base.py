"""The backend protocol: phoneme ids + voice + speed -> float32 audio at the backend's native rate.

A :class:`Backend` holds what is shared and immutable (where the weights are); each scheduler
worker opens its own :class:`BackendSession` with an explicit thread count, lazily, on first use.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from ..voice import Voice

__all__ = ["Backend", "BackendSession", "audio_digest", "ort_run_options", "ort_session", "runtime_version"]


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

    def audio_key(self, ids: Sequence[int], voice: Voice, speed: float, seed: int) -> str:
        """A digest of everything that decides this backend's audio for these inputs (model, runtime,
        ids, the voice data it reads, speed, and the seed if it uses one): equal keys, equal samples.
        The audio cache stores rendered segments under it."""
        ...


def audio_digest(*parts: bytes | str | float | int | np.ndarray | Sequence[int] | None) -> str:
    """sha256 over ``parts``, each length-prefixed (so no two different part lists collide); numbers as
    their float32/int64 bytes (what the models are fed), arrays as dtype, shape and bytes."""
    import hashlib

    h = hashlib.sha256()
    for p in parts:
        if p is None:
            b = b"\x00none"
        elif isinstance(p, str):
            b = p.encode("utf-8")
        elif isinstance(p, bytes):
            b = p
        elif isinstance(p, np.ndarray):
            b = f"{p.dtype.str}{p.shape}".encode() + np.ascontiguousarray(p).tobytes()
        elif isinstance(p, float):
            b = np.float32(p).tobytes()
        elif isinstance(p, int):
            b = np.int64(p).tobytes()
        else:
            b = np.asarray(p, dtype=np.int64).tobytes()
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def runtime_version() -> str:
    """The onnxruntime version (its kernels decide the last bits of the audio)."""
    import onnxruntime as ort

    return str(ort.__version__)


def ort_session(path: str, threads: int, spinning: bool = False):  # noqa: ANN201 - onnxruntime has no types
    """An onnxruntime CPU session with explicit intra-op threads.

    ``spinning``: let the pool threads of a multi-thread session busy-wait for work. Off by default: on
    the 2-thread fast-lane session it cost 20-29 % more CPU time (so estimated energy) for the same wall
    time within noise (``python bench/spinning.py``)."""
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
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def ort_run_options():  # noqa: ANN201 - onnxruntime has no types
    """Run options that hand the CPU arena's free memory back after each run.

    A session's arena otherwise keeps its high-water mark for life: one long segment (a 510-id
    Kokoro segment needs ~650 MB of activations) and every session stays that size. On a stream of
    long sentences (`python bench/arena_shrink.py --rounds 3`, medians) shrinking gave peak RSS
    1322 MB instead of 1575 and 889 MB after the stream instead of 1575, at 0.99x the time."""
    import onnxruntime as ort

    ro = ort.RunOptions()
    ro.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    return ro
