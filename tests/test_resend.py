"""A job is submitted again only when its server holds it (issue 11: no job run twice).

A fake server breaks the connection (RST) at the points that decide it, and counts the
submissions it gets:

* right after JOB_CREATED (and after the result too): the server accepted the job. libgearman's
  client used to drop those bytes (it treats POLLERR/POLLHUP as fatal before reading what had
  arrived), the Client took the job for unacknowledged and sent it again: run twice whenever the
  first copy had finished. The packet guard now lets libgearman read them first: do_background()
  returns the handle, do() returns the result that had arrived or raises GearmanConnectionError
  saying the job was accepted; one submission each time.
* right after SUBMIT_JOB, before any answer: sent or not, the protocol cannot tell. The Client asks
  the server by unique (GET_STATUS_UNIQUE) on a new connection and submits again, with the same
  unique, only when the server says it holds the job running (gearmand then joins the call to it);
  a server that does not know the job, or holds a foreground job queued (gearmand drops those when
  their client goes), gets no second submission.
"""

from __future__ import annotations

import time
from typing import List, Optional, Tuple

import pytest
from support import protocol as w
from support.fake_server import FakeServer

from gearman_xs import GEARMAN_CLIENT_NON_BLOCKING, GEARMAN_SUCCESS, Client, GearmanConnectionError, net_guard

ROUNDS = 10  # before the fix 4-16 of 20 such calls were submitted twice

reads_first = pytest.mark.skipif(
    not net_guard.reads_broken_connections(),
    reason=f"the packet guard's poll() slot is not active here ({net_guard.status()})")


class Answers:
    """A policy: the first SUBMIT_* gets ``reply`` and an RST; a later one gets JOB_CREATED and
    WORK_COMPLETE "again"; GET_STATUS_UNIQUE gets (known, running). ``uniques`` lists the unique of
    every submission."""

    def __init__(self, reply: bytes, on_status: Optional[Tuple[bytes, bytes]] = None,
                 delay: float = 0.0) -> None:
        self.reply = reply
        self.on_status = on_status
        self.delay = delay  # s before the first submission's reply
        self.uniques: List[bytes] = []

    def __call__(self, command: int, args: List[bytes], index: int) -> Optional[Tuple[bytes, bool]]:
        if command in w.SUBMITS:
            self.uniques.append(args[1])
            if len(self.uniques) == 1:
                time.sleep(self.delay)
                return self.reply, True
            handle = b"H:fake:2"
            return w.packet(w.JOB_CREATED, handle) + w.packet(w.WORK_COMPLETE, handle, b"again"), False
        if command == w.GET_STATUS_UNIQUE and self.on_status is not None:
            known, running = self.on_status
            return w.packet(w.STATUS_RES_UNIQUE, args[0], known, running, b"0", b"0", b"1"), False
        return None


def _submits(server: FakeServer) -> int:
    return sum(1 for _, command in server.requests if command in w.SUBMITS)


def _client(server: FakeServer) -> Client:
    c = Client()
    c.add_servers(server.servers)
    c.set_timeout(5000)
    return c


CREATED = w.packet(w.JOB_CREATED, b"H:fake:1")
COMPLETE = w.packet(w.WORK_COMPLETE, b"H:fake:1", b"result")


@reads_first
def test_background_job_accepted_then_reset_returns_its_handle() -> None:
    for _ in range(ROUNDS):
        with FakeServer(Answers(CREATED), rst=True) as server, _client(server) as c:
            assert c.do_background("f", "x") == "H:fake:1"
            assert _submits(server) == 1


@reads_first
def test_job_accepted_then_reset_raises_and_is_not_sent_again() -> None:
    for _ in range(ROUNDS):
        with FakeServer(Answers(CREATED), rst=True) as server, _client(server) as c:
            with pytest.raises(GearmanConnectionError, match="after the server accepted the job"):
                c.do("f", "x")
            assert _submits(server) == 1


@reads_first
def test_result_that_arrived_before_the_reset_is_returned() -> None:
    for _ in range(ROUNDS):
        with FakeServer(Answers(CREATED + COMPLETE), rst=True) as server, _client(server) as c:
            assert c.do("f", "x") == b"result"
            assert _submits(server) == 1


@reads_first
@pytest.mark.parametrize("background", [True, False], ids=["background", "foreground"])
def test_non_blocking_wait_reads_a_broken_connection_first(background: bool) -> None:
    """NON_BLOCKING: run_tasks() sends and returns; JOB_CREATED (and the result) then an RST arrive
    before the user's wait(). wait() polls too, and hands what it saw to the next run_tasks(): it
    used to poll outside the guard's read-first mode, so run_tasks() took the connection for dead
    before reading the answer, and an accepted job ended as lost (10 of 20 background, 4 of 20
    foreground tasks in a loop of this shape)."""
    reply = CREATED if background else CREATED + COMPLETE
    for _ in range(ROUNDS):
        with FakeServer(Answers(reply, delay=0.05), rst=True) as server, _client(server) as c:
            c.add_options(GEARMAN_CLIENT_NON_BLOCKING)
            task = c.add_task_background("f", "x") if background else c.add_task("f", "x")
            assert c.run_tasks() is False  # sent; the answer comes 50 ms later, then the RST
            time.sleep(0.3)  # both are in before wait() polls
            c.wait()
            while not c.run_tasks():
                c.wait()
            assert task.returncode() == GEARMAN_SUCCESS, c.error()
            if background:
                assert task.job_handle() == "H:fake:1"
            else:
                assert task.data() == b"result"
            assert _submits(server) == 1


@pytest.mark.parametrize(("status", "background", "submits", "outcome"), [
    ((b"1", b"1"), False, 2, b"again"),  # running there: the same unique again joins it
    ((b"1", b"0"), True, 2, "H:fake:2"),  # a queued background job: joined too
    ((b"1", b"0"), False, 1, "holds it queued"),  # a queued foreground job: gearmand drops it
    ((b"0", b"0"), False, 1, "does not know the job now"),  # never arrived, or already ran
    ((b"0", b"0"), True, 1, "does not know the job now"),
], ids=["running", "queued-background", "queued-foreground", "unknown", "unknown-background"])
def test_reset_before_any_answer(status: Tuple[bytes, bytes], background: bool, submits: int,
                                 outcome: object) -> None:
    answers = Answers(b"", on_status=status)
    with FakeServer(answers, rst=True) as server, _client(server) as c:
        call = (lambda: c.do_background("f", "x", "u1")) if background else (lambda: c.do("f", "x", "u1"))
        if isinstance(outcome, str) and not outcome.startswith("H:"):
            with pytest.raises(GearmanConnectionError, match=outcome):
                call()
        else:
            assert call() == outcome
        assert _submits(server) == submits
        assert answers.uniques == [b"u1"] * submits  # sent again only with the same unique
        # the Client works again on a fresh connection
        assert c.do("f", "y") == b"again"
