"""Shared machinery of the interop tests (tests/test_interop_*.py): real peer programs, started and
stopped by pid, talking to a private gearmand.

Peers (programs in tests/peers/):
- Perl ``Gearman::Client`` / ``Gearman::Worker`` (libgearman-client-perl, a pure-Perl protocol),
- PHP's pecl gearman extension (``GearmanClient`` / ``GearmanWorker``, over libgearman),
- the ``gearman`` CLI client and worker and ``gearadmin`` (gearman-tools, C over libgearman).

Every peer worker serves the same functions under its own prefix (``perl.echo``, ``php.echo``,
``cli.echo``); the Python worker serves them as ``py.*``. The peer clients print one event per line
with payloads in hex (see perl_client.pl / php_client.php), parsed here into tuples.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, ContextManager, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import pytest

import gearman_xs
from gearman_xs.testing import Gearmand

PEERS = Path(__file__).resolve().parent / "peers"

#: The 256 byte values, in order: the "every byte" payload.
ALL_BYTES = bytes(range(256))
#: UTF-8 text with 2-, 3- and 4-byte sequences.
UTF8_TEXT = "grüße, 世界, ✓ 🐍".encode()
MIB = 1 << 20
#: What every ``events`` function sends, as client callbacks see it (and the peer clients print it).
EVENTS = [("data", b"d1"), ("warning", b"w1"), ("status", 1, 2), ("data", b"d2"), ("warning", b"w2"),
          ("status", 2, 2), ("complete", b"done")]
#: What pyx.raise (a send_exceptions=True Python worker whose function raises) sends.
PY_EXCEPTION = b"RuntimeError: python failure"

# gearmand must not see the servers of a developer's environment.
os.environ.pop("GEARMAN_SERVERS", None)


def pattern(n: int) -> bytes:
    """What the ``gen`` functions return for workload ``n``: n bytes, byte i = i % 256."""
    return (ALL_BYTES * (n // 256 + 1))[:n]


def sha256_hex(data: bytes) -> bytes:
    return hashlib.sha256(data).hexdigest().encode("ascii")


def random_bytes(n: int, seed: int = 6) -> bytes:
    """Deterministic random bytes."""
    return random.Random(seed).randbytes(n)


# -- peer availability: skip on a developer machine without them, fail in CI ---------------------

def _probe(argv: Sequence[str]) -> bool:
    try:
        return subprocess.run(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


_PROBES: Dict[str, Sequence[str]] = {
    "perl": ["perl", "-MGearman::Client", "-MGearman::Worker", "-e", "1"],
    "php": ["php", "-r", "exit(class_exists('GearmanClient') && class_exists('GearmanWorker') ? 0 : 1);"],
    "cli": ["sh", "-c", "command -v gearman && command -v gearadmin"],
}
_PACKAGES = {"perl": "libgearman-client-perl", "php": "php-cli php-gearman", "cli": "gearman-tools"}
_available: Dict[str, bool] = {}


def require_peer(peer: str) -> None:
    """Skips the test when ``peer`` is not installed; in CI (``CI=true``) fails it instead."""
    if peer not in _available:
        _available[peer] = _probe(_PROBES[peer])
    if not _available[peer]:
        message = f"interop peer {peer!r} not installed (Debian: apt-get install {_PACKAGES[peer]})"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


# -- waiting on gearmand -----------------------------------------------------------------------------

def function_status(server: Gearmand) -> Dict[str, Tuple[int, int, int]]:
    """gearmand's ``status``: function -> (queued, running, available workers)."""
    table: Dict[str, Tuple[int, int, int]] = {}
    for line in server.admin("status").splitlines():
        parts = line.split("\t")
        if len(parts) == 4:
            table[parts[0]] = (int(parts[1]), int(parts[2]), int(parts[3]))
    return table


def wait_until(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    """Polls ``predicate`` every 10 ms until it returns a true value, which it returns."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


def wait_for_workers(server: Gearmand, functions: Sequence[str], timeout: float = 15.0) -> None:
    """Waits until every function has at least one registered worker on ``server``."""
    def ready() -> bool:
        table = function_status(server)
        return all(table.get(f, (0, 0, 0))[2] >= 1 for f in functions)
    wait_until(ready, timeout, f"workers for {list(functions)} on {server}")


def wait_for_file(path: Path, timeout: float = 15.0) -> bytes:
    wait_until(path.exists, timeout, f"{path} to appear")
    return path.read_bytes()


# -- peer workers ----------------------------------------------------------------------------------

PEER_FUNCTIONS = {
    "perl": ["echo", "sha256", "gen", "info", "events", "progress", "bg_write", "record", "fail", "die",
             "exception"],
    "php": ["echo", "sha256", "gen", "info", "events", "progress", "bg_write", "record", "fail",
            "fail_send", "exception"],
    "cli": ["echo", "sha256", "bg_write", "record", "fail", "lines"],
}


class PeerWorker:
    """A Perl, PHP or CLI worker serving ``PREFIX.NAME`` for each NAME of ``functions`` (default: all
    the peer has), until ``stop()``. The CLI needs one ``gearman -w`` process per function; its
    function ``cat`` runs a plain ``cat`` (not in the default set: it deadlocks on big workloads)."""

    def __init__(self, peer: str, server: Gearmand, functions: Optional[Sequence[str]] = None,
                 prefix: Optional[str] = None, identifier: Optional[str] = None,
                 wait: bool = True) -> None:
        require_peer(peer)
        self.peer = peer
        self.server = server
        self.prefix = prefix or peer
        self.functions = list(functions or PEER_FUNCTIONS[peer])
        self.names = [f"{self.prefix}.{f}" for f in self.functions]
        self.tmpdir = tempfile.mkdtemp(prefix=f"gearman_xs-{peer}-worker-")
        self.processes: List[subprocess.Popen[bytes]] = []
        try:
            for argv in self._commands(identifier):
                log = open(os.path.join(self.tmpdir, f"stderr.{len(self.processes)}"), "wb")  # noqa: SIM115
                with log:
                    self.processes.append(subprocess.Popen(
                        argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                        start_new_session=True))
            if wait:
                wait_for_workers(server, self.names)
        except BaseException:
            self.stop()
            raise

    def _commands(self, identifier: Optional[str]) -> List[List[str]]:
        host, port = self.server.host, str(self.server.port)
        id_args = ["--id", identifier] if identifier else []
        if self.peer == "perl":
            return [["perl", str(PEERS / "perl_worker.pl"), self.server.servers, "--prefix", self.prefix,
                     *id_args, *self.functions]]
        if self.peer == "php":
            return [["php", str(PEERS / "php_worker.php"), self.server.servers, "--prefix", self.prefix,
                     *id_args, *self.functions]]
        commands = []
        for f in self.functions:
            flags = ["-n"] if f == "lines" else []
            job = ["cat"] if f == "cat" else ["sh", str(PEERS / "cli_job.sh"), f]
            commands.append(["gearman", "-w", *flags, "-h", host, "-p", port, "-f", f"{self.prefix}.{f}",
                             "--", *job])
        return commands

    def alive(self) -> List[bool]:
        return [p.poll() is None for p in self.processes]

    def stderr(self) -> str:
        text = []
        for name in sorted(os.listdir(self.tmpdir)):
            with open(os.path.join(self.tmpdir, name), "rb") as f:
                text.append(f.read().decode("utf-8", "replace"))
        return "".join(text)

    def stop(self) -> None:
        for p in self.processes:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.processes:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.processes = []
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    def __enter__(self) -> PeerWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- peer clients ----------------------------------------------------------------------------------

Event = Tuple[Any, ...]
_HEX_EVENTS = {"data", "warning", "complete", "exception", "result", "fail"}


class PeerRun:
    """One finished peer-client run: ``events`` parsed from its stdout (ending with ``("end",)``
    when the client returned normally), ``returncode``, ``stderr``."""

    def __init__(self, argv: Sequence[str], returncode: int, stdout: bytes, stderr: bytes) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr.decode("utf-8", "replace")
        self.events: List[Event] = []
        for line in stdout.decode("ascii", "replace").splitlines():
            kind, _, rest = line.partition(" ")
            if kind in _HEX_EVENTS:
                self.events.append((kind, bytes.fromhex(rest)) if rest else (kind,) if kind == "fail"
                                   else (kind, b""))
            elif kind in ("status", "jobstatus"):
                self.events.append((kind, *(int(x) for x in rest.split())))
            elif kind in ("rc", "handle"):
                self.events.append((kind, rest))
            else:
                self.events.append((kind,))

    def value(self, kind: str) -> Any:
        """The payload of the only ``kind`` event."""
        found = [e for e in self.events if e[0] == kind]
        assert len(found) == 1, f"expected one {kind!r} event, got {self.events}\n{self}"
        return found[0][1]

    def __str__(self) -> str:
        return (f"{' '.join(self.argv)} -> exit {self.returncode}\n"
                f"stdout: {self.events}\nstderr: {self.stderr}")


def run_peer_client(peer: str, server: Gearmand, mode: str, function: str,
                    workload: Optional[bytes] = None, unique: Optional[str] = None,
                    extra: Sequence[str] = (), timeout: float = 60.0) -> PeerRun:
    """Runs perl_client.pl or php_client.php once (see their headers for ``mode``)."""
    require_peer(peer)
    script = {"perl": "perl_client.pl", "php": "php_client.php"}[peer]
    with tempfile.NamedTemporaryFile(prefix="gearman_xs-workload-") as f:
        argv = [peer, str(PEERS / script), server.servers, mode, function]
        if workload is not None:
            f.write(workload)
            f.flush()
            argv += ["--in", f.name]
        if unique is not None:
            argv += ["--unique", unique]
        argv += list(extra)
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    return PeerRun(argv, done.returncode, done.stdout, done.stderr)


def run_cli_client(server: Gearmand, function: str, workload: bytes = b"", flags: Sequence[str] = (),
                   timeout: float = 60.0) -> subprocess.CompletedProcess[bytes]:
    """``gearman -h HOST -p PORT -f FUNCTION FLAGS...`` with ``workload`` on stdin."""
    require_peer("cli")
    argv = ["gearman", "-h", server.host, "-p", str(server.port), "-f", function, *flags]
    return subprocess.run(argv, input=workload, capture_output=True, timeout=timeout)


def gearadmin(server: Gearmand, *flags: str) -> str:
    require_peer("cli")
    done = subprocess.run(["gearadmin", "-h", server.host, "-p", str(server.port), *flags],
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=30, check=True)
    return done.stdout.decode("utf-8", "replace")


# -- the Python side ---------------------------------------------------------------------------------

def new_client(server: Gearmand, timeout_ms: int = 20000) -> gearman_xs.Client:
    """A gearman_xs Client on ``server``; a timeout turns a hang into GearmanTimeout."""
    client = gearman_xs.Client()
    client.add_servers(server.servers)
    client.set_timeout(timeout_ms)
    return client


def _split_path(workload: bytes) -> Tuple[Path, bytes]:
    path, _, data = workload.partition(b"\n")
    return Path(os.fsdecode(path)), data


def _progress(job: Any) -> bytes:
    go = Path(os.fsdecode(job.workload()))
    job.send_status(1, 4)
    deadline = time.monotonic() + 30
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    job.send_status(4, 4)
    return b"progressed"


def _events(job: Any) -> bytes:
    job.send_data(b"d1")
    job.send_warning(b"w1")
    job.send_status(1, 2)
    job.send_data(b"d2")
    job.send_warning(b"w2")
    job.send_status(2, 2)
    return b"done"


def _bg_write(job: Any) -> bytes:
    path, data = _split_path(job.workload())
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.rename(path)
    return b"ok"


def _record(job: Any) -> bytes:
    path, line = _split_path(job.workload())
    with open(path, "ab") as f:
        f.write(line + b"\n")
    return b"ok"


def _raise(job: Any) -> bytes:
    raise RuntimeError("python failure")


def _send_fail(job: Any) -> None:
    job.send_fail()


def _send_exception(job: Any) -> None:
    job.send_exception(b"python exception")


#: The functions the Python worker serves (as ``py.NAME``), mirroring the peer workers.
PY_FUNCTIONS: Dict[str, Callable[[Any], Union[bytes, str, None]]] = {
    "echo": lambda job: job.workload(),
    "sha256": lambda job: sha256_hex(job.workload()),
    "gen": lambda job: pattern(int(job.workload())),
    "info": lambda job: "\n".join([job.function_name(), job.handle(), str(job.workload_size()),
                                   job.unique()]),
    "events": _events,
    "progress": _progress,
    "bg_write": _bg_write,
    "record": _record,
    "raise": _raise,
    "fail_send": _send_fail,
    "exception_send": _send_exception,
}


class PyWorker:
    """A gearman_xs Worker serving ``PREFIX.NAME`` for the given functions in a thread, until stop()."""

    def __init__(self, server: Gearmand, functions: Optional[Sequence[str]] = None, prefix: str = "py",
                 identifier: Optional[str] = None, send_exceptions: bool = False, wait: bool = True) -> None:
        self.server = server
        self.names = [f"{prefix}.{f}" for f in (functions or PY_FUNCTIONS)]
        self.worker = gearman_xs.Worker(send_exceptions=send_exceptions)
        self.error: Optional[BaseException] = None
        self.jobs = 0
        try:
            self.worker.add_servers(server.servers)
            if identifier is not None:
                self.worker.set_identifier(identifier)
            for name in self.names:
                self.worker.add_function(name, 0, PY_FUNCTIONS[name.split(".", 1)[1]])
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


class Stack:
    """One private gearmand (``args``, e.g. ``["--exceptions"]``) with, on it:
    ``peer_worker`` (a PeerWorker of ``peer`` serving ``peer_functions``), ``py`` (a default Python
    worker serving every ``py.*`` function, identifier ``gxs-interop-PEER``) and ``pyx`` (a
    ``send_exceptions=True`` Python worker serving ``pyx.raise``)."""

    def __init__(self, peer: str, args: Sequence[str] = (),
                 peer_functions: Optional[Sequence[str]] = None) -> None:
        require_peer(peer)
        self.server = Gearmand(args).start()
        self.peer_worker: Optional[PeerWorker] = None
        self.py: Optional[PyWorker] = None
        self.pyx: Optional[PyWorker] = None
        try:
            self.peer_worker = PeerWorker(peer, self.server, peer_functions)
            self.py = PyWorker(self.server, identifier=f"gxs-interop-{peer}")
            self.pyx = PyWorker(self.server, ["raise"], prefix="pyx", send_exceptions=True)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        errors: List[BaseException] = []
        for w in (self.pyx, self.py, self.peer_worker):
            if w is not None:
                try:
                    w.stop()
                except BaseException as exc:
                    errors.append(exc)
        self.server.close()
        if errors:
            raise errors[0]


# -- what the per-peer test modules share -------------------------------------------------------------

def stack_fixtures(peer: str, peer_functions: Optional[Sequence[str]] = None) -> Tuple[Any, ...]:
    """The fixtures of a per-peer test module: ``stack`` and ``exc_stack`` (module-scoped Stacks of
    ``peer`` on a default gearmand and on one started with --exceptions), ``any_stack`` (each of the
    two in turn), ``server`` (the default stack's gearmand) and ``client`` (a gearman_xs Client on
    it). Assign them at module level: ``stack, exc_stack, any_stack, server, client = ...``."""

    @pytest.fixture(scope="module", name="stack")
    def stack() -> Iterator[Stack]:
        s = Stack(peer, peer_functions=peer_functions)
        yield s
        s.close()

    @pytest.fixture(scope="module", name="exc_stack")
    def exc_stack() -> Iterator[Stack]:
        s = Stack(peer, ["--exceptions"], peer_functions=peer_functions)
        yield s
        s.close()

    @pytest.fixture(params=["default", "exceptions"], name="any_stack")
    def any_stack(request: pytest.FixtureRequest) -> Stack:
        chosen: Stack = request.getfixturevalue("stack" if request.param == "default" else "exc_stack")
        return chosen

    @pytest.fixture(name="server")
    def server(stack: Stack) -> Gearmand:
        return stack.server

    @pytest.fixture(name="client")
    def client(server: Gearmand) -> Iterator[gearman_xs.Client]:
        with new_client(server) as c:
            yield c

    return stack, exc_stack, any_stack, server, client


def collect_events(client: gearman_xs.Client, function: str, workload: bytes) -> List[Event]:
    """Runs one task and returns its callbacks in order, as the peer clients print them."""
    seen: List[Event] = []
    client.set_data_fn(lambda t: seen.append(("data", t.data())))
    client.set_warning_fn(lambda t: seen.append(("warning", t.data())))
    client.set_status_fn(lambda t: seen.append(("status", t.numerator(), t.denominator())))
    client.set_complete_fn(lambda t: seen.append(("complete", t.data())))
    client.set_fail_fn(lambda t: seen.append(("fail",)))
    client.set_exception_fn(lambda t: seen.append(("exception", t.exception())))
    client.add_task(function, workload)
    client.run_tasks()
    return seen


#: Submits a background ``record`` job: ``submit(priority, function, workload)``, priority being
#: "low", "normal" or "high".
Submit = Callable[[str, str, bytes], None]

_BACKGROUND_METHODS = {"low": "do_low_background", "normal": "do_background", "high": "do_high_background"}
_BACKGROUND_MODES = {"low": "bg_low", "normal": "bg", "high": "bg_high"}  # perl_client.pl/php_client.php


def check_queued_priorities(server: Gearmand, tmp_path: Path, stem: str, submit: Submit,
                            record_worker: Callable[[str], ContextManager[Any]]) -> None:
    """Queues a low, a normal and a high priority ``record`` job for a function nobody serves yet
    (named ``STEM<random>.record``), then starts ``record_worker(prefix)``: the jobs must run high,
    normal, low."""
    log = tmp_path / "order"
    prefix = f"{stem}{uuid.uuid4().hex[:8]}"
    for priority in ("low", "normal", "high"):
        submit(priority, f"{prefix}.record", os.fsencode(log) + b"\n" + priority.encode())
    assert function_status(server)[f"{prefix}.record"] == (3, 0, 0)
    with record_worker(prefix):
        wait_until(lambda: log.exists() and log.read_bytes().count(b"\n") == 3, what="3 records")
    assert log.read_bytes() == b"high\nnormal\nlow\n"


def client_submit(client: gearman_xs.Client) -> Submit:
    """Submits through gearman_xs's ``do_low_background`` / ``do_background`` / ``do_high_background``."""
    def submit(priority: str, function: str, workload: bytes) -> None:
        handle = getattr(client, _BACKGROUND_METHODS[priority])(function, workload)
        assert handle.startswith("H:"), handle
    return submit


def peer_background(peer: str, server: Gearmand, function: str, workload: bytes,
                    priority: str = "normal") -> str:
    """Submits a background job through perl_client.pl / php_client.php; returns the handle as the
    peer gives it (Perl's Gearman::Client: ``HOST:PORT//H:...``, PHP: ``H:...``)."""
    run = run_peer_client(peer, server, _BACKGROUND_MODES[priority], function, workload)
    handle: str = run.value("handle")
    assert handle.startswith(f"{server.servers}//H:" if peer == "perl" else "H:"), run
    return handle


def check_background_job_on_peer_worker(peer: str, client: gearman_xs.Client, tmp_path: Path) -> None:
    """A gearman_xs background job on the peer's ``bg_write`` runs: the file appears with every
    byte value, and gearmand then forgets the job."""
    target = tmp_path / "out"
    handle = client.do_background(f"{peer}.bg_write", os.fsencode(target) + b"\n" + ALL_BYTES)
    assert handle.startswith("H:")
    assert wait_for_file(target) == ALL_BYTES
    wait_until(lambda: not client.job_status(handle).is_known, what="the job to be forgotten")


def check_job_status_while_peer_worker_reports_progress(peer: str, client: gearman_xs.Client,
                                                        server: Gearmand, tmp_path: Path) -> None:
    """job_status() and job_status_by_unique() see the peer's ``progress`` at 1/4; the unique
    reached gearmand unchanged."""
    go = tmp_path / "go"
    unique = f"{peer}-{uuid.uuid4().hex[:12]}"
    handle = client.do_background(f"{peer}.progress", os.fsencode(go), unique=unique)
    try:
        wait_until(lambda: client.job_status(handle) == (True, True, 1, 4), what="status 1/4")
        assert unique in server.admin("show unique jobs").split("\n")
        assert client.job_status_by_unique(unique) == (True, True, 1, 4)
    finally:
        go.touch()  # a failed test must not leave the worker busy for 30 s
    wait_until(lambda: not client.job_status(handle).is_known, what="the job to finish")


def check_peer_client_job_status(peer: str, server: Gearmand, tmp_path: Path) -> None:
    """The peer client's job status of the Python worker's ``progress``: 1/4 while it runs, then
    not known."""
    go = tmp_path / "go"
    handle = peer_background(peer, server, "py.progress", os.fsencode(go))

    def status() -> Event:
        return run_peer_client(peer, server, "status", handle).events[0]

    try:
        wait_until(lambda: status() == ("jobstatus", 1, 1, 1, 4), what="status 1/4")
    finally:
        go.touch()
    wait_until(lambda: status()[1] == 0, what="the job to finish")
