"""A gearman_xs worker written the way a user writes one (benchmarks/user.py, scale.py): default settings,
a loop on work(), function "echo" returns its workload. user_worker.c is the same program in C; the
arguments and the JSON line are the same.

    python user_worker.py HOST PORT COUNT [THREADS]

THREADS (default 1) threads, each with its own Worker. After COUNT jobs in all (0: never; stop it
with a signal) the process prints one JSON line (jobs, wall and CPU seconds from the start of the first
job to the end of the last) and exits.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any, List

import gearman_xs

lock = threading.Lock()
jobs = 0
first: List[float] = []


def echo(job: Any) -> bytes:
    if not first:
        first.extend((time.monotonic(), time.process_time()))
    return job.workload()  # type: ignore[no-any-return]


def run(host: str, port: int, count: int, nthreads: int) -> None:
    global jobs
    worker = gearman_xs.Worker()
    worker.add_server(host, port)
    worker.add_function("echo", 0, echo)
    while True:
        worker.work()
        with lock:
            jobs += 1
            if jobs != count:
                continue
        wall, cpu = time.monotonic(), time.process_time()
        print(json.dumps({"impl": "gearman_xs", "mode": "worker", "threads": nthreads, "count": count,
                          "seconds": wall - first[0], "cpu": cpu - first[1]}), flush=True)
        os._exit(0)  # the other threads wait in work(): a user's worker ends on a signal


def main(argv: List[str]) -> int:
    if len(argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    host, port, count = argv[0], int(argv[1]), int(argv[2])
    nthreads = int(argv[3]) if len(argv) == 4 else 1
    threads = [threading.Thread(target=run, args=(host, port, count, nthreads), daemon=True)
               for _ in range(1, nthreads)]
    for t in threads:
        t.start()
    run(host, port, count, nthreads)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
