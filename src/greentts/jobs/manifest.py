"""A batch job's records: the crash-safe manifest of finished items and the run's summary."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..energy.accounting import EnergySum
from .tasks import BadLine

__all__ = ["Manifest", "BatchSummary"]


class Manifest:
    """Append-only JSONL record of finished items; the last record of an output wins.

    Opening repairs a line torn by a crash (the file is cut back to its last complete line).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.latest: dict[str, dict[str, Any]] = {}
        self.latest_ok: dict[str, dict[str, Any]] = {}  # a later failure does not disown a file the job made
        self.unreadable = 0
        if path.exists():
            self._load()
        self._file = open(path, "ab")  # noqa: SIM115 - kept open for the job's lifetime
        self._lock = threading.Lock()

    def _load(self) -> None:
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):  # torn by a crash mid-write: drop the partial line
            cut = data.rfind(b"\n") + 1
            with open(self.path, "rb+") as f:
                f.truncate(cut)
                os.fsync(f.fileno())
            data = data[:cut]
        for line in data.splitlines():
            try:
                rec = json.loads(line)
                self._note(rec)
            except (ValueError, KeyError, TypeError):
                self.unreadable += 1

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()
            os.fsync(self._file.fileno())
            self._note(record)

    def _note(self, rec: dict[str, Any]) -> None:
        self.latest[rec["output"]] = rec
        if rec.get("status") == "ok":
            self.latest_ok[rec["output"]] = rec

    def close(self) -> None:
        self._file.close()


@dataclass
class BatchSummary:
    """What a run did. ``skipped`` = finished in an earlier run (verified); ``invalid`` = bad lines."""

    lines: int = 0
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    invalid: int = 0
    reused: int = 0
    audio_s: float = 0.0
    wall_s: float = 0.0
    sentences: int = 0
    energy: EnergySum = field(default_factory=EnergySum)  # the items' (idle and start-up stay with the nodes)
    bad_lines: list[BadLine] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    nodes: list[dict[str, Any]] = field(default_factory=list)
    enrolled: dict[str, str] = field(default_factory=dict)

    @property
    def rtf(self) -> float:
        return self.wall_s / self.audio_s if self.audio_s else 0.0

    def per_1000_sentences(self) -> dict[str, float]:
        n = max(1, self.sentences)
        return {"kwh": self.energy.kwh / n * 1000, "gco2e": self.energy.gco2e / n * 1000}

    def as_dict(self) -> dict[str, Any]:
        return {"lines": self.lines, "ok": self.ok, "failed": self.failed, "skipped": self.skipped,
                "invalid": self.invalid, "reused": self.reused, "audio_s": round(self.audio_s, 3),
                "audio_h": round(self.audio_s / 3600, 4), "wall_s": round(self.wall_s, 3), "rtf": round(self.rtf, 4),
                "sentences": self.sentences, "energy": {
                    **self.energy.as_dict(),
                    "per_1000_sentences": self.per_1000_sentences(), "scope": "items (idle and start-up in nodes)"},
                "nodes": self.nodes, "enrolled": self.enrolled,
                "bad_lines": [{"line": b.line, "error": b.error} for b in self.bad_lines], "failures": self.failures}

    def text(self) -> list[str]:
        """Human-readable summary lines."""
        per = self.per_1000_sentences()
        out = [f"items: {self.ok} ok, {self.failed} failed, {self.skipped} skipped (already done), "
               f"{self.invalid} invalid lines" + (f"; {self.reused} identical requests reused" if self.reused else ""),
               f"audio: {self.audio_s / 3600:.4f} h ({self.audio_s:.1f} s) in {self.wall_s:.1f} s wall, "
               f"RTF {self.rtf:.3f} ({1 / self.rtf if self.rtf else 0:.1f}x real time)"]
        if self.sentences:
            e = self.energy
            out.append(f"energy ({e.method or 'n/a'}): {e.joules:.1f} J = {e.kwh:.3g} kWh, "
                       f"{e.gco2e:.3g} gCO2e; per 1000 sentences {per['kwh']:.3g} kWh, {per['gco2e']:.3g} gCO2e")
        for n in self.nodes:
            out.append(f"  node {n.get('node')} pid {n.get('pid')}: meter total {n.get('total_j', 0):.1f} J "
                       f"(start-up {n.get('startup_j', 0):.1f} J, idle {n.get('idle_j', 0):.1f} J) {n.get('method')}")
        out += [f"  invalid {b}" for b in self.bad_lines]
        out += [f"  failed line {f['line']} {f['output']}: {f['error']}" for f in self.failures]
        return out
