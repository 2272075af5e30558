"""gearman-xs submit / worker end to end, against a real gearmand and the C gearman CLI."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from typing import Iterator, List, Optional

import pytest
from support.polling import wait_until
from support.tools import ENV, GEARMAN, needs_gearman, start_cli_worker, stop_process_group

from gearman_xs import cli
from gearman_xs.admin import Admin
from gearman_xs.testing import Gearmand, free_port


def gxs(
    server: Gearmand, *argv: str, input: Optional[bytes] = None, timeout: float = 30
) -> subprocess.CompletedProcess[bytes]:
    command = [sys.executable, "-m", "gearman_xs", "-h", server.host, "-p", str(server.port), *argv]
    return subprocess.run(command, input=input, capture_output=True, timeout=timeout, env=ENV)


def gearman_client(server: Gearmand, function: str, data: str) -> subprocess.CompletedProcess[bytes]:
    assert GEARMAN is not None
    return subprocess.run([GEARMAN, "-h", server.host, "-p", str(server.port), "-f", function, data],
                          capture_output=True, timeout=30, env=ENV)


class CliWorker:
    """``python -m gearman_xs worker ...`` in its own process group, registered before use."""

    def __init__(self, server: Gearmand, function: str, *argv: str, ident: Optional[str] = None) -> None:
        extra: List[str] = ["--id", ident] if ident else []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gearman_xs", "-h", server.host, "-p", str(server.port),
             "worker", function, *extra, *argv],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True, env=ENV,
        )
        with Admin(server.host, server.port) as admin:
            wait_until(lambda: self.process.poll() is not None
                     or any(function in w.functions for w in admin.workers()), what="worker registration")
        assert self.process.poll() is None, self.process.communicate()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.communicate(timeout=10)


@pytest.fixture
def workers() -> Iterator[List[CliWorker]]:
    started: List[CliWorker] = []
    yield started
    for w in started:
        w.stop()


@needs_gearman
def test_worker_serves_the_c_client(gearmand: Gearmand, workers: List[CliWorker]) -> None:
    w = CliWorker(gearmand, "up", "-c", "2", "--", "tr", "a-z", "A-Z", ident="upper-1")
    workers.append(w)
    with Admin(gearmand.host, gearmand.port) as admin:
        assert [(x.client_id, x.functions) for x in admin.workers() if x.functions] == [("upper-1", ("up",))]
    first = gearman_client(gearmand, "up", "hello world")
    assert (first.returncode, first.stdout) == (0, b"HELLO WORLD")
    assert gearman_client(gearmand, "up", "again").stdout == b"AGAIN"
    assert w.process.wait(timeout=10) == 0  # -c 2: exits after two jobs


@needs_gearman
def test_worker_command_failure_fails_the_job(gearmand: Gearmand, workers: List[CliWorker]) -> None:
    w = CliWorker(gearmand, "nope", "--", "sh", "-c", "cat >/dev/null; exit 3")
    workers.append(w)
    result = gearman_client(gearmand, "nope", "x")
    assert result.returncode == 1 and b"failed" in result.stdout + result.stderr  # WORK_FAIL
    assert w.process.poll() is None  # the worker goes on
    os.killpg(w.process.pid, signal.SIGTERM)
    assert w.process.wait(timeout=10) == 0  # SIGTERM: a clean stop
    stderr = w.process.communicate()[1]
    assert b"exited with status 3" in stderr and b"Traceback" not in stderr


@needs_gearman
def test_worker_without_command_echoes(gearmand: Gearmand, workers: List[CliWorker]) -> None:
    workers.append(CliWorker(gearmand, "echo_fn"))
    assert gearman_client(gearmand, "echo_fn", "same back").stdout == b"same back"


def test_worker_usage_errors(gearmand: Gearmand) -> None:
    def run(*argv: str) -> int:
        return cli.main(["-h", gearmand.host, "-p", str(gearmand.port), *argv],
                        stdout=io.StringIO(), stderr=io.StringIO())

    assert run("worker", "fn", "--", "no-such-command-xyz") == 2
    assert run("worker", "fn", "-c", "0", "--", "cat") == 2
    assert run("worker", "fn", "cat", "--", "cat") == 2
    assert run("status", "--", "cat") == 2
    assert run("worker") == 2


@needs_gearman
def test_submit_foreground_and_stdin(gearmand: Gearmand) -> None:
    worker = start_cli_worker(gearmand, "rev", "rev")
    try:
        with Admin(gearmand.host, gearmand.port) as admin:
            wait_until(lambda: any("rev" in w.functions for w in admin.workers()), what="worker")
        result = gxs(gearmand, "submit", "rev", "abc def")
        assert (result.returncode, result.stdout, result.stderr) == (0, b"fed cba", b"")
        piped = gxs(gearmand, "submit", "rev", input=b"from stdin")
        assert (piped.returncode, piped.stdout) == (0, b"nidts morf")
        for flag in ("-I", "-L"):
            assert gxs(gearmand, "submit", flag, "rev", "xy").stdout == b"yx"
    finally:
        stop_process_group(worker)


@needs_gearman
def test_submit_to_our_worker(gearmand: Gearmand, workers: List[CliWorker]) -> None:
    workers.append(CliWorker(gearmand, "up2", "--", "tr", "a-z", "A-Z"))
    assert gxs(gearmand, "submit", "up2", "both ends ours").stdout == b"BOTH ENDS OURS"
    workers.append(CliWorker(gearmand, "bad", "--", "false"))
    failed = gxs(gearmand, "submit", "bad", "x")
    assert failed.returncode == 1 and failed.stdout == b"" and b"WORK_FAIL" in failed.stderr


def test_submit_background_priorities_and_unique(gearmand: Gearmand) -> None:
    handles = []
    for flags in ((), ("-I",), ("-L", "-u", "my-unique")):
        result = gxs(gearmand, "submit", "-b", *flags, "bg", "data")
        assert result.returncode == 0 and result.stderr == b""
        handles.append(result.stdout.decode().strip())
    with Admin(gearmand.host, gearmand.port) as admin:
        assert sorted(j.handle for j in admin.show_jobs()) == sorted(handles)
        assert [tuple(p) for p in admin.priority_status()] == [("bg", 1, 1, 1, 0)]
        assert "my-unique" in admin.show_unique_jobs()
        admin.maxqueue("bg", 3)
    full = gxs(gearmand, "submit", "-b", "bg", "one too many")
    assert full.returncode == 1 and b"QUEUE_ERROR" in full.stderr  # gearman -b exits 0 here
    json_out = gxs(gearmand, "--json", "submit", "-b", "-I", "other", "x")
    assert json_out.returncode == 0 and json_out.stdout.startswith(b'{"handle": "H:')


def test_submit_failures_exit_1(gearmand: Gearmand) -> None:
    started = time.monotonic()
    nobody = gxs(gearmand, "--timeout", "0.5", "submit", "no_worker", "x")
    assert nobody.returncode == 1 and b"TIMEOUT" in nobody.stderr
    assert time.monotonic() - started < 10
    command = [sys.executable, "-m", "gearman_xs", "-p", str(free_port()), "-h", "127.0.0.1",
               "--timeout", "2", "submit", "-b", "fn", "x"]
    dead = subprocess.run(command, capture_output=True, timeout=30, env=ENV)
    assert dead.returncode == 1 and dead.stderr


def test_worker_send_exceptions(gearmand_exceptions: Gearmand, workers: List[CliWorker]) -> None:
    server = gearmand_exceptions
    workers.append(CliWorker(server, "exc", "--send-exceptions", "--", "sh", "-c", "exit 4"))
    result = gxs(server, "--timeout", "10", "submit", "exc", "x")
    assert result.returncode == 1
    assert b"exited with status 4" in result.stderr  # the exception text reached the client
