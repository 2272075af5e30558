"""The worker process of the Client tests: a ``gearman_xs.Worker`` (so the Client tests also exercise
the Python Worker end to end). Run as ``python worker_process.py SERVERS [PREFIX]``; it registers the
functions of ``support.functions.CLIENT_FUNCTIONS`` (names prefixed with PREFIX) and works until
SIGTERM/SIGINT (``Worker.run()`` finishes the current job first) or until the test process dies.

It runs in its own process, not in a thread of the test process: the Client tests send SIGINT to
their own process, kill and restart servers, and time parallel jobs, none of which should reach or
wait on the worker. No test needs a raw libgearman worker any more (every packet the Client tests
rely on, WORK_DATA/STATUS/WARNING/FAIL/EXCEPTION, is sent through ``gearman_xs.Job``); the tests
that need exact packets are the Worker's own, with the raw-protocol client of support/protocol.py.
"""

from __future__ import annotations

import os
import sys
import threading
import time

# Run as a script: import the support package from its parent, tests/, instead of this directory.
sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from gearman_xs import Worker  # noqa: E402
from support.functions import CLIENT_FUNCTIONS  # noqa: E402


def _stop_when_orphaned(worker: Worker) -> None:
    while os.getppid() != 1:  # the test process died: do not outlive it
        time.sleep(0.5)
    worker.stop()


def main() -> None:
    servers = sys.argv[1]
    prefix = sys.argv[2] if len(sys.argv) > 2 else ""
    with Worker() as worker:
        worker.add_servers(servers)
        for name, fn in CLIENT_FUNCTIONS.items():
            worker.add_function(prefix + name, 0, fn)
        threading.Thread(target=_stop_when_orphaned, args=(worker,), daemon=True).start()
        print("ready", flush=True)
        worker.run()


if __name__ == "__main__":
    main()
