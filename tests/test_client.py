"""Client against a real gearmand. Fixtures ``server`` and ``client`` (conftest.py): the worker processes of
tests/support/worker_process.py serve ``support.functions.CLIENT_FUNCTIONS`` as ``P + name``."""

from __future__ import annotations

import threading
import time

import pytest
from support.timing import Stopwatch
from support.workers import worker_processes

import gearman_xs
from gearman_xs import (
    Client,
    ClosedError,
    ConcurrentUseError,
    GearmanConnectionError,
    GearmanError,
    GearmanTimeout,
    WorkException,
    WorkFail,
    compat,
)
from gearman_xs.testing import Gearmand, free_port

P = "cx_"  # the prefix of the worker processes' functions (conftest.py `server`)


# -- do* ------------------------------------------------------------------------------------------


def test_do_round_trips_every_payload_type(client: Client) -> None:
    assert client.do(P + "reverse", "hello") == b"olleh"
    assert client.do(P + "reverse", b"hello") == b"olleh"
    assert client.do(P + "reverse", bytearray(b"abc")) == b"cba"
    assert client.do(P + "reverse", memoryview(b"xyz")) == b"zyx"
    assert client.do(P + "echo", "\u263a") == "\u263a".encode()
    assert client.do_high(P + "echo", b"high") == b"high"
    assert client.do_low(P + "echo", b"low", "my-unique") == b"low"
    assert client.do(function_name=P + "echo", workload=b"kw", unique=None) == b"kw"


def test_empty_workload_and_result_are_bytes(client: Client) -> None:
    assert client.do(P + "echo", b"") == b""
    assert client.do(P + "len", "") == b"0"
    assert isinstance(client.do(P + "echo", b""), bytes)


def test_do_concatenates_data_chunks_and_binary_is_exact(client: Client) -> None:
    assert client.do(P + "chunks", "x") == b"ABC"
    blob = bytes(range(256)) * 64
    assert client.do(P + "echo", blob) == blob
    assert client.do(P + "len", b"\0" * 70000) == b"70000"


def test_do_background_returns_handle(client: Client) -> None:
    handle = client.do_background(P + "sleep", "0.3")
    assert isinstance(handle, str) and handle.startswith("H:")
    assert isinstance(client.do_high_background(P + "echo", "x"), str)
    assert isinstance(client.do_low_background(P + "echo", "x", "bg-unique"), str)
    status = client.job_status(handle)
    assert status.is_known
    assert status == (status.is_known, status.is_running, status.numerator, status.denominator)
    deadline = time.monotonic() + 5
    while client.job_status(handle).is_known:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert client.job_status(handle) == (False, False, 0, 0)


def test_work_fail_and_work_exception(client: Client) -> None:
    with pytest.raises(WorkFail) as fail:
        client.do(P + "fail", "x")
    assert fail.value.code == gearman_xs.GEARMAN_WORK_FAIL
    with pytest.raises(WorkException) as exc:
        client.do(P + "exc", "x")
    assert exc.value.exception == b"boom"
    assert client.error() is not None
    assert client.do(P + "echo", "still works") == b"still works"


def _work_exception_without_the_option_fails(server: Gearmand, idle_check: bool) -> None:
    with Client() as c:
        c.add_servers(server.servers)
        c.remove_options(gearman_xs.GEARMAN_CLIENT_EXCEPTION)
        start = time.monotonic()
        with pytest.raises(WorkFail) as exc:
            c.do(P + "exc", "x")
        assert time.monotonic() - start < 6
        if compat.LIBRARY_VERSION < compat.WORK_FAIL_MATCHING_FIXED:
            assert "no longer knows" in str(exc.value)  # the idle check ended it
        else:
            assert "no longer knows" not in str(exc.value)  # libgearman's own WORK_FAIL
            assert time.monotonic() - start < (6 if idle_check else 1)
        task = c.add_task(P + "exc", "y")
        failed = []
        c.set_fail_fn(failed.append)
        c.run_tasks()
        assert failed == [task] and task.returncode() == gearman_xs.GEARMAN_WORK_FAIL
        assert c.do(P + "echo", "ok") == b"ok"


def test_work_exception_without_the_exceptions_option_does_not_hang(server: Gearmand) -> None:
    # libgearman < 2.0.0 drops the WORK_FAIL the server makes of a WORK_EXCEPTION: the idle check
    # must end the job instead of hanging. 2.0.0 delivers it, and the idle check is off there.
    assert compat.WORKAROUNDS["lost-work-fail"] == (
        compat.LIBRARY_VERSION < compat.WORK_FAIL_MATCHING_FIXED
    )
    _work_exception_without_the_option_fails(server, compat.WORKAROUNDS["lost-work-fail"])


def test_idle_check_does_no_harm_where_libgearman_delivers_work_fail(
    server: Gearmand, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Forced on where it is not needed, the idle check must not turn a job into a lost one: the job
    # still fails with libgearman's own WORK_FAIL (or, on 1.1.x, is found lost as before).
    monkeypatch.setitem(compat.WORKAROUNDS, "lost-work-fail", True)
    _work_exception_without_the_option_fails(server, True)
    with Client() as c:
        c.add_servers(server.servers)
        assert c.do(P + "sleep", "2.5") == b"slept"  # idle checks at 1 s and 2 s find it running


def test_exceptions_server_option_with_one_server_down(server: Gearmand) -> None:
    # The dead first server is skipped; the "exceptions" option is negotiated with the server in
    # use (libgearman's own OPTION_REQ goes to every server and fails when one is down).
    with Client() as c:
        c.add_server("127.0.0.1", free_port())
        c.add_servers(server.servers)
        c.set_timeout(10000)
        assert c.do(P + "echo", "x") == b"x"
        with pytest.raises(WorkException) as exc:
            c.do(P + "exc", "x")
        assert exc.value.exception == b"boom"
        assert c.do(P + "echo", "y") == b"y"


# -- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize("workload", [None, 1, 1.5, ["x"], object()])
def test_bad_workload_type(client: Client, workload: object) -> None:
    with pytest.raises(TypeError):
        client.do(P + "echo", workload)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        client.add_task(P + "echo", workload)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        client.do_background(P + "echo", workload)  # type: ignore[arg-type]


def test_bad_names(client: Client) -> None:
    for bad in ("u" * 64, "a\0b", ""):
        with pytest.raises(ValueError):
            client.do(P + "echo", "x", bad)
        with pytest.raises(ValueError):
            client.add_task(P + "echo", "x", bad)
    assert client.do(P + "echo", "x", "u" * 63) == b"x"
    for bad in ("f" * 513, "a\0b", ""):
        with pytest.raises(ValueError):
            client.do(bad, "x")
        with pytest.raises(ValueError):
            client.add_task_background(bad, "x")
    with pytest.raises(TypeError):
        client.do(None, "x")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        client.job_status(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        client.job_status("")
    with pytest.raises(ValueError):
        client.job_status("H:" + "x" * 70)
    assert client.job_status("H:nosuch:1") == (False, False, 0, 0)
    with pytest.raises(ValueError):
        client.set_timeout(0)
    with pytest.raises(ValueError):
        client.set_timeout(-2)
    with pytest.raises(TypeError):
        client.set_timeout("1")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        client.set_complete_fn(42)  # type: ignore[arg-type]


def test_fresh_and_closed_client() -> None:
    c = Client()
    assert c.error() is None
    assert c.timeout() == -1
    assert c.options() == (
        gearman_xs.GEARMAN_CLIENT_ALLOCATED
        | gearman_xs.GEARMAN_CLIENT_FREE_TASKS
        | gearman_xs.GEARMAN_CLIENT_EXCEPTION
    )
    with pytest.raises(GearmanConnectionError):
        c.do("f", "x")
    with pytest.raises(GearmanConnectionError):
        c.job_status("H:x:1")
    with pytest.raises(GearmanConnectionError):
        c.echo("x")
    assert c.error() is not None
    c.run_tasks()  # nothing to run
    c.close()
    c.close()
    calls = [
        lambda: c.do("f", "x"),
        lambda: c.do_background("f", "x"),
        lambda: c.add_task("f", "x"),
        lambda: c.add_task_status("H:x:1"),
        c.run_tasks,
        lambda: c.job_status("H:x:1"),
        lambda: c.job_status_by_unique("u"),
        lambda: c.echo("x"),
        lambda: c.add_server("localhost"),
        lambda: c.add_servers("localhost"),
        c.remove_servers,
        c.options,
        lambda: c.set_timeout(5),
        lambda: c.set_complete_fn(None),
        c.clear_fn,
        c.wait,
    ]
    for call in calls:
        with pytest.raises(ClosedError):
            call()


def test_unresolvable_server() -> None:
    with Client() as c:
        with pytest.raises(GearmanConnectionError) as err:
            c.add_server("no-such-host.invalid")
        assert err.value.code == gearman_xs.GEARMAN_GETADDRINFO


def test_options_and_settings(client: Client) -> None:
    client.add_options(gearman_xs.GEARMAN_CLIENT_GENERATE_UNIQUE)
    assert client.options() & gearman_xs.GEARMAN_CLIENT_GENERATE_UNIQUE
    client.remove_options(gearman_xs.GEARMAN_CLIENT_GENERATE_UNIQUE)
    assert not client.options() & gearman_xs.GEARMAN_CLIENT_GENERATE_UNIQUE
    client.set_timeout(2500)
    assert client.timeout() == 2500
    client.set_identifier("client-test")
    with pytest.raises(ValueError):
        client.set_identifier("")
    client.echo(b"ping")
    client.echo("ping")
    with pytest.raises(GearmanError):
        client.set_server_option("no-such-option")
    client.set_server_option("exceptions")
    assert client.do(P + "echo", "after options") == b"after options"
    assert client.do_status() == (0, 0)


def test_namespace(server: Gearmand) -> None:
    with Client() as c:
        c.add_servers(server.servers)
        c.set_namespace("cx_")  # the worker's functions are cx_*: "echo" reaches cx_echo
        assert c.do("echo", "ns") == b"ns"


def test_echo_with_a_dead_server(server: Gearmand) -> None:
    # echo() goes to the first available server in the order given, like jobs
    dead = f"127.0.0.1:{free_port()}"
    for servers in (f"{server.servers},{dead}", f"{dead},{server.servers}"):
        with Client() as c:
            c.add_servers(servers)
            c.echo("x")
    with Client() as c:
        c.add_servers(f"{dead},127.0.0.1:{free_port()}")
        with pytest.raises(GearmanConnectionError):
            c.echo("x")


def test_remove_servers(client: Client) -> None:
    client.remove_servers()
    with pytest.raises(GearmanConnectionError):
        client.do(P + "echo", "x")


# -- timeouts, interruption, threads -----------------------------------------------------------------


def test_timeout_abandons_the_job_and_client_stays_usable(client: Client) -> None:
    client.set_timeout(300)
    with Stopwatch() as sw, pytest.raises(GearmanTimeout):
        client.do(P + "sleep", "1.5")
    sw.assert_between(0.28, 1.0)  # the upper bound stretches by the machine's measured delay
    client.set_timeout(10000)
    assert client.do(P + "echo", "next") == b"next"


def test_timeout_counts_time_without_progress(client: Client) -> None:
    client.set_timeout(400)
    # the job runs 0.6 s in total but sends nothing for 0.6 s -> timeout; echo is fast -> no timeout
    assert client.do(P + "echo", "fast") == b"fast"
    with pytest.raises(GearmanTimeout):
        client.do(P + "sleep", "0.8")


def test_ctrl_c_interrupts_do_within_a_second(client: Client) -> None:
    import os
    import signal

    client.set_timeout(-1)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    with Stopwatch() as sw, pytest.raises(KeyboardInterrupt):
        client.do(P + "sleep", "3")
    sw.assert_between(0.28, 1.3)  # SIGINT at 0.3 s, KeyboardInterrupt within a second
    timer.join()
    assert client.do(P + "echo", "usable") == b"usable"


def test_ctrl_c_interrupts_run_tasks_and_resume_finishes(client: Client) -> None:
    import os
    import signal

    done = []
    client.set_complete_fn(lambda t: done.append(t.data()))
    client.add_task(P + "sleep", "1")
    timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    with Stopwatch() as sw, pytest.raises(KeyboardInterrupt):
        client.run_tasks()
    sw.assert_between(0.18, 1.0)  # SIGINT at 0.2 s, long before the 1 s job ends
    timer.join()
    client.run_tasks()
    assert done == [b"slept"]


def test_one_client_two_threads_raises(client: Client) -> None:
    errors = []

    def other() -> None:
        try:
            client.do(P + "echo", "x")
        except ConcurrentUseError as e:
            errors.append(e)

    t = threading.Thread(target=lambda: (time.sleep(0.1), other()))
    t.start()
    assert client.do(P + "sleep", "0.5") == b"slept"
    t.join()
    assert len(errors) == 1


def test_separate_clients_run_in_parallel(gearmand: Gearmand) -> None:
    results = []

    def run() -> None:
        with Client() as c:
            c.add_servers(gearmand.servers)
            results.append(c.do(P + "sleep", "1.0"))

    with worker_processes(gearmand, P, count=2):
        threads = [threading.Thread(target=run) for _ in range(2)]
        with Stopwatch() as sw:
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        assert results == [b"slept", b"slept"]
        sw.assert_between(1.0, 1.8)  # side by side: two 1 s jobs one after the other take 2 s


# -- status -------------------------------------------------------------------------------------------


def test_job_status_by_unique_does_not_break_do(client: Client) -> None:
    client.do_background(P + "sleep", "0.5", "status-unique-1")
    status = client.job_status_by_unique("status-unique-1")
    assert status.is_known
    assert client.job_status_by_unique("never-submitted") == (False, False, 0, 0)
    assert client.do(P + "echo", "after unique status") == b"after unique status"


def test_cancel_job_unknown_handle(client: Client) -> None:
    with pytest.raises(GearmanError):
        client.cancel_job("H:nosuch:12345")


# -- several servers --------------------------------------------------------------------------------


def test_jobs_keep_flowing_when_a_server_dies_between_jobs(server: Gearmand) -> None:
    with Gearmand() as other, worker_processes(other, P):
        for order in ((server, other), (other, server)):
            with Client() as c:
                c.add_servers(",".join(s.servers for s in order))
                c.set_timeout(10000)
                assert c.do(P + "echo", "1") == b"1"
                other.kill()
                # the first submission after the death fails inside libgearman before the job is
                # created; the Client resubmits it on the surviving server
                assert c.do(P + "echo", "2") == b"2"
                assert c.do(P + "reverse", "ab") == b"ba"
                assert isinstance(c.do_background(P + "echo", "bg"), str)
                t1, t2 = c.add_task(P + "echo", "t1"), c.add_task(P + "echo", "t2")
                c.run_tasks()
                assert (t1.data(), t2.data()) == (b"t1", b"t2")
                other.start()


def test_a_server_down_from_the_start(server: Gearmand) -> None:
    dead = f"127.0.0.1:{free_port()}"
    for servers in (f"{dead},{server.servers}", f"{server.servers},{dead}"):
        with Client() as c:
            c.add_servers(servers)
            c.set_timeout(10000)
            for i in range(3):
                assert c.do(P + "echo", str(i)) == str(i).encode()
            task = c.add_task(P + "echo", "task")
            c.run_tasks()
            assert task.data() == b"task"


def test_all_servers_down_raises() -> None:
    with Client() as c:
        c.add_servers(f"127.0.0.1:{free_port()},127.0.0.1:{free_port()}")
        c.set_timeout(3000)
        start = time.monotonic()
        with pytest.raises(GearmanConnectionError):
            c.do("f", "x")
        with pytest.raises(GearmanConnectionError):
            c.do_background("f", "x")
        c.add_task("f", "x")
        with pytest.raises(GearmanConnectionError):
            c.run_tasks()
        assert time.monotonic() - start < 10


# -- SUBMIT_JOB_EPOCH -------------------------------------------------------------------------------


def test_do_background_at_runs_the_job_at_that_time(gearmand: Gearmand) -> None:
    with worker_processes(gearmand, P), Client() as c:
        c.add_servers(gearmand.servers)
        when = int(time.time()) + 2
        handle = c.do_background_at(when, P + "sleep", "0")
        assert handle.startswith("H:")
        time.sleep(0.3)
        assert c.job_status(handle).is_known and not c.job_status(handle).is_running
        deadline = time.monotonic() + 5
        while c.job_status(handle).is_known:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert time.time() >= when - 0.05
        past = c.do_background_at(time.time() - 10, P + "echo", "now", "epoch-unique")
        assert past.startswith("H:")
        with pytest.raises(TypeError):
            c.do_background_at("soon", P + "echo", "x")  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            c.do_background_at(-1, P + "echo", "x")
