"""The fault suite's scenarios: real gearmand processes on 127.0.0.1, worker processes that log every
execution (fault_worker.py), the fault-injecting proxy (fault_proxy.py) and the fuzzer (fuzz.py).

Each scenario returns a :class:`Result` (jobs or cycles run, right results, jobs lost, jobs run more
than once, the errors seen by kind, the worst time of a timed step) and takes ``quick``: the normal
suite (tests/test_faults.py) runs the quick sizes and asserts on them; ``scripts/fault-suite`` runs
the full sizes and prints the results table of docs/faults.md.

Lost and duplicated jobs are counted from the workers' logs: a job whose ``done`` line never came is
lost, one with two ``done`` lines was run twice.
"""

from __future__ import annotations

import collections
import contextlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Counter, Dict, Iterator, List, Optional

import gearman_xs
from gearman_xs import Client, GearmanError, GearmanTimeout, Worker
from gearman_xs.testing import Gearmand

from . import fuzz
from .fault_proxy import FaultProxy

HERE = os.path.dirname(os.path.abspath(__file__))


@dataclass
class Result:
    case: str
    runs: int = 0  # jobs submitted or cycles run
    ok: int = 0  # right results
    lost: int = 0
    duplicated: int = 0
    errors: Counter[str] = field(default_factory=collections.Counter)
    worst: Optional[float] = None  # the slowest timed step, where the case times one
    limit: Optional[float] = None  # what ``worst`` must stay under
    unit: str = "s"
    note: str = ""
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return (self.lost == 0 and self.duplicated == 0 and self.errors.get("crash", 0) == 0
                and not any(k.startswith(("crash", "hang", "bad", "not a GearmanError")) for k in self.errors)
                and (self.limit is None or self.worst is None or self.worst <= self.limit))

    def row(self) -> str:
        errors = ", ".join(f"{k} {v}" for k, v in sorted(self.errors.items())) or "none"
        worst = "" if self.worst is None else f"{self.worst:.2f} {self.unit}"
        if self.limit is not None and self.worst is not None:
            worst += f" (limit {self.limit:.1f} {self.unit})"
        return (f"| {self.case} | {self.runs} | {self.ok} | {self.lost} | {self.duplicated} | {errors} | "
                f"{worst} | {'pass' if self.passed else 'FAIL'} | {self.note} |")


HEADER = ("| case | runs | right results | lost | duplicated | errors seen | worst | verdict | notes |\n"
          "|---|---:|---:|---:|---:|---|---|---|---|")


# -- helpers --------------------------------------------------------------------------------------


def _env() -> Dict[str, str]:
    """The environment of a worker process: it imports the gearman_xs this process imported."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(gearman_xs.__file__)))
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    env = dict(os.environ, PYTHONPATH=path)
    env.pop("GEARMAN_SERVERS", None)
    return env


class WorkerProcess:
    """fault_worker.py in a process of its own; ``kill()`` is SIGKILL, ``stop()`` SIGTERM."""

    def __init__(self, servers: str, tag: str, log: str) -> None:
        self.args = [sys.executable, os.path.join(HERE, "fault_worker.py"), servers, tag, log]
        self.proc: Optional[subprocess.Popen[str]] = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(self.args, env=_env(), stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            self.stop()
            raise RuntimeError(f"fault worker did not start: {line!r}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None


class Log:
    """The workers' shared execution log."""

    def __init__(self, directory: str) -> None:
        self.path = os.path.join(directory, "executions.log")
        open(self.path, "w").close()

    def lines(self) -> List[List[str]]:
        with open(self.path) as f:
            return [line.split() for line in f if line.strip()]

    def done(self) -> Counter[str]:
        return collections.Counter(p[2] for p in self.lines() if p[0] == "done" and len(p) == 3)

    def started_by(self, workload: str) -> Optional[str]:
        for p in self.lines():
            if p[0] == "start" and len(p) == 3 and p[2] == workload:
                return p[1]
        return None

    def wait_done(self, workloads: List[str], timeout: float) -> Counter[str]:
        end = time.monotonic() + timeout
        while True:
            done = self.done()
            if all(done[w] for w in workloads) or time.monotonic() > end:
                return done
            time.sleep(0.05)


def _count(result: Result, workloads: List[str], done: Counter[str]) -> None:
    result.lost = sum(1 for w in workloads if done[w] == 0)
    result.duplicated = sum(1 for w in workloads if done[w] > 1)


def _error(result: Result, exc: BaseException) -> None:
    if isinstance(exc, GearmanError):
        result.errors[f"{type(exc).__name__} {exc.name}"] += 1
    else:
        result.errors[f"not a GearmanError: {type(exc).__name__}"] += 1


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.monotonic()
    fn()
    return time.monotonic() - t0


# -- scenarios --------------------------------------------------------------------------------------


def queue_restart(sig: signal.Signals, quick: bool) -> Result:
    """Background jobs queued in a libsqlite3 persistent queue, no worker; gearmand killed with
    ``sig`` and restarted on the same database; then a worker drains it."""
    jobs = 200 if quick else 2000
    result = Result(f"persistent queue (libsqlite3), gearmand {sig.name} + restart", runs=jobs)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gxs-faults-") as tmp:
        log = Log(tmp)
        db = os.path.join(tmp, "queue.sqlite3")
        server = Gearmand(["-q", "libsqlite3", "--libsqlite3-db", db])
        server.start()
        try:
            workloads = [f"q{i}" for i in range(jobs)]
            with Client() as c:
                c.add_server("127.0.0.1", server.port)
                c.set_timeout(10000)
                for w in workloads:
                    c.do_background("ft_log", w.encode())
            if sig == signal.SIGKILL:
                server.kill()
            else:
                server.stop()
            server.start()
            worker = WorkerProcess(server.servers, "W", log.path)
            try:
                done = log.wait_done(workloads, 60 if quick else 180)
                time.sleep(0.5)  # a late duplicate would show now
                done = log.done()
            finally:
                worker.stop()
            _count(result, workloads, done)
            result.ok = jobs - result.lost
        finally:
            server.close()
    result.seconds = time.monotonic() - t0
    return result


def worker_kill(quick: bool) -> Result:
    """Two workers; the one running a foreground job is SIGKILLed inside it; the client must get
    the right result from the other (gearmand requeues the job)."""
    cycles = 3 if quick else 20
    result = Result("worker SIGKILLed inside a job", runs=cycles)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gxs-faults-") as tmp, Gearmand() as server:
        log = Log(tmp)
        workers = {tag: WorkerProcess(server.servers, tag, log.path) for tag in ("A", "B")}
        try:
            with Client() as c:
                c.add_server("127.0.0.1", server.port)
                c.set_timeout(20000)
                workloads = []
                for i in range(cycles):
                    w = f"k{i}"
                    workloads.append(w)
                    out: Dict[str, object] = {}

                    def run(w: str = w, out: Dict[str, object] = out) -> None:
                        try:
                            out["result"] = c.do("ft_slow", w.encode())
                        except BaseException as exc:  # counted below
                            out["error"] = exc

                    thread = threading.Thread(target=run)
                    thread.start()
                    end = time.monotonic() + 10
                    tag = None
                    while tag is None and time.monotonic() < end:
                        tag = log.started_by(w)
                        time.sleep(0.01)
                    victim = workers.get(tag or "")
                    if victim is not None:
                        victim.kill()
                    thread.join(30)
                    other = "B" if tag == "A" else "A"
                    if "error" in out:
                        _error(result, out["error"])  # type: ignore[arg-type]
                    elif out.get("result") == f"{other}:{w}".encode():
                        result.ok += 1
                    else:
                        result.errors[f"wrong result {out.get('result')!r}"] += 1
                    if victim is not None:
                        victim.start()
            done = log.wait_done(workloads, 5)
            _count(result, workloads, done)
        finally:
            for worker in workers.values():
                worker.stop()
    result.seconds = time.monotonic() - t0
    return result


def failover(quick: bool, background: bool) -> Result:
    """add_servers("A,B") with a worker on each; after a warm-up job, A is SIGKILLed while the
    Client is idle; the next job must run exactly once (on B). A is restarted each cycle."""
    cycles = 4 if quick else 20
    kind = "do_background()" if background else "do()"
    result = Result(f"failover: idle server SIGKILLed, then {kind}", runs=cycles)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gxs-faults-") as tmp, Gearmand() as a, Gearmand() as b:
        log = Log(tmp)
        workers = [WorkerProcess(a.servers, "A", log.path), WorkerProcess(b.servers, "B", log.path)]
        workloads = []
        try:
            for i in range(cycles):
                if not a.running:
                    a.start()
                    time.sleep(0.3)  # its worker reconnects
                with Client() as c:
                    c.add_servers(f"{a.servers},{b.servers}")
                    c.set_timeout(10000)
                    try:
                        c.do("ft_log", f"warm{i}".encode())
                    except GearmanError as exc:
                        _error(result, exc)
                    a.kill()
                    w = f"f{i}"
                    workloads.append(w)
                    try:
                        if background:
                            c.do_background("ft_log", w.encode())
                            result.ok += 1
                        else:
                            out = c.do("ft_log", w.encode())
                            if out.endswith(b":" + w.encode()):
                                result.ok += 1
                            else:
                                result.errors[f"wrong result {out!r}"] += 1
                    except GearmanError as exc:
                        _error(result, exc)
            done = log.wait_done(workloads, 10)
            time.sleep(0.5)
            done = log.done()
            _count(result, workloads, done)
            # an error for a job that ran anyway is a false failure report: note it
            ran_despite_error = sum(1 for w in workloads if done[w]) - result.ok
            if ran_despite_error > 0:
                result.note = f"{ran_despite_error} job(s) ran although the call raised"
        finally:
            for worker in workers:
                worker.stop()
    result.seconds = time.monotonic() - t0
    return result


#: What a reset call that raised was told, by a phrase of the message (the Client's own words).
_RESET_OUTCOMES = (
    ("after the server accepted the job", "accepted, result lost"),
    ("does not know the job now", "not known to the server"),
    ("holds it queued", "queued, dropped by gearmand"),
    ("it may have been queued there", "no answer after the loss"),
)


def reset(quick: bool, seed: int = 1) -> Result:
    """Client through the proxy; the proxy RSTs every connection at an arbitrary point of each call
    (a seeded random delay after the call starts, whatever the Client has seen by then): before the
    submission, between it and JOB_CREATED, while the job runs, as its result comes back. The calls
    take turns: do() of a 0.3 s job (reset 0-0.45 s in), do() and do_background() of an instant job
    (reset 0-5 ms in). A call returns the right result or handle (and its job ran, once) or raises
    a GearmanError; no job runs twice; the same Client works again at once."""
    cycles = 15 if quick else 150
    result = Result("connection reset at an arbitrary point of each call (proxy RST), same Client reused",
                    runs=cycles)
    rng = random.Random(seed)
    t0 = time.monotonic()
    outcomes: Counter[str] = collections.Counter()
    returned: List[str] = []  # workloads whose call returned a result or a handle
    raised: List[str] = []  # workloads whose call raised a GearmanError
    with tempfile.TemporaryDirectory(prefix="gxs-faults-") as tmp, Gearmand() as server, \
            FaultProxy(server.port) as proxy:
        log = Log(tmp)
        worker = WorkerProcess(server.servers, "W", log.path)
        recovered = 0
        try:
            with Client() as c:
                c.add_server("127.0.0.1", proxy.port)
                c.set_timeout(10000)
                for i in range(cycles):
                    w = f"r{i}"
                    kind = ("slow do", "do", "do_background")[i % 3]
                    delay = rng.uniform(0, 0.45) if kind == "slow do" else rng.uniform(0, 0.005)
                    timer = threading.Timer(delay, proxy.reset)
                    timer.start()
                    try:
                        if kind == "do_background":
                            if c.do_background("ft_log", w.encode()).startswith("H:"):
                                returned.append(w)
                        else:
                            out = c.do("ft_slow" if kind == "slow do" else "ft_log", w.encode())
                            if out != f"W:{w}".encode():
                                result.errors[f"wrong result {out!r}"] += 1
                            returned.append(w)
                        outcomes[f"{kind}: returned"] += 1
                    except GearmanError as exc:
                        _error(result, exc)
                        said = next((what for phrase, what in _RESET_OUTCOMES if phrase in exc.message),
                                    "other")
                        outcomes[f"{kind}: raised ({said})"] += 1
                        raised.append(w)
                    except BaseException as exc:
                        _error(result, exc)
                    timer.join()  # the reset has happened: the next call meets a fresh connection
                    try:
                        if c.do("ft_log", f"after{i}".encode()) == f"W:after{i}".encode():
                            recovered += 1
                    except BaseException as exc:
                        _error(result, exc)
            log.wait_done(returned + [f"after{i}" for i in range(cycles)], 10)
            time.sleep(0.5)  # a late duplicate would show now
            done = log.done()
            twice = sorted(w for w, n in done.items() if n > 1)
            result.duplicated = len(twice)
            result.lost = sum(1 for w in returned if done[w] == 0)
            ran_anyway = sum(1 for w in raised if done[w])
            if twice:
                result.note = f"run twice: {', '.join(twice[:5])}; "
            result.ok = recovered
        finally:
            worker.stop()
    result.note += "; ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
    result.note += f"; of the {len(raised)} that raised, {ran_anyway} ran (once)"
    result.note += f"; {recovered}/{cycles} next calls on the same Client succeeded"
    result.seconds = time.monotonic() - t0
    return result


def blackhole(quick: bool, fresh: bool) -> Result:
    """The proxy stops forwarding (the server seems alive but never answers); with set_timeout(T)
    the call must raise GearmanTimeout by T + 0.5 s. ``fresh``: a new Client (connect and option
    negotiation in the black hole), else an established connection."""
    cycles = 3 if quick else 10
    timeout_ms = 1000
    what = "new Client (connect + options)" if fresh else "established connection"
    result = Result(f"blackhole, do() with set_timeout({timeout_ms}), {what}", runs=cycles,
                    limit=timeout_ms / 1000 + 0.5)
    t0 = time.monotonic()
    worst = 0.0
    with tempfile.TemporaryDirectory(prefix="gxs-faults-") as tmp, Gearmand() as server, \
            FaultProxy(server.port) as proxy:
        worker = WorkerProcess(server.servers, "W", Log(tmp).path)
        try:
            for i in range(cycles):
                proxy.blackhole(False)
                with Client() as c:
                    c.add_server("127.0.0.1", proxy.port)
                    c.set_timeout(timeout_ms)
                    if not fresh:
                        c.do("ft_log", f"warm{i}".encode())
                    proxy.blackhole(True)
                    start = time.monotonic()
                    try:
                        c.do("ft_log", f"b{i}".encode())
                        result.errors["completed in a black hole"] += 1
                    except GearmanTimeout:
                        result.ok += 1
                    except BaseException as exc:
                        _error(result, exc)
                    worst = max(worst, time.monotonic() - start)
        finally:
            proxy.blackhole(False)
            worker.stop()
    result.worst = worst
    result.seconds = time.monotonic() - t0
    return result


def worker_blackhole(quick: bool) -> Result:
    """A Worker through the proxy with set_timeout(T); the proxy stops forwarding: work() must
    raise GearmanTimeout by T + 0.5 s."""
    cycles = 3 if quick else 10
    timeout_ms = 1000
    result = Result(f"blackhole, Worker.work() with set_timeout({timeout_ms})", runs=cycles,
                    limit=timeout_ms / 1000 + 0.5)
    worst = 0.0
    t0 = time.monotonic()
    with Gearmand() as server, FaultProxy(server.port) as proxy:
        for _ in range(cycles):
            proxy.blackhole(False)
            with Worker() as w:
                w.add_server("127.0.0.1", proxy.port)
                w.add_function("ft_none", 0, lambda job: b"")
                w.set_timeout(300)
                with contextlib.suppress(GearmanTimeout):  # connects, registers: established
                    w.work()
                proxy.blackhole(True)
                w.set_timeout(timeout_ms)
                start = time.monotonic()
                try:
                    w.work()
                    result.errors["returned in a black hole"] += 1
                except GearmanTimeout:
                    result.ok += 1
                except BaseException as exc:
                    _error(result, exc)
                worst = max(worst, time.monotonic() - start)
        proxy.blackhole(False)
    result.worst = worst
    result.seconds = time.monotonic() - t0
    return result


def latency(quick: bool) -> Result:
    """The proxy delays every chunk by 50 ms both ways: every job still gets its result."""
    jobs = 10 if quick else 100
    result = Result("latency 50 ms each way (proxy), do()", runs=jobs)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gxs-faults-") as tmp, Gearmand() as server, \
            FaultProxy(server.port) as proxy:
        log = Log(tmp)
        worker = WorkerProcess(server.servers, "W", log.path)
        proxy.latency(0.05)
        try:
            with Client() as c:
                c.add_server("127.0.0.1", proxy.port)
                c.set_timeout(10000)
                workloads = [f"l{i}" for i in range(jobs)]
                times = []
                for w in workloads:
                    start = time.monotonic()
                    try:
                        if c.do("ft_log", w.encode()) == f"W:{w}".encode():
                            result.ok += 1
                    except BaseException as exc:
                        _error(result, exc)
                    times.append(time.monotonic() - start)
            _count(result, workloads, log.wait_done(workloads, 5))
            result.worst = max(times)
            result.note = f"median {sorted(times)[len(times) // 2] * 1000:.0f} ms per job"
        finally:
            worker.stop()
    result.seconds = time.monotonic() - t0
    return result


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def soak(quick: bool) -> Result:
    """Many do() on one Client: RSS and the fd count of this process stay flat (measured after a
    warm-up of a tenth of the jobs)."""
    jobs = 3000 if quick else 100_000
    result = Result(f"soak: {jobs} do() on one Client", runs=jobs)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gxs-faults-") as tmp, Gearmand() as server:
        log = Log(tmp)
        worker = WorkerProcess(server.servers, "W", log.path)
        try:
            with Client() as c:
                c.add_server("127.0.0.1", server.port)
                c.set_timeout(10000)
                warm = jobs // 10
                for i in range(jobs):
                    if i == warm:
                        rss0, fds0 = _rss_kib(), _fds()
                    try:
                        c.do("ft_log", b"s")
                        result.ok += 1
                    except BaseException as exc:
                        _error(result, exc)
                rss1, fds1 = _rss_kib(), _fds()
        finally:
            worker.stop()
    result.note = f"RSS {rss0} -> {rss1} KiB ({rss1 - rss0:+d}), fds {fds0} -> {fds1}"
    result.worst = float(max(0, rss1 - rss0)) / 1024
    result.unit = "MiB RSS growth"
    result.limit = 8.0 if quick else 16.0
    if fds1 != fds0:
        result.errors[f"fd count changed by {fds1 - fds0}"] += 1
    result.seconds = time.monotonic() - t0
    return result


def fuzzed(quick: bool, seed: int = 1, cases: Optional[int] = None) -> Result:
    """fuzz.py: malformed replies to Client and Worker, each case in a forked child."""
    if cases is None:
        cases = 250 if quick else 10_000
    summary = fuzz.run(cases, seed)
    result = Result(f"fuzzed replies (seed {seed}), each in a forked child", runs=int(summary["cases"]))  # type: ignore[call-overload]
    kinds: Dict[str, int] = summary["kinds"]  # type: ignore[assignment]
    for kind, n in kinds.items():
        if kind.startswith(("crash", "hang", "bad")):
            result.errors[kind] += n
    result.ok = int(summary["cases"]) - sum(result.errors.values())  # type: ignore[call-overload]
    top = sorted(kinds.items(), key=lambda kv: -kv[1])[:4]
    result.note = (f"{summary['crashes']} crashes, {summary['hangs']} hangs, {summary['bad']} "
                   "non-GearmanError; most common: " + ", ".join(f"{k} {v}" for k, v in top))
    result.worst = float(summary["slowest_case_s"])  # type: ignore[arg-type]
    result.unit = "s per case"
    result.seconds = float(summary["seconds"])  # type: ignore[arg-type]
    return result


def all_scenarios(quick: bool, fuzz_cases: Optional[int] = None, seed: int = 1
                  ) -> Iterator[Callable[[], Result]]:
    yield lambda: queue_restart(signal.SIGKILL, quick)
    yield lambda: queue_restart(signal.SIGTERM, quick)
    yield lambda: worker_kill(quick)
    yield lambda: failover(quick, background=True)
    yield lambda: failover(quick, background=False)
    yield lambda: reset(quick)
    yield lambda: blackhole(quick, fresh=False)
    yield lambda: blackhole(quick, fresh=True)
    yield lambda: worker_blackhole(quick)
    yield lambda: latency(quick)
    yield lambda: soak(quick)
    yield lambda: fuzzed(quick, seed, fuzz_cases)
