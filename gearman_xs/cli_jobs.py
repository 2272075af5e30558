"""``gearman-xs submit`` and ``gearman-xs worker``: the ``gearman`` CLI's client and worker modes on
gearman_xs.Client and gearman_xs.Worker, with exit codes that mean something.

``submit FUNCTION [DATA]`` sends DATA (stdin when absent) and prints the result (``-b``: the job
handle); a failed job, an exception, a timeout or an unreachable server exit 1 (``gearman`` exits 0
on most of these). ``worker FUNCTION [--] COMMAND...`` runs COMMAND for every job with the workload
on its stdin; its stdout is the result and a non-zero exit fails the job (WORK_FAIL).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from typing import IO, Any, Callable, List, Optional

from .client import Client
from .job import Job
from .worker import Worker

__all__ = ["add_job_commands", "run_submit", "run_worker", "CommandFailed"]


class CommandFailed(RuntimeError):
    """The worker's command exited non-zero (the job is failed with WORK_FAIL)."""




def add_job_commands(add: Callable[[str, str], argparse.ArgumentParser]) -> None:
    """Adds ``submit`` and ``worker`` to the parser through ``add(name, help)``."""
    submit = add("submit", "submit a job and print its result (-b: its handle)")
    submit.add_argument("function", metavar="FUNCTION")
    submit.add_argument("data", nargs="?", metavar="DATA", help="workload (default: read stdin)")
    submit.add_argument("-b", "--background", action="store_true", default=False,
                        help="background job: print the handle and return")
    priority = submit.add_mutually_exclusive_group()
    priority.add_argument("-I", "--high", action="store_true", default=False, help="high priority")
    priority.add_argument("-L", "--low", action="store_true", default=False, help="low priority")
    submit.add_argument("-u", "--unique", default=None, help="unique id (jobs with the same one are merged)")
    worker = add("worker", "run COMMAND for every job: workload on stdin, stdout is the result, "
                           "non-zero exit fails the job")
    worker.add_argument("function", metavar="FUNCTION")
    worker.add_argument("command_words", nargs="*", metavar="COMMAND",
                        help="the command and its arguments (put them after --)")
    worker.add_argument("-c", "--count", type=int, default=None, metavar="N", help="exit after N jobs")
    worker.add_argument("--id", default=None, help="worker identifier (shown by 'workers')")
    worker.add_argument("--send-exceptions", action="store_true", default=False,
                        help="send WORK_EXCEPTION with the command's failure before failing the job")


def _stdin_bytes(stdin: Optional[IO[Any]]) -> bytes:
    stream: Any = stdin if stdin is not None else sys.stdin
    raw = getattr(stream, "buffer", None)
    data = raw.read() if raw is not None else stream.read()
    return data if isinstance(data, bytes) else str(data).encode("utf-8")


def _write_bytes(out: IO[Any], data: bytes) -> None:
    raw = getattr(out, "buffer", None)
    if raw is not None:
        out.flush()
        raw.write(data)
        raw.flush()
    else:
        out.write(data.decode("utf-8", "replace"))


def run_submit(args: argparse.Namespace, servers: str, timeout: Optional[float], stdin: Optional[IO[Any]],
               out: IO[Any]) -> int:
    """Submits one job; returns the exit status (exceptions are reported by the caller)."""
    data = args.data.encode("utf-8") if args.data is not None else _stdin_bytes(stdin)
    prefix = "do_high" if args.high else "do_low" if args.low else "do"
    method = prefix + "_background" if args.background else prefix
    with Client() as client:
        client.add_servers(servers)
        if timeout is not None:
            client.set_timeout(max(1, int(timeout * 1000)))
        value = getattr(client, method)(args.function, data, args.unique)
    if args.background:
        out.write(json.dumps({"handle": value}) + "\n" if getattr(args, "json", False) else f"{value}\n")
    elif getattr(args, "json", False):
        out.write(json.dumps({"result": bytes(value).decode("utf-8", "replace")}) + "\n")
    else:
        _write_bytes(out, bytes(value))
    out.flush()
    return 0


def command_function(
    command: List[str], err: IO[Any], send_exceptions: bool = False
) -> Callable[[Job], Optional[bytes]]:
    """The worker function running ``command`` for a job (empty command: echo the workload).

    A non-zero exit sends WORK_FAIL (one line on ``err``, no traceback); with ``send_exceptions``
    it raises CommandFailed instead, so that the Worker sends WORK_EXCEPTION first."""

    def run_command(job: Job) -> Optional[bytes]:
        workload = job.workload()
        if not command:
            return bytes(workload)
        proc = subprocess.run(command, input=workload, stdout=subprocess.PIPE, check=False)
        if proc.returncode != 0:
            message = f"{' '.join(command)} exited with status {proc.returncode}"
            err.write(f"gearman-xs worker: job {job.handle()}: {message}\n")
            err.flush()
            if send_exceptions:
                raise CommandFailed(message)
            job.send_fail()
            return None
        return bytes(proc.stdout)

    return run_command


def run_worker(args: argparse.Namespace, command: List[str], servers: str, out: IO[Any],
               err: IO[Any]) -> int:
    """Runs jobs until --count jobs, SIGTERM or SIGINT; returns the exit status."""
    if command and shutil.which(command[0]) is None:
        raise ValueError(f"command not found: {command[0]}")
    if args.count is not None and args.count < 1:
        raise ValueError("--count must be >= 1")
    with Worker(send_exceptions=args.send_exceptions) as worker:
        worker.add_servers(servers)
        if args.id is not None:
            worker.set_identifier(args.id)
        worker.add_function(args.function, 0, command_function(command, err, args.send_exceptions))
        done = worker.run(args.count)
    if getattr(args, "json", False):
        out.write(json.dumps({"jobs": done}) + "\n")
        out.flush()
    return 0
