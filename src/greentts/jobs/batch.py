"""Resumable batch jobs: validated JSONL tasks -> audio files + ``manifest.jsonl`` + ``batch-report.json``.

    tasks, bad = load_tasks("tasks.jsonl")
    with Engine() as engine:
        summary = run_batch(LocalRenderer(engine), tasks, "out/")

Crash safety: each file is written to a temporary file, fsynced, recorded in the manifest (status,
sha256, size, duration, timings, energy) and only then renamed into place. A run killed at any moment
(``kill -9`` included) leaves complete files or none; re-running the same command skips every item
whose file matches its manifest record and renders the rest. Only one job may write to a folder at a
time (an advisory lock). Items run concurrently through the engine's scheduler at "bulk" priority;
identical requests in one run are rendered once and copied.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from ..energy.accounting import EnergySum
from ..errors import GreenTTSError, InputError
from ..serving.client import EngineClient
from ..models.assets import sha256_file
from ..runtime.files import write_atomic
from .tasks import BadLine, Task, prompt_voice_name

__all__ = ["Renderer", "LocalRenderer", "Manifest", "BatchSummary", "run_batch", "render_task", "REPORT_NAME",
           "MANIFEST_NAME"]

MANIFEST_NAME = "manifest.jsonl"
REPORT_NAME = "batch-report.json"
LOCK_NAME = ".greentts-batch.lock"

Rendered = tuple[bytes, dict[str, Any]]  # encoded audio, and the record's fields from the renderer


class Renderer(Protocol):
    """Where items are synthesized: this process (:class:`LocalRenderer`) or a Ray cluster."""

    concurrency: int

    def submit(self, task: Task, voice: str | None) -> Future[Rendered]: ...

    def enroll(self, clip: str, name: str, text: str | None, lang: str | None, steps: int | None) -> str: ...

    def energy(self) -> list[dict[str, Any]]: ...

    def close(self) -> None: ...


def render_task(engine: EngineClient, task: Task, voice: str | None) -> Rendered:
    """Synthesize one task and encode it (runs wherever the engine is). Errors propagate."""
    settings = task.settings.model_copy(update={"voice": voice}) if voice else task.settings
    t0 = time.perf_counter()
    result = engine.synthesize(task.text, settings, priority="bulk")
    t1 = time.perf_counter()
    data = result.to_bytes(task.format)
    timings = {k: round(v, 4) for k, v in result.timings.items()}
    timings["encode_s"] = round(time.perf_counter() - t1, 4)
    timings["render_s"] = round(time.perf_counter() - t0, 4)
    return data, {"duration_s": round(result.duration_s, 4), "sample_rate": result.sample_rate, "voice": result.voice,
                  "tier": result.tier, "backend": result.backend, "sentences": result.extra.get("sentences", 1),
                  "segments": len(result.segments), "timings": timings,
                  "energy": result.energy.as_dict() if result.energy else None,
                  "worker": f"{os.getpid()}@{socket.gethostname()}"}


class LocalRenderer:
    """Items run in this process: ``concurrency`` item threads feed the engine's scheduler (all cores)."""

    def __init__(self, engine: EngineClient, concurrency: int | None = None) -> None:
        self.engine = engine
        self.concurrency = concurrency or 2 * engine.workers
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="greentts-batch")

    def submit(self, task: Task, voice: str | None) -> Future[Rendered]:
        return self._pool.submit(render_task, self.engine, task, voice)

    def enroll(self, clip: str, name: str, text: str | None, lang: str | None, steps: int | None) -> str:
        self.engine.enroll(clip, name, text=text, lang=None if lang in (None, "auto") else lang, steps=steps,
                           overwrite=True)
        return name

    def energy(self) -> list[dict[str, Any]]:
        return [{"node": socket.gethostname(), "pid": os.getpid(), **self.engine.energy().as_dict()}]

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


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


@contextmanager
def _locked(out_dir: Path) -> Iterator[None]:
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / LOCK_NAME, "a+b") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise InputError(f"another batch job is writing to {out_dir} (lock {LOCK_NAME}); wait for it "
                             "or use another --out-dir") from None
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _verifies(path: Path, rec: dict[str, Any]) -> bool:
    try:
        return path.is_file() and path.stat().st_size == rec.get("bytes") and sha256_file(path) == rec.get("sha256")
    except OSError:
        return False


def _classify(tasks: list[Task], out_dir: Path, manifest: Manifest, overwrite: bool
              ) -> tuple[list[Task], list[Task], list[tuple[Task, str]]]:
    """(to render, finished earlier, refused) — refused: the file exists and is not this job's to replace."""
    root = out_dir.resolve()
    todo, done, refused = [], [], []
    for t in tasks:
        path = out_dir / t.output
        if not path.resolve().is_relative_to(root):
            refused.append((t, f"{t.output!r} resolves outside --out-dir (a symbolic link?)"))
            continue
        rec = manifest.latest_ok.get(t.output)
        ours = rec is not None and rec.get("key") == t.key
        if ours and _verifies(path, rec):  # type: ignore[arg-type]
            done.append(t)
        elif (path.exists() or path.is_symlink()) and not ours and not overwrite:
            why = ("was made from a different request (the task changed)" if rec
                   else "exists and was not made by this job")
            refused.append((t, f"{t.output} {why}; pass --overwrite to replace it"))
        else:
            todo.append(t)
    return todo, done, refused


def _remove_stale_temps(out_dir: Path) -> None:
    """Temporary files left by a killed run (we hold the lock, so none is being written)."""
    for stale in out_dir.rglob(".*.tmp"):
        if stale.is_file() and not stale.is_symlink():
            stale.unlink(missing_ok=True)


def _write(out_dir: Path, task: Task, data: bytes, record: dict[str, Any], manifest: Manifest) -> None:
    """temp file -> fsync -> manifest record -> rename: a crash leaves the old state or the new, whole."""
    write_atomic(out_dir / task.output, data, before_rename=lambda: manifest.append(record))


def _base_record(task: Task, status: str) -> dict[str, Any]:
    rec: dict[str, Any] = {"output": task.output, "line": task.line, "key": task.key, "status": status,
                           "format": task.format, "time": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    if task.meta is not None:
        rec["meta"] = task.meta
    return rec


ProgressFn = Callable[[str, dict[str, Any]], None]  # (event, data): "plan", "enroll", "item"


def run_batch(renderer: Renderer, tasks: list[Task], out_dir: str | Path, *, bad_lines: list[BadLine] | None = None,
              overwrite: bool = False, progress: ProgressFn | None = None) -> BatchSummary:
    """Render every task not already finished into ``out_dir``; returns the run's :class:`BatchSummary`.

    Safe to call again after any interruption: finished items are verified and skipped. Prompt clips
    are enrolled with each task's ``enroll_steps`` (``TaskDefaults.enroll_steps`` when loading).
    """
    out_dir = Path(out_dir)
    bad_lines = bad_lines or []
    notify = progress or (lambda event, data: None)
    summary = BatchSummary(lines=len(tasks) + len(bad_lines), invalid=len(bad_lines), bad_lines=list(bad_lines))
    with _locked(out_dir):
        manifest = Manifest(out_dir / MANIFEST_NAME)
        _remove_stale_temps(out_dir)
        try:
            todo, done, refused = _classify(tasks, out_dir, manifest, overwrite)
            summary.skipped = len(done)
            for t, why in refused:
                _fail(summary, t, why)
            notify("plan", {"todo": len(todo), "skipped": len(done), "refused": len(refused)})
            t0 = time.perf_counter()
            voices = _enroll_prompts(renderer, todo, summary, notify)
            _render_all(renderer, todo, voices, out_dir, manifest, summary, notify)
            summary.wall_s = time.perf_counter() - t0
        finally:
            manifest.close()
        summary.nodes = renderer.energy()
        _write_report(out_dir, summary)
    return summary


def _fail(summary: BatchSummary, task: Task, error: str) -> None:
    summary.failed += 1
    summary.failures.append({"line": task.line, "output": task.output, "error": error})


def _enroll_prompts(renderer: Renderer, todo: list[Task], summary: BatchSummary,
                    notify: ProgressFn) -> dict[Any, str | GreenTTSError]:
    """Each distinct prompt clip is enrolled once (a voice cache hit when enrolled before).

    An enrollment a killed run left unfinished (status "preview") is redone: ``overwrite`` replaces
    only this job's own ``prompt-*`` voice, whose name is derived from the clip and the settings.
    """
    prompts = list(dict.fromkeys(t.prompt for t in todo if t.prompt is not None))
    voices: dict[Any, str | GreenTTSError] = {}
    for i, prompt in enumerate(prompts):
        from ..voices.clip import prepare_clip

        clip, text, lang, steps = prompt
        notify("enroll", {"done": i, "total": len(prompts), "clip": clip})
        try:
            name = prompt_voice_name(prepare_clip(clip).sha256, text, lang, steps)
            voices[prompt] = renderer.enroll(clip, name, text, lang, steps)
            summary.enrolled[clip] = name
        except GreenTTSError as exc:
            voices[prompt] = exc
        except ImportError as exc:
            voices[prompt] = InputError(f"prompt_audio needs the clone extra (pip install 'greentts[clone]'): {exc}")
    if prompts:
        notify("enroll", {"done": len(prompts), "total": len(prompts), "clip": None})
    return voices


def _render_all(renderer: Renderer, todo: list[Task], voices: dict[Any, str | GreenTTSError], out_dir: Path,
                manifest: Manifest, summary: BatchSummary, notify: ProgressFn) -> None:
    queue = list(reversed(todo))
    running: dict[Future[Rendered], Task] = {}
    first_of_key: dict[str, Task] = {}
    waiting: dict[str, list[Task]] = {}
    outcome: dict[str, tuple[Task, dict[str, Any]] | str] = {}  # key -> (first task, its fields) | error
    try:
        while queue or running:
            while queue and len(running) < renderer.concurrency:
                task = queue.pop()
                if task.key in outcome:  # an identical request was rendered in this run: copy its file
                    _finish_copy(out_dir, task, outcome[task.key], manifest, summary, notify)
                    continue
                if task.key in first_of_key:  # an identical request is rendering: copy its result later
                    waiting.setdefault(task.key, []).append(task)
                    continue
                voice = voices.get(task.prompt) if task.prompt else task.settings.voice
                if isinstance(voice, GreenTTSError):
                    _finish_failed(task, f"voice enrollment failed: {voice}", manifest, summary, notify)
                    continue
                try:
                    fut = renderer.submit(task, voice)
                except GreenTTSError as exc:
                    _finish_failed(task, f"{type(exc).__name__}: {exc}", manifest, summary, notify)
                    continue
                first_of_key[task.key] = task
                running[fut] = task
            if not running:
                continue
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                task = running.pop(fut)
                copies = waiting.pop(task.key, [])
                try:
                    data, fields = fut.result()
                except Exception as exc:  # noqa: BLE001 - the item's error, a node lost for good, a bug: the item fails
                    outcome[task.key] = f"{type(exc).__name__}: {exc}"
                    for t in (task, *copies):
                        _finish_failed(t, outcome[task.key], manifest, summary, notify)
                    continue
                _finish_ok(out_dir, task, data, fields, manifest, summary, notify)
                outcome[task.key] = (task, fields)
                for t in copies:
                    _finish_copy(out_dir, t, outcome[task.key], manifest, summary, notify, data)
    finally:
        for fut in running:
            fut.cancel()


def _finish_ok(out_dir: Path, task: Task, data: bytes, fields: dict[str, Any], manifest: Manifest,
               summary: BatchSummary, notify: ProgressFn) -> None:
    record = {**_base_record(task, "ok"), "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), **fields}
    try:
        _write(out_dir, task, data, record, manifest)
    except OSError as exc:  # disk full, permissions, a file where a folder must be: this item fails, not the job
        _finish_failed(task, f"cannot write {task.output}: {exc}", manifest, summary, notify)
        return
    summary.ok += 1
    summary.audio_s += fields.get("duration_s", 0.0)
    summary.sentences += int(fields.get("sentences", 1))
    summary.energy.add(fields.get("energy"))
    notify("item", {"record": record, "summary": summary})


def _finish_copy(out_dir: Path, task: Task, outcome: tuple[Task, dict[str, Any]] | str, manifest: Manifest,
                 summary: BatchSummary, notify: ProgressFn, data: bytes | None = None) -> None:
    """``task`` asks for exactly what an earlier task of this run rendered: copy it (no synthesis)."""
    if isinstance(outcome, str):
        _finish_failed(task, outcome, manifest, summary, notify)
        return
    first, fields = outcome
    try:
        data = data if data is not None else (out_dir / first.output).read_bytes()
    except OSError as exc:
        _finish_failed(task, f"cannot copy {first.output}: {exc}", manifest, summary, notify)
        return
    summary.reused += 1
    method = (fields.get("energy") or {}).get("method", "")
    reused = {**fields, "reused_from": first.output, "timings": {"copied": True},
              "energy": {"joules": 0.0, "kwh": 0.0, "gco2e": 0.0, "method": method, "reused_from": first.output}}
    _finish_ok(out_dir, task, data, reused, manifest, summary, notify)


def _finish_failed(task: Task, error: str, manifest: Manifest, summary: BatchSummary, notify: ProgressFn) -> None:
    record = {**_base_record(task, "failed"), "error": error}
    manifest.append(record)
    _fail(summary, task, error)
    notify("item", {"record": record, "summary": summary})


def _write_report(out_dir: Path, summary: BatchSummary) -> None:
    data = json.dumps(summary.as_dict(), ensure_ascii=False, indent=1).encode("utf-8")
    write_atomic(out_dir / REPORT_NAME, data)
