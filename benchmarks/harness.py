"""The benchmark harness: the private gearmand's processes (C, gearman_xs and Perl clients and workers)
and the C reference programs.

``Bench`` starts each side as its own process (``bench_client``/``bench_worker`` compiled from
bench_client.c/bench_worker.c, ``bench_py.py`` for gearman_xs, ``peer_perl.pl`` for Perl), reads the one
JSON line each prints, and watches gearmand's queue through its admin ``status``. ``compile_c()``
builds the C programs against the same libgearman (``pkg-config --cflags --libs gearmand``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

try:
    import gearman_xs
except ImportError:  # an in-place build in a checkout
    sys.path.insert(0, ROOT)
    import gearman_xs
from gearman_xs.testing import Gearmand  # noqa: E402

KIB = 1024
MIB = 1024 * 1024
FUNCTION = "echo"

__all__ = ["FUNCTION", "HERE", "KIB", "MIB", "ROOT", "Bench", "BenchError", "Gearmand", "compile_c",
           "gearman_xs"]


class BenchError(RuntimeError):
    pass


class Bench:
    def __init__(self, server: Gearmand, bindir: str) -> None:
        self.server = server
        self.bindir = bindir
        self.host = server.host
        self.port = str(server.port)
        dropped = ("GEARMAN_SERVERS", "GEARMAN_XS_SOCKET_BUFFERS")
        env = {k: v for k, v in os.environ.items() if k not in dropped}
        pkg_root = os.path.dirname(os.path.dirname(os.path.abspath(gearman_xs.__file__)))
        env["PYTHONPATH"] = pkg_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.env = env
        self.perl_ok = _perl_available()

    def _cmd(self, impl: str, role: str, *args: str) -> List[str]:
        if impl == "c":
            return [os.path.join(self.bindir, "bench_" + role), self.host, self.port, *args]
        if impl in ("gearman_xs", "gearman_xs-clamped"):
            return [sys.executable, os.path.join(HERE, "bench_py.py"), role, self.host, self.port, *args]
        if impl == "perl":
            return ["perl", os.path.join(HERE, "peer_perl.pl"), role, f"{self.host}:{self.port}", *args]
        raise ValueError(impl)

    def _env(self, impl: str, extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
        env = dict(self.env)
        if impl == "gearman_xs-clamped":
            env["GEARMAN_XS_SOCKET_BUFFERS"] = "libgearman"
        env.update(extra or {})
        return env

    def start_worker(self, impl: str, count: int,
                     extra: Optional[Dict[str, str]] = None) -> subprocess.Popen[str]:
        cmd = self._cmd(impl, "worker", str(count))
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=self._env(impl, extra))
        assert proc.stderr is not None
        line = proc.stderr.readline()
        if "ready" not in line:
            proc.kill()
            err = proc.communicate()[1]
            raise BenchError(f"{impl} worker did not start: {line}{err}")
        self.wait_for_workers(1)
        return proc

    def finish_worker(self, proc: subprocess.Popen[str], timeout: float = 600) -> Dict[str, Any]:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            raise BenchError(f"worker did not finish in {timeout}s: {err[-500:]}") from None
        if proc.returncode != 0:
            raise BenchError(f"worker exited {proc.returncode}: {err[-500:]}")
        return _last_json(out) if out.strip() else {}

    def stop_worker(self, proc: subprocess.Popen[str]) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()

    def client(self, impl: str, mode: str, count: int, size: int,
               extra: Optional[Dict[str, str]] = None, timeout: float = 900) -> Dict[str, Any]:
        if impl == "perl":
            cmd = self._cmd(impl, "client", str(size), str(count))
        else:
            cmd = self._cmd(impl, "client", mode, str(count), str(size))
        proc = subprocess.run(cmd, capture_output=True, text=True, env=self._env(impl, extra),
                              timeout=timeout)
        if proc.returncode != 0:
            raise BenchError(f"{impl} client {mode} failed ({proc.returncode}): {proc.stderr[-800:]}")
        return _last_json(proc.stdout)

    def threads(self, nthreads: int, count: int, size: int) -> Dict[str, Any]:
        cmd = self._cmd("gearman_xs", "threads", str(nthreads), str(count), str(size))
        proc = subprocess.run(cmd, capture_output=True, text=True, env=self.env, timeout=900)
        if proc.returncode != 0:
            raise BenchError(f"threads failed: {proc.stderr[-800:]}")
        return _last_json(proc.stdout)

    def queue(self) -> Tuple[int, int, int]:
        """(queued, running, available workers) of FUNCTION, from gearmand's status."""
        for line in self.server.admin("status").splitlines():
            parts = line.split("\t")
            if parts[0] == FUNCTION and len(parts) >= 4:
                return int(parts[1]), int(parts[2]), int(parts[3])
        return 0, 0, 0

    def wait_for_workers(self, n: int, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while self.queue()[2] < n:
            if time.monotonic() > deadline:
                raise BenchError(f"fewer than {n} workers registered for {FUNCTION}")
            time.sleep(0.01)

    def wait_until_no_workers(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while self.queue()[2] > 0 and time.monotonic() < deadline:
            time.sleep(0.01)

    def pair(self, client_impl: str, worker_impl: str, mode: str, count: int, size: int,
             worker_count: Optional[int] = None, client_env: Optional[Dict[str, str]] = None,
             worker_env: Optional[Dict[str, str]] = None) -> Tuple[Dict[str, Any], Dict[str, Any]]:
        """One client run served by one worker process that exits after the client's jobs."""
        jobs = worker_count if worker_count is not None else count
        worker = self.start_worker(worker_impl, jobs, worker_env)
        try:
            result = self.client(client_impl, mode, count, size, client_env)
            wres = self.finish_worker(worker)
        finally:
            self.stop_worker(worker)
        self.wait_until_no_workers()
        return result, wres


def _last_json(text: str) -> Dict[str, Any]:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)  # type: ignore[no-any-return]
    raise BenchError(f"no JSON in output: {text[-300:]!r}")


def _perl_available() -> bool:
    if shutil.which("perl") is None:
        return False
    return subprocess.run(["perl", "-MGearman::Client", "-MGearman::Worker", "-e", "1"],
                          capture_output=True, check=False).returncode == 0


def compile_c(bindir: str) -> None:
    try:
        flags = subprocess.run(["pkg-config", "--cflags", "--libs", "gearmand"], capture_output=True,
                               text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        flags = ["-lgearman"]
    cc = os.environ.get("CC", "gcc").split()
    for name in ("bench_client", "bench_worker"):
        cmd = [*cc, "-O2", "-Wall", "-o", os.path.join(bindir, name), os.path.join(HERE, name + ".c"), *flags]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise BenchError(f"compiling {name}.c failed:\n{' '.join(cmd)}\n{proc.stderr}")
