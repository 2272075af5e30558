"""Workers that serve the test functions (support.functions) for the duration of a test:
a gearman_xs Worker in a thread of the test process (``WorkerThread``; ``PyWorker`` for the interop
functions), or worker processes of their own (``worker_processes``, for tests that send signals to
their own process, kill servers or time parallel jobs; ``TaggedWorkers``, one per server, whose
results and log name the server that ran each job)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, List, Optional, Sequence, Tuple

import gearman_xs
from gearman_xs.testing import Gearmand
from gearman_xs.worker import Worker
from support.functions import INTEROP_FUNCTIONS
from support.polling import wait_for_workers

WORKER_PROCESS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "worker_process.py")
FAILOVER_WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "failover_worker.py")


class WorkerThread:
    """Runs ``worker.run(handle_signals=False)`` in a thread; stops and joins it on exit."""

    def __init__(self, worker: Worker, count: Optional[int] = None) -> None:
        self.worker = worker
        self.done: Optional[int] = None
        self.error: Optional[BaseException] = None
        self.thread = threading.Thread(target=self._main, args=(count,), daemon=True)

    def _main(self, count: Optional[int]) -> None:
        try:
            self.done = self.worker.run(count, handle_signals=False)
        except BaseException as exc:  # reported by join()
            self.error = exc

    def __enter__(self) -> WorkerThread:
        self.thread.start()
        return self

    def join(self, timeout: float = 10.0) -> Any:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "worker thread did not stop"
        if self.error is not None:
            raise self.error
        return self.done

    def __exit__(self, *exc: object) -> None:
        self.worker.stop()
        self.thread.join(10.0)


@contextmanager
def worker_processes(server: Gearmand, prefix: str = "cx_", count: int = 1) -> Iterator[None]:
    """Runs ``count`` worker processes (worker_process.py: a gearman_xs Worker serving
    ``CLIENT_FUNCTIONS`` as PREFIX + name) for ``server`` until the block ends; waits until the
    server lists them."""
    procs = [
        subprocess.Popen([sys.executable, WORKER_PROCESS, server.servers, prefix], stdout=subprocess.DEVNULL)
        for _ in range(count)
    ]
    try:
        wait_for_workers(server, [prefix + "len"], count, timeout=15)
        yield
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)


class TaggedWorkers:
    """failover_worker.py processes, one per server (``start(tag, server)``), writing to one log: a
    job's result is the tag of the server that ran it, and the log counts how often each workload
    ran (duplicates and lost jobs)."""

    def __init__(self, tmp_path: Path) -> None:
        self.log = tmp_path / "runs.log"
        self.log.touch()
        self.procs: List[subprocess.Popen[bytes]] = []

    def start(self, tag: str, server: Gearmand) -> None:
        argv = [sys.executable, FAILOVER_WORKER, server.servers, tag, str(self.log)]
        self.procs.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL))
        self.wait_registered(server)

    @staticmethod
    def wait_registered(server: Gearmand) -> None:
        wait_for_workers(server, ["fo_where"])

    def runs(self) -> List[Tuple[str, str]]:
        """(tag, workload) of every job run so far, in order."""
        lines = self.log.read_text().splitlines()
        return [tuple(line.split(" ", 1)) for line in lines]  # type: ignore[misc]

    def counts(self) -> Counter[str]:
        return Counter(workload for _, workload in self.runs())

    def close(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.wait(10)

    def __enter__(self) -> TaggedWorkers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PyWorker:
    """A gearman_xs Worker serving ``PREFIX.NAME`` for the given functions in a thread, until stop()."""

    def __init__(self, server: Gearmand, functions: Optional[Sequence[str]] = None, prefix: str = "py",
                 identifier: Optional[str] = None, send_exceptions: bool = False, wait: bool = True) -> None:
        self.server = server
        self.names = [f"{prefix}.{f}" for f in (functions or INTEROP_FUNCTIONS)]
        self.worker = gearman_xs.Worker(send_exceptions=send_exceptions)
        self.error: Optional[BaseException] = None
        self.jobs = 0
        try:
            self.worker.add_servers(server.servers)
            if identifier is not None:
                self.worker.set_identifier(identifier)
            for name in self.names:
                self.worker.add_function(name, 0, INTEROP_FUNCTIONS[name.split(".", 1)[1]])
        except BaseException:
            self.worker.close()
            raise
        self.thread = threading.Thread(target=self._run, name=f"PyWorker {prefix}", daemon=True)
        self.thread.start()
        if wait:
            wait_for_workers(server, self.names)

    def _run(self) -> None:
        try:
            self.jobs = self.worker.run(handle_signals=False)
        except BaseException as exc:  # reported by stop()
            self.error = exc

    def stop(self) -> None:
        self.worker.stop()
        self.thread.join(10)
        alive = self.thread.is_alive()
        if not alive:
            self.worker.close()
        assert not alive, "the Python worker did not stop within 10 s"
        if self.error is not None:
            raise AssertionError(f"the Python worker's run() raised {self.error!r}") from self.error

    def __enter__(self) -> PyWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
