#!/usr/bin/env python3
"""Example Worker: the port of Gearman::XS's examples/reverse_worker.pl.

Serves the function ``reverse``: the result is the workload reversed byte by byte. For every job
it prints ``Job=<handle>[ Unique=<unique>] Workload=<workload> Result=<result>``.

    python3 reverse_worker.py [-h <host>] [-p <port>] [-c <count>] [-t <timeout>] [-d] [-s] [-u]

    -c <count>   stop after <count> rounds of Worker.work(): jobs, and, as in Perl, timeouts
    -d           send the result letter by letter as data chunks (the final result is empty)
    -s           send the status i/n and sleep one second per letter
    -u           grab the unique id (GEARMAN_WORKER_GRAB_UNIQ) and print it
    -t <timeout> the worker's timeout in milliseconds (0, the default, means none): each round
                 without a job prints a GEARMAN_TIMEOUT error to stderr, and the worker goes
                 on waiting

Ctrl-C (SIGINT) and SIGTERM stop it cleanly: a job that is running is finished first, then the
worker exits with code 0. Exit code 1 on a usage error or when the server or function cannot be
added. While no job server answers it prints the error and retries once a second (the Perl
original retries at once, in a busy loop).
"""

from __future__ import annotations

import signal
import sys
import time
from types import FrameType
from typing import List, Optional

from _script import add_server, error, getopts, write_line

from gearman_xs import (
    GEARMAN_WORKER_GRAB_UNIQ,
    GearmanConnectionError,
    GearmanError,
    Job,
    Worker,
)

REVERSE_WORKER_OPTIONS_NONE = 0
REVERSE_WORKER_OPTIONS_DATA = 1 << 0
REVERSE_WORKER_OPTIONS_STATUS = 1 << 1
REVERSE_WORKER_OPTIONS_UNIQUE = 1 << 2


USAGE_SYNOPSIS = "[-h <host>] [-p <port>]"
USAGE_LINES = (
    "-c <count>   - number of jobs to run before exiting",
    "-d           - send result back in data chunks",
    "-h <host>    - job server host",
    "-p <port>    - job server port",
    "-s           - send status updates and sleep while running job",
    "-u           - when grabbing jobs, grab the unique id",
    "-t <timeout> - timeout in milliseconds",
)


def reverse(job: Job, options: int) -> bytes:
    """The worker function: ``options`` is the context given to ``add_function``."""
    workload = job.workload()
    workload_size = len(workload)

    result = b""

    for i in range(workload_size, 0, -1):
        letter = workload[i - 1 : i]
        result += letter

        if options & REVERSE_WORKER_OPTIONS_DATA:
            try:
                job.send_data(letter)
            except GearmanError:
                return b""

        if options & REVERSE_WORKER_OPTIONS_STATUS:
            try:
                job.send_status(workload_size - i, workload_size)
            except GearmanError:
                return b""
            time.sleep(1)

    unique = options & REVERSE_WORKER_OPTIONS_UNIQUE
    write_line(
        "Job=", job.handle(), " Unique=" if unique else "", job.unique() if unique else "",
        " Workload=", workload, " Result=", result,
    )

    if options & REVERSE_WORKER_OPTIONS_DATA:
        return b""

    return result


def main(argv: Optional[List[str]] = None) -> int:
    # the arguments after the options are ignored, as in Perl
    opts = getopts("h:p:c:t:dsu", argv, USAGE_SYNOPSIS, USAGE_LINES, string=False)
    if opts is None:
        return 1

    count: int = opts.count or 0
    timeout: int = opts.timeout or -1  # as in Perl, -t 0 means no timeout

    options = REVERSE_WORKER_OPTIONS_NONE
    if opts.data:
        options |= REVERSE_WORKER_OPTIONS_DATA
    if opts.status:
        options |= REVERSE_WORKER_OPTIONS_STATUS
    if opts.unique:
        options |= REVERSE_WORKER_OPTIONS_UNIQUE

    with Worker() as worker:
        if options & REVERSE_WORKER_OPTIONS_UNIQUE:
            worker.add_options(GEARMAN_WORKER_GRAB_UNIQ)

        if timeout >= 0:
            worker.set_timeout(timeout)

        if not add_server(worker, opts):
            return 1

        try:
            worker.add_function("reverse", 0, reverse, options)
        except GearmanError as e:
            return error(e)

        stopping: List[int] = []

        def on_signal(signum: int, frame: Optional[FrameType]) -> None:
            stopping.append(signum)
            worker.stop()

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)

        while not stopping:
            try:
                worker.work()
            except GearmanError as e:
                if stopping:
                    break
                error(e)
                if isinstance(e, GearmanConnectionError):
                    _pause(1.0, stopping)

            if count > 0:
                count -= 1
                if count == 0:
                    break
    return 0


def _pause(seconds: float, stopping: List[int]) -> None:
    """Sleeps ``seconds``, returning early once a signal asked to stop."""
    deadline = time.monotonic() + seconds
    while not stopping and time.monotonic() < deadline:
        time.sleep(0.05)


if __name__ == "__main__":
    sys.exit(main())
