"""The worker process of the fault suite: ``python fault_worker.py SERVERS TAG LOG``.

Serves ``ft_log`` (appends ``done TAG WORKLOAD`` to LOG, returns ``TAG:WORKLOAD``) and ``ft_slow``
(appends ``start TAG WORKLOAD``, sleeps 0.3 s, then does what ft_log does), so the suite can count
every execution of every job (lost: never ``done``; duplicated: ``done`` more than once) and kill
a worker inside a job. LOG is opened O_APPEND: lines of several workers do not mix. Works until
SIGTERM or until the test process dies (``Worker.run()`` reconnects to restarted servers).
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

    def done(job: Job) -> bytes:
        os.write(fd, b"done " + tag + b" " + job.workload() + b"\n")
        return tag + b":" + job.workload()

    def slow(job: Job) -> bytes:
        os.write(fd, b"start " + tag + b" " + job.workload() + b"\n")
        time.sleep(0.3)
        return done(job)

    serve(servers, {"ft_log": done, "ft_slow": slow})


if __name__ == "__main__":
    main()
