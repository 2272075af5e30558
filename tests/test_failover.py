"""Servers in the order given, failover and return, no job run twice (issue 16, issue 11 items 1, 4).

Every test runs real gearmands. Which server took a job is read two ways: from the server's own admin
``status`` (queued background jobs, no worker running), and from tagged workers (failover_worker.py):
one worker process per server, connected to that server only, returns and logs its server's tag, so
``do()``'s result names the server, and the log counts how often each workload ran (duplicates and
lost jobs).
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import pytest
from support import protocol
from support.polling import function_status, wait_until
from support.standin import StandInServer
from support.workers import TaggedWorkers

from gearman_xs import Client, GearmanConnectionError
from gearman_xs._servers import RETRY_FIRST, RETRY_MAX, ServerList
from gearman_xs.testing import Gearmand

#: Time allowed beyond the documented retry time for a restarted server to get jobs back: the
#: client's next submission after the pause, on a loaded machine.
SLACK = 3.0


def queued(server: Gearmand, function: str = "fo_where") -> int:
    return function_status(server).get(function, (0, 0, 0))[0]


def back_to(client: Client, server_tag: bytes, prefix: str, limit: float) -> Tuple[float, List[bytes]]:
    """do() until a job runs on ``server_tag``; returns the seconds it took and every result."""
    start = time.monotonic()
    got: List[bytes] = []
    while time.monotonic() - start < limit:
        got.append(client.do("fo_where", f"{prefix}-{len(got)}"))
        if got[-1] == server_tag:
            return time.monotonic() - start, got
        time.sleep(0.02)
    raise AssertionError(f"jobs did not come back to {server_tag!r} within {limit} s: {got[-5:]}")


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[TaggedWorkers]:
    with TaggedWorkers(tmp_path) as w:
        yield w


# -- the order given ------------------------------------------------------------------------------------


def test_add_servers_order_do(workers: TaggedWorkers) -> None:
    with Gearmand() as a, Gearmand() as b:
        workers.start("A", a)
        workers.start("B", b)
        with Client() as c:
            c.add_servers(f"{a.servers},{b.servers}")
            c.set_timeout(10000)
            assert [c.do("fo_where", f"before-{i}") for i in range(20)] == [b"A"] * 20
            a.kill()
            assert [c.do("fo_where", f"during-{i}") for i in range(20)] == [b"B"] * 20
            a.start()
            _, between = back_to(c, b"A", "after", RETRY_MAX + SLACK)
            assert set(between[:-1]) <= {b"B"}
            assert [c.do("fo_where", f"back-{i}") for i in range(20)] == [b"A"] * 20
        counts = workers.counts()
        assert len(counts) == 60 + len(between) and set(counts.values()) == {1}


def test_add_server_calls_and_env_order(workers: TaggedWorkers, monkeypatch: pytest.MonkeyPatch) -> None:
    with Gearmand() as a, Gearmand() as b:
        workers.start("A", a)
        workers.start("B", b)
        with Client() as c:
            c.add_server("127.0.0.1", a.port)
            c.add_server("127.0.0.1", b.port)
            assert {c.do("fo_where", f"calls-{i}") for i in range(5)} == {b"A"}
        for order, tag in (((a, b), b"A"), ((b, a), b"B")):
            monkeypatch.setenv("GEARMAN_SERVERS", ",".join(s.servers for s in order))
            with Client() as c:
                assert {c.do("fo_where", f"env-{tag!r}-{i}") for i in range(5)} == {tag}
        # servers the program adds replace $GEARMAN_SERVERS (libgearman would put it in front)
        monkeypatch.setenv("GEARMAN_SERVERS", a.servers)
        with Client() as c:
            c.add_servers(b.servers)
            assert {c.do("fo_where", f"env-replaced-{i}") for i in range(5)} == {b"B"}
            a.kill()
            assert c.do("fo_where", "env-replaced-a-down") == b"B"
        monkeypatch.delenv("GEARMAN_SERVERS")
    assert set(workers.counts().values()) == {1}


def test_command_line_servers_order(workers: TaggedWorkers) -> None:
    with Gearmand() as a, Gearmand() as b:
        workers.start("A", a)
        workers.start("B", b)
        for order, tag in (((a, b), "A"), ((b, a), "B")):
            servers = ",".join(s.servers for s in order)
            command = [sys.executable, "-m", "gearman_xs", "submit", "--servers", servers]
            out = subprocess.run([*command, "fo_where", "cli-" + tag], capture_output=True, timeout=60,
                                 check=True).stdout
            assert out == tag.encode()
        a.kill()
        out = subprocess.run([sys.executable, "-m", "gearman_xs", "submit", "--servers",
                              f"{a.servers},{b.servers}", "fo_where", "cli-down"],
                             capture_output=True, timeout=60, check=True).stdout
        assert out == b"B"
    assert set(workers.counts().values()) == {1}


def test_background_jobs_per_server_by_admin_status(tmp_path: Path, workers: TaggedWorkers) -> None:
    # No worker while submitting: each server's admin status says where every job went. A keeps
    # its queue in SQLite, so that its jobs survive the SIGKILL and nothing may be missing at the end.
    db = str(tmp_path / "a.sqlite")
    with Gearmand(["-q", "libsqlite3", "--libsqlite3-db", db]) as a, Gearmand() as b:
        with Client() as c:
            c.add_servers(f"{a.servers},{b.servers}")
            c.set_timeout(10000)
            handles = [c.do_background("fo_where", f"bg-before-{i}") for i in range(10)]
            assert (queued(a), queued(b)) == (10, 0)
            a.kill()
            handles += [c.do_background("fo_where", f"bg-during-{i}") for i in range(10)]
            assert queued(b) == 10
            a.start()
            assert queued(a) == 10  # kept in SQLite
            start, n = time.monotonic(), 0
            while queued(a) == 10:
                assert time.monotonic() - start < RETRY_MAX + SLACK, "A did not get jobs back"
                handles.append(c.do_background("fo_where", f"bg-after-{n}"))
                n += 1
                time.sleep(0.02)
            assert (queued(a), queued(b)) == (11, 10 + n - 1)
            handles += [c.do_background("fo_where", f"bg-back-{i}") for i in range(10)]
            assert (queued(a), queued(b)) == (21, 10 + n - 1)
        # (no handle check for uniqueness: both servers count from H:host:1)
        assert len(handles) == 30 + n and all(h.startswith("H:") for h in handles)
        workers.start("A", a)
        workers.start("B", b)
        wait_until(lambda: sum(workers.counts().values()) >= len(handles), what="every job to run")
        time.sleep(0.3)  # a duplicate would show up now
        counts = workers.counts()
        assert len(counts) == len(handles) and set(counts.values()) == {1}
        assert {t for t, w in workers.runs() if w.startswith(("bg-before", "bg-back"))} == {"A"}
        assert {t for t, w in workers.runs() if w.startswith("bg-during")} == {"B"}


def test_run_tasks_follows_the_order(workers: TaggedWorkers) -> None:
    with Gearmand() as a, Gearmand() as b:
        workers.start("A", a)
        workers.start("B", b)
        with Client() as c:
            c.add_servers(f"{a.servers},{b.servers}")
            c.set_timeout(10000)

            def batch(name: str, background: bool = False) -> List[bytes]:
                add = c.add_task_background if background else c.add_task
                tasks = [add("fo_where", f"{name}-{i}") for i in range(5)]
                assert c.run_tasks() is True
                assert all(t.returncode() == 0 for t in tasks), [t.returncode() for t in tasks]
                return [t.data() for t in tasks]

            assert batch("t-before") == [b"A"] * 5
            a.kill()
            assert batch("t-during") == [b"B"] * 5
            batch("t-during-bg", background=True)
            a.start()
            TaggedWorkers.wait_registered(a)
            start = time.monotonic()
            while batch(f"t-after-{time.monotonic()}") != [b"A"] * 5:
                assert time.monotonic() - start < RETRY_MAX + SLACK
                time.sleep(0.05)
        wait_until(lambda: sum(1 for _, w in workers.runs() if w.startswith("t-during-bg")) >= 5)
        time.sleep(0.3)
        counts = workers.counts()
        assert set(counts.values()) == {1}
        assert {t for t, w in workers.runs() if w.startswith("t-during-bg")} == {"B"}


def test_three_servers_first_available(workers: TaggedWorkers) -> None:
    with Gearmand() as a, Gearmand() as b, Gearmand() as cc:
        for tag, server in (("A", a), ("B", b), ("C", cc)):
            workers.start(tag, server)
        with Client() as c:
            c.add_servers(",".join(s.servers for s in (a, b, cc)))
            c.set_timeout(10000)
            assert {c.do("fo_where", f"3-a-{i}") for i in range(5)} == {b"A"}
            a.kill()
            assert [c.do("fo_where", f"3-b-{i}") for i in range(5)] == [b"B"] * 5
            b.kill()
            assert [c.do("fo_where", f"3-c-{i}") for i in range(5)] == [b"C"] * 5
            b.start()
            back_to(c, b"B", "3-back-b", RETRY_MAX + SLACK)
            assert {c.do("fo_where", f"3-b2-{i}") for i in range(5)} == {b"B"}
            a.start()
            back_to(c, b"A", "3-back-a", RETRY_MAX + SLACK)
            assert {c.do("fo_where", f"3-a2-{i}") for i in range(5)} == {b"A"}
    assert set(workers.counts().values()) == {1}


def test_job_status_echo_cancel_follow_the_order() -> None:
    with Gearmand() as a, Gearmand() as b, Client() as c:
        c.add_servers(f"{a.servers},{b.servers}")
        h = c.do_background("fo_nobody", "x", "status-order-1")
        assert (queued(a, "fo_nobody"), queued(b, "fo_nobody")) == (1, 0)
        assert c.job_status(h).is_known
        c.echo("ping")
        c.cancel_job(h)
        a.kill()
        c.echo("ping")  # B answers
        h2 = c.do_background("fo_nobody", "y", "status-order-2")
        assert queued(b, "fo_nobody") == 1
        assert c.job_status(h2).is_known
        assert c.job_status_by_unique("status-order-2").is_known


# -- issue 11 item 1: a job never runs twice when the preferred server dies ------------------------------


@pytest.mark.parametrize("kind", ["do_background", "do"])
def test_idle_server_death_never_runs_a_job_twice(kind: str, workers: TaggedWorkers) -> None:
    """The preferred server dies while the Client is idle; the next job goes to the other
    server exactly once (it used to run twice in 17 of 20 cycles)."""
    with Gearmand() as a, Gearmand() as b:
        workers.start("B", b)
        for cycle in range(10):
            with Client() as c:
                c.add_servers(f"{a.servers},{b.servers}")
                c.set_timeout(10000)
                c.do_background("fo_warm", "warm")  # goes to A (no worker there, lost with it)
                assert queued(a, "fo_warm") == 1
                a.kill()
                if kind == "do":
                    assert c.do("fo_where", f"idle-{cycle}") == b"B"
                else:
                    assert c.do_background("fo_where", f"idle-{cycle}")
            a.start()
        wait_until(lambda: len(workers.counts()) >= 10, what="every job to run")
        time.sleep(0.3)
        assert workers.counts() == Counter({f"idle-{i}": 1 for i in range(10)})


class GoneAfterOneJob(StandInServer):
    """A server that dies right after its first job: answers OPTION_REQ, then on the first
    submission stops listening, sends JOB_CREATED (and WORK_COMPLETE with result ``b"A"`` for a
    foreground job) and closes the connection; ``gone`` is set once all that is done."""

    def __init__(self) -> None:
        self.gone = threading.Event()
        super().__init__(backlog=4, accept_timeout=0.05)

    def handle(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        reader = protocol.RequestReader()
        with conn, contextlib.suppress(OSError):  # (a reachability check: connects, closes)
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                for command, args in reader.feed(data):
                    if command in protocol.SUBMITS:
                        self.listener.close()  # from now on refused, as a dead server's port
                        reply = protocol.packet(protocol.JOB_CREATED, b"H:gone:1")
                        if command not in (protocol.SUBMIT_JOB_BG, protocol.SUBMIT_JOB_HIGH_BG,
                                           protocol.SUBMIT_JOB_LOW_BG):
                            reply += protocol.packet(protocol.WORK_COMPLETE, b"H:gone:1", b"A")
                        conn.sendall(reply)
                        conn.close()
                        self.gone.set()
                        return
                    conn.sendall(protocol.default_answer(command, args))


@pytest.mark.parametrize("kind", ["do_background", "do"])
def test_server_gone_right_after_a_job_the_next_goes_to_the_other(kind: str, workers: TaggedWorkers) -> None:
    """The preferred server answers a job and dies at once; the very next call (well within 1 ms of
    the answer) goes to the other server, exactly once. It used to be sent on the dead connection
    and raise "lost after the job was sent" (do*() polled the connection only after 1 ms unused)."""
    cycles = 10
    with Gearmand() as b:
        workers.start("B", b)
        for cycle in range(cycles):
            a = GoneAfterOneJob()
            try:
                with Client() as c:
                    c.add_servers(f"{a.servers},{b.servers}")
                    c.set_timeout(10000)
                    if kind == "do":
                        assert c.do("fo_where", f"first-{cycle}") == b"A"
                        assert a.gone.wait(10)
                        assert c.do("fo_where", f"gone-{cycle}") == b"B"
                    else:
                        assert c.do_background("fo_where", f"first-{cycle}") == "H:gone:1"
                        assert a.gone.wait(10)
                        assert c.do_background("fo_where", f"gone-{cycle}").startswith("H:")
            finally:
                a.close()
        wait_until(lambda: len(workers.counts()) >= cycles, what="every job to run")
        time.sleep(0.3)  # a duplicate would show now
        assert workers.counts() == Counter({f"gone-{i}": 1 for i in range(cycles)})


def _submit_while_killing(
    client: Client, victim: Gearmand, kind: str, total: int, kill_at: int
) -> Tuple[List[Optional[str]], List[str]]:
    """Submits ``total`` jobs; a thread SIGKILLs ``victim`` once ``kill_at`` were submitted (while
    the next ones are in flight). Returns per job its result/handle or None if it raised, and the
    messages of what raised."""
    results: List[Optional[str]] = []
    errors: List[str] = []
    go = threading.Event()
    killer = threading.Thread(target=lambda: (go.wait(30), victim.kill()), daemon=True)
    killer.start()
    submit = client.do if kind == "do" else client.do_background
    for i in range(total):
        if i == kill_at:
            go.set()
        try:
            r = submit("fo_where", f"mid-{i}")
            results.append(r.decode() if isinstance(r, bytes) else r)
        except GearmanConnectionError as exc:
            results.append(None)
            errors.append(str(exc))
    killer.join(30)
    return results, errors


def test_preferred_server_killed_mid_run_foreground(workers: TaggedWorkers) -> None:
    total = 1000
    with Gearmand() as a, Gearmand() as b:
        workers.start("A", a)
        workers.start("B", b)
        with Client() as c:
            c.add_servers(f"{a.servers},{b.servers}")
            c.set_timeout(10000)
            results, errors = _submit_while_killing(c, a, "do", total, total // 2)
    counts = workers.counts()
    runs = {w: t for t, w in workers.runs()}
    assert max(counts.values()) == 1, "a job ran twice"
    for i, r in enumerate(results):
        if r is not None:  # returned: ran exactly once, where its result says
            assert counts[f"mid-{i}"] == 1 and runs[f"mid-{i}"] == r
    # only the job(s) in flight on A when it died may raise; none was lost silently
    assert len(errors) <= 2, errors
    assert results[: total // 2] == ["A"] * (total // 2)
    assert results[-100:] == ["B"] * 100


def test_preferred_server_killed_mid_run_background(tmp_path: Path, workers: TaggedWorkers) -> None:
    # A keeps its queue in SQLite and the workers start after the run: every job that got a handle
    # must run exactly once, and a job that raised may have run at most once.
    total = 1000
    db = str(tmp_path / "a.sqlite")
    with Gearmand(["-q", "libsqlite3", "--libsqlite3-db", db]) as a, Gearmand() as b:
        with Client() as c:
            c.add_servers(f"{a.servers},{b.servers}")
            c.set_timeout(10000)
            results, errors = _submit_while_killing(c, a, "do_background", total, total // 2)
        a.start()
        workers.start("A", a)
        workers.start("B", b)
        handled = [i for i, r in enumerate(results) if r is not None]
        wait_until(lambda: sum(workers.counts().values()) >= len(handled), what="every job to run")
        time.sleep(0.5)
    counts = workers.counts()
    assert max(counts.values()) == 1, "a job ran twice"
    assert all(counts[f"mid-{i}"] == 1 for i in handled), "a job with a handle was lost"
    assert len(errors) <= 2, errors
    assert len(handled) >= total - 2



# -- issue 11 item 4: capped back-off against a server that closes on the Client -----------------------


class ClosingServer(StandInServer):
    """Accepts connections on 127.0.0.1 and closes each one at once; counts them."""

    def __init__(self) -> None:
        self.accepted = 0
        super().__init__(backlog=64, accept_timeout=0.05)

    def handle(self, conn: socket.socket) -> None:
        self.accepted += 1
        conn.close()


def test_pauses_double_up_to_the_cap() -> None:
    servers = ServerList()
    servers.add(b"a:1")
    servers.add(b"b:1")
    assert [servers.failed(b"a:1", refused=True) for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert servers.candidates() == [b"b:1", b"a:1"]  # down: still tried last
    servers.failed(b"b:1", refused=False)
    assert servers.candidates() == [b"a:1"]  # closed on us: not tried before its pause ends
    servers.ok(b"a:1")
    assert servers.candidates() == [b"a:1"] and servers.failed(b"a:1", refused=True) == 0.5


def test_a_server_that_closes_on_the_client_is_backed_off() -> None:
    closing = ClosingServer()
    try:
        with Client() as c:
            c.add_servers(closing.servers)
            c.set_timeout(5000)
            start, calls = time.monotonic(), 0
            while time.monotonic() - start < 2.0:
                with pytest.raises(GearmanConnectionError):
                    c.do("fo_where", "x")
                calls += 1
                time.sleep(0.005)
            elapsed = time.monotonic() - start
            msg = c.error() or ""
        # attempts at about 0 s, 0.5 s and 1.5 s, each a TCP check plus libgearman's connection
        # (and the same unique once more for a submission): a handful, not one per call
        assert calls > 50 and closing.accepted <= 4 * (2 + elapsed / RETRY_FIRST), (calls, closing.accepted)
        assert "closed the connection" in msg and "next attempt in" in msg
    finally:
        closing.close()


def test_a_closing_first_server_hands_over_to_the_next(workers: TaggedWorkers) -> None:
    closing = ClosingServer()
    try:
        with Gearmand() as b:
            workers.start("B", b)
            with Client() as c:
                c.add_servers(f"{closing.servers},{b.servers}")
                c.set_timeout(5000)
                results = []
                for i in range(30):
                    try:
                        results.append(c.do("fo_where", f"closing-{i}"))
                    except GearmanConnectionError:
                        results.append(b"error")
                # only a submission sent into a connection that then closed may fail (it may have
                # been queued: not sent elsewhere); every other job runs once on B
                assert results.count(b"error") <= 3 and set(results) <= {b"B", b"error"}, results
                assert results[-10:] == [b"B"] * 10
        counts = workers.counts()
        assert set(counts.values()) == {1}
    finally:
        closing.close()
