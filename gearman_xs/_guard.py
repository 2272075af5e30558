"""``Guard``: the lock of a Client or Worker, as a context manager that refuses instead of waiting.

libgearman objects are not thread-safe, and gearman_xs does not serialise callers behind a lock
(a second thread would wait for minutes behind a blocked call without knowing why). Every public
Client and Worker method that reaches libgearman runs inside ``with guard.enter("name"):``, which
takes the lock without waiting and raises instead (``WorkerGuard``: see its docstring):

* ``ConcurrentUseError`` when another thread is inside the object;
* ``ClosedError`` when the object was closed;
* ``GearmanError`` (GEARMAN_IN_PROGRESS) when a method that drives the connection is called from
  inside one of the object's own callbacks (``in_callback``; ``run=False`` methods may be).

The lock is reentrant (a callback runs inside ``run_tasks()`` in the same thread and may add tasks).
Leaving the ``with`` block releases it: ``__exit__`` is the C ``RLock.__exit__``, and ``__enter__``
is a C call that does nothing (``enter()`` already holds the lock), so the guard costs the per-job
path no more Python calls than a hand-written acquire/release pair.
"""

from __future__ import annotations

import _thread
from typing import TYPE_CHECKING

from ._libgearman import lib
from .errors import ClosedError, ConcurrentUseError, GearmanError

__all__ = ["Guard"]


class Guard(_thread.RLock):  # type: ignore[misc]
    """The lock, the closed flag and the inside-a-callback flag of one object named ``what``."""

    __slots__ = ("closed", "in_callback", "what")

    if TYPE_CHECKING:  # pragma: no cover

        def _is_owned(self) -> bool: ...  # _thread.RLock's, untyped in typeshed

    def __init__(self, what: str) -> None:
        super().__init__()
        self.what = what
        self.closed = False
        self.in_callback = False

    def enter(self, method: str, run: bool = True) -> Guard:
        """Takes the lock for ``method`` (see the module docstring); use as ``with g.enter(...):``."""
        if not self.acquire(False):
            raise ConcurrentUseError(self.what)
        if self.closed:
            self.release()
            raise ClosedError(self.what)
        if run and self.in_callback:
            self.release()
            raise GearmanError(
                lib.GEARMAN_IN_PROGRESS,
                f"{self.what}.{method}() cannot be called from inside a {self.what} callback",
            )
        return self

    def hold(self) -> Guard:
        """Takes the lock only (``close()``: a closed object may be closed again)."""
        if not self.acquire(False):
            raise ConcurrentUseError(self.what)
        return self

    # ``with guard.enter(...)``: the lock is already held; this C call just returns.
    __enter__ = _thread.RLock._is_owned  # type: ignore[attr-defined]


class WorkerGuard(Guard):  # type: ignore[misc]
    """A Worker's lock. Not reentrant: libgearman may call back into Python (the log function, a
    grabbed Job's finalizer) while the Worker is inside it, and such a call must not reach
    libgearman again, so it raises (or is deferred) instead. Inside a worker function
    (``in_callback``) every Worker method raises RuntimeError: the Job is what a function uses."""

    __slots__ = ()

    def enter(self, method: str = "", run: bool = True) -> Guard:
        if self.in_callback:
            raise RuntimeError("Worker methods cannot be called from inside a worker function; use the Job")
        if self._is_owned() or not self.acquire(False):
            raise ConcurrentUseError(self.what)
        if self.closed:
            self.release()
            raise ClosedError(self.what)
        return self

    def hold(self) -> Guard:
        if self._is_owned() or not self.acquire(False):
            raise ConcurrentUseError(self.what)
        return self

    def try_hold(self) -> bool:
        """Takes the lock if no call is in progress (in this thread or another); False if one is."""
        return not self.in_callback and not self._is_owned() and bool(self.acquire(False))
