"""Real peers for the admin tests: gearadmin / gearman CLI wrappers and a raw-protocol worker.

The raw worker speaks gearmand's binary protocol over a socket (SET_CLIENT_ID, CAN_DO, GRAB_JOB)
so that tests control exactly when it registers, takes a job and finishes it; it talks to the
real gearmand like any other worker.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import time
from typing import Callable, List, Optional, Sequence, Tuple

import pytest

from gearman_xs.testing import Gearmand

GEARADMIN = shutil.which("gearadmin")
GEARMAN = shutil.which("gearman")
needs_gearadmin = pytest.mark.skipif(GEARADMIN is None, reason="gearadmin (gearman-tools) not installed")
needs_gearman = pytest.mark.skipif(GEARMAN is None, reason="gearman CLI (gearman-tools) not installed")

ENV = {k: v for k, v in os.environ.items() if k != "GEARMAN_SERVERS"}


def gearadmin(server: Gearmand, *flags: str) -> subprocess.CompletedProcess[str]:
    assert GEARADMIN is not None
    return subprocess.run(
        [GEARADMIN, "-h", server.host, "-p", str(server.port), *flags],
        capture_output=True, text=True, timeout=30, env=ENV,
    )


def gearadmin_out(server: Gearmand, *flags: str) -> str:
    result = gearadmin(server, *flags)
    assert result.returncode == 0, result.stderr
    return result.stdout


def submit_background(
    server: Gearmand, function: str, data: str = "x", *flags: str
) -> subprocess.CompletedProcess[str]:
    """``gearman -b -f function [flags] data`` (exits 0 even on QUEUE_ERROR: check stderr)."""
    assert GEARMAN is not None
    return subprocess.run(
        [GEARMAN, "-h", server.host, "-p", str(server.port), "-b", *flags, "-f", function, data],
        capture_output=True, text=True, timeout=30, env=ENV,
    )


def start_cli_worker(server: Gearmand, function: str, *command: str) -> subprocess.Popen[bytes]:
    """``gearman -w -f function -- command...`` in its own process group."""
    assert GEARMAN is not None
    return subprocess.Popen(
        [GEARMAN, "-h", server.host, "-p", str(server.port), "-w", "-f", function, "--", *command],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True, env=ENV,
    )


def stop_process_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def wait_for(condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


# -- gearadmin's text, rebuilt from parsed values -------------------------------------------------


def status_text(rows: Sequence[Tuple[object, ...]]) -> str:
    lines = ("\t".join(str(int(v) if isinstance(v, bool) else v) for v in row) for row in rows)
    return "".join(line + "\n" for line in lines) + ".\n"


# -- a raw binary-protocol worker --------------------------------------------------------------------

CAN_DO, PRE_SLEEP, NOOP, GRAB_JOB, NO_JOB, JOB_ASSIGN = 1, 4, 6, 9, 10, 11
WORK_COMPLETE, ECHO_REQ, ECHO_RES, SET_CLIENT_ID = 13, 16, 17, 22


class RawWorker:
    """A worker connection driven step by step; ``sync()`` waits until gearmand processed
    everything sent before (ECHO round trip on the same connection)."""

    def __init__(
        self, server: Gearmand, client_id: Optional[str] = None, functions: Sequence[str] = ()
    ) -> None:
        self.sock = socket.create_connection((server.host, server.port), timeout=10)
        self.buffer = b""
        if client_id is not None:
            self.send(SET_CLIENT_ID, client_id.encode())
        for function in functions:
            self.send(CAN_DO, function.encode())
        self.sync()

    def send(self, kind: int, *args: bytes) -> None:
        data = b"\0".join(args)
        self.sock.sendall(b"\0REQ" + struct.pack(">II", kind, len(data)) + data)

    def recv(self) -> Tuple[int, List[bytes]]:
        while True:
            if len(self.buffer) >= 12:
                kind, size = struct.unpack(">II", self.buffer[4:12])
                if len(self.buffer) >= 12 + size:
                    data = self.buffer[12 : 12 + size]
                    self.buffer = self.buffer[12 + size :]
                    return kind, data.split(b"\0")
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("gearmand closed the worker connection")
            self.buffer += chunk

    def sync(self) -> None:
        self.send(ECHO_REQ, b"sync")
        while True:
            kind, _ = self.recv()
            if kind == ECHO_RES:
                return

    def grab(self) -> List[bytes]:
        """GRAB_JOB; returns [handle, function, workload] of the assigned job."""
        self.send(GRAB_JOB)
        while True:
            kind, args = self.recv()
            if kind == JOB_ASSIGN:
                return args
            if kind == NO_JOB:
                raise AssertionError("no job to grab")

    def complete(self, handle: bytes, result: bytes = b"") -> None:
        self.send(WORK_COMPLETE, handle, result)
        self.sync()

    def close(self) -> None:
        self.sock.close()
