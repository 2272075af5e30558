"""Interop with PHP's pecl gearman extension (php-gearman 2.1 over libgearman 1.1.20): a gearman_xs
Client calls a GearmanWorker, GearmanClient calls a gearman_xs Worker. Peer programs:
tests/peers/php_worker.php and php_client.php.

gearman_xs's side is checked byte for byte; where the PHP extension itself refuses or hangs, the
test pins that behaviour and says so (docs/interop.md).
"""

from __future__ import annotations

import pytest
from support.data import ALL_BYTES, EVENTS, MIB, PY_EXCEPTION, UTF8_TEXT, pattern, random_bytes, sha256_hex
from support.interop import (
    Stack,
    collect_events,
    new_client,
    stack_fixtures,
)
from support.peers import run_peer_client

import gearman_xs
from gearman_xs.testing import Gearmand

PAYLOADS = {"all_bytes": ALL_BYTES, "utf8": UTF8_TEXT, "zero": b"0", "1MiB": random_bytes(MIB)}
SUCCESS = [("rc", "GEARMAN_SUCCESS"), ("end",)]


peer, stack, exc_stack, any_stack, server, client = stack_fixtures("php")


# == gearman_xs Client -> PHP GearmanWorker =======================================================

@pytest.mark.parametrize("name", [*PAYLOADS, "empty"])
def test_payload_round_trips_through_php_worker(client: gearman_xs.Client, name: str) -> None:
    payload = PAYLOADS.get(name, b"")
    assert client.do("php.echo", payload) == payload
    assert client.do("php.sha256", payload) == sha256_hex(payload)


def test_unique_reaches_php_worker(client: gearman_xs.Client) -> None:
    function, handle, length, unique = client.do("php.info", b"abc", unique="u-php-1").split(b"\n")
    assert (function, length, unique) == (b"php.info", b"3", b"u-php-1")
    assert handle.startswith(b"H:")


@pytest.mark.parametrize("function", ["php.fail", "php.fail_send"])
def test_php_worker_fail_gives_workfail(any_stack: Stack, function: str) -> None:
    """GEARMAN_WORK_FAIL set as the job's return, and GearmanJob::sendFail()."""
    with new_client(any_stack.server) as c:
        with pytest.raises(gearman_xs.WorkFail):
            c.do(function, b"x")
        assert collect_events(c, function, b"x") == [("fail",)]


def test_php_send_exception_gives_workexception(any_stack: Stack) -> None:
    with new_client(any_stack.server) as c:
        with pytest.raises(gearman_xs.WorkException) as info:
            c.do("php.exception", b"x")
        assert info.value.exception == b"php exception"
        assert collect_events(c, "php.exception", b"x") == [("exception", b"php exception")]


# == PHP GearmanClient -> gearman_xs Worker =======================================================

@pytest.mark.parametrize("mode", ["task", "do"])
@pytest.mark.parametrize("name", PAYLOADS)
def test_php_client_payload_round_trips_through_python_worker(server: Gearmand, name: str,
                                                              mode: str) -> None:
    payload = PAYLOADS[name]
    key = "complete" if mode == "task" else "result"
    run = run_peer_client("php", server, mode, "py.echo", payload)
    assert run.events == [(key, payload), *SUCCESS], run
    run = run_peer_client("php", server, mode, "py.sha256", payload)
    assert run.value(key) == sha256_hex(payload), run


def test_php_client_cannot_send_an_empty_workload(server: Gearmand) -> None:
    """Peer limit: the extension passes "" as a non-NULL pointer of size 0, which libgearman 1.1.20
    rejects (GEARMAN_INVALID_ARGUMENT, 49, "invalid workload"): nothing is submitted."""
    for mode in ("task", "do", "bg"):
        run = run_peer_client("php", server, mode, "py.echo", b"")
        assert ("rc", "49") in run.events and "invalid workload" in run.stderr, run


def test_php_client_8mib_result_from_python_worker(server: Gearmand) -> None:
    run = run_peer_client("php", server, "do", "py.gen", str(8 * MIB).encode())
    assert run.events == [("result", pattern(8 * MIB)), *SUCCESS]


@pytest.mark.parametrize("mode", ["task_high", "task", "task_low", "high", "do", "low"])
def test_php_client_priorities_to_python_worker(server: Gearmand, mode: str) -> None:
    run = run_peer_client("php", server, mode, "py.echo", mode.encode())
    assert run.events == [("complete" if mode.startswith("task") else "result", mode.encode()), *SUCCESS]


@pytest.mark.parametrize("mode", ["task", "do"])
def test_php_client_unique_reaches_python_worker(server: Gearmand, mode: str) -> None:
    run = run_peer_client("php", server, mode, "py.info", b"abc", unique="php-unique-1")
    function, handle, length, unique = run.value("complete" if mode == "task" else "result").split(b"\n")
    assert (function, length, unique) == (b"py.info", b"3", b"php-unique-1")
    assert handle.startswith(b"H:")


def test_python_worker_events_reach_php_client_in_order(server: Gearmand) -> None:
    run = run_peer_client("php", server, "task", "py.events", b"x")
    assert run.events == [*EVENTS, *SUCCESS], run


def test_php_do_normal_returns_data_chunks_with_the_result(server: Gearmand) -> None:
    """Peer behaviour: doNormal() (libgearman's gearman_client_do) gives no separate WORK_DATA:
    the chunks come back glued in front of the WORK_COMPLETE payload."""
    run = run_peer_client("php", server, "do", "py.events", b"x")
    assert run.events == [("result", b"d1d2done"), *SUCCESS], run


@pytest.mark.parametrize("function", ["py.raise", "py.fail_send"])
def test_python_worker_failure_reaches_php_client(any_stack: Stack, function: str) -> None:
    run = run_peer_client("php", any_stack.server, "task", function, b"x")
    assert run.events == [("fail",), *SUCCESS], run
    run = run_peer_client("php", any_stack.server, "do", function, b"x")
    assert run.events == [("result", b""), ("rc", "GEARMAN_WORK_FAIL"), ("end",)], run


@pytest.mark.parametrize("function", ["pyx.raise", "py.exception_send"])
def test_python_worker_exception_reaches_php_client(any_stack: Stack, function: str) -> None:
    """addServer() enables libgearman's exceptions option by default, so both gearmand modes work."""
    expected = PY_EXCEPTION if function == "pyx.raise" else b"python exception"
    run = run_peer_client("php", any_stack.server, "task", function, b"x")
    assert run.events == [("exception", expected), *SUCCESS], run
    run = run_peer_client("php", any_stack.server, "do", function, b"x")
    assert run.events == [("result", b""), ("rc", "GEARMAN_WORK_EXCEPTION"), ("end",)], run


def test_python_worker_exception_hangs_php_do_without_exceptions_option(any_stack: Stack) -> None:
    """Peer limit: with addServer(..., false) (no exceptions option) on a default gearmand,
    doNormal() never returns after a WORK_EXCEPTION: libgearman 1.1.20 drops the WORK_FAIL gearmand
    makes of it (its handle counts the NUL). It ends only at the client's own timeout (1 s here).
    With gearmand --exceptions it gets the exception. This is why gearman_xs's Worker sends
    WORK_FAIL unless send_exceptions=True (its own Client enables exceptions and does not hang)."""
    run = run_peer_client("php", any_stack.server, "do", "pyx.raise", b"x",
                          extra=["--no-exceptions", "--timeout", "1000"])
    if any_stack.server.args == ["--exceptions"]:
        assert run.events == [("result", b""), ("rc", "GEARMAN_WORK_EXCEPTION"), ("end",)], run
    else:
        assert run.events == [("result", b""), ("rc", "GEARMAN_TIMEOUT"), ("end",)], run
