"""The per-job call of a Worker: its registered functions, and calling one of them for a job.

libgearman runs a job inside ``gearman_worker_work()``: it calls the C trampoline of
``csrc/worker_trampoline.c``, which calls ``gxs_worker_function`` here (an ``extern "Python"``
function) with the context registered by ``gxs_worker_add_function()``: an ``ffi.new_handle`` of
the function's ``Function`` record. ``gxs_worker_function`` builds the ``Job`` (valid during the
call only), calls the user's function and turns its return value into the result libgearman
sends as WORK_COMPLETE: a ``gxs_dup()`` copy (bytes, bytearray, memoryview, str as UTF-8, an int or
float as the text Perl would print: ``number_text()``; ``Calls.result()`` for all but bytes), or
``gxs_worker_done()`` for None, an empty result or a job the function answered itself. A function
that raises fails its job (NULL: WORK_FAIL; WORK_EXCEPTION first with ``send_exceptions``) and is
logged; the worker carries on.

``Calls`` is one Worker's side of that, used under its lock:

* the registry: name -> (record, handle), and the handles libgearman may still hold
  (``dead_handles``, kept alive until the Worker is closed);
* ``count``, the number of calls so far (the work loop tells "the function ran and its job failed"
  from "no job" by it), and ``failed``, the last job's outcome (``Worker.last_job_failed``): set
  during the call, because the call's only return value goes to libgearman;
* ``pending``, the exception a callback left for the libgearman call in progress (a worker
  function's KeyboardInterrupt/SystemExit, the log function's error, an exception raised at a
  callback's entry), raised by ``raise_pending()`` once libgearman has returned; such a callback
  also stops ``run()``'s C loop after the job (``_STOP``, ``halt``). The log callback
  (``gxs_log``) is here too: it drops the timeouts of the internal poll slices (``slicing``).
"""

from __future__ import annotations

import inspect
import logging
import math
import threading
from types import TracebackType
from typing import Any, Callable, Dict, List, Optional, Tuple, Type, Union

from ._grabbed import handle_text
from ._guard import WorkerGuard
from ._libgearman import ffi, lib
from .constants import Verbose
from .errors import GearmanError, check, error_for
from .job import Job

__all__ = ["Calls", "Function", "LogFunction", "WorkerFunction", "entry_errors", "number_text",
           "takes_one_positional"]

log = logging.getLogger("gearman_xs")

WorkerFunction = Callable[..., Any]
LogFunction = Callable[[str, int], Any]

_NULL = ffi.NULL
_DONE = lib.gxs_worker_done()  # what a worker function returns for success with nothing to send
_STOP = lib.gxs_worker_stop()  # ... for a failed job whose exception Python must raise now
_dup = lib.gxs_dup
_from_handle = ffi.from_handle
_SUCCESS = lib.GEARMAN_SUCCESS
_new_job = object.__new__

#: Exceptions raised at the entry of a callback, before its try: (a pending signal's
# KeyboardInterrupt). cffi hands them to _entry_error(); the thread that runs work() re-raises them.
entry_errors: List[Tuple[int, BaseException]] = []


def _entry_error(exc_type: Type[BaseException], exc: BaseException, tb: Optional[TracebackType]) -> Any:
    entry_errors.append((threading.get_ident(), exc))
    return _STOP  # the C trampoline fails the job (GEARMAN_WORK_FAIL) and run()'s C loop stops


class Function:
    """What the C function context points at (through ffi.new_handle)."""

    __slots__ = ("calls", "context", "fn", "name", "pass_context")

    def __init__(self, calls: Calls, name: bytes, fn: WorkerFunction, context: Any) -> None:
        self.calls = calls
        self.name = name
        self.set(fn, context)

    def set(self, fn: WorkerFunction, context: Any) -> None:
        """Decided once, here: ``fn(job, context)`` when a context is given, unless ``fn`` takes
        exactly one positional parameter (a literal port of Perl's ``sub f { my $job = shift; ...}``
        registered with a context): then ``fn(job)``."""
        self.fn = fn
        self.context = context
        self.pass_context = context is not None and not takes_one_positional(fn)


def takes_one_positional(fn: WorkerFunction) -> bool:
    """True when ``fn`` accepts exactly one positional argument: one positional parameter (with or
    without a default) and no ``*args``; keyword-only parameters do not count. Bound methods,
    partials, callable objects and decorated functions (``__wrapped__``) are judged by what they
    accept; a callable without an inspectable signature (some builtins) counts as False."""
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = 0
    for p in parameters:
        if p.kind is p.VAR_POSITIONAL:
            return False
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            positional += 1
    return positional == 1


def number_text(value: Union[int, float]) -> bytes:
    """An int or float result as Perl prints a number: ints in full, floats with 15 significant
    digits (``%.15g``: 1.5 -> 1.5, 8.0 -> 8, 0.1 + 0.2 -> 0.3, 1e20 -> 1e+20), Inf, -Inf, NaN,
    and -0.0 as 0. Raises ValueError for an int too long to convert (``sys.set_int_max_str_digits``)."""
    if isinstance(value, int):
        return b"%d" % value
    if math.isfinite(value):
        text = b"%.15g" % value
        return b"0" if text == b"-0" else text
    if math.isnan(value):
        return b"NaN"
    return b"Inf" if value > 0 else b"-Inf"


_VERBOSE: Dict[int, int] = dict(Verbose._value2member_map_)  # level -> Verbose


class _LogTarget:
    __slots__ = ("calls", "fn")

    def __init__(self, calls: Calls, fn: LogFunction) -> None:
        self.calls = calls
        self.fn = fn


@ffi.def_extern(onerror=_entry_error)  # type: ignore[untyped-decorator]
def gxs_worker_function(job_ptr: Any, context: Any, workload: Any, workload_size: int) -> Any:
    """One job (the hot path of every worker): a ``gxs_dup()`` copy of the result, ``_DONE``
    (success, nothing to send) or NULL (the job failed); see csrc/worker_trampoline.c."""
    rec: Function = _from_handle(context)
    calls = rec.calls
    job = _new_job(Job)  # every slot of job.py's Job, set inline (the per-job hot path)
    job._ptr = job_ptr
    job._wl = workload
    job._wl_size = workload_size
    job._finished = job._failed = False
    job._jobs = None
    job._owner = None
    calls.failed = False  # set on each failure path (last_job_failed)
    guard = calls.guard
    guard.in_callback = True
    calls.count += 1
    try:
        result = rec.fn(job, rec.context) if rec.pass_context else rec.fn(job)
    except BaseException as exc:
        calls.failed = True
        calls.function_raised(rec, job, job_ptr, exc)
        return _NULL if calls.pending is None else _STOP
    finally:
        job._ptr = None
        guard.in_callback = False
    if type(result) is bytes and result and not job._finished:  # the usual case
        buf = _dup(result, len(result))
        if buf != _NULL:
            return buf
    return calls.result(rec, job, job_ptr, result)


@ffi.def_extern(onerror=_entry_error)  # type: ignore[untyped-decorator]
def gxs_log(line: Any, verbose: int, context: Any) -> None:
    target: _LogTarget = ffi.from_handle(context)
    calls = target.calls
    text = ffi.string(line).decode("utf-8", "replace")
    if calls.slicing and verbose == lib.GEARMAN_VERBOSE_ERROR and (
        "GEARMAN_TIMEOUT" in text or "timeout return reached" in text
    ):
        calls.timeout_line = text  # passed on once if the user's timeout ends the call
        return  # the internal poll slices' timeouts, not the user's
    try:
        target.fn(text, _VERBOSE.get(verbose, verbose))
    except BaseException as exc:  # carried back to the caller of the libgearman call
        if calls.pending is None:
            calls.pending = exc
        calls.halt[0] = 1  # run()'s C loop stops after the job in progress


class Calls:
    """One Worker's functions and the state of their calls (see the module docstring)."""

    __slots__ = ("count", "dead_handles", "failed", "functions", "guard", "halt", "pending",
                 "send_exceptions", "slicing", "timeout_line")

    def __init__(self, guard: WorkerGuard, send_exceptions: bool) -> None:
        self.guard = guard
        self.send_exceptions = send_exceptions
        self.functions: Dict[bytes, Tuple[Function, Any]] = {}
        self.dead_handles: List[Any] = []  # contexts libgearman may still hold
        self.count = 0
        self.failed = False  # last_job_failed
        self.pending: Optional[BaseException] = None
        # nonzero: run()'s C loop (gxs_worker_run) stops after the job in progress (stop(), or an
        # exception a callback left); cleared where the stop or the exception is taken
        self.halt: Any = ffi.new("int *")
        self.slicing = False  # inside a sliced libgearman call: gxs_log drops the slices' timeouts
        self.timeout_line: Optional[str] = None  # the last one dropped, for timed_out()

    # -- the registry ----------------------------------------------------------------------------

    def add(self, ptr: Any, name: bytes, timeout: int, fn: WorkerFunction, context: Any) -> None:
        """Registers ``fn`` on the C worker ``ptr``, or replaces the function of a registered name."""
        existing = self.functions.get(name)
        if existing is not None and lib.gearman_worker_function_exist(ptr, name, len(name)):
            existing[0].set(fn, context)
            return
        rec = Function(self, name, fn, context)
        handle = ffi.new_handle(rec)
        self.check(lib.gxs_worker_add_function(ptr, name, timeout, handle), ptr)
        if existing is not None:
            self.dead_handles.append(existing[1])
        self.functions[name] = (rec, handle)

    def removed(self, name: bytes) -> None:
        """``name`` was unregistered: its handle is kept until close()."""
        entry = self.functions.pop(name, None)
        if entry is not None:
            self.dead_handles.append(entry[1])

    def removed_all(self) -> None:
        self.dead_handles.extend(h for _, h in self.functions.values())
        self.functions.clear()

    def timed_out(self, log_handle: Any, verbose: int, message: str) -> GearmanError:
        """The user's timeout ended a work() or wait(): GearmanTimeout, after one ERROR line about
        it to the log function (``log_handle``, at level ``verbose``), as Gearman::XS's work() logs
        it (its t/06): libgearman's own line of the last slice (``gearman_wait(GEARMAN_TIMEOUT)
        timeout reached, ...``) when there is one."""
        line, self.timeout_line = self.timeout_line, None
        if log_handle is not None and verbose >= lib.GEARMAN_VERBOSE_ERROR:
            target: _LogTarget = ffi.from_handle(log_handle)
            text = line or f"gearman_worker_work(GEARMAN_TIMEOUT) {message}"
            target.fn(text, Verbose.ERROR)
        return error_for(lib.GEARMAN_TIMEOUT, message)

    def log_handle(self, fn: LogFunction) -> Any:
        """The context of a log function (``gxs_log``), an ``ffi.new_handle`` the caller keeps."""
        return ffi.new_handle(_LogTarget(self, fn))

    def clear(self) -> None:
        """close(): libgearman holds none of the handles any more."""
        self.functions.clear()
        self.dead_handles.clear()

    # -- errors ----------------------------------------------------------------------------------

    def check(self, rc: int, ptr: Any) -> None:
        """errors.check(), after an exception a callback left for this call."""
        self.raise_pending()
        check(rc, ptr)

    def raise_pending(self) -> None:
        if entry_errors:
            me = threading.get_ident()
            for i, (ident, entry_exc) in enumerate(entry_errors):
                if ident == me:
                    del entry_errors[i]
                    if self.pending is None:
                        self.pending = entry_exc
                    break
        pending = self.pending
        if pending is not None:
            self.pending = None
            self.halt[0] = 0
            raise pending

    # -- the call (inside gearman_worker_work) ----------------------------------------------------

    def result(self, rec: Function, job: Job, job_ptr: Any, result: Any) -> Any:
        """What ``gxs_worker_function`` returns for a result other than non-empty bytes (or
        bytes ``gxs_dup()`` found no memory for): ``_DONE`` for a job the function answered
        itself, None or an empty result; a ``gxs_dup()`` copy; or NULL (the job failed, logged)."""
        if job._finished:  # already answered: its return value is not sent
            self.failed = job._failed
            return _DONE
        if result is None:
            return _DONE
        if isinstance(result, str):
            result = result.encode("utf-8")
        elif isinstance(result, memoryview):
            if not result.c_contiguous:
                result = result.tobytes()
        elif isinstance(result, (int, float)) and not isinstance(result, bool):
            try:
                result = number_text(result)  # as Perl sends `return $a + $b`
            except ValueError as exc:
                self.failed = True
                log.error("gearman_xs: function %r returned %s: job %s failed",
                          rec.name.decode("utf-8", "replace"), exc, handle_text(job_ptr))
                return _NULL
        elif not isinstance(result, (bytes, bytearray)):
            self.failed = True
            log.error(
                "gearman_xs: function %r returned %s; it must return bytes, bytearray, memoryview,"
                " str, int, float or None: job %s failed",
                rec.name.decode("utf-8", "replace"),
                type(result).__name__,
                handle_text(job_ptr),
            )
            return _NULL
        size = result.nbytes if isinstance(result, memoryview) else len(result)
        if size == 0:
            return _DONE
        buf = _dup(result if type(result) is bytes else ffi.from_buffer(result), size)
        if buf == _NULL:
            self.failed = True
            log.error("gearman_xs: no memory for a %d-byte result: job %s failed", size, handle_text(job_ptr))
        return buf  # NULL: the job fails

    def function_raised(self, rec: Function, job: Job, job_ptr: Any, exc: BaseException) -> None:
        """The job fails (the function returns NULL: WORK_FAIL); never a requeue code."""
        fname = rec.name.decode("utf-8", "replace")
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            log.warning(
                "gearman_xs: %s in function %r: job %s failed",
                type(exc).__name__, fname, handle_text(job_ptr),
            )
            if self.pending is None:
                self.pending = exc
            return
        log.error(
            "gearman_xs: function %r raised: job %s failed", fname, handle_text(job_ptr), exc_info=exc
        )
        if self.send_exceptions and not job._finished:
            text = f"{type(exc).__name__}: {exc}".encode("utf-8", "replace")
            rc = lib.gearman_job_send_exception(job_ptr, text, len(text))
            if rc != _SUCCESS:
                log.error("gearman_xs: sending WORK_EXCEPTION failed: %s", error_for(rc))
