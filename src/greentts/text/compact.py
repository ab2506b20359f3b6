"""Read-only string tables on disk for the G2P libraries' large dictionaries (issue 20: memory).

As Python dicts, hibari's two US lexicons take ~46 MB, its tagger's weights ~54 MB and jieba's prefix
dictionary ~65 MB of a process. Each is written once into an SQLite file in the cache folder, keyed on
the sha256 of the files it is made from, and read through :class:`Table`: a ``Mapping`` whose lookups
are indexed queries (~5 us each; recent keys answered from an LRU), with one read-only connection
per table. The libraries get the same answers, so the same phonemes (``tests/test_compact.py``).

A file is built aside and renamed into place by one process at a time (a lock file beside it); a stamp
beside it records its sha256, checked when it is opened: a damaged or half-built file is built again,
never read. Verified tables are read without the lock, so a read-only cache that has them works.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..runtime.files import AtomicFile, exclusive, sha256_file, write_atomic

__all__ = ["FORMAT", "Table", "table_file"]

FORMAT = 1  # the layout of the files below; part of their key
_MISSING = object()
_lock = threading.Lock()

Tables = Mapping[str, Mapping[str, Any]]  # table name -> (key -> JSON-able value)


class Table(Mapping[str, Any]):
    """One table of a file written by :func:`table_file`, as a read-only ``Mapping`` of str keys.

    Values are decoded from JSON on lookup; the ``cache`` most recent keys (and misses) are kept. Like
    a dict's, a value is shared between lookups: callers must not change it."""

    def __init__(self, path: Path, name: str, cache: int = 16384) -> None:
        self.path, self.name = Path(path), name
        self._uri = f"file:{quote(str(self.path))}?mode=ro&immutable=1"
        # one connection, used by one thread at a time (a connection per thread would hold a page cache per
        # thread: a server has dozens), and opened again in a forked child (SQLite's rule)
        self._conn_lock = threading.Lock()
        self._conn, self._pid = self._connect(), os.getpid()
        self._get = functools.lru_cache(maxsize=cache)(self._query)
        self._len: int | None = None

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._uri, uri=True, check_same_thread=False)
        conn.execute("PRAGMA cache_size = -512")  # KiB: the OS page cache holds the file anyway
        return conn

    def _rows(self, sql: str, *args: str) -> list[tuple[Any, ...]]:
        with self._conn_lock:
            if self._pid != os.getpid():
                self._conn, self._pid = self._connect(), os.getpid()
            return self._conn.execute(sql, args).fetchall()

    def _query(self, key: str) -> Any:
        rows = self._rows(f'SELECT v FROM "{self.name}" WHERE k = ?', key)
        return json.loads(rows[0][0]) if rows else _MISSING

    def get(self, key: object, default: Any = None) -> Any:
        value = self._get(key) if isinstance(key, str) else _MISSING
        return default if value is _MISSING else value

    def __getitem__(self, key: str) -> Any:
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return self.get(key, _MISSING) is not _MISSING

    def __iter__(self) -> Iterator[str]:
        return iter([k for (k,) in self._rows(f'SELECT k FROM "{self.name}"')])

    def __len__(self) -> int:
        if self._len is None:
            self._len = int(self._rows(f'SELECT count(*) FROM "{self.name}"')[0][0])
        return self._len


def table_file(folder: Path, label: str, sources: Sequence[Path], build: Callable[[], Tables]) -> Path:
    """The SQLite file holding the tables ``build()`` returns, made from the files ``sources``.

    Keyed on :data:`FORMAT`, ``label`` and the sources' sha256: built (by one process at a time) when
    missing, damaged or made from other sources; verified against its stamp every time."""
    key = {"format": FORMAT, "label": label, "sources": [sha256_file(Path(p)) for p in sources]}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    path = Path(folder) / f"{label}-{digest}.sqlite"
    stamp = path.with_suffix(".json")
    if _verified(path, stamp, key):  # no lock needed to read: a read-only cache with built tables works
        return path
    with _lock, exclusive(path.with_suffix(".lock")):
        if not _verified(path, stamp, key):
            with AtomicFile(path) as af:
                _write(af.tmp, build())
                meta = {"key": key, "sha256": sha256_file(af.tmp)}
                af.commit()
            write_atomic(stamp, json.dumps(meta))
    return path


def _verified(path: Path, stamp: Path, key: dict[str, Any]) -> bool:
    try:
        meta = json.loads(stamp.read_text(encoding="utf-8"))
        return bool(meta.get("key") == key and path.is_file() and meta.get("sha256") == sha256_file(path))
    except (OSError, ValueError, AttributeError):
        return False


def _write(path: Path, tables: Tables) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode = OFF")  # a fresh file, renamed into place only when whole
        conn.execute("PRAGMA synchronous = OFF")
        for name, table in tables.items():
            if not name.isidentifier():
                raise ValueError(f"table name must be an identifier, not {name!r}")
            conn.execute(f'CREATE TABLE "{name}" (k TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID')
            rows = ((str(k), json.dumps(v, ensure_ascii=False, separators=(",", ":"))) for k, v in table.items())
            conn.executemany(f'INSERT INTO "{name}" VALUES (?, ?)', rows)
        conn.commit()
    finally:
        conn.close()
