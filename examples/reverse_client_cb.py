#!/usr/bin/env python3
"""Example Client Using Callbacks: the port of Gearman::XS's examples/reverse_client_cb.pl.

Adds 10 ``reverse`` tasks with <string> as their workload (``Client.add_task()``), printing
``Added: <unique>`` for each, then sets the created, data, status, complete and fail callbacks
and runs the tasks (``Client.run_tasks()``). The callbacks print ``Created: <handle>``,
``Data: <handle> <data>``, ``Status: <handle> (<numerator>/<denominator>)``,
``Completed: <handle> <result>`` and ``Failed: <handle>``. Run reverse_worker.py, with -d or -s to
see data or status callbacks.

    python3 reverse_client_cb.py [-h <host>] [-p <port>] <string>

As in the Perl original the callbacks are set after the tasks were added. With Gearman::XS on
libgearman 1.x they then never fire (only the ``Added:`` lines appear); gearman_xs applies a
callback set before ``run_tasks()`` to the tasks already added, so every line above appears.

Exit codes: 0 when every task has run, 1 on a usage error or any failure (the error goes to
stderr), 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import List, NoReturn, Optional

from gearman_xs import Client, GearmanError, Task

REVERSE_TASKS = 10


class _UsageError(Exception):
    """A bad option: the caller prints the usage text and exits 1."""


class _Parser(argparse.ArgumentParser):
    """Getopt::Std-like options: -h is the host (no --help), errors print the Perl usage text."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def usage() -> None:
    print(f"\nusage: {sys.argv[0]} [-h <host>] [-p <port>] <string>")
    print("\t-h <host> - job server host")
    print("\t-p <port> - job server port")


def write_line(*parts: object) -> None:
    """Prints ``parts`` as one line; bytes are written as they are (Perl prints byte strings
    unchanged), anything else as ``str()``."""
    line = b"".join(p if isinstance(p, bytes) else str(p).encode("utf-8", "surrogateescape") for p in parts)
    sys.stdout.flush()
    sys.stdout.buffer.write(line + b"\n")
    sys.stdout.buffer.flush()


def created_cb(task: Task) -> None:
    write_line("Created: ", task.job_handle())


def data_cb(task: Task) -> None:
    write_line("Data: ", task.job_handle(), " ", task.data())


def status_cb(task: Task) -> None:
    write_line(f"Status: {task.job_handle()} ({task.numerator()}/{task.denominator()})")


def completed_cb(task: Task) -> None:
    write_line("Completed: ", task.job_handle(), " ", task.data() or b"")


def fail_cb(task: Task) -> None:
    write_line("Failed: ", task.job_handle())


def main(argv: Optional[List[str]] = None) -> int:
    parser = _Parser(add_help=False)
    parser.add_argument("-h", dest="host", default="")
    parser.add_argument("-p", dest="port", type=int, default=0)
    parser.add_argument("args", nargs=argparse.REMAINDER)
    try:
        opts = parser.parse_args(argv)
    except _UsageError as e:
        print(e, file=sys.stderr)
        usage()
        return 1
    args = opts.args[1:] if opts.args[:1] == ["--"] else opts.args
    if not args:
        usage()
        return 1

    with Client() as client:
        try:
            client.add_server(opts.host or None, opts.port)
        except (GearmanError, ValueError) as e:
            print(e, file=sys.stderr)
            return 1

        workload = os.fsencode(args[0])
        for _ in range(REVERSE_TASKS):
            try:
                task = client.add_task("reverse", workload)
            except GearmanError as e:
                print(e, file=sys.stderr)
                return 1
            write_line("Added: ", task.unique())

        client.set_created_fn(created_cb)
        client.set_data_fn(data_cb)
        client.set_complete_fn(completed_cb)
        client.set_fail_fn(fail_cb)
        client.set_status_fn(status_cb)

        try:
            client.run_tasks()
        except GearmanError as e:
            print(e, file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C: no traceback, the shell's exit code for SIGINT
        sys.exit(130)
