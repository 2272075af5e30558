"""Worker.run() against dying and restarting servers, and SIGTERM/SIGINT."""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import List

import pytest
from support.polling import poll
from support.protocol import WORK_COMPLETE, do
from support.timing import Stopwatch
from support.workers import WorkerThread

from gearman_xs.job import Job
from gearman_xs.testing import Gearmand
from gearman_xs.worker import Worker


def _cpu_seconds() -> float:
    """CPU time of this process (user + system), from /proc/self/stat (clock ticks)."""
    with open("/proc/self/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _registered(server: Gearmand, text: str) -> bool:
    try:
        return text in server.admin("workers")
    except OSError:
        return False


def test_restart_while_idle_no_busy_loop_identifier_kept(gearmand: Gearmand) -> None:
    w = Worker()
    w.add_server("127.0.0.1", gearmand.port)
    w.set_identifier("resilient-1")
    w.add_function("wres", 0, lambda job: b"served:" + job.workload())
    with w, WorkerThread(w) as t:
        assert do(gearmand.port, b"wres", b"a") == (WORK_COMPLETE, b"served:a")
        gearmand.stop()
        time.sleep(0.3)
        cpu0, t0 = _cpu_seconds(), time.monotonic()
        time.sleep(2.0)
        cpu = _cpu_seconds() - cpu0
        elapsed = time.monotonic() - t0
        assert cpu < 0.1 * elapsed, f"worker used {cpu:.2f}s CPU in {elapsed:.2f}s with the server down"
        gearmand.start()
        # picked up while idle: no job needed to wake it; the identifier is re-sent too
        ok = poll(lambda: _registered(gearmand, "resilient-1 : wres"), 5.0)
        assert ok, gearmand.admin("workers")
        assert do(gearmand.port, b"wres", b"b") == (WORK_COMPLETE, b"served:b")
        w.stop()
        assert t.join() == 2


def test_fast_restart_while_idle(gearmand: Gearmand) -> None:
    w = Worker()
    w.add_server("127.0.0.1", gearmand.port)
    w.set_identifier("resilient-2")
    w.add_function("wres2", 0, lambda job: b"ok")
    with w, WorkerThread(w):
        assert poll(lambda: _registered(gearmand, "resilient-2 : wres2"))
        gearmand.restart()
        ok = poll(lambda: _registered(gearmand, "resilient-2 : wres2"), 5.0)
        assert ok, gearmand.admin("workers")
        assert do(gearmand.port, b"wres2", b"x") == (WORK_COMPLETE, b"ok")


def test_two_servers_one_restarts(gearmand: Gearmand) -> None:
    with Gearmand() as other:
        w = Worker()
        w.add_servers(f"127.0.0.1:{gearmand.port},127.0.0.1:{other.port}")
        w.add_function("wres3", 0, lambda job: b"via " + job.workload())
        with w, WorkerThread(w):
            assert do(gearmand.port, b"wres3", b"A") == (WORK_COMPLETE, b"via A")
            assert do(other.port, b"wres3", b"B") == (WORK_COMPLETE, b"via B")
            gearmand.kill()
            assert do(other.port, b"wres3", b"B2") == (WORK_COMPLETE, b"via B2")
            cpu0, t0 = _cpu_seconds(), time.monotonic()
            time.sleep(1.5)
            cpu = _cpu_seconds() - cpu0
            assert cpu < 0.1 * (time.monotonic() - t0), f"{cpu:.2f}s CPU with one server down"
            gearmand.start()
            assert poll(lambda: _registered(gearmand, "wres3"), 5.0)
            assert do(gearmand.port, b"wres3", b"A2") == (WORK_COMPLETE, b"via A2")
            assert do(other.port, b"wres3", b"B3") == (WORK_COMPLETE, b"via B3")


def test_all_servers_down_at_start_then_up(gearmand: Gearmand) -> None:
    gearmand.stop()
    w = Worker()
    w.add_server("127.0.0.1", gearmand.port)
    w.add_function("wres4", 0, lambda job: b"late")
    with w, WorkerThread(w) as t:
        cpu0, t0 = _cpu_seconds(), time.monotonic()
        time.sleep(1.5)
        assert _cpu_seconds() - cpu0 < 0.1 * (time.monotonic() - t0)
        gearmand.start()
        assert do(gearmand.port, b"wres4", b"x") == (WORK_COMPLETE, b"late")
        with Stopwatch() as sw:
            w.stop()
            assert t.join() == 1
        sw.assert_under(1.0)  # less the machine's measured delay


def _in_main_thread_after(delay: float, sig: int) -> threading.Timer:
    timer = threading.Timer(delay, os.kill, (os.getpid(), sig))
    timer.start()
    return timer


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_idle_run(shared_gearmand: Gearmand, sig: int) -> None:
    before = signal.getsignal(sig)
    with Worker() as w:
        w.add_server("127.0.0.1", shared_gearmand.port)
        w.add_function("wsig_idle", 0, lambda job: None)
        _in_main_thread_after(0.3, sig)
        with Stopwatch() as sw:
            assert w.run() == 0
        sw.assert_between(0.28, 1.3)
    assert signal.getsignal(sig) is before


def test_sigterm_finishes_the_current_job(shared_gearmand: Gearmand) -> None:
    results: List[object] = []

    def slow(job: Job) -> bytes:
        os.kill(os.getpid(), signal.SIGTERM)  # arrives in the middle of the job
        time.sleep(0.2)
        return b"finished anyway"

    with Worker() as w:
        w.add_server("127.0.0.1", shared_gearmand.port)
        w.add_function("wsig_job", 0, slow)
        client = threading.Thread(target=lambda: results.append(do(shared_gearmand.port, b"wsig_job", b"x")))
        client.start()
        assert w.run() == 1
        client.join(10)
    assert results == [(WORK_COMPLETE, b"finished anyway")]


def test_sigint_without_signal_handling_raises(shared_gearmand: Gearmand) -> None:
    with Worker() as w:
        w.add_server("127.0.0.1", shared_gearmand.port)
        w.add_function("wsig_kbd", 0, lambda job: None)
        _in_main_thread_after(0.3, signal.SIGINT)
        with Stopwatch() as sw, pytest.raises(KeyboardInterrupt):
            w.run(handle_signals=False)
        sw.assert_between(0.28, 1.3)
        # and a plain work() too
        _in_main_thread_after(0.3, signal.SIGINT)
        with pytest.raises(KeyboardInterrupt):
            w.work()
