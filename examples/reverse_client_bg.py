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

import os
import time
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
            job_handle = client.do_background("reverse", os.fsencode(opts.args[0]))
        except GearmanError as e:
            return error(e)

        print(f"Background Job Handle={job_handle}", flush=True)

        while True:
            try:
                status = client.job_status(job_handle)
            except GearmanError as e:
                return error(e)

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
    run(main)
