"""The README's demo: the Gearman::XS examples against a private gearmand, then everything stopped.

Starts gearmand on a free loopback port, starts reverse_worker.py, runs reverse_client.py and
reverse_client_cb.py against it (printing each command, its output and the worker's lines), then
stops the worker with SIGTERM and gearmand, and checks that neither is left running. The worker
also dies with this process (PR_SET_PDEATHSIG) if the demo is killed.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import shlex
import signal
import subprocess
import sys
import threading
from typing import IO, List

import gearman_xs
from gearman_xs.testing import Gearmand

HERE = os.path.dirname(os.path.abspath(__file__))


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG


def _command(name: str, args: List[str]) -> List[str]:
    print(f"$ {name} {shlex.join(args)}{' &' if name == 'reverse_worker.py' else ''}", flush=True)
    return [sys.executable, os.path.join(HERE, name), *args]


def _forward(stream: IO[bytes], lines: queue.Queue[str]) -> None:
    for raw in stream:
        lines.put(raw.decode("utf-8", "replace").rstrip("\n"))


def _show_worker_lines(lines: queue.Queue[str], expected: int) -> None:
    """Prints the worker's lines for the jobs just run (it prints one line per job)."""
    for _ in range(expected):
        try:
            print(f"  [worker] {lines.get(timeout=5)}", flush=True)
        except queue.Empty:
            return


def _run_client(name: str, args: List[str], worker_lines: queue.Queue[str], jobs: int) -> None:
    done = subprocess.run(_command(name, args), capture_output=True, check=False)
    sys.stdout.write(done.stdout.decode("utf-8", "replace"))
    sys.stdout.write(done.stderr.decode("utf-8", "replace"))
    _show_worker_lines(worker_lines, jobs)
    if done.returncode != 0:
        raise SystemExit(f"{name} exited with {done.returncode}")


def main() -> int:
    os.environ.pop("GEARMAN_SERVERS", None)
    with Gearmand() as server:
        print(f"gearmand {server.admin('version').split()[1]} running on {server.servers}")
        print(f"libgearman {gearman_xs.version()}, gearman_xs {gearman_xs.__version__}")
        where = ["-h", server.host, "-p", str(server.port)]

        worker = subprocess.Popen(
            _command("reverse_worker.py", where),
            stdout=subprocess.PIPE,
            preexec_fn=_die_with_parent,
        )
        try:
            assert worker.stdout is not None
            worker_lines: queue.Queue[str] = queue.Queue()
            reader = threading.Thread(target=_forward, args=(worker.stdout, worker_lines), daemon=True)
            reader.start()

            _run_client("reverse_client.py", [*where, "Hello World!"], worker_lines, 1)
            _run_client("reverse_client_cb.py", [*where, "Hello"], worker_lines, 10)

            print(f"$ kill -TERM {worker.pid}    # reverse_worker.py stops cleanly")
            worker.send_signal(signal.SIGTERM)
            code = worker.wait(timeout=10)
            reader.join(5)
            print(f"reverse_worker.py exited with {code}")
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        gearmand_pid = server.pid
    print("gearmand stopped")
    assert gearmand_pid is not None
    for pid in (worker.pid, gearmand_pid):
        if _running(pid):
            print(f"process {pid} is still running", file=sys.stderr)
            return 1
    print("no process left behind")
    return 0 if code == 0 else 1


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


if __name__ == "__main__":
    raise SystemExit(main())
