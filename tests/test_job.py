"""Job: accessors and senders inside a worker function, seen packet by packet by a raw client."""

from __future__ import annotations

from typing import Any, Dict, List

import pytest
from support.protocol import (
    WORK_COMPLETE,
    WORK_DATA,
    WORK_EXCEPTION,
    WORK_FAIL,
    WORK_STATUS,
    WORK_WARNING,
    RawClient,
)

from gearman_xs import ClosedError, GearmanError
from gearman_xs.job import Job
from gearman_xs.testing import Gearmand
from gearman_xs.worker import Worker


def _worker(server: Gearmand, name: str, fn: Any) -> Worker:
    w = Worker()
    w.add_server("127.0.0.1", server.port)
    w.add_function(name, 0, fn)
    w.set_timeout(5000)
    return w


def test_accessors(shared_gearmand: Gearmand) -> None:
    seen: Dict[str, Any] = {}

    def fn(job: Job) -> bytes:
        seen.update(
            workload=job.workload(), size=job.workload_size(), handle=job.handle(),
            name=job.function_name(), unique=job.unique(), repr=repr(job),
        )
        return b"ok"

    with _worker(shared_gearmand, "job_acc", fn) as w, RawClient(shared_gearmand.port) as c:
        handle = c.submit(b"job_acc", b"pay\0load", unique=b"u-1")
        assert w.work() is True
        assert c.result()[:2] == (WORK_COMPLETE, b"ok")
    assert seen["workload"] == b"pay\0load" and seen["size"] == 8
    assert seen["handle"] == handle and seen["name"] == "job_acc" and seen["unique"] == "u-1"
    assert handle in seen["repr"]


def test_generated_unique_and_empty_workload(shared_gearmand: Gearmand) -> None:
    seen: List[Any] = []

    def fn(job: Job) -> None:
        seen.extend([job.workload(), job.workload_size(), job.unique()])

    with _worker(shared_gearmand, "job_empty", fn) as w, RawClient(shared_gearmand.port) as c:
        c.submit(b"job_empty", b"")
        w.work()
        assert c.result()[:2] == (WORK_COMPLETE, b"")
    assert seen[0] == b"" and seen[1] == 0
    assert seen[2] == ""  # the raw client sent no unique


def test_senders_in_order(shared_gearmand: Gearmand) -> None:
    def fn(job: Job) -> str:
        job.send_data(b"A")
        job.send_status(1, 2)
        job.send_warning("W")
        job.send_data(bytearray(b"B"))
        job.send_status(2**32 - 1, 2**32 - 1)
        return "C"

    with _worker(shared_gearmand, "job_send", fn) as w, RawClient(shared_gearmand.port) as c:
        c.submit(b"job_send", b"x")
        w.work()
        ptype, data, before = c.result()
    assert (ptype, data) == (WORK_COMPLETE, b"C")
    assert before == [
        (WORK_DATA, b"A"), (WORK_STATUS, b"1\x002"), (WORK_WARNING, b"W"), (WORK_DATA, b"B"),
        (WORK_STATUS, b"4294967295\x004294967295"),
    ]


def test_send_complete_early_wins(shared_gearmand: Gearmand) -> None:
    def fn(job: Job) -> bytes:
        job.send_complete(b"early")
        job.send_complete(b"again")  # terminal sends after the first are no-ops
        return b"late"

    with _worker(shared_gearmand, "job_early", fn) as w, RawClient(shared_gearmand.port) as c:
        c.submit(b"job_early", b"x")
        w.work()
        assert c.result()[:2] == (WORK_COMPLETE, b"early")


def test_send_complete_then_bad_return_is_not_an_error(shared_gearmand: Gearmand) -> None:
    with _worker(shared_gearmand, "job_early2", lambda job: (job.send_complete("e"), 42)[1]) as w, \
            RawClient(shared_gearmand.port) as c:
        c.submit(b"job_early2", b"x")
        w.work()
        assert c.result()[:2] == (WORK_COMPLETE, b"e")


def test_send_fail_then_return(shared_gearmand: Gearmand) -> None:
    def fn(job: Job) -> bytes:
        job.send_fail()
        return b"ignored"

    with _worker(shared_gearmand, "job_fail", fn) as w, RawClient(shared_gearmand.port) as c:
        c.submit(b"job_fail", b"x")
        assert w.work() is True
        assert c.result()[0] == WORK_FAIL


def test_send_exception(gearmand_exceptions: Gearmand) -> None:
    def fn(job: Job) -> None:
        job.send_exception("custom text")

    with _worker(gearmand_exceptions, "job_exc", fn) as w, RawClient(gearmand_exceptions.port) as c:
        c.option(b"exceptions")
        c.submit(b"job_exc", b"x")
        w.work()
        assert c.result()[:2] == (WORK_EXCEPTION, b"custom text")


def test_bad_arguments_raise_before_c(shared_gearmand: Gearmand) -> None:
    errors: List[BaseException] = []

    def fn(job: Job) -> bytes:
        for call in (
            lambda: job.send_status(-1, 2), lambda: job.send_status(1, 2**32),
            lambda: job.send_status("1", 2), lambda: job.send_data(123),
            lambda: job.send_exception(b""), lambda: job.send_complete(None),
        ):
            try:
                call()
            except (TypeError, ValueError) as exc:
                errors.append(exc)
        return b"fine"

    with _worker(shared_gearmand, "job_args", fn) as w, RawClient(shared_gearmand.port) as c:
        c.submit(b"job_args", b"x")
        w.work()
        assert c.result()[:2] == (WORK_COMPLETE, b"fine")
    assert len(errors) == 6


def test_job_is_closed_after_the_call(shared_gearmand: Gearmand) -> None:
    kept: List[Job] = []

    def fn(job: Job) -> bytes:
        kept.append(job)
        return b"r"

    with _worker(shared_gearmand, "job_keep", fn) as w, RawClient(shared_gearmand.port) as c:
        c.submit(b"job_keep", b"x")
        w.work()
        c.result()
    job = kept[0]
    assert job.closed
    for call in (
        job.workload, job.workload_size, job.handle, job.function_name, job.unique, job.send_fail,
        lambda: job.send_status(1, 2), lambda: job.send_data(b"d"), lambda: job.send_warning(b"w"),
        lambda: job.send_complete(b"c"), lambda: job.send_exception(b"e"),
    ):
        with pytest.raises(ClosedError):
            call()
    assert repr(job) == "<gearman_xs.Job closed>"
    job.close()  # harmless


def test_job_cannot_be_constructed() -> None:
    with pytest.raises(TypeError):
        Job()


def test_closed_error_is_a_gearman_error() -> None:
    assert issubclass(ClosedError, GearmanError)
