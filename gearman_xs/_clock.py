"""The clocks of blocking calls: a Client call's timeout and idle checks, a Worker's back-off.

A ``Clock`` starts when a call starts and is shared by every phase of it (choosing and connecting
to a server, the "exceptions" option negotiation, submitting, waiting, the idle probes), so that
``set_timeout(T)`` bounds the whole call as libgearman means it: T ms without progress (any packet
from the server counts as progress and restarts the count). Every wait in those phases is cut into
slices of at most ``SLICE_MS`` (Ctrl-C is handled between slices) and asks the clock how long it
may still take (``remaining()`` / ``limit_ms()``).

The idle checks of foreground jobs come after ``IDLE_CHECK_FIRST`` s without an event, then at
doubling intervals up to ``IDLE_CHECK_MAX`` s.

A Worker slices its waits too (``gearman_xs.worker.SLICE_MS``), against a plain deadline: the
user's timeout counted from the start of ``work()``, ``grab_job()`` or ``wait()`` (``ms_left()``).
A pass that lost its connection or got a bad packet makes the Worker's next pass wait
(``Backoff``): ``BACKOFF_FIRST`` s, doubling up to ``BACKOFF_MAX`` s, so that a server which keeps
closing on the worker is not reconnected in a loop; a good pass clears it.
"""

from __future__ import annotations

import math
import time
from typing import Optional

__all__ = ["BACKOFF_FIRST", "BACKOFF_MAX", "CHECK", "Backoff", "Clock", "IDLE_CHECK_FIRST",
           "IDLE_CHECK_MAX", "QUIET", "SLICE_MS", "TIMED_OUT", "ms_left"]

#: libgearman's poll timeout inside every blocking call (ms): the Ctrl-C latency bound.
SLICE_MS = 100
#: First idle check of a foreground job (s) and the longest interval between two checks.
IDLE_CHECK_FIRST = 1.0
IDLE_CHECK_MAX = 8.0
#: A Worker's pause after its first failed pass (s), and the longest (``worker.MAX_BACKOFF``).
BACKOFF_FIRST = 0.05
BACKOFF_MAX = 1.0

# step() outcomes
QUIET, TIMED_OUT, CHECK = 0, 1, 2


class Clock:
    """Time without progress of one call, against a timeout in ms (-1 or 0: none)."""

    __slots__ = ("events", "interval", "last", "next_check", "timeout")

    def __init__(self, timeout_ms: int, events: int = 0) -> None:
        self.timeout = timeout_ms
        self.events = events
        self.last = time.monotonic()
        self.interval = IDLE_CHECK_FIRST
        self.next_check = self.last + self.interval

    def restart(self, events: int) -> None:
        """Progress (``events`` is the new event count): the timeout and idle checks count anew."""
        now = time.monotonic()
        self.events, self.last = events, now
        self.interval = IDLE_CHECK_FIRST
        self.next_check = now + self.interval

    def remaining(self) -> Optional[float]:
        """Seconds left before the timeout (never below 0), None without a timeout."""
        if self.timeout <= 0:
            return None
        return max(0.0, self.last + self.timeout / 1000 - time.monotonic())

    def expired(self) -> bool:
        left = self.remaining()
        return left is not None and left <= 0

    def limit(self, cap: float) -> float:
        """The longest a blocking step may take now (s): ``cap``, or less when the timeout is nearer."""
        left = self.remaining()
        return cap if left is None else min(cap, left)

    def limit_ms(self, cap_ms: int) -> int:
        """limit() in whole ms, at least 1 (libgearman fails a call at once with a 0 timeout)."""
        return max(1, int(self.limit(cap_ms / 1000) * 1000))

    def step(self, events: int) -> int:
        """After a slice: TIMED_OUT when the timeout passed without an event, CHECK when an idle
        check is due (the next one is scheduled), else QUIET."""
        now = time.monotonic()
        if events != self.events:
            self.restart(events)
            return QUIET
        if self.timeout > 0 and (now - self.last) * 1000 >= self.timeout:
            return TIMED_OUT
        if now >= self.next_check:
            self.interval = min(self.interval * 2, IDLE_CHECK_MAX)
            self.next_check = now + self.interval
            return CHECK
        return QUIET


def ms_left(deadline: float) -> int:
    """Whole milliseconds until ``deadline`` (a ``time.monotonic()`` value), rounded up; negative
    once it has passed."""
    return math.ceil((deadline - time.monotonic()) * 1000)


class Backoff:
    """A Worker's pause between passes after failures: ``pause`` (s; 0 after a good pass) and
    ``retry_at``, the ``time.monotonic()`` before which no new pass starts (0.0: none pending)."""

    __slots__ = ("pause", "retry_at")

    def __init__(self) -> None:
        self.pause = 0.0
        self.retry_at = 0.0

    def failed(self) -> None:
        """A pass failed: the next one waits ``BACKOFF_FIRST`` s, twice the last pause after
        further failures, at most ``BACKOFF_MAX`` s."""
        self.pause = min(BACKOFF_MAX, max(BACKOFF_FIRST, self.pause * 2))
        self.retry_at = time.monotonic() + self.pause
