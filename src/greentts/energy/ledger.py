"""An optional SQLite ledger: one row per request, one row per engine session (idle energy kept apart).

Several processes may write the same file (SQLite locking, WAL journal). ``summarize`` groups requests
by voice, backend and tier: J per audio second, kWh and gCO2e per 1000 sentences. A write that fails
(disk full, locked too long) is logged as a warning and never breaks synthesis.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from ..errors import InputError

__all__ = ["Ledger", "summarize"]

_log = logging.getLogger("greentts.energy")
# 2: requests.cache and requests.avoided_j (the audio cache); 3: requests.parts (joules by kind of work,
# JSON). Older files are upgraded in place; their requests read as cache "off" and no parts.
SCHEMA_VERSION = 3

_UPGRADES = {1: ("ALTER TABLE requests ADD COLUMN cache TEXT NOT NULL DEFAULT 'off'",
                 "ALTER TABLE requests ADD COLUMN avoided_j REAL NOT NULL DEFAULT 0"),
             2: ("ALTER TABLE requests ADD COLUMN parts TEXT NOT NULL DEFAULT '{}'",)}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL, session TEXT NOT NULL,
    voice TEXT NOT NULL, backend TEXT NOT NULL, tier TEXT NOT NULL, lang TEXT NOT NULL,
    chars INTEGER NOT NULL, sentences INTEGER NOT NULL, segments INTEGER NOT NULL,
    audio_s REAL NOT NULL, wall_s REAL NOT NULL, status TEXT NOT NULL,
    joules REAL NOT NULL, kwh REAL NOT NULL, gco2e REAL NOT NULL, method TEXT NOT NULL,
    devices TEXT NOT NULL, gco2e_per_kwh REAL NOT NULL, pue REAL NOT NULL, grid TEXT NOT NULL,
    cache TEXT NOT NULL DEFAULT 'off', avoided_j REAL NOT NULL DEFAULT 0, parts TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS sessions (
    session TEXT PRIMARY KEY, started REAL NOT NULL, updated REAL NOT NULL, meter TEXT NOT NULL,
    method TEXT NOT NULL, idle_watts TEXT NOT NULL, wall_s REAL NOT NULL,
    total_j REAL NOT NULL, idle_j REAL NOT NULL, attributed_j REAL NOT NULL, startup_j REAL NOT NULL,
    gco2e_per_kwh REAL NOT NULL, pue REAL NOT NULL
);
"""


class Ledger:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self.session = uuid.uuid4().hex[:12]
        self.started = time.time()
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as db:
                version = db.execute("PRAGMA user_version").fetchone()[0]
                tables = db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]
                if version not in (0, *_UPGRADES, SCHEMA_VERSION) or (version == 0 and tables):
                    raise InputError(f"energy ledger {self.path} has schema version {version}, this greentts "
                                     f"writes version {SCHEMA_VERSION}; use a new file")
                for step in range(version or SCHEMA_VERSION, SCHEMA_VERSION):  # same rows, more columns
                    for sql in _UPGRADES[step]:
                        db.execute(sql)
                db.executescript(_SCHEMA)
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            with closing(sqlite3.connect(self.path, timeout=30)) as db:
                db.execute("PRAGMA journal_mode=WAL")  # stored in the file: once is enough
        except (sqlite3.Error, OSError) as exc:
            raise InputError(f"energy ledger {self.path} is not a usable SQLite file: {exc}") from None

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30)
        try:
            with db:  # one transaction: committed whole or not at all
                yield db
        finally:
            db.close()

    def record(self, row: dict[str, Any]) -> bool:
        """Add one request's row; False (and a warning) if the write failed."""
        row = {"cache": "off", "avoided_j": 0.0, **row, "ts": row.get("ts", time.time()), "session": self.session,
               "devices": json.dumps(row["devices"], sort_keys=True),
               "parts": json.dumps(row.get("parts") or {}, sort_keys=True)}
        cols = ("ts", "session", "voice", "backend", "tier", "lang", "chars", "sentences", "segments", "audio_s",
                "wall_s", "status", "joules", "kwh", "gco2e", "method", "devices", "gco2e_per_kwh", "pue", "grid",
                "cache", "avoided_j", "parts")
        return self._write(f"INSERT INTO requests ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                           [row[c] for c in cols])

    def record_session(self, meter: str, method: str, idle_watts: dict[str, float], wall_s: float, total_j: float,
                       idle_j: float, attributed_j: float, startup_j: float, gco2e_per_kwh: float,
                       pue: float) -> bool:
        """Insert or update this engine session's totals (called periodically and at close)."""
        return self._write("INSERT OR REPLACE INTO sessions VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                           (self.session, self.started, time.time(), meter, method, json.dumps(idle_watts), wall_s,
                            total_j, idle_j, attributed_j, startup_j, gco2e_per_kwh, pue))

    def _write(self, sql: str, values: Any) -> bool:
        try:
            with self._lock, self._connect() as db:
                db.execute(sql, values)
            return True
        except (sqlite3.Error, OSError) as exc:
            _log.warning("energy ledger %s: write failed (%s); the audio is unaffected", self.path, exc)
            return False


def summarize(path: str | Path) -> dict[str, Any]:
    """Per (voice, backend, tier): requests, sentences, audio, J per audio second, kWh/gCO2e per 1000 sentences.

    Plus the sessions' idle energy, which is never hidden inside requests.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError(f"no energy ledger at {path} (record one with --ledger or EngineConfig(ledger=...))")
    try:
        db = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
        try:
            groups = db.execute(
                "SELECT voice, backend, tier, COUNT(*), SUM(sentences), SUM(audio_s), SUM(joules), SUM(gco2e), "
                "GROUP_CONCAT(DISTINCT method), SUM(status != 'complete'), SUM(avoided_j), SUM(cache = 'hit') "
                "FROM requests "
                "GROUP BY voice, backend, tier ORDER BY backend, tier, voice").fetchall()
            requests_j, avoided_j = db.execute(
                "SELECT COALESCE(SUM(joules),0), COALESCE(SUM(avoided_j),0) FROM requests").fetchone()
            parts = dict(db.execute("SELECT p.key, SUM(p.value) FROM requests, json_each(requests.parts) AS p "
                                    "GROUP BY p.key ORDER BY p.key").fetchall())
            sessions = db.execute("SELECT COUNT(*), COALESCE(SUM(wall_s),0), COALESCE(SUM(total_j),0), "
                                  "COALESCE(SUM(idle_j),0), COALESCE(SUM(attributed_j),0), "
                                  "COALESCE(SUM(startup_j),0) FROM sessions").fetchone()
        finally:
            db.close()
    except sqlite3.OperationalError as exc:
        raise InputError(f"cannot read the energy ledger {path}: {exc}") from None
    except sqlite3.DatabaseError as exc:
        raise InputError(f"{path} is not a greentts energy ledger: {exc}") from None
    rows = []
    for voice, backend, tier, n, sentences, audio_s, joules, gco2e, methods, incomplete, avoided, hits in groups:
        kwh = joules / 3.6e6
        rows.append({
            "voice": voice, "backend": backend, "tier": tier, "requests": n, "sentences": sentences,
            "audio_s": audio_s, "joules": joules, "method": methods, "incomplete": incomplete,
            "avoided_joules": avoided, "cache_hits": hits,
            "j_per_audio_s": joules / audio_s if audio_s else 0.0,
            "kwh_per_1000_sentences": 1000 * kwh / sentences if sentences else 0.0,
            "gco2e_per_1000_sentences": 1000 * gco2e / sentences if sentences else 0.0,
        })
    n_sessions, wall_s, total_j, idle_j, attributed_j, startup_j = sessions
    return {"groups": rows, "requests_j": requests_j, "avoided_j": avoided_j, "parts_j": parts,
            "sessions": {"count": n_sessions, "wall_s": wall_s, "total_j": total_j, "idle_j": idle_j,
                         "attributed_j": attributed_j, "startup_j": startup_j}}
