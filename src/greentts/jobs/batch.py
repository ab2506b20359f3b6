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
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from ..errors import GreenTTSError, InputError
from ..serving.client import EngineClient
from ..serving.records import Record, RequestLog, new_id
from ..models.assets import sha256_file
from ..runtime.files import write_atomic
from .manifest import BatchSummary, Manifest
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
              overwrite: bool = False, progress: ProgressFn | None = None, log: RequestLog | None = None) -> BatchSummary:
    """Render every task not already finished into ``out_dir``; returns the run's :class:`BatchSummary`.

    Safe to call again after any interruption: finished items are verified and skipped. Prompt clips
    are enrolled with each task's ``enroll_steps`` (``TaskDefaults.enroll_steps`` when loading). Each
    item that ends (rendered, copied or failed) is also ended through ``log`` (a
    :class:`~greentts.serving.records.RequestLog`) as a request of route "batch", like an HTTP request.
    """
    out_dir = Path(out_dir)
    bad_lines = bad_lines or []
    notify = _logging(progress or (lambda event, data: None), log)
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


def _logging(notify: ProgressFn, log: RequestLog | None) -> ProgressFn:
    """``notify``, which also ends each finished item through ``log``: a :class:`Record` with the fields of
    an HTTP request's (received = when its rendering started)."""
    if log is None:
        return notify

    def both(event: str, data: dict[str, Any]) -> None:
        if event == "item":
            item = data["record"]
            ok = item["status"] == "ok"
            render_s = (item.get("timings") or {}).get("render_s") or 0.0
            record = Record(new_id(), "batch", str(item.get("voice", "")), item["format"],
                            status="complete" if ok else "error", received=time.perf_counter() - render_s,
                            audio_s=float(item.get("duration_s", 0.0)), tier=item.get("tier", ""),
                            backend=item.get("backend", ""), notes=[item["output"]] + ([item["error"]] if not ok else []))
            log.done(record, item.get("energy") if ok else None, "batch")
        notify(event, data)
    return both


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
    spent = fields.get("energy") or {}  # what rendering it cost (and what that rendering itself avoided)
    avoided = float(spent.get("joules", 0.0) or 0.0) + float(spent.get("avoided_joules", 0.0) or 0.0)
    avoided_g = float(spent.get("gco2e", 0.0) or 0.0) + float(spent.get("avoided_gco2e", 0.0) or 0.0)
    reused = {**fields, "reused_from": first.output, "timings": {"copied": True},
              "energy": {"joules": 0.0, "kwh": 0.0, "gco2e": 0.0, "method": spent.get("method", ""),
                         "reused_from": first.output, "cache": "hit", "avoided_joules": avoided,
                         "avoided_gco2e": avoided_g, "avoided_method": spent.get("method", "")}}
    _finish_ok(out_dir, task, data, reused, manifest, summary, notify)


def _finish_failed(task: Task, error: str, manifest: Manifest, summary: BatchSummary, notify: ProgressFn) -> None:
    record = {**_base_record(task, "failed"), "error": error}
    manifest.append(record)
    _fail(summary, task, error)
    notify("item", {"record": record, "summary": summary})


def _write_report(out_dir: Path, summary: BatchSummary) -> None:
    data = json.dumps(summary.as_dict(), ensure_ascii=False, indent=1).encode("utf-8")
    write_atomic(out_dir / REPORT_NAME, data)
