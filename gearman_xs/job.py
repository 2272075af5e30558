"""``Job``: one job a worker is running (``Gearman::XS::Job``).

A Job comes from two places:

* as the first argument of a function registered with ``Worker.add_function()``. It is valid only
  during that call: libgearman frees the job when the function returns, and every method of the
  Job raises ``ClosedError`` afterwards instead of touching freed memory;
* from ``Worker.grab_job()``. It belongs to the caller until it is answered with
  ``send_complete()``, ``send_fail()`` or ``send_exception()``. A grabbed Job dropped without an
  answer is logged on the ``gearman_xs`` logger and failed (WORK_FAIL), so the client does not wait
  forever; ``close()`` (or ``with job:``) does that explicitly and frees the job.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Optional

from . import _args
from ._libgearman import ffi, lib
from ._repr import CLOSED, object_repr
from .errors import ClosedError, check

if TYPE_CHECKING:  # pragma: no cover
    from ._grabbed import GrabbedJobs

__all__ = ["Job"]

log = logging.getLogger("gearman_xs")

_NULL = ffi.NULL
_UINT32_MAX = 2**32 - 1


class Job:
    """A job being worked on. Not created directly: see ``Worker.add_function()`` and
    ``Worker.grab_job()``."""

    # The Job of one worker-function call is built in _worker_call.gxs_worker_function(), the per-job
    # path, which sets these slots inline (a constructor call would cost every job a Python call);
    # a grabbed Job by _grabbed() below.
    __slots__ = ("__weakref__", "_failed", "_finished", "_jobs", "_owner", "_ptr", "_wl", "_wl_size")

    _ptr: Any
    _finished: bool
    _failed: bool  # finished by send_fail() or send_exception()
    _jobs: Optional[GrabbedJobs]  # grabbed jobs: their owner, which releases them
    _owner: Any  # grabbed jobs: the C worker (an ffi.gc pointer) they came from, kept alive
    _wl: Any  # the workload (char *, owned by libgearman's job) and its size
    _wl_size: int

    def __init__(self) -> None:
        raise TypeError("Job objects come from Worker.add_function() callbacks or Worker.grab_job()")

    @classmethod
    def _grabbed(cls, ptr: Any, jobs: GrabbedJobs, owner: Any) -> Job:
        """A Job from grab_job(), owned by ``jobs``; ``owner`` is the gearman_worker_st (an ffi.gc
        pointer) that holds it. It is a ``_GrabbedJob``: only those need a finalizer (to fail and
        free an unanswered job)."""
        job = _new(_GrabbedJob)
        job._ptr = ptr
        job._wl = ffi.cast("char *", lib.gearman_job_workload(ptr))
        job._wl_size = int(lib.gearman_job_workload_size(ptr))
        job._finished = job._failed = False
        job._jobs = jobs
        job._owner = owner
        return job

    # -- helpers ---------------------------------------------------------------------------------

    def _p(self) -> Any:
        ptr = self._ptr
        if ptr is None:
            raise ClosedError("Job")
        return ptr

    def _send(self, rc: int, ptr: Any) -> None:
        if rc != 0:
            check(rc, ptr)

    # -- accessors -------------------------------------------------------------------------------

    def workload(self) -> bytes:
        """The job's workload, copied (binary-safe); ``b""`` when empty (Gearman::XS gives undef)."""
        if self._ptr is None:
            raise ClosedError("Job")
        size = self._wl_size
        if size == 0:
            return b""
        return ffi.unpack(self._wl, size)  # type: ignore[no-any-return]

    def workload_size(self) -> int:
        """The workload's size in bytes."""
        self._p()
        return self._wl_size

    def handle(self) -> str:
        """The job handle, e.g. ``"H:host:12"``."""
        return _string(lib.gearman_job_handle(self._p()))

    def function_name(self) -> str:
        """The name of the function the client called."""
        return _string(lib.gearman_job_function_name(self._p()))

    def unique(self) -> str:
        """The unique id the client gave, or the UUID libgearman generated for it."""
        return _string(lib.gearman_job_unique(self._p()))

    # -- senders ---------------------------------------------------------------------------------

    def send_status(self, numerator: int, denominator: int) -> None:
        """Sends WORK_STATUS (both numbers are uint32)."""
        n = _args.int_arg(numerator, "numerator", 0, _UINT32_MAX)
        d = _args.int_arg(denominator, "denominator", 0, _UINT32_MAX)
        ptr = self._p()
        self._send(lib.gearman_job_send_status(ptr, n, d), ptr)

    def send_data(self, data: _args.Payload) -> None:
        """Sends a WORK_DATA chunk; a foreground client receives the concatenation of the chunks
        followed by the final result."""
        buf, size = _args.payload(data, "data")
        ptr = self._p()
        self._send(lib.gearman_job_send_data(ptr, buf, size), ptr)

    def send_warning(self, data: _args.Payload) -> None:
        """Sends WORK_WARNING."""
        buf, size = _args.payload(data, "warning")
        ptr = self._p()
        self._send(lib.gearman_job_send_warning(ptr, buf, size), ptr)

    def send_complete(self, result: _args.Payload) -> None:
        """Sends WORK_COMPLETE with ``result``. Terminal: later terminal sends are no-ops, and a
        function's return value is not sent after it."""
        buf, size = _args.payload(result, "result")
        ptr = self._p()
        self._send(lib.gearman_job_send_complete(ptr, buf, size), ptr)
        self._finished = True

    def send_fail(self) -> None:
        """Sends WORK_FAIL. Terminal, like send_complete()."""
        ptr = self._p()
        self._send(lib.gearman_job_send_fail(ptr), ptr)
        self._failed = self._failed or not self._finished
        self._finished = True

    def send_exception(self, data: _args.Payload) -> None:
        """Sends WORK_EXCEPTION with ``data`` (not empty). Terminal. Not in Gearman::XS.

        Only clients that enabled exceptions (or a gearmand run with ``--exceptions``) receive it;
        a libgearman 1.1 client without exceptions waits forever for such a job, so prefer
        send_fail() unless you control the clients."""
        buf, size = _args.payload(data, "exception")
        if size == 0:
            raise ValueError("exception data must not be empty")
        ptr = self._p()
        self._send(lib.gearman_job_send_exception(ptr, buf, size), ptr)
        self._failed = self._failed or not self._finished
        self._finished = True

    # -- grabbed jobs ----------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        """True once send_complete(), send_fail() or send_exception() succeeded."""
        return self._finished

    @property
    def closed(self) -> bool:
        """True once the job is no longer usable (its function returned, or it was closed)."""
        return self._ptr is None

    def close(self) -> None:
        """Frees a grabbed job; one without an answer is failed first (and logged). For a job
        handed to a function this only makes the Job unusable; libgearman frees it."""
        jobs = self._jobs
        if jobs is None or self._ptr is None:
            self._ptr = None
            return
        jobs.release(self, explicit=True)

    def __enter__(self) -> Job:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._ptr is None:
            return object_repr(self, **CLOSED)
        return object_repr(self, handle=self.handle(), function=self.function_name(), unique=self.unique())


_new = object.__new__


class _GrabbedJob(Job):
    """A Job from ``Worker.grab_job()``: dropped without an answer, it is failed and freed."""

    __slots__ = ()

    def __del__(self) -> None:
        try:
            jobs = self._jobs
        except AttributeError:  # __init__ refused
            return
        if jobs is not None and self._ptr is not None:
            jobs.release(self, explicit=False)


def _string(pointer: Any) -> str:
    if pointer == _NULL:
        return ""
    return ffi.string(pointer).decode("utf-8", "surrogateescape")  # type: ignore[no-any-return]
