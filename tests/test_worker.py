"""Worker: the Gearman::XS::Worker API against a real gearmand."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import threading
import time
from typing import Any, Callable, List

import pytest
from support import protocol
from support.fake_server import FakeServer
from support.protocol import WORK_COMPLETE, WORK_EXCEPTION, WORK_FAIL, RawClient, do
from support.timing import Stopwatch
from support.workers import WorkerThread

import gearman_xs
from gearman_xs import (
    GEARMAN_NO_REGISTERED_FUNCTION,
    GEARMAN_NO_REGISTERED_FUNCTIONS,
    GEARMAN_VERBOSE_ERROR,
    GEARMAN_VERBOSE_FATAL,
    GEARMAN_VERBOSE_INFO,
    GEARMAN_WORKER_GRAB_ALL,
    GEARMAN_WORKER_NON_BLOCKING,
    GEARMAN_WORKER_TIMEOUT_RETURN,
    GEARMAN_WORKER_WAIT_TIMEOUT,
    ClosedError,
    ConcurrentUseError,
    GearmanConnectionError,
    GearmanError,
    GearmanTimeout,
)
from gearman_xs.job import Job
from gearman_xs.testing import Gearmand, free_port
from gearman_xs.worker import ECHO_TIMEOUT_MS, SLICE_MS, Worker


def _worker(server: Gearmand, **kw: Any) -> Worker:
    w = Worker(**kw)
    w.add_server("127.0.0.1", server.port)
    return w


def test_importable_from_package() -> None:
    assert gearman_xs.Worker is Worker and gearman_xs.Job is Job


def test_fresh_worker_options_and_timeout() -> None:
    with Worker() as w:
        assert w.options() == 645  # ALLOCATED|PACKET_INIT|GRAB_UNIQ|GRAB_ALL, as Gearman::XS sees it
        assert w.timeout() == -1
        w.set_timeout(300)
        assert w.timeout() == 300 and w.options() & GEARMAN_WORKER_TIMEOUT_RETURN
        w.remove_options(GEARMAN_WORKER_TIMEOUT_RETURN)
        assert w.timeout() == GEARMAN_WORKER_WAIT_TIMEOUT
        assert not w.options() & GEARMAN_WORKER_TIMEOUT_RETURN
        w.set_options(GEARMAN_WORKER_NON_BLOCKING)  # Gearman::XS 03-basic: 645 -> 7
        assert w.options() == 7
        w.add_options(GEARMAN_WORKER_GRAB_ALL)
        assert w.options() & GEARMAN_WORKER_GRAB_ALL
        w.remove_options(GEARMAN_WORKER_NON_BLOCKING)
        assert not w.options() & GEARMAN_WORKER_NON_BLOCKING
        with pytest.raises(ValueError):
            w.set_timeout(-2)
        with pytest.raises(TypeError):
            w.set_options("1")


def test_argument_checks() -> None:
    with Worker() as w:
        with pytest.raises(TypeError):
            w.add_server("127.0.0.1", 4730.0)
        with pytest.raises(ValueError):
            w.add_server("127.0.0.1", "47x0")  # a string of digits is a port (tests/test_porting.py)
        with pytest.raises(ValueError):
            w.add_server("127.0.0.1", 70000)
        with pytest.raises(TypeError):
            w.add_function("f", 0, "not callable")
        with pytest.raises(ValueError):
            w.add_function("", 0, lambda job: None)
        with pytest.raises(ValueError):
            w.add_function("f", -1, lambda job: None)
        with pytest.raises(ValueError):
            w.set_identifier("has space")
        with pytest.raises(ValueError):
            w.echo(b"")
        with pytest.raises(TypeError):
            w.set_log_fn(42, 1)
        with pytest.raises(TypeError):
            w.run("3")


def test_register_unregister_function_exists(shared_gearmand: Gearmand) -> None:
    with _worker(shared_gearmand) as w:
        assert not w.function_exists("wreg_a")
        w.register("wreg_a")
        w.register("wreg_b", 10)
        w.add_function("wreg_c", 0, lambda job: None)
        assert w.function_exists("wreg_a") and w.function_exists(b"wreg_c")
        w.unregister("wreg_a")
        assert not w.function_exists("wreg_a")
        with pytest.raises(GearmanError) as e:
            w.unregister("wreg_a")
        assert e.value.code == GEARMAN_NO_REGISTERED_FUNCTION
        w.unregister_all()
        assert not w.function_exists("wreg_b") and not w.function_exists("wreg_c")
        with pytest.raises(GearmanError) as e:
            w.unregister_all()
        assert e.value.code == GEARMAN_NO_REGISTERED_FUNCTIONS


def test_work_without_functions_raises(shared_gearmand: Gearmand) -> None:
    with _worker(shared_gearmand) as w:
        with pytest.raises(GearmanError) as e:
            w.work()
        assert e.value.code == GEARMAN_NO_REGISTERED_FUNCTIONS


def test_echo_and_error(shared_gearmand: Gearmand) -> None:
    with _worker(shared_gearmand) as w:
        w.echo(b"ping")
        w.echo("ping")
    with Worker() as w:
        w.add_server("127.0.0.1", free_port())
        with pytest.raises(GearmanConnectionError):
            w.echo(b"ping")
        assert w.error()


def test_return_types(shared_gearmand: Gearmand) -> None:
    results = {
        "wrt_bytes": b"b\0b", "wrt_str": "\u263a", "wrt_bytearray": bytearray(b"ba"),
        "wrt_memoryview": memoryview(b"xmvx")[1:3], "wrt_none": None, "wrt_empty": b"",
        "wrt_strided": memoryview(b"a-b-c")[::2],
    }
    expected = {
        "wrt_bytes": b"b\0b", "wrt_str": "\u263a".encode(), "wrt_bytearray": b"ba",
        "wrt_memoryview": b"mv", "wrt_none": b"", "wrt_empty": b"", "wrt_strided": b"abc",
    }
    with _worker(shared_gearmand) as w:
        for name, value in results.items():
            w.add_function(name, 0, lambda job, v=value: v)
        with WorkerThread(w):
            for name in results:
                assert do(shared_gearmand.port, name.encode(), b"x") == (WORK_COMPLETE, expected[name])


def test_context_argument(shared_gearmand: Gearmand) -> None:
    ctx = {"n": 0}

    def fn(job: Job, context: Any) -> str:
        context["n"] += 1
        return f"{job.function_name()}:{context['n']}"

    with _worker(shared_gearmand) as w:
        w.add_function("wctx", 0, fn, ctx)
        w.add_function("wctx_str", 0, lambda job, c: c, "context-string")
        with WorkerThread(w):
            assert do(shared_gearmand.port, b"wctx", b"x") == (WORK_COMPLETE, b"wctx:1")
            assert do(shared_gearmand.port, b"wctx", b"x") == (WORK_COMPLETE, b"wctx:2")
            assert do(shared_gearmand.port, b"wctx_str", b"x") == (WORK_COMPLETE, b"context-string")


def test_add_function_again_replaces(shared_gearmand: Gearmand) -> None:
    with _worker(shared_gearmand) as w:
        w.add_function("wrepl", 0, lambda job: b"one")
        w.add_function("wrepl", 0, lambda job: b"two")
        with WorkerThread(w):
            assert do(shared_gearmand.port, b"wrepl", b"x") == (WORK_COMPLETE, b"two")


def test_bad_jobs_leave_the_worker_alive(shared_gearmand: Gearmand, caplog: Any) -> None:
    big = bytes(range(256)) * (8 * 4096)  # 8 MiB

    def boom(job: Job) -> bytes:
        raise ValueError("no good")

    with _worker(shared_gearmand) as w:
        w.add_function("wbad_raise", 0, boom)
        w.add_function("wbad_type", 0, lambda job: 42j)  # an int or float is sent as text
        w.add_function("wbad_list", 0, lambda job: [b"x"])
        w.add_function("wbad_big", 0, lambda job: big)
        w.add_function("wbad_echo", 0, lambda job: job.workload())
        port = shared_gearmand.port
        with caplog.at_level(logging.ERROR, logger="gearman_xs"), WorkerThread(w) as t:
            assert do(port, b"wbad_raise", b"x") == (WORK_FAIL, b"")
            assert do(port, b"wbad_type", b"x") == (WORK_FAIL, b"")
            assert do(port, b"wbad_list", b"x") == (WORK_FAIL, b"")
            assert do(port, b"wbad_echo", b"") == (WORK_COMPLETE, b"")
            every_byte = bytes(range(256)) * 3
            assert do(port, b"wbad_echo", every_byte) == (WORK_COMPLETE, every_byte)
            assert do(port, b"wbad_big", b"x") == (WORK_COMPLETE, big)
            assert do(port, b"wbad_raise", b"x") == (WORK_FAIL, b"")
            assert do(port, b"wbad_echo", b"alive") == (WORK_COMPLETE, b"alive")
        assert t.join() == 8
    text = caplog.text
    assert "ValueError: no good" in text and "Traceback" in text
    assert "returned complex" in text and "returned list" in text


def test_send_exceptions_opt_in(gearmand_exceptions: Gearmand) -> None:
    def boom(job: Job) -> bytes:
        raise KeyError("missing")

    with _worker(gearmand_exceptions, send_exceptions=True) as w:
        w.add_function("wexc", 0, boom)
        with WorkerThread(w), RawClient(gearmand_exceptions.port) as c:
            c.option(b"exceptions")
            assert c.do(b"wexc", b"x") == (WORK_EXCEPTION, b"KeyError: 'missing'")


def test_default_is_work_fail_even_with_exceptions_server(gearmand_exceptions: Gearmand) -> None:
    with _worker(gearmand_exceptions) as w:
        w.add_function("wexc2", 0, lambda job: 1 / 0)
        with WorkerThread(w), RawClient(gearmand_exceptions.port) as c:
            c.option(b"exceptions")
            assert c.do(b"wexc2", b"x") == (WORK_FAIL, b"")


def test_no_requeue_storm_after_failures(gearmand: Gearmand) -> None:
    """A failed job is answered with WORK_FAIL once: the server does not requeue it."""
    calls: List[int] = []

    def boom(job: Job) -> bytes:
        calls.append(1)
        raise RuntimeError("x")

    with _worker(gearmand) as w:
        w.add_function("wstorm", 0, boom)
        with WorkerThread(w):
            assert do(gearmand.port, b"wstorm", b"x") == (WORK_FAIL, b"")
            time.sleep(0.3)
        assert calls == [1]
    assert "wstorm\t0\t0" in gearmand.admin("status")


def test_keyboard_interrupt_in_function(shared_gearmand: Gearmand) -> None:
    def interrupted(job: Job) -> bytes:
        raise KeyboardInterrupt

    with _worker(shared_gearmand) as w, RawClient(shared_gearmand.port) as c:
        w.add_function("wkbd", 0, interrupted)
        w.add_function("wkbd_ok", 0, lambda job: b"fine")
        w.set_timeout(5000)
        c.submit(b"wkbd", b"x")
        with pytest.raises(KeyboardInterrupt):
            w.work()
        assert c.result()[0] == WORK_FAIL  # the job was failed, not left hanging
        c.submit(b"wkbd_ok", b"x")
        assert w.work() is True
        assert c.result()[:2] == (WORK_COMPLETE, b"fine")


def test_system_exit_in_function(shared_gearmand: Gearmand) -> None:
    with _worker(shared_gearmand) as w, RawClient(shared_gearmand.port) as c:
        w.add_function("wexit", 0, lambda job: exit(3))
        w.set_timeout(5000)
        c.submit(b"wexit", b"x")
        with pytest.raises(SystemExit):
            w.work()
        assert c.result()[0] == WORK_FAIL


def test_worker_methods_inside_function_are_refused(shared_gearmand: Gearmand) -> None:
    errors: List[BaseException] = []

    with _worker(shared_gearmand) as w, RawClient(shared_gearmand.port) as c:

        def nested(job: Job) -> bytes:
            try:
                w.echo(b"x")
            except RuntimeError as exc:
                errors.append(exc)
            return b"ok"

        w.add_function("wnest", 0, nested)
        w.set_timeout(5000)
        c.submit(b"wnest", b"x")
        w.work()
        assert c.result()[:2] == (WORK_COMPLETE, b"ok")
    assert len(errors) == 1


def test_close_inside_function_is_deferred(shared_gearmand: Gearmand) -> None:
    w = _worker(shared_gearmand)

    def closer(job: Job) -> bytes:
        w.close()
        return b"closed later"

    w.add_function("wclose", 0, closer)
    w.set_timeout(5000)
    with RawClient(shared_gearmand.port) as c:
        c.submit(b"wclose", b"x")
        assert w.work() is True
        assert c.result()[:2] == (WORK_COMPLETE, b"closed later")
    assert w.closed
    with pytest.raises(ClosedError):
        w.work()


def test_timeout(shared_gearmand: Gearmand) -> None:
    with _worker(shared_gearmand) as w:
        w.add_function("wtimeout", 0, lambda job: None)
        w.set_timeout(300)
        with Stopwatch() as sw, pytest.raises(GearmanTimeout):
            w.work()
        sw.assert_between(0.28, 1.0)  # the upper bound stretches by the machine's measured delay
        w.set_timeout(0)
        with Stopwatch() as sw, pytest.raises(GearmanTimeout):
            w.work()
        sw.assert_under(0.5)
        w.set_timeout(700)  # longer than one internal slice
        with Stopwatch() as sw, pytest.raises(GearmanTimeout):
            w.work()
        sw.assert_between(0.68, 1.5)


def test_stop_from_another_thread(shared_gearmand: Gearmand) -> None:
    with _worker(shared_gearmand) as w:
        w.add_function("wstop", 0, lambda job: None)
        threading.Timer(0.3, w.stop).start()
        with Stopwatch() as sw:
            assert w.work() is False  # no timeout set: blocked until stop()
        sw.assert_between(0.28, 1.3)  # the upper bound stretches by the machine's measured delay
        w.stop()  # before the call: the next work() returns at once
        with Stopwatch() as sw:
            assert w.work() is False
        sw.assert_under(0.1)


def test_run_count_and_stop(shared_gearmand: Gearmand) -> None:
    with _worker(shared_gearmand) as w:
        w.add_function("wrun", 0, lambda job: job.workload().upper())
        with WorkerThread(w, count=3) as t:
            for i in range(3):
                assert do(shared_gearmand.port, b"wrun", b"a%d" % i) == (WORK_COMPLETE, b"A%d" % i)
            assert t.join() == 3
        with WorkerThread(w) as t:
            time.sleep(0.2)
            with Stopwatch() as sw:
                w.stop()
                assert t.join() == 0
            sw.assert_under(1.0)
        assert w.run(0) == 0


def test_concurrent_use_is_refused_but_stop_works(shared_gearmand: Gearmand) -> None:
    with _worker(shared_gearmand) as w:
        w.add_function("wconc", 0, lambda job: None)
        with WorkerThread(w) as t:
            time.sleep(0.2)
            with pytest.raises(ConcurrentUseError):
                w.echo(b"x")
            with pytest.raises(ConcurrentUseError):
                w.work()
            w.stop()
            t.join()


def test_log_fn_and_internal_timeouts_filtered(shared_gearmand: Gearmand) -> None:
    lines: List[Any] = []
    with Worker() as w:
        w.set_log_fn(lambda line, level: lines.append((line, level)), GEARMAN_VERBOSE_INFO)
        w.add_server("127.0.0.1", shared_gearmand.port)
        w.add_function("wlog", 0, lambda job: None)
        w.set_timeout(500)  # three internal slices, one user timeout: one line about it
        with pytest.raises(GearmanTimeout):
            w.work()
        timeouts = [(line, level) for line, level in lines if "GEARMAN_TIMEOUT" in line]
        assert len(timeouts) == 1 and timeouts[0][1] == GEARMAN_VERBOSE_ERROR
        w.add_server("127.0.0.1", free_port())  # a dead server produces log lines
        with pytest.raises(GearmanTimeout):
            w.work()
        assert any("COULD_NOT_CONNECT" in line for line, _ in lines)
        assert all(isinstance(level, int) and 1 <= level <= GEARMAN_VERBOSE_INFO for _, level in lines)
        w.set_log_fn(None, 0)
        n = len(lines)
        with pytest.raises(GearmanTimeout):
            w.work()
        assert len(lines) == n


def test_work_timeout_logs_one_error_line_as_gearman_xs_t06(shared_gearmand: Gearmand) -> None:
    # Gearman::XS t/06: after set_timeout(), work() returns GEARMAN_TIMEOUT and the log function
    # receives exactly one line at GEARMAN_VERBOSE_ERROR: libgearman's
    # "gearman_wait(GEARMAN_TIMEOUT) timeout reached, 1 servers were poll(), ..." line.
    lines: List[Any] = []

    def new_worker() -> Worker:
        w = Worker()
        w.set_log_fn(lambda line, level: lines.append((line, level)), GEARMAN_VERBOSE_ERROR)
        w.add_server("127.0.0.1", shared_gearmand.port)
        w.add_function("wlog06", 0, lambda job: None)
        return w

    def one_timeout(w: Worker, timeout: int) -> None:
        w.set_timeout(timeout)
        lines.clear()
        with pytest.raises(GearmanTimeout):
            w.work()
        assert len(lines) == 1, (timeout, lines)
        line, level = lines[0]
        assert level == GEARMAN_VERBOSE_ERROR
        assert line.startswith("gearman_wait(GEARMAN_TIMEOUT) timeout reached"), line
        assert "servers were poll()" in line and " -> libgearman/" in line

    # A work() that timed out at 0 ms (mid-connect) leaves libgearman closing that connection on
    # the next call, with an ERROR line of its own: that one gets a Worker to itself.
    with new_worker() as w:
        one_timeout(w, 0)
    w = new_worker()
    for timeout in (50, 450, 450):  # one shortened slice, three slices, again
        one_timeout(w, timeout)
    with w:
        lines.clear()
        w.set_log_fn(lambda line, level: lines.append((line, level)), GEARMAN_VERBOSE_FATAL)
        with pytest.raises(GearmanTimeout):  # below ERROR: nothing
            w.work()
        assert lines == []
        w.set_log_fn(lambda line, level: lines.append((line, level)), GEARMAN_VERBOSE_INFO)
        w.add_options(gearman_xs.GEARMAN_WORKER_NON_BLOCKING)
        w.set_timeout(100)
        with pytest.raises(GearmanTimeout):  # wait() after the user's timeout: the same line
            w.wait()
        assert [level for line, level in lines if "GEARMAN_TIMEOUT" in line] == [GEARMAN_VERBOSE_ERROR]


def test_log_to_logging(caplog: Any) -> None:
    with Worker() as w, caplog.at_level(logging.DEBUG, logger="gearman_xs.libgearman"):
        w.log_to_logging()
        w.add_server("127.0.0.1", free_port())
        w.add_function("wlogging", 0, lambda job: None)
        with pytest.raises(GearmanConnectionError):
            w.work()
    recs = [r for r in caplog.records if r.name == "gearman_xs.libgearman"]
    assert recs and all(r.levelno == logging.ERROR for r in recs)
    assert any("COULD_NOT_CONNECT" in r.getMessage() for r in recs)


def test_log_fn_exception_is_raised_by_the_call() -> None:
    def bad_log(line: str, level: int) -> None:
        raise LookupError("from the log fn")

    with Worker() as w:
        w.set_log_fn(bad_log, GEARMAN_VERBOSE_INFO)
        w.add_server("127.0.0.1", free_port())
        w.add_function("wlogexc", 0, lambda job: None)
        with pytest.raises(LookupError):
            w.work()


def test_identifier_and_namespace(shared_gearmand: Gearmand) -> None:
    with _worker(shared_gearmand) as w:
        w.set_identifier("wid-42")
        w.set_namespace("wns_")
        assert w.namespace() == "wns_"
        w.add_function("f", 0, lambda job: b"namespaced")
        with WorkerThread(w):
            assert do(shared_gearmand.port, b"wns_f", b"x") == (WORK_COMPLETE, b"namespaced")
            assert "wid-42 : wns_f" in shared_gearmand.admin("workers")
        w.set_namespace(None)
        assert w.namespace() is None


def test_non_blocking_work_and_wait(shared_gearmand: Gearmand) -> None:
    with _worker(shared_gearmand) as w, RawClient(shared_gearmand.port) as c:
        w.add_function("wnb", 0, lambda job: b"nb")
        w.add_options(GEARMAN_WORKER_NON_BLOCKING)
        w.set_timeout(300)
        assert w.work() is False
        t0 = time.monotonic()
        for _ in range(50):
            if w.work():
                break
            with contextlib.suppress(GearmanTimeout):
                w.wait()
            if time.monotonic() - t0 > 0.2 and not c.buf:
                c.submit(b"wnb", b"x")
                c.buf = b"x"  # marker: submitted once
        c.buf = b""
        assert c.result()[:2] == (WORK_COMPLETE, b"nb")


def test_closed_worker_raises() -> None:
    w = Worker()
    w.close()
    w.close()
    assert w.closed and repr(w) == "<gearman_xs.Worker closed>"
    for call in (w.work, w.grab_job, w.options, w.error, lambda: w.add_server(), lambda: w.echo(b"x"),
                 lambda: w.register("f"), lambda: w.set_timeout(1)):
        with pytest.raises(ClosedError):
            call()
    w.stop()  # never raises
    with pytest.raises(ClosedError), w:
        pass


@pytest.mark.skipif(shutil.which("gearman") is None, reason="gearman CLI (gearman-tools) not installed")
def test_serves_the_gearman_cli_client(shared_gearmand: Gearmand) -> None:
    with _worker(shared_gearmand) as w:
        w.add_function("wcli", 0, lambda job: job.workload()[::-1])
        with WorkerThread(w):
            out = subprocess.run(
                ["gearman", "-h", "127.0.0.1", "-p", str(shared_gearmand.port), "-f", "wcli", "abc def"],
                capture_output=True, timeout=20, env={k: v for k, v in os.environ.items()
                                                      if k != "GEARMAN_SERVERS"},
            )
    assert out.stdout == b"fed cba"


def _slow_echo(delay: float) -> Callable[[int, List[bytes], int], None]:
    def policy(command: int, args: List[bytes], index: int) -> None:
        if command == protocol.ECHO_REQ:
            time.sleep(delay)  # then the usual ECHO_RES
        return None

    return policy


def test_echo_waits_longer_than_the_poll_slice() -> None:
    """Worker.echo() waits for an answer slower than the internal poll slice (SLICE_MS): up to the
    user's timeout, or ECHO_TIMEOUT_MS when none is set (it failed with GEARMAN_TIMEOUT after 200 ms
    on a loaded machine)."""
    delay = 3 * SLICE_MS / 1000
    with FakeServer(_slow_echo(delay)) as server:
        with Worker() as w:
            w.add_server("127.0.0.1", server.port)
            w.echo(b"ping")  # no timeout set: ECHO_TIMEOUT_MS
            w.set_timeout(int(delay * 1000) + 5000)
            w.echo(b"ping")
        with Worker() as w:
            w.add_server("127.0.0.1", server.port)
            w.set_timeout(100)
            with Stopwatch() as sw, pytest.raises(GearmanTimeout):
                w.echo(b"ping")
        sw.assert_under(delay)
    assert ECHO_TIMEOUT_MS >= 10_000


def test_repr_options_and_log_levels_are_python_first(shared_gearmand: Gearmand) -> None:
    levels: List[Any] = []
    with Worker() as w:
        assert repr(w) == "<gearman_xs.Worker functions=[] timeout=-1>"
        w.add_function("wrepr", 0, lambda job: None)
        w.set_timeout(50)
        assert repr(w) == "<gearman_xs.Worker functions=['wrepr'] timeout=50>"
        opts = w.options()
        assert isinstance(opts, gearman_xs.WorkerOptions) and opts == int(opts)
        assert gearman_xs.WorkerOptions.TIMEOUT_RETURN in opts and str(opts) == str(int(opts))
        w.set_log_fn(lambda line, level: levels.append(level), GEARMAN_VERBOSE_ERROR)
        w.add_server("127.0.0.1", shared_gearmand.port)
        with pytest.raises(GearmanTimeout):
            w.work()
    assert levels == [gearman_xs.Verbose.ERROR] and levels[0] is gearman_xs.Verbose.ERROR and levels[0] == 2
