"""``JobLoop``: a Worker's passes over ``gearman_worker_work()`` and ``gearman_worker_grab_job()``.

libgearman waits in ``poll()`` and swallows EINTR, so every pass is cut into slices of
``SLICE_MS`` (the C worker's poll timeout, ``_worker_c.py``); between slices the loop sees
``stop()`` (``stop``), signals (Ctrl-C), the user's timeout (a deadline, ``_clock.ms_left()``) and
the exception a callback left (``Calls.raise_pending()``). This module owns what one pass returns
and how the next one starts:

* ``work()``: one job run (``RAN``), ``STOPPED``, or ``IDLE`` (non-blocking, nothing to do), or an
  exception; the job itself is run by ``_worker_call.py`` inside ``gearman_worker_work()``;
* ``run()``: work() until a count, stop() or a signal, retrying while every server is down;
* ``wait()`` (non-blocking mode) and ``grab()`` (``grab_job()``, with the NO_JOBS clone of
  ``CWorker.after_grab()``);
* what counts as a lost connection (``errors.CONNECTION_CODES``, and a poll that ended long before
  its timeout: the server closed the connection), a bad packet (``PROTOCOL_CODES``) or a shutdown,
  and the back-off after such a pass (``_clock.Backoff``): the next pass waits;
* the reply wait of the packet guard (``net_guard``) for this thread's libgearman calls
  (``reply_wait()``); a pass of ``work()`` sets it in the same C call, ``gxs_worker_work()``.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Optional

from ._clock import BACKOFF_FIRST, Backoff, ms_left
from ._grabbed import GrabbedJobs
from ._libgearman import ffi, lib
from ._worker_c import SLICE_MS, CWorker
from ._worker_call import Calls, entry_errors
from .errors import CONNECTION_CODES, GearmanConnectionError, GearmanError, error_for, error_from
from .job import Job

__all__ = ["IDLE", "PROTOCOL_CODES", "RAN", "REPLY_WAIT_MS", "STOPPED", "JobLoop", "reply_wait"]

log = logging.getLogger("gearman_xs")

#: How long a reply the worker is receiving may stall before the connection is dropped (ms); see
#: net_guard (libgearman 1.1.20 crashes when its poll times out inside a reply).
REPLY_WAIT_MS = 5000

_NULL = ffi.NULL
_work = lib.gxs_worker_work
_run = lib.gxs_worker_run
_CLOSED_EARLY = lib.GXS_WORK_CLOSED_EARLY
_SUCCESS = lib.GEARMAN_SUCCESS
_TIMEOUT = lib.GEARMAN_TIMEOUT
_LOST = lib.GEARMAN_LOST_CONNECTION
_NO_JOB_CODES = frozenset({lib.GEARMAN_IO_WAIT, lib.GEARMAN_NO_JOBS})
_SHUTDOWN_CODES = frozenset({lib.GEARMAN_SHUTDOWN, lib.GEARMAN_SHUTDOWN_GRACEFUL})
#: A server that sent something libgearman could not use (the connection is closed after it).
PROTOCOL_CODES = frozenset({lib.GEARMAN_INVALID_MAGIC, lib.GEARMAN_INVALID_COMMAND,
                            lib.GEARMAN_INVALID_PACKET, lib.GEARMAN_UNEXPECTED_PACKET,
                            lib.GEARMAN_TOO_MANY_ARGS, lib.GEARMAN_MEMORY_ALLOCATION_FAILURE})

# work() outcomes
RAN, STOPPED, IDLE = 1, 0, -1


class JobLoop:
    """The passes of one Worker over its C worker ``c``, its functions' ``calls`` and its grabbed
    ``jobs``; ``stop`` is set by ``request_stop()`` (``Worker.stop()``: any thread, or a signal
    handler) and consumed by the pass it ends (``_took_stop()``). Used under the Worker's lock only."""

    __slots__ = ("backoff", "c", "calls", "done", "jobs", "ran", "stop")

    def __init__(self, c: CWorker, calls: Calls, jobs: GrabbedJobs) -> None:
        self.c = c
        self.calls = calls
        self.jobs = jobs
        self.stop = False
        self.backoff = Backoff()
        self.ran = 0  # the jobs run by the last work() call (run() lets one call run many)
        self.done: Any = ffi.new("uint64_t *")  # gxs_worker_run()'s count

    def request_stop(self) -> None:
        """stop(): the next pass returns STOPPED, and run()'s C loop ends after its current job.
        ``stop`` first: a pass that takes it clears ``calls.halt`` after it (see _took_stop())."""
        self.stop = True
        self.calls.halt[0] = 1

    def _took_stop(self) -> bool:
        """Consumes a requested stop (True), or False when there is none."""
        if not self.stop:
            return False
        self.stop = False
        self.calls.halt[0] = 0
        return True

    # -- work ------------------------------------------------------------------------------------

    def work(self, deadline: Optional[float], budget: Optional[int] = None) -> int:
        """Passes until a job ran (RAN), stop() (STOPPED) or, non-blocking, nothing to do (IDLE).
        Raises GearmanTimeout at ``deadline``, the connection error after the third lost
        connection in a row, and what a callback left pending. Each pass is one C call,
        ``gxs_worker_work()``: the packet guard's reply wait on for ``gearman_worker_work()`` and
        off after it (see ``reply_wait()``). With a ``budget`` (run(): at most that many jobs, 0 for
        no limit) a pass is ``gxs_worker_run()``, which goes on to the next job in C while passes
        run jobs and no stop is asked for; ``ran`` then counts the jobs (the caller zeroes it)."""
        c = self.c
        ptr = c.ptr
        calls = self.calls
        backoff = self.backoff
        c.fresh_clone = False
        if self.jobs.orphans:
            self.jobs.release_orphans()
        lost = 0
        calls.slicing = True
        calls.timeout_line = None
        wait = reply_wait(deadline)
        first = 1  # the first pass forgets the guard's last reason (a new call)
        batch = budget is not None
        ran = False
        try:
            while True:
                if self.stop and self._took_stop():
                    return STOPPED
                if backoff.retry_at and not self._wait_retry(deadline):
                    return STOPPED
                if deadline is not None:
                    c.set_c_timeout(max(0, min(SLICE_MS, ms_left(deadline))))
                elif c.c_timeout != SLICE_MS:
                    c.set_c_timeout(SLICE_MS)
                count = calls.count
                if batch:
                    rc = _run(ptr, wait, first, budget, calls.halt, self.done)
                    n = self.done[0]
                    if n:  # jobs ran before the pass that ended the C loop
                        self.ran += n
                        if budget:  # 0: no limit
                            budget -= n
                        backoff.pause = 0.0
                        c.dirty = True
                else:
                    rc = _work(ptr, wait, first)
                    n = 0
                first = 0
                if rc == _SUCCESS:  # the C call ended the reply wait and forgot the reason
                    ran = True
                    backoff.pause = 0.0
                    c.dirty = True
                    if c.id_stale:
                        c.resend_identifier()
                    if calls.pending is not None or entry_errors:
                        calls.raise_pending()
                    return RAN
                if calls.count - count != n:
                    # The function ran and the job failed (WORK_FAIL) or its result could not be
                    # sent: libgearman answers the job on the next call, without grabbing another.
                    calls.failed = True
                    c.dirty = True
                    self._flush(ptr, wait)
                    self.ran += 1
                    calls.raise_pending()
                    return RAN
                if rc == _CLOSED_EARLY:
                    # A GEARMAN_TIMEOUT long before the poll timeout: libgearman gave up without
                    # waiting, because the server closed the connection (after CAN_DO/GRAB_JOB).
                    # Reconnecting at once would hammer it: back off.
                    backoff.failed()
                    c.id_stale = True
                    lost += 1
                    if lost < 3:
                        continue
                    calls.raise_pending()
                    raise error_for(_LOST, "the server closed the connection")
                if rc == _TIMEOUT:
                    backoff.pause = 0.0
                    c.dirty = False
                    if c.id_stale:
                        c.resend_identifier()
                    calls.raise_pending()
                    if deadline is not None and time.monotonic() >= deadline:
                        raise self._timed_out("no job within the worker's timeout")
                    continue
                if rc in _NO_JOB_CODES:
                    calls.raise_pending()
                    return IDLE
                if rc in CONNECTION_CODES:
                    backoff.failed()
                    c.id_stale = True
                    lost += 1
                    if rc == _LOST and lost < 3:
                        continue  # libgearman reconnects on the next pass
                    calls.raise_pending()
                    raise error_from(rc, ptr)
                if rc in _SHUTDOWN_CODES:
                    return STOPPED
                if rc in PROTOCOL_CODES:
                    backoff.failed()
                    c.id_stale = True
                calls.raise_pending()
                raise error_from(rc, ptr)
        finally:
            calls.slicing = False
            if not ran:
                lib.gxs_ng_set_wait(0)  # as gxs_worker_work() after a job, for the other exits

    def _closed_early(self, rc: int, started: float) -> bool:
        """A GEARMAN_TIMEOUT long before the poll timeout: libgearman did not wait, because the
        server closed the connection."""
        c_timeout = self.c.c_timeout
        return rc == _TIMEOUT and c_timeout >= 20 and (time.monotonic() - started < c_timeout / 2000.0)

    def _wait_retry(self, deadline: Optional[float]) -> bool:
        """Sleeps until the back-off ends; False if stop() was called. Raises GearmanTimeout when
        the deadline comes first, and lets KeyboardInterrupt through (short sleeps)."""
        backoff = self.backoff
        while True:
            if self._took_stop():
                return False
            now = time.monotonic()
            if now >= backoff.retry_at:
                backoff.retry_at = 0.0
                return True
            if deadline is not None and now >= deadline:
                raise self._timed_out("no job within the worker's timeout (a server failed; backing off)")
            end = backoff.retry_at if deadline is None else min(backoff.retry_at, deadline)
            time.sleep(min(end - now, 0.05))

    def _timed_out(self, message: str) -> GearmanError:
        """GearmanTimeout for the user's timeout, after its one log line (Calls.timed_out())."""
        return self.calls.timed_out(self.c.log_handle, self.c.log_verbose, message)

    def _flush(self, ptr: Any, wait: int) -> None:
        rc = _SUCCESS
        for _ in range(3):
            rc = _work(ptr, wait, 0)
            if rc == _SUCCESS:
                return
        log.error("gearman_xs: could not answer a failed job: %s", error_from(rc, ptr))

    # -- run -------------------------------------------------------------------------------------

    def run(self, count: Optional[int]) -> int:
        """work() until ``count`` jobs ran (None: no limit) or stop(); returns the number run.
        Connection and protocol errors are logged once and retried after the back-off. Each
        work() call may run many jobs (its budget: the jobs still to run), passing from one to the
        next in C (``gxs_worker_run()``)."""
        done = 0
        failing = False
        while count is None or done < count:
            self.ran = 0
            try:
                outcome = self.work(None, 0 if count is None else count - done)
            except GearmanError as exc:
                done += self.ran
                if not isinstance(exc, GearmanConnectionError) and exc.code not in PROTOCOL_CODES:
                    raise
                if not failing:
                    log.warning("gearman_xs: no usable job server (%s); retrying with back-off", exc)
                failing = True
                if not self.backoff.retry_at:
                    self.backoff.failed()
                continue  # the next pass waits for the back-off (_wait_retry)
            done += self.ran
            if outcome == STOPPED:
                break
            if outcome == IDLE:  # non-blocking mode: wait for activity
                rc = lib.gearman_worker_wait(self.c.ptr)
                if rc not in (_SUCCESS, _TIMEOUT) and self._nap(BACKOFF_FIRST):
                    break
                continue
            if failing:
                log.info("gearman_xs: job server reachable again")
            failing = False
        return done

    def _nap(self, seconds: float) -> bool:
        """Sleeps up to ``seconds``; True (and the stop consumed) if stop() was called."""
        end = time.monotonic() + seconds
        while True:
            if self._took_stop():
                return True
            left = end - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(left, 0.05))

    # -- wait and grab ---------------------------------------------------------------------------

    def wait(self, deadline: Optional[float]) -> None:
        """Non-blocking mode: until a server has something, stop() or (GearmanTimeout) ``deadline``."""
        c = self.c
        ptr = c.ptr
        calls = self.calls
        try:
            calls.slicing = True
            calls.timeout_line = None
            while True:
                if self._took_stop():
                    return
                if deadline is not None:
                    c.set_c_timeout(max(0, min(SLICE_MS, ms_left(deadline))))
                if c.fresh_clone:
                    # After a non-blocking grab_job()'s NO_JOBS the worker is a fresh clone with no
                    # connection (see grab_job()): nothing can wake it, so wait one slice and let
                    # the next grab_job() ask the servers again.
                    c.fresh_clone = False
                    wake = time.monotonic() + SLICE_MS / 1000.0
                    if deadline is not None and deadline < wake:
                        if self._nap(max(0.0, deadline - time.monotonic())):
                            return
                        raise self._timed_out("nothing within the worker's timeout")
                    self._nap(SLICE_MS / 1000.0)
                    return
                rc = lib.gearman_worker_wait(ptr)
                if rc == _TIMEOUT:
                    calls.raise_pending()
                    if deadline is not None and time.monotonic() >= deadline:
                        raise self._timed_out("nothing within the worker's timeout")
                    continue
                calls.check(rc, ptr)
                return
        finally:
            calls.slicing = False

    def grab(self, deadline: Callable[[], Optional[float]]) -> Optional[Job]:
        """One GRAB_JOB: the Job (owned by ``jobs``), or None (no job, or stop() during the
        back-off). ``deadline()`` gives the deadline of the user's timeout counted from now: for
        the back-off, then again for the reply."""
        c = self.c
        ptr = c.ptr
        calls = self.calls
        if self.jobs.orphans:
            self.jobs.release_orphans()
        if self.backoff.retry_at and not self._wait_retry(deadline()):
            return None
        rc_ptr = ffi.new("gearman_return_t *")
        calls.slicing = True
        started = time.monotonic()
        lib.gxs_ng_set_wait(reply_wait(deadline()))  # a Worker's call (see reply_wait())
        try:
            job_ptr = lib.gearman_worker_grab_job(ptr, _NULL, rc_ptr)
        finally:
            calls.slicing = False
            lib.gxs_ng_wait_only(0)  # the guard's reason stays for error_from() below
        rc = rc_ptr[0]
        c.fresh_clone = False
        if rc in CONNECTION_CODES or rc in PROTOCOL_CODES or self._closed_early(rc, started):
            self.backoff.failed()
        else:
            self.backoff.pause = 0.0
        if rc == _SUCCESS and job_ptr != _NULL:
            c.dirty = True
            if c.id_stale:
                c.resend_identifier()
            job = self.jobs.add(Job._grabbed(job_ptr, self.jobs, ptr))
            calls.raise_pending()
            return job
        c.after_grab(rc)  # the NO_JOBS clone
        if rc in CONNECTION_CODES:
            c.id_stale = True
        calls.raise_pending()
        if rc in _NO_JOB_CODES or rc == _TIMEOUT:
            return None
        raise error_from(rc, ptr)


def reply_wait(deadline: Optional[float]) -> int:
    """How long the packet guard waits inside recv() for a reply the worker is receiving (ms):
    ``REPLY_WAIT_MS``, and never past ``deadline``. Waiting there instead of letting libgearman's
    poll time out inside a reply keeps libgearman 1.1.20 from crashing (see net_guard)."""
    if deadline is None:
        return REPLY_WAIT_MS
    return max(1, min(REPLY_WAIT_MS, ms_left(deadline) + 50))

