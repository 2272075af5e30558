"""The six example scripts in examples/, each run as a subprocess against a real gearmand.

Every client runs against ``reverse_worker.py`` in each of its modes (plain, -d, -s, -u, -c);
the tests assert the exact output lines and exit codes and that no example process is left
running afterwards.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

import pytest
from support.polling import function_status, poll
from support.timing import Stopwatch

from gearman_xs import Job, Worker
from gearman_xs.testing import Gearmand, free_port

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SCRIPTS = (
    "echo_client.py",
    "echo_worker.py",
    "reverse_client.py",
    "reverse_client_bg.py",
    "reverse_client_cb.py",
    "reverse_worker.py",
)
CLIENTS = tuple(s for s in SCRIPTS if s != "reverse_worker.py")

#: A condition on gearmand's status columns for one function: (total, running, available workers).
Condition = Callable[[int, int, int], bool]

HANDLE = r"H:\S+:\d+"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
#: The unique of a do*() job: gearman_xs picks it (not always a UUID), the client does not print it.
ANY_UNIQUE = r"[^\s\x00]+"


def _env() -> Dict[str, str]:
    """The test's environment without GEARMAN_SERVERS, with PYTHONPATH made absolute (the
    examples import the same gearman_xs as the tests, whatever their working directory)."""
    env = {k: v for k, v in os.environ.items() if k != "GEARMAN_SERVERS"}
    if env.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(p) for p in env["PYTHONPATH"].split(os.pathsep))
    return env


def usage_text(path: str, name: str) -> str:
    """The Perl script's usage text (printed to stdout), with ``$0`` = ``path``."""
    if name == "reverse_worker.py":
        return (
            f"\nusage: {path} [-h <host>] [-p <port>]\n"
            "\t-c <count>   - number of jobs to run before exiting\n"
            "\t-d           - send result back in data chunks\n"
            "\t-h <host>    - job server host\n"
            "\t-p <port>    - job server port\n"
            "\t-s           - send status updates and sleep while running job\n"
            "\t-u           - when grabbing jobs, grab the unique id\n"
            "\t-t <timeout> - timeout in milliseconds\n"
        )
    if name == "reverse_client.py":
        return (
            f"\nusage: {path} [-h <host>] [-p <port>] <string>\n"
            "\t-h <host>    - job server host\n"
            "\t-p <port>    - job server port\n"
            "\t-t <timeout> - timeout in milliseconds\n"
        )
    return (
        f"\nusage: {path} [-h <host>] [-p <port>] <string>\n"
        "\t-h <host> - job server host\n"
        "\t-p <port> - job server port\n"
    )


class Result(NamedTuple):
    rc: int
    out: List[str]
    err: str
    seconds: float  # elapsed: for lower bounds
    product: float  # elapsed less the machine's measured delay (support.timing): for upper bounds


def _result(rc: int, out: bytes, err: bytes, sw: Stopwatch) -> Result:
    return Result(rc, out.decode("utf-8").splitlines(), err.decode("utf-8"), sw.elapsed, sw.product)


def _example_processes(port: Optional[int]) -> List[Tuple[int, List[str]]]:
    """Running processes of an example script (given ``port`` on their command line)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                args = f.read().decode("utf-8", "replace").split("\0")
        except OSError:
            continue
        if any(a.startswith(str(EXAMPLES)) for a in args) and (port is None or str(port) in args):
            found.append((int(entry), args))
    return found


class Examples:
    """Runs the example scripts against one gearmand and keeps track of every process."""

    def __init__(self, server: Gearmand) -> None:
        self.server = server
        self.procs: List[subprocess.Popen[bytes]] = []

    def argv(self, name: str, args: Sequence[str]) -> List[str]:
        return [sys.executable, str(EXAMPLES / name), *args]

    def server_args(self) -> List[str]:
        return ["-h", self.server.host, "-p", str(self.server.port)]

    def run(self, name: str, *args: str, server: bool = True, timeout: float = 60) -> Result:
        """Runs an example to its end."""
        argv = self.argv(name, [*(self.server_args() if server else []), *args])
        with Stopwatch() as sw:
            done = subprocess.run(argv, capture_output=True, env=_env(), timeout=timeout, check=False)
        return _result(done.returncode, done.stdout, done.stderr, sw)

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        """Starts an example in the background (stdout and stderr to pipes)."""
        proc = subprocess.Popen(
            self.argv(name, [*self.server_args(), *args]),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_env(),
        )
        self.procs.append(proc)
        return proc

    def start_workers(self, *args: str, count: int = 1) -> List[subprocess.Popen[bytes]]:
        """Starts ``count`` reverse_worker.py processes and waits until all are registered."""
        workers = [self.start("reverse_worker.py", *args) for _ in range(count)]
        self.wait_for("reverse", lambda total, running, available: available >= count, workers)
        return workers

    def wait_for(
        self,
        function: str,
        condition: Condition,
        procs: Sequence[subprocess.Popen[bytes]] = (),
        timeout: float = 15,
    ) -> None:
        """Waits until gearmand's ``status`` line for ``function`` meets ``condition``."""

        def met() -> bool:
            for proc in procs:
                if proc.poll() is not None:
                    out, err = proc.communicate()
                    pytest.fail(f"{proc.args!r} exited with {proc.returncode}: {out!r} {err!r}")
            row = function_status(self.server).get(function)
            return row is not None and condition(*row)

        if not poll(met, timeout, interval=0.02):
            status = self.server.admin("status")
            pytest.fail(f"gearmand status for {function} never met the condition: {status}")

    def finish(self, proc: subprocess.Popen[bytes], timeout: float = 15) -> Result:
        """Waits for a process that ends by itself."""
        with Stopwatch() as sw:
            out, err = proc.communicate(timeout=timeout)
        return _result(proc.returncode, out, err, sw)

    def stop(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 15) -> Result:
        """Sends ``sig`` and waits for the process to exit."""
        proc.send_signal(sig)
        return self.finish(proc, timeout)

    def cleanup(self) -> List[str]:
        """Kills what is still running; returns a description of each process left behind."""
        left = []
        for proc in self.procs:
            if proc.poll() is None:
                left.append(" ".join(map(str, proc.args)))  # type: ignore[arg-type]
                proc.kill()
            proc.communicate()
        for pid, args in _example_processes(self.server.port):
            left.append(f"pid {pid}: {' '.join(args)}")
            os.kill(pid, signal.SIGKILL)
        return left


@pytest.fixture
def examples(gearmand: Gearmand) -> Iterator[Examples]:
    ex = Examples(gearmand)
    try:
        yield ex
    finally:
        left = ex.cleanup()
    assert not left, f"example processes left running: {left}"


def job_line(workload: str, result: str, unique: Optional[str] = None) -> str:
    """A regex for reverse_worker.py's line for one job."""
    uniq = f" Unique={unique}" if unique is not None else ""
    return f"Job=({HANDLE}){uniq} Workload={re.escape(workload)} Result={re.escape(result)}"


def assert_job_lines(
    lines: Sequence[str], workload: str, result: str, unique: Optional[str] = None
) -> List[str]:
    """Every line is reverse_worker.py's line for one job; returns the job handles."""
    handles = []
    for line in lines:
        m = re.fullmatch(job_line(workload, result, unique), line)
        assert m, line
        handles.append(m.group(1))
    return handles


# -- usage ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SCRIPTS)
@pytest.mark.parametrize("args", [["-x", "abc"], ["-p"], ["-p", "notaport", "abc"], ["-h"]])
def test_bad_option_prints_usage_and_exits_1(name: str, args: List[str]) -> None:
    path = str(EXAMPLES / name)
    done = subprocess.run([sys.executable, path, *args], capture_output=True, env=_env(), timeout=30)
    assert done.returncode == 1
    assert done.stdout.decode() == usage_text(path, name)
    assert done.stderr.decode().strip(), "argparse's complaint goes to stderr"


@pytest.mark.parametrize("name", CLIENTS)
@pytest.mark.parametrize("args", [[], ["-h", "127.0.0.1", "-p", "1"], ["--"]])
def test_missing_string_prints_usage_and_exits_1(name: str, args: List[str]) -> None:
    path = str(EXAMPLES / name)
    done = subprocess.run([sys.executable, path, *args], capture_output=True, env=_env(), timeout=30)
    assert (done.returncode, done.stdout.decode(), done.stderr.decode()) == (1, usage_text(path, name), "")


@pytest.mark.parametrize("name", SCRIPTS)
def test_usage_names_the_script_as_invoked(name: str) -> None:
    done = subprocess.run(
        [sys.executable, name, "-x"], capture_output=True, env=_env(), cwd=EXAMPLES, timeout=30
    )
    assert done.returncode == 1
    assert done.stdout.decode().splitlines()[1].startswith(f"usage: {name} [-h <host>] [-p <port>]")


@pytest.mark.parametrize("name", SCRIPTS)
def test_bad_port_fails_add_server_with_exit_1(name: str) -> None:
    args = ["-p", "70000"] + ([] if name == "reverse_worker.py" else ["abc"])
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args], capture_output=True, env=_env(), timeout=30
    )
    assert (done.returncode, done.stdout) == (1, b"")
    assert "70000" in done.stderr.decode()


# -- echo -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["echo_client.py", "echo_worker.py"])
def test_echo_succeeds_silently(examples: Examples, name: str) -> None:
    assert examples.run(name, "Hello World!")[:3] == (0, [], "")


@pytest.mark.parametrize("name", ["echo_client.py", "echo_worker.py", "reverse_client.py",
                                  "reverse_client_bg.py", "reverse_client_cb.py"])
def test_clients_without_a_server_print_the_error_and_exit_1(name: str) -> None:
    port = free_port()
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), "-h", "127.0.0.1", "-p", str(port), "abc"],
        capture_output=True, env=_env(), timeout=30,
    )
    assert done.returncode == 1
    # the callback client has added its tasks before run_tasks() finds no server
    added = [f"Added: {u}" for u in re.findall(UUID, done.stdout.decode())]
    assert done.stdout.decode().splitlines() == (added if name == "reverse_client_cb.py" else [])
    assert len(added) == (10 if name == "reverse_client_cb.py" else 0)
    err = done.stderr.decode()
    assert "GEARMAN_COULD_NOT_CONNECT" in err and len(err.splitlines()) == 1, err


# -- reverse_client.py --------------------------------------------------------------------------


@pytest.mark.parametrize("flags", [[], ["-d"], ["-u"]])
def test_reverse_client(examples: Examples, flags: List[str]) -> None:
    [worker] = examples.start_workers("-c", "1", *flags)
    client = examples.run("reverse_client.py", "Hello World!")
    assert client[:3] == (0, ["Result=!dlroW olleH"], "")
    done = examples.finish(worker)  # -c 1: exits by itself after the job
    assert (done.rc, done.err) == (0, "")
    unique = ANY_UNIQUE if "-u" in flags else None
    assert len(assert_job_lines(done.out, "Hello World!", "!dlroW olleH", unique)) == 1


def test_reverse_client_against_status_worker(examples: Examples) -> None:
    [worker] = examples.start_workers("-s")
    client = examples.run("reverse_client.py", "-t", "0", "ab")  # -t 0: no timeout, as in Perl
    assert client[:3] == (0, ["Result=ba"], "")
    assert client.seconds >= 2  # -s sleeps one second per letter
    done = examples.stop(worker)
    assert (done.rc, done.err) == (0, "")
    assert_job_lines(done.out, "ab", "ba")


def test_reverse_worker_count_exits_after_n_jobs(examples: Examples) -> None:
    [worker] = examples.start_workers("-c", "2")
    for word, expected in (("abc", "cba"), ("xy", "yx")):
        assert examples.run("reverse_client.py", word)[:3] == (0, [f"Result={expected}"], "")
    done = examples.finish(worker)
    assert (done.rc, done.err) == (0, "")
    assert len(done.out) == 2
    assert_job_lines(done.out[:1], "abc", "cba")
    assert_job_lines(done.out[1:], "xy", "yx")


def test_reverse_client_timeout_against_a_slow_worker(examples: Examples) -> None:
    [worker] = examples.start_workers("-s")
    # the same script's start-up on this machine just now (a usage error: interpreter, gearman_xs)
    startup = examples.run("reverse_client.py", server=False)
    assert startup.rc == 1
    client = examples.run("reverse_client.py", "-t", "300", "abcde")  # the job takes 5 s
    assert (client.rc, client.out) == (1, [])
    assert "GEARMAN_TIMEOUT" in client.err and len(client.err.splitlines()) == 1, client.err
    # start-up plus ~300 ms, not the job's 5 s (under stress-ng the start-up alone took 3 s)
    assert client.seconds < startup.seconds + 2.5, (client.seconds, startup.seconds)
    # The job stays queued: the worker still runs it, and SIGTERM lets it finish first.
    examples.wait_for("reverse", lambda total, running, available: running == 1)
    done = examples.stop(worker)
    assert (done.rc, done.err) == (0, "")
    assert_job_lines(done.out, "abcde", "edcba")


def _failing_worker(server: Gearmand, jobs: int) -> threading.Thread:
    """A gearman_xs Worker serving ``reverse`` that fails every job, for ``jobs`` jobs."""
    worker = Worker()
    worker.add_server(server.host, server.port)

    def fail(job: Job) -> None:
        job.send_fail()

    worker.add_function("reverse", 0, fail)

    def serve() -> None:
        with worker:
            for _ in range(jobs):
                worker.work()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def test_reverse_client_work_failed(examples: Examples) -> None:
    thread = _failing_worker(examples.server, 1)
    client = examples.run("reverse_client.py", "abc")
    assert client[:3] == (1, [], "Work failed\n")
    thread.join(10)
    assert not thread.is_alive()


# -- reverse_client_bg.py -----------------------------------------------------------------------

STATUS_LINE = re.compile(r"Known=(true|false), Running=(true|false), Percent Complete=(\d+)/(\d+)")


def _bg_status(lines: List[str]) -> Tuple[str, List[Tuple[bool, bool, int, int]]]:
    m = re.fullmatch(f"Background Job Handle=({HANDLE})", lines[0])
    assert m, lines
    statuses = []
    for line in lines[1:]:
        s = STATUS_LINE.fullmatch(line)
        assert s, line
        statuses.append((s.group(1) == "true", s.group(2) == "true", int(s.group(3)), int(s.group(4))))
    # polls once a second until the job is no longer known; the last line is the unknown job
    assert statuses[-1] == (False, False, 0, 0)
    assert all(known for known, _, _, _ in statuses[:-1])
    return m.group(1), statuses


@pytest.mark.parametrize("flags", [[], ["-d"], ["-u"]])
def test_reverse_client_bg(examples: Examples, flags: List[str]) -> None:
    [worker] = examples.start_workers("-c", "1", *flags)
    client = examples.run("reverse_client_bg.py", "abc")
    assert (client.rc, client.err) == (0, "")
    handle, statuses = _bg_status(client.out)
    assert 1 <= len(statuses) <= 3, client.out  # the job is done within the first second
    done = examples.finish(worker)
    assert (done.rc, done.err) == (0, "")
    assert assert_job_lines(done.out, "abc", "cba", ANY_UNIQUE if "-u" in flags else None) == [handle]


def test_reverse_client_bg_status_lines_in_order(examples: Examples) -> None:
    [worker] = examples.start_workers("-s", "-c", "1")
    client = examples.run("reverse_client_bg.py", "abc")  # 3 letters: 3 s, one status a second
    assert (client.rc, client.err) == (0, "")
    handle, statuses = _bg_status(client.out)
    assert 3 <= len(statuses) <= 6, client.out
    running = [s for s in statuses if s[1]]
    assert running and all(den in (0, 3) for _, _, _, den in running), client.out
    numerators = [num for _, _, num, _ in statuses[:-1]]
    assert numerators == sorted(numerators) and max(numerators) >= 1, client.out
    assert any(num >= 1 and den == 3 for _, _, num, den in running), client.out
    done = examples.finish(worker)
    assert (done.rc, done.err) == (0, "")
    assert assert_job_lines(done.out, "abc", "cba") == [handle]


# -- reverse_client_cb.py -----------------------------------------------------------------------


def _cb_lines(lines: List[str]) -> Dict[str, List[List[str]]]:
    """Groups reverse_client_cb.py's lines by kind; the 10 ``Added:`` lines come first."""
    kinds: Dict[str, List[List[str]]] = {}
    for i, line in enumerate(lines):
        kind, _, rest = line.partition(": ")
        assert kind in ("Added", "Created", "Data", "Status", "Completed", "Failed"), line
        assert (kind == "Added") == (i < 10), lines
        kinds.setdefault(kind, []).append(rest.split(" "))
    return kinds


def test_reverse_client_cb(examples: Examples) -> None:
    [worker] = examples.start_workers("-c", "10", "-u")
    client = examples.run("reverse_client_cb.py", "abc")
    assert (client.rc, client.err) == (0, "")
    kinds = _cb_lines(client.out)
    assert sorted(kinds) == ["Added", "Completed", "Created"]
    uniques = [u for [u] in kinds["Added"]]
    assert len(uniques) == 10 and all(re.fullmatch(UUID, u) for u in uniques)
    created = [h for [h] in kinds["Created"]]
    assert len(created) == len(set(created)) == 10 and all(re.fullmatch(HANDLE, h) for h in created)
    assert sorted(kinds["Completed"]) == sorted([h, "cba"] for h in created)
    # the worker served exactly these 10 jobs, with the uniques the client printed
    done = examples.finish(worker)
    assert (done.rc, done.err) == (0, "")
    served = [re.fullmatch(job_line("abc", "cba", f"({UUID})"), line) for line in done.out]
    assert all(served), done.out
    assert sorted(m.group(1) for m in served if m) == sorted(created)
    assert sorted(m.group(2) for m in served if m) == sorted(uniques)


def test_reverse_client_cb_data(examples: Examples) -> None:
    [worker] = examples.start_workers("-d", "-c", "10")
    client = examples.run("reverse_client_cb.py", "abc")
    assert (client.rc, client.err) == (0, "")
    kinds = _cb_lines(client.out)
    assert sorted(kinds) == ["Added", "Completed", "Created", "Data"]
    created = sorted(h for [h] in kinds["Created"])
    assert len(set(created)) == 10
    chunks: Dict[str, str] = {}
    for handle, data in kinds["Data"]:
        chunks[handle] = chunks.get(handle, "") + data
    assert chunks == {h: "cba" for h in created}  # one letter per data callback, in order
    assert sorted(kinds["Completed"]) == [[h, ""] for h in created]  # -d: empty final result
    assert f"Completed: {created[0]} " in client.out
    done = examples.finish(worker)
    assert (done.rc, done.err) == (0, "")
    assert sorted(assert_job_lines(done.out, "abc", "cba")) == created


def test_reverse_client_cb_status(examples: Examples) -> None:
    workers = examples.start_workers("-s", count=5)  # 10 one-second jobs on 5 workers
    client = examples.run("reverse_client_cb.py", "a")
    assert (client.rc, client.err) == (0, "")
    kinds = _cb_lines(client.out)
    assert sorted(kinds) == ["Added", "Completed", "Created", "Status"]
    created = sorted(h for [h] in kinds["Created"])
    assert len(set(created)) == 10
    assert sorted(kinds["Status"]) == [[h, "(0/1)"] for h in created]
    assert sorted(kinds["Completed"]) == [[h, "a"] for h in created]
    served = []
    for worker in workers:
        done = examples.stop(worker)
        assert (done.rc, done.err) == (0, "")
        served += assert_job_lines(done.out, "a", "a")
    assert sorted(served) == created


def test_reverse_client_cb_failed(examples: Examples) -> None:
    thread = _failing_worker(examples.server, 10)
    client = examples.run("reverse_client_cb.py", "abc")
    assert (client.rc, client.err) == (0, "")
    kinds = _cb_lines(client.out)
    assert sorted(kinds) == ["Added", "Created", "Failed"]
    assert sorted(kinds["Failed"]) == sorted(kinds["Created"]) and len(kinds["Failed"]) == 10
    thread.join(10)
    assert not thread.is_alive()


# -- reverse_worker.py --------------------------------------------------------------------------


def test_reverse_worker_timeout(examples: Examples) -> None:
    worker = examples.start("reverse_worker.py", "-t", "200", "-c", "2")
    done = examples.finish(worker)
    assert (done.rc, done.out) == (0, [])
    lines = done.err.splitlines()
    assert len(lines) == 2 and all("GEARMAN_TIMEOUT" in line for line in lines), done.err
    assert done.seconds >= 0.4


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_reverse_worker_stops_on_signal_while_idle(examples: Examples, sig: int) -> None:
    [worker] = examples.start_workers()
    done = examples.stop(worker, sig)
    assert done[:3] == (0, [], "")
    assert done.product < 1.5


def test_reverse_worker_finishes_the_running_job_on_sigterm(examples: Examples) -> None:
    [worker] = examples.start_workers("-s")
    client = examples.start("reverse_client.py", "ab")  # two seconds of work
    examples.wait_for("reverse", lambda total, running, available: running == 1)
    done = examples.stop(worker)
    assert (done.rc, done.err) == (0, "")
    assert_job_lines(done.out, "ab", "ba")
    assert examples.finish(client)[:3] == (0, ["Result=ba"], "")


def test_reverse_worker_without_a_server_retries_without_busy_looping(examples: Examples) -> None:
    port = free_port()
    worker = subprocess.Popen(
        examples.argv("reverse_worker.py", ["-h", "127.0.0.1", "-p", str(port)]),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(),
    )
    examples.procs.append(worker)
    # Its first error line says it is past its signal handlers and in its retry loop (on a loaded
    # machine the start alone took over 2 s, and a SIGTERM before the handlers killed it: -15).
    stderr = worker.stderr
    assert stderr is not None
    first: List[bytes] = []
    reader = threading.Thread(target=lambda: first.append(stderr.readline()), daemon=True)
    reader.start()
    reader.join(30)
    assert first and first[0], "reverse_worker.py printed no error within 30 s"
    time.sleep(2.0)
    done = examples.stop(worker)
    assert (done.rc, done.out) == (0, [])
    assert not _example_processes(port)
    lines = [first[0].decode().rstrip("\n"), *done.err.splitlines()]
    assert 1 <= len(lines) <= 5 and all("GEARMAN_COULD_NOT_CONNECT" in line for line in lines), lines
    assert done.product < 1.5


# -- the demo -----------------------------------------------------------------------------------


def test_demo_runs_the_examples_and_leaves_no_process_behind() -> None:
    before = {pid for pid, _ in _example_processes(None)}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "demo.py")], capture_output=True, env=_env(), timeout=120
    )
    out = done.stdout.decode().splitlines()
    assert (done.returncode, done.stderr.decode()) == (0, ""), out
    assert re.fullmatch(r"gearmand \d+\.\S+ running on 127\.0\.0\.1:\d+", out[0])
    assert re.match(r"\$ reverse_worker\.py -h 127\.0\.0\.1 -p \d+ &$", out[2])
    assert "Result=!dlroW olleH" in out
    assert sum(line.startswith("Added: ") for line in out) == 10
    assert sum(line.startswith("Created: ") for line in out) == 10
    assert sum(bool(re.fullmatch(f"Completed: {HANDLE} olleH", line)) for line in out) == 10
    worker = [line for line in out if line.startswith("  [worker] ")]
    assert len(worker) == 11
    assert out[-3:] == ["reverse_worker.py exited with 0", "gearmand stopped", "no process left behind"]
    assert {pid for pid, _ in _example_processes(None)} <= before


# -- Ctrl-C -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["reverse_client.py", "reverse_client_bg.py", "reverse_client_cb.py"])
def test_ctrl_c_stops_a_waiting_client_with_130(examples: Examples, name: str) -> None:
    # No worker: reverse_client.py and reverse_client_cb.py wait for their jobs forever,
    # reverse_client_bg.py polls the queued job's status forever.
    client = examples.start(name, "abc")
    examples.wait_for("reverse", lambda total, running, available: total >= 1, [client])
    time.sleep(0.3)
    done = examples.stop(client, signal.SIGINT, timeout=5)
    assert (done.rc, done.err) == (130, "")
    assert done.product < 1.5
