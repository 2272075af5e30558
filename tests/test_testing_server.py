"""gearman_xs.testing.Gearmand: starts, answers, restarts on its port, and always cleans up."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from gearman_xs.testing import Gearmand, GearmandError


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0): look at its state
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split()[2] != "Z"


def test_starts_on_loopback_and_answers() -> None:
    with Gearmand() as server:
        assert server.running and server.pid
        assert server.host == "127.0.0.1"
        assert server.servers == f"127.0.0.1:{server.port}"
        assert re.match(r"OK \d+\.\d+\.\d+", server.admin("version"))
        assert server.admin("getpid") == f"OK {server.pid}\n"
        assert os.path.exists(server.pid_file)
        with open(server.pid_file) as f:
            assert int(f.read()) == server.pid
        pid, tmpdir = server.pid, server.tmpdir
    assert not _alive(pid)
    assert not os.path.exists(tmpdir)


def test_extra_arguments_reach_gearmand() -> None:
    with Gearmand(["--exceptions", "-j", "2"], threads=2, backlog=16) as server:
        with open(f"/proc/{server.pid}/cmdline") as f:
            cmdline = f.read().split("\0")
        assert "--exceptions" in cmdline and "-t" in cmdline and "-b" in cmdline
        assert server.admin("status") == ""


def test_restart_keeps_the_port_and_loses_the_queue() -> None:
    with Gearmand() as server:
        assert server.admin("create function restart_fn") == "OK\r\n"
        assert "restart_fn" in server.admin("status")
        port, old_pid = server.port, server.pid
        server.restart()
        assert server.port == port and server.pid != old_pid
        assert not _alive(old_pid)  # type: ignore[arg-type]
        assert "restart_fn" not in server.admin("status")


def test_kill_then_start_again() -> None:
    with Gearmand() as server:
        server.kill()
        assert not server.running
        with pytest.raises(OSError):
            server.admin("version", timeout=1)
        server.start()
        assert server.admin("version").startswith("OK")


def test_bad_arguments_raise_with_the_log() -> None:
    with pytest.raises(GearmandError, match="exited"):
        Gearmand(["-q", "no_such_queue"]).start()


def test_stops_when_the_with_block_raises() -> None:
    with pytest.raises(RuntimeError), Gearmand() as server:
        pid = server.pid
        raise RuntimeError("test crashed")
    assert not _alive(pid)  # type: ignore[arg-type]


def test_no_gearmand_left_after_the_test_process_is_killed(tmp_path: object) -> None:
    script = textwrap.dedent(
        """
        import os, signal, sys
        from gearman_xs.testing import Gearmand
        server = Gearmand().start()
        print(server.pid, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == -signal.SIGKILL
    pid = int(proc.stdout.split()[0])
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)


def test_gearman_servers_is_not_passed_on() -> None:
    assert "GEARMAN_SERVERS" not in os.environ
