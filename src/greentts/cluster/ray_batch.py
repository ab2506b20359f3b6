"""Scale a batch job out on Ray: one engine per Ray worker process (an actor), same manifest and resume.

The driver (``greentts batch ... --ray``) validates, plans, enrolls prompt clips, writes every file and
the manifest, exactly as a local run does; only synthesis runs on the cluster, so workers need no
shared file system. Enrolled voices travel to the workers through Ray's object store. Each worker
process has its own engine and energy meter (NVML on GPU nodes, else the CPU-time estimate), so every
item's joules come from the node that rendered it. A worker process that dies is restarted by Ray and
its items are retried (``max_task_retries``); an item that still fails is recorded as failed.

Needs the ``ray`` extra: ``pip install 'greentts[ray]'``; every node needs greentts installed.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import GreenTTSError, InputError
from ..engine import Engine
from ..jobs.batch import Rendered, render_task
from ..jobs.tasks import Task

__all__ = ["RayRenderer"]

TASK_RETRIES = 3  # a worker process may die this many times (restarted each time) and its items are retried
START_TIMEOUT_S = 300.0


class _Node:
    """Lives in a Ray worker process: an engine with one scheduler worker (one CPU) and private voices."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.voices_dir = tempfile.mkdtemp(prefix="greentts-ray-voices-")
        self.engine = Engine(voices_dir=self.voices_dir, **config)
        self.installed: set[str] = set()

    def render(self, task: Task, voice: str | None, names: tuple[str, ...],
               *tables: tuple[np.ndarray, dict, np.ndarray | None]) -> tuple[bytes | None, dict[str, Any]]:
        for name, (table, meta, adain) in zip(names, tables):
            if name not in self.installed:
                self.engine.install_voice(name, table, meta, adain)
                self.installed.add(name)
        try:
            return render_task(self.engine, task, voice)
        except GreenTTSError as exc:  # the item's own error: returned, so Ray does not retry it
            return None, {"error": f"{type(exc).__name__}: {exc}"}

    def energy(self) -> dict[str, Any]:
        return {"node": socket.gethostname(), "pid": os.getpid(), **self.engine.energy().as_dict()}

    def pid(self) -> int:
        return os.getpid()


def _token_auth_for(address: str | None) -> None:
    """Clusters started by ``ray start`` use token authentication when a token exists (Ray >= 2.5x),
    but a connecting driver only sends its token when RAY_AUTH_MODE says so: say so, unless set."""
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    token = os.environ.get("RAY_AUTH_TOKEN") or Path(path or Path.home() / ".ray" / "auth_token").is_file()
    if address is not None and token and "RAY_AUTH_MODE" not in os.environ:
        os.environ["RAY_AUTH_MODE"] = "token"


class RayRenderer:
    """Renders on a Ray cluster (``address``: an existing cluster; None starts a local one)."""

    def __init__(self, address: str | None = None, workers: int | None = None,
                 engine_config: dict[str, Any] | None = None, voices_dir: Path | None = None) -> None:
        _token_auth_for(address)  # before ray is imported: it reads the mode once
        try:
            import ray
        except ImportError:
            raise InputError("--ray needs the ray extra: pip install 'greentts[ray]'") from None
        self._ray = ray
        self._config = {"workers": 1, "latency_workers": 0, "idle_probe_s": 0.2, **(engine_config or {})}
        from ..voices.store import VoiceStore, default_voices_dir

        self._store = VoiceStore(voices_dir or default_voices_dir())  # the driver's voices (enrolled prompts)
        self._stock = frozenset(self._store.names())
        self._voices_dir = voices_dir
        self._started = not ray.is_initialized()
        self.nodes: list[Any] = []
        self._lock = threading.Lock()
        self._tables: dict[str, Any] = {}
        self._local: Any = None
        if self._started:
            try:
                ray.init(address=address, log_to_driver=False, include_dashboard=False if address is None else None,
                         configure_logging=False)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise InputError(f"cannot connect to the Ray cluster at {address or 'a new local one'}: {exc}") from None
        cpus = int(ray.cluster_resources().get("CPU", 1))
        n = workers or max(1, cpus)
        actor = ray.remote(num_cpus=1, max_restarts=TASK_RETRIES, max_task_retries=TASK_RETRIES)(_Node)
        self.nodes = [actor.options(scheduling_strategy="SPREAD").remote(self._config) for _ in range(n)]
        try:  # every worker must start (load its engine) before items are handed out
            ray.get([node.pid.remote() for node in self.nodes], timeout=START_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - GetTimeoutError, RayActorError: one clear error
            self.close()
            raise InputError(f"{n} Ray workers (1 CPU each) did not all start within {START_TIMEOUT_S:.0f} s on a "
                             f"cluster with {cpus} CPUs ({type(exc).__name__}); ask for fewer with --ray-workers, "
                             "and check that greentts is installed on every node") from None
        self.concurrency = 2 * n
        self._inflight = [0] * n

    def pids(self) -> list[int]:
        """The worker processes' ids (waits until every worker has started)."""
        return self._ray.get([n.pid.remote() for n in self.nodes])

    def submit(self, task: Task, voice: str | None) -> Future[Rendered]:
        names = self._enrolled_parts(voice)
        refs = [self._table(n) for n in names]
        with self._lock:
            i = min(range(len(self.nodes)), key=self._inflight.__getitem__)
            self._inflight[i] += 1
        ref = self.nodes[i].render.remote(task, voice, tuple(names), *refs)
        out: Future[Rendered] = Future()

        def done(fut: Future[Any]) -> None:
            with self._lock:
                self._inflight[i] -= 1
            try:
                data, fields = fut.result()
            except Exception as exc:  # noqa: BLE001 - retries exhausted, node lost: the item fails
                out.set_exception(exc)
                return
            if data is None:
                out.set_exception(GreenTTSError(fields["error"]))
            else:
                out.set_result((data, fields))

        ref.future().add_done_callback(done)
        return out

    def _enrolled_parts(self, voice: str | None) -> list[str]:
        if not voice:
            return []
        from ..voices.store import parse_blend

        return [name for name, _ in parse_blend(voice) if name not in self._stock]

    def _table(self, name: str) -> Any:
        if name not in self._tables:
            voice = self._store.get(name)  # its AdaIN offsets travel too
            self._tables[name] = self._ray.put((np.asarray(voice.table), self._store.enrolled_meta(name), voice.adain))
        return self._tables[name]

    def enroll(self, clip: str, name: str, text: str | None, lang: str | None, steps: int | None) -> str:
        """Prompt clips are enrolled here, on the driver (its voice store), then shipped to the workers."""
        if self._local is None:
            self._local = Engine(voices_dir=self._voices_dir, idle_probe_s=0.2)
        self._local.enroll(clip, name, text=text, lang=None if lang in (None, "auto") else lang, steps=steps,
                           overwrite=True)
        return name

    def energy(self) -> list[dict[str, Any]]:
        out = []
        for node in self.nodes:
            try:
                out.append(self._ray.get(node.energy.remote(), timeout=60))
            except Exception as exc:  # noqa: BLE001 - a lost node has no totals; say so
                out.append({"node": "?", "error": str(exc)})
        if self._local is not None:
            out.append({"node": socket.gethostname(), "pid": os.getpid(), "role": "driver (enrollment)",
                        **self._local.energy().as_dict()})
        return out

    def close(self) -> None:
        for node in self.nodes:
            self._ray.kill(node)
        if self._local is not None:
            self._local.close()
        if self._started:
            self._ray.shutdown()
