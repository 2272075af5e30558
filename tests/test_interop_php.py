"""Interop with PHP's pecl gearman extension (php-gearman 2.1 over libgearman 1.1.20): a gearman_xs
Client calls a GearmanWorker, GearmanClient calls a gearman_xs Worker. Peer programs:
tests/peers/php_worker.php and php_client.php.

gearman_xs's side is checked byte for byte; where the PHP extension itself refuses or hangs, the
test pins that behaviour and says so (README, "Interoperability").
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any, Iterator, List, Tuple

import pytest
from interop_support import (
    ALL_BYTES,
    MIB,
    UTF8_TEXT,
    PeerWorker,
    PyWorker,
    Stack,
    new_client,
    pattern,
    random_bytes,
    require_peer,
    run_peer_client,
    sha256_hex,
    wait_for_file,
    wait_until,
)

import gearman_xs
from gearman_xs.testing import Gearmand

PAYLOADS = {"all_bytes": ALL_BYTES, "utf8": UTF8_TEXT, "zero": b"0", "1MiB": random_bytes(MIB)}
EVENTS = [("data", b"d1"), ("warning", b"w1"), ("status", 1, 2), ("data", b"d2"), ("warning", b"w2"),
          ("status", 2, 2), ("complete", b"done")]
PY_EXCEPTION = b"RuntimeError: python failure"  # what pyx.raise (send_exceptions=True) sends
SUCCESS = [("rc", "GEARMAN_SUCCESS"), ("end",)]


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    require_peer("php")
    s = Stack("php")
    yield s
    s.close()


@pytest.fixture(scope="module")
def exc_stack() -> Iterator[Stack]:
    """The same on a gearmand started with --exceptions."""
    require_peer("php")
    s = Stack("php", ["--exceptions"])
    yield s
    s.close()


@pytest.fixture(params=["default", "exceptions"])
def any_stack(request: pytest.FixtureRequest) -> Stack:
    """Both gearmand modes: without and with --exceptions."""
    stack: Stack = request.getfixturevalue("stack" if request.param == "default" else "exc_stack")
    return stack


@pytest.fixture
def server(stack: Stack) -> Gearmand:
    return stack.server


@pytest.fixture
def client(server: Gearmand) -> Iterator[gearman_xs.Client]:
    with new_client(server) as c:
        yield c


def collect_events(client: gearman_xs.Client, function: str, workload: bytes) -> List[Tuple[Any, ...]]:
    """Runs one task and returns its callbacks in order, as the peer clients print them."""
    seen: List[Tuple[Any, ...]] = []
    client.set_data_fn(lambda t: seen.append(("data", t.data())))
    client.set_warning_fn(lambda t: seen.append(("warning", t.data())))
    client.set_status_fn(lambda t: seen.append(("status", t.numerator(), t.denominator())))
    client.set_complete_fn(lambda t: seen.append(("complete", t.data())))
    client.set_fail_fn(lambda t: seen.append(("fail",)))
    client.set_exception_fn(lambda t: seen.append(("exception", t.exception())))
    client.add_task(function, workload)
    client.run_tasks()
    return seen


# == gearman_xs Client -> PHP GearmanWorker =======================================================

@pytest.mark.parametrize("name", [*PAYLOADS, "empty"])
def test_payload_round_trips_through_php_worker(client: gearman_xs.Client, name: str) -> None:
    payload = PAYLOADS.get(name, b"")
    assert client.do("php.echo", payload) == payload
    assert client.do("php.sha256", payload) == sha256_hex(payload)


def test_8mib_workload_to_php_worker(client: gearman_xs.Client) -> None:
    big = random_bytes(8 * MIB, seed=8)
    assert client.do("php.sha256", big) == sha256_hex(big)


def test_1mib_result_from_php_worker(client: gearman_xs.Client) -> None:
    assert client.do("php.gen", str(MIB)) == pattern(MIB)


@pytest.mark.parametrize("method", ["do_high", "do", "do_low"])
def test_priorities_to_php_worker(client: gearman_xs.Client, method: str) -> None:
    assert getattr(client, method)("php.echo", method) == method.encode()


def test_queued_priorities_run_high_normal_low_on_php_worker(
        server: Gearmand, client: gearman_xs.Client, tmp_path: Path) -> None:
    log = tmp_path / "order"
    prefix = f"phpq{uuid.uuid4().hex[:8]}"
    for method, line in [("do_low_background", "low"), ("do_background", "normal"),
                         ("do_high_background", "high")]:
        getattr(client, method)(f"{prefix}.record", f"{log}\n{line}")
    with PeerWorker("php", server, ["record"], prefix=prefix):
        wait_until(lambda: log.exists() and log.read_bytes().count(b"\n") == 3, what="3 records")
    assert log.read_bytes() == b"high\nnormal\nlow\n"


def test_background_job_on_php_worker_runs_to_completion(
        client: gearman_xs.Client, tmp_path: Path) -> None:
    target = tmp_path / "out"
    handle = client.do_background("php.bg_write", os.fsencode(target) + b"\n" + ALL_BYTES)
    assert handle.startswith("H:")
    assert wait_for_file(target) == ALL_BYTES
    wait_until(lambda: not client.job_status(handle).is_known, what="the job to be forgotten")


def test_job_status_while_php_worker_reports_progress(client: gearman_xs.Client, tmp_path: Path,
                                                      server: Gearmand) -> None:
    go = tmp_path / "go"
    unique = f"php-{uuid.uuid4().hex[:12]}"
    handle = client.do_background("php.progress", os.fsencode(go), unique=unique)
    try:
        wait_until(lambda: client.job_status(handle) == (True, True, 1, 4), what="status 1/4")
        assert unique in server.admin("show unique jobs").split("\n")
        assert client.job_status_by_unique(unique) == (True, True, 1, 4)
    finally:
        go.touch()  # a failed test must not leave the worker busy for 30 s
    wait_until(lambda: not client.job_status(handle).is_known, what="the job to finish")


def test_unique_reaches_php_worker(client: gearman_xs.Client) -> None:
    function, handle, length, unique = client.do("php.info", b"abc", unique="u-php-1").split(b"\n")
    assert (function, length, unique) == (b"php.info", b"3", b"u-php-1")
    assert handle.startswith(b"H:")


def test_php_worker_events_reach_callbacks_in_order(client: gearman_xs.Client) -> None:
    assert collect_events(client, "php.events", b"x") == EVENTS


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


def test_php_client_queued_priorities_run_high_normal_low_on_python_worker(
        server: Gearmand, tmp_path: Path) -> None:
    log = tmp_path / "order"
    prefix = f"pyq{uuid.uuid4().hex[:8]}"
    for mode, line in [("bg_low", "low"), ("bg", "normal"), ("bg_high", "high")]:
        run = run_peer_client("php", server, mode, f"{prefix}.record", f"{log}\n{line}".encode())
        assert run.value("handle").startswith("H:"), run
    with PyWorker(server, ["record"], prefix=prefix):
        wait_until(lambda: log.exists() and log.read_bytes().count(b"\n") == 3, what="3 records")
    assert log.read_bytes() == b"high\nnormal\nlow\n"


def test_php_client_background_job_on_python_worker(server: Gearmand, tmp_path: Path) -> None:
    target = tmp_path / "out"
    run = run_peer_client("php", server, "bg", "py.bg_write", os.fsencode(target) + b"\n" + ALL_BYTES)
    assert run.value("handle").startswith("H:"), run
    assert wait_for_file(target) == ALL_BYTES


def test_php_client_job_status_of_python_worker_progress(server: Gearmand, tmp_path: Path) -> None:
    go = tmp_path / "go"
    handle = run_peer_client("php", server, "bg", "py.progress", os.fsencode(go)).value("handle")

    def status() -> Tuple[Any, ...]:
        return run_peer_client("php", server, "status", handle).events[0]

    try:
        wait_until(lambda: status() == ("jobstatus", 1, 1, 1, 4), what="status 1/4")
    finally:
        go.touch()
    wait_until(lambda: status()[1] == 0, what="the job to finish")


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
