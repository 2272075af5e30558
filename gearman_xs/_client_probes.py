"""The Client's throw-away probes: job status, echo, cancel, and the idle checks of running jobs.

None of these use the Client's C client for jobs: each asks one server at a time on a C client of
its own (or an admin connection, for ``cancel job``), freed at once. On a client used for jobs,
libgearman 1.1.20 hangs the next ``do()`` after a GET_STATUS_UNIQUE, and a status answer would mix
with the jobs' packets. Every wait is sliced and bounded by the call's ``Clock``.

Servers are asked in the order given: a job lives on the one server it was submitted to, which
the first available one normally is. ``known_anywhere()`` is the idle check ``_client_do.py`` and
``_client_tasks.py`` run on a foreground job that has been silent for a while: if no server knows
it any more, the job is lost (libgearman 1.1.20 drops the WORK_FAIL a server makes from
WORK_EXCEPTION) and the caller ends it in ``WorkFail`` instead of waiting forever.
"""

from __future__ import annotations

import functools
import time
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

from ._client_c import CONNECTION_ERRORS, CClient
from ._clock import Clock
from ._libgearman import ffi, lib
from ._servers import split_spec
from .admin import Admin, AdminError
from .errors import GearmanError, error_text

__all__ = ["JobStatus", "LOST_GRACE", "PROBE_TIMEOUT_MS", "cancel_job", "echo", "job_status",
           "known_anywhere", "late_result", "probe_rc", "unique_status", "unique_statuses"]

NULL = ffi.NULL
SUCCESS: int = lib.GEARMAN_SUCCESS
_TIMEOUT: int = lib.GEARMAN_TIMEOUT

#: Longest wait for the answers of the throw-away clients that check a job's status (ms).
PROBE_TIMEOUT_MS = 2000
#: How long a silent job the servers no longer know still gets for its result to arrive (s).
LOST_GRACE = 1.0


class JobStatus(NamedTuple):
    """What ``job_status()`` returns: Gearman::XS's ``($is_known, $is_running, $num, $den)``."""

    is_known: bool
    is_running: bool
    numerator: int
    denominator: int


JobStatus.__module__ = "gearman_xs.client"  # public there

_Ask = Callable[[Any], Tuple[int, Optional[JobStatus]]]


def job_status(cc: CClient, handle: bytes) -> JobStatus:
    """Client.job_status(): each server in turn until one knows the job."""
    cc.need_servers()
    status, rc, text = _job_status_each(cc, handle, cc.clock())
    if status is None:
        cc.raise_error(rc, message=text)
    return status


def unique_status(cc: CClient, unique: bytes) -> JobStatus:
    """Client.job_status_by_unique() (GET_STATUS_UNIQUE), like job_status()."""
    cc.need_servers()

    def ask(c: Any) -> Tuple[int, Optional[JobStatus]]:
        st = lib.gearman_client_unique_status(c, unique, len(unique))
        rc = int(lib.gearman_status_return(st))
        if rc != SUCCESS:
            return rc, None
        return rc, JobStatus(
            bool(lib.gearman_status_is_known(st)),
            bool(lib.gearman_status_is_running(st)),
            int(lib.gearman_status_numerator(st)),
            int(lib.gearman_status_denominator(st)),
        )

    status, rc, text = _status_each(cc, ask, cc.clock())
    if status is None:
        cc.raise_error(rc, message=text)
    return status


def late_result(c: Any, finished: Callable[[], bool], clock: Clock) -> int:
    """After the servers said they no longer know a silent job: run_tasks() slices on ``c`` until
    ``finished()``, for at most LOST_GRACE s (and never past the clock); the last return code. A
    job gearmand forgets is one it has just answered too: it queues the WORK_COMPLETE for the
    client's connection, then frees the job, and the status answer on another connection can
    arrive first (seen under stress-ng: a finished job reported lost)."""
    end = time.monotonic() + LOST_GRACE
    rc = int(lib.gxs_client_run_tasks(c))
    while not finished() and time.monotonic() < end and not clock.expired():
        if rc == lib.GEARMAN_IO_WAIT:
            lib.gxs_client_wait(c)
        elif rc not in (SUCCESS, _TIMEOUT):
            break  # a connection error, a callback's stop code: the caller's loop handles it
        rc = int(lib.gxs_client_run_tasks(c))
    return rc


def known_anywhere(cc: CClient, handle: bytes, clock: Clock) -> Optional[bool]:
    """True if some server knows the job, False if every server that answered does not (and at
    least one answered), None if none answered. Each server gets at most PROBE_TIMEOUT_MS, all of
    them together no more than the clock has left."""
    status, _, _ = _job_status_each(cc, handle, clock, PROBE_TIMEOUT_MS)
    return None if status is None else status.is_known


def unique_statuses(cc: CClient, spec: bytes, uniques: List[bytes], clock: Clock) -> Dict[bytes, JobStatus]:
    """What the server ``spec`` says now of each of ``uniques`` (GET_STATUS_UNIQUE: known, i.e.
    queued or running, and running), asked on one throw-away client, each answer within
    PROBE_TIMEOUT_MS and all of them within the clock. A unique without an answer is left out."""
    statuses: Dict[bytes, JobStatus] = {}
    if not uniques:
        return statuses
    c = _probe_client(cc, spec)
    try:
        for unique in uniques:
            if clock.expired():
                break
            found: List[JobStatus] = []

            def call(u: bytes = unique, found: List[JobStatus] = found) -> int:
                st = lib.gearman_client_unique_status(c, u, len(u))
                rc = int(lib.gearman_status_return(st))
                if rc == SUCCESS:
                    found[:] = [JobStatus(bool(lib.gearman_status_is_known(st)),
                                          bool(lib.gearman_status_is_running(st)), 0, 0)]
                return rc

            if probe_rc(call, clock, PROBE_TIMEOUT_MS) != SUCCESS or not found:
                break  # that server does not answer (the rest are left out)
            statuses[unique] = found[0]
    finally:
        lib.gearman_client_free(c)
    return statuses


def echo(cc: CClient, w: Any, n: int) -> None:
    """Client.echo(): the first available server in the order given (the next ones while it
    cannot be reached, like jobs)."""
    cc.need_servers()
    clock = cc.clock()
    rc, text = lib.GEARMAN_NO_SERVERS, "no servers added"
    for spec in cc.servers.candidates() or cc.servers.specs:
        rc, text = _echo_once(cc, spec, w, n, clock, text)
        if rc == lib.GEARMAN_LOST_CONNECTION and cc.tls is not None and not clock.expired():
            # a stray TLS record from gearmand broke the connection (docs/versions.md, TLS):
            # an echo is safe to send again
            rc, text = _echo_once(cc, spec, w, n, clock, text)
        if rc == SUCCESS:
            cc.servers.ok(spec)
            return
        if rc in CONNECTION_ERRORS:
            cc.servers.failed(spec, refused=rc == lib.GEARMAN_COULD_NOT_CONNECT)
            continue
        break  # an answer that is not the echo, or the timeout: not a server to skip
    cc.raise_error(rc, message=text)


def _echo_once(cc: CClient, spec: bytes, w: Any, n: int, clock: Clock, text: str) -> Tuple[int, str]:
    c = _probe_client(cc, spec)
    try:
        rc = probe_rc(functools.partial(lib.gearman_client_echo, c, w, n), clock)
        return rc, error_text(c) or text
    finally:
        lib.gearman_client_free(c)


def cancel_job(cc: CClient, handle: str) -> None:
    """Client.cancel_job(): gearmand's admin command ``cancel job`` to each server in the order
    given until one knows the handle."""
    cc.need_servers()
    clock = cc.clock()
    answered = False
    unreachable: Optional[GearmanError] = None
    for spec in cc.servers.specs:
        if clock.expired():
            cc.raise_error(_TIMEOUT, message=f"no server answered within {cc.timeout} ms")
        host, port = split_spec(spec)
        try:
            seconds = max(0.001, clock.limit(PROBE_TIMEOUT_MS / 1000))
            tls = cc.tls.context() if cc.tls is not None else None
            with Admin(host, port, seconds, ssl_context=tls) as admin:
                admin.cancel_job(handle)
            return
        except AdminError as exc:
            if exc.server_code != "UNKNOWN_JOB":
                cc.error = exc.message
                raise
            answered = True
        except GearmanError as exc:  # could not connect, timeout
            unreachable = exc
    if unreachable is not None and not answered:
        cc.raise_error(unreachable.code, message=unreachable.message)
    cc.raise_error(lib.GEARMAN_JOB_NOT_FOUND, message=f"no server knows job {handle}")


def probe_rc(call: Callable[[], int], clock: Clock, cap_ms: int = -1) -> int:
    """Repeats a blocking probe call in slices (interruptible) while it times out, until the
    clock runs out or ``cap_ms`` passed (-1: no cap); returns its last return code."""
    start = time.monotonic()
    while True:
        rc = int(call())
        if rc != _TIMEOUT or clock.expired():
            return rc
        if cap_ms > 0 and (time.monotonic() - start) * 1000 >= cap_ms:
            return rc


def _probe_client(cc: CClient, spec: bytes) -> Any:
    """A throw-away C client of the one server ``spec`` (status queries, echo)."""
    c = lib.gearman_client_create(NULL)
    if c == NULL:
        raise MemoryError("gearman_client_create() failed")
    lib.gearman_client_remove_servers(c)  # not the ones from GEARMAN_SERVERS
    rc = lib.gearman_client_add_servers(c, spec)
    if rc != SUCCESS:
        lib.gearman_client_free(c)
        cc.raise_error(rc)
    lib.gearman_client_set_timeout(c, cc.slice_ms())
    if cc.tls is not None:
        cc.tls.apply_client(c)
    return c


def _status_each(
    cc: CClient, ask: _Ask, clock: Clock, cap_ms: int = -1
) -> Tuple[Optional[JobStatus], int, Optional[str]]:
    """Asks each server in the order given, on a throw-away client of its own. ``ask(c)`` returns
    (rc, status). Returns the status of the first server that knows the job, else the unknown
    status of one that answered, else None with the last error code and text."""
    answer: Optional[JobStatus] = None
    rc: int = lib.GEARMAN_NO_SERVERS
    text: Optional[str] = "no servers added"
    for spec in cc.servers.specs:
        if clock.expired():
            return answer, _TIMEOUT, f"no answer within {cc.timeout} ms"
        rc, status, text = _ask_one(cc, spec, ask, clock, cap_ms)
        if status is not None:
            if status.is_known:
                return status, rc, None
            answer = status
    return answer, rc, text


def _ask_one(
    cc: CClient, spec: bytes, ask: _Ask, clock: Clock, cap_ms: int
) -> Tuple[int, Optional[JobStatus], Optional[str]]:
    """(rc, status or None, error text or None) of ``ask`` on a throw-away client of ``spec``."""
    result = _ask_once(cc, spec, ask, clock, cap_ms)
    if result[0] == lib.GEARMAN_LOST_CONNECTION and cc.tls is not None and not clock.expired():
        # a stray TLS record from gearmand breaks a new connection now and then (docs/versions.md,
        # TLS): one more connection.
        result = _ask_once(cc, spec, ask, clock, cap_ms)
    return result


def _ask_once(
    cc: CClient, spec: bytes, ask: _Ask, clock: Clock, cap_ms: int
) -> Tuple[int, Optional[JobStatus], Optional[str]]:
    c = _probe_client(cc, spec)
    try:
        found: List[JobStatus] = []

        def call() -> int:
            r, status = ask(c)
            if status is not None:
                found[:] = [status]
            return r

        rc = probe_rc(call, clock, cap_ms)
        if rc != SUCCESS:
            return rc, None, error_text(c)
        return rc, found[0], None
    finally:
        lib.gearman_client_free(c)


def _job_status_each(
    cc: CClient, handle: bytes, clock: Clock, cap_ms: int = -1
) -> Tuple[Optional[JobStatus], int, Optional[str]]:
    def ask(c: Any) -> Tuple[int, Optional[JobStatus]]:
        known, running = ffi.new("bool *"), ffi.new("bool *")
        num, den = ffi.new("uint32_t *"), ffi.new("uint32_t *")
        rc = lib.gearman_client_job_status(c, handle, known, running, num, den)
        if rc != SUCCESS:
            return rc, None
        return rc, JobStatus(bool(known[0]), bool(running[0]), int(num[0]), int(den[0]))

    return _status_each(cc, ask, clock, cap_ms)
