"""The packet guard (gearman_xs.net_guard): replies that crash libgearman 1.1.20 end in a GearmanError,
each in a forked child (a crash must not take pytest down); job handles libgearman cannot keep are
refused with a clear message; Admin refuses timeouts that would overflow."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Iterator, Tuple

import pytest
from support import fuzz
from support import protocol as w
from support.fake_server import FakeServer, reply_to

from gearman_xs import Admin, Client, GearmanError, Worker, net_guard
from gearman_xs.testing import Gearmand

TOP_BIT_COMMAND = b"\0RES" + (0xFFFFFFFF).to_bytes(4, "big") + b"\0\0\0\0"


@pytest.fixture(scope="module")
def listener() -> Iterator[Tuple[object, int]]:
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    yield sock, sock.getsockname()[1]
    sock.close()


def test_guard_is_active() -> None:
    assert net_guard.status() == "active"
    assert net_guard.active()


CRASHERS = [
    ("command 0xFFFFFFFF", TOP_BIT_COMMAND, "GearmanError:GEARMAN_INVALID_COMMAND"),
    ("command 0x80000000", b"\0RES" + (0x80000000).to_bytes(4, "big") + b"\0\0\0\0",
     "GearmanError:GEARMAN_INVALID_COMMAND"),
    ("text line without a space", b"hello\n", "GearmanError:GEARMAN_INVALID_MAGIC"),
    ("top-bit command after a good packet", w.packet(w.NOOP) + TOP_BIT_COMMAND, None),
]

# Left open after these, the calls gearman_xs repeats in slices crashed libgearman 1.1.20 (it kept
# receiving into the packet of the call that timed out, or read the next packets as arguments).
HALF_OPEN = [
    ("arguments past the size", w.raw_header(w.JOB_ASSIGN_ALL, 8) + b"H:fake:1"),
    ("half a STATUS_RES", w.raw_header(w.STATUS_RES, 0x3851FABE) + b"H:fake:1\0" + b"A" * 100),
    ("half a WORK_EXCEPTION", w.raw_header(w.WORK_EXCEPTION, 64) + b"\0" + b"A" * 20),
    ("STATUS_RES larger than libgearman's buffer", w.raw_header(w.STATUS_RES, 0x2000) + b"GEARMAN"),
]


@pytest.mark.parametrize("op", ["server_option", "do_option_phase", "job_status", "client_echo", "work",
                                "grab_job"])
@pytest.mark.parametrize(("name", "reply"), HALF_OPEN, ids=[c[0] for c in HALF_OPEN])
def test_half_packets_left_open(listener: Tuple[object, int], op: str, name: str, reply: bytes) -> None:
    sock, port = listener
    kind, _seconds = fuzz.run_case(sock, port, op, reply, False)  # type: ignore[arg-type]
    assert kind == "ok" or kind.startswith("Gearman"), kind  # grab_job: None, no job


@pytest.mark.parametrize("op", ["do", "do_background", "add_task_run", "work", "grab_job"])
@pytest.mark.parametrize(("name", "reply", "expected"), CRASHERS, ids=[c[0] for c in CRASHERS])
def test_reply_that_crashed_libgearman_raises(listener: Tuple[object, int], op: str, name: str,
                                             reply: bytes, expected: str) -> None:
    sock, port = listener
    kind, seconds = fuzz.run_case(sock, port, op, reply, True)  # type: ignore[arg-type]
    assert not kind.startswith(("crash", "bad")) and kind != "hang", kind
    assert kind.startswith("Gearman"), kind
    if expected is not None:
        assert kind == expected
    assert seconds < fuzz.CASE_DEADLINE


def test_header_split_across_reads_is_checked() -> None:
    """The guard holds a partial header back until it is complete: a top-bit command that arrives
    one byte at a time is still stopped, and its message says what came."""
    with FakeServer(reply_to(w.SUBMITS, TOP_BIT_COMMAND), dribble=0.005) as server, Client() as c:
        c.add_server("127.0.0.1", server.port)
        c.set_timeout(3000)
        with pytest.raises(GearmanError) as info:
            c.do_background("f", b"x")
    assert info.value.name == "GEARMAN_INVALID_COMMAND"
    assert "0xffffffff" in info.value.message


def test_grab_job_says_what_the_guard_stopped() -> None:
    """grab_job()'s error names what the server sent, as do()'s does (its wait used to be switched
    off in a way that also forgot the guard's reason before the error was made)."""
    with FakeServer(reply_to(w.GRABS, TOP_BIT_COMMAND)) as server, Worker() as worker:
        worker.add_server("127.0.0.1", server.port)
        worker.set_timeout(3000)
        worker.add_function("f", 0, lambda job: b"", None)
        with pytest.raises(GearmanError) as info:
            worker.grab_job()
    assert info.value.name == "GEARMAN_INVALID_COMMAND"
    assert "0xffffffff" in info.value.message


@pytest.mark.parametrize(
    ("handle", "words"),
    [(b"", "empty job handle"), (b"\0H:x:1", "empty job handle"), (b"H" * 300, "300 bytes"),
     (b"H" * 64, "64 bytes")],
    ids=["empty", "NUL first", "300 bytes", "64 bytes"],
)
def test_do_background_refuses_a_handle_libgearman_cannot_keep(handle: bytes, words: str) -> None:
    created = w.packet(w.JOB_CREATED, handle)
    with FakeServer(reply_to(w.SUBMITS, created, close=False)) as server, Client() as c:
        c.add_server("127.0.0.1", server.port)
        c.set_timeout(2000)
        with pytest.raises(GearmanError) as info:
            c.do_background("f", b"x")
    assert words in str(info.value)


def test_do_background_keeps_a_63_byte_handle() -> None:
    handle = b"H:" + b"h" * 59 + b":1"
    assert len(handle) == 63
    created = w.packet(w.JOB_CREATED, handle)
    with FakeServer(reply_to(w.SUBMITS, created, close=False)) as server, Client() as c:
        c.add_server("127.0.0.1", server.port)
        c.set_timeout(2000)
        assert c.do_background("f", b"x") == handle.decode()


def test_guard_counts_what_it_stopped(listener: Tuple[object, int]) -> None:
    before = net_guard.counters()
    with FakeServer(reply_to(w.SUBMITS, w.packet(w.JOB_CREATED, b""), close=False)) as server, Client() as c:
        c.add_server("127.0.0.1", server.port)
        c.set_timeout(2000)
        with pytest.raises(GearmanError):
            c.do_background("f", b"x")
    after = net_guard.counters()
    assert after["handle"] == before["handle"] + 1
    assert after["headers"] > before["headers"]  # the OPTION_RES before it


def test_guarded_jobs_still_flow(shared_gearmand: Gearmand) -> None:
    """Real traffic through the guard: many packets, payloads across reads, exact bytes back."""
    from support.workers import WorkerThread

    from gearman_xs import Worker

    w_ = Worker()
    w_.add_server("127.0.0.1", shared_gearmand.port)
    w_.add_function("guard_echo", 0, lambda job: job.workload())
    payloads = [b"", b"x", bytes(range(256)) * 40, os.urandom(300_000)]
    with w_, WorkerThread(w_), Client() as c:
        c.add_server("127.0.0.1", shared_gearmand.port)
        c.set_timeout(20000)
        for p in payloads:
            assert c.do("guard_echo", p) == p
        handle = c.do_background("guard_echo", b"bg")
        assert handle.startswith("H:")


def test_guard_can_be_switched_off_by_environment() -> None:
    env = dict(os.environ, GEARMAN_XS_NET_GUARD="off")
    out = subprocess.run(
        [sys.executable, "-c", "from gearman_xs import net_guard; print(net_guard.status())"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )
    assert out.stdout.strip() == "disabled by GEARMAN_XS_NET_GUARD=off"


@pytest.mark.parametrize("timeout", [float("inf"), 2**100, float("nan"), 0, -1, 2**31])
def test_admin_refuses_timeouts_that_cannot_work(timeout: float) -> None:
    with pytest.raises(ValueError, match="timeout must be"):
        Admin("127.0.0.1", 4730, timeout)


def test_admin_largest_timeout_works(shared_gearmand: Gearmand) -> None:
    with Admin("127.0.0.1", shared_gearmand.port, 2**31 - 1) as admin:
        assert admin.version()


def _full_buffer_burst(handle: bytes = b"H:fake:1") -> bytes:
    """JOB_CREATED, then WORK_DATA chunks that end 4 bytes into a WORK_COMPLETE's handle exactly at
    the guard's 8 KiB buffer: the buffer is full of whole packets and one partial one."""
    out = w.packet(w.JOB_CREATED, handle)
    for size in [998] * 7 + [1002]:
        out += w.packet(w.WORK_DATA, handle, b"d" * size)
    assert len(out) == 8192 - 12 - 4
    return out + w.packet(w.WORK_COMPLETE, handle, b"the result")


def test_a_full_buffer_of_good_packets_is_no_error() -> None:
    # A burst of replies (1,000 run_tasks() results from a fast worker) fills the guard's buffer
    # with whole packets and the start of the next one: that packet's arguments are simply not all
    # there yet. The guard took it for one that libgearman could not hold (GEARMAN_INVALID_COMMAND,
    # "a packet of 19 bytes ... do not fit libgearman's 8 KiB receive buffer"; 3 runs of 32 of the
    # aio benchmark's run_tasks mode failed so).
    def policy(command: int, args: object, index: int) -> object:
        return (_full_buffer_burst(), False) if command == w.SUBMIT_JOB else None

    with FakeServer(policy) as server, Client() as client:  # type: ignore[arg-type]
        client.add_servers(server.servers)
        client.set_timeout(5000)
        assert client.do("f", b"x") == b"d" * 7988 + b"the result"
