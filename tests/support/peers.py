"""The interop peers: Perl ``Gearman::Client`` / ``Gearman::Worker`` (libgearman-client-perl, a pure-Perl
protocol), PHP's pecl gearman extension (``GearmanClient`` / ``GearmanWorker``, over libgearman) and
the ``gearman`` CLI client and worker (gearman-tools, C over libgearman), run from tests/peers/:
whether each is installed (``require_peer``: skip on a developer machine, fail in CI), their workers
(``PeerWorker``) and their clients (``run_peer_client``, ``run_cli_client``).

Every peer worker serves the same functions under its own prefix (``perl.echo``, ``php.echo``,
``cli.echo``). The peer clients print one event per line with payloads in hex (see perl_client.pl /
php_client.php), parsed here into tuples (``PeerRun.events``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import pytest

from gearman_xs.testing import Gearmand
from support.polling import wait_for_workers

PEERS = Path(__file__).resolve().parent.parent / "peers"
#: Every peer, in the order the parametrized interop tests run them.
PEER_NAMES = ("perl", "php", "cli")


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


# -- peer workers ----------------------------------------------------------------------------------

PEER_FUNCTIONS = {
    "perl": ["echo", "sha256", "gen", "info", "events", "progress", "bg_write", "record", "fail", "die",
             "exception"],
    "php": ["echo", "sha256", "gen", "info", "events", "progress", "bg_write", "record", "fail",
            "fail_send", "exception"],
    "cli": ["echo", "sha256", "bg_write", "record", "fail", "lines"],
}


#: What the peer worker of an interop Stack serves: every function but Perl's "die", which ends the
#: Perl worker process (test_interop_perl.py's test_perl_die_* start their own).
STACK_FUNCTIONS = {
    "perl": [f for f in PEER_FUNCTIONS["perl"] if f != "die"],
    "php": PEER_FUNCTIONS["php"],
    "cli": PEER_FUNCTIONS["cli"],
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
