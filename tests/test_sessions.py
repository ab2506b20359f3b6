"""Workers share one model session per (backend, threads) unless ``share_sessions=False`` (no model)."""

import threading
import time

from greentts.core.engine import _Worker
from greentts.energy import CarbonFactors, CpuTimeMeter, EnergyAccountant
from greentts.energy.accounting import EnergyTally


class _Backend:
    name = "fake"

    def __init__(self) -> None:
        self.opened: list[int] = []

    def new_session(self, threads: int) -> object:
        time.sleep(0.05)  # slow enough that concurrent first calls overlap
        self.opened.append(threads)
        return object()


def _workers(n: int, shared: bool) -> tuple[list[_Worker], _Backend, EnergyTally]:
    backend, startup = _Backend(), EnergyTally()
    accountant = EnergyAccountant(CpuTimeMeter(), CarbonFactors(400.0, 1.0, "test"))
    sessions = {} if shared else None
    lock = threading.Lock()
    return [_Worker({"fake": backend}, 1, accountant, startup, sessions, lock) for _ in range(n)], backend, startup


def test_workers_share_one_session_per_thread_count_opened_once():
    workers, backend, _ = _workers(3, shared=True)
    got: list[object] = []
    threads = [threading.Thread(target=lambda w=w: got.append(w.session("fake"))) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(s) for s in got}) == 1 and backend.opened == [1]
    fast = workers[0].session("fake", 2)  # the fast lane's multi-thread session is a second one
    assert fast is not got[0] and workers[1].session("fake", 2) is fast and backend.opened == [1, 2]


def test_without_sharing_each_worker_opens_its_own():
    workers, backend, startup = _workers(2, shared=False)
    a, b = (w.session("fake") for w in workers)
    assert a is not b and backend.opened == [1, 1]
    assert workers[0].session("fake") is a  # and keeps it
