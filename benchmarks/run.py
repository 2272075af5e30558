#!/usr/bin/env python3
"""Benchmarks: gearman_xs against C programs on the same libgearman, in the same run.

    python benchmarks/run.py            # full run (several minutes), table + benchmarks/results/latest.json
    python benchmarks/run.py --quick    # seconds: the CI smoke run (CI does not judge the numbers)
    python benchmarks/run.py --only W1,W4 --runs 3 --json /tmp/out.json
    python benchmarks/run.py --compare main~1 [--new REV] [--quick]   # old vs new gearman_xs, new / old

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
  user     the user-shaped pair (user_client, user_worker in C and Python): W1 own/C worker, W2
           submit/drain, W3, client CPU per job (see user.py)

--compare REV builds REV's gearman_xs and this checkout's (tracked files, uncommitted changes
included; --new REV for another revision) into temporary venvs and runs both alternately: see
compare.py.

The parts: harness.py (processes and the C programs), workloads.py (W1-W5, threads, soak),
stats.py (medians and ratios), report.py (the tables); this file is the command line.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional

import compare
from harness import HERE, Bench, BenchError, Gearmand, compile_c, gearman_xs
from report import markdown, table
from stats import loadavg
from workloads import FULL, QUICK, RUNNERS, WORKLOADS


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small counts, one run: seconds, for CI")
    ap.add_argument("--runs", type=int, help="runs per implementation (medians are reported)")
    ap.add_argument("--only", help="comma-separated workloads: " + ",".join(WORKLOADS))
    ap.add_argument("--json", help="where to write the results (default benchmarks/results/latest.json)")
    ap.add_argument("--markdown", metavar="JSON", help="print a results JSON file as a Markdown table")
    ap.add_argument("--compare", metavar="REV", help="old gearman_xs: a git revision to compare with")
    ap.add_argument("--new", metavar="REV", help="with --compare: new gearman_xs (default: this checkout)")
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
    json_path = args.json or os.path.join(HERE, "results", "compare.json" if args.compare else "latest.json")
    if args.compare:
        return _compare(args.compare, args.new, params, json_path, args.quick)

    started = time.monotonic()
    results: Dict[str, Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "quick": args.quick, "params": params,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(), "libgearman": gearman_xs.version(),
                    "socket_buffers": gearman_xs.socket_buffers.status().name,
                    "loadavg_start": loadavg()},
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
                load = loadavg()
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
    results["machine"]["loadavg_end"] = loadavg()
    results["seconds"] = round(time.monotonic() - started, 1)
    os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
    with open(json_path, "w") as f:
        json.dump(results, f, indent=2)
    print(table(results))
    print(f"\n{results['seconds']} s, load {results['machine']['loadavg_start']} -> "
          f"{results['machine']['loadavg_end']}; JSON: {json_path}")
    return 1 if any("error" in e for e in results["workloads"].values()) else 0


def _compare(old: str, new: Optional[str], params: Dict[str, Any], json_path: str, quick: bool) -> int:
    started = time.monotonic()
    results: Dict[str, Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "quick": quick, "params": params, "machine": {"cpus": os.cpu_count(), "loadavg_start": loadavg()},
    }
    bindir = tempfile.mkdtemp(prefix="gearman_xs-bench-")
    try:
        compile_c(bindir)
        with Gearmand(verbose="ERROR") as server:
            results.update(compare.main(Bench(server, bindir), old, new, params))
    finally:
        shutil.rmtree(bindir, ignore_errors=True)
    results["machine"]["loadavg_end"] = loadavg()
    results["seconds"] = round(time.monotonic() - started, 1)
    os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
    with open(json_path, "w") as f:
        json.dump(results, f, indent=2)
    print(compare.table(results["rows"], results["labels"]))
    print(f"\n{results['seconds']} s, load {results['machine']['loadavg_start']} -> "
          f"{results['machine']['loadavg_end']}; JSON: {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
