"""``Worker``: Gearman::XS::Worker over libgearman's ``gearman_worker_st``.

The facade: each public method checks its arguments, takes the Worker's lock (``_guard.py``) and
calls libgearman, or hands over to the private module that owns the job: ``_worker_c.py`` (the C
worker, the settings its clones are rebuilt with, the NO_JOBS clone), ``_worker_call.py`` (the
registered functions and the per-job call), ``_worker_loop.py`` (the passes of ``work()``,
``run()``, ``wait()`` and ``grab_job()``: slices, reconnects, back-off) and ``_grabbed.py`` (the
jobs ``grab_job()`` handed out).

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

import logging
import signal
import threading
import time
from types import FrameType
from typing import Any, Callable, Dict, Optional, Union

from . import _args, _tls
from ._clock import BACKOFF_MAX
from ._grabbed import GrabbedJobs
from ._guard import WorkerGuard
from ._libgearman import ffi, lib
from ._repr import CLOSED, object_repr
from ._worker_c import SLICE_MS, CWorker
from ._worker_call import Calls, LogFunction, WorkerFunction
from ._worker_loop import RAN, REPLY_WAIT_MS, JobLoop
from .constants import WorkerOptions
from .errors import ClosedError, error_text
from .job import Job

__all__ = ["Worker", "SLICE_MS", "MAX_BACKOFF", "REPLY_WAIT_MS", "ECHO_TIMEOUT_MS"]

log = logging.getLogger("gearman_xs")

#: Longest pause between reconnection attempts (seconds): run() while every server is down, and
#: work()/grab-less passes against a server that closes the connection or sends a bad packet.
MAX_BACKOFF = BACKOFF_MAX
#: How long echo() waits for each server's answer (ms) when no timeout is set with set_timeout().
ECHO_TIMEOUT_MS = 10_000

_NULL = ffi.NULL
_TIMEOUT_RETURN = lib.GEARMAN_WORKER_TIMEOUT_RETURN
_UINT32_MAX = 2**32 - 1

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
        self._c = CWorker()  # the gearman_worker_st (and what its clones are rebuilt with)
        self._calls = Calls(self._guard, bool(send_exceptions))  # the functions and their calls
        self._jobs = GrabbedJobs(self._guard)  # what grab_job() handed out
        self._loop = JobLoop(self._c, self._calls, self._jobs)  # work(), run(), wait(), grab_job()
        self._timeout = -1  # the user's view: timeout() / set_timeout()
        self._timeout_return = False
        self._close_pending = False

    @property
    def send_exceptions(self) -> bool:
        """Whether a function that raises sends WORK_EXCEPTION before its job fails (see above)."""
        return self._calls.send_exceptions

    @send_exceptions.setter
    def send_exceptions(self, on: bool) -> None:
        self._calls.send_exceptions = bool(on)

    def _simple(self, fn: Callable[..., Any], *args: Any) -> Any:
        with self._guard.enter():
            ptr = self._c.ptr
            return fn(ptr, *args)

    # -- servers ---------------------------------------------------------------------------------

    def add_server(self, host: Optional[Union[str, bytes]] = None, port: Union[int, str] = 0) -> None:
        """Adds a job server; ``host`` None means localhost and ``port`` (an int or a string of
        digits) 0 means 4730. Nothing is connected until the worker works."""
        h = _args.optional_host(host)
        p = _args.port(port)
        with self._guard.enter():
            ptr = self._c.ptr
            self._calls.check(lib.gearman_worker_add_server(ptr, h, p), ptr)

    def add_servers(self, servers: Union[str, bytes]) -> None:
        """Adds job servers from a list like ``"host1:4730,host2"``."""
        s = _args.name(servers, "servers", 65536)
        with self._guard.enter():
            ptr = self._c.ptr
            self._calls.check(lib.gearman_worker_add_servers(ptr, s), ptr)

    def remove_servers(self) -> None:
        """Removes (and disconnects) every job server."""
        self._simple(lib.gearman_worker_remove_servers)

    def echo(self, data: _args.Payload) -> None:
        """Sends ECHO_REQ to every server and checks the echo; raises on failure (including when
        any server is down, notes §3 #18). Each answer is waited for up to the timeout set with
        set_timeout() (GearmanTimeout), or ECHO_TIMEOUT_MS (10 s) when none is set (-1); the
        Worker's internal poll slice does not apply. libgearman waits in one call here, so Ctrl-C
        is seen when the answer (or the timeout) comes."""
        buf, size = _args.payload(data, "data")
        if size == 0:
            raise ValueError("echo data must not be empty")
        with self._guard.enter():
            ptr = self._c.ptr
            timeout = self._timeout if self._timeout_return and self._timeout >= 0 else ECHO_TIMEOUT_MS
            self._calls.check(self._c.echo(buf, size, timeout), ptr)

    def error(self) -> Optional[str]:
        """libgearman's last error text (only meaningful right after a failure), or None."""
        return self._simple(error_text)  # type: ignore[no-any-return]

    def errno(self) -> int:
        """The last system errno libgearman saw."""
        return int(self._simple(lib.gearman_worker_errno))

    # -- options and timeout ---------------------------------------------------------------------

    def options(self) -> WorkerOptions:
        """The ``GEARMAN_WORKER_*`` option bits (a ``WorkerOptions``, equal to the int Gearman::XS
        returns). ``GEARMAN_WORKER_TIMEOUT_RETURN`` reports what you set (the Worker always uses
        it internally)."""
        opts = int(self._simple(lib.gearman_worker_options)) & ~_TIMEOUT_RETURN
        return WorkerOptions(opts | (_TIMEOUT_RETURN if self._timeout_return else 0))

    def set_options(self, options: int) -> None:
        """Sets the options (libgearman adds or removes each settable bit). Removing
        TIMEOUT_RETURN resets timeout() to GEARMAN_WORKER_WAIT_TIMEOUT, as in libgearman."""
        o = _args.int_arg(options, "options", 0, _UINT32_MAX)
        with self._guard.enter():
            ptr = self._c.ptr
            lib.gearman_worker_set_options(ptr, o | _TIMEOUT_RETURN)
            self._set_timeout_return(bool(o & _TIMEOUT_RETURN))

    def add_options(self, options: int) -> None:
        """Adds option bits."""
        o = _args.int_arg(options, "options", 0, _UINT32_MAX)
        with self._guard.enter():
            ptr = self._c.ptr
            lib.gearman_worker_add_options(ptr, o & ~_TIMEOUT_RETURN)
            if o & _TIMEOUT_RETURN:
                self._timeout_return = True

    def remove_options(self, options: int) -> None:
        """Removes option bits."""
        o = _args.int_arg(options, "options", 0, _UINT32_MAX)
        with self._guard.enter():
            ptr = self._c.ptr
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
        if self._c.ptr is None:
            raise ClosedError("Worker")
        self._timeout = t
        self._timeout_return = True

    # -- logging ---------------------------------------------------------------------------------

    def set_log_fn(self, function: Optional[LogFunction], verbose: int) -> None:
        """Calls ``function(line, verbose_level)`` for each libgearman log line at or below
        ``verbose`` (a GEARMAN_VERBOSE_* level; the level passed is a ``Verbose``); None removes
        it. An exception in it is re-raised by the Worker call during which the line was logged.
        The ERROR lines caused by the Worker's internal poll slices are not passed on, except one
        when the user's timeout ends work() or wait() (libgearman's
        ``gearman_wait(GEARMAN_TIMEOUT) timeout reached, ...``, as Gearman::XS passes it on)."""
        if function is not None and not callable(function):
            raise TypeError("set_log_fn() needs a callable or None")
        v = _args.int_arg(verbose, "verbose", lib.GEARMAN_VERBOSE_NEVER, lib.GEARMAN_VERBOSE_CRAZY)
        with self._guard.enter():
            ptr = self._c.ptr
            self._install_log(ptr, function, v)

    def _install_log(self, ptr: Any, function: Optional[LogFunction], verbose: int) -> None:
        handle = None if function is None else self._calls.log_handle(function)
        old = self._c.set_log(handle, verbose)
        if old is not None:
            self._calls.dead_handles.append(old)

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
            ptr = self._c.ptr
            self._calls.check(lib.gearman_worker_set_identifier(ptr, ident, len(ident)), ptr)
            self._c.identifier = ident

    def set_ssl(self, ca_file: _tls.PathArg = None, certificate: _tls.PathArg = None,
                key: _tls.PathArg = None) -> None:
        """Speaks TLS to every server from now on (``gearman_worker_set_ssl``, libgearman 2.0.0;
        not in Gearman::XS). Same arguments and checks as ``Client.set_ssl()``: the server's
        certificate is verified against ``ca_file``; GearmanError names a missing or bad file, or
        says that this libgearman has no TLS. Connections already open are dropped."""
        tls = _tls.settings(ca_file, certificate, key, "Worker")
        with self._guard.enter():
            ptr = self._c.ptr
            self._c.tls = tls
            tls.apply_worker(ptr)
            self._c.renew()  # a fresh clone: no connection opened in plain text survives

    def set_namespace(self, namespace: Optional[Union[str, bytes]]) -> None:
        """Prefixes function names with ``namespace`` so that only clients using the same
        namespace see them; applies to functions added afterwards. None or "" removes it.
        Not in Gearman::XS."""
        ns = b"" if namespace is None else _args.name(namespace, "namespace", 1024, allow_empty=True)
        with self._guard.enter():
            ptr = self._c.ptr
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
            ptr = self._c.ptr
            self._calls.check(lib.gearman_worker_register(ptr, name, t), ptr)

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
            ptr = self._c.ptr
            self._calls.add(ptr, name, t, function, context)

    def unregister(self, function_name: Union[str, bytes]) -> None:
        """Unregisters a function (CANT_DO); raises GearmanError (NO_REGISTERED_FUNCTION) when it
        is not registered."""
        name = _args.function_name(function_name)
        with self._guard.enter():
            ptr = self._c.ptr
            self._calls.check(lib.gearman_worker_unregister(ptr, name), ptr)
            self._calls.removed(name)

    def unregister_all(self) -> None:
        """Unregisters every function; raises GearmanError (NO_REGISTERED_FUNCTIONS) when there
        are none."""
        with self._guard.enter():
            ptr = self._c.ptr
            self._calls.check(lib.gearman_worker_unregister_all(ptr), ptr)
            self._calls.removed_all()

    def function_exists(self, function_name: Union[str, bytes]) -> bool:
        """True when the function is registered (Gearman::XS ``function_exists``)."""
        name = _args.function_name(function_name)
        return bool(self._simple(lib.gearman_worker_function_exist, name, len(name)))

    # -- working ---------------------------------------------------------------------------------

    def work(self) -> bool:
        """Waits for one job and runs its function (Gearman::XS ``work``). Returns True when a job
        was run (even one whose function raised: the job failed, the worker lives on; see
        ``last_job_failed``), False when stop() was called, or in non-blocking mode when there was
        nothing to do. Raises GearmanTimeout when a timeout is set and no job came,
        GearmanConnectionError when no server can be reached, and re-raises a
        KeyboardInterrupt/SystemExit from the function."""
        guard = self._guard.enter()
        try:
            self._calls.failed = False
            return self._loop.work(self._deadline()) == RAN
        finally:
            guard.release()  # not `with guard:`: its special-method lookups cost ~1,000 instructions
            if self._close_pending:
                self.close()

    @property
    def last_job_failed(self) -> bool:
        """True when the job the last work() ran failed: its function raised, returned a value
        that cannot be sent, called ``job.send_fail()``/``send_exception()``, or its answer could
        not be sent. False after a completed job and after a work() that ran none. This is what
        Gearman::XS's ``$ret = $worker->work()`` told apart with ``GEARMAN_WORK_FAIL``
        (``work()`` itself returns a boolean); run() updates it too, per job."""
        return self._calls.failed

    def _deadline(self) -> Optional[float]:
        if not self._timeout_return or self._timeout < 0:
            return None
        return time.monotonic() + self._timeout / 1000.0

    def stop(self) -> None:
        """Makes a work() or run() in progress (or the next one) return: after the current job,
        or within SLICE_MS when idle. Safe from any thread and from signal handlers."""
        self._loop.request_stop()

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
                            self._loop.request_stop()

                        for sig in (signal.SIGTERM, signal.SIGINT):
                            previous[sig] = signal.signal(sig, on_signal)
                    return self._loop.run(count)
                finally:
                    for sig, handler in previous.items():
                        signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        finally:
            if self._close_pending:
                self.close()

    def wait(self) -> None:
        """Non-blocking mode: waits until a server has something (Gearman::XS ``wait``); raises
        GearmanTimeout after the timeout; returns early after stop()."""
        with self._guard.enter():
            self._loop.wait(self._deadline())

    # -- grab_job --------------------------------------------------------------------------------

    def grab_job(self) -> Optional[Job]:
        """Asks the servers for one job of a registered function without running anything
        (Gearman::XS ``grab_job``): a Job, or None when there is none (NO_JOBS, or IO_WAIT in
        non-blocking mode). The Job must be answered with send_complete()/send_fail()/
        send_exception(); one dropped unanswered is failed and logged."""
        with self._guard.enter():
            return self._loop.grab(self._deadline)

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._c.ptr is None

    def close(self) -> None:
        """Fails and frees unanswered grabbed jobs, then frees the worker (its connections close).
        Called from inside a worker function, it takes effect when work() returns."""
        if self._guard.in_callback:
            self._close_pending = True
            return
        if self._c.ptr is None:
            return
        with self._guard.hold():
            if self._c.ptr is None:
                return
            self._close_pending = False
            self._jobs.close()
            self._guard.closed = True
            self._c.close()
            self._calls.clear()

    def __enter__(self) -> Worker:
        if self._c.ptr is None:
            raise ClosedError("Worker")
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            c = getattr(self, "_c", None)
            if c is not None and c.ptr is not None and not self._guard.in_callback:
                self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    def __repr__(self) -> str:
        if self._c.ptr is None:
            return object_repr(self, **CLOSED)
        names = [name.decode("utf-8", "replace") for name in self._calls.functions]
        return object_repr(self, functions=names, timeout=self._timeout)
