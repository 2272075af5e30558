"""Client and Worker paths beyond the plain blocking ones, end to end with gearman_xs on both sides:
non-blocking run_tasks()/wait(), cancel_job(), job_status() with several servers, and a
non-blocking Worker's wait() and grab_job()."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Iterator, List

import pytest
from support.functions import sleepy
from support.timing import Stopwatch
from support.workers import WorkerThread

import gearman_xs
from gearman_xs import Client, GearmanConnectionError, GearmanError, GearmanTimeout, Task, Worker
from gearman_xs.admin import Admin
from gearman_xs.testing import Gearmand, free_port


@pytest.fixture
def worker(gearmand: Gearmand) -> Iterator[WorkerThread]:
    w = Worker()
    w.add_servers(gearmand.servers)
    w.add_function("np_sleep", 0, sleepy)
    w.add_function("np_rev", 0, lambda job: job.workload()[::-1])
    w.add_function("np_exc", 0, lambda job: job.send_exception(b"np boom"))
    with WorkerThread(w) as wt:
        yield wt
    w.close()


# -- Client NON_BLOCKING -----------------------------------------------------------------------------


def test_non_blocking_run_tasks_returns_false_until_done(gearmand: Gearmand, worker: WorkerThread) -> None:
    with Client() as c:
        c.add_servers(gearmand.servers)
        c.set_timeout(10000)
        c.add_options(gearman_xs.GEARMAN_CLIENT_NON_BLOCKING)
        assert c.options() & gearman_xs.GEARMAN_CLIENT_NON_BLOCKING
        assert c.run_tasks() is True  # nothing to do
        done: List[Task] = []
        c.set_complete_fn(done.append)
        slow = c.add_task("np_sleep", "0.6")
        fast = c.add_task("np_rev", "abc")
        exc = c.add_task("np_exc", "e")  # the "exceptions" option is on in non-blocking mode too
        results, longest, waits = [], 0.0, 0
        start = time.monotonic()
        while True:
            with Stopwatch() as sw:
                finished = c.run_tasks()
            longest = max(longest, sw.product)  # less the machine's measured delay
            results.append(finished)
            if finished:
                break
            assert time.monotonic() - start < 10
            c.wait()
            waits += 1
        assert results[0] is False and results[-1] is True and results.count(True) == 1
        assert waits >= 1
        assert longest < 0.3  # never waited for the 0.6 s job inside run_tasks() (product time)
        assert time.monotonic() - start >= 0.6
        assert (slow.data(), fast.data()) == (b"slept 0.6", b"cba")
        assert sorted(map(id, done)) == sorted(map(id, (slow, fast)))
        assert exc.exception() == b"np boom" and exc.returncode() == gearman_xs.GEARMAN_WORK_EXCEPTION
        # do*() always blocks until the result, NON_BLOCKING or not
        assert c.do("np_rev", "xyz") == b"zyx"
        assert c.do_background("np_rev", "bg").startswith("H:")


def test_non_blocking_timeout_and_resume(gearmand: Gearmand, worker: WorkerThread) -> None:
    with Client() as c:
        c.add_servers(gearmand.servers)
        c.add_options(gearman_xs.GEARMAN_CLIENT_NON_BLOCKING)
        c.set_timeout(300)
        task = c.add_task("np_sleep", "1.2")
        with Stopwatch() as sw, pytest.raises(GearmanTimeout):
            while not c.run_tasks():
                c.wait()
        sw.assert_between(0.28, 1.0)  # the 0.3 s timeout, long before the 1.2 s job ends
        c.set_timeout(10000)
        while not c.run_tasks():  # the same task, resumed
            c.wait()
        assert task.data() == b"slept 1.2" and task.returncode() == gearman_xs.GEARMAN_SUCCESS


# -- cancel_job ---------------------------------------------------------------------------------------


def test_cancel_job_on_a_queued_background_job(gearmand: Gearmand) -> None:
    dead = f"127.0.0.1:{free_port()}"
    with Client() as submitter, Client() as c, Admin("127.0.0.1", gearmand.port) as admin:
        submitter.add_servers(gearmand.servers)
        cancelled = submitter.do_background("np_cancel", "cancelled")
        kept = submitter.do_background("np_cancel", "kept")
        c.add_servers(f"{gearmand.servers},{dead}")  # the dead one is asked first, then skipped
        c.cancel_job(cancelled)
        jobs = {job.handle: job for job in admin.show_jobs()}
        assert jobs[cancelled].ignore_job and not jobs[kept].ignore_job
        with pytest.raises(GearmanError) as unknown:
            c.cancel_job("H:nosuch:1")
        assert unknown.value.code == gearman_xs.GEARMAN_JOB_NOT_FOUND
        assert c.error() is not None

        ran: List[bytes] = []
        w = Worker()
        w.add_servers(gearmand.servers)
        w.add_function("np_cancel", 0, lambda job: ran.append(job.workload()))
        w.set_timeout(500)
        assert w.work() is True
        with pytest.raises(GearmanTimeout):
            w.work()  # the cancelled job never comes
        w.close()
        assert ran == [b"kept"]
        assert admin.show_jobs() == []
        assert c.job_status(cancelled) == (False, False, 0, 0)


def test_cancel_job_with_no_server_reachable() -> None:
    with Client() as c:
        c.add_servers(f"127.0.0.1:{free_port()},127.0.0.1:{free_port()}")
        with pytest.raises(GearmanConnectionError):
            c.cancel_job("H:x:1")
    with Client() as c, pytest.raises(GearmanConnectionError):
        c.cancel_job("H:x:1")  # no servers at all


# -- job_status with several servers -----------------------------------------------------------------


def test_job_status_of_a_job_on_the_non_preferred_server(gearmand: Gearmand) -> None:
    dead = f"127.0.0.1:{free_port()}"
    with Gearmand() as other, Client() as submitter:
        submitter.add_servers(gearmand.servers)
        handle = submitter.do_background("np_nobody", "x", "np-unique-1")
        with Admin("127.0.0.1", other.port) as other_admin:
            assert other_admin.show_jobs() == []  # the other server holds no job at all
        for servers in (f"{gearmand.servers},{other.servers}", f"{other.servers},{gearmand.servers}",
                        f"{gearmand.servers},{dead}", f"{dead},{other.servers},{gearmand.servers}"):
            with Client() as c:
                c.add_servers(servers)
                assert c.job_status(handle) == (True, False, 0, 0), servers
                assert c.job_status_by_unique("np-unique-1").is_known, servers
                assert c.job_status("H:nosuch:1") == (False, False, 0, 0)
                assert c.job_status_by_unique("np-never") == (False, False, 0, 0)
        with Client() as c:
            c.add_servers(f"{dead},127.0.0.1:{free_port()}")
            with pytest.raises(GearmanConnectionError):
                c.job_status(handle)
            with pytest.raises(GearmanConnectionError):
                c.job_status_by_unique("np-unique-1")


# -- Worker NON_BLOCKING -------------------------------------------------------------------------------


class ClientThread:
    """One do() in a thread, its result or error kept."""

    def __init__(self, servers: str, function: str, workload: str) -> None:
        self.result: object = None
        self.thread = threading.Thread(target=self._run, args=(servers, function, workload), daemon=True)

    def _run(self, servers: str, function: str, workload: str) -> None:
        try:
            with Client() as c:
                c.add_servers(servers)
                c.set_timeout(10000)
                self.result = c.do(function, workload)
        except BaseException as exc:  # reported by the test
            self.result = exc

    def __enter__(self) -> ClientThread:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.thread.join(15)


def test_non_blocking_worker_grab_job_and_wait(gearmand: Gearmand) -> None:
    with Worker() as w:
        w.add_servers(gearmand.servers)
        w.register("np_grab")
        w.add_options(gearman_xs.GEARMAN_WORKER_NON_BLOCKING)
        w.set_timeout(300)
        # libgearman 1.1.20 crashes on the grab after a non-blocking NO_JOBS followed by a wait()
        # (NO_ACTIVE_FDS): the Worker continues on a clone that keeps NON_BLOCKING, and its wait()
        # then naps one slice instead of spinning
        t0 = time.monotonic()
        cycles = 0
        while time.monotonic() - t0 < 1.0:
            t1 = time.monotonic()
            assert w.grab_job() is None
            assert time.monotonic() - t1 < 0.5
            with contextlib.suppress(GearmanTimeout):
                w.wait()
            cycles += 1
        assert 3 <= cycles < 200
        assert w.options() & gearman_xs.GEARMAN_WORKER_NON_BLOCKING
        with ClientThread(gearmand.servers, "np_grab", "payload") as ct:
            deadline = time.monotonic() + 10
            job = w.grab_job()
            while job is None:
                assert time.monotonic() < deadline
                with contextlib.suppress(GearmanTimeout):
                    w.wait()
                job = w.grab_job()
            assert job.workload() == b"payload" and job.function_name() == "np_grab"
            job.send_status(1, 1)
            job.send_complete(job.workload().upper())
            job.close()
        assert ct.result == b"PAYLOAD"
        assert w.grab_job() is None


def test_non_blocking_worker_work_and_wait(gearmand: Gearmand) -> None:
    with Worker() as w:
        w.add_servers(gearmand.servers)
        w.add_function("np_work", 0, lambda job: job.workload() * 2)
        w.add_options(gearman_xs.GEARMAN_WORKER_NON_BLOCKING)
        w.set_timeout(300)
        assert w.work() is False  # nothing to do, at once
        with ClientThread(gearmand.servers, "np_work", "ab") as ct:
            deadline = time.monotonic() + 10
            while not w.work():
                assert time.monotonic() < deadline
                with contextlib.suppress(GearmanTimeout):
                    w.wait()
        assert ct.result == b"abab"
