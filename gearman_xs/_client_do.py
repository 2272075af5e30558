"""``DoPath``: the Client's ``do*()`` calls, one job submitted and waited for.

The fast path is one C call per job: ``gxs_acc_do()`` (csrc/client_acc.c) polls the connection
first (a server that closed it since the last job is seen before anything is sent), makes the
unique when none is given, adds the task to the current C client, runs one
``gearman_client_run_tasks()`` slice and collects the job's packets into a ``gxs_acc`` in C (no
Python callback per packet), and returns the result's size or an outcome code; a job that finished
within that slice never runs any other Python code but the argument checks and the lock.
``gearman_client_do()`` is never used: called again after a timeout it would submit the job again.

The slow path (``_drive()``) runs further slices until the job ends, against the call's ``Clock``:
``GearmanTimeout`` after the user's timeout without progress, an idle check of a silent foreground
job (``_client_probes.known_anywhere``), and the connection rules of ``_resend.Loss``: a
submission is repeated only when it provably never reached a server (the connect failed), or once
to the same server with the same unique (gearmand coalesces it) when the connection was lost
before any answer and that server says it holds the job running (or queued, for a background job);
otherwise ``GearmanConnectionError`` says which case it was (accepted and its result lost, unknown
to the server, or maybe queued there). ``do_background_at()`` (SUBMIT_JOB_EPOCH)
is here too: one submission, its handle as the result once JOB_CREATED came.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Dict, Optional, Tuple, Union

from . import _args, compat
from ._client_c import CONNECTION_ERRORS, NOT_DONE, CClient
from ._client_probes import PROBE_TIMEOUT_MS, known_anywhere, late_result
from ._clock import CHECK, TIMED_OUT, Clock
from ._guard import Guard
from ._libgearman import ffi, lib
from ._resend import Loss, accepted_lost, maybe_queued
from .errors import ConcurrentUseError, error_text
from .task import BACKGROUND

__all__ = ["DoPath"]

NULL = ffi.NULL
SUCCESS: int = lib.GEARMAN_SUCCESS
_TIMEOUT: int = lib.GEARMAN_TIMEOUT
_PAUSE: int = lib.GEARMAN_PAUSE
_IO_WAIT: int = lib.GEARMAN_IO_WAIT
_WORK_FAIL: int = lib.GEARMAN_WORK_FAIL
_FAILED: int = lib.GXS_DO_FAILED
_NOT_ADDED: int = lib.GXS_DO_NOT_ADDED
_CLOSED: int = lib.GXS_DO_CLOSED

_NEVER = float("inf")  # CClient.recheck_at when no server preferred over the current one pauses

#: Results up to this size (bytes) stay in the Client's C buffer until the next job frees it;
#: larger ones are freed right after they were copied into the returned bytes.
HOLD_MAX = 1 << 20

LOST_JOB = (
    "the server no longer knows this job: the worker failed it (a WORK_FAIL or WORK_EXCEPTION that "
    "libgearman 1.1.20 drops) or the server lost it"
)


class DoPath:
    """Runs ``do*()`` jobs on the Client's C client (``cc``) under its lock (``guard``)."""

    def __init__(self, guard: Guard, cc: CClient) -> None:
        self.guard = guard
        self.cc = cc
        self.live = cc.live  # add_task*() tasks in flight: do*() waits for none of them
        # the result collector (one per Client: do*() holds the lock); it keeps the last result's
        # buffer until the next job (gxs_acc_do frees it) unless that is above HOLD_MAX
        self.acc = ffi.gc(ffi.new("gxs_acc *"), lib.gxs_acc_release)
        self.fn_cache: Dict[Union[str, bytes], bytes] = {}  # function names already checked
        # UUID-shaped like libgearman's: 80 random bits, then a 48-bit counter kept in C
        r = uuid.uuid4().hex
        prefix = f"{r[:8]}-{r[8:12]}-{r[12:16]}-{r[16:20]}-".encode()
        self.acc.unique[0:lib.GXS_UNIQUE_PREFIX] = prefix

    def do(self, kind: int, function_name: Any, workload: Any, unique: Any) -> Union[bytes, str]:
        """One job of ``kind`` (priority, + BACKGROUND): its result, or its handle for a background job.

        The fast path, for a clean C client with a known connection and no paused server: the
        argument checks, the lock, one ``gxs_acc_do()`` call and the result; anything else goes
        through ``_submit()``."""
        try:
            fn = self.fn_cache[function_name]
        except (KeyError, TypeError):
            fn = self._function_name(function_name)
        # None: gxs_acc_do() makes the Client's next unique (acc.unique)
        u = NULL if unique is None else _args.unique(unique)
        if type(workload) is bytes and workload:  # the usual case, passed without a cdata wrapper
            w, n = workload, len(workload)
        else:
            w, n = _args.payload(workload)
        guard = self.guard
        if not guard.acquire(False):
            raise ConcurrentUseError(guard.what)
        try:
            if guard.closed or guard.in_callback:
                guard.enter("do").release()  # raises ClosedError or GearmanError, as every method
            if self.live:
                self.cc.raise_error(
                    lib.GEARMAN_IN_PROGRESS,
                    message="tasks of an interrupted run_tasks() are unfinished: call run_tasks() first",
                )
            cc = self.cc
            if cc.prepared and not cc.dirty and cc.fd >= 0 and (
                    cc.recheck_at == _NEVER or time.monotonic() < cc.recheck_at):
                # the preferred available server's C client, clean, its connection known
                acc = self.acc
                r = lib.gxs_acc_do(cc.c, kind, acc, fn, u, w, n, cc.fd)
                if r >= 0 and not cc.servers.pauses:
                    if kind < BACKGROUND:
                        if r > HOLD_MAX:
                            return self._result(r)
                        return ffi.unpack(acc.buf, r) if r else b""
                    if acc.handle[0] != b"\0":
                        return ffi.string(acc.handle).decode("utf-8", "surrogateescape")  # type: ignore[no-any-return]
                return self._submit(kind, fn, u, w, n, r)
            return self._submit(kind, fn, u, w, n, None)
        finally:
            guard.release()

    def _function_name(self, function_name: Any) -> bytes:
        """The checked function name; str and bytes names are kept for the next do*()."""
        fn = _args.function_name(function_name)
        if type(function_name) in (str, bytes):
            if len(self.fn_cache) >= 64:
                self.fn_cache.clear()
            self.fn_cache[function_name] = fn
        return fn

    def _result(self, size: int) -> bytes:
        """The result of ``size`` bytes in the collector; a large one's buffer is freed at once."""
        result = ffi.unpack(self.acc.buf, size) if size else b""
        if size > HOLD_MAX:
            lib.gxs_acc_release(self.acc)
        return result

    def _submit(self, kind: int, fn: bytes, u: Any, w: Any, n: int, r: Optional[int]) -> Union[bytes, str]:
        """do*() beyond the fast path (under the lock): choosing and connecting a server, a
        connection the server closed, a job not finished in one slice, failures, resubmission.
        ``r``: what do()'s own gxs_acc_do() call returned, None if it made none."""
        cc = self.cc
        clock: Optional[Clock] = None
        if r is not None:
            c = cc.c  # do() made the first attempt on the current C client
        else:
            clock = cc.clock()
            c = cc.ready(clock)
        acc = self.acc  # gxs_acc_do() clears it
        retried_same = False
        lost_message: Optional[str] = None  # why a job found lost failed
        for _ in range(cc.attempts()):
            if r is None:
                # polls an idle connection, adds the task and runs one run_tasks() slice
                r = lib.gxs_acc_do(c, kind, acc, fn, u, w, n, cc.fd)
            if r >= 0:
                break
            if r == _CLOSED:  # the server closed the idle connection: nothing was sent
                cc.dirty = True
                if clock is None:
                    clock = cc.clock()
                c = cc.ready(clock)
                r = None
                continue
            if u is NULL:  # sent (maybe): a resubmission must carry the same unique
                u = acc.unique
            if cc.fd < 0:
                cc.fd = lib.gxs_cw_take()
            if r == _FAILED:
                break
            if r == _NOT_ADDED:
                cc.raise_error(acc.rc, c)
            task = acc.task
            if clock is None:
                clock = cc.clock()
            try:
                lost, lost_message = self._drive(c, task, acc, acc.run_rc, kind >= BACKGROUND, clock)
                if acc.done and kind >= BACKGROUND:
                    h = lib.gxs_task_job_handle(task)
                    if h != NULL:
                        ffi.memmove(acc.handle, h, min(len(ffi.string(h)), len(acc.handle) - 1))
            finally:
                lib.gearman_task_free(task)
                if not acc.done:
                    cc.dirty = True  # abandoned in flight: drop the connection
            if lost == SUCCESS:
                break
            r = None  # submit again, if the rules of _resend.Loss say so
            # A connection error before any answer to the submission: sent, maybe received (the
            # protocol cannot tell) unless the connect failed. Ask the server by unique.
            unique = u if isinstance(u, bytes) else ffi.string(u)
            loss = Loss(cc, c, lost, [unique], clock, ask=not retried_same)
            if loss.send_again(unique, kind >= BACKGROUND):
                # never sent (the next server takes it), or there, running (or a queued background
                # job): the same unique again is coalesced with it (its result comes to this call)
                retried_same = retried_same or not loss.never_sent
                c = cc.ready(clock, only=loss.next_server(cc, True))
                continue
            loss.next_server(cc, False)
            cc.raise_error(lost, message=loss.message(unique))
        else:
            cc.raise_error(lib.GEARMAN_COULD_NOT_CONNECT, message=cc.no_server_text())
        assert r is not None  # the loop ends with a gxs_acc_do() outcome
        if cc.fd < 0:
            cc.fd = lib.gxs_cw_take()
        if cc.spec is not None:
            cc.servers.ok(cc.spec)
        rc = acc.rc if r < 0 else SUCCESS  # r >= 0: finished in gxs_acc_do, successfully
        if rc != SUCCESS:
            exc = bytes(ffi.unpack(acc.exc, acc.exc_size)) if acc.exc_size else b""
            failed = rc in (_WORK_FAIL, lib.GEARMAN_WORK_EXCEPTION)
            if lost_message is None and not failed:
                lost_message = error_text(c)
            cc.raise_error(rc, exception=exc, message=lost_message)
        if kind >= BACKGROUND:
            if acc.handle[0] == b"\0":  # the guard stops most of these (not a NUL-led handle)
                cc.raise_error(lib.GEARMAN_INVALID_PACKET,
                               message="the server sent JOB_CREATED with an empty job handle")
            return ffi.string(acc.handle).decode("utf-8", "surrogateescape")  # type: ignore[no-any-return]
        return self._result(r if r >= 0 else acc.size)  # -1: _drive() finished the job

    def _drive(
        self, c: Any, task: Any, acc: Any, rc: int, background: bool, clock: Clock
    ) -> Tuple[int, Optional[str]]:
        """The slow path of do*(): loops run_tasks() slices until the task is done. Returns
        (the connection error code when the connection failed before any answer, so the caller
        decides whether to submit again, else SUCCESS; the failure message of a job found lost, or
        of one whose connection broke after JOB_CREATED)."""
        cc = self.cc
        while True:
            if acc.done:
                if rc == _TIMEOUT:
                    cc.dirty = True  # finished, yet run_tasks() waited: a degraded C client
                return SUCCESS, None
            if rc == SUCCESS:
                r = lib.gearman_task_return(task)
                if r not in NOT_DONE:
                    acc.done, acc.rc = 1, r
                    continue
            elif rc == _IO_WAIT:
                lib.gxs_client_wait(c)
            elif rc in CONNECTION_ERRORS:
                cc.dirty = True
                if acc.events == 0:
                    cc.error = error_text(c)
                    return int(rc), None
                # accepted (JOB_CREATED came): never submitted again, the result is lost
                acc.done, acc.rc = 1, rc
                handle = _args.c_string(lib.gxs_task_job_handle(task))
                return SUCCESS, accepted_lost(cc.spec or b"?", handle, error_text(c))
            elif rc not in (_TIMEOUT, _PAUSE):
                acc.done, acc.rc = 1, rc
                continue
            outcome = clock.step(acc.events)
            if outcome == TIMED_OUT:
                cc.dirty = True
                cc.raise_error(_TIMEOUT, message=f"no progress within {cc.timeout} ms")
            elif outcome == CHECK and not background and compat.WORKAROUNDS["lost-work-fail"]:
                handle = _args.c_string(lib.gxs_task_job_handle(task))
                if handle is not None and known_anywhere(cc, handle.encode(), clock) is False:
                    rc = late_result(c, lambda: bool(acc.done), clock)  # its result may be on its way
                    if not acc.done and rc not in CONNECTION_ERRORS:
                        acc.done, acc.rc = 1, _WORK_FAIL
                        cc.dirty = True
                        return SUCCESS, LOST_JOB
                    continue
            rc = lib.gxs_client_run_tasks(c)

    def background_at(self, when: int, fn: bytes, unique: Optional[bytes], prio: int, w: Any, n: int) -> str:
        """do_background_at(): one SUBMIT_JOB_EPOCH; its handle once JOB_CREATED came, within the
        timeout (PROBE_TIMEOUT_MS if none is set)."""
        cc = self.cc
        with self.guard.enter("do_background_at"):
            clock = Clock(cc.timeout if cc.timeout > 0 else PROBE_TIMEOUT_MS)
            c = cc.ready(clock)
            # gearman_execute() adds the task and runs one run_tasks() slice (the C client's
            # timeout), then returns it: the rest is waited for here, in slices, on the clock.
            task = lib.gxs_execute_epoch(
                c, fn, len(fn), NULL if unique is None else unique, 0 if unique is None else len(unique),
                when, prio, w, n,
            )
            if task == NULL:
                cc.dirty = True
                rc = lib.gearman_client_error_code(c)
                if rc in CONNECTION_ERRORS:
                    cc.server_failed(rc)  # the next call takes the next server
                cc.raise_error(rc if rc != SUCCESS else lib.GEARMAN_UNKNOWN_STATE, c)
            try:
                return self._wait_created(c, task, clock)
            finally:
                lib.gearman_task_free(task)

    def _wait_created(self, c: Any, task: Any, clock: Clock) -> str:
        """Runs ``c`` in slices until the background ``task`` has its handle (JOB_CREATED)."""
        cc = self.cc
        while True:
            handle = _args.c_string(lib.gxs_task_job_handle(task))
            if handle:
                if cc.spec is not None:
                    cc.servers.ok(cc.spec)
                return handle
            rc = int(lib.gearman_task_return(task))
            if rc not in NOT_DONE:
                cc.dirty = True
                cc.raise_error(rc, c)
            if clock.step(0) == TIMED_OUT:
                cc.dirty = True
                cc.raise_error(_TIMEOUT, message=f"no JOB_CREATED within {clock.timeout} ms")
            rc = int(lib.gxs_client_run_tasks(c))
            if rc in CONNECTION_ERRORS:
                cc.server_failed(rc)
                spec = cc.spec or b"?"
                cc.raise_error(rc, message=maybe_queued(spec, error_text(c))
                               if rc != lib.GEARMAN_COULD_NOT_CONNECT else error_text(c))
            if rc not in (SUCCESS, _TIMEOUT, _IO_WAIT, _PAUSE):
                cc.dirty = True
                cc.raise_error(rc, c)
