"""A bounded priority scheduler over worker threads, each owning its own state (model sessions).

It knows nothing about models: tasks are callables ``fn(state) -> value``, results are
``concurrent.futures.Future`` s. Every error — raised by a task or by building a worker's state —
is set on that task's future, so no waiter ever hangs; closing the scheduler fails pending futures
with :class:`~greentts.errors.EngineClosed`. Lower ``priority`` runs first, FIFO within a priority.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

from ..errors import EngineClosed, Overloaded

__all__ = ["Scheduler"]

S = TypeVar("S")
T = TypeVar("T")


class Scheduler(Generic[S]):
    def __init__(self, workers: int, make_state: Callable[[int], S], max_queue: int = 1024,
                 name: str = "greentts-worker", latency_workers: int = 0, latency_priority: int = 0) -> None:
        """``latency_workers``: extra workers that only take tasks of priority <= ``latency_priority``
        (a stream's first segment), so first audio never waits for a free regular worker. They add
        threads beyond the cores, but only while such a task runs."""
        if workers < 1:
            raise ValueError("workers must be >= 1")
        if latency_workers < 0:
            raise ValueError("latency_workers must be >= 0")
        self.workers = workers
        self.latency_workers = latency_workers
        self.latency_priority = latency_priority
        self.max_queue = max_queue
        self._make_state = make_state
        self._heap: list[tuple[int, int, Future[Any], Callable[[S], Any]]] = []
        self._seq = itertools.count()
        self._cv = threading.Condition()
        self._closed = False
        self._busy = 0
        # One "exclusive" task at a time: taken by worker 0 only, run while no other task runs
        # (so it may use every core, e.g. a stream's first segment on a multi-thread session).
        self._exclusive: tuple[Future[Any], Callable[[S], Any]] | None = None
        self._exclusive_running = False
        self._threads = [threading.Thread(target=self._loop, args=(i,), name=f"{name}-{i}", daemon=True)
                         for i in range(workers + latency_workers)]
        for t in self._threads:
            t.start()

    @property
    def queue_depth(self) -> int:
        with self._cv:
            return len(self._heap)

    @property
    def busy(self) -> int:
        with self._cv:
            return self._busy + (1 if self._exclusive is not None and not self._exclusive_running else 0)

    def submit(self, fn: Callable[[S], T], priority: int = 0) -> Future[T]:
        fut: Future[T] = Future()
        with self._cv:
            if self._closed:
                raise EngineClosed("the scheduler is closed")
            if len(self._heap) >= self.max_queue:
                raise Overloaded(f"scheduler queue is full ({self.max_queue} pending)")
            heapq.heappush(self._heap, (priority, next(self._seq), fut, fn))
            self._cv.notify_all()  # latency workers take only some tasks: wake everyone, the right one runs it
        return fut

    def try_submit_exclusive(self, fn: Callable[[S], T]) -> Future[T] | None:
        """Run ``fn`` on worker 0 with the machine to itself, if the scheduler is idle now; else None.

        While it waits for running tasks to finish and while it runs, no other task starts.
        """
        with self._cv:
            if self._closed or self._exclusive is not None or self._busy or self._heap:
                return None
            fut: Future[T] = Future()
            self._exclusive = (fut, fn)
            self._cv.notify_all()
            return fut

    def run_on_each_worker(self, fn: Callable[[S], Any], timeout: float = 600.0) -> list[Any]:
        """Run ``fn`` once on every worker, latency workers included (e.g. to open sessions and warm them up)."""
        n = self.workers + self.latency_workers
        barrier = threading.Barrier(n, timeout=timeout)

        def task(state: S) -> Any:
            out = fn(state)
            barrier.wait()
            return out

        futures = [self.submit(task, priority=min(-1, self.latency_priority)) for _ in range(n)]
        return [f.result(timeout=timeout) for f in futures]

    def close(self) -> None:
        with self._cv:
            if self._closed:
                return
            self._closed = True
            pending, self._heap = self._heap, []
            if self._exclusive is not None and not self._exclusive_running:
                pending.append((0, 0, self._exclusive[0], self._exclusive[1]))
                self._exclusive = None
            self._cv.notify_all()
        for _, _, fut, _ in pending:
            if fut.set_running_or_notify_cancel():
                fut.set_exception(EngineClosed("the engine was closed before this work ran"))
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout=30)

    def _ready(self, latency: bool) -> bool:
        """(lock held) Is there a task this kind of worker may take?"""
        if not self._heap or self._exclusive is not None:
            return False
        return not latency or self._heap[0][0] <= self.latency_priority

    def _loop(self, index: int) -> None:
        state: S | None = None
        latency = index >= self.workers
        while True:
            with self._cv:
                while not self._closed and not (index == 0 and self._exclusive) and not self._ready(latency):
                    self._cv.wait()
                if self._closed:  # close() has failed everything still queued
                    return
                if index == 0 and self._exclusive is not None:
                    while self._busy:  # let running tasks finish; nobody starts a new one meanwhile
                        self._cv.wait()
                    fut, fn = self._exclusive
                    self._exclusive_running = True
                else:
                    _, _, fut, fn = heapq.heappop(self._heap)
                if not fut.set_running_or_notify_cancel():
                    self._end_exclusive(fut)
                    continue  # cancelled while queued
                self._busy += 1
            try:
                if state is None:  # built on first use; a failure goes to this task and is retried next time
                    state = self._make_state(index)
                fut.set_result(fn(state))
            except BaseException as exc:
                fut.set_exception(exc)
            finally:
                with self._cv:
                    self._busy -= 1
                    self._end_exclusive(fut)
                    self._cv.notify_all()

    def _end_exclusive(self, fut: Future[Any]) -> None:
        """(lock held) Clear the exclusive slot if ``fut`` is its task."""
        if self._exclusive is not None and self._exclusive[0] is fut:
            self._exclusive = None
            self._exclusive_running = False
            self._cv.notify_all()
