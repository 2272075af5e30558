"""set_timeout(T) and Ctrl-C hold in every phase of a Client call (issue 11 item 3).

Against servers that stop answering, each phase in turn: connecting (a listener whose accept queue
is full: the SYN is dropped), the "exceptions" option negotiation (a server that accepts and never
replies), submitting (the same without the option), waiting for a created job (gearmand without a
worker, and a SIGSTOPped gearmand for the idle probes), and the status/echo probes. A call must
raise GearmanTimeout by T + 0.5 s and KeyboardInterrupt within 1 s of SIGINT. Each assertion
measures the product from the moment the timeout starts or the signal is sent, with slack for a
loaded machine (the bounds the Client is built for are T + one 100 ms slice and one slice).

The Ctrl-C calls run without a timeout, so a signal that never becomes KeyboardInterrupt would
leave them waiting for ever: a watchdog then breaks the phase's server (the call ends with a
connection error) and the test fails instead of hanging the run. The one such hang seen (the
"option" phase, under stress-ng) was a test process started with SIGINT ignored, which
conftest.py now undoes; ``test_ctrl_c_when_the_run_started_with_sigint_ignored`` checks that.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, List, Optional

import pytest
from support.standin import StandInServer

import gearman_xs
from gearman_xs import Client, GearmanTimeout
from gearman_xs.testing import Gearmand

T_MS = 1000
#: What the test allows beyond T (the product's own bound is T + 0.1 s; the issue asks T + 0.5 s).
TIMEOUT_SLACK = 1.0
#: What the test allows from SIGINT to KeyboardInterrupt (the issue asks within 1 s; a slice is 0.1 s).
SIGINT_BOUND = 1.0
#: How long after SIGINT the watchdog waits for KeyboardInterrupt before it breaks the phase's server.
WATCHDOG = 10.0

_OPTION_REQ, _OPTION_RES = 26, 27


class SilentServer(StandInServer):
    """Accepts connections on 127.0.0.1 and reads everything, answering nothing (or only
    OPTION_REQ, with ``answer_options``)."""

    def __init__(self, answer_options: bool = False) -> None:
        self.answer_options = answer_options
        self.conns: List[socket.socket] = []
        self.serving: List[threading.Thread] = []
        super().__init__(backlog=16, accept_timeout=0.1)

    def handle(self, conn: socket.socket) -> None:
        self.conns.append(conn)
        t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
        self.serving.append(t)
        t.start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(0.1)
        buf = b""
        while not self.stop.is_set():
            try:
                data = conn.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            if not data:
                return
            buf += data
            while len(buf) >= 12:
                kind, size = struct.unpack(">II", buf[4:12])
                if len(buf) < 12 + size:
                    break
                body, buf = buf[12:12 + size], buf[12 + size:]
                if self.answer_options and kind == _OPTION_REQ:
                    conn.sendall(b"\0RES" + struct.pack(">II", _OPTION_RES, len(body)) + body)

    def closed(self) -> None:
        for t in self.serving:
            t.join(5)
        for c in self.conns:
            c.close()


class FullBacklog:
    """A listener whose accept queue is full: connecting to it neither succeeds nor fails."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(0)
        self.servers = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.fillers: List[socket.socket] = []
        for _ in range(4):  # listen(0) queues one connection on Linux; fill until a SYN is dropped
            s = socket.socket()
            s.settimeout(0.3)
            try:
                s.connect(self.listener.getsockname())
            except socket.timeout:
                s.close()
                break
            self.fillers.append(s)
        else:
            self.close()
            pytest.skip("this kernel does not drop SYNs to a full accept queue")

    def close(self) -> None:
        for s in self.fillers:
            s.close()
        self.listener.close()


@contextmanager
def silent(answer_options: bool = False) -> Iterator[SilentServer]:
    server = SilentServer(answer_options)
    try:
        yield server
    finally:
        server.close()


@contextmanager
def full_backlog() -> Iterator[FullBacklog]:
    server = FullBacklog()
    try:
        yield server
    finally:
        server.close()


@contextmanager
def stopped_after_created(gearmand: Gearmand, function: str) -> Iterator[None]:
    """SIGSTOPs gearmand once it holds a job of ``function`` (from a thread), SIGCONTs it after."""
    pid = gearmand.pid
    assert pid is not None
    done = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + 10
        while not done.is_set() and time.monotonic() < deadline:
            if f"{function}\t1" in gearmand.admin("status", timeout=1):
                os.kill(pid, signal.SIGSTOP)
                return
            time.sleep(0.01)

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    try:
        yield
    finally:
        done.set()
        t.join(15)
        with contextlib.suppress(ProcessLookupError):  # killed by the Ctrl-C test's watchdog
            os.kill(pid, signal.SIGCONT)


def timed_out_after(client: Client, call: Callable[[], object], t_ms: int) -> float:
    """Runs ``call`` with set_timeout(t_ms); returns the seconds until GearmanTimeout."""
    client.set_timeout(t_ms)
    start = time.monotonic()
    with pytest.raises(GearmanTimeout):
        call()
    return time.monotonic() - start


def interrupted_after(call: Callable[[], object], breaker: Callable[[], None], delay: float = 0.3) -> float:
    """Runs ``call`` (no timeout), sends SIGINT after ``delay`` s; returns the seconds from the
    signal to KeyboardInterrupt. If none comes within WATCHDOG s, ``breaker()`` ends the call (the
    test then fails on the bound or on the exception) instead of letting it wait for ever."""
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler, (
        f"SIGINT is {signal.getsignal(signal.SIGINT)!r} in this process, not Python's handler")
    sent: List[float] = []
    broke = threading.Event()
    done = threading.Event()

    def fire() -> None:
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)
        if not done.wait(WATCHDOG):
            broke.set()
            breaker()

    timer = threading.Timer(delay, fire)
    timer.start()
    try:
        try:
            with pytest.raises(KeyboardInterrupt):
                try:
                    call()
                    time.sleep(5)  # the call returned: let the signal arrive (then fails on the bound)
                finally:
                    done.set()
        except BaseException:
            if broke.is_set():
                pytest.fail(f"no KeyboardInterrupt within {WATCHDOG} s of SIGINT (watchdog ended the call)")
            raise
        assert not broke.is_set(), f"no KeyboardInterrupt within {WATCHDOG} s of SIGINT"
        return time.monotonic() - sent[0]
    finally:
        done.set()
        timer.cancel()
        timer.join()


def new_client(servers: str, exceptions: bool = True) -> Client:
    c = Client()
    c.add_servers(servers)
    if not exceptions:
        c.remove_options(gearman_xs.GEARMAN_CLIENT_EXCEPTION)
    return c


PHASES = ["connect", "option", "submit", "epoch", "wait", "wait-stopped", "run_tasks", "job_status", "echo"]


@pytest.mark.parametrize("phase", PHASES)
def test_timeout_in_every_phase(phase: str) -> None:
    # waiting phases get a timeout beyond the first idle probe (1 s), which must not stretch it
    t_ms = 2 * T_MS if phase.startswith("wait") else T_MS
    with _phase(phase) as (servers, call, exceptions, _), new_client(servers, exceptions) as c:
        took = timed_out_after(c, lambda: call(c), t_ms)
    assert t_ms / 1000 * 0.9 <= took < t_ms / 1000 + TIMEOUT_SLACK, f"{phase}: {took:.2f} s"


@pytest.mark.parametrize("phase", PHASES)
def test_ctrl_c_in_every_phase(phase: str) -> None:
    with _phase(phase) as (servers, call, exceptions, breaker), new_client(servers, exceptions) as c:
        c.set_timeout(-1)
        latency = interrupted_after(lambda: call(c), breaker, 0.6 if phase == "wait-stopped" else 0.3)
    assert latency < SIGINT_BOUND, f"{phase}: {latency:.2f} s"


def test_ctrl_c_when_the_run_started_with_sigint_ignored(tmp_path: Path) -> None:
    # A shell without job control starts background commands with SIGINT ignored (how the stress
    # run that hung was started). The "option" phase's Ctrl-C test, run by pytest in such a process,
    # must pass (conftest.py restores Python's handler), not wait for ever.
    here = os.path.dirname(os.path.abspath(__file__))
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x",
           os.path.join(here, "test_timeouts_every_phase.py"), "-k", "test_ctrl_c_in_every_phase and option"]
    # (run outside the tree, as tox does: the source tree has no compiled _libgearman)
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "1 passed" in proc.stdout


@contextmanager
def _phase(phase: str) -> Iterator[tuple]:  # type: ignore[type-arg]
    """(servers, call(client), exceptions option on, breaker) for ``phase``; ``breaker()`` makes
    the server fail the call (the Ctrl-C tests' watchdog)."""
    if phase == "connect":
        with full_backlog() as fb:
            yield fb.servers, (lambda c: c.do("f", "x")), True, fb.close
    elif phase == "option":
        with silent() as s:
            yield s.servers, (lambda c: c.do("f", "x")), True, s.close
    elif phase == "submit":
        with silent() as s:
            yield s.servers, (lambda c: c.do_background("f", "x")), False, s.close
    elif phase == "epoch":
        with silent(answer_options=True) as s:
            yield s.servers, (lambda c: c.do_background_at(int(time.time()) + 60, "f", "x")), True, s.close
    elif phase == "run_tasks":
        with silent(answer_options=True) as s:
            yield s.servers, (lambda c: (c.add_task("f", "x"), c.run_tasks())), True, s.close
    elif phase == "job_status":
        with silent() as s:
            yield s.servers, (lambda c: c.job_status("H:x:1")), True, s.close
    elif phase == "echo":
        with silent() as s:
            yield s.servers, (lambda c: c.echo("x")), True, s.close
    elif phase == "wait":
        with Gearmand() as g:
            yield g.servers, (lambda c: c.do("fo_nobody", "x")), True, g.kill
    else:
        with Gearmand() as g:
            def call(c: Client) -> Optional[bytes]:
                with stopped_after_created(g, "fo_stop"):
                    return c.do("fo_stop", "x")
            yield g.servers, call, True, g.kill


def test_a_server_that_does_not_accept_is_skipped_quickly() -> None:
    # connect phase with a second server: the full-backlog server is passed over after 0.5 s
    with full_backlog() as fb, Gearmand() as g, Client() as c:
        c.add_servers(f"{fb.servers},{g.servers}")
        c.set_timeout(10000)
        start = time.monotonic()
        handle = c.do_background("fo_nobody", "x")
        assert handle.startswith("H:") and time.monotonic() - start < 0.5 + TIMEOUT_SLACK
        assert "fo_nobody\t1" in g.admin("status")
