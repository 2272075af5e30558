"""``Batch``: ``Client.map()`` and ``Client.as_completed()``, many jobs run as one batch of tasks
over the Client's ``TaskRunner`` (``_client_tasks.py``).

Every job becomes a ``Task`` (its ``context`` is its index in the workloads) and all of them are
handed to libgearman before any is waited for (the runner's rounds: a job whose unique is already
in flight waits for the next round instead of being coalesced into a hang). ``TaskRunner.run()``
drives them with ``stop=Batch.stop``: ``as_completed()`` stops it at each finished task (libgearman
is paused inside that event and resumed later without repeating it) to yield that task; both stop
at the deadline. The Client's callbacks do not fire for batch tasks. Failover is the runner's: a
job is submitted again only when it provably never reached a server, so none runs twice.

Every task comes out finished, exactly once: with its job's outcome, with the connection error the
runner ended it with, or, when ``run()`` raises a ``GearmanError`` (no server could be used, the
Client's own timeout) or the deadline passes, with that error (``GEARMAN_TIMEOUT`` for the
deadline) after the unfinished tasks were abandoned (``TaskRunner.abandon()``: their jobs are not
sent again; one already submitted may still run, unwatched, as after ``do()``'s timeout). A
``KeyboardInterrupt`` (or any other exception) abandons them and propagates.
"""

from __future__ import annotations

import math
import time
import uuid
from collections import deque
from typing import Any, Deque, Generator, Iterable, Iterator, List, Optional, Tuple, Union

from . import _args
from ._guard import Guard
from ._libgearman import lib
from .errors import ConcurrentUseError, GearmanError
from .task import BACKGROUND, HIGH, LOW, NORMAL, Task

__all__ = ["Batch", "Unique", "check_timeout", "make_tasks", "outcome", "pairs"]

#: ``unique=`` of map()/as_completed(): None, one for every job, one per job, or a function.
Unique = Union[None, str, bytes, Iterable[Union[str, bytes]], Any]


class Batch:
    """The tasks of one ``map()`` / ``as_completed()`` call and what it waits for."""

    def __init__(self, runner: Any, guard: Guard, method: str, tasks: List[Task],
                 timeout: Optional[float], each: bool) -> None:
        self.runner = runner
        self.guard = guard
        self.method = method  # "map" or "as_completed", for the lock's messages
        self.tasks = tasks
        self.timeout = timeout
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.each = each  # stop the runner at every finished task (as_completed)
        self.done: Deque[Task] = deque()  # finished, not handed out yet
        self.left = len(tasks)
        for task in tasks:
            task._batch = self

    def finished(self, task: Task) -> None:
        """From ``TaskRunner._finish()``: ``task`` has its final outcome."""
        self.done.append(task)
        self.left -= 1

    def expired(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def stop(self) -> bool:
        """Asked by the runner after each slice and at each event of a batch task."""
        return (self.each and bool(self.done)) or self.expired()

    def _limit_ms(self) -> int:
        if self.deadline is None:
            return -1
        return max(1, math.ceil((self.deadline - time.monotonic()) * 1000))

    def _end(self, code: int, message: Optional[str]) -> None:
        """Abandons the unfinished tasks and finishes them with ``code``."""
        runner = self.runner
        runner.abandon()
        for task in self.tasks:
            if not task._finished:
                runner._finish(task, code, message)
        runner.reap()

    def check(self) -> None:
        """Raises unless the Client's task runner is free for a batch (under the lock)."""
        runner = self.runner
        if runner.batch is not None:
            raise GearmanError(lib.GEARMAN_IN_PROGRESS, f"Client.{self.method}() cannot run while "
                               "another map()/as_completed() batch of this Client is open")
        if runner.pending or runner.live:
            raise GearmanError(lib.GEARMAN_IN_PROGRESS, f"Client.{self.method}() needs a Client "
                               "without added tasks: run_tasks() them first")

    def results(self) -> Generator[Task, None, None]:
        """Submits the tasks and yields each once, as it finishes (``each``) or all at the end.
        The batch holds the Client's task runner from the first ``next()`` until this generator
        ends or is closed."""
        runner = self.runner
        with self.guard.enter(self.method):
            self.check()
            runner.batch = self
            runner.pending.extend(self.tasks)
        try:
            while self.left:
                with self.guard.enter(self.method):
                    try:
                        if not runner.run(self.stop, self._limit_ms()) and not self.stop():
                            # NON_BLOCKING: libgearman would wait; wait one slice for it
                            lib.gxs_client_wait(runner.cc.c)
                    except GearmanError as exc:
                        self._end(exc.code, exc.message)
                    if self.left and self.expired():
                        self._end(lib.GEARMAN_TIMEOUT, f"not finished within the batch's timeout "
                                  f"({self.timeout} s); the job was abandoned")
                while self.done:
                    yield self.done.popleft()
            if runner.live:  # paused inside the last task's event: let libgearman finish it
                with self.guard.enter(self.method):
                    try:
                        runner.run()
                    except GearmanError:
                        runner.abandon()
            while self.done:
                yield self.done.popleft()
        finally:
            self._close()

    def _close(self) -> None:
        """Leaves the Client free for other calls; abandons what is unfinished (an exception, or
        the caller left the as_completed() loop early)."""
        runner = self.runner
        if runner.batch is not self:
            return
        try:
            with self.guard.hold():
                if self.left and not self.guard.closed:
                    runner.abandon()
                runner.batch = None
        except ConcurrentUseError:  # (finalised in another thread while the Client is in use)
            pass


_PRIORITIES = {"high": HIGH, "normal": NORMAL, "low": LOW}


def make_tasks(runner: Any, function_name: Any, workloads: Iterable[Any], unique: Unique,
               priority: Union[int, str], background: bool) -> List[Task]:
    """The batch's Tasks (not added to the runner), every argument checked before anything is
    sent: ``unique`` None (a UUID-shaped one per job), a str/bytes for every job (``"#"``: the hash
    of the workload), an iterable of one per job (None: a fresh one), or a function
    ``unique(workload)``; ``priority`` a ``GEARMAN_JOB_PRIORITY_*`` or ``"high"``, ``"normal"``,
    ``"low"`` (as ``AsyncClient`` takes it)."""
    fn = _args.function_name(function_name)
    if isinstance(priority, str):
        if priority not in _PRIORITIES:
            raise ValueError(f"priority must be 'high', 'normal' or 'low', not {priority!r}")
        prio = _PRIORITIES[priority]
    else:
        prio = _args.int_arg(priority, "priority", 0, 2)
    if not isinstance(background, bool):
        raise TypeError(f"background must be a bool, not {type(background).__name__}")
    kind = prio + (BACKGROUND if background else 0)
    if isinstance(workloads, (str, bytes, bytearray, memoryview)):
        raise TypeError("workloads must be an iterable of payloads, not a single payload")
    items = list(workloads)
    prefix = str(uuid.uuid4())[:24].encode()
    uniques: List[bytes] = [b"%s%012x" % (prefix, i) for i in range(len(items))]
    if isinstance(unique, (str, bytes)):
        uniques = [_args.name(unique, "unique", _args.MAX_UNIQUE)] * len(items)
    elif callable(unique):
        uniques = [_args.name(unique(w), "unique", _args.MAX_UNIQUE) for w in items]
    elif unique is not None:
        given = list(unique)
        if len(given) != len(items):
            raise ValueError(f"unique has {len(given)} values for {len(items)} workloads")
        uniques = [fresh if u is None else _args.name(u, "unique", _args.MAX_UNIQUE)
                   for u, fresh in zip(given, uniques)]
    tasks = []
    for i, (workload, key) in enumerate(zip(items, uniques)):
        _args.payload(workload)  # type check now
        if isinstance(workload, str):
            workload = workload.encode("utf-8")
        tasks.append(Task(runner, kind, fn, key, workload, i))
    return tasks


def check_timeout(timeout: Optional[float]) -> Optional[float]:
    """The batch's timeout in seconds: None, or a positive finite int/float."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds or None, not {type(timeout).__name__}")
    if not 0 < timeout < 2**31 / 1000 or math.isnan(timeout):
        raise ValueError(f"timeout must be a positive number of seconds (below 2**31 ms), not {timeout}")
    return float(timeout)


def outcome(task: Task) -> Any:
    """``task.result()``, or the GearmanError it raises."""
    try:
        return task.result()
    except GearmanError as exc:
        return exc


def pairs(batch: Batch) -> Iterator[Tuple[int, Any]]:
    """``Client.as_completed()``: ``(index, result or exception)`` per task as it finishes."""
    tasks = batch.results()
    try:
        for task in tasks:
            yield task.context, outcome(task)
    finally:
        tasks.close()

