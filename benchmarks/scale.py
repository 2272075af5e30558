"""Scale runs (run.py's ``scale`` workload, issue 15): total jobs/s of many clients and workers against
one gearmand, with the user-shaped programs (user_client, user_worker), C and gearman_xs alternately.

* processes: N client processes x M worker processes (N, M in 1, 2, 4, 8; quick: 1, 2), each side
  of one kind (C with C, gearman_xs with gearman_xs). The clients start together (a common start time)
  (each prints "ready" once started, then gets a common start time) and run sequential do() of 100 B
  for a fixed time; the rate is the sum of the clients' rates. --quick: only N = M.
* client threads: one client process with T threads (1, 2, 4, 8), one Client / gearman_client_st
  each, against T C worker processes: Python threads against C pthreads.
* worker threads: one worker process with K threads (1, 2, 4), one Worker each, drains a queue the
  C client filled.

Target: gearman_xs's total jobs/s within 5 % of C's in each topology (ratio >= 0.95).
benchmarks/plot.py draws the curves from the JSON.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Dict, List

from harness import Bench, BenchError
from stats import alternate_steps, compare
from user import Step


def _processes(b: Bench, n: int, m: int, seconds: float, impl: str) -> Dict[str, float]:
    workers = b.user_workers(impl, 0, procs=m)
    try:
        clients = [b.user_client(impl, "do", 0, 100, 1, seconds) for _ in range(n)]
        b.go(clients)
        results = [b.finish_worker(c, timeout=120 + seconds) for c in clients]
    finally:
        for w in workers:
            b.stop_worker(w)
        b.wait_until_no_workers()
    if any(r.get("failures") for r in results):
        raise BenchError(f"scale {n}x{m} {impl}: failures {results}")
    return {f"{n}x{m}": sum(r["count"] / r["seconds"] for r in results)}


def _client_threads(b: Bench, t: int, seconds: float, impl: str) -> Dict[str, float]:
    workers = b.user_workers("c", 0, procs=t)
    try:
        client = b.user_client(impl, "do", 0, 100, t, seconds)
        b.go([client])
        res = b.finish_worker(client, timeout=120 + seconds)
    finally:
        for w in workers:
            b.stop_worker(w)
        b.wait_until_no_workers()
    if res.get("failures"):
        raise BenchError(f"scale client threads {t} {impl}: {res}")
    return {f"client_threads_{t}": res["count"] / res["seconds"]}


def _worker_threads(b: Bench, k: int, jobs: int, impl: str) -> Dict[str, float]:
    if b.queue()[0]:
        raise BenchError(f"queue not empty before the worker-threads drain: {b.queue()}")
    b.user_run("c", "background", jobs)
    workers = b.user_workers(impl, jobs, procs=1, threads=k)
    try:
        res = b.finish_worker(workers[0], timeout=600)
    finally:
        b.stop_worker(workers[0])
        b.wait_until_no_workers()
    if b.queue()[:2] != (0, 0):
        raise BenchError(f"worker threads {k}: queue not empty after the drain: {b.queue()}")
    return {f"worker_threads_{k}": jobs / res["seconds"]}


def scale(b: Bench, p: Dict[str, int]) -> Dict[str, Any]:
    seconds = p["scale_ms"] / 1000
    counts = [1, 2, 4, 8][: p["scale_max_log2"] + 1]
    steps: List[Step] = [partial(_processes, b, n, m, seconds) for n in counts for m in counts
                         if n == m or not p["scale_diagonal"]]
    steps += [partial(_client_threads, b, t, seconds) for t in counts]
    steps += [partial(_worker_threads, b, k, p["scale_drain"]) for k in counts[:3]]
    values = alternate_steps(p["scale_runs"], ["c", "gearman_xs"], steps)
    rows = {key: compare(key, "jobs/s", v, 0.95) for key, v in values.items()}
    procs = {k: r for k, r in rows.items() if "x" in k and not k.startswith(("client", "worker"))}
    ratios = [r["ratio"] for r in procs.values() if r["ratio"] is not None]
    return {"name": "scale: N client x M worker processes, threads (user-shaped, do() 100 B)",
            "unit": "jobs/s", "seconds_per_run": seconds, "counts": counts, "rows": rows,
            "ratio": min(ratios) if ratios else None, "target": ">= 0.95 x C in every topology",
            "met": all(r["met"] for r in rows.values())}
