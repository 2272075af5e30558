"""gearman_xs side of benchmarks/run.py: the same measurements as bench_client.c / bench_worker.c.

    python bench_py.py client HOST PORT do|background|tasks COUNT SIZE
    python bench_py.py worker HOST PORT COUNT
    python bench_py.py threads HOST PORT THREADS COUNT SIZE

Each prints one JSON line with the same fields as the C programs. Environment:
BENCH_FUNCTION (default "echo"); BENCH_WARMUP: jobs run before the measured loop (client: do()
round trips; worker: jobs before its first RSS sample); BENCH_BATCH (tasks: add_task() this many,
run_tasks(), repeat; default all COUNT in one run_tasks()).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any, Dict, List, Optional

import gearman_xs


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def _reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _payload(size: int) -> bytes:
    block = bytes(ord("a") + (i * 7) % 26 for i in range(4096))
    return (block * (size // len(block) + 1))[:size]


FUNCTION = os.environ.get("BENCH_FUNCTION") or "echo"
WARMUP = int(os.environ.get("BENCH_WARMUP") or 0)


def _client(host: str, port: int) -> gearman_xs.Client:
    client = gearman_xs.Client()
    client.add_server(host, port)
    client.set_timeout(600000)
    client.echo(b"x")  # connect outside the loop
    return client


def _tasks(client: gearman_xs.Client, payload: bytes, count: int, batch: int) -> int:
    """``count`` add_task() in batches of ``batch``, one run_tasks() per batch; returns failures."""
    completed = 0
    bad = 0

    def on_complete(task: Any) -> None:
        nonlocal completed, bad
        completed += 1
        if task.data() != payload:
            bad += 1

    client.set_complete_fn(on_complete)
    done = 0
    while done < count:
        n = min(batch, count - done)
        for _ in range(n):
            client.add_task(FUNCTION, payload)
        client.run_tasks()
        done += n
    return bad + (count - completed)


def client_main(host: str, port: int, mode: str, count: int, size: int) -> int:
    payload = _payload(size)
    client = _client(host, port)
    batch = int(os.environ.get("BENCH_BATCH") or count)
    if WARMUP:  # the same calls as the measured loop, before the first RSS sample
        if mode == "tasks":
            _tasks(client, payload, WARMUP, min(batch, WARMUP))
        else:
            for _ in range(WARMUP):
                client.do(FUNCTION, payload)
    failures = 0
    times: Optional[List[float]] = [] if mode == "do" and count <= 1000 else None
    now = time.perf_counter
    rss_before = _status_kib("VmRSS")
    _reset_peak()
    t0, c0 = now(), time.process_time()
    if mode == "do":
        do = client.do
        if times is not None:
            for _ in range(count):
                s = now()
                result = do(FUNCTION, payload)
                times.append(now() - s)
                if result != payload:
                    failures += 1
                del result  # as the C program frees it: not alive during the next call
        else:
            for _ in range(count):
                if do(FUNCTION, payload) != payload:
                    failures += 1
    elif mode == "background":
        submit = client.do_background
        for _ in range(count):
            if not submit(FUNCTION, payload):
                failures += 1
    elif mode == "tasks":
        failures = _tasks(client, payload, count, batch)
    else:
        raise SystemExit(f"unknown mode {mode}")
    c1, t1 = time.process_time(), now()
    report: Dict[str, Any] = {
        "impl": "gearman_xs", "mode": mode, "count": count, "size": size, "seconds": t1 - t0,
        "cpu": c1 - c0, "rss_before_kib": rss_before, "rss_peak_kib": _status_kib("VmHWM"),
        "rss_after_kib": _status_kib("VmRSS"), "failures": failures,
        "clamp_lifted": gearman_xs.socket_buffers.clamp_lifted(),
    }
    if times is not None:
        report["times"] = times
    print(json.dumps(report), flush=True)
    client.close()
    return 1 if failures else 0


def worker_main(host: str, port: int, count: int) -> int:
    jobs = 0
    first_wall = first_cpu = 0.0
    rss_warm = -1

    def echo(job: Any) -> bytes:
        nonlocal jobs, first_wall, first_cpu, rss_warm
        if jobs == 0:
            first_wall, first_cpu = time.perf_counter(), time.process_time()
        jobs += 1
        if jobs == max(WARMUP, 1):
            rss_warm = _status_kib("VmRSS")
        return job.workload()  # type: ignore[no-any-return]

    worker = gearman_xs.Worker()
    worker.add_server(host, port)
    worker.add_function(FUNCTION, 0, echo)
    worker.echo(b"x")
    print("ready", file=sys.stderr, flush=True)
    worker.run(count or None)
    end_wall, end_cpu = time.perf_counter(), time.process_time()
    print(json.dumps({
        "impl": "gearman_xs", "mode": "worker", "count": jobs,
        "seconds": end_wall - first_wall if jobs else 0.0, "cpu": end_cpu - first_cpu if jobs else 0.0,
        "rss_first_kib": rss_warm, "rss_end_kib": _status_kib("VmRSS"), "rss_peak_kib": _status_kib("VmHWM"),
        "clamp_lifted": gearman_xs.socket_buffers.clamp_lifted(),
    }), flush=True)
    worker.close()
    return 0


def threads_main(host: str, port: int, nthreads: int, count: int, size: int) -> int:
    payload = _payload(size)
    clients = [_client(host, port) for _ in range(nthreads)]
    failures = [0] * nthreads
    barrier = threading.Barrier(nthreads + 1)

    def loop(i: int) -> None:
        do = clients[i].do
        barrier.wait()
        for _ in range(count):
            if do(FUNCTION, payload) != payload:
                failures[i] += 1

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(nthreads)]
    for t in threads:
        t.start()
    barrier.wait()
    t0, c0 = time.perf_counter(), time.process_time()
    for t in threads:
        t.join()
    t1, c1 = time.perf_counter(), time.process_time()
    print(json.dumps({
        "impl": "gearman_xs", "mode": "threads", "threads": nthreads, "count": count * nthreads,
        "size": size, "seconds": t1 - t0, "cpu": c1 - c0, "failures": sum(failures),
    }), flush=True)
    for c in clients:
        c.close()
    return 1 if sum(failures) else 0


def main(argv: List[str]) -> int:
    if len(argv) >= 6 and argv[0] == "client":
        return client_main(argv[1], int(argv[2]), argv[3], int(argv[4]), int(argv[5]))
    if len(argv) == 4 and argv[0] == "worker":
        return worker_main(argv[1], int(argv[2]), int(argv[3]))
    if len(argv) == 6 and argv[0] == "threads":
        return threads_main(argv[1], int(argv[2]), int(argv[3]), int(argv[4]), int(argv[5]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
