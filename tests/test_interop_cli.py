"""Interop with gearman-tools 1.1.20 (C over libgearman): a gearman_xs Client calls ``gearman -w``
workers, the ``gearman`` client calls a gearman_xs Worker, and ``gearadmin`` sees the Python worker.
The CLI workers run tests/peers/cli_job.sh, one ``gearman -w`` process per function.

The CLI worker cannot see the unique or the handle and cannot send WORK_STATUS, WORK_WARNING or
WORK_EXCEPTION, so those cases exist only in the CLI-client direction. Where the CLI itself hangs or
reports oddly, the test pins that behaviour and says so (docs/interop.md).
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path
from typing import Any, List, Tuple

import pytest
from support.data import ALL_BYTES, MIB, PY_EXCEPTION, UTF8_TEXT, pattern, random_bytes, sha256_hex
from support.interop import Stack, check_queued_priorities, new_client, stack_fixtures
from support.peers import PeerWorker, run_cli_client
from support.polling import status_table, wait_for_file, wait_until
from support.tools import gearadmin_out
from support.workers import PyWorker

import gearman_xs
from gearman_xs.testing import Gearmand

PAYLOADS = {"all_bytes": ALL_BYTES, "utf8": UTF8_TEXT, "zero": b"0", "1MiB": random_bytes(MIB), "empty": b""}


peer, stack, exc_stack, any_stack, server, client = stack_fixtures("cli")


# == gearman_xs Client -> gearman -w ==============================================================

@pytest.mark.parametrize("name", PAYLOADS)
def test_payload_round_trips_through_cli_worker(client: gearman_xs.Client, name: str) -> None:
    payload = PAYLOADS[name]
    assert client.do("cli.echo", payload) == payload
    assert client.do("cli.sha256", payload) == sha256_hex(payload)


def test_cli_worker_running_cat_deadlocks_on_big_workloads(server: Gearmand) -> None:
    """Peer limit: ``gearman -w`` writes the whole workload to its command's stdin before reading the
    command's stdout, so a command that echoes while reading (``cat``) deadlocks once the workload
    exceeds the pipe buffers: the job never completes (the client's 1 s timeout ends it here)."""
    prefix = f"clicat{uuid.uuid4().hex[:8]}"
    worker = PeerWorker("cli", server, ["cat"], prefix=prefix)
    try:
        with new_client(server, timeout_ms=5000) as c:
            assert c.do(f"{prefix}.cat", b"x" * 32768) == b"x" * 32768
            c.set_timeout(1000)
            with pytest.raises(gearman_xs.GearmanTimeout):
                c.do(f"{prefix}.cat", b"x" * MIB)
    finally:
        worker.stop()


def test_cli_worker_exit_status_gives_workfail(any_stack: Stack) -> None:
    with new_client(any_stack.server) as c, pytest.raises(gearman_xs.WorkFail):
        c.do("cli.fail", b"x")


def test_cli_worker_data_per_line_is_cumulative(client: gearman_xs.Client) -> None:
    """Peer behaviour: ``gearman -w -n`` sends a WORK_DATA per output line, but each one carries
    everything printed so far (its buffer is never reset), then completes with an empty result."""
    seen: List[Tuple[Any, ...]] = []
    client.set_data_fn(lambda t: seen.append(("data", t.data())))
    client.set_complete_fn(lambda t: seen.append(("complete", t.data())))
    client.add_task("cli.lines", b"x")
    client.run_tasks()
    assert seen == [("data", b"l1\n"), ("data", b"l1\nl2\n"), ("complete", b"")]


# == gearman (client) -> gearman_xs Worker ========================================================

@pytest.mark.parametrize("name", PAYLOADS)
def test_cli_client_payload_round_trips_through_python_worker(server: Gearmand, name: str) -> None:
    payload = PAYLOADS[name]
    done = run_cli_client(server, "py.echo", payload)
    assert (done.returncode, done.stdout, done.stderr) == (0, payload, b"")
    assert run_cli_client(server, "py.sha256", payload).stdout == sha256_hex(payload)


def test_cli_client_8mib_result_from_python_worker(server: Gearmand) -> None:
    done = run_cli_client(server, "py.gen", str(8 * MIB).encode())
    assert done.returncode == 0 and done.stdout == pattern(8 * MIB)


@pytest.mark.parametrize("flags", [["-I"], [], ["-L"]], ids=["high", "normal", "low"])
def test_cli_client_priorities_to_python_worker(server: Gearmand, flags: List[str]) -> None:
    assert run_cli_client(server, "py.echo", b"prio", flags).stdout == b"prio"


def test_cli_client_queued_priorities_run_high_normal_low_on_python_worker(
        server: Gearmand, tmp_path: Path) -> None:
    def submit(priority: str, function: str, workload: bytes) -> None:
        flags = {"low": ["-b", "-L"], "normal": ["-b"], "high": ["-b", "-I"]}[priority]
        done = run_cli_client(server, function, workload, flags)
        assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")  # -b prints no handle

    check_queued_priorities(server, tmp_path, "pyq", submit,
                            lambda prefix: PyWorker(server, ["record"], prefix=prefix))


def test_cli_client_background_job_on_python_worker(server: Gearmand, tmp_path: Path) -> None:
    target = tmp_path / "out"
    done = run_cli_client(server, "py.bg_write", os.fsencode(target) + b"\n" + ALL_BYTES, ["-b"])
    assert (done.returncode, done.stdout) == (0, b"")  # -b prints no handle
    assert wait_for_file(target) == ALL_BYTES


def test_gearadmin_sees_python_worker_progress(server: Gearmand, tmp_path: Path) -> None:
    """The CLI has no job-status command: gearadmin shows the running background job instead."""
    go = tmp_path / "go"

    def jobs() -> List[List[str]]:
        return [line.split("\t") for line in gearadmin_out(server, "--show-jobs").splitlines()
                if "\t" in line]

    before = {job[0] for job in jobs()}
    assert run_cli_client(server, "py.progress", os.fsencode(go), ["-b"]).returncode == 0
    try:
        wait_until(lambda: status_table(gearadmin_out(server, "--status")).get("py.progress") == (1, 1, 1),
                   what="py.progress running")
        new = [job for job in jobs() if job[0] not in before]
        # HANDLE, retries, ignore_job (cancelled), job_queued
        assert len(new) == 1 and new[0][0].startswith("H:") and new[0][1:3] == ["0", "0"], new
    finally:
        go.touch()  # a failed test must not leave the worker busy for 30 s
    wait_until(lambda: status_table(gearadmin_out(server, "--status")).get("py.progress") == (0, 0, 1),
               what="py.progress done")


def test_cli_client_unique_reaches_python_worker(server: Gearmand) -> None:
    function, handle, length, unique = run_cli_client(
        server, "py.info", b"abc", ["-u", "cli-unique-1"]).stdout.split(b"\n")
    assert (function, length, unique) == (b"py.info", b"3", b"cli-unique-1")
    assert handle.startswith(b"H:")
    # Without -u, libgearman generates a UUID for the CLI client.
    generated = run_cli_client(server, "py.info", b"abc").stdout.split(b"\n")[3]
    assert str(uuid.UUID(generated.decode())) == generated.decode()


def test_python_worker_events_reach_cli_client(server: Gearmand) -> None:
    """Peer behaviour: the CLI prints WORK_DATA and the result to stdout as they come, WORK_WARNING
    to stderr, and each WORK_STATUS as "N% Complete" lines, which end up after the result."""
    done = run_cli_client(server, "py.events", b"x")
    assert done.returncode == 0
    assert done.stdout == b"d1d2done50% Complete\n100% Complete\n"
    assert done.stderr == b"w1w2"


@pytest.mark.parametrize("function", ["py.raise", "py.fail_send"])
def test_python_worker_failure_reaches_cli_client(any_stack: Stack, function: str) -> None:
    done = run_cli_client(any_stack.server, function, b"x")
    assert (done.returncode, done.stdout, done.stderr) == (1, b"", b"Job failed\n")


@pytest.mark.parametrize("function", ["pyx.raise", "py.exception_send"])
def test_python_worker_exception_and_cli_client(any_stack: Stack, function: str) -> None:
    """Peer limit: with gearmand --exceptions the CLI prints the exception text to stderr and exits 0
    (not 1 as for a failure). On a default gearmand it hangs: libgearman 1.1.20 drops the WORK_FAIL
    gearmand makes of the exception (its handle counts the NUL). Pinned here with a 1 s limit; this
    is why gearman_xs's Worker sends WORK_FAIL unless send_exceptions=True."""
    expected = PY_EXCEPTION if function == "pyx.raise" else b"python exception"
    if any_stack.server.args == ["--exceptions"]:
        done = run_cli_client(any_stack.server, function, b"x")
        assert (done.returncode, done.stdout, done.stderr) == (0, b"", expected)
    else:
        with pytest.raises(subprocess.TimeoutExpired):
            run_cli_client(any_stack.server, function, b"x", timeout=1.0)


def test_cli_client_timeout_exits_zero(server: Gearmand) -> None:
    """Peer limit: the CLI client exits 0 when its -t timeout expires (message on stderr only)."""
    done = run_cli_client(server, f"nobody{uuid.uuid4().hex[:8]}", b"x", ["-t", "200"])
    assert done.returncode == 0 and done.stdout == b"" and b"GEARMAN_TIMEOUT" in done.stderr


# == gearadmin ====================================================================================

def test_python_worker_identifier_shows_in_gearadmin_workers(stack: Stack) -> None:
    assert stack.py is not None
    lines = gearadmin_out(stack.server, "--workers").splitlines()
    # "FD IP CLIENT_ID : FUNCTION ..." per connection; the list ends with ".".
    mine = [line for line in lines if " gxs-interop-cli : " in line]
    assert len(mine) == 1, lines
    assert sorted(mine[0].split(" : ", 1)[1].split()) == sorted(stack.py.names)


def test_gearadmin_status_counts_python_workers(stack: Stack) -> None:
    assert stack.py is not None
    table = status_table(gearadmin_out(stack.server, "--status"))
    for name in stack.py.names:
        assert table[name] == (0, 0, 1), (name, table)
