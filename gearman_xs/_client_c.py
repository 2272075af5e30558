"""``CClient``: the Client's one ``gearman_client_st`` and the settings it is rebuilt from.

A Client keeps its configuration in Python (servers in the order given, options, timeout,
namespace, identifier, server options) and holds one C client at a time, for exactly one server:
the first available one in the order given (``_servers.py``). This module owns that C client's
lifecycle:

* **create** it for one server with the Python-held settings replayed (``new_c()``);
* **invalidate** it (``dirty``): a connection error, a connection the server closed while the
  Client was idle (the connection watch, csrc/conn_watch.c), a silent reconnect, a changed
  setting libgearman cannot undo;
* **rebuild** it before the next submission (``ready()``): choose the server, replace the C client
  if it is dirty or for another server, and send the server options ("exceptions") on it, in
  slices bounded by the call's ``Clock``;
* know the tasks in flight on it (``live``): a C client holding tasks is never replaced;
* **pause** a server that failed (``server_failed()``) so the next one takes over;
* record the message of the last failure raised (``error``, what ``Client.error()`` returns) and
  raise it (``raise_error()``).

Nothing here submits jobs: ``_client_do.py`` and ``_client_tasks.py`` do, on the C client
``ready()`` returns.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable, Dict, List, NoReturn, Optional

from . import _tls
from ._clock import SLICE_MS, Clock
from ._libgearman import ffi, lib
from ._servers import ServerList, join_spec, reachable, split_spec
from .errors import CONNECTION_CODES, error_from, error_text

if TYPE_CHECKING:  # pragma: no cover
    from .task import Task

__all__ = ["CClient", "CONNECTION_ERRORS", "CONNECT_CHECK", "EXCEPTION", "NOT_DONE", "spec_of"]

NULL = ffi.NULL
SUCCESS: int = lib.GEARMAN_SUCCESS
_TIMEOUT: int = lib.GEARMAN_TIMEOUT
CONNECTION_ERRORS = CONNECTION_CODES  # a server that fails with one of these is paused
#: What ``gearman_task_return()`` says of a task that has not ended (the three submitting paths).
NOT_DONE = frozenset({lib.GEARMAN_UNKNOWN_STATE, lib.GEARMAN_IO_WAIT, SUCCESS, lib.GEARMAN_PAUSE})

#: Longest wait for a TCP connection to a server about to be used (s), before it counts as down.
CONNECT_CHECK = 0.5

FREE_TASKS = lib.GEARMAN_CLIENT_FREE_TASKS
EXCEPTION = lib.GEARMAN_CLIENT_EXCEPTION
PYTHON_OPTIONS = FREE_TASKS | EXCEPTION  # kept in Python, see Client.options()


class CClient:
    """The current ``gearman_client_st`` (``c``, for the one server ``spec``) and the settings
    every new one is built with. Used under the Client's lock only."""

    def __init__(self) -> None:
        self.servers = ServerList()  # "host:port" in order of preference, with their pauses
        self.spec: Optional[bytes] = None  # the one server of the current C client
        self.fd = -1  # its connection's fd once known (connection watch), else -1
        self.recheck_at = 0.0  # when a server preferred over spec ends its pause
        self.options = lib.GEARMAN_CLIENT_ALLOCATED | FREE_TASKS | EXCEPTION
        self.timeout = -1
        self.namespace: Optional[bytes] = None
        self.identifier: Optional[bytes] = None
        self.tls: Optional[_tls.TlsSettings] = None  # set_ssl()
        self.server_options: List[bytes] = []
        self.prepared = False  # server options sent on the current C client
        self.dirty = False  # the current C client must be replaced before the next submission
        self.exceptions_on = False
        self.error: Optional[str] = None  # the message of the last failure raised
        self.live: Dict[int, Task] = {}  # the add_task*() tasks libgearman holds on c (id -> Task)
        self.c: Any = NULL
        self.c = self.new_c(None)
        # $GEARMAN_SERVERS is the list while the program adds none (libgearman adds it in front of
        # whatever the program adds, which in the order given would make it the preferred one)
        self.env_servers = False
        for spec in os.environ.get("GEARMAN_SERVERS", "").split(","):
            if spec.strip():
                self.servers.add(spec_of(spec.strip().encode()))
                self.env_servers = True

    # -- errors ------------------------------------------------------------------------------------

    def raise_error(
        self, rc: int, source: Any = None, exception: bytes = b"", message: Optional[str] = None
    ) -> NoReturn:
        """Raises the exception for ``rc`` (text: ``message``, else ``source``'s libgearman error
        text) and records its message for ``Client.error()``."""
        err = error_from(rc, source, message, exception)
        self.error = err.message  # libgearman's bare text, as Worker.error() and Gearman::XS give
        raise err

    def need_servers(self) -> None:
        if not self.servers:
            self.raise_error(lib.GEARMAN_NO_SERVERS, message="no servers added")

    def no_server_text(self) -> str:
        names = ", ".join(s.decode("utf-8", "replace") for s in self.servers.specs)
        paused = self.servers.pause_text()
        return f"no server could be used ({names})" + (f": {paused}" if paused else "")

    # -- create, replace ---------------------------------------------------------------------------

    def new_c(self, spec: Optional[bytes]) -> Any:
        """A C client for the one server ``spec`` (None: no server), with the Python-held settings."""
        c = lib.gearman_client_create(NULL)
        if c == NULL:
            raise MemoryError("gearman_client_create() failed")
        try:
            lib.gearman_client_remove_servers(c)  # the ones libgearman took from GEARMAN_SERVERS
            if spec is not None:
                rc = lib.gearman_client_add_servers(c, spec)
                if rc != SUCCESS:
                    raise error_from(rc, c)
            c_options = self.options & ~PYTHON_OPTIONS & ~lib.GEARMAN_CLIENT_ALLOCATED
            if c_options:
                lib.gearman_client_add_options(c, c_options)
            lib.gearman_client_set_timeout(c, self.slice_ms())
            if self.namespace:
                lib.gearman_client_set_namespace(c, self.namespace, len(self.namespace))
            if self.identifier:
                lib.gearman_client_set_identifier(c, self.identifier, len(self.identifier))
            if self.tls is not None:
                self.tls.apply_client(c)
            lib.gxs_client_install_callbacks(c)
        except BaseException:
            lib.gearman_client_free(c)
            raise
        return c

    def slice_ms(self) -> int:
        """libgearman's timeout for one blocking slice (ms)."""
        return min(SLICE_MS, self.timeout) if self.timeout > 0 else SLICE_MS

    def clock(self) -> Clock:
        """The clock of one blocking call, against the user's timeout."""
        return Clock(self.timeout)

    def replace(self, spec: Optional[bytes]) -> None:
        """Frees the current C client and makes a fresh one for ``spec``."""
        old, self.c = self.c, NULL
        self.spec = None
        self.fd = -1
        if old != NULL:
            lib.gearman_client_free(old)
        lib.gxs_cw_take()  # forget connects seen so far: the next one in this thread is the new C client's
        self.c = self.new_c(spec)
        self.spec = spec
        self.prepared = False
        self.dirty = False

    def free(self) -> None:
        """Frees the C client (Client.close())."""
        if self.c != NULL:
            lib.gearman_client_free(self.c)
            self.c = NULL

    def drop_env_servers(self) -> None:
        """The program adds servers: they replace the ones from $GEARMAN_SERVERS."""
        if self.env_servers:
            self.env_servers = False
            self.servers.clear()
            self.dirty = True

    def check_servers(self, add: Callable[[Any], int]) -> None:
        """Lets libgearman parse and resolve servers on a scratch C client (raises its error)."""
        c = lib.gearman_client_create(NULL)
        if c == NULL:
            raise MemoryError("gearman_client_create() failed")
        try:
            rc = add(c)
            if rc != SUCCESS:
                self.raise_error(rc, c)
        finally:
            lib.gearman_client_free(c)

    # -- settings ----------------------------------------------------------------------------------

    def set_options(self, value: int) -> None:
        """Replaces the option bitmask: the C options on the current C client at once, EXCEPTION
        (a server option) on the next C client."""
        old = self.options
        self.options = value
        if (old ^ value) & EXCEPTION:
            self.prepared = False
            self.dirty = True
        c_new = value & ~PYTHON_OPTIONS
        c_old = int(lib.gearman_client_options(self.c)) & ~PYTHON_OPTIONS
        if c_new & ~c_old:
            lib.gearman_client_add_options(self.c, c_new & ~c_old)
        if c_old & ~c_new:
            lib.gearman_client_remove_options(self.c, c_old & ~c_new)

    def set_server_option(self, option: bytes) -> None:
        """Sends OPTION_REQ ``option`` now and remembers it for every later C client."""
        clock = self.clock()
        c = self.ready(clock)
        rc = self.request_option(c, option, clock)
        if rc != SUCCESS:
            text = error_text(c)
            self.dirty = True
            if rc in CONNECTION_ERRORS:
                self.server_failed(rc)
                self.raise_error(rc, message=text)
            self.raise_error(lib.GEARMAN_INVALID_SERVER_OPTION, message=text)
        if option not in self.server_options:
            self.server_options.append(option)

    # -- the C client to submit on -------------------------------------------------------------------

    def ready(self, clock: Clock, only: Optional[bytes] = None) -> Any:
        """The C client to submit on: the first available server in the order given (or ``only``),
        on a clean C client (replaced if dirty and no task is in flight on it), with the server
        options sent."""
        if self.live:
            return self.c
        if not self.servers:
            self.raise_error(lib.GEARMAN_NO_SERVERS, message="no servers added")
        self.check_connection()
        for _ in range(self.attempts()):
            spec = self.choose(clock) if only is None else only
            if spec != self.spec or self.dirty:
                self.replace(spec)
            self.recheck_at = self.servers.recheck_at(spec)
            if self.prepared or self.prepare(clock):
                if self.fd < 0:
                    self.fd = lib.gxs_cw_take()  # opened by the option request, if any
                return self.c
            if only is not None:  # the jobs to send again to ``only`` (_resend.Loss) may be queued there
                from ._resend import maybe_queued  # (imported here: _resend builds on this module)

                self.raise_error(lib.GEARMAN_LOST_CONNECTION, message=maybe_queued(only, error_text(self.c)))
        self.raise_error(lib.GEARMAN_COULD_NOT_CONNECT, message=self.no_server_text())

    def attempts(self) -> int:
        """How many times one call may choose a server, or send its jobs again after a lost
        connection, before it gives up: each server twice, and two more."""
        return 2 * len(self.servers) + 2

    def check_connection(self) -> bool:
        """True if the current connection is clean; False (and the C client is dirty) when its
        server closed it or sent something unasked while the Client was idle."""
        if self.fd >= 0 and not self.dirty and lib.gxs_cw_peer_closed(self.fd):
            self.dirty = True
        return not self.dirty

    def choose(self, clock: Clock) -> bytes:
        """The first server in the order given that is not paused and accepts a TCP connection
        (the current C client's server counts as accepting while it is clean); a server that
        does not is paused. Down servers are tried last; raises when none is left."""
        current = self.spec if not self.dirty else None
        candidates = self.servers.candidates()
        for i, spec in enumerate(candidates):
            if spec == current:
                return spec
            # CONNECT_CHECK s for a server with others behind it; the last one gets the whole clock
            limit = clock.limit(CONNECT_CHECK) if i + 1 < len(candidates) else clock.remaining()
            ok = reachable(spec, limit)
            if ok:
                return spec
            if ok is None and clock.expired():
                self.raise_error(_TIMEOUT, message=f"no connection to {spec.decode('utf-8', 'replace')} "
                                 f"within {self.timeout} ms")
            self.servers.failed(spec, refused=True)
        self.raise_error(lib.GEARMAN_COULD_NOT_CONNECT, message=self.no_server_text())

    def server_failed(self, rc: int) -> None:
        """The current C client's server failed with connection error ``rc``: pause it."""
        self.dirty = True
        if self.spec is not None:
            self.servers.failed(self.spec, refused=rc == lib.GEARMAN_COULD_NOT_CONNECT)

    def request_option(self, c: Any, option: bytes, clock: Clock) -> int:
        """OPTION_REQ on ``c`` in slices (re-sent after each slice without an answer: a late
        OPTION_RES is ignored by run_tasks()); SUCCESS, a connection error, or another failure
        code. Raises GearmanTimeout when the clock runs out."""
        try:
            while True:
                lib.gearman_client_set_timeout(c, clock.limit_ms(self.slice_ms()))
                if lib.gearman_client_set_server_option(c, option, len(option)):
                    return SUCCESS
                rc = int(lib.gearman_client_error_code(c))
                if rc != _TIMEOUT:
                    return rc if rc != SUCCESS else lib.GEARMAN_INVALID_SERVER_OPTION
                if clock.expired():
                    self.dirty = True
                    name = option.decode("utf-8", "replace")
                    self.raise_error(_TIMEOUT,
                                     message=f"no answer to OPTION_REQ {name} within {self.timeout} ms")
        finally:
            if self.c != NULL:
                lib.gearman_client_set_timeout(c, self.slice_ms())

    def prepare(self, clock: Clock) -> bool:
        """Sends the server options on the current C client. False if its server failed (it is
        paused; choose again)."""
        self.exceptions_on = False
        wanted = list(self.server_options)
        exceptions = bool(self.options & EXCEPTION)
        if exceptions and b"exceptions" not in wanted:
            wanted.append(b"exceptions")
        if wanted:
            for option in wanted:
                rc = self.request_option(self.c, option, clock)
                if rc in CONNECTION_ERRORS:
                    self.server_failed(rc)
                    return False
                if rc != SUCCESS:
                    # Refused (an old server): start over on a clean C client without the options
                    # (jobs still flow; idle checks cover the WORK_EXCEPTION hang).
                    self.replace(self.spec)
                    self.prepared = True
                    return True
            self.exceptions_on = exceptions or b"exceptions" in wanted
        self.prepared = True
        return True


def spec_of(one: bytes) -> bytes:
    """``b"host"`` or ``b"host:port"`` as ``b"host:port"`` (the key of a server)."""
    return join_spec(*split_spec(one))
