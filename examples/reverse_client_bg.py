#!/usr/bin/env python3
"""Example Background Client: the port of Gearman::XS's examples/reverse_client_bg.pl.

Submits the job ``reverse`` with <string> as its workload as a background job
(``Client.do_background()``), prints ``Background Job Handle=<handle>``, then asks the job
server for the job's status once a second (``Client.job_status()``), printing
``Known=<true|false>, Running=<true|false>, Percent Complete=<numerator>/<denominator>``, until
the job is no longer known (it has finished). Run reverse_worker.py -s to see the status move.

    python3 reverse_client_bg.py [-h <host>] [-p <port>] <string>

Exit codes: 0 when the job has finished, 1 on a usage error or any failure (the error goes to
stderr), 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import List, NoReturn, Optional

from gearman_xs import Client, GearmanError


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

    with Client() as client:
        try:
            client.add_server(opts.host or None, opts.port)
        except (GearmanError, ValueError) as e:
            print(e, file=sys.stderr)
            return 1

        try:
            job_handle = client.do_background("reverse", os.fsencode(args[0]))
        except GearmanError as e:
            print(e, file=sys.stderr)
            return 1

        print(f"Background Job Handle={job_handle}", flush=True)

        while True:
            try:
                status = client.job_status(job_handle)
            except GearmanError as e:
                print(e, file=sys.stderr)
                return 1

            print(
                "Known={}, Running={}, Percent Complete={}/{}".format(
                    "true" if status.is_known else "false",
                    "true" if status.is_running else "false",
                    status.numerator,
                    status.denominator,
                ),
                flush=True,
            )

            if not status.is_known:
                break

            time.sleep(1)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C: no traceback, the shell's exit code for SIGINT
        sys.exit(130)
