"""End to end: gearman_xs.Worker serving gearman_xs.Client through a real gearmand (issue 4's
"a Python worker serves a Python Client"), no stand-in on either side."""

from __future__ import annotations

import os
import re
import time
from typing import Any, Iterator, List, Optional, Tuple

import pytest
from support.functions import Functions
from support.polling import wait_until
from support.workers import WorkerThread

import gearman_xs
from gearman_xs import Client, ClosedError, Task, Worker, WorkException, WorkFail
from gearman_xs.testing import Gearmand

P = "cw_"
UUID_RE = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


def start_worker(server: Gearmand, functions: Functions, send_exceptions: bool = False) -> WorkerThread:
    worker = Worker(send_exceptions=send_exceptions)
    worker.add_servers(server.servers)
    functions.add_to(worker, P)
    return WorkerThread(worker)


@pytest.fixture(scope="module")
def served(shared_gearmand: Gearmand) -> Iterator[Functions]:
    """Two gearman_xs.Worker threads (two, so that a blocked `progress` job leaves one free)."""
    functions = Functions()
    threads = [start_worker(shared_gearmand, functions) for _ in range(2)]
    for t in threads:
        t.__enter__()
    try:
        yield functions
    finally:
        functions.release.set()
        for t in threads:
            t.__exit__()
            t.worker.close()


@pytest.fixture(scope="module")
def server(shared_gearmand: Gearmand, served: Functions) -> Gearmand:
    """The shared gearmand, served by the worker threads (conftest.py's ``client`` connects to it)."""
    return shared_gearmand


@pytest.fixture
def functions(served: Functions) -> Functions:
    served.seen.clear()
    served.release.clear()
    return served


# -- foreground ------------------------------------------------------------------------------------


def test_do_all_priorities(client: Client, functions: Functions) -> None:
    assert client.do(P + "reverse", "hello") == b"olleh"
    assert client.do_high(P + "reverse", b"high") == b"hgih"
    assert client.do_low(P + "reverse", bytearray(b"low")) == b"wol"
    assert client.do(P + "echo", "\u263a") == "\u263a".encode()
    assert [s[:2] for s in functions.seen] == [
        (P + "reverse", b"hello"), (P + "reverse", b"high"), (P + "reverse", b"low"),
        (P + "echo", "\u263a".encode()),
    ]


def test_do_gets_data_chunks_and_result(client: Client, functions: Functions) -> None:
    assert client.do(P + "chunks", "x") == b"ABC"  # WORK_DATA chunks + the result


def test_empty_and_every_byte_value_payloads(client: Client, functions: Functions) -> None:
    assert client.do(P + "echo", b"") == b""
    every = bytes(range(256))
    assert client.do(P + "echo", every) == every
    assert client.do(P + "reverse", every * 4) == (every * 4)[::-1]
    assert functions.seen[0][1] == b"" and functions.seen[1][1] == every


def test_one_mebibyte_payloads(client: Client, functions: Functions) -> None:
    blob = os.urandom(1 << 20)
    assert client.do(P + "echo", blob) == blob
    assert client.do(P + "reverse", memoryview(blob)) == blob[::-1]
    task = client.add_task(P + "echo", blob)
    client.run_tasks()
    assert task.data() == blob and task.data_size() == 1 << 20
    assert [len(s[1]) for s in functions.seen] == [1 << 20] * 3


def test_unique_ids_reach_the_worker(client: Client, functions: Functions) -> None:
    assert client.do(P + "unique", "x", "my-unique-1") == b"my-unique-1"
    assert client.do_high(P + "unique", "x", b"u" * 63) == b"u" * 63
    generated = client.do(P + "unique", "x").decode()
    assert re.match(UUID_RE, generated)
    assert client.do(P + "unique", "x").decode() != generated
    given = client.add_task(P + "unique", "y", "task-unique")
    made = client.add_task(P + "unique", "z")
    client.run_tasks()
    assert given.data() == b"task-unique"
    assert made.unique() is not None and made.data() == made.unique().encode()
    assert re.match(UUID_RE, made.unique() or "")


# -- failures ---------------------------------------------------------------------------------------


def test_send_fail_and_send_exception(client: Client, functions: Functions) -> None:
    with pytest.raises(WorkFail) as fail:
        client.do(P + "fail", "x")
    assert fail.value.code == gearman_xs.GEARMAN_WORK_FAIL
    with pytest.raises(WorkException) as exc:
        client.do(P + "exc", "e1")
    assert exc.value.code == gearman_xs.GEARMAN_WORK_EXCEPTION
    assert exc.value.exception == b"custom: e1"
    assert client.do(P + "echo", "still served") == b"still served"


def test_raising_function_is_work_fail_by_default(client: Client, functions: Functions) -> None:
    for _ in range(2):  # the worker lives on
        with pytest.raises(WorkFail) as fail:
            client.do(P + "raise", "x")
        assert not isinstance(fail.value, WorkException)
    assert client.do(P + "echo", "alive") == b"alive"


def test_raising_function_with_send_exceptions(gearmand: Gearmand) -> None:
    functions = Functions()
    with start_worker(gearmand, functions, send_exceptions=True) as wt, Client() as c:
        c.add_servers(gearmand.servers)
        c.set_timeout(10000)
        with pytest.raises(WorkException) as exc:
            c.do(P + "raise", "abc")
        assert exc.value.exception == b"ValueError: bad input abc"
        task = c.add_task(P + "raise", "def")
        seen: List[Tuple[str, Optional[bytes]]] = []
        c.set_exception_fn(lambda t: seen.append(("exception", t.exception())))
        c.set_fail_fn(lambda t: seen.append(("fail", t.exception())))
        c.run_tasks()
        assert seen == [("exception", b"ValueError: bad input def")]
        assert task.returncode() == gearman_xs.GEARMAN_WORK_EXCEPTION
        # a Client that turned exceptions off gets the job failed, not a hang
        c.remove_options(gearman_xs.GEARMAN_CLIENT_EXCEPTION)
        start = time.monotonic()
        with pytest.raises(WorkFail):
            c.do(P + "raise", "ghi")
        assert time.monotonic() - start < 6
        assert c.do(P + "echo", "alive") == b"alive"
    wt.worker.close()


# -- background and status -------------------------------------------------------------------------


def test_background_and_job_status_from_the_worker(client: Client, functions: Functions) -> None:
    handle = client.do_background(P + "progress", "bg")
    assert handle.startswith("H:")
    # running from JOB_ASSIGN on; the worker's WORK_STATUS reaches gearmand just after it
    wait_until(lambda: client.job_status(handle)[:3] == (True, True, 1), 5.0)
    assert client.job_status(handle) == (True, True, 1, 3)
    status_task = client.add_task_status(handle)
    client.run_tasks()
    assert (status_task.is_known(), status_task.is_running()) == (True, True)
    assert (status_task.numerator(), status_task.denominator()) == (1, 3)
    functions.release.set()
    wait_until(lambda: not client.job_status(handle).is_known, 5.0)
    assert client.job_status(handle) == (False, False, 0, 0)
    assert isinstance(client.do_high_background(P + "echo", "h"), str)
    assert isinstance(client.do_low_background(P + "echo", "l", "bg-low-unique"), str)
    wait_until(lambda: len(functions.seen) == 2, 5.0)
    assert sorted(s[1] for s in functions.seen) == [b"h", b"l"]
    assert ("cw_echo", b"l", "bg-low-unique") in functions.seen


def test_priorities_order_queued_background_jobs(gearmand: Gearmand) -> None:
    order: List[bytes] = []
    with Client() as c:
        c.add_servers(gearmand.servers)
        c.add_task_low_background(P + "order", "low")
        c.add_task_background(P + "order", "normal")
        c.add_task_high_background(P + "order", "high")
        c.run_tasks()  # all three queued before any worker exists
    w = Worker()
    w.add_servers(gearmand.servers)
    w.add_function(P + "order", 0, lambda job: order.append(job.workload()))
    with WorkerThread(w, count=3) as wt:
        assert wt.join() == 3
    w.close()
    assert order == [b"high", b"normal", b"low"]


# -- add_task / run_tasks callbacks ----------------------------------------------------------------


def record(client: Client) -> List[Tuple[Any, ...]]:
    events: List[Tuple[Any, ...]] = []

    def make(kind: str) -> Any:
        def fn(task: Task) -> None:
            events.append((kind, task, task.data(), task.numerator(), task.denominator(),
                           task.exception()))
        return fn

    for kind in ("created", "data", "warning", "status", "complete", "fail", "exception"):
        getattr(client, f"set_{kind}_fn")(make(kind))
    return events


def test_callbacks_fed_by_the_job_senders(client: Client, functions: Functions) -> None:
    events = record(client)
    chunks = client.add_task(P + "chunks", "x")
    client.run_tasks()
    assert [(e[0], e[2]) for e in events] == [
        ("created", None), ("data", b"A"), ("status", b"A"), ("warning", b"W"), ("data", b"B"),
        ("complete", b"C"),
    ]
    assert all(e[1] is chunks for e in events)
    assert events[2][3:5] == (1, 2)
    assert chunks.returncode() == gearman_xs.GEARMAN_SUCCESS and chunks.data() == b"C"

    events.clear()
    failed = client.add_task(P + "fail", "f")
    client.run_tasks()
    assert [(e[0], e[2]) for e in events] == [("created", None), ("data", b"partial"), ("fail", b"partial")]
    assert failed.returncode() == gearman_xs.GEARMAN_WORK_FAIL

    events.clear()
    excepted = client.add_task(P + "exc", "q")
    client.run_tasks()
    assert [e[0] for e in events] == ["created", "exception"]
    assert events[1][5] == b"custom: q" and excepted.exception() == b"custom: q"
    assert excepted.returncode() == gearman_xs.GEARMAN_WORK_EXCEPTION

    events.clear()
    raised = client.add_task(P + "raise", "r")  # default Worker: WORK_FAIL only
    client.run_tasks()
    assert [e[0] for e in events] == ["created", "fail"]
    assert raised.returncode() == gearman_xs.GEARMAN_WORK_FAIL and raised.exception() is None


def test_many_tasks_in_one_run(client: Client, functions: Functions) -> None:
    tasks = [client.add_task(P + "reverse", f"t{i}") for i in range(20)]
    tasks.append(client.add_task_high(P + "echo", "h"))
    tasks.append(client.add_task_low(P + "echo", "l"))
    done: List[Task] = []
    client.set_complete_fn(done.append)
    client.run_tasks()
    assert [t.data() for t in tasks] == [f"t{i}".encode()[::-1] for i in range(20)] + [b"h", b"l"]
    assert sorted(map(id, done)) == sorted(map(id, tasks))


# -- the Job after its function returned -----------------------------------------------------------


def test_job_methods_after_the_function_returned_raise(client: Client, functions: Functions) -> None:
    functions.kept.clear()
    assert client.do(P + "keep", "k") == b"kept"
    (job,) = functions.kept
    assert job.closed
    calls = [
        job.workload, job.workload_size, job.handle, job.function_name, job.unique,
        lambda: job.send_status(1, 2), lambda: job.send_data(b"d"), lambda: job.send_warning(b"w"),
        lambda: job.send_complete(b"c"), job.send_fail, lambda: job.send_exception(b"e"),
    ]
    for call in calls:
        with pytest.raises(ClosedError):
            call()
    assert client.do(P + "echo", "after") == b"after"
