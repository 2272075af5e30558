"""A real gearmand for tests: yours and ours.

``Gearmand`` starts the system's ``gearmand`` on a free port bound to 127.0.0.1, with its pid
file and log in a private temporary directory, waits until it answers, and always stops the
process it started, by pid::

    from gearman_xs.testing import Gearmand

    with Gearmand() as server:
        client = gearman_xs.Client()
        client.add_servers(server.servers)

The process is also stopped when the Python process that started it dies, even by SIGKILL
(Linux ``PR_SET_PDEATHSIG``), so a crashed test run leaves no gearmand behind.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from typing import List, Optional, Sequence

__all__ = ["Gearmand", "GearmandError", "free_port", "find_gearmand"]

_PR_SET_PDEATHSIG = 1


class GearmandError(RuntimeError):
    """gearmand could not be found, did not start, or did not answer in time."""


def find_gearmand() -> str:
    """Path of the gearmand binary: ``$GEARMAND`` or the first on PATH or in /usr/sbin."""
    explicit = os.environ.get("GEARMAND")
    if explicit:
        return explicit
    found = shutil.which("gearmand") or shutil.which("gearmand", path="/usr/sbin:/usr/local/sbin")
    if not found:
        raise GearmandError(
            "gearmand not found: install gearman-job-server (Debian/Ubuntu) or gearmand (EPEL), "
            "or set GEARMAND to its path"
        )
    return found


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    os.setpgrp()  # a Ctrl-C in the terminal goes to the tests, not to the server


def _terminate(pid: int, timeout: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout``; reaps the child if it is ours."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # not our child: poll for its disappearance
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            done = 0
        if done:
            return
        time.sleep(0.01)
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


class Gearmand:
    """One private gearmand process.

    ``args`` are extra gearmand arguments, e.g. ``["--exceptions"]``, ``["-j", "2"]`` or
    ``["-q", "libsqlite3", "--libsqlite3-db", path]``; ``threads`` is ``-t`` and ``backlog`` ``-b``.
    ``port`` picks the port (default: a free one); it is kept across ``restart()``.
    With ``--ssl`` among ``args`` (plus ``--ssl-ca-file``, ``--ssl-certificate``, ``--ssl-key``) the
    server speaks only TLS, and :meth:`admin` does too (verifying the server against that CA file).
    """

    def __init__(
        self,
        args: Sequence[str] = (),
        *,
        port: Optional[int] = None,
        threads: Optional[int] = None,
        backlog: Optional[int] = None,
        verbose: str = "INFO",
        startup_timeout: float = 10.0,
    ) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port(self.host)
        self.args = list(args)
        self.threads = threads
        self.backlog = backlog
        self.verbose = verbose
        self.startup_timeout = startup_timeout
        self.binary = find_gearmand()
        self.tmpdir = tempfile.mkdtemp(prefix="gearman_xs-gearmand-")
        self.pid_file = os.path.join(self.tmpdir, "gearmand.pid")
        self.log_file = os.path.join(self.tmpdir, "gearmand.log")
        self._process: Optional[subprocess.Popen[bytes]] = None
        self._finalizer = weakref.finalize(self, Gearmand._cleanup, [None], self.tmpdir)

    # -- what clients need --------------------------------------------------------------------

    @property
    def servers(self) -> str:
        """``"127.0.0.1:PORT"``, for ``add_servers()``."""
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> Optional[int]:
        """The running gearmand's pid, or None when stopped."""
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def command(self) -> List[str]:
        cmd = [
            self.binary, "-p", str(self.port), "-L", self.host, "-P", self.pid_file,
            "-l", self.log_file, "--verbose", self.verbose,
        ]
        if self.threads is not None:
            cmd += ["-t", str(self.threads)]
        if self.backlog is not None:
            cmd += ["-b", str(self.backlog)]
        return cmd + self.args

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> Gearmand:
        """Starts gearmand and waits until it answers ``version``."""
        if self.running:
            return self
        env = {k: v for k, v in os.environ.items() if k != "GEARMAN_SERVERS"}
        self._process = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.tmpdir, "stderr"), "ab"),  # noqa: SIM115
            preexec_fn=_die_with_parent,
            env=env,
        )
        self._finalizer.detach()
        self._finalizer = weakref.finalize(
            self, Gearmand._cleanup, [self._process.pid], self.tmpdir
        )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                code = self._process.returncode
                self._process = None
                raise GearmandError(f"gearmand exited with {code} at start:\n{self.log_tail()}")
            try:
                if self.admin("version").startswith("OK "):
                    return self
            except OSError:
                pass
            time.sleep(0.02)
        self.stop()
        raise GearmandError(f"gearmand did not answer within {self.startup_timeout}s")

    def stop(self) -> None:
        """Stops gearmand (SIGTERM, SIGKILL after 5 s) and waits for it to exit."""
        if self._process is not None:
            _terminate(self._process.pid)
            self._process.wait()
            self._process = None

    def kill(self) -> None:
        """Kills gearmand with SIGKILL, as a crash would."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def restart(self) -> Gearmand:
        """Stops and starts gearmand on the same port (the in-memory queue is lost)."""
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stops gearmand and removes its temporary directory."""
        self.stop()
        self._finalizer()

    @staticmethod
    def _cleanup(pids: List[Optional[int]], tmpdir: str) -> None:
        for pid in pids:
            if pid is not None:
                _terminate(pid)
        shutil.rmtree(tmpdir, ignore_errors=True)

    def __enter__(self) -> Gearmand:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- inspection -----------------------------------------------------------------------------

    def admin(self, command: str, timeout: float = 5.0) -> str:
        """Sends one admin text command (CRLF-terminated) and returns the reply, without its
        final ``.`` line for list replies."""
        with self._connect(timeout) as s:
            s.sendall(command.encode() + b"\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
                if data.startswith((b"OK", b"ERR")) and data.endswith(b"\n"):
                    break
                if data == b".\n" or data.endswith(b"\n.\n"):
                    data = data[:-2]
                    break
        return data.decode("utf-8", "replace")

    def _connect(self, timeout: float) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=timeout)
        if "--ssl" not in self.args:
            return sock
        import ssl

        ca_file = None
        if "--ssl-ca-file" in self.args[:-1]:
            ca_file = self.args[self.args.index("--ssl-ca-file") + 1]
        context = ssl.create_default_context(cafile=ca_file)
        context.verify_flags &= ~getattr(ssl, "VERIFY_X509_STRICT", 0)  # no stricter than gearmand
        try:
            return context.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of gearmand's log, for error messages."""
        try:
            with open(self.log_file, "rb") as f:
                return b"".join(f.readlines()[-lines:]).decode("utf-8", "replace")
        except OSError:
            return ""

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.running else "stopped"
        return f"<Gearmand {self.servers} {state}>"
