"""Each result reaches the task it belongs to while many are in flight (docs/versions.md).

libgearman 2.0.0 hands a result packet to the first task whose job handle is a prefix of the
packet's (``H:host:1`` takes ``H:host:10``'s result); 1.1.x matches the whole handle. This test
holds one job with a short handle in flight while later jobs with longer handles finish. It fails
on libgearman 2.0.0 until gearman_xs works around that bug.
"""

from __future__ import annotations

import subprocess
import sys

from support.polling import wait_for_workers

from gearman_xs import Client
from gearman_xs.testing import Gearmand

_WORKER = r"""
import sys, time
from gearman_xs import Worker
w = Worker()
w.add_servers(sys.argv[1])
def f(job):
    x = job.workload()
    if x == b"slow":
        time.sleep(2)
    return x
w.add_function("hm_echo", 0, f, None)
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        w.work()
    except Exception:
        time.sleep(0.05)
"""


def test_each_result_reaches_its_own_task() -> None:
    with Gearmand() as g:  # a fresh gearmand: job handles start at H:host:1
        procs = [subprocess.Popen([sys.executable, "-c", _WORKER, g.servers]) for _ in range(3)]
        try:
            wait_for_workers(g, ["hm_echo"], count=3, timeout=20)
            with Client() as c:
                c.add_servers(g.servers)
                workloads = [b"slow"] + [b"ok%d" % i for i in range(300)]
                out = c.map("hm_echo", workloads, return_exceptions=True, timeout=30)
            wrong = [(w, o) for w, o in zip(workloads, out) if o != w]
            assert wrong == []
        finally:
            for p in procs:
                p.kill()
                p.wait(timeout=10)

