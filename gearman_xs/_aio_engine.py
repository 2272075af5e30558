"""``Engine``: the one I/O thread of an ``AsyncClient`` (``gearman_xs.aio``), which owns its C client.

The event loop never calls libgearman for jobs. ``AsyncClient`` puts each job (an ``AioJob`` with
an asyncio future) into the engine's inbox and, when the engine sleeps, writes one byte into its
wake-up pipe (the hand-off both ways is ``_aio_mailbox.Mailbox``). The engine thread:

1. takes the inbox: submissions, cancellations, setting changes and blocking calls (``job_status``,
   ``echo``) in the order the loop made them;
2. adds every new job to its C client at once, whatever else is in flight (never two foreground
   jobs with the same unique: libgearman would never complete the second, so a duplicate waits for
   the first to end, ``Duplicates``), with a ``gxs_aio_job`` as the task's context (csrc/aio.c),
   whose C callbacks collect the job's packets and list it when it ends;
3. runs ``gearman_client_run_tasks()`` in non-blocking mode, then resolves the futures of the jobs
   on the done list, in one ``call_soon_threadsafe()`` per pass (``Mailbox.flush()``);
4. waits in ``gxs_aio_wait()``: libgearman's own wait on its connections, which the wake-up pipe
   interrupts; at most ``TICK_MS``, so that idle checks and pauses are seen.

The C client comes from ``_client_c.CClient`` like a ``Client``'s: the first available server in
the order given, the "exceptions" option sent before the first job, the connection watch. Blocking
steps (connecting, the option request, the idle probes, ``job_status``) run in this thread and never
in the event loop.

The traps of the sync API are handled here the same way: libgearman's waits and run_tasks() count
as a Client's for the packet guard (a broken connection is read to its end first, so a JOB_CREATED
or result that arrived is not lost); a connection error is handled by the rules of
``_resend.Loss``, as the Client's: acknowledged jobs end with ``GearmanConnectionError`` (the job
may still run on that server; nothing is submitted twice), unacknowledged ones are sent again only
when they provably never reached a server (the connect failed: the next server takes them) or once
to the same server with the same unique when it says it holds them running (GET_STATUS_UNIQUE;
gearmand joins the new submission to it); and a foreground job silent for a while is checked on
throw-away connections (``_aio_idle.silent_lost``): when no server knows it, its WORK_FAIL was lost
(libgearman < 2.0.0 drops the one gearmand makes of a WORK_EXCEPTION for a client without the
"exceptions" option) and it ends in ``WorkFail`` instead of waiting forever.

Cancelling a job's future abandons it: its task is kept, without its data, until the job ends (its
WORK_COMPLETE, WORK_FAIL or WORK_EXCEPTION), or until the connection is lost, and freed then; its
result is discarded. libgearman matches JOB_CREATED to tasks by their order on the connection, and
libgearman 2.0.0 gives a result packet whose task was freed to a task still waiting for its own
JOB_CREATED (an empty handle is a prefix of any), so no task is freed while its job may still send.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
import time
from typing import Any, Callable, Deque, Dict, List, Optional

from . import _args
from ._aio_idle import SCAN_EVERY, silent_lost
from ._aio_mailbox import Mailbox
from ._client_c import CONNECTION_ERRORS, NOT_DONE, CClient
from ._client_do import LOST_JOB
from ._client_probes import LOST_GRACE, PROBE_TIMEOUT_MS
from ._clock import IDLE_CHECK_FIRST, Clock
from ._libgearman import ffi, lib
from ._resend import Loss, accepted_lost
from .errors import ClosedError, GearmanError, error_for, error_from, error_text
from .task import BACKGROUND

__all__ = ["AioJob", "Engine", "POLL_HOOK", "TICK_MS"]

NULL = ffi.NULL
SUCCESS: int = lib.GEARMAN_SUCCESS
_IO_WAIT: int = lib.GEARMAN_IO_WAIT
_TIMEOUT: int = lib.GEARMAN_TIMEOUT
_PAUSE: int = lib.GEARMAN_PAUSE
_WORK_FAIL: int = lib.GEARMAN_WORK_FAIL
_WORK_EXCEPTION: int = lib.GEARMAN_WORK_EXCEPTION

#: The longest the engine waits without looking at its clocks (ms): idle checks, paused servers.
TICK_MS = 200

#: libgearman's poll() is redirected so that a submission wakes the engine (csrc/aio.c). Where
#: that is impossible, the engine waits at most FALLBACK_TICK_MS, and a new job waits up to that.
POLL_HOOK = lib.gxs_aio_install() == lib.GXS_SB_OK
FALLBACK_TICK_MS = 5

# inbox operations
_SUBMIT, _CANCEL, _CALL, _STOP = 0, 1, 2, 3


class AioJob:
    """One awaited job: what to submit, its future, and its C record once submitted."""

    __slots__ = ("busy_key", "cancelled", "fn", "future", "kind", "next_check",
                 "quiet_events", "quiet_since", "rec", "resent_same", "resubmits", "task",
                 "unique", "workload")

    def __init__(self, kind: int, fn: bytes, unique: bytes, workload: Any, future: Any) -> None:
        self.kind = kind
        self.fn = fn
        self.unique = unique
        self.workload = workload
        self.future = future
        self.cancelled = False  # set by the event loop: abandon the job
        self.rec: Any = None  # gxs_aio_job * (the C task's context) while submitted
        self.task: Any = None  # gearman_task_st * while submitted
        self.resent_same = False
        self.resubmits = 0
        self.quiet_events = 0
        self.quiet_since = 0.0
        self.next_check = IDLE_CHECK_FIRST
        key: Any = unique if unique != b"#" else (unique, workload)
        self.busy_key: Any = None if kind >= BACKGROUND else (fn, key)  # see Duplicates


class Duplicates(Dict[Any, Deque[AioJob]]):
    """Foreground jobs with the same unique (``AioJob.busy_key``) are never in flight together on
    one C client (libgearman would never complete the second): a duplicate waits, in order, for
    the one in flight. Maps each key in flight to the duplicates waiting for it."""

    def queued(self, job: AioJob) -> bool:
        """True when a job of the same key is in flight: ``job`` now waits for it."""
        waiting = self.get(job.busy_key) if job.busy_key is not None else None
        if waiting is None:
            return False
        waiting.append(job)
        return True

    def hold(self, job: AioJob) -> None:
        """``job`` is in flight now."""
        if job.busy_key is not None:
            self[job.busy_key] = collections.deque()

    def release(self, job: AioJob) -> Deque[AioJob]:
        """``job`` ended: the duplicates that waited for it, to go next in their order (the first
        becomes the one in flight)."""
        key = job.busy_key
        waiting = self.pop(key, None) if key is not None else None
        return waiting if waiting is not None else collections.deque()


class Engine:
    """The I/O thread of one AsyncClient on one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, cc: CClient) -> None:
        self.loop = loop
        self.cc = cc
        self.box = box = Mailbox(loop)
        self.put = box.put  # (any thread) an operation for the thread, which it wakes
        self.put_soon = box.put_soon  # (the loop) the same, the thread woken once per loop iteration
        self.inbox = box.inbox
        self.outbox = box.outbox
        self.rfd = box.rfd
        self.stopping = False
        self.aio = ffi.new("gxs_aio *")
        self.ret = ffi.new("gearman_return_t *")
        self.rc_ptr = ffi.new("gearman_return_t *")
        self.woke = ffi.new("int *")
        self.pending: Deque[AioJob] = collections.deque()  # to submit, in order
        self.live: Dict[int, AioJob] = {}  # key -> job whose task libgearman holds
        self.busy = Duplicates()  # the jobs waiting for one of the same unique
        self.sticky: Optional[bytes] = None  # the server unacknowledged jobs go back to
        self.next_key = 0
        self.next_scan = 0.0
        self.ended = loop.create_future()  # resolved in the loop when the thread ends
        self.thread = threading.Thread(target=self._main, name="gearman_xs.aio", daemon=True)

    # -- the event loop's side ---------------------------------------------------------------------

    def start(self) -> None:
        self.thread.start()

    @property
    def dead(self) -> Optional[BaseException]:
        """Why the thread ended (ClosedError after stop()), or None while it runs."""
        return self.box.dead

    def stop(self) -> None:
        """Asks the thread to end (any thread; it ends within one pass)."""
        if self.dead is None and self.thread.is_alive():
            with contextlib.suppress(BaseException):
                self.put(_STOP, None)

    def release(self) -> None:
        """Closes the write end of the wake-up pipe (the thread closes the read end when it ends).
        Only once nothing can call put() any more."""
        self.box.release()

    # -- the thread --------------------------------------------------------------------------------

    def _main(self) -> None:
        try:
            while not self.stopping and not self.loop.is_closed():
                self._take_inbox()
                if self.stopping:
                    break
                if self.pending:
                    self._submit_pending()
                if self.live:
                    rc = self._run(wait=True)
                    if rc == SUCCESS and self.live:  # libgearman is done, some jobs are not
                        lib.gxs_aio_wait(NULL, self.rfd, 10, self.rc_ptr)
                else:
                    self._wait()
                self.box.flush()
                now = time.monotonic()
                if self.live and now >= self.next_scan:
                    self.next_scan = now + SCAN_EVERY
                    self._idle_checks(now)
                    self.box.flush()
            self.box.dead = ClosedError("AsyncClient")
        except BaseException as exc:  # a bug or MemoryError: every job gets it, later calls too
            self.box.dead = exc
        finally:
            try:
                self._shutdown()
            finally:
                self.box.close_read()  # nothing writes to it any more: put() raises box.dead
                with contextlib.suppress(RuntimeError):  # the loop was closed
                    self.loop.call_soon_threadsafe(self._ended)

    def _ended(self) -> None:
        if not self.ended.done():
            self.ended.set_result(None)

    def _take_inbox(self) -> None:
        inbox = self.inbox
        while inbox:
            op, item = inbox.popleft()
            if op == _SUBMIT:
                self.pending.append(item)
            elif op == _CANCEL:
                self._cancel(item)
            elif op == _CALL:
                future, fn = item
                try:
                    value = fn(self.cc)
                except Exception as exc:
                    if future is not None:
                        self.outbox.append((future, None, exc))
                    else:  # a setting change that failed: Client.error() says why
                        self.cc.error = str(exc)
                else:
                    if future is not None:
                        self.outbox.append((future, value, None))
            elif op == _STOP:
                self.stopping = True
                return

    def _sleep_ms(self) -> int:
        """Marks the engine asleep (a put() then writes to the wake-up pipe) and says how long it may
        wait: 0 when work came in meanwhile."""
        self.box.asleep()
        if self.inbox or self.pending:
            return 0
        return TICK_MS if POLL_HOOK else FALLBACK_TICK_MS

    def _wait(self) -> None:
        """Nothing in flight: waits for the wake-up pipe only."""
        try:
            tick = self._sleep_ms()
            if tick:
                lib.gxs_aio_wait(NULL, self.rfd, tick, self.rc_ptr)
        finally:
            self.box.awake()

    def _resolve(self, job: AioJob, value: Any, exc: Optional[BaseException]) -> None:
        if not job.cancelled:
            self.outbox.append((job.future, value, exc))

    # -- submitting --------------------------------------------------------------------------------

    def _c(self) -> Any:
        """The C client to add a job to (CClient.ready() when nothing is in flight)."""
        cc = self.cc
        if self.live:
            return cc.c
        if self.sticky is not None:  # (every C client is made non-blocking: AsyncClient's options)
            spec, self.sticky = self.sticky, None
            c = cc.ready(cc.clock(), only=spec)
        elif cc.prepared and time.monotonic() < cc.recheck_at and cc.check_connection():
            return cc.c
        else:
            c = cc.ready(cc.clock())
        return c

    def _submit_pending(self) -> None:
        pending = self.pending
        while pending:
            job = pending.popleft()
            if job.cancelled:
                continue
            if self.busy.queued(job):
                continue
            try:
                c = self._c()
            except GearmanError as exc:
                # no server could be used: the jobs waiting with this one fail alike (each would
                # try every server again, up to the timeout each)
                self._resolve(job, None, exc)
                while pending:
                    other = pending.popleft()
                    if not other.cancelled:
                        self._resolve(other, None, error_for(exc.code, exc.message))
                return
            rec = ffi.new("gxs_aio_job *")
            self.next_key += 1
            rec.key = self.next_key
            w = job.workload
            task = lib.gxs_aio_add(c, self.aio, rec, job.kind, job.fn, job.unique,
                                   w if w else NULL, len(w), self.ret)
            if task == NULL:
                self._resolve(job, None, error_from(self.ret[0], c))
                continue
            job.rec, job.task = rec, task
            job.quiet_since = time.monotonic()
            job.quiet_events = 0
            job.next_check = IDLE_CHECK_FIRST
            self.live[self.next_key] = job
            self.busy.hold(job)

    def _free(self, job: AioJob) -> None:
        """Frees the job's task and buffers; the next duplicate of its unique may go."""
        rec = job.rec
        if job.task is not None:
            lib.gearman_task_free(job.task)
            job.task = None
        if rec is not None:
            self.live.pop(rec.key, None)
            lib.gxs_acc_release(ffi.addressof(rec, "acc"))
            job.rec = None
        self.pending.extendleft(reversed(self.busy.release(job)))

    def _cancel(self, job: AioJob) -> None:
        job.cancelled = True
        rec = job.rec
        if rec is None:
            return  # not submitted: skipped when its turn comes
        if rec.acc.done:
            self._free(job)
        else:
            # kept until its end: libgearman 2.0.0 can hand a packet for a freed task to a task
            # still waiting for its JOB_CREATED (one with an empty handle matches any handle)
            rec.abandoned = 1

    # -- running -------------------------------------------------------------------------------

    def _run(self, wait: bool = False) -> int:
        """One pass of libgearman (gxs_aio_step): with ``wait``, it waits for the network until a
        job ends, the event loop wakes it or a tick passed."""
        cc = self.cc
        c = cc.c
        if wait:
            try:
                rc = int(lib.gxs_aio_step(c, self.aio, self.rfd, self._sleep_ms(), self.woke))
            finally:
                self.box.awake()
        else:
            rc = int(lib.gxs_aio_step(c, self.aio, -1, 0, self.woke))
        if cc.fd < 0:
            cc.fd = lib.gxs_cw_take()
        self._collect()
        if rc == SUCCESS:
            if self.live:
                self._settle(c)
        elif rc in CONNECTION_ERRORS:
            self._connection_lost(c, rc)
        elif rc not in (_IO_WAIT, _TIMEOUT, _PAUSE):
            self._server_error(c, rc)
        return rc

    def _collect(self) -> None:
        """Resolves the jobs on the done list (csrc/aio.c) and frees their tasks."""
        aio = self.aio
        n = aio.n_done
        if aio.nomem:
            aio.nomem = 0
            for job in list(self.live.values()):
                if job.rec.acc.done:
                    self._finish(job)
        if not n:
            return
        done = aio.done
        live = self.live
        finished = [live.get(done[i].key) for i in range(n)]
        aio.n_done = 0
        for one in finished:
            if one is not None:
                self._finish(one)

    def _finish(self, job: AioJob) -> None:
        rec = job.rec
        acc = rec.acc
        if job.cancelled or not acc.done:
            self._free(job)
            return
        rc = acc.rc
        value: Any = None
        exc: Optional[BaseException] = None
        if rc == SUCCESS:
            if job.kind >= BACKGROUND:
                value = _args.c_string(lib.gxs_task_job_handle(job.task))
                if value is None:
                    exc = error_for(lib.GEARMAN_INVALID_PACKET,
                                    "the server sent JOB_CREATED with an empty job handle")
            else:
                value = ffi.unpack(acc.buf, acc.size) if acc.size else b""
        else:
            payload = bytes(ffi.unpack(acc.exc, acc.exc_size)) if acc.exc_size else b""
            message = None if rc in (_WORK_FAIL, _WORK_EXCEPTION) else error_text(self.cc.c)
            exc = error_for(rc, message, payload)
        self._free(job)
        if self.cc.spec is not None:
            self.cc.servers.ok(self.cc.spec)
        self._resolve(job, value, exc)

    def _settle(self, c: Any) -> None:
        """run_tasks() said every task ended: end the jobs libgearman ended without a callback."""
        for job in list(self.live.values()):
            r = int(lib.gearman_task_return(job.task))
            if r not in NOT_DONE:
                if not job.rec.acc.done:
                    job.rec.acc.done, job.rec.acc.rc = 1, r
                self._finish(job)

    def _server_error(self, c: Any, rc: int) -> None:
        """run_tasks() failed with a code that names no job (a server's ERROR packet answers a
        submission): the jobs not acknowledged yet end with it (they may be queued there)."""
        text = error_text(c)
        for job in list(self.live.values()):
            if not job.rec.created and not job.rec.acc.done and not job.cancelled:
                self._resolve(job, None, error_for(rc, text))
                job.cancelled = True
                job.rec.abandoned = 1

    def _connection_lost(self, c: Any, rc: int) -> None:
        """The connection failed: every task on it is gone (the C client is replaced before the
        next job). By the rules of ``_resend.Loss``: acknowledged jobs end with the error;
        unacknowledged ones are sent again when the rules say so, the others end too."""
        cc = self.cc
        jobs = list(self.live.values())
        unacked = [job.unique for job in jobs if not job.rec.created and not job.rec.acc.done
                   and not job.cancelled and not job.resent_same]
        loss = Loss(cc, c, rc, unacked, Clock(cc.timeout if cc.timeout > 0 else PROBE_TIMEOUT_MS))
        limit = cc.attempts()
        again: List[AioJob] = []
        for job in jobs:
            rec = job.rec
            created, done = bool(rec.created), bool(rec.acc.done)
            cancelled = job.cancelled
            h = lib.gxs_task_job_handle(job.task)
            handle = ffi.string(h).decode("utf-8", "replace") if h != NULL else ""
            self._free(job)
            if cancelled or done:
                continue
            if created:
                self._resolve(job, None, error_for(rc, accepted_lost(loss.spec or b"?", handle, loss.text)))
                continue
            if job.resubmits >= limit:
                self._resolve(job, None, error_for(rc, loss.text))
                continue
            if loss.send_again(job.unique, job.kind >= BACKGROUND, job.resent_same):
                job.resent_same = job.resent_same or not loss.never_sent
                job.resubmits += 1
                again.append(job)
                continue
            self._resolve(job, None, error_for(rc, loss.message(job.unique)))
        self.sticky = loss.next_server(cc, bool(again))
        self.pending.extendleft(reversed(again))

    # -- idle checks ---------------------------------------------------------------------------

    def _idle_checks(self, now: float) -> None:
        """Ends in WorkFail the silent foreground jobs no server knows any more (``_aio_idle``)."""
        lost = silent_lost(self.cc, self.live.values(), now)
        if not lost:
            return
        self._drain(lost)  # a result that arrives meanwhile wins (gearmand forgets a finished job)
        for job in lost:
            if job.rec is not None and not job.rec.acc.done and not job.cancelled:
                self.cc.dirty = True
                self._resolve(job, None, error_for(_WORK_FAIL, LOST_JOB))
                self._free(job)

    def _drain(self, lost: List[AioJob]) -> None:
        """Reads what arrives for the ``lost`` jobs for up to LOST_GRACE s: gearmand forgets a job
        right after it queued its WORK_COMPLETE for this connection, and the status answer on a
        throw-away connection can come first (run_tasks() in non-blocking mode reads only what a
        wait found ready)."""
        end = time.monotonic() + LOST_GRACE
        while self.live and time.monotonic() < end:
            if all(job.rec is None or job.rec.acc.done for job in lost):
                return
            lib.gxs_aio_wait(self.cc.c, -1, 20, self.rc_ptr)
            if self.rc_ptr[0] not in (_TIMEOUT, lib.GEARMAN_NO_ACTIVE_FDS):
                self._run()

    # -- the end ---------------------------------------------------------------------------------

    def _shutdown(self) -> None:
        """Every job still here ends with the reason (ClosedError after close()); the C client is freed."""
        reason = self.dead or ClosedError("AsyncClient")
        jobs = list(self.live.values()) + list(self.pending)
        for waiting in self.busy.values():
            jobs.extend(waiting)
        for op, item in self.inbox:
            if op == _SUBMIT:
                jobs.append(item)
            elif op == _CALL and item[0] is not None:
                self.outbox.append((item[0], None, reason))
        self.inbox.clear()
        for job in jobs:
            self._resolve(job, None, reason)
            if job.rec is not None:
                lib.gxs_acc_release(ffi.addressof(job.rec, "acc"))
                job.rec = job.task = None
        self.live.clear()
        self.pending.clear()
        self.busy.clear()
        self.cc.free()
        self.cc.dirty = True  # a later engine (on another event loop) builds a new C client
        self.cc.prepared = False
        self.cc.fd = -1
        lib.gxs_aio_release(self.aio)
        self.box.flush()


def configure(engine: Optional[Engine], cc: CClient, change: Callable[[CClient], Any]) -> None:
    """Applies a setting change: in the engine's thread (in order with the jobs) once it runs."""
    if engine is None:
        change(cc)
    else:
        engine.put(_CALL, (None, change))
