"""``Client``: submits jobs (``Gearman::XS::Client``), without libgearman 1.1.20's hangs.

How it drives libgearman (see README "Client" for the user-facing rules):

* Every blocking wait is ``gearman_client_run_tasks()`` with a short libgearman timeout (a *slice*,
  100 ms) in a Python loop, so Ctrl-C raises ``KeyboardInterrupt`` within a slice (libgearman retries
  ``poll()`` on EINTR) and the user's ``set_timeout(ms)`` is emulated across slices as libgearman
  means it: time without progress. ``gearman_client_do()`` is never used: called again after a
  timeout it submits the job again, while ``run_tasks()`` resumes the same tasks.
* ``do*()`` collects its result in C (``gxs_acc_do`` in csrc/client_acc.c): no Python callback per
  packet. ``add_task*()`` tasks get the Python callbacks (``_task_callbacks.py``), which dispatch
  through the task context (an ``ffi.new_handle`` of the ``Task``) at call time.
* Tasks are handed to libgearman only in ``run_tasks()``, in rounds that never hold two tasks with
  the same unique (libgearman never completes the second one). Finished C tasks are freed at once.
* Servers are used in the order given (``_servers.py``): each C client holds exactly one server, the
  first available one, so every job goes to it; a server that refuses or closes is paused with a
  capped back-off and the next one takes over until the pause ends. A C client that saw a connection
  error (or a silent reconnect: ``run_tasks()`` then waits for the timeout after every job) is
  replaced by a fresh one built from the Python-held configuration (server, options, timeout,
  namespace, identifier, server options) before the next submission.
* A submission is repeated only when it provably never reached a server: the connect failed. When a
  connection is lost after the job was sent and before JOB_CREATED, the same unique is sent again to
  the same server if it answers (gearmand coalesces it), else ``GearmanConnectionError`` says the job
  may have been queued there: it is never sent to a second server.
* One ``Clock`` (``_clock.py``) per call bounds every phase: choosing a server, the "exceptions"
  option negotiation (sliced like the waits), submitting, waiting, and the idle probes. A
  foreground job idle for a while is checked with throw-away clients: if no server knows it any
  more, the task ends in ``WorkFail`` instead of hanging (libgearman 1.1.20 drops the WORK_FAIL a
  server makes from WORK_EXCEPTION).
"""

from __future__ import annotations

import functools
import os
import threading
import time
import uuid
from typing import Any, Callable, Dict, List, NamedTuple, NoReturn, Optional, Tuple, Union

from . import _args, _tls, compat
from ._clock import CHECK, SLICE_MS, TIMED_OUT, Clock
from ._libgearman import ffi, lib
from ._servers import RETRY_MAX, ServerList, join_spec, reachable, split_spec
from ._task_callbacks import take_entry_error
from .admin import Admin, AdminError
from .errors import ClosedError, ConcurrentUseError, GearmanError, error_for, error_text
from .task import BACKGROUND, HIGH, LOW, NORMAL, STATUS, Task

__all__ = ["Client", "JobStatus"]

NULL = ffi.NULL
SUCCESS: int = lib.GEARMAN_SUCCESS
_TIMEOUT: int = lib.GEARMAN_TIMEOUT
_PAUSE: int = lib.GEARMAN_PAUSE
_IO_WAIT: int = lib.GEARMAN_IO_WAIT
_NOT_DONE = frozenset({lib.GEARMAN_UNKNOWN_STATE, lib.GEARMAN_IO_WAIT, SUCCESS, lib.GEARMAN_PAUSE})
_CONNECTION_ERRORS = frozenset(
    {
        lib.GEARMAN_COULD_NOT_CONNECT,
        lib.GEARMAN_LOST_CONNECTION,
        lib.GEARMAN_NOT_CONNECTED,
        lib.GEARMAN_NO_ACTIVE_FDS,
    }
)

#: How long a server found unreachable is left out at most (s): a server that answers again takes
#: the jobs back within this time (pauses start at RETRY_FIRST s and double up to it).
DOWN_RETRY = RETRY_MAX
#: Longest wait for the answers of the throw-away clients that check a job's status (ms).
PROBE_TIMEOUT_MS = 2000
#: Longest wait for a TCP connection to a server about to be used (s), before it counts as down.
CONNECT_CHECK = 0.5

_FREE_TASKS = lib.GEARMAN_CLIENT_FREE_TASKS
_EXCEPTION = lib.GEARMAN_CLIENT_EXCEPTION
_PYTHON_OPTIONS = _FREE_TASKS | _EXCEPTION  # kept in Python, see Client.options()

#: libgearman's connect() is watched (see build_ffi.py, connection watch): the Client knows the fd of
#: its connection and sees a server that closed it while idle before sending a job into it.
CONNECTION_WATCH = lib.gxs_cw_install() == lib.GXS_SB_OK

_CALLBACK_KINDS = ("created", "data", "warning", "status", "complete", "exception", "fail")

Callback = Callable[[Task], Any]


class JobStatus(NamedTuple):
    """What ``job_status()`` returns: Gearman::XS's ``($is_known, $is_running, $num, $den)``."""

    is_known: bool
    is_running: bool
    numerator: int
    denominator: int


class Client:
    """A Gearman client (``Gearman::XS::Client``). Not thread-safe: one Client per thread (a second
    thread calling in while one is inside raises ``ConcurrentUseError``). A context manager;
    ``close()`` frees it."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._closed = False
        self._servers = ServerList()  # "host:port" in order of preference, with their pauses
        self._c_server: Optional[bytes] = None  # the one server of the current C client
        self._fd = -1  # its connection's fd once known (connection watch), else -1
        self._recheck_at = 0.0  # when a server preferred over _c_server ends its pause
        self._options = lib.GEARMAN_CLIENT_ALLOCATED | _FREE_TASKS | _EXCEPTION
        self._timeout = -1
        self._namespace: Optional[bytes] = None
        self._identifier: Optional[bytes] = None
        self._tls: Optional[_tls.TlsSettings] = None  # set_ssl()
        self._server_options: List[bytes] = []
        self._callbacks: Dict[str, Optional[Callback]] = dict.fromkeys(_CALLBACK_KINDS)
        self._pending: List[Task] = []
        self._live: Dict[int, Task] = {}
        self._finished: List[Task] = []
        self._events = 0
        self._pending_exc: Optional[BaseException] = None
        self._skip: Optional[Tuple[Task, str]] = None
        self._in_run = False
        self._nb_progress: Optional[Clock] = None  # the clock across non-blocking run_tasks()
        self._resubmits = 0
        self._retried_same = False  # run_tasks(): unacknowledged tasks were sent again once
        self._sticky: Optional[bytes] = None  # run_tasks(): the server to send them again to
        self._error: Optional[str] = None
        self._ret = ffi.new("gearman_return_t *")
        self._acc = ffi.new("gxs_acc *")  # do*()'s result collector
        self._fn_cache: Dict[Union[str, bytes], bytes] = {}  # do*(): function names already checked
        # UUID-shaped like libgearman's: 80 random bits, then a 48-bit counter
        r = uuid.uuid4().hex
        self._unique_prefix = f"{r[:8]}-{r[8:12]}-{r[12:16]}-{r[16:20]}-".encode()
        self._unique_count = 0
        self._prepared = False  # server options sent on the current C client
        self._dirty = False  # the current C client must be replaced before the next submission
        self._exceptions_on = False
        self._c: Any = NULL
        self._c = self._new_c(None)
        # $GEARMAN_SERVERS is the list while the program adds none (libgearman adds it in front of
        # whatever the program adds, which in the order given would make it the preferred one)
        self._env_servers = False
        for spec in os.environ.get("GEARMAN_SERVERS", "").split(","):
            if spec.strip():
                self._servers.add(_spec(spec.strip().encode()))
                self._env_servers = True

    # -- C client generations --------------------------------------------------------------------

    def _new_c(self, spec: Optional[bytes]) -> Any:
        """A C client for the one server ``spec`` (None: no server), with the Python-held settings."""
        c = lib.gearman_client_create(NULL)
        if c == NULL:
            raise MemoryError("gearman_client_create() failed")
        try:
            lib.gearman_client_remove_servers(c)  # the ones libgearman took from GEARMAN_SERVERS
            if spec is not None:
                rc = lib.gearman_client_add_servers(c, spec)
                if rc != SUCCESS:
                    raise error_for(rc, error_text(c))
            c_options = self._options & ~_PYTHON_OPTIONS & ~lib.GEARMAN_CLIENT_ALLOCATED
            if c_options:
                lib.gearman_client_add_options(c, c_options)
            lib.gearman_client_set_timeout(c, self._slice_ms())
            if self._namespace:
                lib.gearman_client_set_namespace(c, self._namespace, len(self._namespace))
            if self._identifier:
                lib.gearman_client_set_identifier(c, self._identifier, len(self._identifier))
            if self._tls is not None:
                self._tls.apply_client(c)
            lib.gxs_client_install_callbacks(c)
        except BaseException:
            lib.gearman_client_free(c)
            raise
        return c

    def _slice_ms(self) -> int:
        return min(SLICE_MS, self._timeout) if self._timeout > 0 else SLICE_MS

    def _replace_c(self, spec: Optional[bytes]) -> None:
        old, self._c = self._c, NULL
        self._c_server = None
        self._fd = -1
        if old != NULL:
            lib.gearman_client_free(old)
        lib.gxs_cw_take()  # forget connects seen so far: the next one in this thread is the new C client's
        self._c = self._new_c(spec)
        self._c_server = spec
        self._prepared = False
        self._dirty = False

    def _clock(self) -> Clock:
        return Clock(self._timeout)

    def _ready(self, clock: Clock, only: Optional[bytes] = None) -> Any:
        """The C client to submit on: the first available server in the order given (or ``only``),
        on a clean C client (replaced if dirty and nothing is in flight on it), with the server
        options sent."""
        if self._live:
            return self._c
        if not self._servers:
            self._raise(lib.GEARMAN_NO_SERVERS, message="no servers added")
        self._check_connection()
        for _ in range(2 * len(self._servers) + 2):
            spec = self._choose(clock) if only is None else only
            if spec != self._c_server or self._dirty:
                self._replace_c(spec)
            self._recheck_at = self._servers.recheck_at(spec)
            if self._prepared or self._prepare(clock):
                if self._fd < 0:
                    self._fd = lib.gxs_cw_take()  # opened by the option request, if any
                return self._c
            if only is not None:
                self._raise(lib.GEARMAN_LOST_CONNECTION, message=_maybe_queued(only, error_text(self._c)))
        self._raise(lib.GEARMAN_COULD_NOT_CONNECT, message=self._no_server_text())

    def _check_connection(self) -> bool:
        """True if the current connection is clean; False (and the C client is dirty) when its
        server closed it or sent something unasked while the Client was idle."""
        if self._fd >= 0 and not self._dirty and lib.gxs_cw_peer_closed(self._fd):
            self._dirty = True
        return not self._dirty

    def _choose(self, clock: Clock) -> bytes:
        """The first server in the order given that is not paused and accepts a TCP connection
        (the current C client's server counts as accepting while it is clean); a server that
        does not is paused. Down servers are tried last; raises when none is left."""
        current = self._c_server if not self._dirty else None
        candidates = self._servers.candidates()
        for i, spec in enumerate(candidates):
            if spec == current:
                return spec
            # CONNECT_CHECK s for a server with others behind it; the last one gets the whole clock
            limit = clock.limit(CONNECT_CHECK) if i + 1 < len(candidates) else clock.remaining()
            ok = reachable(spec, limit)
            if ok:
                return spec
            if ok is None and clock.expired():
                self._raise(_TIMEOUT, message=f"no connection to {spec.decode('utf-8', 'replace')} "
                            f"within {self._timeout} ms")
            self._servers.failed(spec, refused=True)
        self._raise(lib.GEARMAN_COULD_NOT_CONNECT, message=self._no_server_text())

    def _no_server_text(self) -> str:
        names = ", ".join(s.decode("utf-8", "replace") for s in self._servers.specs)
        paused = self._servers.pause_text()
        return f"no server could be used ({names})" + (f": {paused}" if paused else "")

    def _server_failed(self, rc: int) -> None:
        """The current C client's server failed with connection error ``rc``: pause it."""
        self._dirty = True
        if self._c_server is not None:
            self._servers.failed(self._c_server, refused=rc == lib.GEARMAN_COULD_NOT_CONNECT)

    def _request_option(self, c: Any, option: bytes, clock: Clock) -> int:
        """OPTION_REQ on ``c`` in slices (re-sent after each slice without an answer: a late
        OPTION_RES is ignored by run_tasks()); SUCCESS, a connection error, or another failure
        code. Raises GearmanTimeout when the clock runs out."""
        try:
            while True:
                lib.gearman_client_set_timeout(c, clock.limit_ms(self._slice_ms()))
                if lib.gearman_client_set_server_option(c, option, len(option)):
                    return SUCCESS
                rc = int(lib.gearman_client_error_code(c))
                if rc != _TIMEOUT:
                    return rc if rc != SUCCESS else lib.GEARMAN_INVALID_SERVER_OPTION
                if clock.expired():
                    self._dirty = True
                    name = option.decode("utf-8", "replace")
                    self._raise(_TIMEOUT, message=f"no answer to OPTION_REQ {name} within {self._timeout} ms")
        finally:
            if self._c != NULL:
                lib.gearman_client_set_timeout(c, self._slice_ms())

    def _prepare(self, clock: Clock) -> bool:
        """Sends the server options on the current C client. False if its server failed (it is
        paused; choose again)."""
        self._exceptions_on = False
        wanted = list(self._server_options)
        exceptions = bool(self._options & _EXCEPTION)
        if exceptions and b"exceptions" not in wanted:
            wanted.append(b"exceptions")
        if wanted:
            for option in wanted:
                rc = self._request_option(self._c, option, clock)
                if rc in _CONNECTION_ERRORS:
                    self._server_failed(rc)
                    return False
                if rc != SUCCESS:
                    # Refused (an old server): start over on a clean C client without the options
                    # (jobs still flow; idle checks cover the WORK_EXCEPTION hang).
                    self._replace_c(self._c_server)
                    self._prepared = True
                    return True
            self._exceptions_on = exceptions or b"exceptions" in wanted
        self._prepared = True
        return True

    # -- entry / exit --------------------------------------------------------------------------

    def _enter(self, what: str, run: bool = True) -> None:
        if not self._lock.acquire(blocking=False):
            raise ConcurrentUseError("Client")
        if self._closed:
            self._lock.release()
            raise ClosedError("Client")
        if run and self._in_run:
            self._lock.release()
            raise GearmanError(
                lib.GEARMAN_IN_PROGRESS, f"Client.{what}() cannot be called from inside a Client callback"
            )

    def _raise(
        self, rc: int, source: Any = None, exception: bytes = b"", message: Optional[str] = None
    ) -> NoReturn:
        text = message or (error_text(source) if source is not None else None)
        err = error_for(rc, text, exception)
        self._error = err.message  # libgearman's bare text, as Worker.error() and Gearman::XS give
        raise err

    def close(self) -> None:
        """Frees the C client. Unfinished tasks are abandoned (their Task objects keep what they
        received). Later calls on the Client raise ``ClosedError``; close() itself may be repeated."""
        if not self._lock.acquire(blocking=False):
            raise ConcurrentUseError("Client")
        try:
            if self._closed:
                return
            self._closed = True
            for task in list(self._live.values()):
                self._detach(task)
            self._live.clear()
            self._pending.clear()
            if self._c != NULL:
                lib.gearman_client_free(self._c)
                self._c = NULL
        finally:
            self._lock.release()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            if not getattr(self, "_closed", True):
                self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    # -- servers -------------------------------------------------------------------------------

    def add_server(self, host: Optional[Union[str, bytes]] = None, port: Union[int, str] = 0) -> None:
        """Adds one job server. ``host`` None or "" means localhost, ``port`` (an int or a string of
        digits, like ``"4730"`` from a config file) 0 means 4730. The
        host is resolved now (``GearmanConnectionError`` GEARMAN_GETADDRINFO if it cannot be).
        Several servers are used in the order added: every job goes to the first one that is
        available, the next ones take over only while it is not (libgearman and Gearman::XS
        prefer the last one added; see README "Several servers")."""
        h = _args.optional_host(host)
        p = _args.port(port)
        self._enter("add_server")
        try:
            self._check_servers(lambda c: lib.gearman_client_add_server(c, h, p))
            self._drop_env_servers()
            name = "localhost" if h == NULL else bytes(h).decode("utf-8", "replace")
            self._servers.add(join_spec(name, p or lib.GEARMAN_DEFAULT_TCP_PORT))
        finally:
            self._lock.release()

    def add_servers(self, servers: Union[str, bytes]) -> None:
        """Adds servers from ``"host[:port][,host[:port]]..."``, in order of preference (see
        add_server())."""
        spec = _args.name(servers, "servers", 1 << 16, allow_empty=True)
        self._enter("add_servers")
        try:
            self._check_servers(lambda c: lib.gearman_client_add_servers(c, spec))
            self._drop_env_servers()
            for one in (spec or b"localhost").split(b","):
                if one.strip():
                    self._servers.add(_spec(one.strip()))
        finally:
            self._lock.release()

    def _drop_env_servers(self) -> None:
        if self._env_servers:
            self._env_servers = False
            self._servers.clear()
            self._dirty = True

    def _check_servers(self, add: Callable[[Any], int]) -> None:
        """Lets libgearman parse and resolve servers on a scratch C client (raises its error)."""
        c = lib.gearman_client_create(NULL)
        if c == NULL:
            raise MemoryError("gearman_client_create() failed")
        try:
            rc = add(c)
            if rc != SUCCESS:
                self._raise(rc, c)
        finally:
            lib.gearman_client_free(c)

    def remove_servers(self) -> None:
        """Forgets every server."""
        self._enter("remove_servers")
        try:
            self._servers.clear()
            self._env_servers = False
            self._dirty = True
        finally:
            self._lock.release()

    # -- options and settings ------------------------------------------------------------------

    def options(self) -> int:
        """The option bitmask. A new Client has ``GEARMAN_CLIENT_ALLOCATED | FREE_TASKS | EXCEPTION``:
        finished tasks are always freed (Task objects keep their state in Python), and the
        "exceptions" server option is requested before the first job (remove EXCEPTION to skip it)."""
        self._enter("options", run=False)
        try:
            c_opts = int(lib.gearman_client_options(self._c)) & ~_PYTHON_OPTIONS
            return int(c_opts | (self._options & _PYTHON_OPTIONS))
        finally:
            self._lock.release()

    def set_options(self, options: int) -> None:
        """Replaces the options (``GEARMAN_CLIENT_*`` bits; see options())."""
        value = _args.int_arg(options, "options", 0, 0xFFFFFFFF)
        self._set_options(value | lib.GEARMAN_CLIENT_ALLOCATED)

    def add_options(self, options: int) -> None:
        """Adds ``GEARMAN_CLIENT_*`` option bits."""
        value = _args.int_arg(options, "options", 0, 0xFFFFFFFF)
        self._set_options(self._options | value)

    def remove_options(self, options: int) -> None:
        """Removes ``GEARMAN_CLIENT_*`` option bits."""
        value = _args.int_arg(options, "options", 0, 0xFFFFFFFF)
        self._set_options(self._options & ~value)

    def _set_options(self, value: int) -> None:
        self._enter("set_options")
        try:
            old = self._options
            self._options = value
            if (old ^ value) & _EXCEPTION:
                self._prepared = False
                self._dirty = True
            c_new = value & ~_PYTHON_OPTIONS
            c_old = int(lib.gearman_client_options(self._c)) & ~_PYTHON_OPTIONS
            if c_new & ~c_old:
                lib.gearman_client_add_options(self._c, c_new & ~c_old)
            if c_old & ~c_new:
                lib.gearman_client_remove_options(self._c, c_old & ~c_new)
        finally:
            self._lock.release()

    def timeout(self) -> int:
        """The timeout in ms (-1, the default, waits forever)."""
        return self._timeout

    def set_timeout(self, timeout: int) -> None:
        """Sets the timeout in ms: the longest time a blocking call waits without any progress
        (libgearman's meaning) before raising ``GearmanTimeout``. -1 waits forever. 0 and values
        below -1 raise ValueError (libgearman fails every call at once with 0)."""
        value = _args.int_arg(timeout, "timeout", -1, 2**31 - 1)
        if value == 0:
            raise ValueError("timeout must be -1 (wait forever) or a positive number of milliseconds")
        self._enter("set_timeout", run=False)
        try:
            self._timeout = value
            lib.gearman_client_set_timeout(self._c, self._slice_ms())
        finally:
            self._lock.release()

    def set_identifier(self, identifier: Union[str, bytes]) -> None:
        """Sets the client id the server shows in ``workers`` (1-254 printable bytes)."""
        value = _args.name(identifier, "identifier", _args.MAX_IDENTIFIER)
        self._enter("set_identifier")
        try:
            rc = lib.gearman_client_set_identifier(self._c, value, len(value))
            if rc != SUCCESS:
                self._raise(rc, self._c)
            self._identifier = value
        finally:
            self._lock.release()

    def set_ssl(self, ca_file: _tls.PathArg = None, certificate: _tls.PathArg = None,
                key: _tls.PathArg = None) -> None:
        """Speaks TLS to every server from now on (``gearman_client_set_ssl``; not in Gearman::XS):
        ``ca_file`` is the CA that signed the servers' certificates (verified: libgearman alone
        would accept any), ``certificate`` and ``key`` the client's own (libgearman requires
        them). A path left out comes from ``GEARMAND_CA_CERTIFICATE``, ``GEARMAN_CLIENT_PEM`` or
        ``GEARMAN_CLIENT_KEY``. The files are loaded here: GearmanError names a missing or bad one,
        and says so when this libgearman was built without TLS (see docs/versions.md)."""
        tls = _tls.settings(ca_file, certificate, key, "Client")
        self._enter("set_ssl")
        try:
            self._tls = tls
            self._dirty = True  # a connection opened in plain text is replaced
        finally:
            self._lock.release()

    def set_namespace(self, namespace: Union[str, bytes]) -> None:
        """Prefixes every function name with ``namespace`` (workers must use the same one);
        "" removes it."""
        value = _args.name(namespace, "namespace", _args.MAX_FUNCTION_NAME, allow_empty=True)
        self._enter("set_namespace")
        try:
            self._namespace = value or None
            if value:
                lib.gearman_client_set_namespace(self._c, value, len(value))
            else:
                self._dirty = True
        finally:
            self._lock.release()

    def set_server_option(self, option: Union[str, bytes]) -> None:
        """Sends OPTION_REQ ``option`` to the server in use now and on every later connection
        (gearmand 1.1.20 knows only "exceptions", which a Client already requests by default).
        Raises ``GearmanError`` if the server refuses it, ``GearmanConnectionError`` if no server
        can be reached, ``GearmanTimeout`` if none answers within the timeout."""
        value = _args.name(option, "option", 1024)
        self._enter("set_server_option")
        try:
            clock = self._clock()
            c = self._ready(clock)
            rc = self._request_option(c, value, clock)
            if rc != SUCCESS:
                text = error_text(c)
                self._dirty = True
                if rc in _CONNECTION_ERRORS:
                    self._server_failed(rc)
                    self._raise(rc, message=text)
                self._raise(lib.GEARMAN_INVALID_SERVER_OPTION, message=text)
            if value not in self._server_options:
                self._server_options.append(value)
        finally:
            self._lock.release()

    def error(self) -> Optional[str]:
        """The text of the last failure raised by this Client (the exception's ``message``:
        libgearman's error text, as Gearman::XS ``error()`` and ``Worker.error()`` give it, without
        the ``GEARMAN_NAME: `` prefix of ``str()``), or None before any."""
        return self._error

    # -- callbacks -----------------------------------------------------------------------------

    def _set_fn(self, kind: str, fn: Optional[Callback]) -> None:
        if fn is not None and not callable(fn):
            raise TypeError(f"the {kind} callback must be callable, not {type(fn).__name__}")
        if self._closed:
            raise ClosedError("Client")
        self._callbacks[kind] = fn

    def set_created_fn(self, fn: Optional[Callback]) -> None:
        """``fn(task)`` when the server created a job (JOB_CREATED), background ones included. Like
        every callback: applies to tasks already added, its return value is ignored, and an
        exception it raises propagates out of run_tasks() after that event."""
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
        if self._closed:
            raise ClosedError("Client")
        self._callbacks = dict.fromkeys(_CALLBACK_KINDS)

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
        self._enter("do_background_at")
        try:
            clock = Clock(self._timeout if self._timeout > 0 else PROBE_TIMEOUT_MS)
            c = self._ready(clock)
            # gearman_execute() adds the task and runs one run_tasks() slice (the C client's
            # timeout), then returns it: the rest is waited for here, in slices, on the clock.
            task = lib.gxs_execute_epoch(
                c, fn, len(fn), NULL if u is None else u, 0 if u is None else len(u), int(when), prio, w, n,
            )
            if task == NULL:
                self._dirty = True
                rc = lib.gearman_client_error_code(c)
                if rc in _CONNECTION_ERRORS:
                    self._server_failed(rc)  # the next call takes the next server
                self._raise(rc if rc != SUCCESS else lib.GEARMAN_UNKNOWN_STATE, c)
            try:
                return self._wait_created(c, task, clock)
            finally:
                lib.gearman_task_free(task)
        finally:
            self._lock.release()

    def _wait_created(self, c: Any, task: Any, clock: Clock) -> str:
        """Runs ``c`` in slices until the background ``task`` has its handle (JOB_CREATED)."""
        while True:
            handle = _args.c_string(lib.gearman_task_job_handle(task))
            if handle:
                if self._c_server is not None:
                    self._servers.ok(self._c_server)
                return handle
            rc = int(lib.gearman_task_return(task))
            if rc not in _NOT_DONE:
                self._dirty = True
                self._raise(rc, c)
            if clock.step(0) == TIMED_OUT:
                self._dirty = True
                self._raise(_TIMEOUT, message=f"no JOB_CREATED within {clock.timeout} ms")
            rc = int(lib.gearman_client_run_tasks(c))
            if rc in _CONNECTION_ERRORS:
                self._server_failed(rc)
                spec = self._c_server or b"?"
                self._raise(rc, message=_maybe_queued(spec, error_text(c))
                            if rc != lib.GEARMAN_COULD_NOT_CONNECT else error_text(c))
            if rc not in (SUCCESS, _TIMEOUT, _IO_WAIT, _PAUSE):
                self._dirty = True
                self._raise(rc, c)

    def do_status(self) -> Tuple[int, int]:
        """Gearman::XS's ``do_status``: always ``(0, 0)`` with libgearman 1.x (a stub there too)."""
        self._enter("do_status", run=False)
        self._lock.release()
        return (0, 0)

    def _do(self, kind: int, function_name: Any, workload: Any, unique: Any) -> Union[bytes, str]:
        fn = self._fn_cache.get(function_name) if type(function_name) in (str, bytes) else None
        if fn is None:
            fn = _args.function_name(function_name)
            if type(function_name) in (str, bytes):  # checked names, kept for the next do*()
                if len(self._fn_cache) >= 64:
                    self._fn_cache.clear()
                self._fn_cache[function_name] = fn
        if unique is None:
            # libgearman would make a UUID per task (libuuid: ~20 us of CPU per job, measured);
            # a per-Client random prefix and a counter, UUID-shaped, are as unique and far cheaper.
            self._unique_count += 1
            u = b"%s%012x" % (self._unique_prefix, self._unique_count)
        else:
            u = _args.unique(unique)
        if type(workload) is bytes and workload:  # the usual case, passed without a cdata wrapper
            w, n = workload, len(workload)
        else:
            w, n = _args.payload(workload)
        self._enter("do")
        try:
            if self._live:
                self._raise(
                    lib.GEARMAN_IN_PROGRESS,
                    message="tasks of an interrupted run_tasks() are unfinished: call run_tasks() first",
                )
            clock: Optional[Clock] = None
            if self._prepared and time.monotonic() < self._recheck_at and self._check_connection():
                c = self._c  # the fast path: the preferred available server's C client, clean
            else:
                clock = self._clock()
                c = self._ready(clock)
            acc = self._acc  # one per Client (do*() holds the lock); gxs_acc_do() clears it
            try:
                retried_same = False
                for _ in range(2 * len(self._servers) + 2):
                    # adds the task and runs one run_tasks() slice; NULL when that finished it
                    task = lib.gxs_acc_do(c, kind, acc, fn, u, w, n, self._ret)
                    if self._fd < 0:
                        self._fd = lib.gxs_cw_take()
                    if task == NULL:
                        if not acc.done:
                            self._raise(self._ret[0], c)
                        break
                    if clock is None:
                        clock = self._clock()
                    try:
                        lost = self._drive_acc(c, task, acc, acc.run_rc, kind >= BACKGROUND, clock)
                        if acc.done and kind >= BACKGROUND:
                            h = lib.gearman_task_job_handle(task)
                            if h != NULL:
                                ffi.memmove(acc.handle, h, min(len(ffi.string(h)), len(acc.handle) - 1))
                    finally:
                        lib.gearman_task_free(task)
                        if not acc.done:
                            self._dirty = True  # abandoned in flight: drop the connection
                    if lost == SUCCESS:
                        break
                    # A connection error before any answer to the submission.
                    spec = self._c_server
                    if lost == lib.GEARMAN_COULD_NOT_CONNECT or spec is None:
                        self._server_failed(lost)  # never sent: the next server may take it
                        c = self._ready(clock)
                    elif not retried_same and reachable(spec, clock.limit(CONNECT_CHECK)):
                        retried_same = True  # maybe queued there: the same unique again, coalesced
                        c = self._ready(clock, only=spec)
                    else:
                        self._server_failed(lost)
                        self._raise(lost, message=_maybe_queued(spec, error_text(c)))
                else:
                    self._raise(lib.GEARMAN_COULD_NOT_CONNECT, message=self._no_server_text())
                if self._c_server is not None:
                    self._servers.ok(self._c_server)
                rc = acc.rc
                if rc != SUCCESS:
                    exc = bytes(ffi.unpack(acc.exc, acc.exc_size)) if acc.exc_size else b""
                    self._raise(rc, exception=exc, message=self._outcome_message(rc, c))
                if kind >= BACKGROUND:
                    if acc.handle[0] == b"\0":  # the guard stops most of these (not a NUL-led handle)
                        self._raise(lib.GEARMAN_INVALID_PACKET,
                                    message="the server sent JOB_CREATED with an empty job handle")
                    return ffi.string(acc.handle).decode("utf-8", "surrogateescape")  # type: ignore[no-any-return]
                size = acc.size
                return ffi.unpack(acc.buf, size) if size else b""
            finally:
                lib.gxs_acc_release(acc)
        finally:
            self._lock.release()

    _lost_message: Optional[str] = None

    def _outcome_message(self, rc: int, c: Any) -> Optional[str]:
        if rc in (lib.GEARMAN_WORK_FAIL, lib.GEARMAN_WORK_EXCEPTION):
            msg, self._lost_message = self._lost_message, None
            return msg
        return error_text(c)

    def _drive_acc(self, c: Any, task: Any, acc: Any, rc: int, background: bool, clock: Clock) -> int:
        """The slow path of do*(): loops run_tasks() slices until the task is done. Returns the
        connection error code when the connection failed before any answer (the caller decides
        whether to submit again), else SUCCESS."""
        self._lost_message = None
        progress = clock
        while True:
            if acc.done:
                if rc == _TIMEOUT:
                    self._dirty = True  # finished, yet run_tasks() waited: a degraded C client
                return SUCCESS
            if rc == SUCCESS:
                r = lib.gearman_task_return(task)
                if r not in _NOT_DONE:
                    acc.done, acc.rc = 1, r
                    continue
            elif rc == _IO_WAIT:
                lib.gearman_client_wait(c)
            elif rc in _CONNECTION_ERRORS:
                self._dirty = True
                if acc.events == 0:
                    self._error = error_text(c)
                    return int(rc)
                acc.done, acc.rc = 1, rc
                continue
            elif rc not in (_TIMEOUT, _PAUSE):
                acc.done, acc.rc = 1, rc
                continue
            outcome = progress.step(acc.events)
            if outcome == TIMED_OUT:
                self._dirty = True
                self._raise(_TIMEOUT, message=f"no progress within {self._timeout} ms")
            elif outcome == CHECK and not background and compat.WORKAROUNDS["lost-work-fail"]:
                handle = _args.c_string(lib.gearman_task_job_handle(task))
                if handle is not None and self._known_anywhere(handle.encode(), clock) is False:
                    rc = lib.gearman_client_run_tasks(c)  # drain what may already have arrived
                    if not acc.done:
                        acc.done, acc.rc = 1, lib.GEARMAN_WORK_FAIL
                        self._lost_message = _LOST_JOB
                        self._dirty = True
                    continue
            rc = lib.gearman_client_run_tasks(c)

    # -- throw-away clients: status, echo ----------------------------------------------------------

    def _probe_client(self, spec: bytes) -> Any:
        """A throw-away C client of the one server ``spec`` (status queries, echo)."""
        c = lib.gearman_client_create(NULL)
        if c == NULL:
            raise MemoryError("gearman_client_create() failed")
        lib.gearman_client_remove_servers(c)  # not the ones from GEARMAN_SERVERS
        rc = lib.gearman_client_add_servers(c, spec)
        if rc != SUCCESS:
            lib.gearman_client_free(c)
            self._raise(rc)
        lib.gearman_client_set_timeout(c, self._slice_ms())
        if self._tls is not None:
            self._tls.apply_client(c)
        return c

    def _known_anywhere(self, handle: bytes, clock: Clock) -> Optional[bool]:
        """True if some server knows the job, False if every server that answered does not (and
        at least one answered), None if none answered. Each server gets at most
        PROBE_TIMEOUT_MS, all of them together no more than the clock has left."""
        status, _, _ = self._job_status_each(handle, clock, PROBE_TIMEOUT_MS)
        return None if status is None else status.is_known

    def _probe_rc(self, call: Callable[[], int], clock: Clock, cap_ms: int = -1) -> int:
        """Repeats a blocking probe call in slices (interruptible) while it times out, until the
        clock runs out or ``cap_ms`` passed (-1: no cap); returns its last return code."""
        start = time.monotonic()
        while True:
            rc = int(call())
            if rc != _TIMEOUT or clock.expired():
                return rc
            if cap_ms > 0 and (time.monotonic() - start) * 1000 >= cap_ms:
                return rc

    def _status_each(
        self, ask: Callable[[Any], Tuple[int, Optional[JobStatus]]], clock: Clock, cap_ms: int = -1
    ) -> Tuple[Optional[JobStatus], int, Optional[str]]:
        """Asks each server in the order given, on a throw-away client of its own: a job lives on
        the one server it was submitted to, which the first available one normally is. ``ask(c)``
        returns (rc, status). Returns the status of the first server that knows the job, else the
        unknown status of one that answered, else None with the last error code and text."""
        answer: Optional[JobStatus] = None
        rc: int = lib.GEARMAN_NO_SERVERS
        text: Optional[str] = "no servers added"
        for spec in self._servers.specs:
            if clock.expired():
                return answer, _TIMEOUT, f"no answer within {self._timeout} ms"
            rc, status, text = self._ask_one(spec, ask, clock, cap_ms)
            if status is not None:
                if status.is_known:
                    return status, rc, None
                answer = status
        return answer, rc, text

    def _ask_one(
        self, spec: bytes, ask: Callable[[Any], Tuple[int, Optional[JobStatus]]], clock: Clock,
        cap_ms: int,
    ) -> Tuple[int, Optional[JobStatus], Optional[str]]:
        """(rc, status or None, error text or None) of ``ask`` on a throw-away client of ``spec``."""
        result = self._ask_once(spec, ask, clock, cap_ms)
        if result[0] == lib.GEARMAN_LOST_CONNECTION and self._tls is not None and not clock.expired():
            # libgearman 2.0.0's TLS handshake fails now and then ("unexpected message", about one
            # connection in twenty from one process; docs/versions.md): one more connection.
            result = self._ask_once(spec, ask, clock, cap_ms)
        return result

    def _ask_once(
        self, spec: bytes, ask: Callable[[Any], Tuple[int, Optional[JobStatus]]], clock: Clock,
        cap_ms: int,
    ) -> Tuple[int, Optional[JobStatus], Optional[str]]:
        c = self._probe_client(spec)
        try:
            found: List[JobStatus] = []

            def call() -> int:
                r, status = ask(c)
                if status is not None:
                    found[:] = [status]
                return r

            rc = self._probe_rc(call, clock, cap_ms)
            if rc != SUCCESS:
                return rc, None, error_text(c)
            return rc, found[0], None
        finally:
            lib.gearman_client_free(c)

    def _job_status_each(
        self, handle: bytes, clock: Clock, cap_ms: int = -1
    ) -> Tuple[Optional[JobStatus], int, Optional[str]]:
        def ask(c: Any) -> Tuple[int, Optional[JobStatus]]:
            known, running = ffi.new("bool *"), ffi.new("bool *")
            num, den = ffi.new("uint32_t *"), ffi.new("uint32_t *")
            rc = lib.gearman_client_job_status(c, handle, known, running, num, den)
            if rc != SUCCESS:
                return rc, None
            return rc, JobStatus(bool(known[0]), bool(running[0]), int(num[0]), int(den[0]))

        return self._status_each(ask, clock, cap_ms)

    def job_status(self, job_handle: Union[str, bytes]) -> JobStatus:
        """``(is_known, is_running, numerator, denominator)`` of a job. With several servers each
        is asked in the order given until one knows the job; gearmand's handles ("H:host:N") do
        not say which server made them, so two servers on the same host can both know a handle:
        the first one asked answers. Raises for a missing or malformed handle, and when no server
        could answer (``GearmanTimeout`` when none did within the timeout)."""
        if job_handle is None:
            raise TypeError("job_status() needs a job handle")
        handle = _args.job_handle(job_handle)
        self._enter("job_status")
        try:
            self._need_servers()
            status, rc, text = self._job_status_each(handle, self._clock())
            if status is None:
                self._raise(rc, message=text)
            return status
        finally:
            self._lock.release()

    def job_status_by_unique(self, unique: Union[str, bytes]) -> JobStatus:
        """The status of a job by its unique id (GET_STATUS_UNIQUE), asked of each server in turn
        like job_status(). Done on throw-away connections: on a client used for jobs, libgearman
        1.1.20 hangs the next do() after it."""
        u = _args.name(unique, "unique", _args.MAX_UNIQUE)
        self._enter("job_status_by_unique")
        try:
            self._need_servers()

            def ask(c: Any) -> Tuple[int, Optional[JobStatus]]:
                st = lib.gearman_client_unique_status(c, u, len(u))
                rc = int(lib.gearman_status_return(st))
                if rc != SUCCESS:
                    return rc, None
                return rc, JobStatus(
                    bool(lib.gearman_status_is_known(st)),
                    bool(lib.gearman_status_is_running(st)),
                    int(lib.gearman_status_numerator(st)),
                    int(lib.gearman_status_denominator(st)),
                )

            status, rc, text = self._status_each(ask, self._clock())
            if status is None:
                self._raise(rc, message=text)
            return status
        finally:
            self._lock.release()

    def echo(self, data: _args.Payload) -> None:
        """Sends ECHO_REQ to the first available server in the order given (the next ones while
        it cannot be reached, like jobs) and checks the echo. Raises when no server answers
        (``GearmanTimeout`` when none did within the timeout)."""
        w, n = _args.payload(data, "data")
        if n == 0:
            raise ValueError("echo() needs at least one byte")
        self._enter("echo")
        try:
            self._need_servers()
            clock = self._clock()
            rc, text = lib.GEARMAN_NO_SERVERS, "no servers added"
            for spec in self._servers.candidates() or self._servers.specs:
                c = self._probe_client(spec)
                try:
                    rc = self._probe_rc(functools.partial(lib.gearman_client_echo, c, w, n), clock)
                    text = error_text(c) or text
                finally:
                    lib.gearman_client_free(c)
                if rc == SUCCESS:
                    self._servers.ok(spec)
                    return
                if rc in _CONNECTION_ERRORS:
                    self._servers.failed(spec, refused=rc == lib.GEARMAN_COULD_NOT_CONNECT)
                    continue
                break  # an answer that is not the echo, or the timeout: not a server to skip
            self._raise(rc, message=text)
        finally:
            self._lock.release()

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
        self._enter("cancel_job")
        try:
            self._need_servers()
            clock = self._clock()
            answered = False
            unreachable: Optional[GearmanError] = None
            for spec in self._servers.specs:
                if clock.expired():
                    self._raise(_TIMEOUT, message=f"no server answered within {self._timeout} ms")
                host, port = split_spec(spec)
                try:
                    seconds = max(0.001, clock.limit(PROBE_TIMEOUT_MS / 1000))
                    tls = self._tls.context() if self._tls is not None else None
                    with Admin(host, port, seconds, ssl_context=tls) as admin:
                        admin.cancel_job(handle)
                    return
                except AdminError as exc:
                    if exc.server_code != "UNKNOWN_JOB":
                        self._error = exc.message
                        raise
                    answered = True
                except GearmanError as exc:  # could not connect, timeout
                    unreachable = exc
            if unreachable is not None and not answered:
                self._raise(unreachable.code, message=unreachable.message)
            self._raise(lib.GEARMAN_JOB_NOT_FOUND, message=f"no server knows job {handle}")
        finally:
            self._lock.release()

    def _need_servers(self) -> None:
        if not self._servers:
            self._raise(lib.GEARMAN_NO_SERVERS, message="no servers added")

    def wait(self) -> None:
        """Waits for I/O on the connections (``gearman_client_wait``; meant for NON_BLOCKING use,
        where run_tasks() still blocks here). Honours the timeout; interruptible."""
        self._enter("wait")
        try:
            c = self._c
            rc = self._probe_rc(lambda: lib.gearman_client_wait(c), self._clock())
            if rc != SUCCESS:
                self._raise(rc, c)
        finally:
            self._lock.release()

    # -- tasks -----------------------------------------------------------------------------------

    def _add(self, kind: int, function_name: Any, workload: Any, unique: Any) -> Task:
        fn = _args.function_name(function_name)
        # libgearman would generate a UUID when the task is handed over (in run_tasks()); generate
        # it now so that Task.unique() is known right after add_task(), as in Gearman::XS.
        u = (str(uuid.uuid4()).encode() if unique is None
             else _args.name(unique, "unique", _args.MAX_UNIQUE))
        _args.payload(workload)  # type check now
        if isinstance(workload, str):
            workload = workload.encode("utf-8")
        if self._closed:
            raise ClosedError("Client")
        if not self._lock.acquire(blocking=False):
            raise ConcurrentUseError("Client")
        try:
            task = Task(self, kind, fn, u, workload)
            self._pending.append(task)
            return task
        finally:
            self._lock.release()

    def add_task(self, function_name: Union[str, bytes], workload: _args.Payload,
                 unique: Optional[Union[str, bytes]] = None) -> Task:
        """Queues a job for run_tasks() and returns its Task. Nothing is sent before run_tasks()
        (as in libgearman); libgearman's own errors for it are raised by run_tasks()."""
        return self._add(NORMAL, function_name, workload, unique)

    def add_task_high(self, function_name: Union[str, bytes], workload: _args.Payload,
                      unique: Optional[Union[str, bytes]] = None) -> Task:
        """add_task() at high priority."""
        return self._add(HIGH, function_name, workload, unique)

    def add_task_low(self, function_name: Union[str, bytes], workload: _args.Payload,
                     unique: Optional[Union[str, bytes]] = None) -> Task:
        """add_task() at low priority."""
        return self._add(LOW, function_name, workload, unique)

    def add_task_background(self, function_name: Union[str, bytes], workload: _args.Payload,
                            unique: Optional[Union[str, bytes]] = None) -> Task:
        """A background job for run_tasks(): only the created callback fires."""
        return self._add(NORMAL + BACKGROUND, function_name, workload, unique)

    def add_task_high_background(self, function_name: Union[str, bytes], workload: _args.Payload,
                                 unique: Optional[Union[str, bytes]] = None) -> Task:
        """add_task_background() at high priority."""
        return self._add(HIGH + BACKGROUND, function_name, workload, unique)

    def add_task_low_background(self, function_name: Union[str, bytes], workload: _args.Payload,
                                unique: Optional[Union[str, bytes]] = None) -> Task:
        """add_task_background() at low priority."""
        return self._add(LOW + BACKGROUND, function_name, workload, unique)

    def add_task_status(self, job_handle: Union[str, bytes]) -> Task:
        """A GET_STATUS task for run_tasks(): its answer fires the status callback and fills the
        Task's is_known/is_running/numerator/denominator."""
        handle = _args.job_handle(job_handle)
        if self._closed:
            raise ClosedError("Client")
        if not self._lock.acquire(blocking=False):
            raise ConcurrentUseError("Client")
        try:
            task = Task(self, STATUS, b"", None, b"")
            task._job_handle = handle.decode("utf-8", "surrogateescape")
            self._pending.append(task)
            return task
        finally:
            self._lock.release()

    def run_tasks(self) -> bool:
        """Runs every added task to its end, calling the callbacks, and returns True. Tasks sharing
        a unique id run in successive rounds. A callback's exception propagates after its event;
        KeyboardInterrupt or GearmanTimeout leave the unfinished tasks in place: run_tasks() again
        resumes them without repeating an event already delivered.

        With ``GEARMAN_CLIENT_NON_BLOCKING`` (Gearman::XS returns GEARMAN_IO_WAIT until done), it
        sends, receives and calls back what it can without waiting for the network, and returns
        False while tasks are unfinished: call wait() (or do something else) and run_tasks() again
        until it returns True. The timeout then counts from the last event across those calls."""
        self._enter("run_tasks")
        self._in_run = True
        self._resubmits = 0
        self._retried_same = False
        clock = self._nb_progress or Clock(self._timeout, self._events)
        clock.timeout = self._timeout  # set_timeout() between non-blocking calls applies
        try:
            while True:
                if not self._live:
                    if not self._pending:
                        self._nb_progress = None
                        return True
                    only, self._sticky = self._sticky, None
                    c = self._ready(clock, only)
                    for task in self._next_round():
                        self._submit(c, task)
                    if not self._live:
                        continue
                if not self._drive_live(clock):
                    return False
        finally:
            self._in_run = False
            self._reap()
            self._lock.release()

    def _next_round(self) -> List[Task]:
        seen = set()
        now: List[Task] = []
        later: List[Task] = []
        for task in self._pending:
            key: Any = task._unique
            if key == b"#":
                key = (b"#", bytes(task._workload), task._function_name)
            if key is None or key not in seen:
                if key is not None:
                    seen.add(key)
                now.append(task)
            else:
                later.append(task)
        self._pending = later
        return now

    def _submit(self, c: Any, task: Task) -> None:
        handle = ffi.new_handle(task)
        if task._kind == STATUS:
            assert task._job_handle is not None
            ct = lib.gearman_client_add_task_status(
                c, NULL, handle, task._job_handle.encode("utf-8", "surrogateescape"), self._ret
            )
        else:
            w, n = _args.payload(task._workload)
            u = NULL if task._unique is None else task._unique
            ct = lib.gxs_add_task_kind(c, task._kind, handle, task._function_name, u, w, n, self._ret)
        if ct == NULL:
            rc = self._ret[0]
            self._finish(task, rc)
            self._reap()
            self._raise(rc, c)
        task._c, task._c_handle, task._client_ref = ct, handle, self
        task._submitted = True
        if task._unique is None and task._kind != STATUS:
            task._unique = ffi.string(lib.gearman_task_unique(ct)) or None
        self._live[id(task)] = task

    def _finish(self, task: Task, rc: int) -> None:
        if not task._finished:
            task._finished = True
            task._returncode = rc
            if task._kind != STATUS:  # a status task's is_running is the job's, as the server said
                task._is_running = False
            self._finished.append(task)

    def _detach(self, task: Task) -> None:
        task._c = None
        task._c_handle = None
        task._client_ref = None

    def _reap(self) -> None:
        """Frees the C tasks of finished tasks (never from inside a callback)."""
        if not self._finished:
            return
        skip = self._skip[0] if self._skip is not None else None
        keep = []
        for task in self._finished:
            if task is skip:
                keep.append(task)
                continue
            if task._c is not None and self._c != NULL:
                lib.gearman_task_free(task._c)
            self._live.pop(id(task), None)
            self._detach(task)
        self._finished = keep

    def _drive_live(self, clock: Clock) -> bool:
        """Runs the live tasks until none is left (True), or in non-blocking mode until libgearman
        would wait (False)."""
        c = self._c
        non_blocking = bool(self._options & lib.GEARMAN_CLIENT_NON_BLOCKING)
        if non_blocking:
            if self._nb_progress is None:
                self._nb_progress = clock
            progress = self._nb_progress
        else:
            progress = clock
        while self._live:
            rc = lib.gearman_client_run_tasks(c)
            if self._fd < 0:
                self._fd = lib.gxs_cw_take()
            self._reap()
            entry_exc = take_entry_error()
            exc = self._pending_exc or entry_exc
            if exc is not None:
                self._pending_exc = None
                raise exc
            if not self._live:
                if rc == _TIMEOUT:
                    self._dirty = True
                return True
            if rc == SUCCESS:
                for task in list(self._live.values()):
                    r = lib.gearman_task_return(task._c)
                    if r not in _NOT_DONE or (r == SUCCESS and task._kind >= BACKGROUND and task._job_handle):
                        self._finish(task, r)
                self._reap()
                if not self._live:
                    return True
            elif rc == _IO_WAIT:
                if non_blocking:
                    self._watch(progress, c)
                    return not self._live
                lib.gearman_client_wait(c)
            elif rc in _CONNECTION_ERRORS:
                if self._connection_lost(c, rc, progress):
                    return True
            elif rc not in (_TIMEOUT, _PAUSE):
                self._raise(rc, c)
            self._watch(progress, c)
        return True

    def _connection_lost(self, c: Any, rc: int, clock: Clock) -> bool:
        """run_tasks() on a connection error: acknowledged tasks end with what libgearman says;
        unacknowledged ones are submitted again (pending) when they provably never reached the
        server (the connect failed) or, once, to the same server (same unique: coalesced); else
        they end with ``rc`` (they may be queued there). True when no task is left live."""
        self._dirty = True
        text = error_text(c)
        self._error = text
        spec = self._c_server
        never_sent = rc == lib.GEARMAN_COULD_NOT_CONNECT or spec is None
        same = False
        if not never_sent and not self._retried_same and spec is not None:
            same = reachable(spec, clock.limit(CONNECT_CHECK)) is True
        again: List[Task] = []
        for task in list(self._live.values()):
            if task._job_handle is None or (task._kind == STATUS and not task._is_known):
                if never_sent or same or task._kind == STATUS:
                    lib.gearman_task_free(task._c)
                    self._live.pop(id(task), None)
                    self._detach(task)
                    task._submitted = False
                    again.append(task)
                else:
                    assert spec is not None
                    self._finish(task, rc)
                    self._error = _maybe_queued(spec, text)
            else:
                r = lib.gearman_task_return(task._c)
                if r not in _NOT_DONE:
                    self._finish(task, r)
        self._pending[:0] = again
        self._reap()
        if self._live:
            return False
        if again:
            self._resubmits += 1
            if self._resubmits > 2 * len(self._servers) + 2:
                self._resubmits = 0
                self._raise(rc, message=text)
            if never_sent:
                self._server_failed(rc)
            elif same:
                self._retried_same = True
                self._sticky = spec
        if not never_sent and not same and spec is not None:
            self._servers.failed(spec, refused=False)
        return True

    def _watch(self, progress: Clock, c: Any) -> None:
        """After a slice without the end: raises GearmanTimeout, or runs a due idle check."""
        outcome = progress.step(self._events)
        if outcome == TIMED_OUT:
            self._nb_progress = None
            self._raise(_TIMEOUT, message=f"no progress within {self._timeout} ms")
        if outcome == CHECK and compat.WORKAROUNDS["lost-work-fail"]:  # libgearman < 2.0.0
            self._check_idle(c, progress)

    def _check_idle(self, c: Any, clock: Clock) -> None:
        lost = []
        for task in list(self._live.values()):
            if task._kind >= BACKGROUND or task._job_handle is None:
                continue
            if self._known_anywhere(task._job_handle.encode(), clock) is False:
                lost.append(task)
        if not lost:
            return
        lib.gearman_client_run_tasks(c)  # drain packets that may already have arrived
        for task in lost:
            if not task._finished:
                self._dirty = True
                self._finish(task, lib.GEARMAN_WORK_FAIL)
                fn = self._callbacks["fail"]
                if fn is not None:
                    fn(task)
        self._reap()

    # -- callback dispatch (called from the gxs_task_* externs) --------------------------------------

    def _on_event(self, kind: str, task: Task, ct: Any) -> int:
        self._events += 1
        skip = self._skip
        if skip is not None:
            self._skip = None
            if skip[0] is task and skip[1] == kind:
                return SUCCESS  # re-invoked after the PAUSE that carried a callback's exception
        if kind == "created":
            task._job_handle = _args.c_string(lib.gearman_task_job_handle(ct))
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
            task._is_known = bool(lib.gearman_task_is_known(ct))
            task._is_running = bool(lib.gearman_task_is_running(ct))
            if kind == "complete":
                self._finish(task, SUCCESS)
            elif kind == "exception":
                task._exception = task._data
                self._finish(task, lib.GEARMAN_WORK_EXCEPTION)
            elif kind == "fail":
                self._finish(task, lib.GEARMAN_WORK_FAIL)
        fn = self._callbacks[kind]
        if fn is not None:
            try:
                fn(task)
            except BaseException as exc:
                self._pending_exc = exc
                self._skip = (task, kind)
                return _PAUSE
        return SUCCESS

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"servers={[s.decode() for s in self._servers.specs]}"
        return f"<Client {state}>"


def _maybe_queued(spec: bytes, why: Optional[str]) -> str:
    return (
        f"the connection to {spec.decode('utf-8', 'replace')} was lost after the job was sent and "
        f"before the server acknowledged it ({why or 'no answer'}): it may have been queued there, so "
        "it was not sent to another server (it could run twice); submit it again with the same "
        "unique to let the server coalesce it"
    )


_LOST_JOB = (
    "the server no longer knows this job: the worker failed it (a WORK_FAIL or WORK_EXCEPTION that "
    "libgearman 1.1.20 drops) or the server lost it"
)


def _spec(one: bytes) -> bytes:
    """``b"host"`` or ``b"host:port"`` as ``b"host:port"`` (the key of a server)."""
    return join_spec(*split_spec(one))
