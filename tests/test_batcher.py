"""The dynamic batcher with a fake backend: batching, bucketing, priorities, limits, cancellation, errors."""

import threading
import time

import pytest

from greentts.errors import EngineClosed, ModelError
from greentts.runtime.batcher import DynamicBatcher


class FakeBackend:
    """Records every batch; ``("gate", n)`` holds its batch until ``release()``; ``("bad", n)`` fails it."""

    def __init__(self):
        self.batches = []
        self.gate = threading.Event()
        self.entered = threading.Event()

    def __call__(self, payloads):
        self.batches.append(list(payloads))
        if any(p[0] == "gate" for p in payloads):
            self.entered.set()
            assert self.gate.wait(10)
        if any(p[0] == "bad" for p in payloads):
            raise RuntimeError("the model failed on this batch")
        if any(p[0] == "short" for p in payloads):
            return [p[1] for p in payloads][:-1]
        return [p[1] * 10 for p in payloads]


def hold(batcher, backend):
    """Occupy the (single) worker so that what is submitted next queues up."""
    fut = batcher.submit(("gate", 0), 1, priority=0)
    assert backend.entered.wait(5)
    return fut


def test_queued_items_run_as_one_batch_and_each_gets_its_result():
    be = FakeBackend()
    b = DynamicBatcher(be, max_batch=4, max_wait_ms=10_000)
    try:
        gate = hold(b, be)
        futs = [b.submit(("x", i), 20 + i) for i in range(4)]  # a full batch: runs without waiting
        be.gate.set()
        assert [f.result(5) for f in futs] == [0, 10, 20, 30] and gate.result(5) == 0
        assert be.batches[1] == [("x", i) for i in range(4)]
        assert b.stats.batches == 2 and b.stats.sizes == [1, 4]
    finally:
        b.close()


def test_a_partial_batch_waits_at_most_max_wait_ms():
    be = FakeBackend()
    b = DynamicBatcher(be, max_batch=8, max_wait_ms=150)
    try:
        t = time.monotonic()
        futs = [b.submit(("x", i), 30) for i in range(3)]
        assert [f.result(5) for f in futs] == [0, 10, 20]
        assert 0.1 < time.monotonic() - t < 2.0 and be.batches == [[("x", 0), ("x", 1), ("x", 2)]]
    finally:
        b.close()


def test_items_are_bucketed_by_length_to_limit_padding():
    be = FakeBackend()
    b = DynamicBatcher(be, max_batch=8, max_wait_ms=100, bucket_edges=(32, 128, 512))
    try:
        gate = hold(b, be)
        sizes = [10, 300, 12, 20, 290, 100, 31]
        futs = [b.submit(("x", s), s) for s in sizes]
        be.gate.set()
        assert [f.result(5) for f in futs] == [10 * s for s in sizes] and gate.result(5) == 0
        groups = sorted(sorted(p[1] for p in batch) for batch in be.batches[1:])
        assert groups == [[10, 12, 20, 31], [100], [290, 300]]
        assert b.stats.padding < 0.2  # one batch of all seven would pad 1 - 763 / 2100 = 64 %
    finally:
        b.close()


def test_max_batch_ids_counts_padding_and_an_oversized_item_runs_alone():
    be = FakeBackend()
    b = DynamicBatcher(be, max_batch=8, max_batch_ids=300, max_wait_ms=50, bucket_edges=(1000,))
    try:
        gate = hold(b, be)
        futs = [b.submit(("x", i), 100) for i in range(5)] + [b.submit(("big", 9), 400)]
        be.gate.set()
        [f.result(5) for f in futs]
        gate.result(5)
        runs = be.batches[1:]
        assert all(len(batch) * max(100 if p[0] == "x" else 400 for p in batch) <= 300 or len(batch) == 1
                   for batch in runs)
        assert [("big", 9)] in runs and sorted(len(r) for r in runs) == [1, 2, 3]
    finally:
        b.close()


def test_an_interactive_item_is_never_held_back_waiting_for_a_batch():
    be = FakeBackend()
    b = DynamicBatcher(be, max_batch=8, max_wait_ms=30_000, interactive_priority=0)
    try:
        t = time.monotonic()
        assert b.submit(("first", 1), 40, priority=0).result(5) == 10
        assert time.monotonic() - t < 2.0  # not 30 s
        slow = b.submit(("later", 2), 40, priority=1)  # an ordinary item does wait ...
        time.sleep(0.2)
        assert not slow.done()
        assert b.submit(("first", 3), 40, priority=0).result(5) == 30  # ... until an interactive one takes it along
        assert slow.result(5) == 20 and be.batches[-1] == [("first", 3), ("later", 2)]
    finally:
        b.close()


def test_priority_order_within_a_bucket():
    be = FakeBackend()
    b = DynamicBatcher(be, max_batch=2, max_wait_ms=50)
    try:
        gate = hold(b, be)
        low = [b.submit(("low", i), 50, priority=5) for i in range(3)]
        high = b.submit(("high", 9), 50, priority=1)
        be.gate.set()
        [f.result(5) for f in [*low, high]]
        gate.result(5)
        assert be.batches[1] == [("high", 9), ("low", 0)] and be.batches[2] == [("low", 1), ("low", 2)]
    finally:
        b.close()


def test_an_error_reaches_every_item_of_its_batch_and_no_other():
    be = FakeBackend()
    b = DynamicBatcher(be, max_batch=3, max_wait_ms=10_000, bucket_edges=(64, 512))
    try:
        gate = hold(b, be)
        bad = [b.submit(("bad", 1), 40), b.submit(("x", 2), 40), b.submit(("x", 3), 40)]
        good = [b.submit(("x", i), 300) for i in range(3)]
        be.gate.set()
        for f in bad:
            with pytest.raises(RuntimeError, match="the model failed on this batch"):
                f.result(5)
        assert [f.result(5) for f in good] == [0, 10, 20] and gate.result(5) == 0
        short = [b.submit(("short", i), 40) for i in range(3)]  # a backend returning too few results
        for f in short:
            with pytest.raises(ModelError, match="a batch of 3 items returned 2 results"):
                f.result(5)
    finally:
        b.close()


def test_an_item_cancelled_while_queued_is_dropped_and_the_rest_still_run():
    be = FakeBackend()
    b = DynamicBatcher(be, max_batch=8, max_wait_ms=50)
    try:
        gate = hold(b, be)
        futs = [b.submit(("x", i), 30) for i in range(3)]
        assert futs[1].cancel()
        be.gate.set()
        assert futs[0].result(5) == 0 and futs[2].result(5) == 20 and futs[1].cancelled()
        gate.result(5)
        assert be.batches[1] == [("x", 0), ("x", 2)] and b.stats.items == 3
    finally:
        b.close()


def test_close_fails_what_is_queued_and_refuses_new_items():
    be = FakeBackend()
    b = DynamicBatcher(be, max_batch=8, max_wait_ms=60_000)
    queued = b.submit(("x", 1), 30)
    b.close()
    with pytest.raises(EngineClosed):
        queued.result(5)
    with pytest.raises(EngineClosed):
        b.submit(("x", 2), 30)


def test_bad_settings_and_sizes_are_clear_errors():
    with pytest.raises(ValueError, match="bucket_edges must be increasing"):
        DynamicBatcher(FakeBackend(), bucket_edges=(64, 32))
    with pytest.raises(ValueError, match="max_batch"):
        DynamicBatcher(FakeBackend(), max_batch=0)
    b = DynamicBatcher(FakeBackend())
    try:
        with pytest.raises(ValueError, match="size must be >= 1"):
            b.submit(("x", 1), 0)
    finally:
        b.close()
