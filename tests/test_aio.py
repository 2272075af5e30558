"""gearman_xs.aio's AsyncClient against real gearmands: many concurrent awaits on one client,
cancellation and timeouts, failures, a server killed mid-await, failover between two servers.

Each test runs its coroutine with ``asyncio.run`` under ``asyncio.wait_for`` (a hang fails the test;
``asyncio.timeout`` is 3.11+), and checks that no AsyncClient I/O thread outlives it.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, Awaitable, Iterator, List, TypeVar

import pytest
from support.polling import wait_for_workers, wait_until
from support.workers import TaggedWorkers

from gearman_xs import (
    GEARMAN_CLIENT_EXCEPTION,
    GEARMAN_CLIENT_NON_BLOCKING,
    ClosedError,
    GearmanConnectionError,
    WorkException,
    WorkFail,
)
from gearman_xs.aio import AsyncClient, AsyncWorker
from gearman_xs.testing import Gearmand

P = "aio_"  # the conftest `server` fixture's worker processes serve support.functions as aio_NAME
T = TypeVar("T")


def run(coro: Awaitable[T], limit: float = 60.0) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, limit)
    return asyncio.run(bounded())


def engines() -> List[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "gearman_xs.aio"]


@pytest.fixture(autouse=True)
def no_thread_left() -> Iterator[None]:
    yield
    assert wait_until(lambda: not engines(), timeout=10, what="AsyncClient threads ended")


def new_client(server: Gearmand) -> AsyncClient:
    c = AsyncClient()
    c.add_servers(server.servers)
    c.set_timeout(10000)
    return c


# -- jobs --------------------------------------------------------------------------------------------


def test_the_wake_up_hook_is_installed() -> None:
    # the engine's wait is woken by each submission through libgearman's poll() slot; where the
    # packet guard could redirect libgearman's slots, this one is redirected too
    from gearman_xs import _aio_engine, net_guard

    assert _aio_engine.POLL_HOOK or not net_guard.active()


def test_do_kinds_and_background(server: Gearmand) -> None:
    async def main() -> None:
        async with new_client(server) as c:
            assert await c.do(P + "reverse", b"abc") == b"cba"
            assert await c.do_high(P + "reverse", "xyz") == b"zyx"
            assert await c.do_low(P + "echo", bytearray(b"low")) == b"low"
            assert await c.do(P + "echo", b"") == b""
            assert await c.do(P + "chunks", b"") == b"ABC"  # data chunks + the final payload
            for submit in (c.do_background, c.do_high_background, c.do_low_background):
                handle = await submit(P + "sleep", b"0")
                assert handle.startswith("H:")
            status = await c.job_status(handle)
            assert len(status) == 4
            await c.echo(b"ping")
    run(main())


def test_thousand_concurrent_awaits_on_one_client(server: Gearmand) -> None:
    async def main() -> None:
        async with new_client(server) as c:
            workloads = [b"job-%d" % i for i in range(1000)]
            results = await asyncio.gather(*(c.do(P + "reverse", w) for w in workloads))
            assert results == [w[::-1] for w in workloads]
            # and a second wave on the same client, mixed with background jobs
            fg = [c.do(P + "len", b"x" * i) for i in range(200)]
            bg = [c.do_background(P + "echo", b"bg-%d" % i) for i in range(200)]
            out = await asyncio.gather(*fg, *bg)
            assert out[:200] == [str(i).encode() for i in range(200)]
            assert all(h.startswith("H:") for h in out[200:]) and len(set(out[200:])) == 200
            assert engine_idle(c)
    run(main())


def engine_idle(c: AsyncClient) -> bool:
    engine = c._engine
    assert engine is not None
    return not engine.live and not engine.pending and not engine.busy


def test_same_unique_in_flight_together(server: Gearmand) -> None:
    # libgearman never completes the second of two tasks with one unique on one connection
    async def main() -> None:
        async with new_client(server) as c:
            out = await asyncio.gather(*(c.do(P + "sleep", b"0.1", unique="one-unique") for _ in range(3)),
                                       c.do(P + "echo", b"other", unique="one-unique"))
            assert out == [b"slept"] * 3 + [b"other"]
            assert engine_idle(c)
    run(main())


def test_map_and_as_completed(server: Gearmand) -> None:
    async def main() -> None:
        async with new_client(server) as c:
            assert await c.map(P + "reverse", [b"ab", b"cd", b""]) == [b"ba", b"dc", b""]
            handles = await c.map(P + "echo", [b"1", b"2"], background=True, priority="low")
            assert all(h.startswith("H:") for h in handles)
            mixed = await c.map(P + "echo", [b"a", b"b"], unique=["u-a", None], priority="high")
            assert mixed == [b"a", b"b"]
            with pytest.raises(WorkFail):
                await c.map(P + "fail", [b"x"])
            got = await c.map(P + "fail", [b"x"], return_exceptions=True)
            assert isinstance(got[0], WorkFail)
            seen = {}
            async for i, result in c.as_completed(P + "sleep", [b"0.3", b"0"]):
                seen[i] = result
                if len(seen) == 1:
                    assert i == 1  # the quick one first
            assert seen == {0: b"slept", 1: b"slept"}
            with pytest.raises(ValueError):
                await c.map(P + "echo", [b"a"], priority="urgent")
    run(main())


# -- failures ------------------------------------------------------------------------------------


def test_work_fail_and_exception(server: Gearmand) -> None:
    async def main() -> None:
        async with new_client(server) as c:
            with pytest.raises(WorkFail):
                await c.do(P + "fail", b"")
            with pytest.raises(WorkException) as info:
                await c.do(P + "exc", b"")
            assert info.value.exception == b"boom"
            assert await c.do(P + "echo", b"still") == b"still"
    run(main())


def test_work_exception_without_the_exceptions_option_does_not_hang(server: Gearmand) -> None:
    async def main() -> None:
        async with new_client(server) as c:
            c.remove_options(GEARMAN_CLIENT_EXCEPTION)
            started = time.monotonic()
            # libgearman 1.1 drops the WORK_FAIL gearmand sends instead: the idle check finds the job gone
            with pytest.raises(WorkFail):
                await asyncio.wait_for(c.do(P + "exc", b""), 30)
            assert time.monotonic() - started < 30
            assert await c.do(P + "echo", b"next") == b"next"
    run(main())


def test_closed_client(server: Gearmand) -> None:
    async def main() -> None:
        c = new_client(server)
        slow = asyncio.ensure_future(c.do(P + "sleep", b"5"))
        await asyncio.sleep(0.3)
        await c.aclose()
        with pytest.raises(ClosedError):
            await slow
        with pytest.raises(ClosedError):
            await c.do(P + "echo", b"x")
        with pytest.raises(ClosedError):
            c.add_servers(server.servers)
        await c.aclose()
        assert c.closed
    run(main())


def test_bad_arguments_raise_before_anything_is_sent(server: Gearmand) -> None:
    async def main() -> None:
        async with new_client(server) as c:
            with pytest.raises(TypeError):
                await c.do(P + "echo", 12)  # type: ignore[arg-type]
            with pytest.raises(ValueError):
                await c.do("", b"x")
            with pytest.raises(ValueError):
                await c.do(P + "echo", b"x", unique="u" * 65)
            assert await c.do(P + "echo", b"fine") == b"fine"
    run(main())


# -- cancellation and timeouts -------------------------------------------------------------------


def test_wait_for_timeout_abandons_the_job(server: Gearmand) -> None:
    async def main() -> None:
        async with new_client(server) as c:
            started = time.monotonic()
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(c.do(P + "sleep", b"1"), 0.2)
            assert time.monotonic() - started < 1.0
            # the client goes on at once; the late result is discarded
            assert await c.do(P + "echo", b"after") == b"after"
            await asyncio.sleep(1.2)
            assert await c.do(P + "echo", b"later") == b"later"
            assert engine_idle(c)
    run(main())


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.timeout is 3.11+")
def test_asyncio_timeout(server: Gearmand) -> None:
    async def main() -> None:
        async with new_client(server) as c:
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.2):  # type: ignore[attr-defined]
                    await c.do(P + "sleep", b"1")
            assert await c.do(P + "echo", b"after") == b"after"
    run(main())


def test_cancel_many_at_every_stage(server: Gearmand) -> None:
    async def main() -> None:
        async with new_client(server) as c:
            for delay in (0, 0.001, 0.01, 0.05):
                tasks = [asyncio.ensure_future(c.do(P + "sleep", b"0.05")) for _ in range(50)]
                if delay:
                    await asyncio.sleep(delay)
                for t in tasks[::2]:
                    t.cancel()
                out = await asyncio.gather(*tasks, return_exceptions=True)
                for i, r in enumerate(out):
                    if i % 2:
                        assert r == b"slept"
                    else:
                        assert isinstance(r, asyncio.CancelledError) or r == b"slept"
            assert await c.do(P + "echo", b"usable") == b"usable"
            assert wait_until(lambda: engine_idle(c), timeout=10, what="abandoned jobs freed")
    run(main())


def test_mixed_load_with_cancellations_and_failures(server: Gearmand) -> None:
    # 2,000 awaits of several kinds at once, a third of them cancelled at random moments: every
    # other one gets its own correct outcome, and the client ends with nothing held
    import random

    rng = random.Random(14)

    async def main() -> None:
        async with new_client(server) as c:
            kinds = []
            coros = []
            for i in range(2000):
                kind = rng.choice(["echo", "fail", "bg", "dup"])
                kinds.append(kind)
                if kind == "echo":
                    coros.append(c.do(P + "echo", b"m%d" % i))
                elif kind == "fail":
                    coros.append(c.do(P + "fail", b""))
                elif kind == "bg":
                    coros.append(c.do_background(P + "echo", b"b%d" % i))
                else:
                    coros.append(c.do(P + "echo", b"same", unique="mixed-dup"))
            tasks = [asyncio.ensure_future(x) for x in coros]
            cancelled = set(rng.sample(range(2000), 666))
            for step in range(5):
                await asyncio.sleep(0.005 * step)
                for i in list(cancelled)[step::5]:
                    tasks[i].cancel()
            out = await asyncio.gather(*tasks, return_exceptions=True)
            for i, (kind, r) in enumerate(zip(kinds, out)):
                if isinstance(r, asyncio.CancelledError):
                    assert i in cancelled
                elif kind == "echo":
                    assert r == b"m%d" % i
                elif kind == "fail":
                    assert isinstance(r, WorkFail)
                elif kind == "bg":
                    assert isinstance(r, str) and r.startswith("H:")
                else:
                    assert r == b"same"
            assert await c.do(P + "echo", b"end") == b"end"
            assert wait_until(lambda: engine_idle(c), timeout=20, what="every abandoned job freed")
    run(main(), 120)


# -- servers killed, failover --------------------------------------------------------------------


@pytest.fixture
def tagged(tmp_path: Path) -> Iterator[TaggedWorkers]:
    with TaggedWorkers(tmp_path) as w:
        yield w


def test_server_killed_mid_await(tagged: TaggedWorkers) -> None:
    with Gearmand() as a:
        tagged.start("A", a)

        async def main() -> None:
            async with new_client(a) as c:
                assert await c.do("fo_where", b"warm") == b"A"
                slow = [asyncio.ensure_future(c.do("fo_slow", b"slow-%d" % i)) for i in range(20)]
                await asyncio.sleep(0.1)
                a.kill()
                started = time.monotonic()
                out = await asyncio.gather(*slow, return_exceptions=True)
                assert time.monotonic() - started < 5
                errors = [r for r in out if not isinstance(r, bytes)]
                assert errors and all(isinstance(e, GearmanConnectionError) for e in errors)
                assert all(r == b"A" for r in out if isinstance(r, bytes))
                # nothing was submitted twice, and the client works again once the server is back
                a.start()
                wait_for_workers(a, ["fo_where"])
                deadline = time.monotonic() + 15
                while True:
                    try:
                        assert await c.do("fo_where", b"back") == b"A"
                        break
                    except GearmanConnectionError:
                        assert time.monotonic() < deadline
                        await asyncio.sleep(0.2)
        run(main())
    assert max(tagged.counts().values()) == 1  # nothing ran twice


def test_failover_in_the_order_given(tagged: TaggedWorkers) -> None:
    with Gearmand() as a, Gearmand() as b:
        tagged.start("A", a)
        tagged.start("B", b)

        async def main() -> None:
            async with AsyncClient() as c:
                c.add_servers(f"{a.servers},{b.servers}")
                c.set_timeout(10000)
                before = await asyncio.gather(*(c.do("fo_where", b"before-%d" % i) for i in range(100)))
                assert before == [b"A"] * 100
                a.kill()
                during = await asyncio.gather(*(c.do("fo_where", b"during-%d" % i) for i in range(100)),
                                              return_exceptions=True)
                # jobs in flight when A died raise; none is lost silently or run on both servers
                assert set(map(type, during)) <= {bytes, GearmanConnectionError}
                after = await asyncio.gather(*(c.do("fo_where", b"after-%d" % i) for i in range(100)))
                assert after == [b"B"] * 100
                handles = await c.map("fo_where", [b"bg-%d" % i for i in range(10)], background=True)
                assert len(set(handles)) == 10
        run(main())
        counts = tagged.counts()
        assert max(counts.values()) == 1  # nothing ran twice
        assert all(counts[f"before-{i}"] == 1 and counts[f"after-{i}"] == 1 for i in range(100))


def test_no_server_reachable() -> None:
    async def main() -> None:
        async with AsyncClient() as c:
            with Gearmand() as g:
                port = g.port
            c.add_server("127.0.0.1", port)
            c.set_timeout(2000)
            with pytest.raises(GearmanConnectionError):
                await c.do("nothing", b"x")
    run(main(), 30)


def test_a_new_event_loop_after_the_first_one_closed(server: Gearmand) -> None:
    c = new_client(server)

    async def one(w: bytes) -> Any:
        return await c.do(P + "echo", w)

    assert run(one(b"1")) == b"1"  # asyncio.run() closes its loop: the client moves to the next one
    assert run(one(b"2")) == b"2"
    c.close()
    assert c.closed
    with pytest.raises(ClosedError):
        run(one(b"3"))


def test_clients_leave_no_fd_or_thread(server: Gearmand) -> None:
    def fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    async def main() -> None:
        for i in range(20):
            async with new_client(server) as c:
                assert await c.do(P + "echo", b"%d" % i) == b"%d" % i
                slow = asyncio.ensure_future(c.do(P + "sleep", b"0.3"))  # in flight at the close
                await asyncio.sleep(0.01)
            with pytest.raises(ClosedError):
                await slow

    async def warm() -> None:
        async with new_client(server) as c:
            await c.do(P + "echo", b"warm")

    run(warm())
    before = fds()
    run(main())
    assert wait_until(lambda: not engines(), timeout=10, what="AsyncClient threads ended")
    assert fds() <= before + 2  # the pipe and the connection of each client are closed


def test_options_keep_the_client_non_blocking(server: Gearmand) -> None:
    async def main() -> None:
        async with new_client(server) as c:
            c.set_options(0)
            assert c.options() & GEARMAN_CLIENT_NON_BLOCKING
            # the I/O thread is still woken for each job (a blocking C client would hold it)
            assert await asyncio.wait_for(c.do(P + "echo", b"a"), 10) == b"a"
            slow = asyncio.ensure_future(c.do(P + "sleep", b"3"))
            await asyncio.sleep(0.1)
            assert await asyncio.wait_for(c.do(P + "echo", b"b"), 10) == b"b"
            assert not slow.done()  # the echo went past the job in flight (the other worker ran it)
            assert await slow == b"slept"
    run(main())


# -- AsyncWorker -------------------------------------------------------------------------------------


def worker_threads() -> List[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("gearman_xs.aio.worker")]


def test_async_worker_runs_jobs_concurrently(gearmand: Gearmand) -> None:
    intervals: List[Any] = []

    async def slow(job: Any) -> bytes:
        start = time.monotonic()
        await asyncio.sleep(0.5)
        intervals.append((start, time.monotonic()))
        return job.workload().upper()

    async def main() -> None:
        worker = AsyncWorker(concurrency=4)
        worker.add_servers(gearmand.servers)
        worker.add_function("aw_slow", 0, slow)
        running = asyncio.ensure_future(worker.run())
        async with new_client(gearmand) as c:
            out = await asyncio.gather(*(c.do("aw_slow", b"job%d" % i) for i in range(8)))
            assert out == [b"JOB%d" % i for i in range(8)]
        worker.stop()
        assert await running == 8
        assert worker.in_flight == 0

    run(main())
    # the proof of overlap: some job started before another one ended
    intervals.sort()
    overlaps = sum(1 for a, b in zip(intervals, intervals[1:]) if b[0] < a[1])
    assert overlaps >= 1, intervals
    assert wait_until(lambda: not worker_threads(), timeout=10, what="AsyncWorker threads ended")


def test_async_worker_results_failures_and_count(gearmand: Gearmand) -> None:
    async def results(job: Any) -> Any:
        w = job.workload()
        if w == b"int":
            return 42
        if w == b"float":
            return 0.1 + 0.2
        if w == b"str":
            return "é"
        if w == b"none":
            return None
        if w == b"self":
            job.send_data(b"part-")
            job.send_complete(b"answered")
            return b"ignored"
        if w == b"bad":
            return object()
        raise ValueError("no such case")

    def plain(job: Any) -> bytes:  # a plain function works too
        return b"plain:" + job.workload()

    async def main(send_exceptions: bool) -> None:
        worker = AsyncWorker(concurrency=2, send_exceptions=send_exceptions)
        worker.add_servers(gearmand.servers)
        worker.add_function("aw_results", 0, results)
        worker.add_function("aw_plain", 0, plain)
        running = asyncio.ensure_future(worker.run(count=9))
        async with new_client(gearmand) as c:
            assert await c.do("aw_results", b"int") == b"42"
            assert await c.do("aw_results", b"float") == b"0.3"
            assert await c.do("aw_results", b"str") == "é".encode()
            assert await c.do("aw_results", b"none") == b""
            assert await c.do("aw_results", b"self") == b"part-answered"
            assert await c.do("aw_plain", b"x") == b"plain:x"
            with pytest.raises(WorkFail):
                await c.do("aw_results", b"bad")
            if send_exceptions:
                with pytest.raises(WorkException) as info:
                    await c.do("aw_results", b"raise")
                assert info.value.exception == b"ValueError: no such case"
            else:
                with pytest.raises(WorkFail):
                    await c.do("aw_results", b"raise")
            assert await c.do("aw_plain", b"last") == b"plain:last"
        assert await asyncio.wait_for(running, 10) == 9

    run(main(False))
    run(main(True))
    assert wait_until(lambda: not worker_threads(), timeout=10, what="AsyncWorker threads ended")


def test_async_worker_cancelled_fails_the_job_in_flight(gearmand: Gearmand) -> None:
    async def main() -> None:
        started = asyncio.Event()  # made in the loop (Python 3.9 binds it at creation)

        async def forever(job: Any) -> bytes:
            started.set()
            await asyncio.sleep(60)
            return b"never"

        worker = AsyncWorker(concurrency=1)
        worker.add_servers(gearmand.servers)
        worker.add_function("aw_forever", 0, forever)
        running = asyncio.ensure_future(worker.run())
        async with new_client(gearmand) as c:
            pending = asyncio.ensure_future(c.do("aw_forever", b""))
            await asyncio.wait_for(started.wait(), 10)
            running.cancel()
            with pytest.raises(asyncio.CancelledError):
                await running
            with pytest.raises(WorkFail):
                await asyncio.wait_for(pending, 10)

    run(main())
    assert wait_until(lambda: not worker_threads(), timeout=10, what="AsyncWorker threads ended")


def test_async_worker_survives_a_server_restart(gearmand: Gearmand) -> None:
    async def echo(job: Any) -> bytes:
        return job.workload()

    async def main() -> None:
        worker = AsyncWorker(concurrency=2)
        worker.add_servers(gearmand.servers)
        worker.add_function("aw_echo", 0, echo)
        running = asyncio.ensure_future(worker.run())
        async with new_client(gearmand) as c:
            assert await c.do("aw_echo", b"before") == b"before"
        gearmand.kill()
        await asyncio.sleep(0.5)  # the grab loops see the server gone
        gearmand.start()
        async with new_client(gearmand) as c:
            assert await asyncio.wait_for(c.do("aw_echo", b"after"), 20) == b"after"
        worker.stop()
        assert await asyncio.wait_for(running, 10) == 2

    run(main())
    assert wait_until(lambda: not worker_threads(), timeout=10, what="AsyncWorker threads ended")


def test_a_burst_that_fills_the_guards_buffer() -> None:
    from support import protocol as w
    from support.fake_server import FakeServer
    from test_net_guard import _full_buffer_burst

    def policy(command: int, args: object, index: int) -> object:
        return (_full_buffer_burst(), False) if command == w.SUBMIT_JOB else None

    async def main() -> None:
        async with AsyncClient() as c:
            c.add_servers(server.servers)
            assert await c.do("f", b"x") == b"d" * 7988 + b"the result"

    with FakeServer(policy) as server:  # type: ignore[arg-type]
        run(main(), 20)


# -- a connection reset at the points that decide a resubmission (as tests/test_resend.py) ---------


def _reset_case(answers: Any, call: Any) -> Any:
    from support.fake_server import FakeServer

    async def main(server: Any) -> Any:
        async with AsyncClient() as c:
            c.add_servers(server.servers)
            c.set_timeout(5000)
            try:
                return await call(c)
            except Exception as exc:  # returned for the caller's checks
                return exc

    with FakeServer(answers, rst=True) as server:
        outcome = run(main(server), 30)
        from support import protocol as w
        return outcome, sum(1 for _, command in server.requests if command in w.SUBMITS)


@pytest.mark.parametrize("case", ["background-created", "result-arrived", "created", "running", "unknown"])
def test_reset_never_submits_twice(case: str) -> None:
    from test_resend import COMPLETE, CREATED, Answers

    from gearman_xs import net_guard

    reads_first = net_guard.reads_broken_connections()
    if case in ("background-created", "result-arrived", "created") and not reads_first:
        pytest.skip(f"the packet guard's poll() slot is not active here ({net_guard.status()})")
    for _ in range(5):
        if case == "background-created":
            outcome, submits = _reset_case(Answers(CREATED), lambda c: c.do_background("f", b"x"))
            assert (outcome, submits) == ("H:fake:1", 1)
        elif case == "result-arrived":
            outcome, submits = _reset_case(Answers(CREATED + COMPLETE), lambda c: c.do("f", b"x"))
            assert (outcome, submits) == (b"result", 1)
        elif case == "created":
            outcome, submits = _reset_case(Answers(CREATED), lambda c: c.do("f", b"x"))
            assert isinstance(outcome, GearmanConnectionError) and submits == 1
            assert "after the server accepted the job" in str(outcome)
        elif case == "running":  # the server holds it running: the same unique again joins it
            answers = Answers(b"", on_status=(b"1", b"1"))
            outcome, submits = _reset_case(answers, lambda c: c.do("f", b"x", unique="u1"))
            assert (outcome, submits) == (b"again", 2) and answers.uniques == [b"u1", b"u1"]
        else:  # it does not know the job: it never arrived, or already ran
            answers = Answers(b"", on_status=(b"0", b"0"))
            outcome, submits = _reset_case(answers, lambda c: c.do("f", b"x", unique="u1"))
            assert isinstance(outcome, GearmanConnectionError) and submits == 1
            assert "does not know the job now" in str(outcome)
