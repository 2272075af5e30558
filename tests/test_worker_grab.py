"""Worker.grab_job(): Jobs owned by the caller, and libgearman 1.1.20's crash after NO_JOBS."""

from __future__ import annotations

import gc
import logging
import os
import subprocess
import sys
import textwrap
from typing import Any

from support.protocol import WORK_COMPLETE, WORK_FAIL, RawClient

from gearman_xs.testing import Gearmand
from gearman_xs.worker import Worker

# Loops grab / complete / NO_JOBS several times. With plain libgearman 1.1.20 calls the grab after
# the first NO_JOBS segfaults (notes, Addendum); run in a child so a crash cannot take pytest down.
GRAB_LOOP = textwrap.dedent(
    """
    import sys
    from gearman_xs._libgearman import ffi, lib
    from gearman_xs.worker import Worker
    port = int(sys.argv[1])
    c = lib.gearman_client_create(ffi.NULL)
    lib.gearman_client_add_server(c, b"127.0.0.1", port)
    h = ffi.new("char[64]")
    w = Worker()
    w.add_server("127.0.0.1", port)
    w.register("grab_loop")
    w.add_function("grab_fn", 0, lambda job: b"from work()")
    done = 0
    for rnd in range(5):
        for i in range(2):
            assert lib.gearman_client_do_background(c, b"grab_loop", ffi.NULL, b"j", 1, h) == 0
        while True:
            job = w.grab_job()
            if job is None:
                break
            job.send_complete(b"done")
            done += 1
        assert w.grab_job() is None  # a second NO_JOBS in a row
    # work() after grab_job()'s NO_JOBS takes the same broken path in libgearman
    assert lib.gearman_client_do_background(c, b"grab_fn", ffi.NULL, b"j", 1, h) == 0
    w.set_timeout(5000)
    assert w.work() is True
    assert w.grab_job() is None
    w.close()
    print("grabbed", done)
    """
)


def test_grab_loop_survives_no_jobs(gearmand: Gearmand) -> None:
    env = dict(os.environ)
    env.pop("GEARMAN_SERVERS", None)
    out = subprocess.run(
        [sys.executable, "-c", GRAB_LOOP, str(gearmand.port)], capture_output=True, timeout=60, env=env
    )
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout.strip() == b"grabbed 10"


def test_grab_job_none_without_jobs(shared_gearmand: Gearmand) -> None:
    with Worker() as w:
        w.add_server("127.0.0.1", shared_gearmand.port)
        w.register("grab_none")
        assert w.grab_job() is None
        assert w.grab_job() is None


def test_grabbed_job_methods_and_answer(shared_gearmand: Gearmand) -> None:
    with Worker() as w, RawClient(shared_gearmand.port) as c:
        w.add_server("127.0.0.1", shared_gearmand.port)
        w.register("grab_ans")
        handle = c.submit(b"grab_ans", b"payload", unique=b"gu")
        job = w.grab_job()
        assert job is not None
        assert (job.workload(), job.handle(), job.function_name(), job.unique()) == (
            b"payload", handle, "grab_ans", "gu",
        )
        job.send_status(1, 3)
        job.send_complete(b"answer")
        assert job.finished
        assert c.result()[:2] == (WORK_COMPLETE, b"answer")
        job.close()
        assert job.closed


def test_dropped_grabbed_job_fails_and_logs(shared_gearmand: Gearmand, caplog: Any) -> None:
    with Worker() as w, RawClient(shared_gearmand.port) as c, \
            caplog.at_level(logging.WARNING, logger="gearman_xs"):
        w.add_server("127.0.0.1", shared_gearmand.port)
        w.register("grab_drop")
        c.submit(b"grab_drop", b"x")
        job = w.grab_job()
        assert job is not None
        del job
        gc.collect()
        assert c.result()[0] == WORK_FAIL
    assert "without an answer" in caplog.text


def test_close_fails_outstanding_grabbed_jobs(shared_gearmand: Gearmand) -> None:
    w = Worker()
    w.add_server("127.0.0.1", shared_gearmand.port)
    w.register("grab_close")
    with RawClient(shared_gearmand.port) as c:
        c.submit(b"grab_close", b"x")
        job = w.grab_job()
        assert job is not None
        w.close()
        assert job.closed
        assert c.result()[0] == WORK_FAIL


def test_job_from_retired_worker_still_answers(shared_gearmand: Gearmand) -> None:
    """A Job grabbed before the NO_JOBS workaround switched to a clone stays usable."""
    with Worker() as w, RawClient(shared_gearmand.port) as c:
        w.add_server("127.0.0.1", shared_gearmand.port)
        w.register("grab_keep")
        c.submit(b"grab_keep", b"x")
        job = w.grab_job()
        assert job is not None
        assert w.grab_job() is None  # NO_JOBS: the worker continues on a clone
        assert w.grab_job() is None
        job.send_complete(b"late but fine")
        assert c.result()[:2] == (WORK_COMPLETE, b"late but fine")
        job.close()
        c.submit(b"grab_keep", b"y")
        job2 = w.grab_job()
        assert job2 is not None and job2.workload() == b"y"
        with job2:
            job2.send_complete(b"ok")
        assert c.result()[:2] == (WORK_COMPLETE, b"ok")
