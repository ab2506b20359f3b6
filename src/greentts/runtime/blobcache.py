"""A content-addressed cache of numpy arrays on disk, with a byte cap and least-recently-used eviction.

Safe under concurrent threads and processes sharing one folder: an entry is written to a temporary
sibling and renamed into place (:func:`~greentts.runtime.files.write_atomic`), so a reader sees a whole
entry or none; two writers of one key write the same bytes, and the last rename wins. Every entry
carries its key and the sha256 of its body: an entry that does not verify (truncated, flipped bits,
another key's file) is a miss and is removed, never returned. A hit refreshes the entry's mtime, which
is the LRU clock; when the folder grows past its cap, the process that notices evicts the oldest
entries down to 90 % of it (one process at a time, under an ``flock``). No fsync: an entry torn by a
power cut fails its checksum and is a miss.

Layout: ``<dir>/<2 hex>/<64 hex>.blob``; one file holds ``MAGIC``, a 4-byte header length, a JSON header
(key, the caller's metadata, each array's dtype and shape, the body's sha256) and the arrays' bytes.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import struct
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .files import write_atomic

__all__ = ["BlobCache", "CacheEntry", "CacheStats"]

MAGIC = b"GTBLOB1\n"
SUFFIX = ".blob"
KEEP_FRACTION = 0.9  # eviction goes down to this fraction of the cap, so it does not run on every write
STALE_TMP_S = 3600.0  # a writer's temporary file older than this was left by a crash


@dataclass(frozen=True)
class CacheEntry:
    meta: dict[str, Any]
    arrays: dict[str, np.ndarray]


@dataclass(frozen=True)
class CacheStats:
    hits: int
    misses: int
    corrupt: int
    writes: int
    evicted: int
    bytes: int  # this process's view of the folder's size (exact after a scan)
    max_bytes: int


class BlobCache:
    """``get(key)`` / ``put(key, meta, arrays)``; keys are any strings (hashed to file names)."""

    def __init__(self, directory: str | Path, max_bytes: int) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, not {max_bytes}")
        self.directory = Path(directory).expanduser()
        self.max_bytes = int(max_bytes)
        self._lock = threading.Lock()
        self._bytes: int | None = None  # scanned lazily, on the first write
        self._counts = {"hits": 0, "misses": 0, "corrupt": 0, "writes": 0, "evicted": 0}

    def path(self, key: str) -> Path:
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        return self.directory / digest[:2] / (digest + SUFFIX)

    # -- reading ---------------------------------------------------------------------------------

    def get(self, key: str) -> CacheEntry | None:
        """The entry stored under ``key``, or None (also for an entry that does not verify, which is removed)."""
        path = self.path(key)
        try:
            data = path.read_bytes()
        except OSError:
            self._count("misses")
            return None
        entry = _decode(data, key)
        if entry is None:
            self._count("corrupt")
            self._count("misses")
            _unlink(path)
            return None
        try:
            os.utime(path)  # the LRU clock
        except OSError:
            pass  # evicted meanwhile: the entry read is still whole
        self._count("hits")
        return entry

    # -- writing ---------------------------------------------------------------------------------

    def put(self, key: str, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> bool:
        """Store ``arrays`` (and JSON-able ``meta``) under ``key``; False if it is larger than the cap or
        the disk refused it (a cache that cannot write only misses; it never fails the caller)."""
        data = _encode(key, dict(meta), arrays)
        if len(data) > self.max_bytes:
            return False
        path = self.path(key)
        try:
            old = path.stat().st_size if path.exists() else 0
            write_atomic(path, data, sync=False)
        except OSError:
            return False
        self._count("writes")
        with self._lock:
            if self._bytes is not None:
                self._bytes += len(data) - old
            over = self._bytes is None or self._bytes > self.max_bytes
        if over:
            self.evict()
        return True

    def evict(self) -> int:
        """Scan the folder and, if it is over the cap, remove the least recently used entries down to
        ``KEEP_FRACTION`` of it; returns how many were removed (0 when another process is evicting)."""
        with _exclusive(self.directory / ".evict.lock") as held:
            if not held:
                return 0
            entries = sorted(self._scan(), key=lambda e: e[0])  # oldest first
            total = sum(size for _, size, _ in entries)
            removed = 0
            if total > self.max_bytes:
                target = int(self.max_bytes * KEEP_FRACTION)
                for _, size, path in entries:
                    if total <= target:
                        break
                    if _unlink(path):
                        removed += 1
                    total -= size
            with self._lock:
                self._bytes = total
                self._counts["evicted"] += removed
            return removed

    def clear(self) -> int:
        """Remove every entry; returns how many."""
        removed = sum(_unlink(path) for _, _, path in self._scan())
        with self._lock:
            self._bytes = 0
        return removed

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(**self._counts, bytes=self._bytes or 0, max_bytes=self.max_bytes)

    # -- internals -------------------------------------------------------------------------------

    def _count(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1

    def _scan(self) -> Iterator[tuple[float, int, Path]]:
        """(mtime, size, path) of every entry; removes temporary files a crashed writer left."""
        if not self.directory.is_dir():
            return
        now = time.time()
        for shard in os.scandir(self.directory):
            if not shard.is_dir(follow_symlinks=False) or len(shard.name) != 2:
                continue
            for f in os.scandir(shard.path):
                try:
                    st = f.stat(follow_symlinks=False)
                except OSError:
                    continue  # removed meanwhile
                if f.name.endswith(SUFFIX) and not f.name.startswith("."):
                    yield st.st_mtime, st.st_size, Path(f.path)
                elif f.name.endswith(".tmp") and now - st.st_mtime > STALE_TMP_S:
                    _unlink(Path(f.path))


def _encode(key: str, meta: dict[str, Any], arrays: Mapping[str, np.ndarray]) -> bytes:
    parts, layout = [], []
    for name, arr in arrays.items():
        a = np.ascontiguousarray(arr)
        if a.dtype.hasobject:
            raise ValueError(f"array {name!r} holds Python objects; only plain numeric arrays can be cached")
        layout.append({"name": name, "dtype": a.dtype.str, "shape": list(a.shape), "nbytes": a.nbytes})
        parts.append(a.tobytes())
    body = b"".join(parts)
    header = json.dumps({"key": key, "meta": meta, "arrays": layout,
                         "sha256": hashlib.sha256(body).hexdigest()}, sort_keys=True).encode("utf-8")
    return MAGIC + struct.pack("<I", len(header)) + header + body


def _decode(data: bytes, key: str) -> CacheEntry | None:
    """The entry in ``data`` if it is whole, verifies, and was stored under ``key``; else None."""
    start = len(MAGIC) + 4
    if len(data) < start or not data.startswith(MAGIC):
        return None
    (n,) = struct.unpack("<I", data[len(MAGIC):start])
    try:
        header = json.loads(data[start: start + n].decode("utf-8"))
        if header["key"] != key:
            return None
        body = memoryview(data)[start + n:]
        if hashlib.sha256(body).hexdigest() != header["sha256"]:
            return None
        arrays, offset = {}, 0
        for a in header["arrays"]:
            size = int(a["nbytes"])
            arr = np.frombuffer(body[offset: offset + size], dtype=np.dtype(a["dtype"])).reshape(a["shape"])
            arrays[a["name"]] = arr.copy()
            offset += size
        if offset != len(body):
            return None
        return CacheEntry(dict(header["meta"]), arrays)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
        return True
    except OSError:
        return False


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[bool]:
    """Hold an exclusive, non-blocking ``flock`` on ``lock_path``: True if taken, False if another holds it."""
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
