#!/usr/bin/env python3
"""The asyncio benchmark: N concurrent ``await client.do()`` on one ``gearman_xs.aio.AsyncClient``
against one ``Client.run_tasks()`` over the same N tasks, and aiogear (the pure-Python asyncio
Gearman client on PyPI) in the same run.

    python benchmarks/aio.py [--jobs 1000] [--runs 5] [--workers 2] [--aiogear-python PATH]

Starts a private gearmand and ``--workers`` C workers (benchmarks/bench_worker.c, function "echo"
returns its workload, compiled against the same libgearman), then runs each mode in a process of
its own, one timed batch of ``--jobs`` jobs after a warm-up, modes alternating in a rotating order
for ``--runs`` rounds; the table shows each mode's median rate (jobs/s) and the median of the
per-round ratios against ``run_tasks``. Every result is checked against its workload: ``wrong``
counts results handed to the wrong await.

Modes:
  run_tasks     Client: add_task() x N, then one run_tasks()
  aio-gather    AsyncClient: asyncio.gather() of N ``client.do()`` coroutines
  aio-map       AsyncClient: ``await client.map(function, workloads)``
  aiogear       aiogear 0.2.6: N concurrent ``submit_job()`` + ``wait_job()`` on one connection, run by
                ``--aiogear-python`` (an interpreter with ``pip install aiogear``); skipped with the
                reason when it is not given or cannot import aiogear
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

MODES = ["run_tasks", "aio-gather", "aio-map", "aiogear"]
FUNCTION = "echo"


def workloads(n: int) -> List[bytes]:
    return [b"job-%06d-payload" % i for i in range(n)]


# -- the children: one timed batch each ----------------------------------------------------------


def child_run_tasks(port: int, n: int) -> Dict[str, Any]:
    from gearman_xs import Client

    with Client() as c:
        c.add_server("127.0.0.1", port)
        c.set_timeout(60000)
        for i in range(20):
            c.do(FUNCTION, b"warm-%d" % i)
        work = workloads(n)
        start = time.perf_counter()
        tasks = [c.add_task(FUNCTION, w) for w in work]
        c.run_tasks()
        seconds = time.perf_counter() - start
        wrong = sum(1 for t, w in zip(tasks, work) if t.data() != w)
    return {"seconds": seconds, "wrong": wrong}


def child_aio(port: int, n: int, how: str) -> Dict[str, Any]:
    from gearman_xs.aio import AsyncClient

    async def main() -> Dict[str, Any]:
        async with AsyncClient() as c:
            c.add_server("127.0.0.1", port)
            await asyncio.gather(*(c.do(FUNCTION, b"warm-%d" % i) for i in range(20)))
            work = workloads(n)
            start = time.perf_counter()
            if how == "gather":
                results = await asyncio.gather(*(c.do(FUNCTION, w) for w in work))
            else:
                results = await c.map(FUNCTION, work)
            seconds = time.perf_counter() - start
        return {"seconds": seconds, "wrong": sum(1 for r, w in zip(results, work) if r != w)}

    return asyncio.run(main())


def child_aiogear(port: int, n: int) -> Dict[str, Any]:
    from aiogear import Client  # type: ignore[import-not-found]

    async def main() -> Dict[str, Any]:
        loop = asyncio.get_running_loop()
        _, client = await loop.create_connection(lambda: Client(loop=loop), "127.0.0.1", port)

        async def do(w: bytes) -> Any:
            created = await client.submit_job(FUNCTION, w)
            return await client.wait_job(created.handle)

        for i in range(20):
            await do(b"warm-%d" % i)
        work = workloads(n)
        start = time.perf_counter()
        results = await asyncio.gather(*(do(w) for w in work))
        seconds = time.perf_counter() - start
        # aiogear hands each WORK_COMPLETE to the oldest waiting future, whatever its job handle
        wrong = sum(1 for r, w in zip(results, work) if getattr(r, "result", None) != w.decode())
        client.disconnect()
        return {"seconds": seconds, "wrong": wrong}

    return asyncio.run(main())


def child(mode: str, port: int, n: int) -> None:
    if mode == "run_tasks":
        out = child_run_tasks(port, n)
    elif mode == "aio-gather":
        out = child_aio(port, n, "gather")
    elif mode == "aio-map":
        out = child_aio(port, n, "map")
    elif mode == "aiogear":
        out = child_aiogear(port, n)
    else:
        raise SystemExit(f"unknown mode {mode}")
    out["rate"] = n / out["seconds"]
    print(json.dumps(out))


# -- the parent -----------------------------------------------------------------------------------


def run_child(python: str, mode: str, port: int, n: int, env: Dict[str, str]) -> Dict[str, Any]:
    proc = subprocess.run([python, os.path.abspath(__file__), "--child", mode, str(port), str(n)],
                          capture_output=True, text=True, env=env, timeout=300)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]}
    result: Dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def aiogear_problem(python: Optional[str]) -> Optional[str]:
    if not python:
        return "no --aiogear-python given (an interpreter with `pip install aiogear`)"
    code = "import aiogear, importlib.metadata as m; print(m.version('aiogear'))"
    proc = subprocess.run([python, "-c", code], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return f"{python} cannot import aiogear: {(proc.stderr.strip().splitlines() or ['?'])[-1]}"
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--aiogear-python", default=os.environ.get("AIOGEAR_PYTHON"))
    ap.add_argument("--json", help="write the raw results here")
    ap.add_argument("--child", nargs=3, metavar=("MODE", "PORT", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), int(args.child[2]))
        return 0

    import harness

    skip = {"aiogear": aiogear_problem(args.aiogear_python)}
    env = dict(os.environ)
    env.pop("GEARMAN_SERVERS", None)
    pkg_root = os.path.dirname(os.path.dirname(os.path.abspath(harness.gearman_xs.__file__)))
    env["PYTHONPATH"] = pkg_root
    pythons = {m: sys.executable for m in MODES}
    pythons["aiogear"] = args.aiogear_python or ""
    modes = [m for m in MODES if not skip.get(m)]
    rates: Dict[str, List[float]] = {m: [] for m in modes}
    wrong: Dict[str, int] = {m: 0 for m in modes}
    errors: Dict[str, List[str]] = {m: [] for m in modes}
    ratios: Dict[str, List[float]] = {m: [] for m in modes}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as bindir, harness.Gearmand() as server:
        harness.compile_c(bindir)
        argv = [os.path.join(bindir, "bench_worker"), "127.0.0.1", str(server.port), "0"]
        workers = [subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                   for _ in range(args.workers)]
        try:
            for w in workers:
                assert w.stderr is not None
                if "ready" not in w.stderr.readline():
                    raise SystemExit("the C worker did not start")
            for r in range(args.runs):
                order = modes[r % len(modes):] + modes[:r % len(modes)]
                this: Dict[str, float] = {}
                for mode in order:
                    out = run_child(pythons[mode], mode, server.port, args.jobs, env)
                    if "error" in out:
                        errors[mode].append(out["error"])
                        continue
                    rates[mode].append(out["rate"])
                    wrong[mode] += out["wrong"]
                    this[mode] = out["rate"]
                    print(f"run {r + 1} {mode:<11} {out['rate']:9.0f} jobs/s  wrong {out['wrong']}",
                          flush=True)
                for mode, rate in this.items():
                    if "run_tasks" in this:
                        ratios[mode].append(rate / this["run_tasks"])
        finally:
            for w in workers:
                w.terminate()
            for w in workers:
                w.wait(10)
    load_after = os.getloadavg()
    print()
    print(f"{args.jobs} jobs per run, {args.runs} runs alternating, {args.workers} C workers; "
          f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after")
    print(f"{'mode':<11} {'median jobs/s':>14} {'x run_tasks':>12} {'wrong':>6}  runs")
    for mode in modes:
        med = statistics.median(rates[mode]) if rates[mode] else float("nan")
        ratio = statistics.median(ratios[mode]) if ratios[mode] else float("nan")
        note = f"  errors: {errors[mode][:1]}" if errors[mode] else ""
        print(f"{mode:<11} {med:14.0f} {ratio:12.2f} {wrong[mode]:6d}  {len(rates[mode])}{note}")
    for mode, why in skip.items():
        if why:
            print(f"{mode:<11} not run: {why}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"jobs": args.jobs, "runs": args.runs, "rates": rates, "ratios": ratios, "wrong": wrong,
                       "errors": errors, "skipped": skip, "load": [load_before, load_after]}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
