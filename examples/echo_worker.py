#!/usr/bin/env python3
"""Echo Worker: the port of Gearman::XS's examples/echo_worker.pl.

Sends <string> to the job server as an ECHO_REQ through a ``gearman_xs.Worker`` and checks the
echo. Prints nothing on success; on failure prints the error (its GEARMAN_* name and
libgearman's text) to stderr.

    python3 echo_worker.py [-h <host>] [-p <port>] <string>

Exit codes: 0 on success, 1 on a usage error or any failure (the Perl original exits 0 when the
echo itself fails), 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import List, NoReturn, Optional

from gearman_xs import GearmanError, Worker


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

    with Worker() as worker:
        try:
            worker.add_server(opts.host or None, opts.port)
        except (GearmanError, ValueError) as e:
            print(e, file=sys.stderr)
            return 1

        try:
            worker.echo(os.fsencode(args[0]))
        except GearmanError as e:
            print(e, file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C: no traceback, the shell's exit code for SIGINT
        sys.exit(130)
