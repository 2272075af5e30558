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

import os
import sys
from typing import List, Optional

from _script import add_server, error, getopts, run, write_line

from gearman_xs import Client, GearmanError, WorkFail

#: The usage text's option lines (aligned for the longer -t line, as in the Perl script).
USAGE_LINES = (
    "-h <host>    - job server host",
    "-p <port>    - job server port",
    "-t <timeout> - timeout in milliseconds",
)


def main(argv: Optional[List[str]] = None) -> int:
    opts = getopts("h:p:t:", argv, lines=USAGE_LINES)
    if opts is None:
        return 1
    timeout = opts.timeout or -1  # as in Perl, -t 0 means no timeout

    with Client() as client:
        if timeout >= 0:
            client.set_timeout(timeout)

        if not add_server(client, opts):
            return 1

        try:
            result = client.do("reverse", os.fsencode(opts.args[0]))
        except WorkFail:
            print("Work failed", file=sys.stderr)
            return 1
        except GearmanError as e:
            return error(e)

    write_line(b"Result=" + result)
    return 0


if __name__ == "__main__":
    run(main)
