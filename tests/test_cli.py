"""The gearman-xs command line (admin commands) against real gearmands, in-process and end to end."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest
from support.protocol import RawWorker
from support.tools import (
    ENV,
    gearadmin,
    gearadmin_out,
    needs_gearadmin,
    needs_gearman,
    submit_background,
)

from gearman_xs import cli
from gearman_xs.admin import Admin, FunctionStatus
from gearman_xs.testing import Gearmand, free_port


def run(*argv: str) -> Tuple[int, str, str]:
    """main() in-process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def on(server: Gearmand, *argv: str) -> Tuple[int, str, str]:
    return run("-h", server.host, "-p", str(server.port), *argv)


def rows(text: str) -> List[List[str]]:
    """A printed table without its header line, split on runs of spaces."""
    return [line.split() for line in text.splitlines()[1:]]


def run_module(
    *argv: str, env: Optional[Dict[str, str]] = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gearman_xs", *argv], capture_output=True, text=True,
                          timeout=timeout, env=env if env is not None else ENV)


@needs_gearman
@needs_gearadmin
def test_status_table_and_json(gearmand: Gearmand) -> None:
    for args in (("ca", "1"), ("ca", "2"), ("cb", "3", "-I")):
        assert submit_background(gearmand, *args).returncode == 0
    code, out, err = on(gearmand, "status")
    assert (code, err) == (0, "")
    assert out.splitlines()[0].split() == ["FUNCTION", "QUEUED", "RUNNING", "WORKERS"]
    theirs = [line.split("\t") for line in gearadmin_out(gearmand, "--status").splitlines()[:-1]]
    assert rows(out) == theirs
    code, out, _ = on(gearmand, "--json", "status")
    assert code == 0
    doc = json.loads(out)
    assert list(doc) == [gearmand.servers]
    listed = sorted((d["function"], d["queued"], d["running"], d["workers"]) for d in doc[gearmand.servers])
    assert listed == [("ca", 2, 0, 0), ("cb", 1, 0, 0)]
    code, out, _ = on(gearmand, "priority-status", "--json")  # options also after the command
    highs = {d["function"]: d["high"] for d in json.loads(out)[gearmand.servers]}
    assert code == 0 and highs == {"ca": 0, "cb": 1}
    theirs = [line.split("\t") for line in gearadmin_out(gearmand, "--priority-status").splitlines()[:-1]]
    assert rows(on(gearmand, "priority-status")[1]) == theirs


@needs_gearman
@needs_gearadmin
def test_jobs_unique_jobs_and_cancel(gearmand: Gearmand) -> None:
    assert submit_background(gearmand, "cj", "x", "-u", "u-one").returncode == 0
    assert submit_background(gearmand, "cj", "y", "-u", "u-two").returncode == 0
    code, out, _ = on(gearmand, "jobs")
    handles = [r[0] for r in rows(out)]
    theirs = [line.split("\t") for line in gearadmin_out(gearmand, "--show-jobs").splitlines()[:-1]]
    assert handles == [t[0] for t in theirs] and len(handles) == 2
    assert all(r[1:] == ["0", "no", "yes"] for r in rows(out))
    code, out, _ = on(gearmand, "unique-jobs")
    assert code == 0 and sorted(out.splitlines()[1:]) == ["u-one", "u-two"]
    code, out, err = on(gearmand, "cancel", handles[0])
    assert (code, out, err) == (0, "OK\n", "")
    code, out, _ = on(gearmand, "jobs", "--json")
    assert {j["handle"]: j["ignore_job"] for j in json.loads(out)[gearmand.servers]} == {
        handles[0]: True, handles[1]: False}
    code, out, err = on(gearmand, "cancel", "H:nowhere:1")
    assert code == 1 and out == "" and "UNKNOWN_JOB" in err
    assert gearadmin(gearmand, "--cancel-job", "H:nowhere:1").returncode == 0  # what we improve on


@needs_gearadmin
def test_workers_versions_and_pid(gearmand: Gearmand) -> None:
    worker = RawWorker(gearmand, "cli-worker", ["wa", "wb"])
    try:
        code, out, _ = on(gearmand, "workers")
        assert code == 0
        assert [(r[2], sorted(r[3:])) for r in rows(out) if len(r) > 3] == [("cli-worker", ["wa", "wb"])]
        code, out, _ = on(gearmand, "workers", "--json")
        listed = json.loads(out)[gearmand.servers]
        assert {w["client_id"]: sorted(w["functions"]) for w in listed if w["functions"]} == {
            "cli-worker": ["wa", "wb"]}
    finally:
        worker.close()
    assert on(gearmand, "version") == (0, gearadmin_out(gearmand, "--server-version"), "")
    assert on(gearmand, "getpid") == (0, f"{gearmand.pid}\n", "")
    assert on(gearmand, "verbose") == (0, gearadmin_out(gearmand, "--server-verbose"), "")
    assert json.loads(on(gearmand, "getpid", "--json")[1]) == {gearmand.servers: gearmand.pid}


@needs_gearman
def test_maxqueue_and_functions(gearmand: Gearmand) -> None:
    code, _, err = on(gearmand, "maxqueue", "mqc", "1")
    assert code == 1 and "create-function mqc" in err  # gearmand would silently ignore it
    assert on(gearmand, "create-function", "mqc") == (0, "OK\n", "")
    assert on(gearmand, "maxqueue", "mqc", "1") == (0, "OK\n", "")
    assert not submit_background(gearmand, "mqc", "1").stderr
    assert "QUEUE_ERROR" in submit_background(gearmand, "mqc", "2").stderr
    assert on(gearmand, "maxqueue", "mqc", "0", "5", "0")[0] == 0
    assert not submit_background(gearmand, "mqc", "3").stderr
    assert on(gearmand, "maxqueue", "mqc", "1", "2")[0] == 2  # neither one value nor three
    assert on(gearmand, "maxqueue", "mqc", "-1")[0] == 2
    assert on(gearmand, "maxqueue", "mqc", "x")[0] == 2
    assert on(gearmand, "maxqueue", "mqc")[0] == 0  # unlimited again
    assert on(gearmand, "create-function", "dropme")[0] == 0
    assert on(gearmand, "drop-function", "dropme") == (0, "OK\n", "")
    code, _, err = on(gearmand, "drop-function", "dropme")
    assert code == 1 and "function not found" in err
    assert on(gearmand, "create-function", "two words")[0] == 2
    with Admin(gearmand.host, gearmand.port) as admin:
        assert FunctionStatus("mqc", 2, 0, 0) in admin.status()


def test_send_raw(gearmand: Gearmand) -> None:
    assert on(gearmand, "send", "status") == (0, ".\n", "")
    assert on(gearmand, "send", "create", "function", "viasend") == (0, "OK\r\n", "")
    assert on(gearmand, "send", "status")[1] == "viasend\t0\t0\t0\n.\n"
    code, out, err = on(gearmand, "send", "shutdown")
    assert code == 1 and out == "" and "UNKNOWN_COMMAND" in err


@pytest.mark.parametrize(
    "command",
    [["status"], ["priority-status"], ["workers"], ["jobs"], ["unique-jobs"], ["version"], ["getpid"],
     ["verbose"], ["cancel", "H:x:1"], ["maxqueue", "f", "1"], ["create-function", "f"],
     ["drop-function", "f"], ["send", "status"], ["status", "--watch", "--count", "1", "--interval", "0.01"]],
)
def test_every_command_fails_on_a_dead_server(command: List[str]) -> None:
    port = free_port()
    code, out, err = run("-h", "127.0.0.1", "-p", str(port), "--timeout", "2", *command)
    assert code == 1 and "OK" not in out
    assert f"127.0.0.1:{port}" in err and "cannot connect" in err


def test_silent_server_times_out() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)  # accepts (in the kernel) and never answers
        port = listener.getsockname()[1]
        started = time.monotonic()
        code, _, err = run("--servers", f"127.0.0.1:{port}", "--timeout", "0.3", "version")
        assert code == 1 and "GEARMAN_TIMEOUT" in err
        assert time.monotonic() - started < 2


def test_watch_refreshes(gearmand: Gearmand) -> None:
    code, out, err = on(gearmand, "status", "--watch", "--count", "3", "--interval", "0.05")
    assert (code, err) == (0, "")
    assert out.count(f"gearman-xs status  {gearmand.servers}") == 3
    assert out.count("FUNCTION  QUEUED  RUNNING  WORKERS") == 3
    assert "\x1b[2J" not in out  # no screen clearing when not on a terminal
    code, out, _ = on(gearmand, "workers", "-w", "--count", "2", "--interval", "0.05", "--json")
    frames = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(frames) == 2 and all(list(f) == [gearmand.servers] for f in frames)
    assert on(gearmand, "status", "--watch", "--count", "0")[0] == 2
    assert on(gearmand, "status", "--watch", "--interval", "0")[0] == 2


def test_failure_then_recovery_after_restart(gearmand: Gearmand) -> None:
    out, err = io.StringIO(), io.StringIO()
    gearmand.kill()
    code = cli.main(["-h", gearmand.host, "-p", str(gearmand.port), "getpid"], stdout=out, stderr=err)
    assert code == 1
    gearmand.start()
    code, text, _ = on(gearmand, "status", "--watch", "--count", "2", "--interval", "0.01")
    assert code == 0 and text.count("FUNCTION") == 2


def test_several_servers(gearmand: Gearmand) -> None:
    with Gearmand() as other:
        with Admin(other.host, other.port) as a:
            a.create_function("on_other")
        both = f"{gearmand.servers},{other.servers}"
        code, out, _ = run("--servers", both, "status")
        assert code == 0
        assert out.splitlines()[0].split() == ["SERVER", "FUNCTION", "QUEUED", "RUNNING", "WORKERS"]
        assert rows(out) == [[other.servers, "on_other", "0", "0", "0"]]
        code, out, _ = run("--servers", both, "--json", "getpid")
        assert json.loads(out) == {gearmand.servers: gearmand.pid, other.servers: other.pid}
        code, out, _ = run("--servers", both, "version")
        listed = sorted(line.split("\t")[0] for line in out.splitlines())
        assert listed == sorted([gearmand.servers, other.servers])
        other.kill()
        code, out, err = run("--servers", both, "--json", "status")
        doc = json.loads(out)
        assert code == 1 and doc[gearmand.servers] == []
        assert doc[other.servers]["error"] == "GearmanConnectionError"
        assert other.servers in err
        code, out, err = run("--servers", both, "status")
        assert code == 1 and out.startswith("SERVER") and other.servers in err


def test_server_resolution() -> None:
    def resolve(argv: List[str], env: Dict[str, str]) -> str:
        args = cli.build_parser().parse_args([*argv, "version"])
        return cli.resolve_servers(args, env)

    assert resolve([], {}) == "localhost:4730"
    assert resolve([], {"GEARMAN_SERVERS": "a:1,b:2"}) == "a:1,b:2"
    assert resolve(["-h", "h1"], {"GEARMAN_SERVERS": "a:1"}) == "h1:4730"
    assert resolve(["-p", "7"], {}) == "localhost:7"
    assert resolve(["--host", "::1", "--port", "9"], {}) == "[::1]:9"
    assert resolve(["--servers", "x:1"], {"GEARMAN_SERVERS": "a:1"}) == "x:1"
    with pytest.raises(cli.UsageError):
        resolve(["--servers", "x:1", "-h", "y"], {})


def test_usage_errors_exit_2() -> None:
    assert run()[0] == 2
    assert run("nosuchcommand")[0] == 2
    assert run("-h")[0] == 2  # -h is the host, like gearadmin
    assert run("--servers", "a:1", "-p", "2", "version")[0] == 2
    assert run("--servers", "a:notaport", "version")[0] == 2
    assert run("--timeout", "0", "version")[0] == 2
    assert run("cancel")[0] == 2


def test_help() -> None:
    proc = run_module("--help")
    assert proc.returncode == 0 and "status" in proc.stdout and "-h HOST" in proc.stdout
    proc = run_module("maxqueue", "--help")
    assert proc.returncode == 0 and "HIGH NORMAL LOW" in proc.stdout


def test_module_end_to_end_with_gearman_servers(gearmand: Gearmand) -> None:
    env = dict(ENV, GEARMAN_SERVERS=gearmand.servers)
    proc = run_module("create-function", "e2e", env=env)
    assert (proc.returncode, proc.stdout) == (0, "OK\n")
    proc = run_module("status", env=env)
    assert proc.returncode == 0 and rows(proc.stdout) == [["e2e", "0", "0", "0"]]
    gearmand.stop()
    proc = run_module("status", "--timeout", "2", env=env)
    assert proc.returncode == 1 and gearmand.servers in proc.stderr


def test_console_script(gearmand: Gearmand) -> None:
    script = Path(sys.executable).parent / "gearman-xs"
    if not script.exists():
        pytest.skip("gearman-xs console script not installed in this environment (pip install .)")
    proc = subprocess.run([str(script), "-h", gearmand.host, "-p", str(gearmand.port), "getpid"],
                          capture_output=True, text=True, timeout=30, env=ENV)
    assert (proc.returncode, proc.stdout) == (0, f"{gearmand.pid}\n")
    assert os.access(script, os.X_OK)
