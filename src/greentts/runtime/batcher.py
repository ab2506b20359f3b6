"""A dynamic batcher: items queued one by one, run in batches by worker threads. Model-agnostic.

Items carry a payload, a size (e.g. phoneme ids: what padding is counted in) and a priority. A worker
takes a batch when one is ready:

* items are grouped into length **buckets** (``bucket_edges``) so a batch pads little;
* within a bucket, items go in priority order (lower first), FIFO within a priority;
* a batch holds at most ``max_batch`` items and at most ``max_batch_ids`` padded ids
  (items x the longest item); one item larger than that still runs, alone;
* a bucket's batch is ready when it is full, when its oldest item has waited ``max_wait_ms``, or at
  once when it holds an **interactive** item (priority <= ``interactive_priority``: a stream's first
  segment is never held back waiting for company; it takes whatever is already waiting in its bucket).

``run_batch(payloads) -> results`` gets the payloads of one batch and returns one result per payload,
in order. An exception (or a wrong number of results) is delivered to every future of the batch; an
item cancelled while queued (``Future.cancel()``) is dropped from its batch, the others still run.
``close()`` fails everything still queued with :class:`~greentts.errors.EngineClosed`.
"""

from __future__ import annotations

import bisect
import itertools
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from ..errors import EngineClosed, ModelError, Overloaded

__all__ = ["BatchStats", "DynamicBatcher"]

P = TypeVar("P")
R = TypeVar("R")

DEFAULT_BUCKETS = (16, 32, 64, 128, 256, 512)


@dataclass
class _Item(Generic[P]):
    payload: P
    size: int
    priority: int
    seq: int
    t: float
    future: Future[Any]
    bucket: int = 0

    @property
    def order(self) -> tuple[int, int]:
        return self.priority, self.seq


@dataclass
class BatchStats:
    """What the batcher has run: batches, items, and ids run vs padded ids computed."""

    batches: int = 0
    items: int = 0
    ids: int = 0
    padded_ids: int = 0
    sizes: list[int] = field(default_factory=list)  # items per batch, in the order they ran

    @property
    def padding(self) -> float:
        """The fraction of computed ids that were padding."""
        return 1.0 - self.ids / self.padded_ids if self.padded_ids else 0.0


class DynamicBatcher(Generic[P, R]):
    def __init__(self, run_batch: Callable[[list[P]], Sequence[R]], *, max_batch: int = 8,
                 max_batch_ids: int = 4096, max_wait_ms: float = 5.0,
                 bucket_edges: Sequence[int] = DEFAULT_BUCKETS, interactive_priority: int = 0,
                 workers: int = 1, max_queue: int = 4096, name: str = "greentts-batcher") -> None:
        if max_batch < 1 or max_batch_ids < 1 or workers < 1:
            raise ValueError("max_batch, max_batch_ids and workers must be >= 1")
        if max_wait_ms < 0:
            raise ValueError("max_wait_ms must be >= 0")
        if list(bucket_edges) != sorted(set(bucket_edges)) or any(e < 1 for e in bucket_edges):
            raise ValueError(f"bucket_edges must be increasing positive sizes, got {list(bucket_edges)}")
        self.max_batch, self.max_batch_ids = max_batch, max_batch_ids
        self.max_wait_s = max_wait_ms / 1000.0
        self.bucket_edges = tuple(bucket_edges)
        self.interactive_priority = interactive_priority
        self.max_queue = max_queue
        self.stats = BatchStats()
        self._run_batch = run_batch
        self._pending: list[_Item[P]] = []
        self._seq = itertools.count()
        self._cv = threading.Condition()
        self._closed = False
        self._threads = [threading.Thread(target=self._loop, name=f"{name}-{i}", daemon=True) for i in range(workers)]
        for t in self._threads:
            t.start()

    @property
    def queue_depth(self) -> int:
        with self._cv:
            return len(self._pending)

    def submit(self, payload: P, size: int, priority: int = 1) -> Future[R]:
        """Queue one item of ``size`` (ids); its future gets its result (or its batch's error)."""
        if size < 1:
            raise ValueError(f"an item's size must be >= 1, got {size}")
        fut: Future[R] = Future()
        with self._cv:
            if self._closed:
                raise EngineClosed("the batcher is closed")
            if len(self._pending) >= self.max_queue:
                raise Overloaded(f"batcher queue is full ({self.max_queue} pending)")
            item = _Item(payload, size, priority, next(self._seq), time.monotonic(), fut,
                         bisect.bisect_left(self.bucket_edges, size))
            self._pending.append(item)
            self._cv.notify_all()
        return fut

    def close(self) -> None:
        with self._cv:
            if self._closed:
                return
            self._closed = True
            pending, self._pending = self._pending, []
            self._cv.notify_all()
        for item in pending:
            if item.future.set_running_or_notify_cancel():
                item.future.set_exception(EngineClosed("the engine was closed before this work ran"))
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout=30)

    # -- forming batches (lock held) ---------------------------------------------------------------

    def _batch_of(self, bucket: list[_Item[P]]) -> tuple[list[_Item[P]], bool]:
        """The next batch of one bucket (its items in priority order) and whether it is full."""
        batch: list[_Item[P]] = []
        longest = 0
        for item in bucket:
            longest_if = max(longest, item.size)
            if batch and (len(batch) == self.max_batch or (len(batch) + 1) * longest_if > self.max_batch_ids):
                return batch, True
            batch.append(item)
            longest = longest_if
        return batch, len(batch) == self.max_batch or len(batch) * longest >= self.max_batch_ids

    def _take(self, now: float) -> tuple[list[_Item[P]] | None, float | None]:
        """A ready batch (removed from the queue), else None and how long until one may be ready."""
        self._drop_cancelled()
        buckets: dict[int, list[_Item[P]]] = {}
        for item in sorted(self._pending, key=lambda i: i.order):
            buckets.setdefault(item.bucket, []).append(item)
        best: list[_Item[P]] | None = None
        wait: float | None = None
        for items in buckets.values():
            batch, full = self._batch_of(items)
            oldest = min(i.t for i in batch)
            due = oldest + self.max_wait_s - now
            ready = full or due <= 0 or any(i.priority <= self.interactive_priority for i in batch)
            if ready and (best is None or batch[0].order < best[0].order):
                best = batch
            elif not ready:
                wait = due if wait is None else min(wait, due)
        if best is None:
            return None, wait
        taken = {id(i) for i in best}
        self._pending = [i for i in self._pending if id(i) not in taken]
        return best, None

    def _drop_cancelled(self) -> None:
        self._pending = [i for i in self._pending if not i.future.cancelled()]

    # -- running -----------------------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            with self._cv:
                while True:
                    if self._closed:
                        return
                    batch, wait = self._take(time.monotonic())
                    if batch is not None:
                        break
                    self._cv.wait(timeout=wait)
                live = [i for i in batch if i.future.set_running_or_notify_cancel()]
                if live:
                    longest = max(i.size for i in live)
                    s = self.stats
                    s.batches, s.items = s.batches + 1, s.items + len(live)
                    s.ids, s.padded_ids = s.ids + sum(i.size for i in live), s.padded_ids + longest * len(live)
                    s.sizes.append(len(live))
            if live:
                self._run(live)

    def _run(self, batch: list[_Item[P]]) -> None:
        try:
            results = list(self._run_batch([i.payload for i in batch]))
            if len(results) != len(batch):
                raise ModelError(f"a batch of {len(batch)} items returned {len(results)} results")
        except BaseException as exc:  # every waiter of the batch gets the error
            for item in batch:
                item.future.set_exception(exc)
            return
        for item, result in zip(batch, results):
            item.future.set_result(result)
