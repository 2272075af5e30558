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
from gearman_xs.admin import parse_status  # noqa: E402
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
        self.venv_env = dict(env)  # for the interpreters of self.pythons: their own gearman_xs
        env["PYTHONPATH"] = pkg_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.env = env
        self.perl_ok = _perl_available()
        # impl name -> Python interpreter with its own gearman_xs installed (run.py --compare: "old",
        # "new"); "gearman_xs" and "gearman_xs-clamped" run this interpreter's gearman_xs.
        self.pythons: Dict[str, str] = {}

    def python(self, impl: str) -> str:
        if impl in self.pythons:
            return self.pythons[impl]
        if impl in ("gearman_xs", "gearman_xs-clamped"):
            return sys.executable
        raise ValueError(impl)

    def _cmd(self, impl: str, role: str, *args: str) -> List[str]:
        if impl in ("c", "c-noclamp"):
            return [os.path.join(self.bindir, "bench_" + role), self.host, self.port, *args]
        if impl == "perl":
            return ["perl", os.path.join(HERE, "peer_perl.pl"), role, f"{self.host}:{self.port}", *args]
        return [self.python(impl), os.path.join(HERE, "bench_py.py"), role, self.host, self.port, *args]

    def _env(self, impl: str, extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
        env = dict(self.venv_env if impl in self.pythons else self.env)
        if impl == "gearman_xs-clamped":
            env["GEARMAN_XS_SOCKET_BUFFERS"] = "libgearman"
        if impl == "c-noclamp":  # the C programs with kernel socket buffers (see noclamp.c)
            env["LD_PRELOAD"] = os.path.join(self.bindir, "noclamp.so")
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
            raise BenchError(f"{_name(proc)} did not finish in {timeout}s: {err[-500:]}") from None
        if proc.returncode != 0:
            raise BenchError(f"{_name(proc)} exited {proc.returncode}: {err[-500:]}")
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

    # -- the user-shaped programs (user_client.c/.py, user_worker.c/.py) --------------------------

    def _user_cmd(self, impl: str, role: str, *args: str) -> List[str]:
        if impl == "c":
            return [os.path.join(self.bindir, "user_" + role), self.host, self.port, *args]
        return [self.python(impl), os.path.join(HERE, f"user_{role}.py"), self.host, self.port, *args]

    def user_workers(self, impl: str, count: int, procs: int = 1,
                     threads: int = 1) -> List[subprocess.Popen[str]]:
        """``procs`` user_worker processes of ``threads`` threads each, registered with gearmand
        (each exits after ``count`` jobs; 0: stop them with stop_worker())."""
        before = self.queue()[2]
        cmd = self._user_cmd(impl, "worker", str(count), str(threads))
        workers = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    env=self._env(impl)) for _ in range(procs)]
        deadline = time.monotonic() + 60
        # registered, or (draining a queue) already done with every job
        while self.queue()[2] < before + procs * threads and all(w.poll() is None for w in workers):
            if time.monotonic() > deadline:
                for w in workers:
                    self.stop_worker(w)
                raise BenchError(f"{impl} user_worker did not register within 60 s")
            time.sleep(0.01)
        return workers

    def user_client(self, impl: str, mode: str, count: int, size: int = 100, threads: int = 1,
                    duration: float = 0.0) -> subprocess.Popen[str]:
        """Starts a user_client process (read its result with finish_worker()). With a duration it
        waits for go() after printing "ready"."""
        args = [mode, str(count), str(size), str(threads)]
        if duration > 0:
            args += [str(duration), "-"]
        return subprocess.Popen(self._user_cmd(impl, "client", *args), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=self._env(impl))

    def go(self, clients: List[subprocess.Popen[str]], timeout: float = 120) -> None:
        """Once every client (started with a duration) is ready, gives them a common start time."""
        for c in clients:
            assert c.stderr is not None and c.stdin is not None
            line = c.stderr.readline()  # bounded: the process exits (EOF) or prints "ready"
            if "ready" not in line:
                for other in clients:
                    other.kill()
                    other.communicate()
                raise BenchError(f"user_client did not start: {line}")
        start = time.time() + 0.05
        for c in clients:
            assert c.stdin is not None
            c.stdin.write(f"{start!r}\n")
            c.stdin.flush()  # finish_worker()'s communicate() closes it

    def user_run(self, impl: str, mode: str, count: int, size: int = 100) -> Dict[str, Any]:
        """One user_client run to its end; raises on failures."""
        res = self.finish_worker(self.user_client(impl, mode, count, size), timeout=900)
        if res.get("failures") or res.get("count") != count:
            raise BenchError(f"{impl} user client {mode}: {res}")
        return res

    def queue(self) -> Tuple[int, int, int]:
        """(queued, running, available workers) of FUNCTION, from gearmand's status."""
        for s in parse_status(self.server.admin("status").splitlines()):
            if s.function == FUNCTION:
                return s.queued, s.running, s.workers
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

    def drain(self, impl: str, count: int) -> Dict[str, Any]:
        """One worker process runs ``count`` jobs already queued, and exits: its result."""
        worker = self.start_worker(impl, count)
        try:
            wres = self.finish_worker(worker)
        finally:
            self.stop_worker(worker)
        self.wait_until_no_workers()
        return wres

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


def _name(proc: subprocess.Popen[str]) -> str:
    args = proc.args if isinstance(proc.args, list) else [str(proc.args)]
    return " ".join(os.path.basename(str(a)) for a in args[:2])


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


# name -> (source, extra gcc arguments, linked with libgearman)
C_PROGRAMS: Dict[str, Tuple[str, Tuple[str, ...], bool]] = {
    "bench_client": ("bench_client.c", (), True),
    "bench_worker": ("bench_worker.c", (), True),
    "user_client": ("user_client.c", ("-pthread",), True),
    "user_worker": ("user_worker.c", ("-pthread",), True),
    "loopback": ("loopback.c", (), False),
    "noclamp.so": ("noclamp.c", ("-shared", "-fPIC"), False),
}


def compile_c(bindir: str) -> None:
    """Compiles every program of C_PROGRAMS into ``bindir``."""
    try:
        flags = subprocess.run(["pkg-config", "--cflags", "--libs", "gearmand"], capture_output=True,
                               text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        flags = ["-lgearman"]
    cc = os.environ.get("CC", "gcc").split()
    for name, (source, extra, gearman) in C_PROGRAMS.items():
        libs = [*flags] if gearman else (["-ldl"] if name.endswith(".so") else [])
        cmd = [*cc, "-O2", "-Wall", *extra, "-o", os.path.join(bindir, name), os.path.join(HERE, source),
               *libs]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise BenchError(f"compiling {source} failed:\n{' '.join(cmd)}\n{proc.stderr}")
