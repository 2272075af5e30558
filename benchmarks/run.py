#!/usr/bin/env python3
"""Benchmarks: gearman_xs against C programs on the same libgearman, in the same run.

    python benchmarks/run.py            # full run (several minutes), table + benchmarks/results/latest.json
    python benchmarks/run.py --quick    # seconds: the CI smoke run (CI does not judge the numbers)
    python benchmarks/run.py --only W1,W4 --runs 3 --json /tmp/out.json

Starts a private gearmand (gearman_xs.testing.Gearmand), compiles the C reference programs
(benchmarks/bench_client.c, bench_worker.c) with gcc against the same libgearman
(``pkg-config --cflags --libs gearmand``) into a temporary directory, and runs every workload as
separate processes: C and gearman_xs runs alternate (C first in odd runs, gearman_xs first in even
ones) and the table shows medians and the ratio gearman_xs / C. Function "echo" returns its
workload. Needs gcc, pkg-config, libgearman-dev, gearmand; Perl's Gearman::Client/Gearman::Worker
(libgearman-client-perl) for the W4 peer row (skipped with a note when missing).

Workloads (see issue 8):
  W1       sequential do() of 100 B: gearman_xs client + worker against C client + worker (jobs/s),
           plus the client's CPU time per job
  W1-client  the same with both clients served by the C worker (isolates the client)
  W2       do_background() of 100 B with no worker (submits/s), then one worker drains (jobs/s)
  W3       add_task() x N then one run_tasks() (jobs/s; C worker serves both)
  W4       round trips of 256 KiB and 8 MiB, client and worker of the same kind (MB/s), gearman_xs
           also with libgearman's clamp kept, Perl's pure Gearman::Client/Worker as a peer, and the
           client's peak RSS
  W5       one worker drains a queue the C client filled (jobs/s)
  threads  gearman_xs: two threads with one Client each against one thread (W1 rate, C worker)
  soak     gearman_xs: do(), tasks and worker jobs, RSS after a warm-up and after the run
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

try:
    import gearman_xs
except ImportError:  # an in-place build in a checkout
    sys.path.insert(0, ROOT)
    import gearman_xs
from gearman_xs.testing import Gearmand  # noqa: E402

KIB = 1024
MIB = 1024 * 1024
FUNCTION = "echo"

FULL = {
    "runs": 5, "w1": 10000, "w2": 20000, "w3": 10000, "w5": 20000, "threads": 10000,
    "w4_small": 256 * KIB, "w4_small_count": 5, "w4_large": 8 * MIB, "w4_large_count": 3, "w4_runs": 3,
    "soak": 100000, "soak_warmup": 5000, "soak_batch": 1000,
}
QUICK = {
    "runs": 1, "w1": 300, "w2": 500, "w3": 500, "w5": 500, "threads": 200,
    "w4_small": 256 * KIB, "w4_small_count": 2, "w4_large": 1 * MIB, "w4_large_count": 1, "w4_runs": 1,
    "soak": 500, "soak_warmup": 100, "soak_batch": 100,
}
WORKLOADS = ["W1", "W1-client", "W2", "W3", "W4", "W5", "threads", "soak"]


class BenchError(RuntimeError):
    pass


# -- processes --------------------------------------------------------------------------------------------


class Bench:
    def __init__(self, server: Gearmand, bindir: str) -> None:
        self.server = server
        self.bindir = bindir
        self.host = server.host
        self.port = str(server.port)
        dropped = ("GEARMAN_SERVERS", "GEARMAN_XS_SOCKET_BUFFERS")
        env = {k: v for k, v in os.environ.items() if k not in dropped}
        pkg_root = os.path.dirname(os.path.dirname(os.path.abspath(gearman_xs.__file__)))
        env["PYTHONPATH"] = pkg_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.env = env
        self.perl_ok = _perl_available()

    def _cmd(self, impl: str, role: str, *args: str) -> List[str]:
        if impl == "c":
            return [os.path.join(self.bindir, "bench_" + role), self.host, self.port, *args]
        if impl in ("gearman_xs", "gearman_xs-clamped"):
            return [sys.executable, os.path.join(HERE, "bench_py.py"), role, self.host, self.port, *args]
        if impl == "perl":
            return ["perl", os.path.join(HERE, "peer_perl.pl"), role, f"{self.host}:{self.port}", *args]
        raise ValueError(impl)

    def _env(self, impl: str, extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
        env = dict(self.env)
        if impl == "gearman_xs-clamped":
            env["GEARMAN_XS_SOCKET_BUFFERS"] = "libgearman"
        env.update(extra or {})
        return env

    def start_worker(self, impl: str, count: int,
                     extra: Optional[Dict[str, str]] = None) -> subprocess.Popen[str]:
        cmd = self._cmd(impl, "worker", str(count))
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=self._env(impl, extra))
        assert proc.stderr is not None
        line = proc.stderr.readline()
        if "ready" not in line:
            proc.kill()
            err = proc.communicate()[1]
            raise BenchError(f"{impl} worker did not start: {line}{err}")
        self.wait_for_workers(1)
        return proc

    def finish_worker(self, proc: subprocess.Popen[str], timeout: float = 600) -> Dict[str, Any]:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            raise BenchError(f"worker did not finish in {timeout}s: {err[-500:]}") from None
        if proc.returncode != 0:
            raise BenchError(f"worker exited {proc.returncode}: {err[-500:]}")
        return _last_json(out) if out.strip() else {}

    def stop_worker(self, proc: subprocess.Popen[str]) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()

    def client(self, impl: str, mode: str, count: int, size: int,
               extra: Optional[Dict[str, str]] = None, timeout: float = 900) -> Dict[str, Any]:
        if impl == "perl":
            cmd = self._cmd(impl, "client", str(size), str(count))
        else:
            cmd = self._cmd(impl, "client", mode, str(count), str(size))
        proc = subprocess.run(cmd, capture_output=True, text=True, env=self._env(impl, extra),
                              timeout=timeout)
        if proc.returncode != 0:
            raise BenchError(f"{impl} client {mode} failed ({proc.returncode}): {proc.stderr[-800:]}")
        return _last_json(proc.stdout)

    def threads(self, nthreads: int, count: int, size: int) -> Dict[str, Any]:
        cmd = self._cmd("gearman_xs", "threads", str(nthreads), str(count), str(size))
        proc = subprocess.run(cmd, capture_output=True, text=True, env=self.env, timeout=900)
        if proc.returncode != 0:
            raise BenchError(f"threads failed: {proc.stderr[-800:]}")
        return _last_json(proc.stdout)

    def queue(self) -> Tuple[int, int, int]:
        """(queued, running, available workers) of FUNCTION, from gearmand's status."""
        for line in self.server.admin("status").splitlines():
            parts = line.split("\t")
            if parts[0] == FUNCTION and len(parts) >= 4:
                return int(parts[1]), int(parts[2]), int(parts[3])
        return 0, 0, 0

    def wait_for_workers(self, n: int, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while self.queue()[2] < n:
            if time.monotonic() > deadline:
                raise BenchError(f"fewer than {n} workers registered for {FUNCTION}")
            time.sleep(0.01)

    def wait_until_no_workers(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while self.queue()[2] > 0 and time.monotonic() < deadline:
            time.sleep(0.01)

    def pair(self, client_impl: str, worker_impl: str, mode: str, count: int, size: int,
             worker_count: Optional[int] = None, client_env: Optional[Dict[str, str]] = None,
             worker_env: Optional[Dict[str, str]] = None) -> Tuple[Dict[str, Any], Dict[str, Any]]:
        """One client run served by one worker process that exits after the client's jobs."""
        jobs = worker_count if worker_count is not None else count
        worker = self.start_worker(worker_impl, jobs, worker_env)
        try:
            result = self.client(client_impl, mode, count, size, client_env)
            wres = self.finish_worker(worker)
        finally:
            self.stop_worker(worker)
        self.wait_until_no_workers()
        return result, wres


def _last_json(text: str) -> Dict[str, Any]:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)  # type: ignore[no-any-return]
    raise BenchError(f"no JSON in output: {text[-300:]!r}")


def _perl_available() -> bool:
    if shutil.which("perl") is None:
        return False
    return subprocess.run(["perl", "-MGearman::Client", "-MGearman::Worker", "-e", "1"],
                          capture_output=True, check=False).returncode == 0


def compile_c(bindir: str) -> None:
    try:
        flags = subprocess.run(["pkg-config", "--cflags", "--libs", "gearmand"], capture_output=True,
                               text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        flags = ["-lgearman"]
    cc = os.environ.get("CC", "gcc").split()
    for name in ("bench_client", "bench_worker"):
        cmd = [*cc, "-O2", "-Wall", "-o", os.path.join(bindir, name), os.path.join(HERE, name + ".c"), *flags]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise BenchError(f"compiling {name}.c failed:\n{' '.join(cmd)}\n{proc.stderr}")


# -- statistics ------------------------------------------------------------------------------------------


def _median(values: Sequence[float]) -> Optional[float]:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def _ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    if a is None or b is None or b == 0:
        return None
    return a / b


def _summary(runs: List[float]) -> Dict[str, Any]:
    return {"runs": [round(r, 6) for r in runs], "median": _median(runs)}


def _alternate(runs: int, impls: Sequence[str], one: Callable[[str], float]) -> Dict[str, List[float]]:
    """Runs ``one(impl)`` ``runs`` times per impl, alternating the order from run to run."""
    out: Dict[str, List[float]] = {impl: [] for impl in impls}
    for i in range(runs):
        order = list(impls) if i % 2 == 0 else list(reversed(impls))
        for impl in order:
            out[impl].append(one(impl))
    return out


def _compare(name: str, unit: str, values: Dict[str, List[float]], target: float,
             higher_is_better: bool = True) -> Dict[str, Any]:
    c = _median(values["c"])
    x = _median(values["gearman_xs"])
    ratio = _ratio(x, c)
    met = None if ratio is None else (ratio >= target if higher_is_better else ratio <= target)
    # Run i of each side ran back to back: the median of the per-run ratios is less sensitive to
    # the load of a shared machine drifting during the run. Shown beside the ratio of the medians,
    # which is what the targets are judged on.
    pairs = [_ratio(a, b) for a, b in zip(values["gearman_xs"], values["c"])]
    return {
        "name": name, "unit": unit, "c": _summary(values["c"]), "gearman_xs": _summary(values["gearman_xs"]),
        "ratio": ratio, "paired_ratio": _median([r for r in pairs if r is not None]),
        "target": (">= " if higher_is_better else "<= ") + str(target), "met": met,
    }


def _loadavg() -> List[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


# -- workloads ---------------------------------------------------------------------------------------------


def w1(b: Bench, p: Dict[str, int]) -> Dict[str, Any]:
    n = p["w1"]
    impls = ["c", "gearman_xs", "gearman_xs-clamped"]
    cpu: Dict[str, List[float]] = {impl: [] for impl in impls}

    def one(impl: str) -> float:
        res, _ = b.pair(impl, impl, "do", n, 100)
        cpu[impl].append(res["cpu"] / n * 1e6)
        return float(n / res["seconds"])

    rates = _alternate(p["runs"], impls, one)
    out = _compare("W1 sequential do() 100 B, client+worker", "jobs/s", rates, 0.95)
    out["cpu_per_job_us"] = _compare("W1 client CPU per job", "us", cpu, 1.3, higher_is_better=False)
    # "No change for small jobs": the same gearman_xs run with libgearman's clamp kept.
    clamped = _median(rates["gearman_xs-clamped"])
    out["clamp_kept"] = {"jobs/s": _summary(rates["gearman_xs-clamped"]),
                         "cpu_per_job_us": _summary(cpu["gearman_xs-clamped"]),
                         "lifted_over_kept": _ratio(_median(rates["gearman_xs"]), clamped)}
    return out


def w1_client(b: Bench, p: Dict[str, int]) -> Dict[str, Any]:
    n = p["w1"]
    cpu: Dict[str, List[float]] = {"c": [], "gearman_xs": []}

    def one(impl: str) -> float:
        res, _ = b.pair(impl, "c", "do", n, 100)
        cpu[impl].append(res["cpu"] / n * 1e6)
        return float(n / res["seconds"])

    rates = _alternate(p["runs"], ["c", "gearman_xs"], one)
    out = _compare("W1 sequential do() 100 B, clients vs the C worker", "jobs/s", rates, 0.95)
    out["cpu_per_job_us"] = _compare("W1 client CPU per job (C worker)", "us", cpu, 1.3,
                                     higher_is_better=False)
    return out


def w2(b: Bench, p: Dict[str, int]) -> Dict[str, Any]:
    n = p["w2"]
    drains: Dict[str, List[float]] = {"c": [], "gearman_xs": []}
    empty: List[bool] = []

    def one(impl: str) -> float:
        if b.queue()[0]:
            raise BenchError(f"queue not empty before W2: {b.queue()}")
        res = b.client(impl, "background", n, 100)
        queued = b.queue()[0]
        if queued != n:
            raise BenchError(f"W2: {queued} jobs queued after {n} submits")
        worker = b.start_worker(impl, n)
        try:
            wres = b.finish_worker(worker)
        finally:
            b.stop_worker(worker)
        b.wait_until_no_workers()
        empty.append(b.queue()[:2] == (0, 0))
        drains[impl].append(n / wres["seconds"])
        return float(n / res["seconds"])

    submits = _alternate(p["runs"], ["c", "gearman_xs"], one)
    out = _compare("W2 do_background() 100 B, no worker", "submits/s", submits, 0.95)
    out["drain"] = _compare("W2 one worker drains the queue", "jobs/s", drains, 0.95)
    out["queue_empty_after"] = all(empty)
    if not all(empty):
        out["met"] = False
    return out


def w3(b: Bench, p: Dict[str, int]) -> Dict[str, Any]:
    n = p["w3"]

    def one(impl: str) -> float:
        res, _ = b.pair(impl, "c", "tasks", n, 100)
        return float(n / res["seconds"])

    return _compare("W3 add_task() x N + run_tasks(), C worker", "jobs/s",
                    _alternate(p["runs"], ["c", "gearman_xs"], one), 0.95)


SLOW = ("c", "gearman_xs-clamped")  # libgearman's clamp: about 9 s per 8 MiB round trip


def _w4_size(b: Bench, impls: Sequence[str], size: int, count: int, runs: int) -> Dict[str, Any]:
    times: Dict[str, List[float]] = {impl: [] for impl in impls}
    rss: List[Dict[str, int]] = []

    def one(impl: str) -> float:
        # One warm-up round trip (not timed) on each connection: a fresh TCP connection starts in
        # quick-ACK mode (which hides the clamp's delayed ACKs at 256 KiB) and with small windows
        # that autotuning grows during the first megabytes. At 8 MiB the clamped programs take
        # ~9 s per trip, where neither effect shows: they skip the warm-up and make one trip.
        slow = size >= MIB and impl in SLOW
        warm, trips = (0, 1) if slow else (1, count)
        res, _ = b.pair(impl, impl, "do", trips + warm, size)
        if impl == "gearman_xs":
            rss.append({"before_kib": res["rss_before_kib"], "peak_kib": res["rss_peak_kib"]})
        times[impl].extend(res["times"][warm:] if "times" in res else [res["seconds"] / (trips + warm)])
        return 0.0

    _alternate(runs, impls, one)
    med = {impl: _median(times[impl]) for impl in impls}
    mbs = {impl: (size / m / 1e6 if m else None) for impl, m in med.items()}
    entry: Dict[str, Any] = {
        "round_trip_ms": {impl: (round(m * 1000, 3) if m else None) for impl, m in med.items()},
        "round_trips": {impl: len(times[impl]) for impl in impls},
        "MB/s": mbs,
        "ratio": _ratio(mbs["gearman_xs"], mbs["c"]),
        "ratio_vs_perl": _ratio(mbs["gearman_xs"], mbs.get("perl")),
        "target": ">= 100 x C" + (", >= Perl, peak RSS <= before + 4 x size" if size >= MIB else ""),
    }
    met = entry["ratio"] is not None and entry["ratio"] >= 100
    if size >= MIB and entry["ratio_vs_perl"] is not None:
        met = met and entry["ratio_vs_perl"] >= 1.0
    if rss:
        growth = max(r["peak_kib"] - r["before_kib"] for r in rss)
        limit = 4 * size // KIB
        entry["client_rss"] = {"before_kib": rss[-1]["before_kib"], "peak_kib": rss[-1]["peak_kib"],
                               "peak_minus_before_kib": growth, "limit_kib": limit, "met": growth <= limit}
        if size >= MIB:
            met = met and growth <= limit
    entry["met"] = met
    return entry


def w4(b: Bench, p: Dict[str, int]) -> Dict[str, Any]:
    out: Dict[str, Any] = {"name": "W4 large payload round trips", "unit": "MB/s", "sizes": {}}
    impls = ["c", "gearman_xs", "gearman_xs-clamped"] + (["perl"] if b.perl_ok else [])
    for size, count in ((p["w4_small"], p["w4_small_count"]), (p["w4_large"], p["w4_large_count"])):
        key = f"{size // KIB} KiB" if size < MIB else f"{size // MIB} MiB"
        out["sizes"][key] = _w4_size(b, impls, size, count, p["w4_runs"])
    if not b.perl_ok:
        out["perl"] = "skipped: Perl's Gearman::Client/Gearman::Worker not installed (libgearman-client-perl)"
    large = [k for k in out["sizes"] if k.endswith("MiB")]
    out["ratio"] = out["sizes"][large[-1]]["ratio"] if large else None
    out["met"] = all(e["met"] for e in out["sizes"].values())
    return out


def w5(b: Bench, p: Dict[str, int]) -> Dict[str, Any]:
    n = p["w5"]

    def one(impl: str) -> float:
        b.client("c", "background", n, 100)
        worker = b.start_worker(impl, n)
        try:
            wres = b.finish_worker(worker)
        finally:
            b.stop_worker(worker)
        b.wait_until_no_workers()
        if b.queue()[:2] != (0, 0):
            raise BenchError(f"W5: queue not empty after the drain: {b.queue()}")
        return float(n / wres["seconds"])

    return _compare("W5 worker drains a queue the C client filled", "jobs/s",
                    _alternate(p["runs"], ["c", "gearman_xs"], one), 0.95)


def threads(b: Bench, p: Dict[str, int]) -> Dict[str, Any]:
    n = p["threads"]
    rates: Dict[str, List[float]] = {"1": [], "2": []}
    for i in range(max(1, min(3, p["runs"]))):
        for k in (("1", "2") if i % 2 == 0 else ("2", "1")):
            worker = b.start_worker("c", 0)
            try:
                res = b.threads(int(k), n, 100)
            finally:
                b.stop_worker(worker)
                b.wait_until_no_workers()
            rates[k].append(res["count"] / res["seconds"])
    r1, r2 = _median(rates["1"]), _median(rates["2"])
    ratio = _ratio(r2, r1)
    return {"name": "threads: 2 threads x 1 Client vs 1 thread (W1, C worker)", "unit": "jobs/s",
            "one_thread": _summary(rates["1"]), "two_threads": _summary(rates["2"]),
            "ratio": ratio, "target": ">= 1.5", "met": None if ratio is None else ratio >= 1.5}


def soak(b: Bench, p: Dict[str, int]) -> Dict[str, Any]:
    n, warm = p["soak"], p["soak_warmup"]
    limit = 2 * 1024
    out: Dict[str, Any] = {"name": f"soak: RSS growth over {n} jobs after {warm} warm-up jobs", "unit": "KiB"}
    res, _ = b.pair("gearman_xs", "c", "do", n, 100, worker_count=n + warm,
                    client_env={"BENCH_WARMUP": str(warm)})
    out["do"] = {"before_kib": res["rss_before_kib"], "after_kib": res["rss_after_kib"],
                 "growth_kib": res["rss_after_kib"] - res["rss_before_kib"]}
    res, _ = b.pair("gearman_xs", "c", "tasks", n, 100, worker_count=n + warm,
                    client_env={"BENCH_WARMUP": str(warm), "BENCH_BATCH": str(p["soak_batch"])})
    out["tasks"] = {"before_kib": res["rss_before_kib"], "after_kib": res["rss_after_kib"],
                    "growth_kib": res["rss_after_kib"] - res["rss_before_kib"]}
    # Fed with background jobs: one libgearman run_tasks() over 100,000 tasks is quadratic in
    # libgearman 1.1.20 (minutes of client CPU), so the C client submits them one by one.
    worker = b.start_worker("gearman_xs", n + warm, {"BENCH_WARMUP": str(warm)})
    try:
        b.client("c", "background", n + warm, 100)
        wres = b.finish_worker(worker)
    finally:
        b.stop_worker(worker)
    b.wait_until_no_workers()
    out["worker"] = {"before_kib": wres["rss_first_kib"], "after_kib": wres["rss_end_kib"],
                     "growth_kib": wres["rss_end_kib"] - wres["rss_first_kib"]}
    out["limit_kib"] = limit
    out["met"] = all(out[k]["growth_kib"] <= limit for k in ("do", "tasks", "worker"))
    out["ratio"] = max(out[k]["growth_kib"] for k in ("do", "tasks", "worker")) / limit
    return out


RUNNERS: Dict[str, Callable[[Bench, Dict[str, int]], Dict[str, Any]]] = {
    "W1": w1, "W1-client": w1_client, "W2": w2, "W3": w3, "W4": w4, "W5": w5, "threads": threads,
    "soak": soak,
}


# -- report ------------------------------------------------------------------------------------------------


def _fmt(v: Any, digits: int = 0) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return str(v)


def _mark(met: Optional[bool]) -> str:
    return "-" if met is None else ("met" if met else "MISSED")


HEADER = ("workload", "unit", "C", "gearman_xs", "ratio (paired)", "target")


def table(results: Dict[str, Any]) -> str:
    """The results as a plain-text table."""
    rows = table_rows(results)
    widths = [max(len(r[i]) for r in [HEADER, *rows]) for i in range(6)]
    lines = [" | ".join(h.ljust(widths[i]) for i, h in enumerate(HEADER)),
             "-+-".join("-" * wd for wd in widths)]
    lines += [" | ".join(c.ljust(widths[i]) for i, c in enumerate(r)) for r in rows]
    return "\n".join(lines)


def markdown(results: Dict[str, Any]) -> str:
    """The results as a Markdown table (for the README)."""
    rows = table_rows(results)
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in r) + " |" for r in rows]
    return "\n".join(lines)


def table_rows(results: Dict[str, Any]) -> List[Tuple[str, str, str, str, str, str]]:
    rows: List[Tuple[str, str, str, str, str, str]] = []

    def cmp_row(entry: Dict[str, Any], digits: int = 0) -> None:
        ratio = _fmt(entry["ratio"], 2)
        if entry.get("paired_ratio") is not None and len(entry["c"]["runs"]) > 1:
            ratio += f" ({entry['paired_ratio']:.2f})"
        rows.append((entry["name"], entry["unit"], _fmt(entry["c"]["median"], digits),
                     _fmt(entry["gearman_xs"]["median"], digits), ratio,
                     f"{entry['target']}: {_mark(entry['met'])}"))

    w = results["workloads"]
    for key in ("W1", "W1-client"):
        if key in w and "error" not in w[key]:
            cmp_row(w[key])
            cmp_row(w[key]["cpu_per_job_us"], 1)
            kept = w[key].get("clamp_kept")
            if kept:
                rows.append(("W1, gearman_xs with libgearman's clamp kept", "jobs/s", "",
                             _fmt(kept["jobs/s"]["median"]), _fmt(kept["lifted_over_kept"], 2),
                             "lifted / kept: no change expected"))
    if "W2" in w and "error" not in w["W2"]:
        cmp_row(w["W2"])
        cmp_row(w["W2"]["drain"])
    for key in ("W3", "W5"):
        if key in w and "error" not in w[key]:
            cmp_row(w[key])
    if "W4" in w and "error" not in w["W4"]:
        for size, e in w["W4"]["sizes"].items():
            mbs = e["MB/s"]
            rows.append((f"W4 {size} round trip", "MB/s", _fmt(mbs["c"], 2), _fmt(mbs["gearman_xs"], 1),
                         _fmt(e["ratio"], 0), f">= 100: {_mark(e['ratio'] >= 100 if e['ratio'] else None)}"))
            rows.append((f"W4 {size}, gearman_xs with libgearman's clamp kept", "MB/s", "",
                         _fmt(mbs.get("gearman_xs-clamped"), 2), "", "(switch off)"))
            if "perl" in mbs:
                perl_target = ">= 1: " + _mark(e["ratio_vs_perl"] >= 1) if size.endswith("MiB") else ""
                rows.append((f"W4 {size}, Perl Gearman::Client/Worker (pure Perl)", "MB/s", "",
                             _fmt(mbs["perl"], 1), _fmt(e["ratio_vs_perl"], 2), perl_target))
            if "client_rss" in e:
                r = e["client_rss"]
                rows.append((f"W4 {size} client peak RSS - before", "MiB", "",
                             _fmt(r["peak_minus_before_kib"] / 1024, 1), "",
                             f"<= {r['limit_kib'] // 1024}: {_mark(r['met'])}"))
    if "threads" in w and "error" not in w["threads"]:
        t = w["threads"]
        rows.append((t["name"], t["unit"], _fmt(t["one_thread"]["median"]) + " (1 thread)",
                     _fmt(t["two_threads"]["median"]) + " (2 threads)", _fmt(t["ratio"], 2),
                     f"{t['target']}: {_mark(t['met'])}"))
    if "soak" in w and "error" not in w["soak"]:
        s = w["soak"]
        for k in ("do", "tasks", "worker"):
            rows.append((f"soak {k} RSS growth", "KiB", "", _fmt(s[k]["growth_kib"]), "",
                         f"<= {s['limit_kib']}: {_mark(s[k]['growth_kib'] <= s['limit_kib'])}"))
    for key, entry in w.items():
        if "error" in entry:
            rows.append((key, "", "", "", "", "ERROR: " + entry["error"][:80]))
    return rows


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small counts, one run: seconds, for CI")
    ap.add_argument("--runs", type=int, help="runs per implementation (medians are reported)")
    ap.add_argument("--only", help="comma-separated workloads: " + ",".join(WORKLOADS))
    ap.add_argument("--json", help="where to write the results (default benchmarks/results/latest.json)")
    ap.add_argument("--markdown", metavar="JSON", help="print a results JSON file as a Markdown table")
    args = ap.parse_args(argv)
    if args.markdown:
        with open(args.markdown) as f:
            print(markdown(json.load(f)))
        return 0
    params = dict(QUICK if args.quick else FULL)
    if args.runs:
        params["runs"] = args.runs
        params["w4_runs"] = min(args.runs, params["w4_runs"]) if not args.quick else args.runs
    selected = args.only.split(",") if args.only else WORKLOADS
    unknown = [w for w in selected if w not in RUNNERS]
    if unknown:
        ap.error(f"unknown workload(s): {', '.join(unknown)}")
    json_path = args.json or os.path.join(HERE, "results", "latest.json")

    started = time.monotonic()
    results: Dict[str, Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "quick": args.quick, "params": params,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(), "libgearman": gearman_xs.version(),
                    "socket_buffers": gearman_xs.socket_buffers.status().name,
                    "loadavg_start": _loadavg()},
        "workloads": {},
    }
    bindir = tempfile.mkdtemp(prefix="gearman_xs-bench-")
    try:
        compile_c(bindir)
        with Gearmand(verbose="ERROR") as server:
            results["machine"]["gearmand"] = server.admin("version").strip()
            bench = Bench(server, bindir)
            for name in selected:
                t0 = time.monotonic()
                load = _loadavg()
                print(f"[{name}] running (load {load}) ...", file=sys.stderr, flush=True)
                try:
                    entry = RUNNERS[name](bench, params)
                except (BenchError, subprocess.TimeoutExpired, KeyError, ValueError) as exc:
                    entry = {"error": f"{type(exc).__name__}: {exc}", "ratio": None, "met": False}
                entry["seconds"] = round(time.monotonic() - t0, 1)
                entry["loadavg_start"] = load
                results["workloads"][name] = entry
    finally:
        shutil.rmtree(bindir, ignore_errors=True)
    results["machine"]["loadavg_end"] = _loadavg()
    results["seconds"] = round(time.monotonic() - started, 1)
    os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
    with open(json_path, "w") as f:
        json.dump(results, f, indent=2)
    print(table(results))
    print(f"\n{results['seconds']} s, load {results['machine']['loadavg_start']} -> "
          f"{results['machine']['loadavg_end']}; JSON: {json_path}")
    return 1 if any("error" in e for e in results["workloads"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
