#!/usr/bin/env python3
"""Example Client: the port of Gearman::XS's examples/reverse_client.pl.

Runs the job ``reverse`` with <string> as its workload through ``Client.do()`` (serve it with
reverse_worker.py) and prints ``Result=<result>``.

    python3 reverse_client.py [-h <host>] [-p <port>] [-t <timeout>] <string>

``-t`` is the client's I/O timeout in milliseconds (like the Perl script, 0 means no timeout).
A failed job prints ``Work failed`` to stderr; any other failure prints the error (its GEARMAN_*
name and libgearman's text) to stderr, e.g. ``GEARMAN_TIMEOUT: ...`` for a timeout.

Exit codes: 0 on success, 1 on a usage error or any failure (the Perl original exits 0 when the
job fails or times out), 130 on Ctrl-C (which interrupts the wait for the job).

The Perl script's WORK_DATA / WORK_STATUS branches are dead code with libgearman 1.x, whose
``do()`` returns only when the job has finished, with the data chunks in front of the result;
they are left out.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import List, NoReturn, Optional

from gearman_xs import Client, GearmanError, WorkFail


class _UsageError(Exception):
    """A bad option: the caller prints the usage text and exits 1."""


class _Parser(argparse.ArgumentParser):
    """Getopt::Std-like options: -h is the host (no --help), errors print the Perl usage text."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def usage() -> None:
    print(f"\nusage: {sys.argv[0]} [-h <host>] [-p <port>] <string>")
    print("\t-h <host>    - job server host")
    print("\t-p <port>    - job server port")
    print("\t-t <timeout> - timeout in milliseconds")


def write_line(line: bytes) -> None:
    """Prints a line of bytes as they are (Perl prints byte strings unchanged)."""
    sys.stdout.flush()
    sys.stdout.buffer.write(line + b"\n")
    sys.stdout.buffer.flush()


def main(argv: Optional[List[str]] = None) -> int:
    parser = _Parser(add_help=False)
    parser.add_argument("-h", dest="host", default="")
    parser.add_argument("-p", dest="port", type=int, default=0)
    parser.add_argument("-t", dest="timeout", type=int, default=0)
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
    timeout = opts.timeout or -1  # as in Perl, -t 0 means no timeout

    with Client() as client:
        if timeout >= 0:
            client.set_timeout(timeout)

        try:
            client.add_server(opts.host or None, opts.port)
        except (GearmanError, ValueError) as e:
            print(e, file=sys.stderr)
            return 1

        try:
            result = client.do("reverse", os.fsencode(args[0]))
        except WorkFail:
            print("Work failed", file=sys.stderr)
            return 1
        except GearmanError as e:
            print(e, file=sys.stderr)
            return 1

    write_line(b"Result=" + result)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C: no traceback, the shell's exit code for SIGINT
        sys.exit(130)
