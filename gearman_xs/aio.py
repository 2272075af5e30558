"""``gearman_xs.aio``: Gearman for asyncio. ``AsyncClient`` awaits jobs, ``AsyncWorker`` runs
``async def`` functions.

``AsyncClient`` has the Client's job methods as coroutines (``await client.do("reverse", b"abc")``,
``do_high/do_low``, ``do_background*`` returning the job handle, ``map()`` and ``as_completed()`` for
batches, ``job_status()``, ``echo()``). Any number of awaits may be in flight at once: they share the
client's connection, driven by one I/O thread per AsyncClient (``_aio_engine.Engine``; never a
thread per call), which submits each job as soon as it is awaited and resolves its future when its
result arrives. The event loop never blocks on the network.

Cancelling an await (``task.cancel()``, ``asyncio.wait_for``, ``asyncio.timeout``) abandons its job:
the result is discarded when it comes, nothing is kept, the client stays usable. The job itself
was already sent: gearmand still runs it (use ``cancel_job()`` on a background job's handle to stop
a queued one). Failures raise the exceptions the sync Client raises (``WorkFail``,
``WorkException``, ``GearmanConnectionError``, ...), under the same rules: a job is sent to a second
server only when it provably never reached the first, and nothing is submitted twice.

The user guide is docs/asyncio.md. ``AsyncWorker`` is in ``_aio_worker.py``.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, AsyncIterator, Callable, Iterable, List, Optional, Sequence, TypeVar, Union

from . import _args, _tls
from ._aio_engine import _CALL, _CANCEL, _SUBMIT, AioJob, Engine, configure
from ._aio_worker import AsyncWorker
from ._client_c import CClient, spec_of
from ._client_probes import PROBE_TIMEOUT_MS, JobStatus
from ._client_probes import echo as _echo
from ._client_probes import job_status as _job_status
from ._client_probes import unique_status as _unique_status
from ._libgearman import ffi, lib
from ._repr import CLOSED, object_repr
from ._servers import join_spec
from .errors import ClosedError
from .task import BACKGROUND, HIGH, LOW, NORMAL

__all__ = ["AsyncClient", "AsyncWorker", "JobStatus"]

NULL = ffi.NULL
T = TypeVar("T")

_ALWAYS = lib.GEARMAN_CLIENT_ALLOCATED | lib.GEARMAN_CLIENT_NON_BLOCKING  # options the client keeps
_PRIORITIES = {"high": HIGH, "normal": NORMAL, "low": LOW, HIGH: HIGH, NORMAL: NORMAL, LOW: LOW}


def _bounded(cc: CClient, fn: Callable[[CClient], T]) -> T:
    """Runs a probe in the I/O thread within the timeout, or PROBE_TIMEOUT_MS when none is set: the
    jobs in flight wait for it."""
    if cc.timeout > 0:
        return fn(cc)
    saved, cc.timeout = cc.timeout, PROBE_TIMEOUT_MS
    try:
        return fn(cc)
    finally:
        cc.timeout = saved


class AsyncClient:
    """A Gearman client for asyncio. Create it anywhere; it binds to the event loop of its first
    awaited call and must be used from that loop only. ``async with AsyncClient() as client:``
    or ``await client.aclose()`` stops its I/O thread and frees it; jobs still awaited then raise
    ``ClosedError``.

    Settings (servers, options, timeout, identifier, namespace) take effect in order with the jobs:
    a job awaited after ``add_server()`` sees the server. ``set_timeout(ms)`` bounds connecting to a
    server and the status probes, like the Client's; bound an awaited job with
    ``asyncio.wait_for()`` / ``asyncio.timeout()``."""

    def __init__(self) -> None:
        self._cc = CClient()
        self._cc.options |= lib.GEARMAN_CLIENT_NON_BLOCKING  # every C client: the I/O thread's
        self._engine: Optional[Engine] = None
        self._closed = False
        self._fn_cache: dict[Union[str, bytes], bytes] = {}
        r = uuid.uuid4().hex
        self._unique_prefix = f"{r[:8]}-{r[8:12]}-{r[12:16]}-{r[16:20]}-".encode()
        self._unique_count = 0

    # -- lifecycle ---------------------------------------------------------------------------------

    def _get_engine(self) -> Engine:
        loop = asyncio.get_running_loop()
        engine = self._engine
        if engine is not None:
            if engine.loop is loop and engine.dead is None:
                return engine
            if engine.dead is not None and not isinstance(engine.dead, ClosedError):
                raise engine.dead  # the I/O thread failed (a bug): say so rather than start over
            if engine.dead is None and not engine.loop.is_closed():
                raise RuntimeError("this AsyncClient is bound to another event loop (one per loop)")
            self._retire(engine)  # its loop was closed (asyncio.run() ended): start anew on this one
        if self._closed:
            raise ClosedError("AsyncClient")
        engine = self._engine = Engine(loop, self._cc)
        engine.start()
        return engine

    def _retire(self, engine: Engine) -> None:
        engine.stop()
        engine.thread.join()
        engine.release()
        self._engine = None

    async def aclose(self) -> None:
        """Stops the I/O thread (jobs still awaited raise ClosedError) and frees the C client. May be
        repeated."""
        self._closed = True
        engine = self._engine
        if engine is None:
            self._cc.free()
            return
        if engine.thread.is_alive() and engine.loop is asyncio.get_running_loop():
            engine.stop()
            await asyncio.shield(engine.ended)  # within one pass (a blocking step: the timeout)
        self._retire(engine)

    def close(self) -> None:
        """Stops the I/O thread from outside the event loop (waits for it to end)."""
        self._closed = True
        engine = self._engine
        if engine is None:
            self._cc.free()
            return
        self._retire(engine)

    @property
    def closed(self) -> bool:
        return self._closed

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __del__(self) -> None:
        try:
            engine = getattr(self, "_engine", None)
            if engine is not None:
                engine.stop()  # the thread ends on its own; nothing can put() any more
                engine.release()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    def __repr__(self) -> str:
        if self._closed:
            return object_repr(self, **CLOSED)
        servers = [s.decode() for s in self._cc.servers.specs]
        return object_repr(self, servers=servers, timeout=self._cc.timeout)

    # -- settings ----------------------------------------------------------------------------------

    def _configure(self, change: Callable[[CClient], Any]) -> None:
        if self._closed:
            raise ClosedError("AsyncClient")
        configure(self._engine, self._cc, change)

    def add_server(self, host: Optional[Union[str, bytes]] = None, port: Union[int, str] = 0) -> None:
        """Adds one job server (see Client.add_server(): used in the order added)."""
        h = _args.optional_host(host)
        p = _args.port(port)
        self._cc.check_servers(lambda c: lib.gearman_client_add_server(c, h, p))
        name = "localhost" if h == NULL else bytes(h).decode("utf-8", "replace")
        spec = join_spec(name, p or lib.GEARMAN_DEFAULT_TCP_PORT)

        def change(cc: CClient) -> None:
            cc.drop_env_servers()
            cc.servers.add(spec)
        self._configure(change)

    def add_servers(self, servers: Union[str, bytes]) -> None:
        """Adds servers from ``"host[:port][,host[:port]]..."``, in order of preference."""
        spec = _args.name(servers, "servers", 1 << 16, allow_empty=True)
        self._cc.check_servers(lambda c: lib.gearman_client_add_servers(c, spec))
        specs = [spec_of(one.strip()) for one in (spec or b"localhost").split(b",") if one.strip()]

        def change(cc: CClient) -> None:
            cc.drop_env_servers()
            for one in specs:
                cc.servers.add(one)
        self._configure(change)

    def remove_servers(self) -> None:
        """Forgets every server (jobs in flight finish on theirs)."""
        def change(cc: CClient) -> None:
            cc.servers.clear()
            cc.env_servers = False
            cc.dirty = True
        self._configure(change)

    def timeout(self) -> int:
        """The timeout in ms (-1: none); see set_timeout()."""
        return self._cc.timeout

    def set_timeout(self, timeout: int) -> None:
        """Bounds connecting to a server, the "exceptions" option request and the status probes
        (ms; -1: no bound). Awaited jobs are bounded with asyncio.wait_for()/asyncio.timeout()."""
        value = _args.int_arg(timeout, "timeout", -1, 2**31 - 1)
        if value == 0:
            raise ValueError("timeout must be -1 (wait forever) or a positive number of milliseconds")

        def change(cc: CClient) -> None:
            cc.timeout = value
        self._configure(change)

    def options(self) -> int:
        """The ``GEARMAN_CLIENT_*`` option bits (see Client.options(); NON_BLOCKING is implied)."""
        return int(self._cc.options)

    def set_options(self, options: int) -> None:
        """Replaces the option bits (EXCEPTION: ask servers for WORK_EXCEPTION; on by default)."""
        value = _args.int_arg(options, "options", 0, 0xFFFFFFFF) | _ALWAYS
        self._configure(lambda cc: cc.set_options(value))

    def add_options(self, options: int) -> None:
        value = _args.int_arg(options, "options", 0, 0xFFFFFFFF)
        self._configure(lambda cc: cc.set_options(cc.options | value))

    def remove_options(self, options: int) -> None:
        value = _args.int_arg(options, "options", 0, 0xFFFFFFFF)
        self._configure(lambda cc: cc.set_options((cc.options & ~value) | _ALWAYS))

    def set_identifier(self, identifier: Union[str, bytes]) -> None:
        """The client id servers show in ``workers`` (1-254 printable bytes), from the next connection."""
        value = _args.name(identifier, "identifier", _args.MAX_IDENTIFIER)

        def change(cc: CClient) -> None:
            cc.identifier = value
            cc.dirty = True
        self._configure(change)

    def set_namespace(self, namespace: Union[str, bytes]) -> None:
        """Prefixes every function name with ``namespace`` from the next connection; "" removes it."""
        value = _args.name(namespace, "namespace", _args.MAX_FUNCTION_NAME, allow_empty=True)

        def change(cc: CClient) -> None:
            cc.namespace = value or None
            cc.dirty = True
        self._configure(change)

    def set_ssl(self, ca_file: _tls.PathArg = None, certificate: _tls.PathArg = None,
                key: _tls.PathArg = None) -> None:
        """TLS to every server from the next connection (see Client.set_ssl())."""
        tls = _tls.settings(ca_file, certificate, key, "AsyncClient")

        def change(cc: CClient) -> None:
            cc.tls = tls
            cc.dirty = True
        self._configure(change)

    def error(self) -> Optional[str]:
        """The text of the last connection failure the I/O thread saw, or None."""
        return self._cc.error

    # -- jobs --------------------------------------------------------------------------------------

    def _job(self, kind: int, function_name: Any, workload: Any, unique: Any, loop: Any) -> AioJob:
        fn = self._fn_cache.get(function_name) if type(function_name) in (str, bytes) else None
        if fn is None:
            fn = _args.function_name(function_name)
            if type(function_name) in (str, bytes):
                if len(self._fn_cache) >= 64:
                    self._fn_cache.clear()
                self._fn_cache[function_name] = fn
        if unique is None:
            self._unique_count += 1
            u = b"%s%012x" % (self._unique_prefix, self._unique_count)
        else:
            u = _args.unique(unique)
        if type(workload) is not bytes:
            if isinstance(workload, str):
                workload = workload.encode("utf-8")
            else:
                _args.payload(workload)  # raises for what cannot be sent
                workload = bytes(workload)
        return AioJob(kind, fn, u, workload, loop.create_future())

    async def _await(self, kind: int, function_name: Any, workload: Any, unique: Any) -> Any:
        engine = self._get_engine()
        job = self._job(kind, function_name, workload, unique, engine.loop)
        engine.put_soon(_SUBMIT, job)
        try:
            return await job.future
        except asyncio.CancelledError:
            job.cancelled = True
            if engine.dead is None:
                engine.put_soon(_CANCEL, job)
            raise

    async def do(self, function_name: Union[str, bytes], workload: _args.Payload,
                 unique: Optional[Union[str, bytes]] = None) -> bytes:
        """Runs a job and returns its result (WORK_DATA chunks + WORK_COMPLETE payload). Raises
        ``WorkFail``, ``WorkException`` (``.exception`` holds its payload), ``GearmanConnectionError``..."""
        return await self._await(NORMAL, function_name, workload, unique)  # type: ignore[no-any-return]

    async def do_high(self, function_name: Union[str, bytes], workload: _args.Payload,
                      unique: Optional[Union[str, bytes]] = None) -> bytes:
        """do() at high priority."""
        return await self._await(HIGH, function_name, workload, unique)  # type: ignore[no-any-return]

    async def do_low(self, function_name: Union[str, bytes], workload: _args.Payload,
                     unique: Optional[Union[str, bytes]] = None) -> bytes:
        """do() at low priority."""
        return await self._await(LOW, function_name, workload, unique)  # type: ignore[no-any-return]

    async def do_background(self, function_name: Union[str, bytes], workload: _args.Payload,
                            unique: Optional[Union[str, bytes]] = None) -> str:
        """Submits a background job; returns its job handle once the server created it."""
        return await self._await(NORMAL + BACKGROUND, function_name, workload, unique)  # type: ignore[no-any-return]

    async def do_high_background(self, function_name: Union[str, bytes], workload: _args.Payload,
                                 unique: Optional[Union[str, bytes]] = None) -> str:
        """do_background() at high priority."""
        return await self._await(HIGH + BACKGROUND, function_name, workload, unique)  # type: ignore[no-any-return]

    async def do_low_background(self, function_name: Union[str, bytes], workload: _args.Payload,
                                unique: Optional[Union[str, bytes]] = None) -> str:
        """do_background() at low priority."""
        return await self._await(LOW + BACKGROUND, function_name, workload, unique)  # type: ignore[no-any-return]

    # -- batches -----------------------------------------------------------------------------------

    def _batch(self, function_name: Any, workloads: Iterable[_args.Payload], unique: Any,
               priority: Any, background: bool) -> List[AioJob]:
        try:
            kind = _PRIORITIES[priority]
        except (KeyError, TypeError):
            raise ValueError(f"priority must be 'high', 'normal' or 'low', not {priority!r}") from None
        if background:
            kind += BACKGROUND
        engine = self._get_engine()
        items = list(workloads)
        uniques: Sequence[Any]
        if unique is None:
            uniques = [None] * len(items)
        else:
            uniques = list(unique)
            if len(uniques) != len(items):
                raise ValueError(f"{len(uniques)} uniques for {len(items)} workloads")
        jobs = [self._job(kind, function_name, w, u, engine.loop) for w, u in zip(items, uniques)]
        for job in jobs:  # all submitted before any is waited for
            engine.put_soon(_SUBMIT, job)
        return jobs

    def _abandon(self, jobs: List[AioJob]) -> None:
        engine = self._engine
        for job in jobs:
            if not job.future.done():
                job.future.cancel()
                job.cancelled = True
                if engine is not None and engine.dead is None:
                    engine.put(_CANCEL, job)

    async def map(self, function_name: Union[str, bytes], workloads: Iterable[_args.Payload], *,
                  unique: Optional[Iterable[Optional[Union[str, bytes]]]] = None,
                  priority: Union[str, int] = "normal", background: bool = False,
                  return_exceptions: bool = False) -> List[Any]:
        """Runs one job per workload, all submitted at once, and returns their results in the order
        of the workloads (job handles with ``background=True``). ``unique``: one per workload (None
        entries get a fresh one). A failed job raises its exception once every job ended (the
        others' results are lost to the caller, not run again), or, with ``return_exceptions=True``,
        takes its place in the list, as ``asyncio.gather`` does. Cancelling the await abandons the
        jobs still in flight."""
        jobs = self._batch(function_name, workloads, unique, priority, background)
        try:
            await asyncio.wait([j.future for j in jobs]) if jobs else None
        except asyncio.CancelledError:
            self._abandon(jobs)
            raise
        results: List[Any] = []
        first: Optional[BaseException] = None
        for job in jobs:
            exc = job.future.exception()
            if exc is not None:
                if first is None:
                    first = exc
                results.append(exc)
            else:
                results.append(job.future.result())
        if first is not None and not return_exceptions:
            raise first
        return results

    async def as_completed(self, function_name: Union[str, bytes], workloads: Iterable[_args.Payload], *,
                           unique: Optional[Iterable[Optional[Union[str, bytes]]]] = None,
                           priority: Union[str, int] = "normal",
                           background: bool = False) -> AsyncIterator[tuple[int, Any]]:
        """Runs one job per workload, all submitted at once, and yields ``(index, result)`` as each
        ends (``index`` into the workloads; a failed job yields its exception object as the
        result). Leaving the loop early abandons the jobs still in flight."""
        jobs = self._batch(function_name, workloads, unique, priority, background)
        index = {id(j.future): i for i, j in enumerate(jobs)}
        waiting = {j.future for j in jobs}
        try:
            while waiting:
                done, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                for future in done:
                    exc = future.exception()
                    yield index[id(future)], (exc if exc is not None else future.result())
        finally:
            self._abandon(jobs)

    # -- status and echo (in the I/O thread, on throw-away connections) ----------------------------
    # Each waits at most the timeout (2 s, PROBE_TIMEOUT_MS, when none is set), and the jobs in
    # flight wait for it: the I/O thread does one thing at a time.

    async def _call(self, fn: Callable[[CClient], T]) -> T:
        engine = self._get_engine()
        future = engine.loop.create_future()
        engine.put(_CALL, (future, lambda cc: _bounded(cc, fn)))
        return await future  # type: ignore[no-any-return]

    async def job_status(self, job_handle: Union[str, bytes]) -> JobStatus:
        """``(is_known, is_running, numerator, denominator)`` of a job (see Client.job_status())."""
        if job_handle is None:
            raise TypeError("job_status() needs a job handle")
        handle = _args.job_handle(job_handle)
        return await self._call(lambda cc: _job_status(cc, handle))

    async def job_status_by_unique(self, unique: Union[str, bytes]) -> JobStatus:
        """The status of a job by its unique id (GET_STATUS_UNIQUE)."""
        u = _args.name(unique, "unique", _args.MAX_UNIQUE)
        return await self._call(lambda cc: _unique_status(cc, u))

    async def echo(self, data: _args.Payload) -> None:
        """Sends ECHO_REQ to the first available server and checks the echo."""
        w, n = _args.payload(data, "data")
        if n == 0:
            raise ValueError("echo() needs at least one byte")
        await self._call(lambda cc: _echo(cc, w, n))

