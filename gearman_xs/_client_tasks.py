"""``TaskRunner``: the Client's ``add_task*()`` tasks and ``run_tasks()``, with the callbacks.

Tasks wait in ``pending`` until ``run_tasks()``, which hands them to libgearman in rounds that never
hold two tasks with the same unique (libgearman never completes the second one) and runs
``gearman_client_run_tasks()`` slices until every task ended, against the call's ``Clock``.
libgearman reports each packet through the ``gxs_task_*`` externs (``_task_callbacks.py``), which
call ``on_event()`` here with the ``Task`` (the C task's context is an ``ffi.new_handle`` of it):
the event is recorded on the Task, then the user's callback runs. A callback's exception pauses
libgearman (GEARMAN_PAUSE) and propagates out of ``run_tasks()``; the event is not delivered twice
when run_tasks() resumes. A callback that returns an int other than GEARMAN_SUCCESS stops
``run_tasks()`` as libgearman's callbacks do (Gearman::XS ports rely on it): run_tasks() raises the
exception for that code, and libgearman calls the same callback again for the same event when
run_tasks() resumes (the event is recorded once). Finished C tasks are freed at once (``reap()``),
never from inside a callback.

On a connection error, acknowledged tasks end with what libgearman says; unacknowledged ones are
submitted again only as the rules of ``_resend.Loss`` say (they provably never reached a server,
or once to the same server, which holds them: the same unique is coalesced). A silent foreground
task is checked with the throw-away probes (``_client_probes.known_anywhere``) and ends in
WORK_FAIL when no server knows it any more.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

from . import _args, compat
from ._client_c import CONNECT_CHECK, CONNECTION_ERRORS, NOT_DONE, CClient
from ._client_do import LOST_JOB
from ._client_probes import known_anywhere, late_result
from ._clock import CHECK, TIMED_OUT, Clock
from ._guard import Guard
from ._libgearman import ffi, lib
from ._resend import Loss
from ._servers import reachable
from ._task_callbacks import take_entry_error
from .errors import GearmanError, error_for, error_text, strerror
from .task import BACKGROUND, STATUS, Task

__all__ = ["CALLBACK_KINDS", "Callback", "TaskRunner"]

NULL = ffi.NULL
SUCCESS: int = lib.GEARMAN_SUCCESS
_TIMEOUT: int = lib.GEARMAN_TIMEOUT
_PAUSE: int = lib.GEARMAN_PAUSE
_IO_WAIT: int = lib.GEARMAN_IO_WAIT

CALLBACK_KINDS = ("created", "data", "warning", "status", "complete", "exception", "fail")

Callback = Callable[[Task], Any]


class TaskRunner:
    """The tasks of one Client: ``pending`` (not handed over yet), ``live`` (held by libgearman on
    the C client, shared with ``cc``), finished ones awaiting their C task's release."""

    def __init__(self, guard: Guard, cc: CClient) -> None:
        self.guard = guard
        self.cc = cc
        self.callbacks: Dict[str, Optional[Callback]] = dict.fromkeys(CALLBACK_KINDS)
        self.pending: List[Task] = []
        self.live = cc.live
        self.finished: List[Task] = []
        self.events = 0  # task events seen: progress for the clock
        self.pending_exc: Optional[BaseException] = None  # a callback's, raised after its event
        self.skip: Optional[Tuple[Task, str]] = None  # that event, re-delivered after the PAUSE
        self.again: Optional[Tuple[Task, str]] = None  # an event whose callback returned a code
        self.batch: Any = None  # the open Client.map()/as_completed() batch (_client_batch.Batch)
        self.stop: Optional[Callable[[], bool]] = None  # run(stop=): return early when it says so
        self.nb_progress: Optional[Clock] = None  # the clock across non-blocking run_tasks()
        self.resubmits = 0
        self.retried_same = False  # unacknowledged tasks were sent again once
        self.sticky: Optional[bytes] = None  # the server to send them again to
        self.ret = ffi.new("gearman_return_t *")

    def add(self, task: Task) -> Task:
        self.pending.append(task)
        return task

    def close(self) -> None:
        """Client.close(): unfinished tasks are abandoned (their Tasks keep what they received)."""
        for task in list(self.live.values()):
            _detach(task)
        self.live.clear()
        self.pending.clear()

    # -- run_tasks() -------------------------------------------------------------------------------

    def run(self, stop: Optional[Callable[[], bool]] = None, limit_ms: int = -1) -> bool:
        """Client.run_tasks(), under the lock: True when every task ended, False (non-blocking
        mode) while some are unfinished. A batch (``_client_batch``) passes ``stop``, asked after
        each slice and at each of its tasks' events (libgearman is paused there): False as soon as
        it says True; and ``limit_ms``, a cap on the Client's timeout (its deadline)."""
        guard = self.guard
        guard.in_callback = True
        self.resubmits = 0
        self.retried_same = False
        timeout = self.cc.timeout
        if limit_ms > 0 and (timeout <= 0 or limit_ms < timeout):
            timeout = limit_ms
        clock = self.nb_progress or Clock(timeout, self.events)
        clock.timeout = timeout  # set_timeout() between non-blocking calls applies
        self.stop = stop
        try:
            while True:
                if not self.live:
                    if not self.pending:
                        self.nb_progress = None
                        return True
                    if stop is not None and stop():
                        return False
                    only, self.sticky = self.sticky, None
                    c = self.cc.ready(clock, only)
                    for task in self._next_round():
                        self._submit(c, task)
                    if not self.live:
                        continue
                if not self._drive_live(clock):
                    return False
        finally:
            self.stop = None
            guard.in_callback = False
            self.reap()

    def abandon(self) -> None:
        """Forgets every unfinished task (a batch that timed out or was left early; only its
        tasks are in the runner then): pending ones are never sent; the C client holding live
        ones is replaced, freeing them with it (libgearman may be paused inside one of them).
        Their jobs are not sent again anywhere: a job already submitted runs on, unwatched."""
        self.pending.clear()
        if self.live or self.finished:
            for task in [*self.live.values(), *self.finished]:
                _detach(task)
            self.live.clear()
            self.finished.clear()
            self.skip = self.again = None
            self.nb_progress = None
            self.cc.replace(self.cc.spec)
        self.pending_exc = None

    def _next_round(self) -> List[Task]:
        seen = set()
        now: List[Task] = []
        later: List[Task] = []
        for task in self.pending:
            key: Any = task._unique
            if key == b"#":
                key = (b"#", bytes(task._workload), task._function_name)
            if key is None or key not in seen:
                if key is not None:
                    seen.add(key)
                now.append(task)
            else:
                later.append(task)
        self.pending = later
        return now

    def _submit(self, c: Any, task: Task) -> None:
        handle = ffi.new_handle(task)
        if task._kind == STATUS:
            assert task._job_handle is not None
            ct = lib.gearman_client_add_task_status(
                c, NULL, handle, task._job_handle.encode("utf-8", "surrogateescape"), self.ret
            )
        else:
            w, n = _args.payload(task._workload)
            u = NULL if task._unique is None else task._unique
            ct = lib.gxs_add_task_kind(c, task._kind, handle, task._function_name, u, w, n, self.ret)
        if ct == NULL:
            rc = self.ret[0]
            self._finish(task, rc, error_text(c))
            self.reap()
            self.cc.raise_error(rc, c)
        task._c, task._c_handle, task._client_ref = ct, handle, self
        task._submitted = True
        if task._unique is None and task._kind != STATUS:
            task._unique = ffi.string(lib.gearman_task_unique(ct)) or None
        self.live[id(task)] = task

    def _finish(self, task: Task, rc: int, message: Optional[str] = None) -> None:
        if not task._finished:
            task._finished = True
            task._returncode = rc
            task._message = message
            if task._kind != STATUS:  # a status task's is_running is the job's, as the server said
                task._is_running = False
            self.finished.append(task)
            if task._batch is not None:
                task._batch.finished(task)

    def reap(self) -> None:
        """Frees the C tasks of finished tasks (never from inside a callback)."""
        if not self.finished:
            return
        held = [e[0] for e in (self.skip, self.again) if e is not None]
        keep = []
        for task in self.finished:
            if task in held:
                keep.append(task)
                continue
            if task._c is not None and self.cc.c != NULL:
                lib.gearman_task_free(task._c)
            self.live.pop(id(task), None)
            _detach(task)
        self.finished = keep

    def _drive_live(self, clock: Clock) -> bool:
        """Runs the live tasks until none is left (True), or in non-blocking mode until libgearman
        would wait (False)."""
        cc = self.cc
        c = cc.c
        non_blocking = bool(cc.options & lib.GEARMAN_CLIENT_NON_BLOCKING)
        if non_blocking:
            if self.nb_progress is None:
                self.nb_progress = clock
            progress = self.nb_progress
        else:
            progress = clock
        while self.live:
            rc = lib.gxs_client_run_tasks(c)
            if cc.fd < 0:
                cc.fd = lib.gxs_cw_take()
            self.reap()
            entry_exc = take_entry_error()
            exc = self.pending_exc or entry_exc
            if exc is not None:
                self.pending_exc = None
                raise exc
            if not self.live:
                if rc == _TIMEOUT:
                    cc.dirty = True
                return True
            if self.stop is not None and self.stop():
                return False
            if rc == SUCCESS:
                for task in list(self.live.values()):
                    r = lib.gearman_task_return(task._c)
                    if r not in NOT_DONE or (r == SUCCESS and task._kind >= BACKGROUND and task._job_handle):
                        self._finish(task, r, None if r == SUCCESS else error_text(task._c))
                self.reap()
                if not self.live:
                    return True
            elif rc == _IO_WAIT:
                if non_blocking:
                    self._watch(progress, c)
                    return not self.live
                lib.gxs_client_wait(c)
            elif rc in CONNECTION_ERRORS:
                if self._connection_lost(c, rc, progress):
                    return True
            elif rc not in (_TIMEOUT, _PAUSE):
                cc.raise_error(rc, c)
            self._watch(progress, c)
        return True

    def _connection_lost(self, c: Any, rc: int, clock: Clock) -> bool:
        """run_tasks() on a connection error, by the rules of ``_resend.Loss``: acknowledged tasks
        end with what libgearman says; unacknowledged ones are submitted again (pending) when the
        rules say so (a GET_STATUS task always is: it runs nothing); the others end with ``rc``.
        True when no task is left live."""
        cc = self.cc
        unacked = [t._unique for t in self.live.values()
                   if t._job_handle is None and t._kind != STATUS and t._unique is not None]
        loss = Loss(cc, c, rc, unacked, clock, ask=not self.retried_same)
        again: List[Task] = []
        for task in list(self.live.values()):
            if task._job_handle is None or (task._kind == STATUS and not task._is_known):
                if task._kind == STATUS or loss.send_again(task._unique, task._kind >= BACKGROUND):
                    lib.gearman_task_free(task._c)
                    self.live.pop(id(task), None)
                    _detach(task)
                    task._submitted = False
                    again.append(task)
                else:
                    cc.error = loss.message(task._unique)
                    self._finish(task, rc, cc.error)
            else:
                r = lib.gearman_task_return(task._c)
                if r not in NOT_DONE:
                    self._finish(task, r, loss.text)
        self.pending[:0] = again
        self.reap()
        if self.live:
            return False
        if again:
            self.resubmits += 1
            if self.resubmits > cc.attempts():
                self.resubmits = 0
                cc.raise_error(rc, message=loss.text)
        self.sticky = loss.next_server(cc, bool(again))
        if self.sticky is not None:
            self.retried_same = True
        return True

    def _watch(self, progress: Clock, c: Any) -> None:
        """After a slice without the end: raises GearmanTimeout, or runs a due idle check."""
        outcome = progress.step(self.events)
        if outcome == TIMED_OUT:
            self.nb_progress = None
            self.cc.raise_error(_TIMEOUT, message=f"no progress within {self.cc.timeout} ms")
        if outcome == CHECK and (compat.WORKAROUNDS["lost-work-fail"]  # libgearman < 2.0.0
                                 or self._server_gone(progress)):
            self._check_idle(c, progress)

    def _server_gone(self, clock: Clock) -> bool:
        """libgearman 2.0.0 drops a connection its server closed from its poll() and goes on
        waiting without an error: the tasks on a SIGKILLed server would wait forever. True when
        the C client's server now refuses connections (the idle check then ends the jobs no
        server knows, as with libgearman 1.1)."""
        spec = self.cc.spec
        return spec is not None and reachable(spec, clock.limit(CONNECT_CHECK)) is False

    def _check_idle(self, c: Any, clock: Clock) -> None:
        lost = []
        for task in list(self.live.values()):
            if task._kind >= BACKGROUND or task._job_handle is None:
                continue
            if known_anywhere(self.cc, task._job_handle.encode(), clock) is False:
                lost.append(task)
        if not lost:
            return
        late_result(c, lambda: all(t._finished for t in lost), clock)  # results may be on their way
        for task in lost:
            if not task._finished:
                self.cc.dirty = True
                self._finish(task, lib.GEARMAN_WORK_FAIL, LOST_JOB)
                fn = self.callbacks["fail"]
                if fn is not None:
                    stop = self._stop_code("fail", fn(task))
                    if stop is not None:
                        self.reap()
                        raise stop
        self.reap()

    # -- callback dispatch (from the gxs_task_* externs, _task_callbacks.py) ---------------------------

    def on_event(self, kind: str, task: Task, ct: Any) -> int:
        """Records one event of ``task`` (C task ``ct``) and calls the user's callback; PAUSE when
        that raised (the exception is raised once run_tasks() returns)."""
        again = self.again
        if again is not None:
            self.again = None
            if again[0] is task and again[1] == kind:
                return self._call(kind, task)  # libgearman's second call after a returned code
        self.events += 1
        skip = self.skip
        if skip is not None:
            self.skip = None
            if skip[0] is task and skip[1] == kind:
                return SUCCESS  # re-invoked after the PAUSE that carried a callback's exception
        if kind == "created":
            task._job_handle = _args.c_string(lib.gxs_task_job_handle(ct))
            task._is_known = bool(lib.gearman_task_is_known(ct))
            task._is_running = bool(lib.gearman_task_is_running(ct))
            if task._kind >= BACKGROUND:
                self._finish(task, SUCCESS)
        elif kind == "status":
            task._numerator = int(lib.gearman_task_numerator(ct))
            task._denominator = int(lib.gearman_task_denominator(ct))
            task._is_known = bool(lib.gearman_task_is_known(ct))
            task._is_running = bool(lib.gearman_task_is_running(ct))
            if task._kind == STATUS:
                self._finish(task, SUCCESS)
        else:
            size = lib.gearman_task_data_size(ct)
            if kind != "fail":
                task._data = _args.c_bytes(lib.gearman_task_data(ct), size)
                if kind == "data":
                    task._chunks.append(task._data or b"")
                elif kind == "warning":
                    task._warnings.append(task._data or b"")
            task._is_known = bool(lib.gearman_task_is_known(ct))
            task._is_running = bool(lib.gearman_task_is_running(ct))
            if kind == "complete":
                self._finish(task, SUCCESS)
            elif kind == "exception":
                task._exception = task._data
                self._finish(task, lib.GEARMAN_WORK_EXCEPTION)
            elif kind == "fail":
                self._finish(task, lib.GEARMAN_WORK_FAIL)
        if task._batch is not None:  # a map()/as_completed() task: no user callbacks
            if self.stop is not None and self.stop():
                self.skip = (task, kind)  # pause libgearman here; the event is not repeated
                return _PAUSE
            return SUCCESS
        return self._call(kind, task)

    def _call(self, kind: str, task: Task) -> int:
        """Calls the user's callback for the event ``kind`` of ``task``: SUCCESS, or PAUSE when it
        raised (the exception is raised once run_tasks() returns; the event is not delivered again)
        or returned a code (run_tasks() raises its exception; libgearman calls it again when
        run_tasks() resumes, as it does for its own callbacks)."""
        fn = self.callbacks[kind]
        if fn is None:
            return SUCCESS
        try:
            result = fn(task)
        except BaseException as exc:
            self.pending_exc = exc
            self.skip = (task, kind)
            return _PAUSE
        stop = self._stop_code(kind, result)
        if stop is not None:
            self.pending_exc = stop
            self.again = (task, kind)
            return _PAUSE
        return SUCCESS

    def _stop_code(self, kind: str, result: Any) -> Optional[GearmanError]:
        """The exception run_tasks() raises for a callback's return value: an int other than
        GEARMAN_SUCCESS (not a bool) is a ``gearman_return_t`` that stops run_tasks() with that
        code, as in libgearman and Gearman::XS; None and anything else let it go on."""
        if result is None or result.__class__ is bool or not isinstance(result, int) or result == SUCCESS:
            return None
        code = int(result)
        err = error_for(code, f"the {kind} callback returned {strerror(code)} ({code})")
        self.cc.error = err.message
        return err


def _detach(task: Task) -> None:
    task._c = None
    task._c_handle = None
    task._client_ref = None
