"""``Task``: one job submitted through ``Client.add_task*`` (``Gearman::XS::Task``).

A Task answers every accessor from Python-held state that the Client fills in as the job's packets
arrive, so it stays readable after ``run_tasks()``, after ``clear_fn()`` and after its Client is
closed: it never touches libgearman memory that may have been freed. Its C task is freed as soon as
the job is finished (libgearman issue #462: finished tasks would otherwise pile up on the client).
"""

from __future__ import annotations

from typing import Any, List, Optional, Union

from ._client_probes import JobStatus
from ._libgearman import lib
from ._repr import object_repr
from .constants import ReturnCode, return_code
from .errors import GearmanError, error_for

__all__ = ["Task"]

# Client-internal task kinds: priority (0 high, 1 normal, 2 low) + 3 for background; STATUS is a
# GET_STATUS task from add_task_status().
HIGH, NORMAL, LOW = 0, 1, 2
BACKGROUND = 3
STATUS = 6


class Task:
    """A submitted job and what is known about it. Created by ``Client.add_task*()``; the same
    object is passed to the Client's callbacks as ``fn(task)``."""

    __slots__ = (
        "__weakref__",
        "_batch",
        "_c",
        "_c_handle",
        "_chunks",
        "_client_ref",
        "_data",
        "_denominator",
        "_exception",
        "_finished",
        "_function_name",
        "_is_known",
        "_is_running",
        "_job_handle",
        "_kind",
        "_message",
        "_numerator",
        "_returncode",
        "_submitted",
        "_unique",
        "_warnings",
        "_workload",
        "context",
    )

    #: The object given as ``add_task*(..., context=obj)`` (None when none was): the caller's own
    #: reference for this job, like PHP's ``addTask($f, $w, $context)``. Not sent anywhere; the
    #: Task only keeps it (it may be reassigned).
    context: Any

    def __init__(
        self, runner: Any, kind: int, function_name: bytes, unique: Optional[bytes], workload: Any,
        context: Any = None,
    ) -> None:
        self.context = context
        self._batch: Any = None  # the Client.map()/as_completed() batch it belongs to, if any
        self._client_ref = runner  # the Client's TaskRunner, which receives the job's events
        self._kind = kind
        self._function_name = function_name
        self._unique = unique
        self._workload = workload  # the caller's buffer, kept until the job is submitted
        self._job_handle: Optional[str] = None
        self._data: Optional[bytes] = None
        self._chunks: List[bytes] = []  # every WORK_DATA payload, in order
        self._warnings: List[bytes] = []  # every WORK_WARNING payload, in order
        self._message: Optional[str] = None  # the failure's text (a connection error's)
        self._numerator = 0
        self._denominator = 0
        self._is_known = False
        self._is_running = False
        self._exception: Optional[bytes] = None
        self._returncode = lib.GEARMAN_UNKNOWN_STATE
        self._finished = False
        self._c: Any = None  # gearman_task_st * while libgearman holds the task
        self._c_handle: Any = None  # ffi.new_handle(self), alive while _c is
        self._submitted = False

    # -- Gearman::XS::Task accessors ----------------------------------------------------------

    def job_handle(self) -> Optional[str]:
        """The job handle (``"H:host:N"``), or None before the server created the job. For an
        ``add_task_status()`` task, the handle it asked about."""
        return self._job_handle

    def data(self) -> Optional[bytes]:
        """Inside a callback: that event's payload (a data chunk, a warning, the result, the
        exception text). Afterwards: the last payload the task received, so a finished task's
        result stays readable. None when there was none; an empty result is ``b""``."""
        return self._data

    def data_size(self) -> int:
        """``len(data())`` (0 when there is no payload)."""
        return len(self._data) if self._data is not None else 0

    def function_name(self) -> Optional[str]:
        """The function name the job was submitted to (None for an ``add_task_status()`` task)."""
        if not self._function_name:
            return None
        return self._function_name.decode("utf-8", "surrogateescape")

    def unique(self) -> Optional[str]:
        """The unique id: the one given to ``add_task``, else a generated UUID (None for an
        ``add_task_status()`` task)."""
        if self._unique is None:
            return None
        return self._unique.decode("utf-8", "surrogateescape")

    def numerator(self) -> int:
        """The numerator of the last WORK_STATUS (or status answer) received, else 0."""
        return self._numerator

    def denominator(self) -> int:
        """The denominator of the last WORK_STATUS (or status answer) received, else 0."""
        return self._denominator

    def is_known(self) -> bool:
        """Whether the server knew the job at the last packet (libgearman's ``is_known``)."""
        return self._is_known

    def is_running(self) -> bool:
        """Whether a worker was running the job at the last packet."""
        return self._is_running

    # -- beyond Gearman::XS --------------------------------------------------------------------

    def data_chunks(self) -> List[bytes]:
        """Every WORK_DATA payload the job sent, in order (a new list; empty when none).
        Gearman::XS's ``data()`` only shows the current packet's: a Perl port collected these in
        its data callback."""
        return list(self._chunks)

    def warnings(self) -> List[bytes]:
        """Every WORK_WARNING payload the job sent, in order (a new list; empty when none)."""
        return list(self._warnings)

    def result(self) -> Union[bytes, str, Any]:
        """The task's outcome as the blocking call would have given it, once it is finished:
        for a job, what ``do()`` returns (the WORK_DATA chunks followed by the WORK_COMPLETE
        payload, ``bytes``); for a background job, its job handle (``do_background()``); for an
        ``add_task_status()`` task, its ``JobStatus``. A failed task raises what ``do()`` would
        have raised (``WorkFail``, ``WorkException``, ``GearmanConnectionError``...); an
        unfinished one (not run yet, or left by a timeout or ``close()``) raises ``GearmanError``
        with ``code`` GEARMAN_UNKNOWN_STATE."""
        rc = self._returncode
        if not self._finished:
            raise GearmanError(rc, f"the task is not finished ({self._state()})")
        if rc != lib.GEARMAN_SUCCESS:
            raise error_for(rc, self._message, self._exception or b"")
        if self._kind == STATUS:
            return JobStatus(self._is_known, self._is_running, self._numerator, self._denominator)
        if self._kind >= BACKGROUND:
            return self._job_handle
        last = self._data if self._data is not None else b""
        return b"".join(self._chunks) + last if self._chunks else last

    def exception(self) -> Optional[bytes]:
        """The WORK_EXCEPTION payload, or None if the worker sent none."""
        return self._exception

    def returncode(self) -> int:
        """The task's final ``gearman_return_t`` (a ``ReturnCode``): ``GEARMAN_SUCCESS``,
        ``GEARMAN_WORK_FAIL``, ``GEARMAN_WORK_EXCEPTION``, a connection error...;
        ``GEARMAN_UNKNOWN_STATE`` while the task is not finished."""
        return return_code(self._returncode)

    def is_finished(self) -> bool:
        """True once the task has its final outcome (see ``returncode()``). (libgearman's own
        ``gearman_task_is_finished`` is always false in 1.1.20.)"""
        return self._finished

    def is_background(self) -> bool:
        """True for tasks from ``add_task*_background()``."""
        return BACKGROUND <= self._kind < STATUS

    def _state(self) -> str:
        return "finished" if self._finished else ("submitted" if self._submitted else "pending")

    def __repr__(self) -> str:
        return object_repr(self, function=self.function_name(), unique=self.unique(),
                           handle=self._job_handle, state=self._state(),
                           returncode=ReturnCode(self._returncode).name
                           if self._returncode in ReturnCode._value2member_map_ else self._returncode)
