"""Worker.run() with jobs queued: it goes from one job to the next in C (gxs_worker_run), so these
check that it still stops exactly where it is asked to: after ``count`` jobs, after the job in which
stop() was called or SIGTERM arrived, and at a function's KeyboardInterrupt; the jobs after that
stay queued for the next worker. Each run() has a count, so a stop that is missed shows as a wrong
count instead of a hang."""

from __future__ import annotations

import os
import signal
from typing import Any, List, Optional

import pytest

import gearman_xs
from gearman_xs.admin import parse_status
from gearman_xs.job import Job
from gearman_xs.testing import Gearmand
from gearman_xs.worker import Worker

QUEUED = 10


def _queue(server: Gearmand, function: str, n: int = QUEUED) -> None:
    with gearman_xs.Client() as client:
        client.add_server("127.0.0.1", server.port)
        for i in range(n):
            client.do_background(function, b"%d" % i)
    assert _queued(server, function) == n


def _queued(server: Gearmand, function: str, worker: Optional[Worker] = None) -> int:
    """gearmand's count of ``function``'s jobs not finished. With ``worker``, an echo on its
    connection first: gearmand has then processed every WORK_COMPLETE the worker sent before (the
    admin connection could otherwise overtake them: under load one test saw 8 for 7)."""
    if worker is not None:
        worker.echo(b"sync")
    for s in parse_status(server.admin("status").splitlines()):
        if s.function == function:
            return s.queued
    return 0


def _worker(server: Gearmand, function: str, fn: Any) -> Worker:
    w = Worker()
    w.add_server("127.0.0.1", server.port)
    w.add_function(function, 0, fn)
    return w


def test_run_count_leaves_the_rest_queued(shared_gearmand: Gearmand) -> None:
    seen: List[bytes] = []
    _queue(shared_gearmand, "wrun_count")
    with _worker(shared_gearmand, "wrun_count", lambda job: seen.append(job.workload())) as w:
        assert w.run(4) == 4
        assert len(seen) == 4 and _queued(shared_gearmand, "wrun_count", w) == QUEUED - 4
        assert w.run(1) == 1  # a budget of one job
        assert w.run(QUEUED - 5) == QUEUED - 5
        assert _queued(shared_gearmand, "wrun_count", w) == 0
    assert sorted(seen) == sorted(b"%d" % i for i in range(QUEUED))


def test_stop_inside_a_function_ends_run_after_that_job(shared_gearmand: Gearmand) -> None:
    seen: List[bytes] = []
    _queue(shared_gearmand, "wrun_stop")

    def fn(job: Job) -> None:
        seen.append(job.workload())
        if len(seen) == 3:
            w.stop()

    with _worker(shared_gearmand, "wrun_stop", fn) as w:
        assert w.run(QUEUED) == 3
        assert len(seen) == 3
        assert _queued(shared_gearmand, "wrun_stop", w) == QUEUED - 3
        assert w.run(QUEUED - 3) == QUEUED - 3  # the stop was consumed: run() works again
        assert _queued(shared_gearmand, "wrun_stop", w) == 0


def test_sigterm_during_a_job_ends_run_after_that_job(shared_gearmand: Gearmand) -> None:
    seen: List[bytes] = []
    _queue(shared_gearmand, "wrun_sig")

    def fn(job: Job) -> None:
        seen.append(job.workload())
        if len(seen) == 2:
            os.kill(os.getpid(), signal.SIGTERM)  # the handler runs inside this job's call

    with _worker(shared_gearmand, "wrun_sig", fn) as w:
        assert w.run(QUEUED) == 2
        assert _queued(shared_gearmand, "wrun_sig", w) == QUEUED - 2
        assert w.run(QUEUED - 2) == QUEUED - 2
    assert len(seen) == QUEUED


def test_keyboard_interrupt_in_a_function_ends_run_at_that_job(shared_gearmand: Gearmand) -> None:
    seen: List[bytes] = []
    _queue(shared_gearmand, "wrun_kbd")

    def fn(job: Job) -> None:
        seen.append(job.workload())
        if len(seen) == 2:
            raise KeyboardInterrupt

    with _worker(shared_gearmand, "wrun_kbd", fn) as w:
        with pytest.raises(KeyboardInterrupt):
            w.run(QUEUED)
        assert len(seen) == 2 and w.last_job_failed
        assert _queued(shared_gearmand, "wrun_kbd", w) == QUEUED - 2  # the second job failed, not requeued
        assert w.run(QUEUED - 2) == QUEUED - 2
        assert not w.last_job_failed
    assert len(seen) == QUEUED


def test_failed_jobs_are_counted_and_run_goes_on(shared_gearmand: Gearmand) -> None:
    seen: List[bytes] = []
    _queue(shared_gearmand, "wrun_fail")

    def fn(job: Job) -> bytes:
        seen.append(job.workload())
        if len(seen) % 3 == 0:
            raise ValueError("every third job fails")
        return b"ok"

    with _worker(shared_gearmand, "wrun_fail", fn) as w:
        assert w.run(QUEUED) == QUEUED
        assert len(seen) == QUEUED and _queued(shared_gearmand, "wrun_fail", w) == 0
