"""``Loss``: the rules after a Client's connection is lost, for the three paths that submit jobs
(``_client_do.DoPath``, ``_client_tasks.TaskRunner``, ``_aio_engine.Engine``): which jobs are sent
again, to which server, and the message of the others.

A job the server acknowledged (JOB_CREATED) is never sent again: its result is lost with the
connection (``accepted_lost()``). A job not acknowledged yet is sent again only

* when it provably never reached a server: the connect failed (GEARMAN_COULD_NOT_CONNECT) or no
  server was in use; the next available server takes it;
* or once, to the same server with the same unique, when that server, asked by unique on a
  throw-away connection (GET_STATUS_UNIQUE, ``_client_probes.unique_statuses``), says it holds the
  job running (or queued, for a background job): gearmand joins the new submission to it.

Any other unacknowledged job ends with the connection error: the server does not know it, or holds
a foreground job queued that it drops with its client (``not_sent_again()``), or could not be asked
(``maybe_queued()``). Sent or not, the protocol cannot tell, and sending it again could run it twice.

The server: one that could not be connected to is paused (refused); one that answered the question
stays in use (the jobs sent again go back to it); one that did not answer is paused, so the next
jobs go to the next server in the order given.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from ._client_c import CONNECT_CHECK, CClient
from ._client_probes import JobStatus, unique_statuses
from ._clock import Clock
from ._libgearman import lib
from ._servers import reachable
from .errors import error_text

__all__ = ["Loss", "accepted_lost", "maybe_queued", "not_sent_again"]


class Loss:
    """One lost connection (code ``rc``) of the C client ``c`` of ``cc``, and what its server said
    of the unacknowledged jobs. Creating it marks the C client for replacement and records the
    error text (``Client.error()``)."""

    __slots__ = ("answered", "never_sent", "rc", "spec", "statuses", "text")

    def __init__(self, cc: CClient, c: Any, rc: int, unacked: List[bytes], clock: Clock,
                 ask: bool = True) -> None:
        """``unacked``: the uniques of the jobs sent and not acknowledged, to ask the server about
        (when ``ask``; a caller that already sent them again once passes False), within ``clock``."""
        cc.dirty = True
        self.text: Optional[str] = error_text(c)
        cc.error = self.text
        self.rc = rc
        self.spec: Optional[bytes] = cc.spec
        self.never_sent = rc == lib.GEARMAN_COULD_NOT_CONNECT or self.spec is None
        self.statuses: Dict[bytes, JobStatus] = {}
        self.answered = False  # the server was asked and answered
        spec = self.spec
        if (not self.never_sent and ask and spec is not None
                and reachable(spec, clock.limit(CONNECT_CHECK)) is True):
            self.statuses = unique_statuses(cc, spec, unacked, clock)
            self.answered = bool(self.statuses) or not unacked

    def send_again(self, unique: Optional[bytes], background: bool, resent: bool = False) -> bool:
        """Whether an unacknowledged job of ``unique`` is sent again: it never reached a server, or
        its server holds it running (queued, for a ``background`` job) and it was not sent again to
        that server yet (``resent``)."""
        if self.never_sent:
            return True
        status = self.statuses.get(unique) if unique is not None else None
        return (status is not None and status.is_known and not resent
                and (status.is_running or background))

    def message(self, unique: Optional[bytes]) -> str:
        """What an unacknowledged job that is not sent again ends with."""
        spec = self.spec or b"?"
        status = self.statuses.get(unique) if unique is not None else None
        if status is not None:
            return not_sent_again(spec, self.text, status.is_known)
        return maybe_queued(spec, self.text)

    def next_server(self, cc: CClient, again: bool) -> Optional[bytes]:
        """Pauses the server as the rules say; returns the server that the jobs sent ``again`` go
        back to (None: the first available one)."""
        if self.never_sent:
            cc.server_failed(self.rc)
            return None
        if self.answered:
            return self.spec if again else None
        assert self.spec is not None
        cc.servers.failed(self.spec, refused=False)
        return None


def accepted_lost(spec: bytes, handle: Optional[str], why: Optional[str]) -> str:
    """The message of a connection lost after the server accepted a foreground job (JOB_CREATED)
    and before its result: the job is not submitted again."""
    return (
        f"the connection to {spec.decode('utf-8', 'replace')} was lost after the server accepted the "
        f"job (JOB_CREATED{', handle ' + handle if handle else ''}) and before its result came "
        f"({why or 'no reason given'}): the result is lost. The job was not submitted again (that "
        "could run it twice): it may have run, may still be running, or, if it was still queued, "
        "may have been dropped by the server with the connection"
    )


def not_sent_again(spec: bytes, why: Optional[str], known: bool) -> str:
    """The message of a connection lost between sending a job to ``spec`` and its JOB_CREATED,
    when ``spec`` answered afterwards that it does not know the job (``known`` False), or holds a
    foreground job of that unique queued (``known`` True): either way it is not submitted again."""
    name = spec.decode("utf-8", "replace")
    head = (f"the connection to {name} was lost after the job was sent and before the server "
            f"acknowledged it ({why or 'no answer'}): ")
    if known:
        return head + (
            f"{name} holds it queued, and gearmand drops a queued foreground job whose client has "
            "gone (it runs only if another client submitted the same unique). It was not submitted "
            "again: submit it again (the same unique would join the dropped copy)"
        )
    return head + (
        f"{name} does not know the job now: it never arrived, or it has already run (its "
        "JOB_CREATED and result were lost with the connection). It was not submitted again: that "
        "could run it twice"
    )


def maybe_queued(spec: bytes, why: Optional[str]) -> str:
    """The message of a connection lost between sending a job to ``spec`` and its JOB_CREATED."""
    return (
        f"the connection to {spec.decode('utf-8', 'replace')} was lost after the job was sent and "
        f"before the server acknowledged it ({why or 'no answer'}): it may have been queued there, so "
        "it was not sent to another server (it could run twice); submit it again with the same "
        "unique to let the server coalesce it"
    )
