"""The Client's task callbacks: the ``extern "Python+C"`` ``gxs_task_*`` functions (csrc/decl/callbacks.h).

``Client`` installs them on every C client it makes (``gxs_client_install_callbacks``). libgearman
calls them from inside ``gearman_client_run_tasks()`` with the C task, whose context is an
``ffi.new_handle`` of the ``Task``; the event goes to the task runner of that Task's Client
(``_client_tasks.TaskRunner.on_event``), which records it on the Task and calls the user's callback
at call time.
"""

from __future__ import annotations

import threading
from typing import Any, Optional

from ._libgearman import ffi, lib
from .task import Task

__all__ = ["take_entry_error"]

_SUCCESS = int(lib.GEARMAN_SUCCESS)
_PAUSE = int(lib.GEARMAN_PAUSE)

# An exception raised at a callback's entry, before _dispatch ran (a signal handler's
# KeyboardInterrupt), per thread: the Client raises it once gearman_client_run_tasks() returned.
_entry = threading.local()


def take_entry_error() -> Optional[BaseException]:
    """The exception raised at a callback's entry in this thread since the last call, if any."""
    exc: Optional[BaseException] = getattr(_entry, "exc", None)
    _entry.exc = None
    return exc


def _dispatch(kind: str, ct: Any) -> int:
    ctx = lib.gearman_task_context(ct)
    if ctx == ffi.NULL:
        return _SUCCESS
    task: Task = ffi.from_handle(ctx)
    runner = task._client_ref
    if runner is None:
        return _SUCCESS
    result: int = runner.on_event(kind, task, ct)
    return result


def _onerror(exc_type: Any, exc: Any, tb: Any) -> int:
    # Reached only when the exception was raised before our code ran (a signal handler's
    # KeyboardInterrupt at callback entry): PAUSE makes libgearman deliver the same packet again.
    if exc is not None:
        _entry.exc = exc
    return _PAUSE


@ffi.def_extern(onerror=_onerror)  # type: ignore[untyped-decorator]
def gxs_task_created(ct: Any) -> int:
    return _dispatch("created", ct)


@ffi.def_extern(onerror=_onerror)  # type: ignore[untyped-decorator]
def gxs_task_data(ct: Any) -> int:
    return _dispatch("data", ct)


@ffi.def_extern(onerror=_onerror)  # type: ignore[untyped-decorator]
def gxs_task_warning(ct: Any) -> int:
    return _dispatch("warning", ct)


@ffi.def_extern(onerror=_onerror)  # type: ignore[untyped-decorator]
def gxs_task_status(ct: Any) -> int:
    return _dispatch("status", ct)


@ffi.def_extern(onerror=_onerror)  # type: ignore[untyped-decorator]
def gxs_task_complete(ct: Any) -> int:
    return _dispatch("complete", ct)


@ffi.def_extern(onerror=_onerror)  # type: ignore[untyped-decorator]
def gxs_task_exception(ct: Any) -> int:
    return _dispatch("exception", ct)


@ffi.def_extern(onerror=_onerror)  # type: ignore[untyped-decorator]
def gxs_task_fail(ct: Any) -> int:
    return _dispatch("fail", ct)
