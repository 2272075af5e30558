"""``CWorker``: a Worker's one ``gearman_worker_st``, and the settings a clone of it is rebuilt with.

The functions, servers and options live in libgearman's worker; what ``gearman_worker_clone()``
does not carry over, or what libgearman 1.1.20 forgets, is kept here and re-applied:

* the poll timeout of the current slice (``c_timeout``, ``set_c_timeout()``): the Worker waits in
  slices of ``SLICE_MS`` so that stop(), signals and the user's timeout are seen between them;
* the identifier, re-sent after a pass that (re)connected (``id_stale``, ``resend_identifier()``):
  libgearman does not send it on a new connection;
* the TLS files (``set_ssl()``) and the log function;
* **the NO_JOBS clone** (``renew()``, ``after_grab()``): after a job was taken (``dirty``), and
  after any NO_JOBS in non-blocking mode, libgearman 1.1.20 leaves its state machine pointing past
  the last connection, and the next ``grab_job()``/``work()`` on that ``gearman_worker_st`` would
  crash. The Worker continues on a fresh clone of it. The old one is freed when the last reference
  goes: at once, or with the last grabbed Job that came from it (``_grabbed.py``).
"""

from __future__ import annotations

from typing import Any, Optional

from . import _tls
from ._libgearman import ffi, lib

__all__ = ["CWorker", "SLICE_MS"]

#: The internal libgearman poll timeout (ms): the longest a blocked work() goes without
#: checking stop(), signals, the user's timeout and dead servers.
SLICE_MS = 200

_NULL = ffi.NULL
_NO_JOBS = lib.GEARMAN_NO_JOBS
_NON_BLOCKING = lib.GEARMAN_WORKER_NON_BLOCKING


class CWorker:
    """The current ``gearman_worker_st`` (``ptr``, an ``ffi.gc`` pointer; None once closed) and
    what every clone of it is built with. Used under the Worker's lock only."""

    __slots__ = ("c_timeout", "dirty", "fresh_clone", "id_stale", "identifier", "log_handle",
                 "log_verbose", "ptr", "tls")

    def __init__(self) -> None:
        self.ptr: Any = None
        ptr = lib.gearman_worker_create(_NULL)
        if ptr == _NULL:
            raise MemoryError("gearman_worker_create() failed")
        # freed by close(), or (a C worker replaced by renew()) when the last reference goes
        self.ptr = ffi.gc(ptr, lib.gearman_worker_free)
        self.c_timeout = SLICE_MS
        self.identifier: Optional[bytes] = None
        self.id_stale = False  # a pass lost its connection: re-send the identifier after the next
        self.tls: Optional[_tls.TlsSettings] = None  # set_ssl(), re-applied to every clone
        self.log_handle: Any = None
        self.log_verbose = 0
        self.dirty = False  # a job was taken since the C state machine last restarted
        self.fresh_clone = False  # renewed after a non-blocking NO_JOBS: nothing to wait on yet
        lib.gearman_worker_set_timeout(ptr, SLICE_MS)

    def set_c_timeout(self, ms: int) -> None:
        if ms != self.c_timeout:
            lib.gearman_worker_set_timeout(self.ptr, ms)
            self.c_timeout = ms

    def echo(self, buf: Any, size: int, timeout_ms: int) -> int:
        """gearman_worker_echo() with the poll timeout ``timeout_ms`` instead of the slice's (an
        echo cut short cannot be resumed: its answer would reach the next call)."""
        ptr = self.ptr
        lib.gearman_worker_set_timeout(ptr, timeout_ms)
        try:
            return int(lib.gearman_worker_echo(ptr, buf, size))
        finally:
            lib.gearman_worker_set_timeout(ptr, self.c_timeout)

    def resend_identifier(self) -> None:
        """After a pass that (re)connected: libgearman 1.1.20 does not re-send the identifier
        on a new connection. Called only after such a pass, because sending on a closed
        connection would reconnect it without the CAN_DOs of the function list."""
        self.id_stale = False
        ident = self.identifier
        if ident is not None:
            lib.gearman_worker_set_identifier(self.ptr, ident, len(ident))

    def set_log(self, handle: Any, verbose: int) -> Any:
        """Installs ``gxs_log`` with the context ``handle`` (None: no log function); returns the
        handle it replaces, which libgearman may still hold."""
        if handle is None:
            lib.gearman_worker_set_log_fn(self.ptr, ffi.cast("gearman_log_fn *", _NULL), _NULL, 0)
        else:
            lib.gearman_worker_set_log_fn(self.ptr, lib.gxs_log, handle, verbose)
        old, self.log_handle, self.log_verbose = self.log_handle, handle, verbose
        return old

    def after_grab(self, rc: int) -> None:
        """A grab_job() that returned no job: continue on a clone when libgearman's state machine
        is left pointing past the last connection (after a job was taken, or after any NO_JOBS in
        non-blocking mode). ``fresh_clone`` tells wait() that the clone has nothing to wait on."""
        no_jobs_nb = rc == _NO_JOBS and bool(lib.gearman_worker_options(self.ptr) & _NON_BLOCKING)
        if self.dirty or no_jobs_nb:
            self.renew()
            self.fresh_clone = no_jobs_nb

    def renew(self) -> None:
        """Continues on a ``gearman_worker_clone()`` of the current C worker, with the settings
        the clone does not carry over re-applied."""
        old = self.ptr
        new = lib.gearman_worker_clone(_NULL, old)
        if new == _NULL:
            raise MemoryError("gearman_worker_clone() failed")
        missing = int(lib.gearman_worker_options(old)) & ~int(lib.gearman_worker_options(new))
        if missing:  # gearman_worker_clone() drops NON_BLOCKING (and options() then hides it)
            lib.gearman_worker_add_options(new, missing)
        lib.gearman_worker_set_timeout(new, self.c_timeout)
        if self.identifier is not None:
            lib.gearman_worker_set_identifier(new, self.identifier, len(self.identifier))
        if self.tls is not None:  # the clone keeps libgearman's TLS flag but not the files
            self.tls.apply_worker(new)
        if self.log_handle is not None:
            lib.gearman_worker_set_log_fn(new, lib.gxs_log, self.log_handle, self.log_verbose)
        # the old one is freed when the last reference goes: at once, or with its last grabbed job
        self.ptr = ffi.gc(new, lib.gearman_worker_free)
        self.dirty = False

    def close(self) -> None:
        """Frees the C worker now (its connections close)."""
        ptr, self.ptr = self.ptr, None
        if ptr is not None:
            ffi.release(ptr)  # gearman_worker_free() now
        self.log_handle = None
