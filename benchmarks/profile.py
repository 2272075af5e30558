#!/usr/bin/env python3
"""Where a client's CPU per job goes: the user-shaped clients (user_client.c, user_client.py) running
sequential do() against the C worker, under valgrind's callgrind (instruction counts, independent of the
machine's load) and, with --tools perf, under ``perf record`` (CPU time, kernel included).

    python benchmarks/profile.py                    # callgrind, 500 and 2,000 jobs per client
    python benchmarks/profile.py --jobs 1000,6000 --tools perf,strace --impls c,gearman_xs --keep /tmp/prof

callgrind: each client runs twice (N1 and N2 jobs); the difference divided by N2 - N1 is the cost of one
job without the start-up (interpreter, imports, the first connect). Printed per object (libgearman,
libc, libpython, cffi's backend, gearman_xs's extension, ...) as self instructions per job, and the
inclusive instructions per job of the C entry points (gxs_acc_do, gearman_client_do, run_tasks,
add_task, the GIL hand-off). Under callgrind a client runs ~50x slower, so its replies are always
waiting when it polls: the counts are of the work, not of the waiting.

perf: ``perf record -g`` (cpu-clock: this VM has no hardware counters) on each client, printed as CPU
microseconds per job per object (kernel included; the same N2 - N1 difference). strace: system calls
per job. rusage: user and system CPU per job (getrusage, median of 5). The impls: user_client.c
("c"), user_client.py ("gearman_xs"), and profile_variants.py's "loop" (the user's loop alone),
"bare" (gearman_xs's C fast path called through cffi directly) and "client" (Client.do()); "tuned"
(bench_py.py, run.py's W1 client); "c-bg", "gearman_xs-bg" (the user clients' do_background(), the
C worker draining meanwhile); "c-worker", "gearman_xs-worker" (the user workers draining N jobs the
C client queued before each run: a loop over work()); "tuned-worker" (bench_py.py's worker, run.py's:
Worker.run(N) draining the same).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from typing import Any, Callable, Dict, List, Optional, Tuple

from harness import HERE, Bench, BenchError, Gearmand, compile_c

INCLUSIVE = ("gxs_acc_do", "gearman_client_do", "gearman_client_run_tasks", "gearman_client_add_task",
             "gearman_task_free", "_cffi_f_gxs_acc_do", "PyEval_SaveThread", "PyEval_RestoreThread",
             "gxs_acc_release", "gearman_client_set_complete_fn")

Costs = Tuple[Dict[str, int], Dict[Tuple[str, str], int], Dict[str, int], int]


def parse_callgrind(path: str) -> Costs:
    """(self Ir per object, self Ir per (object, function), inclusive Ir per function name, total)."""
    names: Dict[Tuple[str, str], str] = {}
    by_obj: Dict[str, int] = collections.Counter()
    by_fn: Dict[Tuple[str, str], int] = collections.Counter()
    incl: Dict[str, int] = collections.Counter()
    ob = fn = ""
    skip_next = False
    total = 0

    def name(kind: str, text: str) -> str:
        m = re.match(r"\((\d+)\)(?: (.*))?", text)
        if not m:
            return text
        if m.group(2) is not None:
            names[(kind, m.group(1))] = m.group(2)
        return names.get((kind, m.group(1)), text)

    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("ob="):
                ob = name("ob", line[3:])
            elif line.startswith("fn="):
                fn = name("fn", line[3:])
            elif line.startswith(("cob=", "cfi=", "cfl=")):
                if line.startswith("cob="):
                    name("ob", line[4:])
                else:
                    name("fl", line[4:])
            elif line.startswith(("fl=", "fi=", "fe=")):
                name("fl", line[3:])
            elif line.startswith("cfn="):
                name("fn", line[4:])
            elif line.startswith("calls="):
                skip_next = True
            elif line and (line[0].isdigit() or line[0] in "+-*"):
                parts = line.split()
                cost = int(parts[1]) if len(parts) > 1 else 0
                base = os.path.basename(ob)
                if skip_next:  # the inclusive cost of a call made by fn
                    skip_next = False
                    incl[fn] += cost
                else:
                    by_obj[base] += cost
                    by_fn[(base, fn)] += cost
                    incl[fn] += cost
                    total += cost
    return by_obj, by_fn, incl, total


def _group(obj: str) -> str:
    if obj.startswith("libgearman"):
        return "libgearman"
    if obj.startswith("_libgearman"):
        return "gearman_xs extension (shim + cffi wrappers)"
    if obj.startswith("_cffi_backend"):
        return "cffi backend"
    if obj.startswith(("libpython", "python3")):
        return "libpython (interpreter)"
    if obj.startswith(("libc.so", "libc-")):
        return "libc"
    if obj.startswith("ld-linux"):
        return "ld.so"
    if obj.startswith(("user_client", "user_worker", "bench_client")):
        return "the program"
    if obj.startswith("libuuid"):
        return "libuuid"
    return "other: " + obj


PERF_HZ = 4999  # cpu-clock samples per second of CPU
VARIANTS = ("loop", "bare", "client")  # profile_variants.py
# beyond the user-shaped do() clients ("c", "gearman_xs"): "tuned" is run.py's W1 client (bench_py.py:
# set_timeout, a warm-up echo); "c-bg"/"gearman_xs-bg" the user clients' do_background() (W2, the C
# worker drains meanwhile); "c-worker"/"gearman_xs-worker" the user workers draining N queued jobs
WORKERS = ("c-worker", "gearman_xs-worker", "tuned-worker")


def _cmd(b: Bench, impl: str, n: int) -> List[str]:
    if impl in VARIANTS:
        return [sys.executable, os.path.join(HERE, "profile_variants.py"), impl, b.host, b.port, "do", str(n),
                "100"]
    if impl == "tuned":
        return [sys.executable, os.path.join(HERE, "bench_py.py"), "client", b.host, b.port, "do", str(n),
                "100"]
    if impl == "tuned-worker":  # run.py's W1/W2/W5 worker: Worker.run(n)
        return [sys.executable, os.path.join(HERE, "bench_py.py"), "worker", b.host, b.port, str(n)]
    if impl in WORKERS:
        return b._user_cmd(impl.split("-")[0], "worker", str(n))
    if impl.endswith("-bg"):
        return b._user_cmd(impl.split("-")[0], "client", "background", str(n), "100")
    return b._user_cmd(impl, "client", "do", str(n), "100")


def _env(b: Bench, impl: str) -> Dict[str, str]:
    env = b._env("gearman_xs" if impl in VARIANTS or impl.startswith("tuned") else impl.split("-")[0])
    env["PYTHONHASHSEED"] = "0"  # the same dict layouts in both runs of a difference
    return env


def _prepare(b: Bench, impl: str, n: int) -> None:
    """Before each run of a worker impl: the C client queues its n jobs (no other worker runs then)."""
    if impl in WORKERS:
        b.user_run("c", "background", n)


def strace(b: Bench, impl: str, jobs: Tuple[int, int], outdir: str) -> Dict[str, Any]:
    """System calls per job: (calls(N2) - calls(N1)) / (N2 - N1), from strace -c -f."""
    counts: List[Dict[str, int]] = []
    for n in jobs:
        out = os.path.join(outdir, f"strace.{impl}.{n}")
        _prepare(b, impl, n)
        subprocess.run(["strace", "-c", "-f", "-o", out, *_cmd(b, impl, n)], capture_output=True,
                       env=_env(b, impl), timeout=900, check=True)
        calls: Dict[str, int] = {}
        with open(out) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] != "total":
                    calls[parts[-1]] = int(parts[3])
        counts.append(calls)
    per = jobs[1] - jobs[0]
    diff = {k: (counts[1].get(k, 0) - counts[0].get(k, 0)) / per for k in set(counts[0]) | set(counts[1])}
    return {k: v for k, v in sorted(diff.items(), key=lambda kv: -kv[1]) if abs(v) >= 0.01}


def rusage(b: Bench, impl: str, jobs: Tuple[int, int], outdir: str) -> Dict[str, Any]:
    """User and system CPU microseconds per job (getrusage of the child: the difference of the two job
    counts, median of 5 pairs)."""
    per = jobs[1] - jobs[0]
    user: List[float] = []
    system: List[float] = []
    for _ in range(5):
        got = []
        for n in jobs:
            _prepare(b, impl, n)
            proc = subprocess.Popen(_cmd(b, impl, n), stdout=subprocess.DEVNULL, env=_env(b, impl))
            _, status, ru = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            if proc.returncode != 0:
                raise BenchError(f"{impl} {n} jobs exited {proc.returncode}")
            got.append((ru.ru_utime, ru.ru_stime))
        user.append((got[1][0] - got[0][0]) / per * 1e6)
        system.append((got[1][1] - got[0][1]) / per * 1e6)
    return {"user_us": sorted(user)[2], "system_us": sorted(system)[2], "user_runs": user,
            "system_runs": system}


def callgrind(b: Bench, impl: str, jobs: Tuple[int, int], outdir: str) -> Dict[str, Any]:
    runs: List[Costs] = []
    for n in jobs:
        out = os.path.join(outdir, f"callgrind.{impl}.{n}")
        _prepare(b, impl, n)
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *_cmd(b, impl, n)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(b, impl), timeout=1800,
                              check=False)
        if proc.returncode != 0:
            raise BenchError(f"callgrind {impl} {n}: {proc.stderr[-1500:]}")
        runs.append(parse_callgrind(out))
    (o1, f1, i1, t1), (o2, f2, i2, t2) = runs
    per = jobs[1] - jobs[0]
    groups: Dict[str, float] = collections.defaultdict(float)
    for obj in set(o1) | set(o2):
        groups[_group(obj)] += (o2.get(obj, 0) - o1.get(obj, 0)) / per
    fns = {k: (f2.get(k, 0) - f1.get(k, 0)) / per for k in set(f1) | set(f2)}
    top = sorted(fns.items(), key=lambda kv: -kv[1])[:25]
    incl = {k: (i2.get(k, 0) - i1.get(k, 0)) / per for k in INCLUSIVE if i2.get(k)}
    return {"instructions_per_job": (t2 - t1) / per, "by_object": dict(groups),
            "top_self": [(f"{fn} [{obj}]", v) for (obj, fn), v in top], "inclusive": incl}


def _perf_once(b: Bench, impl: str, n: int, outdir: str) -> Tuple[Dict[str, int], Dict[str, Any]]:
    data = os.path.join(outdir, f"perf.{impl}.{n}.data")
    _prepare(b, impl, n)
    proc = subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", str(PERF_HZ), "-g", "-o", data,
                           "--", *_cmd(b, impl, n)], capture_output=True, text=True,
                          env=_env(b, impl), timeout=900, check=False)
    if proc.returncode != 0:
        raise BenchError(f"perf record {impl}: {proc.stderr[-1500:]}")
    report = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children", "--sort", "dso", "-n",
                             "-g", "none"], capture_output=True, text=True, check=False).stdout
    samples: Dict[str, int] = {}
    for line in report.splitlines():
        m = re.match(r"\s+[\d.]+%\s+(\d+)\s+(\S+)", line)
        if m:
            samples[m.group(2)] = int(m.group(1))
    res = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    return samples, (json.loads(res[-1]) if res else {})


def perf_record(b: Bench, impl: str, jobs: Tuple[int, int], outdir: str) -> Dict[str, Any]:
    """CPU microseconds per job per object: (samples(N2) - samples(N1)) / (N2 - N1) / PERF_HZ."""
    (s1, r1), (s2, r2) = (_perf_once(b, impl, n, outdir) for n in jobs)
    per = jobs[1] - jobs[0]
    us = {dso: (s2.get(dso, 0) - s1.get(dso, 0)) / per / PERF_HZ * 1e6 for dso in set(s1) | set(s2)}
    return {"us_per_job": dict(sorted(us.items(), key=lambda kv: -kv[1])),
            "cpu_per_job_us": (r2["cpu"] - r1["cpu"]) / per * 1e6,
            "wall_per_job_us": (r2["seconds"] - r1["seconds"]) / per * 1e6}


def _report(impl: str, tool: str, res: Dict[str, Any], jobs: Tuple[int, int]) -> None:
    span = f"({jobs[1]} - {jobs[0]} jobs)"
    if tool == "callgrind":
        print(f"\n== {impl}: callgrind, {res['instructions_per_job']:,.0f} user-space instructions per job "
              f"{span}")
        for group, v in sorted(res["by_object"].items(), key=lambda kv: -kv[1]):
            if abs(v) >= 1:
                print(f"  {v:>10,.0f}  {group}")
        print("  inclusive per job:")
        for fn, v in res["inclusive"].items():
            print(f"  {v:>10,.0f}  {fn}")
        print("  top functions (self) per job:")
        for fn, v in res["top_self"]:
            print(f"  {v:>10,.0f}  {fn}")
    elif tool == "perf":
        print(f"\n== {impl}: perf record, CPU {res['cpu_per_job_us']:.1f} us/job, wall "
              f"{res['wall_per_job_us']:.1f} us/job {span}; CPU us/job per object:")
        for dso, v in res["us_per_job"].items():
            if abs(v) >= 0.05:
                print(f"  {v:8.2f}  {dso}")
    elif tool == "rusage":
        print(f"\n== {impl}: getrusage, CPU per job {span}, median of 5: user {res['user_us']:.1f} us, "
              f"system {res['system_us']:.1f} us")
    else:
        print(f"\n== {impl}: strace -c -f, system calls per job {span}:")
        print("  " + ", ".join(f"{k} {v:.2f}" for k, v in res.items()))


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", default="500,2000", help="N1,N2 jobs per run (default 500,2000)")
    ap.add_argument("--tools", default="callgrind", help="callgrind, perf, strace, rusage (comma-separated)")
    ap.add_argument("--keep", help="keep the profiles in this directory")
    ap.add_argument("--impls", default="c,gearman_xs,loop,bare",
                    help="c, gearman_xs (user_client.c/.py), profile_variants.py's loop, bare, client; "
                    "tuned (bench_py.py, run.py's W1 client); c-bg, gearman_xs-bg (do_background); "
                    "c-worker, gearman_xs-worker (a worker draining the jobs the C client queued), "
                    "tuned-worker (bench_py.py's worker: Worker.run())")
    args = ap.parse_args(argv)
    n1, n2 = (int(x) for x in args.jobs.split(","))
    tools: Dict[str, Callable[[Bench, str, Tuple[int, int], str], Dict[str, Any]]] = {
        "callgrind": callgrind, "perf": perf_record, "strace": strace,
        "rusage": rusage}
    outdir = args.keep or tempfile.mkdtemp(prefix="gearman_xs-profile-")
    os.makedirs(outdir, exist_ok=True)
    bindir = tempfile.mkdtemp(prefix="gearman_xs-bench-")
    try:
        compile_c(bindir)
        with Gearmand(verbose="ERROR") as server:
            b = Bench(server, bindir)
            impls = args.impls.split(",")
            workers = b.user_workers("c", 0, procs=1)  # serves the clients
            try:
                for impl in [i for i in impls if i not in WORKERS]:
                    for tool in args.tools.split(","):
                        _report(impl, tool, tools[tool](b, impl, (n1, n2), outdir), (n1, n2))
            finally:
                for w in workers:
                    b.stop_worker(w)
            for impl in [i for i in impls if i in WORKERS]:  # each drains a queue nobody else takes
                for tool in args.tools.split(","):
                    _report(impl, tool, tools[tool](b, impl, (n1, n2), outdir), (n1, n2))
    finally:
        shutil.rmtree(bindir, ignore_errors=True)
        if not args.keep:
            shutil.rmtree(outdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
