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

import os
from typing import List, Optional

from _script import add_server, error, getopts, run, write_line

from gearman_xs import Client, GearmanError, Task

REVERSE_TASKS = 10


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
    opts = getopts("h:p:", argv)
    if opts is None:
        return 1

    with Client() as client:
        if not add_server(client, opts):
            return 1

        workload = os.fsencode(opts.args[0])
        for _ in range(REVERSE_TASKS):
            try:
                task = client.add_task("reverse", workload)
            except GearmanError as e:
                return error(e)
            write_line("Added: ", task.unique())

        client.set_created_fn(created_cb)
        client.set_data_fn(data_cb)
        client.set_complete_fn(completed_cb)
        client.set_fail_fn(fail_cb)
        client.set_status_fn(status_cb)

        try:
            client.run_tasks()
        except GearmanError as e:
            return error(e)
    return 0


if __name__ == "__main__":
    run(main)
