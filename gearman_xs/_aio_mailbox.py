"""``Mailbox``: how an ``AsyncClient``'s event loop and its I/O thread (``_aio_engine.Engine``) talk.

One way, operations: the loop (or any thread) appends ``(op, item)`` to ``inbox`` and, when the
thread sleeps, writes one byte into the wake-up pipe, whose read end (``rfd``) the thread's waits
on libgearman's connections watch too (csrc/aio.c). From the loop, ``put_soon()`` wakes the thread
once per loop iteration, after every coroutine that runs in it has queued its job (a ``gather()``
of 1,000 ``do()`` is one batch).

The other way, outcomes: the thread appends ``(future, value, exception)`` to ``outbox`` and
``flush()`` schedules one ``deliver()`` in the loop (``call_soon_threadsafe()``), which resolves
every future queued by then; outcomes queued meanwhile are taken by the same delivery.

``dead``: why the thread ended (``ClosedError`` after a close); ``put()`` raises it from then on.
Nothing here knows libgearman or jobs.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
from typing import Any, Deque, Optional, Tuple

__all__ = ["Mailbox", "Outcome"]

Outcome = Tuple[Any, Any, Optional[BaseException]]  # (future, value, exception)


class Mailbox:
    """The inbox with its wake-up pipe, and the outbox with its delivery, of one I/O thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.inbox: Deque[Tuple[int, Any]] = collections.deque()
        self.rfd, self.wfd = os.pipe()
        os.set_blocking(self.rfd, False)
        os.set_blocking(self.wfd, False)
        self.sleeping = False
        self.wake_sent = False
        self.kick_due = False  # a wake-up is scheduled for the end of this loop iteration
        self.dead: Optional[BaseException] = None  # why the thread ended; later calls raise it
        self.outbox: Deque[Outcome] = collections.deque()  # appended by the thread, taken by deliver()
        self.delivery_due = False

    # -- in: operations for the thread ----------------------------------------------------------------

    def put(self, op: int, item: Any) -> None:
        """Queues an operation for the thread and wakes it if it sleeps (any thread)."""
        if self.dead is not None:
            raise self.dead
        self.inbox.append((op, item))
        self.wake()

    def put_soon(self, op: int, item: Any) -> None:
        """put() from the event loop: the thread is woken once, at the end of this loop iteration."""
        if self.dead is not None:
            raise self.dead
        self.inbox.append((op, item))
        if not self.kick_due:
            self.kick_due = True
            self.loop.call_soon(self.kick)

    def kick(self) -> None:
        self.kick_due = False
        self.wake()

    def wake(self) -> None:
        if self.sleeping and not self.wake_sent:
            self.wake_sent = True
            with contextlib.suppress(OSError):  # full (then it wakes anyway) or closed
                os.write(self.wfd, b"\0")

    def asleep(self) -> None:
        """The thread is about to wait: a put() from now on writes to the wake-up pipe."""
        self.sleeping = True

    def awake(self) -> None:
        self.wake_sent = False
        self.sleeping = False

    # -- out: outcomes for the loop -------------------------------------------------------------------

    def flush(self) -> None:
        """Schedules one delivery in the loop, unless one is due already (it takes these too)."""
        if self.outbox and not self.delivery_due:
            self.delivery_due = True
            with contextlib.suppress(RuntimeError):  # the loop was closed: nobody awaits these
                self.loop.call_soon_threadsafe(self.deliver)

    def deliver(self) -> None:
        """In the event loop: resolves the futures of finished jobs (cancelled ones are skipped)."""
        self.delivery_due = False  # first: outcomes queued from now on get a delivery of their own
        outbox = self.outbox
        while outbox:
            future, value, exc = outbox.popleft()
            if future.done():
                continue
            if exc is None:
                future.set_result(value)
            else:
                future.set_exception(exc)

    # -- the end --------------------------------------------------------------------------------------

    def close_read(self) -> None:
        """The thread ended: closes the read end (put() raises ``dead`` from now on)."""
        with contextlib.suppress(OSError):
            os.close(self.rfd)

    def release(self) -> None:
        """Closes the write end of the wake-up pipe. Only once nothing can call put() any more."""
        if self.wfd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.wfd)
            self.wfd = -1
