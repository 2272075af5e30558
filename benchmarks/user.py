"""The user-shaped workloads (issue 15): user_client/user_worker, in C and in Python, written the way a user
writes them (default settings, no set_timeout, no warm-up echo, the first job connecting, the payload
built per job), independent of bench_py.py's tuned path.

Each step runs one impl's programs and returns its metrics; ``user()`` runs the steps for C and
gearman_xs alternately (run.py's ``user`` workload) and judges the ratios gearman_xs / C against the
targets of issue 15. run.py --compare runs the same steps for two builds of gearman_xs.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, Dict, List, Optional, Tuple

from harness import Bench, BenchError
from stats import alternate_steps, compare

Step = Callable[[str], Dict[str, float]]

# metric -> (row title, unit, target for gearman_xs / C, higher is better)
METRICS: Dict[str, Tuple[str, str, float, bool]] = {
    "w1": ("user W1 sequential do() 100 B, own worker", "jobs/s", 0.95, True),
    "w1_cpu": ("user W1 client CPU per job, own worker", "us", 1.15, False),
    "w1c": ("user W1 sequential do() 100 B, C worker", "jobs/s", 0.95, True),
    "w1c_cpu": ("user W1 client CPU per job, C worker", "us", 1.15, False),
    "w2_submit": ("user W2 do_background() 100 B, no worker", "submits/s", 0.95, True),
    "w2_drain": ("user W2 one worker drains the queue", "jobs/s", 0.95, True),
    "w3": ("user W3 add_task() x N + run_tasks(), own worker", "jobs/s", 0.95, True),
}


def _finish_all(b: Bench, workers: List[Any]) -> List[Dict[str, Any]]:
    try:
        return [b.finish_worker(w, timeout=900) for w in workers]
    finally:
        for w in workers:
            b.stop_worker(w)
        b.wait_until_no_workers()


def w1(b: Bench, n: int, worker_impl: Optional[str], impl: str, prefix: str = "w1") -> Dict[str, float]:
    """n sequential do() served by one worker (the impl's own, or ``worker_impl``)."""
    workers = b.user_workers(worker_impl or impl, n)
    try:
        res = b.user_run(impl, "do", n)
    finally:
        _finish_all(b, workers)
    return {prefix: n / res["seconds"], prefix + "_cpu": res["cpu"] / n * 1e6}


def w2(b: Bench, n: int, impl: str) -> Dict[str, float]:
    """n do_background() with no worker, then the impl's worker drains them."""
    if b.queue()[0]:
        raise BenchError(f"queue not empty before user W2: {b.queue()}")
    res = b.user_run(impl, "background", n)
    if b.queue()[0] != n:
        raise BenchError(f"user W2: {b.queue()[0]} jobs queued after {n} submits")
    wres = _finish_all(b, b.user_workers(impl, n))[0]
    if b.queue()[:2] != (0, 0):
        raise BenchError(f"user W2: queue not empty after the drain: {b.queue()}")
    return {"w2_submit": n / res["seconds"], "w2_drain": n / wres["seconds"]}


def w3(b: Bench, n: int, impl: str) -> Dict[str, float]:
    """n add_task() and one run_tasks(), served by the impl's worker."""
    workers = b.user_workers(impl, n)
    try:
        res = b.user_run(impl, "tasks", n)
    finally:
        _finish_all(b, workers)
    return {"w3": n / res["seconds"]}


def steps(b: Bench, p: Dict[str, int], c_worker: Optional[str] = "c") -> List[Step]:
    """The steps of the user workload; ``c_worker`` serves the "C worker" W1 (None: skipped)."""
    out: List[Step] = [partial(w1, b, p["user_w1"], None)]
    if c_worker:
        out.append(partial(w1, b, p["user_w1"], c_worker, prefix="w1c"))
    out += [partial(w2, b, p["user_w2"]), partial(w3, b, p["user_w3"])]
    return out


def user(b: Bench, p: Dict[str, int]) -> Dict[str, Any]:
    values = alternate_steps(p["user_runs"], ["c", "gearman_xs"], steps(b, p))
    rows = {key: compare(title, unit, values[key], target, higher_is_better=higher)
            for key, (title, unit, target, higher) in METRICS.items() if key in values}
    return {"name": "user-shaped client/worker pair (user_client, user_worker)", "rows": rows,
            "counts": {"w1": p["user_w1"], "w2": p["user_w2"], "w3": p["user_w3"]},
            "ratio": rows["w1"]["ratio"], "met": all(r["met"] for r in rows.values())}
