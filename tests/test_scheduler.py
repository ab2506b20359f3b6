"""The scheduler, driven with fake tasks (no model)."""

import threading
import time

import pytest

from greentts import EngineClosed, Overloaded
from greentts.runtime.scheduler import Scheduler


def test_results_errors_and_state_per_worker():
    sched = Scheduler(2, lambda i: {"worker": i})
    try:
        futures = [sched.submit(lambda st, k=k: (st["worker"], k * k)) for k in range(20)]
        assert [f.result(5)[1] for f in futures] == [k * k for k in range(20)]
        bad = sched.submit(lambda st: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            bad.result(5)
        assert sched.submit(lambda st: "still alive").result(5) == "still alive"
    finally:
        sched.close()


def test_state_construction_error_reaches_the_future_and_is_retried():
    calls = []

    def make(i):
        calls.append(i)
        if len(calls) == 1:
            raise RuntimeError("weights missing")
        return "ok"

    sched = Scheduler(1, make)
    try:
        with pytest.raises(RuntimeError, match="weights missing"):
            sched.submit(lambda st: st).result(5)
        assert sched.submit(lambda st: st).result(5) == "ok"
    finally:
        sched.close()


def test_priority_order_and_fifo_within_priority():
    gate = threading.Event()
    order = []
    sched = Scheduler(1, lambda i: None)
    try:
        sched.submit(lambda st: gate.wait(5))  # occupy the only worker
        time.sleep(0.05)
        fs = [sched.submit(lambda st, n=n: order.append(n), priority=p) for n, p in
              [("bulk1", 1), ("bulk2", 1), ("urgent", 0), ("bulk3", 1)]]
        gate.set()
        for f in fs:
            f.result(5)
        assert order == ["urgent", "bulk1", "bulk2", "bulk3"]
    finally:
        sched.close()


def test_overloaded_when_queue_full_and_cancel_frees_slot():
    gate = threading.Event()
    sched = Scheduler(1, lambda i: None, max_queue=2)
    try:
        sched.submit(lambda st: gate.wait(5))
        time.sleep(0.05)
        a = sched.submit(lambda st: "a")
        sched.submit(lambda st: "b")
        with pytest.raises(Overloaded):
            sched.submit(lambda st: "c")
        assert a.cancel()
        gate.set()
        assert a.cancelled()
    finally:
        sched.close()


def test_close_fails_pending_futures_instead_of_hanging():
    gate = threading.Event()
    sched = Scheduler(1, lambda i: None)
    running = sched.submit(lambda st: gate.wait(5))
    time.sleep(0.05)
    pending = sched.submit(lambda st: "never")
    threading.Timer(0.1, gate.set).start()
    sched.close()
    assert running.result(5) is True
    with pytest.raises(EngineClosed):
        pending.result(5)
    with pytest.raises(EngineClosed):
        sched.submit(lambda st: None)


def test_run_on_each_worker_reaches_every_worker():
    sched = Scheduler(3, lambda i: i)
    try:
        assert sorted(sched.run_on_each_worker(lambda st: st, timeout=10)) == [0, 1, 2]
    finally:
        sched.close()


def test_exclusive_task_runs_alone_and_only_when_idle():
    gate = threading.Event()
    log = []
    sched = Scheduler(2, lambda i: i)
    try:
        blocker = sched.submit(lambda st: gate.wait(5))
        time.sleep(0.05)
        assert sched.try_submit_exclusive(lambda st: "x") is None  # busy: no fast lane
        gate.set()
        blocker.result(5)
        time.sleep(0.05)

        def exclusive(st):
            log.append(("start-x", st))
            time.sleep(0.2)
            log.append(("end-x", st))
            return st

        fut = sched.try_submit_exclusive(exclusive)
        assert fut is not None
        others = [sched.submit(lambda st, k=k: log.append(("task", k))) for k in range(3)]
        assert fut.result(5) == 0  # worker 0 took it
        for f in others:
            f.result(5)
        assert log[0] == ("start-x", 0) and log[1] == ("end-x", 0)  # nothing ran beside it
        assert sorted(e for e in log[2:]) == [("task", 0), ("task", 1), ("task", 2)]
    finally:
        sched.close()


def test_close_fails_a_waiting_exclusive_task():
    sched = Scheduler(1, lambda i: None)
    fut = sched.try_submit_exclusive(lambda st: time.sleep(0.2))
    sched.close()
    assert fut.done()


def test_latency_worker_runs_first_segments_while_regular_workers_are_busy():
    release = threading.Event()
    sched = Scheduler(1, lambda i: i, latency_workers=1, latency_priority=0)
    try:
        long_ = [sched.submit(lambda st: (release.wait(5), st)[1], priority=1) for _ in range(3)]
        time.sleep(0.05)
        first = sched.submit(lambda st: st, priority=0)
        assert first.result(2) == 1  # ran on the latency worker (index 1) while worker 0 was blocked
        assert not any(f.done() for f in long_)  # the latency worker never took a priority-1 task
        release.set()
        assert [f.result(5) for f in long_] == [0, 0, 0]
        assert sorted(sched.run_on_each_worker(lambda st: st)) == [0, 1]  # warm-up reaches both kinds
    finally:
        release.set()
        sched.close()
