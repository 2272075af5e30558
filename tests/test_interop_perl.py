"""Interop with Perl's Gearman::Client / Gearman::Worker (libgearman-client-perl 2.004, a pure-Perl
implementation of the protocol): a gearman_xs Client calls Perl workers, Perl clients call a
gearman_xs Worker. Peer programs: tests/peers/perl_worker.pl and perl_client.pl.

gearman_xs's side is checked byte for byte; where Gearman::Client/Worker itself mangles or hangs, the
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
from support.peers import PeerWorker, require_peer, run_peer_client
from support.polling import wait_until

import gearman_xs
from gearman_xs.testing import Gearmand

PAYLOADS = {"all_bytes": ALL_BYTES, "utf8": UTF8_TEXT, "1MiB": random_bytes(MIB)}

peer, stack, exc_stack, any_stack, server, client = stack_fixtures("perl")


# == gearman_xs Client -> Perl Gearman::Worker ====================================================

@pytest.mark.parametrize("name", PAYLOADS)
def test_payload_round_trips_through_perl_worker(client: gearman_xs.Client, name: str) -> None:
    payload = PAYLOADS[name]
    assert client.do("perl.echo", payload) == payload
    assert client.do("perl.sha256", payload) == sha256_hex(payload)


def test_empty_workload_reaches_perl_worker(client: gearman_xs.Client) -> None:
    assert client.do("perl.sha256", b"") == sha256_hex(b"")
    assert client.do("perl.info", b"").split(b"\n")[2] == b"0"


def test_perl_worker_false_result_is_requeued_not_delivered() -> None:
    """Peer limit: Gearman::Worker 2.004 sends a result that is false in Perl ("" or "0") as a
    WORK_COMPLETE without the NUL after the handle. gearmand cannot parse it ("realloc(char, count:
    18446744073709551615)"), drops the worker's connection and requeues the job; by default forever.
    With ``-j 2`` gearmand gives up and fails the job, so the client sees WorkFail instead of a hang."""
    with Gearmand(["-j", "2"]) as server, PeerWorker("perl", server, ["echo"]), new_client(server) as c:
        for falsy in (b"0", b""):
            with pytest.raises(gearman_xs.WorkFail):
                c.do("perl.echo", falsy)
        assert c.do("perl.echo", b"00") == b"00"  # the worker reconnected and still serves


def test_perl_worker_cannot_see_the_unique(client: gearman_xs.Client) -> None:
    """Peer limit: Gearman::Worker grabs jobs with GRAB_JOB (JOB_ASSIGN carries no unique), so its
    Job has no unique; info answers function, handle and length only."""
    function, handle, length = client.do("perl.info", b"abc", unique="u-1").split(b"\n")
    assert (function, length) == (b"perl.info", b"3")
    assert handle.startswith(b"H:")


def test_perl_worker_returning_undef_gives_workfail(any_stack: Stack) -> None:
    with new_client(any_stack.server) as c, pytest.raises(gearman_xs.WorkFail):
        c.do("perl.fail", b"x")


def test_perl_send_work_exception_gives_workexception(any_stack: Stack) -> None:
    with new_client(any_stack.server) as c:
        with pytest.raises(gearman_xs.WorkException) as info:
            c.do("perl.exception", b"x")
        assert info.value.exception == b"perl exception"
        assert collect_events(c, "perl.exception", b"x") == [("exception", b"perl exception")]


@pytest.mark.parametrize("mode", ["default", "exceptions"])
def test_perl_die_gives_workexception_and_ends_the_perl_worker(mode: str) -> None:
    """Peer behaviour: on die, Gearman::Worker sends WORK_EXCEPTION carrying the error message
    Storable::nfreeze'd (not plain text), then WORK_FAIL. gearmand has already dropped the job and
    answers the WORK_FAIL with ERROR JOB_NOT_FOUND, on which Gearman::Worker dies: its process exits."""
    require_peer("perl")
    args = ["--exceptions"] if mode == "exceptions" else []
    with Gearmand(args) as server, new_client(server) as c:
        worker = PeerWorker("perl", server, ["die"])
        try:
            with pytest.raises(gearman_xs.WorkException) as info:
                c.do("perl.die", b"x")
            # Storable nfreeze of the scalar "perl died\n": 5.11 header, SX_SCALAR, length 10.
            assert info.value.exception == b"\x05\x0b\x0a\x0aperl died\n"
            wait_until(lambda: not any(worker.alive()), what="the Perl worker to exit")
            assert "unexpected packet type: error" in worker.stderr()
        finally:
            worker.stop()


# == Perl Gearman::Client -> gearman_xs Worker ====================================================

@pytest.mark.parametrize("name", [*PAYLOADS, "empty"])
def test_perl_client_payload_round_trips_through_python_worker(server: Gearmand, name: str) -> None:
    payload = PAYLOADS.get(name, b"")
    run = run_peer_client("perl", server, "do", "py.echo", payload)
    assert run.events == [("complete", payload), ("end",)], run
    run = run_peer_client("perl", server, "do", "py.sha256", payload)
    assert run.value("complete") == sha256_hex(payload), run


def test_perl_client_sends_zero_as_empty_workload(server: Gearmand) -> None:
    """Peer limit: Gearman::Client packs ``${argref} || ''``, so the workload "0" goes out empty (the
    same for a unique "0")."""
    run = run_peer_client("perl", server, "do", "py.info", b"0", unique="0")
    _function, _handle, length, unique = run.value("complete").split(b"\n")
    assert (length, unique) == (b"0", b""), run  # workload length 0, not 1; no unique


def test_perl_client_8mib_result_from_python_worker(server: Gearmand) -> None:
    run = run_peer_client("perl", server, "do", "py.gen", str(8 * MIB).encode())
    assert run.value("complete") == pattern(8 * MIB)


@pytest.mark.parametrize("mode", ["high", "do", "low"])
def test_perl_client_priorities_to_python_worker(server: Gearmand, mode: str) -> None:
    run = run_peer_client("perl", server, mode, "py.echo", mode.encode())
    assert run.events == [("complete", mode.encode()), ("end",)], run


def test_perl_client_unique_reaches_python_worker(server: Gearmand) -> None:
    run = run_peer_client("perl", server, "do", "py.info", b"abc", unique="perl-unique-1")
    function, handle, length, unique = run.value("complete").split(b"\n")
    assert (function, length, unique) == (b"py.info", b"3", b"perl-unique-1")
    assert handle.startswith(b"H:")


def test_python_worker_events_reach_perl_client_in_order(server: Gearmand) -> None:
    run = run_peer_client("perl", server, "do", "py.events", b"x")
    assert run.events == [*EVENTS, ("end",)], run


@pytest.mark.parametrize("function", ["py.raise", "py.fail_send"])
def test_python_worker_failure_reaches_perl_client_as_fail(any_stack: Stack, function: str) -> None:
    run = run_peer_client("perl", any_stack.server, "do", function, b"x")
    assert run.events == [("fail", b"jshandle fail"), ("end",)], run


@pytest.mark.parametrize("function", ["pyx.raise", "py.exception_send"])
def test_python_worker_exception_reaches_perl_client(any_stack: Stack, function: str) -> None:
    expected = PY_EXCEPTION if function == "pyx.raise" else b"python exception"
    run = run_peer_client("perl", any_stack.server, "do", function, b"x", extra=["--exceptions"])
    assert run.events == [("exception", expected), ("end",)], run


@pytest.mark.parametrize("function", ["pyx.raise", "py.exception_send"])
def test_python_worker_exception_and_perl_client_without_exceptions(any_stack: Stack, function: str) -> None:
    """Peer limit: a Perl client without ``exceptions => 1`` on a default gearmand gets the WORK_FAIL
    gearmand makes of the exception, whose handle counts its NUL (the bug that hangs libgearman 1.1
    clients), and dies on it: "Got work_fail for unknown handle". With gearmand --exceptions it
    gets the exception. This is why gearman_xs's Worker sends WORK_FAIL unless send_exceptions=True."""
    expected = PY_EXCEPTION if function == "pyx.raise" else b"python exception"
    run = run_peer_client("perl", any_stack.server, "do", function, b"x")
    if any_stack.server.args == ["--exceptions"]:
        assert run.events == [("exception", expected), ("end",)], run
    else:
        assert run.returncode != 0 and ("end",) not in run.events, run
        assert "Got work_fail for unknown handle" in run.stderr, run
