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

import os
from typing import List, Optional

from _script import add_server, error, getopts, run

from gearman_xs import GearmanError, Worker


def main(argv: Optional[List[str]] = None) -> int:
    opts = getopts("h:p:", argv)
    if opts is None:
        return 1

    with Worker() as worker:
        if not add_server(worker, opts):
            return 1

        try:
            worker.echo(os.fsencode(opts.args[0]))
        except GearmanError as e:
            return error(e)
    return 0


if __name__ == "__main__":
    run(main)
