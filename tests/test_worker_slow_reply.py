"""A Worker receiving a reply that arrives slowly: libgearman 1.1.20 crashes (SIGSEGV) when its poll
times out inside a reply (it frees the job the connection is still receiving into), which the
Worker's 200 ms poll slices made likely: a job payload arriving in pieces more than 200 ms apart, a
server slower than that to answer GRAB_JOB. The packet guard waits for the reply inside recv()
during Worker calls (net_guard.c). Each case runs in a child process: a crash must not take pytest
down."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from support.timing import Stopwatch

HERE = os.path.dirname(os.path.abspath(__file__))

CHILD = r"""
import sys, time
from support import protocol as w
from support.fake_server import FakeServer
from gearman_xs import Worker

gap, stall = float(sys.argv[1]), sys.argv[2] == "stall"
job = w.packet(w.JOB_ASSIGN_ALL, b"H:x:1", b"f", b"u", b"", b"payload")
if stall:
    job = job[:20]          # half a packet, then nothing
seen = set()

def policy(command, args, index):
    if command in w.GRABS and index not in seen:
        seen.add(index)
        return job, False
    return None

with FakeServer(policy, dribble=gap, piece=8) as server:
    worker = Worker()
    worker.add_server("127.0.0.1", server.port)
    worker.add_function("f", 0, lambda j: b"done:" + j.workload())
    print("ready", flush=True)
    try:
        print("work", worker.work(), flush=True)
    except KeyboardInterrupt:
        print("KeyboardInterrupt", flush=True)
        sys.exit(3)
"""


def _child(gap: float, mode: str, **env_changes: str) -> subprocess.Popen:  # type: ignore[type-arg]
    import gearman_xs

    root = os.path.dirname(os.path.dirname(os.path.abspath(gearman_xs.__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([HERE, root, os.environ.get("PYTHONPATH", "")]),
               **env_changes)
    return subprocess.Popen([sys.executable, "-c", CHILD, str(gap), mode], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_job_arriving_in_slow_pieces_is_run() -> None:
    """The JOB_ASSIGN packet in 8-byte pieces 350 ms apart (more than the 200 ms slice)."""
    proc = _child(0.35, "slow")
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, (proc.returncode, err[-2000:])
    assert "work True" in out


def test_ctrl_c_while_a_reply_stalls() -> None:
    proc = _child(0.0, "stall")
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(1.0)  # inside work(), half a JOB_ASSIGN received
        with Stopwatch() as sw:
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 3, (proc.returncode, out, err[-2000:])
    assert "KeyboardInterrupt" in out
    sw.assert_under(1.0)  # less the machine's measured delay
