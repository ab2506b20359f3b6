"""Atomic writes: the one place where files are created beside their target and renamed into place.

Every writer in greentts (audio files, manifests, reports, subtitles, the voice store, assembled
weights, the Whisper model folder) goes through :class:`AtomicFile` or :func:`write_atomic`. A crash
or an error leaves either the old file or the new one, whole, and never a temporary file behind::

    write_atomic(path, b"...")                      # bytes, str, or a callable given the open file
    with AtomicFile(path) as af:                    # streamed: write the temporary path, then commit
        encoder = open_encoder(af.tmp)
        ...
        af.commit(before_rename=manifest.append)    # fsync -> before_rename() -> rename
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import IO, Any

__all__ = ["AtomicFile", "default_cache_dir", "exclusive", "make_public", "sha256_file", "write_atomic"]


def _umask() -> int:
    try:  # Linux: read it without the os.umask() set-and-restore race between threads
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def make_public(fd: int) -> None:
    """Give a ``mkstemp`` file (created 0600) the mode a normally created file would have (0666 & ~umask)."""
    os.fchmod(fd, 0o666 & ~_umask())


class AtomicFile:
    """A temporary sibling of ``path`` (a file, or a folder with ``directory=True``), renamed onto
    ``path`` by :meth:`commit`. Leaving the ``with`` block without a commit removes it; ``path`` is
    untouched until the rename. Files get the mode a normally created file would have."""

    def __init__(self, path: str | Path, *, directory: bool = False) -> None:
        self.path = Path(path)
        self.directory = directory
        self.committed = self._synced = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        prefix, suffix = f".{self.path.name}.", ".tmp"
        if directory:
            self.tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=self.path.parent))
        else:
            fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=self.path.parent)
            try:
                make_public(fd)
            finally:
                os.close(fd)
            self.tmp = Path(name)

    def open(self, mode: str = "wb", **kwargs: Any) -> IO[Any]:
        """The temporary file, opened (``"wb"``, ``"w"`` with ``encoding=`` ...)."""
        return open(self.tmp, mode, **kwargs)  # noqa: SIM115 - the caller closes it

    def sync(self) -> None:
        """Flush the temporary file to disk (once; :meth:`commit` does it if not done): writers of
        several files sync them all before renaming any."""
        if not self.directory and not self._synced:
            with open(self.tmp, "rb+") as f:
                os.fsync(f.fileno())
        self._synced = True

    def commit(self, before_rename: Callable[[], None] | None = None, *, sync: bool = True) -> Path:
        """fsync the temporary file, call ``before_rename()`` (batch jobs record the file in their
        manifest before it appears), then rename it onto ``path`` (a folder replaces the old one).
        ``sync=False`` skips the fsync, for files whose readers verify them (a cache entry torn by a
        power cut fails its checksum): the rename is still atomic for every other process."""
        if sync:
            self.sync()
        if before_rename is not None:
            before_rename()
        if self.directory and self.path.exists():
            shutil.rmtree(self.path)
        os.replace(self.tmp, self.path)
        self.committed = True
        return self.path

    def discard(self) -> None:
        """Remove the temporary file (nothing happens after a commit)."""
        if self.committed:
            return
        if self.directory:
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.discard()


def write_atomic(path: str | Path, data: bytes | str | Callable[[IO[bytes]], object],
                 before_rename: Callable[[], None] | None = None, *, sync: bool = True) -> Path:
    """Write ``data`` (bytes, text as UTF-8, or a callable given the open binary file) to ``path``
    atomically; see :class:`AtomicFile` (and its ``commit`` for ``sync``)."""
    with AtomicFile(path) as af:
        with af.open("wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data.encode("utf-8") if isinstance(data, str) else data)
        return af.commit(before_rename, sync=sync)


@contextmanager
def exclusive(lock_path: str | Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_path`` (created if missing), waiting for other processes:
    for work that several processes may start at once and only one should do (building a shared cache
    file), where a rename alone cannot make it atomic (replacing a whole folder). Where ``flock`` is
    unavailable (not POSIX), nothing is locked."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    Path(lock_path).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def default_cache_dir() -> Path:
    """``$GREENTTS_CACHE_DIR``, else ``$XDG_CACHE_HOME/greentts``, else ``~/.cache/greentts``."""
    env = os.environ.get("GREENTTS_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "greentts"


def sha256_file(path: Path) -> str:
    """The sha256 of a file's bytes, in hex (read in 4 MiB pieces)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()
