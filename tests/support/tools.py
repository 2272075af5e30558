"""The C command-line tools of gearman-tools, ``gearadmin`` and ``gearman``, as the tests run them:
against one gearmand, without ``$GEARMAN_SERVERS``, every run bounded in time."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from typing import Sequence, Tuple

import pytest

from gearman_xs.testing import Gearmand

GEARADMIN = shutil.which("gearadmin")
GEARMAN = shutil.which("gearman")
needs_gearadmin = pytest.mark.skipif(GEARADMIN is None, reason="gearadmin (gearman-tools) not installed")
needs_gearman = pytest.mark.skipif(GEARMAN is None, reason="gearman CLI (gearman-tools) not installed")

#: The environment of every process the tests start: libgearman would add $GEARMAN_SERVERS.
ENV = {k: v for k, v in os.environ.items() if k != "GEARMAN_SERVERS"}


def gearadmin(server: Gearmand, *flags: str) -> subprocess.CompletedProcess[str]:
    """``gearadmin -h HOST -p PORT FLAGS...``, whatever its exit status."""
    assert GEARADMIN is not None
    return subprocess.run(
        [GEARADMIN, "-h", server.host, "-p", str(server.port), *flags],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30, env=ENV,
    )


def gearadmin_out(server: Gearmand, *flags: str) -> str:
    """What gearadmin prints; fails the test if it exits non-zero."""
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


def status_text(rows: Sequence[Tuple[object, ...]]) -> str:
    """gearadmin's ``--status`` text, rebuilt from parsed values."""
    lines = ("\t".join(str(int(v) if isinstance(v, bool) else v) for v in row) for row in rows)
    return "".join(line + "\n" for line in lines) + ".\n"
