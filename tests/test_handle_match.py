"""Each result reaches the task it belongs to while many are in flight (docs/versions.md).

libgearman 2.0.0 hands a result packet to the first task whose job handle is a prefix of the
packet's (``H:host:1`` takes ``H:host:10``'s result; a task still waiting for its JOB_CREATED, whose
handle is empty, takes any); 1.1.x matches the whole handle. The packet guard marks the handles
libgearman stores so that none is a prefix of another (csrc/net_guard.c, "Job handles"), and the
AsyncClient keeps an abandoned job's task until the job ends. Each test here failed on libgearman
2.0.0 before that: a real gearmand with one short-handle job in flight while 300 later ones finish,
and a fake server that sends the packets in the order that trips the match. The real-gearmand test
runs over TLS too, where libgearman reads with ``SSL_read()``, not ``recv()``: the guard must see
those packets as well (tls_verify.c reads them through it).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from typing import Callable, List, Optional, Tuple

import pytest
from support import protocol as w
from support.fake_server import FakeServer
from support.polling import wait_for_workers, wait_until
from support.tls import Pki, make_pki, needs_tls, openssl_available, tls_gearmand

from gearman_xs import Client, net_guard
from gearman_xs.aio import AsyncClient
from gearman_xs.testing import Gearmand

_WORKER = r"""
import sys, time
from gearman_xs import Worker
w = Worker()
if len(sys.argv) > 2:
    w.set_ssl(*sys.argv[2:5])
w.add_servers(sys.argv[1])
def f(job):
    x = job.workload()
    if x == b"slow":
        time.sleep(2)
    return x
w.add_function("hm_echo", 0, f, None)
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        w.work()
    except Exception:
        time.sleep(0.05)
"""


def _one_slow_job_among_300(g: Gearmand, tls: List[str]) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, g.servers, *tls]) for _ in range(3)]
    try:
        if not tls:  # gearmand --ssl's admin port speaks TLS: the workers are not counted first
            wait_for_workers(g, ["hm_echo"], count=3, timeout=20)
        with Client() as c:
            if tls:
                c.set_ssl(*tls)
            c.add_servers(g.servers)
            workloads = [b"slow"] + [b"ok%d" % i for i in range(300)]
            out = c.map("hm_echo", workloads, return_exceptions=True, timeout=30)
        wrong = [(w, o) for w, o in zip(workloads, out) if o != w]
        assert wrong == []
    finally:
        for p in procs:
            p.kill()
            p.wait(timeout=10)


def test_each_result_reaches_its_own_task() -> None:
    with Gearmand() as g:  # a fresh gearmand: job handles start at H:host:1
        _one_slow_job_among_300(g, [])


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    if not openssl_available():
        pytest.skip("needs the openssl command")
    return make_pki(str(tmp_path_factory.mktemp("pki")))


@needs_tls
def test_each_result_reaches_its_own_task_over_tls(pki: Pki) -> None:
    # 2.0.0 with the guard on recv() only: the slow job got b"ok8" over TLS, as on plain TCP
    # unguarded. (Without workers counted first, the slow job may wait in the queue for a moment:
    # it still has the shortest handle, and the short jobs still finish while it runs.)
    with tls_gearmand(pki.gearmand_args()) as g:
        _one_slow_job_among_300(g, [pki.ca, pki.client_cert, pki.client_key])


class Scripted:
    """A policy: the n-th submission (n = 1, 2, ...) gets ``answer(n, args)``; other requests the
    default answers."""

    def __init__(self, answer: Callable[[int, List[bytes]], bytes]) -> None:
        self.answer = answer
        self.submits = 0

    def __call__(self, command: int, args: List[bytes], index: int) -> Optional[Tuple[bytes, bool]]:
        if command not in w.SUBMITS:
            return None
        self.submits += 1
        return self.answer(self.submits, args), False


def _prefix_handles(n: int, args: List[bytes]) -> bytes:
    """Workload ``a`` gets job handle ``H:fake:1``, ``b`` gets ``H:fake:10``; the second
    submission's JOB_CREATED is followed by both results, the longer handle's first. (libgearman
    1.1.x sends the tasks in the reverse order of add_task(), 2.0.0 in that order.)"""
    created = w.packet(w.JOB_CREATED, b"H:fake:1" if args[2] == b"a" else b"H:fake:10")
    if n == 1:
        return created
    return (created + w.packet(w.WORK_COMPLETE, b"H:fake:10", b"ten")
            + w.packet(w.WORK_COMPLETE, b"H:fake:1", b"one"))


def test_a_handle_that_is_a_prefix_of_another_takes_only_its_own_result() -> None:
    # 2.0.0 unguarded: "H:fake:1"'s task took b"ten", and "H:fake:10"'s never ended
    with FakeServer(Scripted(_prefix_handles)) as server, Client() as c:
        c.add_servers(server.servers)
        c.set_timeout(5000)
        marked = net_guard.counters()["marked"]
        one = c.add_task("f", b"a")
        ten = c.add_task("f", b"b")
        c.run_tasks()
        assert (one.result(), ten.result()) == (b"one", b"ten")
        # users see the server's handles, never the guard's marks
        assert (one.job_handle(), ten.job_handle()) == ("H:fake:1", "H:fake:10")
        if net_guard.active():
            assert net_guard.counters()["marked"] >= marked + 4


def _late_result(n: int, args: List[bytes]) -> bytes:
    """The first submission gets JOB_CREATED ``H:fake:1`` only; the second gets that job's
    WORK_COMPLETE first, then its own JOB_CREATED ``H:fake:2`` and result."""
    if n == 1:
        return w.packet(w.JOB_CREATED, b"H:fake:1")
    return (w.packet(w.WORK_COMPLETE, b"H:fake:1", b"first") + w.packet(w.JOB_CREATED, b"H:fake:2")
            + w.packet(w.WORK_COMPLETE, b"H:fake:2", b"second"))


def _acknowledged(c: AsyncClient) -> bool:
    """The AsyncClient's one job in flight has its JOB_CREATED (read across threads: retried)."""
    engine = c._engine
    try:
        jobs = list(engine.live.values()) if engine is not None else []
        return len(jobs) == 1 and jobs[0].rec is not None and bool(jobs[0].rec.created)
    except RuntimeError:  # the engine thread changed the dict meanwhile
        return False


def test_the_result_of_a_cancelled_job_does_not_reach_the_next_one() -> None:
    # 2.0.0, with the abandoned job's task freed at once: the next job, still waiting for its
    # JOB_CREATED (an empty handle), took b"first"
    policy = Scripted(_late_result)

    async def main() -> None:
        c = AsyncClient()
        c.add_servers(server.servers)
        c.set_timeout(5000)
        async with c:
            first = asyncio.ensure_future(c.do("f", b"a"))
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not _acknowledged(c):
                await asyncio.sleep(0.01)
            assert _acknowledged(c), "the first job was not acknowledged"
            engine = c._engine
            assert engine is not None
            first.cancel()
            assert await asyncio.wait_for(c.do("f", b"b"), 10) == b"second"
            assert wait_until(lambda: not engine.live, timeout=10, what="the abandoned job freed")

    with FakeServer(policy) as server:
        asyncio.run(asyncio.wait_for(main(), 30))
    assert policy.submits == 2
