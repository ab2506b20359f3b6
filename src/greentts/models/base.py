"""The backend protocol: phoneme ids + voice + speed -> float32 audio at the backend's native rate.

A :class:`Backend` holds what is shared and immutable (where the weights are); each scheduler
worker opens its own :class:`BackendSession` with an explicit thread count, lazily, on first use.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from ..voice import Voice

__all__ = ["Backend", "BackendSession", "audio_digest", "cpu_tag", "ort_run_options", "ort_session", "runtime_version",
           "save_mapped"]


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


def _ort_options(threads: int = 1, spinning: bool = False):  # noqa: ANN202 - onnxruntime has no types
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
    return so


def ort_session(path: str, threads: int, spinning: bool = False, optimized: bool = False):  # noqa: ANN201
    """An onnxruntime CPU session with explicit intra-op threads.

    ``spinning``: let the pool threads of a multi-thread session busy-wait for work. Off by default: on
    the 2-thread fast-lane session it cost 20-29 % more CPU time (so estimated energy) for the same wall
    time within noise (``python bench/spinning.py``).

    ``optimized``: ``path`` was written by :func:`save_mapped`: its graph is already optimized (not again),
    and its weights and their pre-packed copies are memory-mapped from its data file."""
    import onnxruntime as ort

    so = _ort_options(threads, spinning)
    if optimized:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def save_mapped(src: Path, dst: Path) -> Path:
    """Write ``src`` as onnxruntime runs it on this CPU: the optimized graph at ``dst`` and, beside it in
    ``<dst stem>.bin`` (page-aligned), every weight of 1 KiB or more *and* the kernels' pre-packed copies
    of them. A session opened on ``dst`` (:func:`ort_session` with ``optimized=True``) maps that file
    instead of holding its own copies on the heap: sessions of one process, and processes, share the
    same page-cache pages (the audio is bit-identical). Pre-packed layouts depend on the onnxruntime
    version and the CPU's instruction set, so callers key the files on both (:func:`cpu_tag`).
    Returns the data file."""
    import onnxruntime as ort

    data = dst.with_suffix(".bin")
    so = _ort_options()
    so.optimized_model_filepath = str(dst)
    so.add_session_config_entry("session.optimized_model_external_initializers_file_name", data.name)
    so.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
    so.add_session_config_entry("session.save_external_prepacked_constant_initializers", "1")
    ort.InferenceSession(str(src), so, providers=["CPUExecutionProvider"])
    if not (dst.is_file() and data.is_file()):
        raise OSError(f"onnxruntime wrote no optimized graph and data file at {dst}")
    return data


def cpu_tag() -> str:
    """What decides the layout of onnxruntime's pre-packed weights here: the onnxruntime version, the
    machine and the CPU's instruction-set flags."""
    import platform

    flags = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = next((line.split(":", 1)[1].strip() for line in f if line.startswith(("flags", "Features"))), "")
    except OSError:
        flags = platform.processor()
    return audio_digest(runtime_version(), platform.machine(), " ".join(sorted(flags.split())))[:16]


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
