"""``AsyncWorker`` (public in ``gearman_xs.aio``): a worker whose functions are ``async def``, with up
to ``concurrency`` jobs in flight.

It runs ``concurrency`` grab loops on the event loop. Each loop owns one ``Worker`` (its own
connection to every server, the functions registered for ``grab_job()``) and repeats: grab one job
in a thread of the AsyncWorker's pool (``Worker.grab_job()`` waits at most a slice, so ``stop()`` is
seen), run the function on the event loop (``await fn(job)``), send the outcome from the pool, the
way ``Worker.work()`` does: the return value as WORK_COMPLETE (bytes, str, int, float, None as for
``Worker.add_function()``), an exception as WORK_FAIL (logged; WORK_EXCEPTION with
``send_exceptions=True``), nothing more when the function answered itself (``job.send_complete()``).
A loop never overlaps its own Worker's calls: ``grab_job()``, the function's ``job.send_*()`` and the
answer come one after the other.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple, Union

from . import _args
from ._libgearman import lib
from ._repr import object_repr
from ._worker_call import number_text as _number_text
from .errors import GearmanConnectionError, GearmanError, error_for
from .job import Job
from .worker import Worker

__all__ = ["AsyncWorker"]

log = logging.getLogger("gearman_xs")

AsyncFunction = Callable[[Job], Union[Awaitable[Any], Any]]

#: How long a grab loop waits after its servers failed before it asks again (s).
RETRY_PAUSE = 0.2


class _Done(Exception):
    """A result that cannot be sent (the job fails, as in Worker)."""


def _result_bytes(name: str, result: Any) -> bytes:
    """What Worker sends for a function's return value (see Worker.add_function())."""
    if result is None:
        return b""
    if isinstance(result, bytes):
        return result
    if isinstance(result, str):
        return result.encode("utf-8")
    if isinstance(result, (bytearray, memoryview)):
        return bytes(result)
    if isinstance(result, (int, float)) and not isinstance(result, bool):
        try:
            return _number_text(result)
        except ValueError as exc:
            raise _Done(f"function {name!r} returned {exc}") from None
    raise _Done(
        f"function {name!r} returned {type(result).__name__}; it must return bytes, bytearray, "
        "memoryview, str, int, float or None"
    )


class AsyncWorker:
    """Runs ``async def`` functions: ``concurrency`` jobs at most at once (one connection per job in
    flight). Register with ``add_function()``, then ``await run()`` until ``stop()``.

    ``send_exceptions=True``: a function that raises sends WORK_EXCEPTION
    (``"ExceptionType: message"``) instead of WORK_FAIL (see Worker)."""

    def __init__(self, concurrency: int = 8, *, send_exceptions: bool = False) -> None:
        self.concurrency = _args.int_arg(concurrency, "concurrency", 1, 1024)
        self.send_exceptions = bool(send_exceptions)
        self._servers: List[Tuple[str, Any]] = []
        self._functions: Dict[bytes, Tuple[AsyncFunction, int]] = {}
        self._stop = False
        self._running = False
        self._workers: List[Worker] = []
        self._done = 0
        self._in_flight = 0

    def add_server(self, host: Optional[Union[str, bytes]] = None, port: Union[int, str] = 0) -> None:
        """Adds a job server (as Worker.add_server())."""
        with Worker() as probe:
            probe.add_server(host, port)  # checked (and resolved) now
        self._servers.append(("server", (host, port)))

    def add_servers(self, servers: Union[str, bytes]) -> None:
        """Adds servers from ``"host[:port],..."`` (as Worker.add_servers())."""
        with Worker() as probe:
            probe.add_servers(servers)
        self._servers.append(("servers", servers))

    def add_function(self, function_name: Union[str, bytes], timeout: int, function: AsyncFunction) -> None:
        """Registers ``function`` (``async def f(job)``, or a plain function) for ``function_name``;
        ``timeout`` is the server-side CAN_DO_TIMEOUT in seconds (0: none). Its return value is the
        result, as for Worker.add_function(). Only before run()."""
        if self._running:
            raise RuntimeError("add_function() before run()")
        name = _args.function_name(function_name)
        t = _args.int_arg(timeout, "timeout", 0, 2**32 - 1)
        if not callable(function):
            raise TypeError(f"function must be callable, not {type(function).__name__}")
        self._functions[name] = (function, t)

    @property
    def in_flight(self) -> int:
        """Jobs whose function is running now."""
        return self._in_flight

    def stop(self) -> None:
        """run() returns once the jobs in flight are answered (from any thread or a signal handler;
        a waiting grab notices within a slice)."""
        self._stop = True

    def _new_worker(self) -> Worker:
        w = Worker(send_exceptions=self.send_exceptions)
        try:
            for kind, arg in self._servers:
                if kind == "server":
                    w.add_server(*arg)
                else:
                    w.add_servers(arg)
            for name, (_fn, timeout) in self._functions.items():
                w.register(name, timeout)
        except BaseException:
            w.close()
            raise
        return w

    async def run(self, count: Optional[int] = None) -> int:
        """Works until stop() (or until ``count`` jobs were answered) and returns how many jobs it
        answered. A job grabbed is always run and answered: with ``count``, loops stop grabbing once
        ``count`` jobs are done or in flight, and a grab that was waiting then may still bring one
        more job per loop. Cancelling run() fails the jobs in flight (WORK_FAIL), waits for the
        grabs in progress (one slice at most) and closes the connections."""
        if self._running:
            raise RuntimeError("run() is already running")
        if not self._functions:
            raise error_for(lib.GEARMAN_NO_REGISTERED_FUNCTIONS, "no functions added")
        if not self._servers:
            raise error_for(lib.GEARMAN_NO_SERVERS, "no servers added")
        self._running = True
        self._stop = False
        self._done = 0
        loop = asyncio.get_running_loop()
        pool = concurrent.futures.ThreadPoolExecutor(self.concurrency,
                                                     thread_name_prefix="gearman_xs.aio.worker")
        workers = [self._new_worker() for _ in range(self.concurrency)]
        self._workers = workers
        try:
            await asyncio.gather(*(self._grab_loop(loop, pool, w, count) for w in workers))
        finally:
            self._stop = True
            pool.shutdown(wait=True)  # a grab in progress returns within a slice
            for w in workers:
                w.close()  # fails and frees a job grabbed but never run
            self._workers = []
            self._running = False
        return self._done

    async def _grab_loop(self, loop: asyncio.AbstractEventLoop, pool: concurrent.futures.Executor,
                         worker: Worker, count: Optional[int]) -> None:
        while not self._stop and (count is None or self._done + self._in_flight < count):
            try:
                job = await loop.run_in_executor(pool, worker.grab_job)
            except GearmanConnectionError:
                await asyncio.sleep(RETRY_PAUSE)  # grab_job() backs off itself; this keeps the loop polite
                continue
            if job is not None:  # run even after stop() or the count: a grabbed job is never dropped
                await self._run_job(loop, pool, job)

    async def _run_job(self, loop: asyncio.AbstractEventLoop, pool: concurrent.futures.Executor,
                       job: Job) -> None:
        name = job.function_name()
        fn = self._functions.get(name.encode("utf-8", "surrogateescape"), (None, 0))[0]
        self._in_flight += 1
        answer: Callable[[], None]
        try:
            if fn is None:
                raise _Done(f"no function {name!r}")
            result = fn(job)
            if inspect.isawaitable(result):
                result = await result
            if job.finished:
                answer = job.close
            else:
                data = _result_bytes(name, result)

                def answer() -> None:
                    job.send_complete(data)
                    job.close()
        except asyncio.CancelledError:
            job.close()  # unanswered: WORK_FAIL
            self._in_flight -= 1
            raise
        except _Done as exc:
            log.error("gearman_xs: %s: job %s failed", exc, job.handle())
            answer = self._failer(job, None)
        except Exception as exc:
            log.error("gearman_xs: function %r raised: job %s failed", name, job.handle(), exc_info=exc)
            answer = self._failer(job, exc)
        try:
            await loop.run_in_executor(pool, answer)
        except GearmanError as exc:
            log.error("gearman_xs: answering a %r job failed: %s", name, exc)
        finally:
            self._in_flight -= 1
            self._done += 1

    def _failer(self, job: Job, exc: Optional[BaseException]) -> Callable[[], None]:
        def fail() -> None:
            if job.finished:
                job.close()
                return
            if exc is not None and self.send_exceptions:
                job.send_exception(f"{type(exc).__name__}: {exc}".encode("utf-8", "replace"))
            else:
                job.send_fail()
            job.close()
        return fail

    def __repr__(self) -> str:
        return object_repr(self, concurrency=self.concurrency, functions=len(self._functions),
                           running=self._running)
