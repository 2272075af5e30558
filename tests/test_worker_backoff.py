"""Worker back-off against a server that closes on it or sends a bad packet: reconnects slow down
(50 ms doubling up to worker.MAX_BACKOFF) instead of hammering the server; run() keeps going,
work()/grab_job() raise or return but the next call waits; a good pass resets the back-off."""

from __future__ import annotations

import threading
import time
from typing import Dict

import pytest
from support import protocol as w
from support.fake_server import FakeServer, reply_to
from support.protocol import WORK_COMPLETE, do
from support.timing import Stopwatch
from support.workers import WorkerThread

from gearman_xs import GEARMAN_NO_SERVERS, GearmanError, Worker
from gearman_xs.testing import Gearmand
from gearman_xs.worker import MAX_BACKOFF

BAD_PACKET = b"\0RES" + (999).to_bytes(4, "big") + b"\0\0\0\0"
WINDOW = 2.0
# 50+100+200+400+800 ms, then MAX_BACKOFF apart: 6 connections in 2 s (before: 60-1,400/s).
MAX_CONNECTIONS = 10

BEHAVIOURS = {"bad packet": BAD_PACKET, "close": b""}


@pytest.mark.parametrize("behaviour", list(BEHAVIOURS))
def test_run_backs_off_and_keeps_running(behaviour: str) -> None:
    with FakeServer(reply_to(w.GRABS, BEHAVIOURS[behaviour])) as server:
        worker = Worker()
        worker.add_server("127.0.0.1", server.port)
        worker.add_function("f", 0, lambda job: b"r")
        result: Dict[str, object] = {}

        def run() -> None:
            try:
                result["jobs"] = worker.run(handle_signals=False)
            except BaseException as exc:  # reported below
                result["error"] = exc

        thread = threading.Thread(target=run)
        thread.start()
        time.sleep(WINDOW)
        connections = server.connections
        t0 = time.monotonic()
        worker.stop()
        thread.join(10)
        stop_took = time.monotonic() - t0
        worker.close()
    assert result == {"jobs": 0}
    assert 2 <= connections <= MAX_CONNECTIONS, f"{connections} connections in {WINDOW} s"
    assert stop_took < MAX_BACKOFF + 1.0
    gaps = [b - a for a, b in zip(server.connect_times, server.connect_times[1:])]
    assert max(gaps) <= MAX_BACKOFF + 1.0  # capped: it keeps trying


@pytest.mark.parametrize("behaviour", list(BEHAVIOURS))
@pytest.mark.parametrize("call", ["work", "grab_job"])
def test_repeated_calls_back_off(behaviour: str, call: str) -> None:
    with FakeServer(reply_to(w.GRABS, BEHAVIOURS[behaviour])) as server, Worker() as worker:
        worker.add_server("127.0.0.1", server.port)
        worker.add_function("f", 0, lambda job: b"r")
        errors = 0
        end = time.monotonic() + WINDOW
        while time.monotonic() < end:
            try:
                getattr(worker, call)()
            except GearmanError:
                errors += 1
        connections = server.connections
    assert connections <= MAX_CONNECTIONS, f"{connections} connections in {WINDOW} s"
    if behaviour == "bad packet":
        assert errors >= 2  # each call still reports the bad server


def test_timeout_holds_during_back_off() -> None:
    with FakeServer(reply_to(w.GRABS, BAD_PACKET)) as server, Worker() as worker:
        worker.add_server("127.0.0.1", server.port)
        worker.add_function("f", 0, lambda job: b"r")
        for _ in range(6):  # drive the back-off up to MAX_BACKOFF
            with pytest.raises(GearmanError):
                worker.work()
        worker.set_timeout(200)
        with Stopwatch() as sw, pytest.raises(GearmanError) as info:
            worker.work()
    assert info.value.name == "GEARMAN_TIMEOUT"
    sw.assert_under(0.2 + 0.5)


def test_back_off_resets_after_a_good_pass(gearmand: Gearmand) -> None:
    """A server that recovers: the worker serves jobs at full speed again."""
    worker = Worker()
    worker.add_server("127.0.0.1", gearmand.port)
    worker.add_function("wbo", 0, lambda job: b"ok:" + job.workload())
    with worker, WorkerThread(worker):
        t0 = time.monotonic()
        for i in range(20):
            assert do(gearmand.port, b"wbo", b"%d" % i) == (WORK_COMPLETE, b"ok:%d" % i)
        assert worker._loop.backoff.pause == 0.0
    assert time.monotonic() - t0 < 20 * MAX_BACKOFF


@pytest.mark.parametrize("call", ["work", "grab_job"])
def test_no_server_backs_off(call: str) -> None:
    """GEARMAN_NO_SERVERS is one of errors.CONNECTION_CODES: each call still raises it, but the next
    call waits for the back-off instead of spinning (before: thousands of calls a second)."""
    with Worker() as worker:
        worker.add_function("f", 0, lambda job: b"r")
        codes = set()
        calls = 0
        end = time.monotonic() + WINDOW
        while time.monotonic() < end:
            calls += 1
            with pytest.raises(GearmanError) as info:
                getattr(worker, call)()
            codes.add(info.value.code)
        assert worker._loop.backoff.pause > 0
    assert codes == {GEARMAN_NO_SERVERS}
    assert calls <= MAX_CONNECTIONS, f"{calls} calls in {WINDOW} s"
