"""``Worker``: Gearman::XS::Worker over libgearman's ``gearman_worker_st``.

Beyond Gearman::XS, a Worker:

* stays interruptible: libgearman waits in ``poll()`` and swallows EINTR, so the Worker keeps an
  internal poll timeout of ``SLICE_MS`` and loops in Python, emulating the timeout you set with
  ``set_timeout()``. Ctrl-C (KeyboardInterrupt) and ``stop()`` take effect within a slice;
* never lets a Python error reach libgearman as a requeue request: an exception in a worker
  function fails that job (WORK_FAIL, optionally WORK_EXCEPTION first) and is logged on the
  ``gearman_xs`` logger; the worker carries on. KeyboardInterrupt and SystemExit fail the job too,
  and are re-raised from ``work()`` once libgearman is done with the job;
* has ``run()``, a loop that handles SIGTERM/SIGINT (finish the current job, then return), backs
  off while every server is down, and picks up restarted servers while idle;
* re-sends its identifier after a reconnect (libgearman 1.1.20 forgets it);
* makes ``grab_job()`` safe after NO_JOBS (libgearman 1.1.20 crashes on the next grab there): the
  worker continues on a ``gearman_worker_clone()`` of itself, whose state machine starts afresh.
"""

from __future__ import annotations

import inspect
import logging
import math
import signal
import threading
import time
from types import FrameType, TracebackType
from typing import Any, Callable, Dict, List, Optional, Tuple, Type, Union

from . import _args, _tls
from ._grabbed import GrabbedJobs
from ._guard import WorkerGuard
from ._libgearman import ffi, lib
from .errors import (
    CONNECTION_CODES,
    ClosedError,
    GearmanConnectionError,
    GearmanError,
    check,
    error_for,
    error_from,
    error_text,
)
from .job import Job

__all__ = ["Worker", "SLICE_MS"]

log = logging.getLogger("gearman_xs")

#: The internal libgearman poll timeout (ms): the longest a blocked work() goes without
#: checking stop(), signals, the user's timeout and dead servers.
SLICE_MS = 200
#: Longest pause between reconnection attempts (seconds): run() while every server is down, and
#: work()/grab-less passes against a server that closes the connection or sends a bad packet.
MAX_BACKOFF = 1.0
_MIN_BACKOFF = 0.05
#: How long a reply the worker is receiving may stall before the connection is dropped (ms); see
#: net_guard (libgearman 1.1.20 crashes when its poll times out inside a reply).
REPLY_WAIT_MS = 5000

_NULL = ffi.NULL
_dup = lib.gxs_dup
_new_job = object.__new__
_SUCCESS = lib.GEARMAN_SUCCESS
_TIMEOUT = lib.GEARMAN_TIMEOUT
_WORK_FAIL = lib.GEARMAN_WORK_FAIL
_TIMEOUT_RETURN = lib.GEARMAN_WORKER_TIMEOUT_RETURN
_NON_BLOCKING = lib.GEARMAN_WORKER_NON_BLOCKING
_UINT32_MAX = 2**32 - 1
_NO_JOB_CODES = frozenset({lib.GEARMAN_IO_WAIT, lib.GEARMAN_NO_JOBS})
_SHUTDOWN_CODES = frozenset({lib.GEARMAN_SHUTDOWN, lib.GEARMAN_SHUTDOWN_GRACEFUL})
# The connection codes (errors.CONNECTION_CODES) after which libgearman reconnects on the next pass.
_CONNECTION_CODES = CONNECTION_CODES & {lib.GEARMAN_COULD_NOT_CONNECT, lib.GEARMAN_LOST_CONNECTION}
# A server that sent something libgearman could not use (the connection is closed after it).
_PROTOCOL_CODES = frozenset({lib.GEARMAN_INVALID_MAGIC, lib.GEARMAN_INVALID_COMMAND,
                             lib.GEARMAN_INVALID_PACKET, lib.GEARMAN_UNEXPECTED_PACKET,
                             lib.GEARMAN_TOO_MANY_ARGS, lib.GEARMAN_MEMORY_ALLOCATION_FAILURE})

# _work() outcomes
_RAN, _STOPPED, _IDLE = 1, 0, -1

WorkerFunction = Callable[..., Any]
LogFunction = Callable[[str, int], Any]

# Exceptions raised at the entry of a callback, before its try: (a pending signal's
# KeyboardInterrupt). cffi hands them to _entry_error(); the thread that runs work() re-raises them.
_entry_errors: List[Tuple[int, BaseException]] = []


def _entry_error(exc_type: Type[BaseException], exc: BaseException, tb: Optional[TracebackType]) -> None:
    _entry_errors.append((threading.get_ident(), exc))
    return None  # NULL result; the C trampoline preset *ret_ptr to GEARMAN_WORK_FAIL


class _Function:
    """What the C function context points at (through ffi.new_handle)."""

    __slots__ = ("context", "fn", "name", "pass_context", "worker")

    def __init__(self, worker: Worker, name: bytes, fn: WorkerFunction, context: Any) -> None:
        self.worker = worker
        self.name = name
        self.set(fn, context)

    def set(self, fn: WorkerFunction, context: Any) -> None:
        """Decided once, here: ``fn(job, context)`` when a context is given, unless ``fn`` takes
        exactly one positional parameter (a literal port of Perl's ``sub f { my $job = shift; ...}``
        registered with a context): then ``fn(job)``."""
        self.fn = fn
        self.context = context
        self.pass_context = context is not None and not _takes_one_positional(fn)


def _takes_one_positional(fn: WorkerFunction) -> bool:
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


def _number_text(value: Union[int, float]) -> bytes:
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


class _LogTarget:
    __slots__ = ("fn", "worker")

    def __init__(self, worker: Worker, fn: LogFunction) -> None:
        self.worker = worker
        self.fn = fn


@ffi.def_extern(onerror=_entry_error)  # type: ignore[untyped-decorator]
def gxs_worker_function(
    job_ptr: Any, context: Any, workload: Any, workload_size: int, size_ptr: Any, ret_ptr: Any
) -> Any:
    rec: _Function = ffi.from_handle(context)
    return rec.worker._call(rec, job_ptr, workload, workload_size, size_ptr, ret_ptr)


@ffi.def_extern(onerror=_entry_error)  # type: ignore[untyped-decorator]
def gxs_log(line: Any, verbose: int, context: Any) -> None:
    target: _LogTarget = ffi.from_handle(context)
    worker = target.worker
    text = ffi.string(line).decode("utf-8", "replace")
    if worker._slicing and verbose == lib.GEARMAN_VERBOSE_ERROR and (
        "GEARMAN_TIMEOUT" in text or "timeout return reached" in text
    ):
        return  # the internal poll slices' timeouts, not the user's
    try:
        target.fn(text, int(verbose))
    except BaseException as exc:  # carried back to the caller of the libgearman call
        if worker._pending is None:
            worker._pending = exc


_LOG_LEVELS = {
    lib.GEARMAN_VERBOSE_FATAL: logging.CRITICAL,
    lib.GEARMAN_VERBOSE_ERROR: logging.ERROR,
    lib.GEARMAN_VERBOSE_INFO: logging.INFO,
    lib.GEARMAN_VERBOSE_DEBUG: logging.DEBUG,
    lib.GEARMAN_VERBOSE_CRAZY: logging.DEBUG,
}


class Worker:
    """A Gearman worker (``Gearman::XS::Worker``); a context manager, ``close()`` frees it.

    ``send_exceptions=True`` makes a function that raises send WORK_EXCEPTION
    (``"ExceptionType: message"``) before the job fails; only do that when every client enables
    exceptions or gearmand runs with ``--exceptions``, because libgearman 1.1 clients without them
    wait forever for such a job. By default a raising function's job gets WORK_FAIL only.

    One Worker per thread: a second thread calling in raises ``ConcurrentUseError``, except
    ``stop()``, which any thread or signal handler may call.
    """

    def __init__(self, send_exceptions: bool = False) -> None:
        self._guard = WorkerGuard("Worker")  # the lock (not reentrant), closed, inside a function
        self._ptr: Any = None
        ptr = lib.gearman_worker_create(_NULL)
        if ptr == _NULL:
            raise MemoryError("gearman_worker_create() failed")
        # freed by close(), or (a C worker replaced by grab_job()) when the last reference goes
        ptr = self._ptr = ffi.gc(ptr, lib.gearman_worker_free)
        self.send_exceptions = bool(send_exceptions)
        self._functions: Dict[bytes, Tuple[_Function, Any]] = {}
        self._dead_handles: List[Any] = []  # contexts libgearman may still hold
        self._stop = False
        self._pending: Optional[BaseException] = None
        self._calls = 0
        self._job_failed = False  # last_job_failed
        self._slicing = False
        self._timeout = -1  # the user's view: timeout() / set_timeout()
        self._timeout_return = False
        self._c_timeout = SLICE_MS
        self._dirty = False  # a job was taken since the C state machine last restarted
        self._jobs = GrabbedJobs(self._guard)  # what grab_job() handed out
        self._identifier: Optional[bytes] = None
        self._tls: Optional[_tls.TlsSettings] = None  # set_ssl(), re-applied to every clone
        self._id_stale = False
        self._log_handle: Any = None
        self._log_verbose = 0
        self._close_pending = False
        self._fresh_clone = False  # renewed after a non-blocking NO_JOBS: nothing to wait on yet
        self._backoff = 0.0  # the pause after the last failed pass (s); 0 after a good one
        self._retry_at = 0.0  # time.monotonic() before which no new pass starts
        lib.gearman_worker_set_timeout(ptr, SLICE_MS)

    # -- locking and errors ------------------------------------------------------------------------

    def _simple(self, fn: Callable[..., Any], *args: Any) -> Any:
        with self._guard.enter():
            ptr = self._ptr
            return fn(ptr, *args)

    def _check(self, rc: int, ptr: Any) -> None:
        """errors.check(), after an exception a callback left for this call."""
        self._raise_pending()
        check(rc, ptr)

    def _raise_pending(self) -> None:
        if _entry_errors:
            me = threading.get_ident()
            for i, (ident, entry_exc) in enumerate(_entry_errors):
                if ident == me:
                    del _entry_errors[i]
                    if self._pending is None:
                        self._pending = entry_exc
                    break
        pending = self._pending
        if pending is not None:
            self._pending = None
            raise pending

    # -- servers ---------------------------------------------------------------------------------

    def add_server(self, host: Optional[Union[str, bytes]] = None, port: Union[int, str] = 0) -> None:
        """Adds a job server; ``host`` None means localhost and ``port`` (an int or a string of
        digits) 0 means 4730. Nothing is connected until the worker works."""
        h = _args.optional_host(host)
        p = _args.port(port)
        with self._guard.enter():
            ptr = self._ptr
            self._check(lib.gearman_worker_add_server(ptr, h, p), ptr)

    def add_servers(self, servers: Union[str, bytes]) -> None:
        """Adds job servers from a list like ``"host1:4730,host2"``."""
        s = _args.name(servers, "servers", 65536)
        with self._guard.enter():
            ptr = self._ptr
            self._check(lib.gearman_worker_add_servers(ptr, s), ptr)

    def remove_servers(self) -> None:
        """Removes (and disconnects) every job server."""
        self._simple(lib.gearman_worker_remove_servers)

    def echo(self, data: _args.Payload) -> None:
        """Sends ECHO_REQ to every server and checks the echo; raises on failure (including when
        any server is down, notes §3 #18)."""
        buf, size = _args.payload(data, "data")
        if size == 0:
            raise ValueError("echo data must not be empty")
        with self._guard.enter():
            ptr = self._ptr
            self._check(lib.gearman_worker_echo(ptr, buf, size), ptr)

    def error(self) -> Optional[str]:
        """libgearman's last error text (only meaningful right after a failure), or None."""
        return self._simple(error_text)  # type: ignore[no-any-return]

    def errno(self) -> int:
        """The last system errno libgearman saw."""
        return int(self._simple(lib.gearman_worker_errno))

    # -- options and timeout ---------------------------------------------------------------------

    def options(self) -> int:
        """The ``GEARMAN_WORKER_*`` option bits. ``GEARMAN_WORKER_TIMEOUT_RETURN`` reports what
        you set (the Worker always uses it internally)."""
        opts = int(self._simple(lib.gearman_worker_options)) & ~_TIMEOUT_RETURN
        return int(opts | (_TIMEOUT_RETURN if self._timeout_return else 0))

    def set_options(self, options: int) -> None:
        """Sets the options (libgearman adds or removes each settable bit). Removing
        TIMEOUT_RETURN resets timeout() to GEARMAN_WORKER_WAIT_TIMEOUT, as in libgearman."""
        o = _args.int_arg(options, "options", 0, _UINT32_MAX)
        with self._guard.enter():
            ptr = self._ptr
            lib.gearman_worker_set_options(ptr, o | _TIMEOUT_RETURN)
            self._set_timeout_return(bool(o & _TIMEOUT_RETURN))

    def add_options(self, options: int) -> None:
        """Adds option bits."""
        o = _args.int_arg(options, "options", 0, _UINT32_MAX)
        with self._guard.enter():
            ptr = self._ptr
            lib.gearman_worker_add_options(ptr, o & ~_TIMEOUT_RETURN)
            if o & _TIMEOUT_RETURN:
                self._timeout_return = True

    def remove_options(self, options: int) -> None:
        """Removes option bits."""
        o = _args.int_arg(options, "options", 0, _UINT32_MAX)
        with self._guard.enter():
            ptr = self._ptr
            lib.gearman_worker_remove_options(ptr, o & ~_TIMEOUT_RETURN)
            if o & _TIMEOUT_RETURN:
                self._set_timeout_return(False)

    def _set_timeout_return(self, on: bool) -> None:
        if not on:  # libgearman's remove_options(TIMEOUT_RETURN) resets the timeout
            self._timeout = lib.GEARMAN_WORKER_WAIT_TIMEOUT
        self._timeout_return = on

    def timeout(self) -> int:
        """The timeout in ms (-1: none), as set by set_timeout()."""
        return self._timeout

    def set_timeout(self, timeout: int) -> None:
        """work() raises GearmanTimeout after ``timeout`` ms without a job (0: poll once;
        -1: never). Also turns on GEARMAN_WORKER_TIMEOUT_RETURN, like libgearman."""
        t = _args.int_arg(timeout, "timeout", -1, 2**31 - 1)
        if self._ptr is None:
            raise ClosedError("Worker")
        self._timeout = t
        self._timeout_return = True

    # -- logging ---------------------------------------------------------------------------------

    def set_log_fn(self, function: Optional[LogFunction], verbose: int) -> None:
        """Calls ``function(line, verbose_level)`` for each libgearman log line at or below
        ``verbose`` (a GEARMAN_VERBOSE_* level); None removes it. An exception in it is re-raised
        by the Worker call during which the line was logged. The ERROR lines caused by the
        Worker's internal poll slices are not passed on."""
        if function is not None and not callable(function):
            raise TypeError("set_log_fn() needs a callable or None")
        v = _args.int_arg(verbose, "verbose", lib.GEARMAN_VERBOSE_NEVER, lib.GEARMAN_VERBOSE_CRAZY)
        with self._guard.enter():
            ptr = self._ptr
            self._install_log(ptr, function, v)

    def _install_log(self, ptr: Any, function: Optional[LogFunction], verbose: int) -> None:
        if function is None:
            lib.gearman_worker_set_log_fn(ptr, ffi.cast("gearman_log_fn *", _NULL), _NULL, 0)
            handle = None
        else:
            handle = ffi.new_handle(_LogTarget(self, function))
            lib.gearman_worker_set_log_fn(ptr, lib.gxs_log, handle, verbose)
        if self._log_handle is not None:
            self._dead_handles.append(self._log_handle)
        self._log_handle = handle
        self._log_verbose = verbose

    def log_to_logging(
        self, verbose: int = lib.GEARMAN_VERBOSE_ERROR, logger: Optional[logging.Logger] = None
    ) -> None:
        """Routes libgearman's log lines up to ``verbose`` into ``logger`` (default
        ``logging.getLogger("gearman_xs.libgearman")``): FATAL → CRITICAL, ERROR → ERROR,
        INFO → INFO, DEBUG/CRAZY → DEBUG."""
        target = logger or logging.getLogger("gearman_xs.libgearman")

        def forward(line: str, level: int) -> None:
            target.log(_LOG_LEVELS.get(level, logging.DEBUG), "%s", line)

        self.set_log_fn(forward, verbose)

    # -- identity --------------------------------------------------------------------------------

    def set_identifier(self, identifier: Union[str, bytes]) -> None:
        """Sets the worker id the server shows in ``workers`` (printable ASCII, no spaces, up to
        254 bytes). Not in Gearman::XS. Re-sent after every reconnect."""
        ident = _args.name(identifier, "identifier", _args.MAX_IDENTIFIER)
        if any(b < 0x21 or b > 0x7E for b in ident):
            raise ValueError("identifier must be printable ASCII without spaces")
        with self._guard.enter():
            ptr = self._ptr
            self._check(lib.gearman_worker_set_identifier(ptr, ident, len(ident)), ptr)
            self._identifier = ident

    def set_ssl(self, ca_file: _tls.PathArg = None, certificate: _tls.PathArg = None,
                key: _tls.PathArg = None) -> None:
        """Speaks TLS to every server from now on (``gearman_worker_set_ssl``, libgearman 2.0.0;
        not in Gearman::XS). Same arguments and checks as ``Client.set_ssl()``: the server's
        certificate is verified against ``ca_file``; GearmanError names a missing or bad file, or
        says that this libgearman has no TLS. Connections already open are dropped."""
        tls = _tls.settings(ca_file, certificate, key, "Worker")
        with self._guard.enter():
            ptr = self._ptr
            self._tls = tls
            tls.apply_worker(ptr)
            self._renew(ptr)  # a fresh clone: no connection opened in plain text survives

    def set_namespace(self, namespace: Optional[Union[str, bytes]]) -> None:
        """Prefixes function names with ``namespace`` so that only clients using the same
        namespace see them; applies to functions added afterwards. None or "" removes it.
        Not in Gearman::XS."""
        ns = b"" if namespace is None else _args.name(namespace, "namespace", 1024, allow_empty=True)
        with self._guard.enter():
            ptr = self._ptr
            lib.gearman_worker_set_namespace(ptr, ns or _NULL, len(ns))

    def namespace(self) -> Optional[str]:
        """The namespace set with set_namespace(), or None."""
        return _args.c_string(self._simple(lib.gearman_worker_namespace))

    # -- functions -------------------------------------------------------------------------------

    def register(self, function_name: Union[str, bytes], timeout: int = 0) -> None:
        """Registers a function without a callback, for grab_job() (CAN_DO, or CAN_DO_TIMEOUT
        with ``timeout`` seconds). work() cannot run jobs of such a function."""
        name = _args.function_name(function_name)
        t = _args.int_arg(timeout, "timeout", 0, _UINT32_MAX)
        with self._guard.enter():
            ptr = self._ptr
            self._check(lib.gearman_worker_register(ptr, name, t), ptr)

    def add_function(
        self,
        function_name: Union[str, bytes],
        timeout: int,
        function: WorkerFunction,
        context: Any = None,
    ) -> None:
        """Registers ``function`` for ``function_name``; ``timeout`` is the server-side
        CAN_DO_TIMEOUT in seconds (0: none). work() calls ``function(job, context)`` when a
        context (not None) is given, as Gearman::XS calls ``$code->($job, $context)``, and
        ``function(job)`` otherwise, or whatever the context when ``function`` takes exactly one
        positional parameter (decided here, from its signature: see docs/porting.md).

        Its return value is the result: bytes, bytearray, memoryview, str (UTF-8), None (empty),
        or an int or float, sent as the decimal text Perl would print (``3`` -> ``b"3"``,
        ``1.5`` -> ``b"1.5"``, ``0.1 + 0.2`` -> ``b"0.3"``: 15 significant digits). Any other
        type (bool included) fails the job with a logged error. Adding a name again replaces its
        function and context."""
        name = _args.function_name(function_name)
        t = _args.int_arg(timeout, "timeout", 0, _UINT32_MAX)
        if not callable(function):
            raise TypeError(f"function must be callable, not {type(function).__name__}")
        with self._guard.enter():
            ptr = self._ptr
            existing = self._functions.get(name)
            if existing is not None and lib.gearman_worker_function_exist(ptr, name, len(name)):
                existing[0].set(function, context)
                return
            rec = _Function(self, name, function, context)
            handle = ffi.new_handle(rec)
            self._check(lib.gxs_worker_add_function(ptr, name, t, handle), ptr)
            if existing is not None:
                self._dead_handles.append(existing[1])
            self._functions[name] = (rec, handle)

    def unregister(self, function_name: Union[str, bytes]) -> None:
        """Unregisters a function (CANT_DO); raises GearmanError (NO_REGISTERED_FUNCTION) when it
        is not registered."""
        name = _args.function_name(function_name)
        with self._guard.enter():
            ptr = self._ptr
            self._check(lib.gearman_worker_unregister(ptr, name), ptr)
            entry = self._functions.pop(name, None)
            if entry is not None:
                self._dead_handles.append(entry[1])

    def unregister_all(self) -> None:
        """Unregisters every function; raises GearmanError (NO_REGISTERED_FUNCTIONS) when there
        are none."""
        with self._guard.enter():
            ptr = self._ptr
            self._check(lib.gearman_worker_unregister_all(ptr), ptr)
            self._dead_handles.extend(h for _, h in self._functions.values())
            self._functions.clear()

    def function_exists(self, function_name: Union[str, bytes]) -> bool:
        """True when the function is registered (Gearman::XS ``function_exists``)."""
        name = _args.function_name(function_name)
        return bool(self._simple(lib.gearman_worker_function_exist, name, len(name)))

    # -- the worker function call (inside gearman_worker_work) -------------------------------------

    def _call(
        self, rec: _Function, job_ptr: Any, workload: Any, workload_size: int, size_ptr: Any, ret_ptr: Any
    ) -> Any:
        """One job (the hot path of every worker): returns a malloc'd copy of the result, which
        the C trampoline takes as success, or NULL with *ret_ptr set (it was preset to
        WORK_FAIL)."""
        job = _new_job(Job)  # Job._for_call(), inline
        job._ptr = job_ptr
        job._wl = workload
        job._wl_size = workload_size
        job._finished = job._failed = False
        job._jobs = None
        job._owner = None
        self._job_failed = False  # set on each failure path below (last_job_failed)
        guard = self._guard
        guard.in_callback = True
        self._calls += 1
        try:
            result = rec.fn(job, rec.context) if rec.pass_context else rec.fn(job)
        except BaseException as exc:
            self._job_failed = True
            self._function_raised(rec, job, job_ptr, exc)
            return _NULL
        finally:
            job._ptr = None
            guard.in_callback = False
        if job._finished or result is None:  # already answered, or an empty result
            self._job_failed = job._failed
            ret_ptr[0] = _SUCCESS
            return _NULL
        if type(result) is bytes:  # the usual case: one C call copies it into malloc'd memory
            size = len(result)
            if size:
                buf = _dup(result, size)
                if buf != _NULL:
                    size_ptr[0] = size
                    return buf
                self._job_failed = True
                log.error("gearman_xs: no memory for a %d-byte result: job %s failed", size, _handle(job_ptr))
                return _NULL
            ret_ptr[0] = _SUCCESS
            return _NULL
        if isinstance(result, str):
            result = result.encode("utf-8")
        elif isinstance(result, memoryview):
            if not result.c_contiguous:
                result = result.tobytes()
        elif isinstance(result, (int, float)) and not isinstance(result, bool):
            try:
                result = _number_text(result)  # as Perl sends `return $a + $b`
            except ValueError as exc:
                self._job_failed = True
                log.error("gearman_xs: function %r returned %s: job %s failed",
                          rec.name.decode("utf-8", "replace"), exc, _handle(job_ptr))
                return _NULL
        elif not isinstance(result, (bytes, bytearray)):
            self._job_failed = True
            log.error(
                "gearman_xs: function %r returned %s; it must return bytes, bytearray, memoryview,"
                " str, int, float or None: job %s failed",
                rec.name.decode("utf-8", "replace"),
                type(result).__name__,
                _handle(job_ptr),
            )
            return _NULL  # *ret_ptr is GEARMAN_WORK_FAIL
        size = result.nbytes if isinstance(result, memoryview) else len(result)
        if size == 0:
            ret_ptr[0] = _SUCCESS
            return _NULL
        buf = lib.malloc(size)  # libgearman frees it
        if buf == _NULL:
            self._job_failed = True
            log.error("gearman_xs: no memory for a %d-byte result: job %s failed", size, _handle(job_ptr))
            return _NULL
        ffi.memmove(buf, result, size)
        size_ptr[0] = size
        return buf  # the trampoline stores GEARMAN_SUCCESS

    def _function_raised(self, rec: _Function, job: Job, job_ptr: Any, exc: BaseException) -> None:
        """The job fails (the trampoline preset *ret_ptr to WORK_FAIL); never a requeue code."""
        fname = rec.name.decode("utf-8", "replace")
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            log.warning(
                "gearman_xs: %s in function %r: job %s failed",
                type(exc).__name__, fname, _handle(job_ptr),
            )
            if self._pending is None:
                self._pending = exc
            return
        log.error(
            "gearman_xs: function %r raised: job %s failed", fname, _handle(job_ptr), exc_info=exc
        )
        if self.send_exceptions and not job._finished:
            text = f"{type(exc).__name__}: {exc}".encode("utf-8", "replace")
            rc = lib.gearman_job_send_exception(job_ptr, text, len(text))
            if rc != _SUCCESS:
                log.error("gearman_xs: sending WORK_EXCEPTION failed: %s", error_for(rc))

    # -- working ---------------------------------------------------------------------------------

    def work(self) -> bool:
        """Waits for one job and runs its function (Gearman::XS ``work``). Returns True when a job
        was run (even one whose function raised: the job failed, the worker lives on; see
        ``last_job_failed``), False when stop() was called, or in non-blocking mode when there was
        nothing to do. Raises GearmanTimeout when a timeout is set and no job came,
        GearmanConnectionError when no server can be reached, and re-raises a
        KeyboardInterrupt/SystemExit from the function."""
        guard = self._guard.enter()
        self._job_failed = False
        try:
            with guard:
                return self._work(self._ptr, self._deadline()) == _RAN
        finally:
            if self._close_pending:
                self.close()

    @property
    def last_job_failed(self) -> bool:
        """True when the job the last work() ran failed: its function raised, returned a value
        that cannot be sent, called ``job.send_fail()``/``send_exception()``, or its answer could
        not be sent. False after a completed job and after a work() that ran none. This is what
        Gearman::XS's ``$ret = $worker->work()`` told apart with ``GEARMAN_WORK_FAIL``
        (``work()`` itself returns a boolean); run() updates it too, per job."""
        return self._job_failed

    def _deadline(self) -> Optional[float]:
        if not self._timeout_return or self._timeout < 0:
            return None
        return time.monotonic() + self._timeout / 1000.0

    def _set_c_timeout(self, ptr: Any, ms: int) -> None:
        if ms != self._c_timeout:
            lib.gearman_worker_set_timeout(ptr, ms)
            self._c_timeout = ms

    def _work(self, ptr: Any, deadline: Optional[float]) -> int:
        self._fresh_clone = False
        if self._jobs.orphans:
            self._jobs.release_orphans()
        lost = 0
        self._slicing = True
        _set_reply_wait(deadline)
        try:
            while True:
                if self._stop:
                    self._stop = False
                    return _STOPPED
                if self._retry_at and not self._wait_retry(deadline):
                    return _STOPPED
                if deadline is not None:
                    remaining = math.ceil((deadline - time.monotonic()) * 1000)
                    self._set_c_timeout(ptr, max(0, min(SLICE_MS, remaining)))
                elif self._c_timeout != SLICE_MS:
                    self._set_c_timeout(ptr, SLICE_MS)
                calls = self._calls
                started = time.monotonic()
                rc = lib.gearman_worker_work(ptr)
                if rc == _SUCCESS:
                    self._backoff = 0.0
                    self._dirty = True
                    if self._id_stale:
                        self._resend_identifier(ptr)
                    if self._pending is not None or _entry_errors:
                        self._raise_pending()
                    return _RAN
                if self._calls != calls:
                    # The function ran and the job failed (WORK_FAIL) or its result could not be
                    # sent: libgearman answers the job on the next call, without grabbing another.
                    self._job_failed = True
                    self._dirty = True
                    self._flush(ptr, rc)
                    self._raise_pending()
                    return _RAN
                if self._closed_early(rc, started):
                    # libgearman gave up without waiting: the server closed the connection (after
                    # CAN_DO/GRAB_JOB). Reconnecting at once would hammer it: back off.
                    self._failed_pass()
                    self._id_stale = True
                    lost += 1
                    if lost < 3:
                        continue
                    self._raise_pending()
                    raise error_for(lib.GEARMAN_LOST_CONNECTION, "the server closed the connection")
                if rc == _TIMEOUT:
                    self._backoff = 0.0
                    self._dirty = False
                    if self._id_stale:
                        self._resend_identifier(ptr)
                    self._raise_pending()
                    if deadline is not None and time.monotonic() >= deadline:
                        raise error_for(rc, "no job within the worker's timeout")
                    continue
                if rc in _NO_JOB_CODES:
                    self._raise_pending()
                    return _IDLE
                if rc in _CONNECTION_CODES:
                    self._failed_pass()
                    self._id_stale = True
                    lost += 1
                    if rc == lib.GEARMAN_LOST_CONNECTION and lost < 3:
                        continue  # libgearman reconnects on the next pass
                    self._raise_pending()
                    raise error_from(rc, ptr)
                if rc in _SHUTDOWN_CODES:
                    return _STOPPED
                if rc in _PROTOCOL_CODES:
                    self._failed_pass()
                    self._id_stale = True
                self._raise_pending()
                raise error_from(rc, ptr)
        finally:
            self._slicing = False
            _set_reply_wait(None, 0)

    def _closed_early(self, rc: int, started: float) -> bool:
        """A GEARMAN_TIMEOUT long before the poll timeout: libgearman did not wait, because the
        server closed the connection."""
        return rc == _TIMEOUT and self._c_timeout >= 20 and (
            time.monotonic() - started < self._c_timeout / 2000.0
        )

    def _failed_pass(self) -> None:
        """A pass lost its connection or got a bad packet: the next pass waits, 50 ms doubling up
        to MAX_BACKOFF, so a server that keeps closing on the worker is not reconnected in a loop."""
        self._backoff = min(MAX_BACKOFF, max(_MIN_BACKOFF, self._backoff * 2))
        self._retry_at = time.monotonic() + self._backoff

    def _wait_retry(self, deadline: Optional[float]) -> bool:
        """Sleeps until the back-off ends; False if stop() was called. Raises GearmanTimeout when
        the deadline comes first, and lets KeyboardInterrupt through (short sleeps)."""
        while True:
            if self._stop:
                self._stop = False
                return False
            now = time.monotonic()
            if now >= self._retry_at:
                self._retry_at = 0.0
                return True
            if deadline is not None and now >= deadline:
                raise error_for(_TIMEOUT, "no job within the worker's timeout (a server failed; "
                                "backing off)")
            end = self._retry_at if deadline is None else min(self._retry_at, deadline)
            time.sleep(min(end - now, 0.05))

    def _flush(self, ptr: Any, rc: int) -> None:
        for _ in range(3):
            rc = lib.gearman_worker_work(ptr)
            if rc == _SUCCESS:
                return
        log.error("gearman_xs: could not answer a failed job: %s", error_from(rc, ptr))

    def _resend_identifier(self, ptr: Any) -> None:
        """After a pass that (re)connected: libgearman 1.1.20 does not re-send the identifier
        on a new connection. Called only after such a pass, because sending on a closed
        connection would reconnect it without the CAN_DOs of the function list."""
        self._id_stale = False
        ident = self._identifier
        if ident is not None:
            lib.gearman_worker_set_identifier(ptr, ident, len(ident))

    def stop(self) -> None:
        """Makes a work() or run() in progress (or the next one) return: after the current job,
        or within SLICE_MS when idle. Safe from any thread and from signal handlers."""
        self._stop = True

    def run(self, count: Optional[int] = None, *, handle_signals: bool = True) -> int:
        """Runs jobs until stop(), SIGTERM/SIGINT, or ``count`` jobs; returns the number of jobs
        run. Not in Gearman::XS.

        With ``handle_signals`` (and in the main thread) SIGTERM and SIGINT finish the current job
        and then return; the previous handlers are restored on return. While every server is down
        it retries with an exponential back-off of up to MAX_BACKOFF seconds instead of spinning;
        restarted servers are picked up within SLICE_MS even while idle. The timeout set with
        set_timeout() does not apply."""
        if count is not None:
            count = _args.int_arg(count, "count", 0, 2**63 - 1)
        guard = self._guard.enter()
        previous: Dict[signal.Signals, Any] = {}
        try:
            with guard:
                try:
                    if handle_signals and threading.current_thread() is threading.main_thread():

                        def on_signal(signum: int, frame: Optional[FrameType]) -> None:
                            self._stop = True

                        for sig in (signal.SIGTERM, signal.SIGINT):
                            previous[sig] = signal.signal(sig, on_signal)
                    return self._run(self._ptr, count)
                finally:
                    for sig, handler in previous.items():
                        signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        finally:
            if self._close_pending:
                self.close()

    def _run(self, ptr: Any, count: Optional[int]) -> int:
        done = 0
        failing = False
        while count is None or done < count:
            try:
                outcome = self._work(ptr, None)
            except GearmanError as exc:
                if not isinstance(exc, GearmanConnectionError) and exc.code not in _PROTOCOL_CODES:
                    raise
                if not failing:
                    log.warning("gearman_xs: no usable job server (%s); retrying with back-off", exc)
                failing = True
                if not self._retry_at:
                    self._failed_pass()
                continue  # the next pass waits for the back-off (_wait_retry)
            if outcome == _STOPPED:
                break
            if outcome == _IDLE:  # non-blocking mode: wait for activity
                rc = lib.gearman_worker_wait(ptr)
                if rc not in (_SUCCESS, _TIMEOUT) and self._nap(_MIN_BACKOFF):
                    break
                continue
            if failing:
                log.info("gearman_xs: job server reachable again")
            failing = False
            done += 1
        return done

    def _nap(self, seconds: float) -> bool:
        """Sleeps up to ``seconds``; True (and the stop consumed) if stop() was called."""
        end = time.monotonic() + seconds
        while True:
            if self._stop:
                self._stop = False
                return True
            left = end - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(left, 0.05))

    def wait(self) -> None:
        """Non-blocking mode: waits until a server has something (Gearman::XS ``wait``); raises
        GearmanTimeout after the timeout; returns early after stop()."""
        with self._guard.enter():
            ptr = self._ptr
            try:
                deadline = self._deadline()
                self._slicing = True
                while True:
                    if self._stop:
                        self._stop = False
                        return
                    if deadline is not None:
                        remaining = math.ceil((deadline - time.monotonic()) * 1000)
                        self._set_c_timeout(ptr, max(0, min(SLICE_MS, remaining)))
                    if self._fresh_clone:
                        # After a non-blocking grab_job()'s NO_JOBS the worker is a fresh clone with no
                        # connection (see grab_job()): nothing can wake it, so wait one slice and let
                        # the next grab_job() ask the servers again.
                        self._fresh_clone = False
                        wake = time.monotonic() + SLICE_MS / 1000.0
                        if deadline is not None and deadline < wake:
                            if self._nap(max(0.0, deadline - time.monotonic())):
                                return
                            raise error_for(_TIMEOUT, "nothing within the worker's timeout")
                        self._nap(SLICE_MS / 1000.0)
                        return
                    rc = lib.gearman_worker_wait(ptr)
                    if rc == _TIMEOUT:
                        self._raise_pending()
                        if deadline is not None and time.monotonic() >= deadline:
                            raise error_for(rc, "nothing within the worker's timeout")
                        continue
                    self._check(rc, ptr)
                    return
            finally:
                self._slicing = False

    # -- grab_job --------------------------------------------------------------------------------

    def grab_job(self) -> Optional[Job]:
        """Asks the servers for one job of a registered function without running anything
        (Gearman::XS ``grab_job``): a Job, or None when there is none (NO_JOBS, or IO_WAIT in
        non-blocking mode). The Job must be answered with send_complete()/send_fail()/
        send_exception(); one dropped unanswered is failed and logged."""
        with self._guard.enter():
            ptr = self._ptr
            if self._jobs.orphans:
                self._jobs.release_orphans()
            if self._retry_at and not self._wait_retry(self._deadline()):
                return None
            rc_ptr = ffi.new("gearman_return_t *")
            self._slicing = True
            started = time.monotonic()
            _set_reply_wait(self._deadline())
            try:
                job_ptr = lib.gearman_worker_grab_job(ptr, _NULL, rc_ptr)
            finally:
                self._slicing = False
                _set_reply_wait(None, 0)
            rc = rc_ptr[0]
            self._fresh_clone = False
            if rc in _CONNECTION_CODES or rc in _PROTOCOL_CODES or self._closed_early(rc, started):
                self._failed_pass()
            else:
                self._backoff = 0.0
            if rc == _SUCCESS and job_ptr != _NULL:
                self._dirty = True
                if self._id_stale:
                    self._resend_identifier(ptr)
                job = self._jobs.add(Job._grabbed(job_ptr, self._jobs, ptr))
                self._raise_pending()
                return job
            no_jobs_nb = rc == lib.GEARMAN_NO_JOBS and bool(lib.gearman_worker_options(ptr) & _NON_BLOCKING)
            if self._dirty or no_jobs_nb:
                # libgearman 1.1.20 left its state machine pointing past the last connection (after
                # a job was taken, and after any NO_JOBS in non-blocking mode): the next
                # grab_job()/work() on this gearman_worker_st would crash. Continue on a fresh
                # clone of it.
                self._renew(ptr)
                self._fresh_clone = no_jobs_nb
            if rc in _CONNECTION_CODES:
                self._id_stale = True
            self._raise_pending()
            if rc in _NO_JOB_CODES or rc == _TIMEOUT:
                return None
            raise error_from(rc, ptr)

    def _renew(self, old: Any) -> None:
        new = lib.gearman_worker_clone(_NULL, old)
        if new == _NULL:
            raise MemoryError("gearman_worker_clone() failed")
        missing = int(lib.gearman_worker_options(old)) & ~int(lib.gearman_worker_options(new))
        if missing:  # gearman_worker_clone() drops NON_BLOCKING (and options() then hides it)
            lib.gearman_worker_add_options(new, missing)
        lib.gearman_worker_set_timeout(new, self._c_timeout)
        if self._identifier is not None:
            lib.gearman_worker_set_identifier(new, self._identifier, len(self._identifier))
        if self._tls is not None:  # the clone keeps libgearman's TLS flag but not the files
            self._tls.apply_worker(new)
        if self._log_handle is not None:
            lib.gearman_worker_set_log_fn(new, lib.gxs_log, self._log_handle, self._log_verbose)
        # the old one is freed when the last reference goes: at once, or with its last grabbed job
        self._ptr = ffi.gc(new, lib.gearman_worker_free)
        self._dirty = False

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._ptr is None

    def close(self) -> None:
        """Fails and frees unanswered grabbed jobs, then frees the worker (its connections close).
        Called from inside a worker function, it takes effect when work() returns."""
        if self._guard.in_callback:
            self._close_pending = True
            return
        if self._ptr is None:
            return
        with self._guard.hold():
            ptr = self._ptr
            if ptr is None:
                return
            self._close_pending = False
            self._jobs.close()
            self._ptr = None
            self._guard.closed = True
            ffi.release(ptr)  # gearman_worker_free() now
            self._functions.clear()
            self._dead_handles.clear()
            self._log_handle = None

    def __enter__(self) -> Worker:
        if self._ptr is None:
            raise ClosedError("Worker")
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            if getattr(self, "_ptr", None) is not None and not self._guard.in_callback:
                self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    def __repr__(self) -> str:
        state = "closed" if self._ptr is None else f"{len(self._functions)} functions"
        return f"<gearman_xs.Worker {state}>"


def _set_reply_wait(deadline: Optional[float], ms: int = REPLY_WAIT_MS) -> None:
    """Tells the packet guard that this thread's libgearman calls are a Worker's (ms > 0): a reply
    is waited for inside recv() for up to ``ms`` (and never past ``deadline``), instead of letting
    libgearman's poll time out inside it, which crashes libgearman 1.1.20 (see net_guard)."""
    if ms and deadline is not None:
        ms = max(1, min(ms, math.ceil((deadline - time.monotonic()) * 1000) + 50))
    lib.gxs_ng_set_wait(ms)


def _handle(job_ptr: Any) -> str:
    h = lib.gearman_job_handle(job_ptr)
    return "?" if h == _NULL else ffi.string(h).decode("utf-8", "replace")

