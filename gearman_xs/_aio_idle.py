"""``silent_lost()``: the idle checks of an AsyncClient's foreground jobs (``_aio_engine.Engine``).

libgearman < 2.0.0 drops the WORK_FAIL gearmand makes of a WORK_EXCEPTION for a client without the
"exceptions" option (see docs/traps.md), and a job whose server lost it sends nothing either: such
a job would be awaited forever. So a foreground job that has been silent (no packet since
JOB_CREATED or its last one) for IDLE_CHECK_FIRST s, then for doubling times up to IDLE_CHECK_MAX
s, is looked up by its handle on throw-away connections (``_client_probes.known_anywhere``), at
most PROBES_PER_SCAN per scan, the longest silent first. One that no server knows any more is
lost: the Engine reads what still arrives for it for a moment (a result may be on its way), then
ends it in ``WorkFail``. Only while the ``lost-work-fail`` workaround is on (``compat``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, List

from . import compat
from ._client_c import CClient
from ._client_probes import PROBE_TIMEOUT_MS, known_anywhere
from ._clock import IDLE_CHECK_FIRST, IDLE_CHECK_MAX, Clock
from ._libgearman import ffi, lib
from .task import BACKGROUND

if TYPE_CHECKING:  # pragma: no cover
    from ._aio_engine import AioJob

__all__ = ["PROBES_PER_SCAN", "SCAN_EVERY", "silent_lost"]

NULL = ffi.NULL

#: The most idle checks (throw-away round trips) one scan makes.
PROBES_PER_SCAN = 16

#: How often the Engine scans its jobs (s).
SCAN_EVERY = IDLE_CHECK_FIRST / 2


def silent_lost(cc: CClient, jobs: Iterable[AioJob], now: float) -> List[AioJob]:
    """The foreground jobs among ``jobs`` whose silence is due for a check and that no server
    knows any more; each job's silence is counted here (``quiet_events``, ``quiet_since``,
    ``next_check``)."""
    if not compat.WORKAROUNDS["lost-work-fail"]:
        return []
    due: List[AioJob] = []
    for job in jobs:
        rec = job.rec
        if job.kind >= BACKGROUND or not rec.created or job.cancelled or rec.acc.done:
            continue
        if rec.acc.events != job.quiet_events:
            job.quiet_events, job.quiet_since = rec.acc.events, now
            job.next_check = IDLE_CHECK_FIRST
        elif now - job.quiet_since >= job.next_check:
            due.append(job)
    if not due:
        return due
    due.sort(key=lambda j: j.quiet_since)  # the longest silent first; the rest at the next scan
    del due[PROBES_PER_SCAN:]
    for job in due:  # checked after 1, 3, 7, 15, 23, ... s of silence
        job.next_check = min(job.next_check * 2, IDLE_CHECK_MAX) + (now - job.quiet_since)
    clock = Clock(PROBE_TIMEOUT_MS)
    lost = []
    for job in due:
        h = lib.gxs_task_job_handle(job.task)
        handle = ffi.string(h) if h != NULL else b""
        if handle and known_anywhere(cc, handle, clock) is False:
            lost.append(job)
    return lost
