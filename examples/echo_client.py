#!/usr/bin/env python3
"""Echo Client: the port of Gearman::XS's examples/echo_client.pl.

Sends <string> to the job server as an ECHO_REQ through a ``gearman_xs.Client`` and checks the
echo. Prints nothing on success; on failure prints the error (its GEARMAN_* name and
libgearman's text) to stderr.

    python3 echo_client.py [-h <host>] [-p <port>] <string>

Exit codes: 0 on success, 1 on a usage error or any failure (the Perl original exits 0 when the
echo itself fails), 130 on Ctrl-C.
"""

from __future__ import annotations

import os
from typing import List, Optional

from _script import add_server, error, getopts, run

from gearman_xs import Client, GearmanError


def main(argv: Optional[List[str]] = None) -> int:
    opts = getopts("h:p:", argv)
    if opts is None:
        return 1

    with Client() as client:
        if not add_server(client, opts):
            return 1

        try:
            client.echo(os.fsencode(opts.args[0]))
        except GearmanError as e:
            return error(e)
    return 0


if __name__ == "__main__":
    run(main)
