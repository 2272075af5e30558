"""Client.map() and Client.as_completed() against a real gearmand: results in order, failures as
exception objects, pipelining (every job queued in gearmand at once), duplicate uniques, the
batch's timeout, leaving early, Ctrl-C, failover with a server killed mid-batch (nothing lost,
nothing run twice). Fixtures ``server`` and ``client`` (conftest.py): worker processes serve
``support.functions.CLIENT_FUNCTIONS`` as ``P + name``."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any, Iterator, List

import pytest
from support.polling import function_status, wait_until
from support.workers import TaggedWorkers

import gearman_xs
from gearman_xs import (
    Client,
    GearmanConnectionError,
    GearmanError,
    GearmanTimeout,
    Task,
    WorkException,
    WorkFail,
)
from gearman_xs.testing import Gearmand, free_port

P = "mp_"  # the prefix of the worker processes' functions (conftest.py `server`)


def idle(server: Gearmand) -> bool:
    """No job of this module queued or running in gearmand (abandoned ones run on)."""
    table = function_status(server)
    return not any(queued for name, (queued, _, _) in table.items() if name.startswith(P))


@pytest.fixture(autouse=True)
def workers_idle_after(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test that used the shared workers, waits until the jobs it abandoned are done."""
    yield
    if "server" in request.fixturenames:
        server = request.getfixturevalue("server")
        wait_until(lambda: idle(server), 15, "the workers to finish abandoned jobs")


def test_map_returns_every_result_in_order(client: Client) -> None:
    words = [f"word-{i}".encode() for i in range(200)]
    assert client.map(P + "reverse", words) == [w[::-1] for w in words]
    assert client.map(P + "chunks", ["x"]) == [client.do(P + "chunks", "x")] == [b"ABC"]
    assert client.map(P + "echo", []) == []
    assert client.map(P + "echo", (w for w in ["a", b"b", bytearray(b"c"), memoryview(b"d"), ""])) == [
        b"a", b"b", b"c", b"d", b""]


def test_map_failures_raise_or_take_their_place(client: Client) -> None:
    workloads = ["ok-1", "exc-2", "fail-3", "ok-4", "fail-5"]
    with pytest.raises(WorkException) as info:  # the first failure in order, once all ended
        client.map(P + "some", workloads)
    assert info.value.exception == b"boom"
    results = client.map(P + "some", workloads, return_exceptions=True)
    assert results[0] == b"1-ko" and results[3] == b"4-ko"
    assert type(results[2]) is WorkFail and type(results[4]) is WorkFail
    assert results[2].code == gearman_xs.GEARMAN_WORK_FAIL
    assert type(results[1]) is WorkException and results[1].exception == b"boom"
    assert client.do(P + "echo", "after") == b"after"  # the Client is free again


def test_map_is_pipelined(client: Client, server: Gearmand) -> None:
    # Every job is in gearmand before the first result is waited for: with two workers sleeping,
    # gearmand's status shows all 12 queued (running ones included) at one moment.
    seen: List[int] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            seen.append(function_status(server).get(P + "sleep", (0, 0, 0))[0])
            time.sleep(0.01)

    thread = threading.Thread(target=watch)
    thread.start()
    try:
        results = client.map(P + "sleep", ["0.3"] * 12)
    finally:
        done.set()
        thread.join(10)
    assert results == [b"slept"] * 12
    assert max(seen) == 12, seen


def test_as_completed_yields_each_task_once_as_it_finishes(client: Client) -> None:
    # two workers: 0.05 s finishes first, 1.5 s last, whatever order libgearman sends them in
    durations = ["1.5", "0.05", "0.4"]
    started = time.monotonic()
    order: List[Any] = []
    when: List[float] = []
    for index, result in client.as_completed(P + "sleep", durations):
        order.append(index)
        when.append(time.monotonic() - started)
        assert result == b"slept"
    assert sorted(order) == [0, 1, 2]
    assert order[0] == 1 and order[-1] == 0
    assert when[0] < when[-1] - 0.5  # the first was handed out long before the last finished
    results = dict(client.as_completed(P + "some", ["ok", "fail", "exc"]))
    assert results[0] == b"ko"
    assert type(results[1]) is WorkFail
    assert type(results[2]) is WorkException and results[2].exception == b"boom"


def test_duplicate_uniques_run_each_job(client: Client) -> None:
    results = client.map(P + "reverse", ["ab", "cd", "ef"], unique="same-unique")
    assert results == [b"ba", b"dc", b"fe"]
    results = client.map(P + "reverse", ["ab", "cd", "ab"], unique=["u1", "u2", "u1"])
    assert results == [b"ba", b"dc", b"ba"]
    assert client.map(P + "reverse", ["x", "y", "x"], unique="#") == [b"x", b"y", b"x"]
    keyed = client.map(P + "echo", ["k1", "k2"], unique=lambda w: b"key-" + bytes(w, "ascii"))
    assert keyed == [b"k1", b"k2"]
    assert sorted(client.as_completed(P + "echo", ["a", "b", "a"], unique=lambda w: w)) == [
        (0, b"a"), (1, b"b"), (2, b"a")]
    assert client.map(P + "echo", ["n1", "n2"], unique=[None, "given"]) == [b"n1", b"n2"]


def test_background_map_returns_handles(client: Client) -> None:
    handles = client.map(P + "echo", ["b1", "b2", "b3"], background=True,
                         priority=gearman_xs.GEARMAN_JOB_PRIORITY_LOW)
    assert all(isinstance(h, str) and h.startswith("H:") for h in handles)
    assert len(set(handles)) == 3
    wait_until(lambda: not any(client.job_status(h).is_known for h in handles), 10, "background jobs done")
    assert client.map(P + "echo", ["h"], priority=gearman_xs.JobPriority.HIGH) == [b"h"]
    assert client.map(P + "echo", ["h", "l"], priority="low") == [b"h", b"l"]


def test_the_batch_timeout_bounds_the_call(client: Client, server: Gearmand) -> None:
    started = time.monotonic()
    results = client.map(P + "sleep", ["0.05", "3"], timeout=1, return_exceptions=True)
    elapsed = time.monotonic() - started
    assert results[0] == b"slept"
    assert type(results[1]) is GearmanTimeout and "batch's timeout (1.0 s)" in str(results[1])
    assert 0.9 < elapsed < 3.5, elapsed
    assert client.do(P + "echo", "still usable") == b"still usable"
    wait_until(lambda: idle(server), 15, "the abandoned job to end")
    pairs = list(client.as_completed(P + "sleep", ["2", "0.05"], timeout=0.8))
    assert [i for i, _ in pairs] == [1, 0]  # the unfinished one comes last
    assert pairs[0][1] == b"slept" and type(pairs[1][1]) is GearmanTimeout
    wait_until(lambda: idle(server), 15, "the abandoned job to end")
    with pytest.raises(GearmanTimeout):
        client.map(P + "sleep", ["0.05", "2"], timeout=0.5)


def test_the_clients_own_timeout_applies(server: Gearmand) -> None:
    with Client() as c:
        c.add_servers(server.servers)
        c.set_timeout(500)  # ms without progress
        with pytest.raises(GearmanTimeout, match="no progress within 500 ms"):
            c.map(P + "sleep", ["2"])
        assert c.map(P + "echo", ["ok"]) == [b"ok"]  # (the other worker is free)


def test_leaving_as_completed_early_frees_the_client(client: Client) -> None:
    it = client.as_completed(P + "sleep", ["1", "0.05", "1"])  # two workers: 1 ends first
    assert next(it) == (1, b"slept")
    with pytest.raises(GearmanError) as info:
        client.add_task(P + "echo", "x")
    assert info.value.code == gearman_xs.GEARMAN_IN_PROGRESS
    with pytest.raises(GearmanError):
        client.run_tasks()
    with pytest.raises(GearmanError):
        client.map(P + "echo", ["x"])
    it.close()  # abandons the two unfinished jobs
    assert client.do(P + "echo", "free") == b"free"
    task = client.add_task(P + "echo", "task")
    client.run_tasks()
    assert task.result() == b"task"
    for index, _ in client.as_completed(P + "sleep", ["0.05", "1"]):
        assert index == 0
        break  # leaving the loop drops the iterator: the Client is free at once (CPython)
    assert client.map(P + "echo", ["z"]) == [b"z"]
    never = client.as_completed(P + "echo", ["x"])  # never started: holds nothing
    assert client.map(P + "echo", ["y"]) == [b"y"]
    del never


def test_map_needs_a_client_without_added_tasks(client: Client) -> None:
    task = client.add_task(P + "echo", "pending")
    with pytest.raises(GearmanError, match="without added tasks") as info:
        client.map(P + "echo", ["x"])
    assert info.value.code == gearman_xs.GEARMAN_IN_PROGRESS
    client.run_tasks()
    assert task.result() == b"pending"


def test_callbacks_do_not_fire_for_batch_tasks(client: Client) -> None:
    calls: List[Task] = []
    for kind in ("created", "data", "warning", "status", "complete", "fail", "exception"):
        getattr(client, f"set_{kind}_fn")(calls.append)
    assert client.map(P + "chunks", ["x", "y"]) == [b"ABC", b"ABC"]
    assert list(client.as_completed(P + "chunks", ["x"])) == [(0, b"ABC")]
    assert calls == []
    task = client.add_task(P + "echo", "x")
    client.run_tasks()
    assert calls.count(task) == 2  # created, complete


def test_bad_arguments_raise_before_anything_is_sent() -> None:
    with Client() as c:  # no server: a connection would fail, a bad argument raises first
        with pytest.raises(TypeError):
            c.map("f", ["ok", 42])
        with pytest.raises(TypeError):
            c.map("f", "a single string")
        with pytest.raises(ValueError):
            c.map("f", ["a", "b"], unique=["only one"])
        with pytest.raises(ValueError):
            c.map("f", ["a"], unique="")
        with pytest.raises(ValueError):
            c.map("f", ["a"], timeout=0)
        with pytest.raises(TypeError):
            c.map("f", ["a"], timeout="1")
        with pytest.raises(ValueError):
            c.map("f", ["a"], priority=3)
        with pytest.raises(TypeError):
            c.map("f", ["a"], background=1)  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            c.map("", ["a"])
        with pytest.raises(ValueError):
            c.map("f", ["a"], priority="urgent")
        results = c.map("f", ["a", "b"], return_exceptions=True)  # no server: every slot says so
        assert [type(r) for r in results] == [GearmanConnectionError] * 2
        assert results[0].code == gearman_xs.GEARMAN_NO_SERVERS


def test_no_server_reachable_fills_every_slot() -> None:
    with Client() as c:
        c.add_server("127.0.0.1", free_port())
        results = c.map("f", ["a", "b", "c"], return_exceptions=True)
        assert [type(r) for r in results] == [GearmanConnectionError] * 3
        assert all(r.code == gearman_xs.GEARMAN_COULD_NOT_CONNECT for r in results)
        [(index, error)] = list(c.as_completed("f", ["a"]))
        assert index == 0 and error.code == gearman_xs.GEARMAN_COULD_NOT_CONNECT
        with pytest.raises(GearmanConnectionError):
            c.map("f", ["a"])


def test_non_blocking_client(client: Client) -> None:
    client.add_options(gearman_xs.GEARMAN_CLIENT_NON_BLOCKING)
    assert client.map(P + "reverse", ["abc", "de"]) == [b"cba", b"ed"]
    assert list(client.as_completed(P + "echo", ["z"])) == [(0, b"z")]


def test_ctrl_c_abandons_the_batch_and_propagates(client: Client, server: Gearmand) -> None:
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    started = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            client.map(P + "sleep", ["2", "2"])
    finally:
        timer.cancel()
    assert time.monotonic() - started < 1.9
    wait_until(lambda: idle(server), 15, "the abandoned jobs to end")
    assert client.do(P + "echo", "after ctrl-c") == b"after ctrl-c"


def test_preferred_server_killed_mid_batch_nothing_lost_nothing_twice(tmp_path: Path) -> None:
    total = 40
    with TaggedWorkers(tmp_path) as workers, Gearmand() as a, Gearmand() as b:
        workers.start("A", a)
        workers.start("B", b)
        with Client() as c:
            c.add_servers(f"{a.servers},{b.servers}")
            c.set_timeout(10000)

            def kill_a() -> None:
                wait_until(lambda: len(workers.runs()) >= 5, 15, "5 jobs run on A")
                a.kill()

            killer = threading.Thread(target=kill_a)
            killer.start()
            try:
                results = c.map("fo_slow", [f"mb-{i}" for i in range(total)], return_exceptions=True)
            finally:
                killer.join(20)
            after = c.map("fo_where", [f"after-{i}" for i in range(5)])
    counts = workers.counts()
    runs = dict((w, t) for t, w in workers.runs())
    assert max(counts.values()) == 1, "a job ran twice"
    errors = [r for r in results if isinstance(r, GearmanError)]
    # jobs A had acknowledged end as the task runner ends them (run_tasks()'s rules): the lost
    # connection, or WORK_FAIL once no server knows the job any more (A died with it)
    assert all(type(e) is GearmanConnectionError or (type(e) is WorkFail and "no longer knows" in e.message)
               for e in errors), errors
    assert len(errors) + sum(1 for r in results if r in (b"A", b"B")) == total  # every slot has an outcome
    assert errors, "A was killed with jobs in flight: they must be reported"
    for i, r in enumerate(results):
        if not isinstance(r, GearmanError):  # returned: ran exactly once, where its result says
            assert counts[f"mb-{i}"] == 1 and runs[f"mb-{i}"] == r.decode()
    assert after == [b"B"] * 5  # the next batch fails over to B


def test_closing_the_client_inside_as_completed(server: Gearmand) -> None:
    c = Client()
    c.add_servers(server.servers)
    c.set_timeout(10000)
    it = c.as_completed(P + "sleep", ["1", "0.05", "1"])
    assert next(it) == (1, b"slept")
    c.close()  # the other two are abandoned with the Client
    with pytest.raises(gearman_xs.ClosedError):
        next(it)
    with pytest.raises(StopIteration):
        next(it)
    assert c.closed and repr(c) == "<gearman_xs.Client closed>"
