"""``GrabbedJobs``: the jobs a Worker's ``grab_job()`` handed out, until each is answered and freed.

A grabbed ``Job`` belongs to the caller until it is answered; freeing it (``gearman_job_free()``)
touches the ``gearman_worker_st`` it came from, and libgearman is not thread-safe, so it happens under
the Worker's lock. This object, one per Worker, owns that:

* every grabbed Job refers to it (``job._jobs``) and to the C worker it came from (``job._owner``, an
  ``ffi.gc`` pointer): a C worker the Worker replaced (the NO_JOBS clone workaround, see
  ``_worker_c.py``) stays alive as long as a job of it is out, and is freed with the last one,
  by reference instead of a hand-kept list;
* ``release(job)`` (``Job.close()``, or the finalizer of a Job dropped unanswered) fails an
  unanswered job (WORK_FAIL, logged) and frees it: at once when the Worker is idle, else at the
  Worker's next call (``orphans``: a finalizer may run in another thread, or while the Worker is
  inside libgearman);
* ``close()`` (``Worker.close()``) fails and frees every job still out.
"""

from __future__ import annotations

import logging
import weakref
from typing import TYPE_CHECKING, Any, List, Tuple

from ._guard import WorkerGuard
from ._libgearman import ffi, lib
from .errors import error_for

if TYPE_CHECKING:  # pragma: no cover
    from .job import Job

__all__ = ["GrabbedJobs", "handle_text"]

log = logging.getLogger("gearman_xs")

_NULL = ffi.NULL
_SUCCESS = lib.GEARMAN_SUCCESS

# (gearman_job_st *, the C worker it came from, answered?)
_Orphan = Tuple[Any, Any, bool]


class GrabbedJobs:
    """The grabbed jobs of one Worker, whose lock is ``guard``."""

    __slots__ = ("guard", "jobs", "orphans")

    def __init__(self, guard: WorkerGuard) -> None:
        self.guard = guard
        self.jobs: weakref.WeakSet[Job] = weakref.WeakSet()  # the Jobs still out
        self.orphans: List[_Orphan] = []  # released while the Worker was busy: freed at its next call

    def add(self, job: Job) -> Job:
        self.jobs.add(job)
        return job

    def release(self, job: Job, explicit: bool) -> None:
        """Job.close() (``explicit``) and a dropped Job's finalizer: fails an unanswered job, frees it."""
        ptr, owner, finished = job._ptr, job._owner, job._finished
        if ptr is None:
            return
        job._ptr = None
        job._owner = None
        entry = (ptr, owner, finished)
        guard = self.guard
        if not guard.try_hold():
            # Busy (inside libgearman, or another thread): answered at the next Worker call.
            self.orphans.append(entry)
            if explicit and not guard.in_callback:
                log.debug("gearman_xs: job release deferred: the Worker is busy")
            return
        with guard:
            if not guard.closed:
                self.orphans.append(entry)
                self.release_orphans()

    def release_orphans(self) -> None:
        """Answers and frees the jobs released while the Worker was busy (under its lock)."""
        while self.orphans:
            ptr, _owner, finished = self.orphans.pop()
            _answer_and_free(ptr, finished)  # then _owner goes: a replaced C worker may be freed

    def close(self) -> None:
        """Worker.close(), under its lock: fails and frees every job still out."""
        for job in list(self.jobs):
            if job._ptr is not None:
                self.orphans.append((job._ptr, job._owner, job._finished))
                job._ptr = None
                job._owner = None
        while self.orphans:
            jptr, _owner, finished = self.orphans.pop()
            _answer_and_free(jptr, finished)


def _answer_and_free(ptr: Any, finished: bool) -> None:
    if not finished:
        log.warning("gearman_xs: grabbed job %s released without an answer: sending WORK_FAIL",
                    handle_text(ptr))
        rc = lib.gearman_job_send_fail(ptr)
        if rc != _SUCCESS:
            log.error("gearman_xs: WORK_FAIL for job %s failed: %s", handle_text(ptr), error_for(rc))
    lib.gearman_job_free(ptr)


def handle_text(job_ptr: Any) -> str:
    """A job's handle for log lines ("?" if it has none)."""
    h = lib.gearman_job_handle(job_ptr)
    return "?" if h == _NULL else ffi.string(h).decode("utf-8", "replace")
