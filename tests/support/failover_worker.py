"""The worker process of tests/test_failover.py: ``python failover_worker.py SERVERS TAG LOG``.

Serves ``fo_where`` on SERVERS (usually one server, so that its TAG names the server a job came
from): each job appends ``TAG WORKLOAD`` as one line to LOG (O_APPEND: lines of several workers do
not mix) and returns TAG. ``fo_slow`` does the same after sleeping 0.2 s. Works until SIGTERM or
until the test process dies; reconnects to a restarted server by itself (``Worker.run()``).
"""

from __future__ import annotations

import os
import sys
import time

# Run as a script: import the support package from its parent, tests/, instead of this directory.
sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from gearman_xs import Job  # noqa: E402
from support.worker_process import serve  # noqa: E402


def main() -> None:
    servers, tag, log = sys.argv[1], sys.argv[2].encode(), sys.argv[3]
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def where(job: Job) -> bytes:
        os.write(fd, tag + b" " + job.workload() + b"\n")
        return tag

    def slow(job: Job) -> bytes:
        time.sleep(0.2)
        return where(job)

    serve(servers, {"fo_where": where, "fo_slow": slow}, ready=False)


if __name__ == "__main__":
    main()
