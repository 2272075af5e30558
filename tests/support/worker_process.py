"""The worker process of the Client tests: a ``gearman_xs.Worker`` (so the Client tests also exercise
the Python Worker end to end). Run as ``python worker_process.py SERVERS [PREFIX]``; it registers the
functions of ``support.functions.CLIENT_FUNCTIONS`` (names prefixed with PREFIX) and works until
SIGTERM/SIGINT (``Worker.run()`` finishes the current job first) or until the test process dies.

It runs in its own process, not in a thread of the test process: the Client tests send SIGINT to
their own process, kill and restart servers, and time parallel jobs, none of which should reach or
wait on the worker. No test needs a raw libgearman worker any more (every packet the Client tests
rely on, WORK_DATA/STATUS/WARNING/FAIL/EXCEPTION, is sent through ``gearman_xs.Job``); the tests
that need exact packets are the Worker's own, with the raw-protocol client of support/protocol.py.

``serve()`` is the body of the other worker processes too (failover_worker.py, fault_worker.py).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any, Callable, Dict

# Run as a script: import the support package from its parent, tests/, instead of this directory.
sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from gearman_xs import Job, Worker  # noqa: E402
from support.functions import CLIENT_FUNCTIONS  # noqa: E402


def serve(servers: str, functions: Dict[str, Callable[[Job], Any]], ready: bool = True) -> None:
    """The body of every worker process of the tests: a Worker on ``servers`` serving
    ``functions`` (name -> function) until SIGTERM/SIGINT or until the test process dies (it stops
    when it becomes an orphan); prints ``ready`` once registered, with ``ready``."""
    with Worker() as worker:
        worker.add_servers(servers)
        for name, fn in functions.items():
            worker.add_function(name, 0, fn)

        def stop_when_orphaned() -> None:
            while os.getppid() != 1:  # the test process died: do not outlive it
                time.sleep(0.5)
            worker.stop()

        threading.Thread(target=stop_when_orphaned, daemon=True).start()
        if ready:
            print("ready", flush=True)
        worker.run()


def main() -> None:
    servers = sys.argv[1]
    prefix = sys.argv[2] if len(sys.argv) > 2 else ""
    serve(servers, {prefix + name: fn for name, fn in CLIENT_FUNCTIONS.items()})


if __name__ == "__main__":
    main()
