"""A gearman_xs client written the way a user writes one (benchmarks/user.py, scale.py): default settings
(no set_timeout, no warm-up echo: the first job connects), the payload built per job, every result
checked. user_client.c is the same program in C; the arguments and the JSON line are the same.

    python user_client.py HOST PORT do|background|tasks COUNT SIZE [THREADS [DURATION START]]

THREADS (default 1) threads, each with its own Client. With DURATION > 0 (seconds) every thread
starts at START (a Unix time, so that several processes start together; "-": print "ready" on stderr
and read it from stdin) and runs do/background jobs until START + DURATION (COUNT caps the jobs per
thread; 0: no cap; at least one job). The payload of job i is i in decimal, zero-padded to SIZE bytes
(20 <= SIZE <= 4096).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any, List

import gearman_xs


def run(host: str, port: int, mode: str, count: int, size: int, duration: float, start: float,
        done: List[int], failures: List[int], i: int) -> None:
    time.sleep(max(0.0, start - time.monotonic()))
    client = gearman_xs.Client()
    client.add_server(host, port)
    if mode == "tasks":
        results: List[bytes] = []

        def on_complete(task: Any) -> None:
            results.append(task.data())

        client.set_complete_fn(on_complete)
        payloads = [b"%0*d" % (size, n) for n in range(count)]
        for payload in payloads:
            client.add_task("echo", payload)
        client.run_tasks()
        done[i] = len(results)
        failures[i] = count - len(set(results) & set(payloads))
    else:
        stop = start + duration
        n = 0
        while count == 0 or n < count:
            if duration > 0 and n > 0 and time.monotonic() >= stop:  # at least one job
                break
            payload = b"%0*d" % (size, n)
            try:
                if mode == "background":
                    client.do_background("echo", payload)
                elif client.do("echo", payload) != payload:
                    failures[i] += 1
            except gearman_xs.GearmanError as exc:
                print(f"{mode}: {exc}", file=sys.stderr)
                failures[i] += 1
            n += 1
        done[i] = n
    client.close()


def main(argv: List[str]) -> int:
    if len(argv) not in (5, 6, 8):
        print(__doc__, file=sys.stderr)
        return 2
    host, port, mode, count, size = argv[0], int(argv[1]), argv[2], int(argv[3]), int(argv[4])
    nthreads = int(argv[5]) if len(argv) >= 6 else 1
    duration = float(argv[6]) if len(argv) == 8 else 0.0
    if len(argv) == 8 and argv[7] == "-":  # "ready", then the start time comes on stdin
        print("ready", file=sys.stderr, flush=True)
        argv[7] = sys.stdin.readline()
    start = time.monotonic()
    if len(argv) == 8 and float(argv[7]) > 0:
        start += float(argv[7]) - time.time()
    if not 20 <= size <= 4096 or nthreads < 1 or (count <= 0 and duration <= 0):
        print("SIZE must be 20..4096, THREADS >= 1, COUNT > 0 unless DURATION is given", file=sys.stderr)
        return 2
    done, failures = [0] * nthreads, [0] * nthreads
    args = (host, port, mode, count, size, duration, start, done, failures)
    threads = [threading.Thread(target=run, args=(*args, i)) for i in range(1, nthreads)]
    for t in threads:
        t.start()
    time.sleep(max(0.0, start - time.monotonic()))
    begin = max(start, time.monotonic())  # a process that started late counts from its own start
    c0 = time.process_time()
    run(*args, 0)
    for t in threads:
        t.join()
    c1, t1 = time.process_time(), time.monotonic()
    print(json.dumps({"impl": "gearman_xs", "mode": mode, "threads": nthreads, "count": sum(done),
                      "size": size, "seconds": t1 - begin, "cpu": c1 - c0, "failures": sum(failures),
                      "late": begin - start}), flush=True)
    return 1 if sum(failures) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
