"""``Client``: submits jobs (``Gearman::XS::Client``), without libgearman 1.1.20's hangs.

The user-facing rules are in docs/client.md. This module is the facade: every public method checks
its arguments, takes the Client's lock (``_guard.py``) and hands over to the part that owns the job.
The settings methods (servers, options, timeout, identifier, namespace, TLS, server options,
``error()``) are inherited from ``_client_settings.ClientSettings``; the rest are here:

* ``_client_c.py``: the C client (one ``gearman_client_st`` for the one server in use: the first
  available one in the order given, ``_servers.py``), the settings it is rebuilt from, when it is
  replaced, the server options, the last error;
* ``_client_do.py``: ``do*()``: one C call per job on the fast path (``gxs_acc_do``,
  csrc/client_acc.c), the slices and the connection rules on the slow path;
* ``_client_tasks.py``: ``add_task*()`` and ``run_tasks()``: rounds, slices and the callbacks
  (dispatched from ``_task_callbacks.py``);
* ``_client_batch.py``: ``map()`` and ``as_completed()``, batches of jobs over that task runner;
* ``_client_probes.py``: the throw-away connections of ``job_status()``, ``echo()``,
  ``cancel_job()`` and of the idle checks of running jobs.
* ``_resend.py``: the rules after a lost connection (which jobs are sent again, and where), the
  same for ``do*()``, ``run_tasks()`` and the AsyncClient.

What they share: every blocking wait is cut into slices (``_clock.SLICE_MS``) so that Ctrl-C raises
within one, and one ``Clock`` (``_clock.py``) per call bounds every phase of it by the user's
timeout. A submission is repeated only when it provably never reached a server; a job is never
sent to a second server once the first may have queued it.
"""

from __future__ import annotations

import uuid
from typing import Any, Iterable, Iterator, List, Optional, Tuple, Union

from . import _args
from ._client_batch import Batch, Unique, check_timeout, make_tasks, outcome, pairs
from ._client_c import CONNECT_CHECK, CClient  # noqa: F401  (CONNECT_CHECK: was public here)
from ._client_do import DoPath
from ._client_probes import PROBE_TIMEOUT_MS, JobStatus, probe_rc  # noqa: F401  (PROBE_TIMEOUT_MS: idem)
from ._client_probes import cancel_job as _cancel_job
from ._client_probes import echo as _echo
from ._client_probes import job_status as _job_status
from ._client_probes import unique_status as _unique_status
from ._client_settings import ClientSettings
from ._client_tasks import CALLBACK_KINDS, Callback, TaskRunner
from ._guard import Guard
from ._libgearman import lib
from ._repr import CLOSED, object_repr
from ._servers import RETRY_MAX
from .errors import ClosedError, GearmanError
from .task import BACKGROUND, HIGH, LOW, NORMAL, STATUS, Task

__all__ = ["Client", "JobStatus"]

#: How long a server found unreachable is left out at most (s): a server that answers again takes
#: the jobs back within this time (pauses start at RETRY_FIRST s and double up to it).
DOWN_RETRY = RETRY_MAX

#: libgearman's connect() is watched (csrc/conn_watch.c): the Client knows the fd of its
#: connection and sees a server that closed it while idle before sending a job into it.
CONNECTION_WATCH = lib.gxs_cw_install() == lib.GXS_SB_OK


class Client(ClientSettings):
    """A Gearman client (``Gearman::XS::Client``). Not thread-safe: one Client per thread (a second
    thread calling in while one is inside raises ``ConcurrentUseError``). A context manager;
    ``close()`` frees it."""

    def __init__(self) -> None:
        self._guard = Guard("Client")
        self._cc = CClient()
        self._tasks = TaskRunner(self._guard, self._cc)
        self._jobs = DoPath(self._guard, self._cc)
        self._do = self._jobs.do  # bound once: do*() costs one attribute lookup to reach it

    def close(self) -> None:
        """Frees the C client. Unfinished tasks are abandoned (their Task objects keep what they
        received). Later calls on the Client raise ``ClosedError``; close() itself may be repeated."""
        with self._guard.hold():
            if self._guard.closed:
                return
            self._guard.closed = True
            self._tasks.close()
            self._cc.free()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            guard = getattr(self, "_guard", None)
            if guard is not None and not guard.closed:
                self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    # -- callbacks -----------------------------------------------------------------------------

    def _set_fn(self, kind: str, fn: Optional[Callback]) -> None:
        if fn is not None and not callable(fn):
            raise TypeError(f"the {kind} callback must be callable, not {type(fn).__name__}")
        if self._guard.closed:
            raise ClosedError("Client")
        self._tasks.callbacks[kind] = fn

    def set_created_fn(self, fn: Optional[Callback]) -> None:
        """``fn(task)`` when the server created a job (JOB_CREATED), background ones included. Like
        every callback: applies to tasks already added, and an exception it raises propagates out
        of run_tasks() after that event. Its return value: None (or GEARMAN_SUCCESS) goes on; an
        int return code other than GEARMAN_SUCCESS stops run_tasks(), which raises the exception
        for that code, as libgearman and Gearman::XS do; run_tasks() again resumes, calling the
        callback again for the same event first (docs/porting.md, "A callback's return code")."""
        self._set_fn("created", fn)

    def set_data_fn(self, fn: Optional[Callback]) -> None:
        """``fn(task)`` for each WORK_DATA chunk (``task.data()``)."""
        self._set_fn("data", fn)

    def set_warning_fn(self, fn: Optional[Callback]) -> None:
        """``fn(task)`` for each WORK_WARNING (``task.data()`` is the warning)."""
        self._set_fn("warning", fn)

    def set_status_fn(self, fn: Optional[Callback]) -> None:
        """``fn(task)`` for each WORK_STATUS and for the answer to add_task_status()."""
        self._set_fn("status", fn)

    def set_complete_fn(self, fn: Optional[Callback]) -> None:
        """``fn(task)`` at WORK_COMPLETE (``task.data()`` is the result)."""
        self._set_fn("complete", fn)

    def set_fail_fn(self, fn: Optional[Callback]) -> None:
        """``fn(task)`` at WORK_FAIL, and when a job is found to be lost."""
        self._set_fn("fail", fn)

    def set_exception_fn(self, fn: Optional[Callback]) -> None:
        """``fn(task)`` at WORK_EXCEPTION (``task.exception()``); new in gearman_xs."""
        self._set_fn("exception", fn)

    def clear_fn(self) -> None:
        """Removes every callback (also for tasks already added)."""
        if self._guard.closed:
            raise ClosedError("Client")
        self._tasks.callbacks = dict.fromkeys(CALLBACK_KINDS)

    # -- one job, blocking -----------------------------------------------------------------------

    def do(self, function_name: Union[str, bytes], workload: _args.Payload,
           unique: Optional[Union[str, bytes]] = None) -> bytes:
        """Runs a job and returns its result (WORK_DATA chunks + WORK_COMPLETE payload) as bytes.
        Raises ``WorkFail``, ``WorkException`` (``.exception`` holds the payload),
        ``GearmanTimeout`` (the job is abandoned), ``GearmanConnectionError``..."""
        return self._do(NORMAL, function_name, workload, unique)  # type: ignore[return-value]

    def do_high(self, function_name: Union[str, bytes], workload: _args.Payload,
                unique: Optional[Union[str, bytes]] = None) -> bytes:
        """do() at high priority."""
        return self._do(HIGH, function_name, workload, unique)  # type: ignore[return-value]

    def do_low(self, function_name: Union[str, bytes], workload: _args.Payload,
               unique: Optional[Union[str, bytes]] = None) -> bytes:
        """do() at low priority."""
        return self._do(LOW, function_name, workload, unique)  # type: ignore[return-value]

    def do_background(self, function_name: Union[str, bytes], workload: _args.Payload,
                      unique: Optional[Union[str, bytes]] = None) -> str:
        """Submits a background job and returns its job handle once the server created it."""
        return self._do(NORMAL + BACKGROUND, function_name, workload, unique)  # type: ignore[return-value]

    def do_high_background(self, function_name: Union[str, bytes], workload: _args.Payload,
                           unique: Optional[Union[str, bytes]] = None) -> str:
        """do_background() at high priority."""
        return self._do(HIGH + BACKGROUND, function_name, workload, unique)  # type: ignore[return-value]

    def do_low_background(self, function_name: Union[str, bytes], workload: _args.Payload,
                          unique: Optional[Union[str, bytes]] = None) -> str:
        """do_background() at low priority."""
        return self._do(LOW + BACKGROUND, function_name, workload, unique)  # type: ignore[return-value]

    def do_background_at(self, when: Union[int, float], function_name: Union[str, bytes],
                         workload: _args.Payload, unique: Optional[Union[str, bytes]] = None,
                         priority: int = lib.GEARMAN_JOB_PRIORITY_NORMAL) -> str:
        """Submits a background job that gearmand starts at Unix time ``when`` (whole seconds;
        SUBMIT_JOB_EPOCH, which gearmand 1.1.20 honours; a time in the past runs at once) and
        returns its handle. New in gearman_xs. The submission waits for JOB_CREATED within the
        timeout (2 s if none is set), interruptible; it is never sent to a second server."""
        if isinstance(when, bool) or not isinstance(when, (int, float)):
            raise TypeError(f"when must be a Unix time (int or float), not {type(when).__name__}")
        if not 0 <= when < 2**63:
            raise ValueError(f"when must be a Unix time, not {when}")
        prio = _args.int_arg(priority, "priority", 0, 2)
        fn = _args.function_name(function_name)
        u = None if unique is None else _args.name(unique, "unique", _args.MAX_UNIQUE)
        w, n = _args.payload(workload)
        return self._jobs.background_at(int(when), fn, u, prio, w, n)

    def do_status(self) -> Tuple[int, int]:
        """Gearman::XS's ``do_status``: always ``(0, 0)`` with libgearman 1.x (a stub there too)."""
        with self._guard.enter("do_status", run=False):
            return (0, 0)

    # -- status, echo, cancel: throw-away connections ------------------------------------------------

    def job_status(self, job_handle: Union[str, bytes]) -> JobStatus:
        """``(is_known, is_running, numerator, denominator)`` of a job. With several servers each
        is asked in the order given until one knows the job; gearmand's handles ("H:host:N") do
        not say which server made them, so two servers on the same host can both know a handle:
        the first one asked answers. Raises for a missing or malformed handle, and when no server
        could answer (``GearmanTimeout`` when none did within the timeout)."""
        if job_handle is None:
            raise TypeError("job_status() needs a job handle")
        handle = _args.job_handle(job_handle)
        with self._guard.enter("job_status"):
            return _job_status(self._cc, handle)

    def job_status_by_unique(self, unique: Union[str, bytes]) -> JobStatus:
        """The status of a job by its unique id (GET_STATUS_UNIQUE), asked of each server in turn
        like job_status(). Done on throw-away connections: on a client used for jobs, libgearman
        1.1.20 hangs the next do() after it."""
        u = _args.name(unique, "unique", _args.MAX_UNIQUE)
        with self._guard.enter("job_status_by_unique"):
            return _unique_status(self._cc, u)

    def echo(self, data: _args.Payload) -> None:
        """Sends ECHO_REQ to the first available server in the order given (the next ones while
        it cannot be reached, like jobs) and checks the echo. Raises when no server answers
        (``GearmanTimeout`` when none did within the timeout)."""
        w, n = _args.payload(data, "data")
        if n == 0:
            raise ValueError("echo() needs at least one byte")
        with self._guard.enter("echo"):
            _echo(self._cc, w, n)

    def cancel_job(self, job_handle: Union[str, bytes]) -> None:
        """Cancels a queued job: gearmand never hands it to a worker (``show jobs`` lists it with
        ignore_job set until a worker would have taken it; job_status() still says it is known
        until then). A job a worker already runs is not stopped. Not in Gearman::XS.

        Sent as gearmand's admin command ``cancel job`` to each server in the order given until
        one knows the handle, within the Client's timeout (2 s per server if none). libgearman's
        own gearman_client_cancel_job() is not used: it sends WORK_FAIL, which gearmand 1.1.20
        refuses from a client (JOB_NOT_FOUND), and the job still runs. Raises GearmanError
        (GEARMAN_JOB_NOT_FOUND) when no server knows the handle, GearmanConnectionError when no
        server could be asked."""
        handle = _args.job_handle(job_handle).decode("utf-8", "surrogateescape")
        with self._guard.enter("cancel_job"):
            _cancel_job(self._cc, handle)

    def wait(self) -> None:
        """Waits for I/O on the connections (``gearman_client_wait``; meant for NON_BLOCKING use,
        where run_tasks() still blocks here). Honours the timeout; interruptible."""
        with self._guard.enter("wait"):
            cc = self._cc
            c = cc.c
            rc = probe_rc(lambda: lib.gxs_client_wait(c), cc.clock())
            if rc != lib.GEARMAN_SUCCESS:
                cc.raise_error(rc, c)

    # -- tasks -----------------------------------------------------------------------------------

    def _add(self, kind: int, function_name: Any, workload: Any, unique: Any, context: Any) -> Task:
        fn = _args.function_name(function_name)
        # libgearman would generate a UUID when the task is handed over (in run_tasks()); generate
        # it now so that Task.unique() is known right after add_task(), as in Gearman::XS.
        u = (str(uuid.uuid4()).encode() if unique is None
             else _args.name(unique, "unique", _args.MAX_UNIQUE))
        _args.payload(workload)  # type check now
        if isinstance(workload, str):
            workload = workload.encode("utf-8")
        if self._guard.closed:
            raise ClosedError("Client")
        with self._guard.hold():
            self._no_batch("add_task")
            return self._tasks.add(Task(self._tasks, kind, fn, u, workload, context))

    def add_task(self, function_name: Union[str, bytes], workload: _args.Payload,
                 unique: Optional[Union[str, bytes]] = None, *, context: Any = None) -> Task:
        """Queues a job for run_tasks() and returns its Task. Nothing is sent before run_tasks()
        (as in libgearman); libgearman's own errors for it are raised by run_tasks().
        ``context`` (keyword only, on every add_task*; not in Gearman::XS) is any object of the
        caller's, kept as ``task.context`` (PHP's ``addTask($f, $w, $context)``)."""
        return self._add(NORMAL, function_name, workload, unique, context)

    def add_task_high(self, function_name: Union[str, bytes], workload: _args.Payload,
                      unique: Optional[Union[str, bytes]] = None, *, context: Any = None) -> Task:
        """add_task() at high priority."""
        return self._add(HIGH, function_name, workload, unique, context)

    def add_task_low(self, function_name: Union[str, bytes], workload: _args.Payload,
                     unique: Optional[Union[str, bytes]] = None, *, context: Any = None) -> Task:
        """add_task() at low priority."""
        return self._add(LOW, function_name, workload, unique, context)

    def add_task_background(self, function_name: Union[str, bytes], workload: _args.Payload,
                            unique: Optional[Union[str, bytes]] = None, *, context: Any = None) -> Task:
        """A background job for run_tasks(): only the created callback fires."""
        return self._add(NORMAL + BACKGROUND, function_name, workload, unique, context)

    def add_task_high_background(self, function_name: Union[str, bytes], workload: _args.Payload,
                                 unique: Optional[Union[str, bytes]] = None, *, context: Any = None) -> Task:
        """add_task_background() at high priority."""
        return self._add(HIGH + BACKGROUND, function_name, workload, unique, context)

    def add_task_low_background(self, function_name: Union[str, bytes], workload: _args.Payload,
                                unique: Optional[Union[str, bytes]] = None, *, context: Any = None) -> Task:
        """add_task_background() at low priority."""
        return self._add(LOW + BACKGROUND, function_name, workload, unique, context)

    def add_task_status(self, job_handle: Union[str, bytes], *, context: Any = None) -> Task:
        """A GET_STATUS task for run_tasks(): its answer fires the status callback and fills the
        Task's is_known/is_running/numerator/denominator."""
        handle = _args.job_handle(job_handle)
        if self._guard.closed:
            raise ClosedError("Client")
        with self._guard.hold():
            self._no_batch("add_task_status")
            task = Task(self._tasks, STATUS, b"", None, b"", context)
            task._job_handle = handle.decode("utf-8", "surrogateescape")
            return self._tasks.add(task)

    def run_tasks(self) -> bool:
        """Runs every added task to its end, calling the callbacks, and returns True. Tasks sharing
        a unique id run in successive rounds. A callback's exception propagates after its event;
        KeyboardInterrupt or GearmanTimeout leave the unfinished tasks in place: run_tasks() again
        resumes them without repeating an event already delivered.

        With ``GEARMAN_CLIENT_NON_BLOCKING`` (Gearman::XS returns GEARMAN_IO_WAIT until done), it
        sends, receives and calls back what it can without waiting for the network, and returns
        False while tasks are unfinished: call wait() (or do something else) and run_tasks() again
        until it returns True. The timeout then counts from the last event across those calls."""
        with self._guard.enter("run_tasks"):
            self._no_batch("run_tasks")
            return self._tasks.run()

    def _no_batch(self, method: str) -> None:
        if self._tasks.batch is not None:
            raise GearmanError(lib.GEARMAN_IN_PROGRESS, f"Client.{method}() cannot be called while a "
                               "map()/as_completed() batch of this Client is open")

    # -- batches ---------------------------------------------------------------------------------

    def _batch(self, method: str, function_name: Union[str, bytes], workloads: Iterable[_args.Payload],
               unique: Unique, priority: Union[int, str], background: bool, timeout: Optional[float],
               each: bool) -> Batch:
        seconds = check_timeout(timeout)
        tasks = make_tasks(self._tasks, function_name, workloads, unique, priority, background)
        batch = Batch(self._tasks, self._guard, method, tasks, seconds, each)
        with self._guard.enter(method):
            batch.check()  # (again at the first next(): the runner is taken there)
        return batch

    def map(self, function_name: Union[str, bytes], workloads: Iterable[_args.Payload], *,
            unique: Unique = None, priority: Union[int, str] = lib.GEARMAN_JOB_PRIORITY_NORMAL,
            background: bool = False, timeout: Optional[float] = None,
            return_exceptions: bool = False) -> List[Any]:
        """Runs one job of ``function_name`` per workload, all submitted before any is waited for,
        and returns their results in the order of ``workloads``: what ``do()`` returns for each
        (bytes), or with ``background=True`` what ``do_background()`` returns (the job handle).
        When jobs failed, the first failure in that order is raised once every job has ended
        (``WorkFail``, ``WorkException``, ``GearmanConnectionError``, ``GearmanTimeout``...), or,
        with ``return_exceptions=True``, each failure takes its job's place in the list, as
        ``asyncio.gather`` and ``AsyncClient.map()`` do. Not in Gearman::XS.

        ``unique``: None (a fresh one per job), a str for every job (``"#"``: libgearman's hash
        of the workload), an iterable of one per job (None entries: a fresh one), or a function
        ``unique(workload)``; jobs sharing a unique run one after the other, each with its own
        result. ``priority``: a ``GEARMAN_JOB_PRIORITY_*``, or ``"high"``/``"normal"``/``"low"``.
        ``timeout``: seconds for the whole batch (None: none; the Client's ``set_timeout()``, ms
        without progress, applies too); jobs unfinished then fail with ``GearmanTimeout`` and are
        abandoned (a job already submitted may still run, unwatched, as after ``do()``'s
        timeout). A server that fails is handled as in ``run_tasks()``: a job is submitted again
        only when it provably never reached a server, so none runs twice. The Client's callbacks
        do not fire. Raises for a bad argument before sending anything, and ``GearmanError``
        (GEARMAN_IN_PROGRESS) while tasks added with ``add_task*()`` wait for ``run_tasks()``.
        KeyboardInterrupt abandons the unfinished jobs and propagates."""
        batch = self._batch("map", function_name, workloads, unique, priority, background, timeout, False)
        results: List[Any] = [None] * len(batch.tasks)
        for task in batch.results():
            results[task.context] = outcome(task)
        if not return_exceptions:
            for result in results:
                if isinstance(result, GearmanError):
                    raise result
        return results

    def as_completed(self, function_name: Union[str, bytes], workloads: Iterable[_args.Payload], *,
                     unique: Unique = None, priority: Union[int, str] = lib.GEARMAN_JOB_PRIORITY_NORMAL,
                     background: bool = False,
                     timeout: Optional[float] = None) -> Iterator[Tuple[int, Any]]:
        """The batch of ``map()`` (same arguments), yielded as ``(index, result)`` as each job
        ends: ``index`` into ``workloads``, ``result`` what ``map()`` would put in that place (a
        failed job gives its exception object), as ``AsyncClient.as_completed()`` does. Every job
        is yielded exactly once; those unfinished at the ``timeout`` (seconds for the whole batch,
        counted from this call) come last, with ``GearmanTimeout``. The jobs are submitted at the
        first ``next()``; until the iterator is exhausted or closed, the Client's
        ``add_task*()``, ``run_tasks()`` and batches raise ``GearmanError`` (GEARMAN_IN_PROGRESS),
        and ``do*()`` too while the batch's jobs are in flight. Leaving the loop early abandons
        the jobs still running once the iterator is closed (``close()``, or when it is dropped).
        Not in Gearman::XS."""
        batch = self._batch("as_completed", function_name, workloads, unique, priority, background,
                            timeout, True)
        return pairs(batch)

    @property
    def closed(self) -> bool:
        """True once close() was called (every method but close() then raises ``ClosedError``)."""
        return self._guard.closed

    def __repr__(self) -> str:
        if self._guard.closed:
            return object_repr(self, **CLOSED)
        tasks = self._tasks
        return object_repr(self, servers=[s.decode("utf-8", "replace") for s in self._cc.servers.specs],
                           timeout=self._cc.timeout, tasks=len(tasks.pending) + len(tasks.live))
