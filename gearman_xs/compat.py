"""Which libgearman is loaded, what it can do, and which gearman_xs workarounds are on for it.

gearman_xs was written against the bugs of libgearman 1.1.20 (Debian 12). Where a later release
fixed one, the workaround for it is switched off on that release, so that the fixed behaviour is
what users get (docs/versions.md has the table from a run on every release). The version is read
from the loaded library (``gearman_version()``) and, where that is empty or unparsable (builds
from a git archive), from the headers gearman_xs was compiled against (``LIBGEARMAN_VERSION_HEX``).

:func:`workarounds` says which are active; :data:`WORKAROUNDS` holds the switches (tests turn
one on where the library no longer needs it, to show it does no harm there).
"""

from __future__ import annotations

import re
from typing import Dict, List, Tuple

from . import _features, socket_buffers
from ._libgearman import ffi, lib

__all__ = [
    "LIBRARY_VERSION",
    "WORKAROUNDS",
    "active_workarounds",
    "features",
    "has_ssl",
    "library_version",
    "workarounds",
]

Version = Tuple[int, int, int]

#: libgearman releases that fixed a bug a workaround covers.
WORK_FAIL_MATCHING_FIXED: Version = (2, 0, 0)
"""Task packets are matched by the job handle's length (upstream 2.0.0): the WORK_FAIL gearmand makes
of a WORK_EXCEPTION for a client without the "exceptions" option reaches the task. 1.1.x drops it
(the handle in that packet counts its NUL) and the job waits forever."""


def _parse(text: str) -> Version:
    m = re.match(r"(\d+)\.(\d+)\.(\d+)", text)
    if not m:
        raise ValueError(text)
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def _header_version() -> Version:
    digits = f"{int(lib.LIBGEARMAN_VERSION_HEX):08x}"  # 1.1.20 is 0x01001020: MM mmm ppp, as decimal
    return int(digits[0:2]), int(digits[2:5]), int(digits[5:8])


def library_version() -> Version:
    """``(major, minor, patch)`` of the loaded libgearman, e.g. ``(1, 1, 20)``."""
    try:
        return _parse(ffi.string(lib.gearman_version()).decode("ascii", "replace"))
    except ValueError:
        return _header_version()


LIBRARY_VERSION: Version = library_version()


def has_ssl() -> bool:
    """True when the loaded libgearman was built with TLS (``_features.SSL``: it links libssl).
    Debian 12's libgearman8 exports ``gearman_client_set_ssl`` but has no TLS in it."""
    return _features.SSL


WORKAROUNDS: Dict[str, bool] = {
    # Client: a foreground job idle for 1 s (2, 4, 8 s) is looked up on every server, and one no
    # server knows ends in WorkFail (client.py _check_idle): libgearman < 2.0.0 drops the WORK_FAIL.
    "lost-work-fail": LIBRARY_VERSION < WORK_FAIL_MATCHING_FIXED,
    # Client: tasks sharing a unique go to libgearman in successive rounds (never completes the
    # second of a batch; seen on 1.1.20, kept on every version: costs nothing when uniques differ).
    "unique-rounds": True,
    # Client: job_status/echo/cancel on throw-away connections, cancel through the admin protocol.
    "throw-away-probes": True,
    # Client: a C client that saw a connection error is replaced (1.1.x waits out its timeout
    # after every job on it, and run_tasks() does not fail over).
    "fresh-client": True,
    # Worker: the identifier is re-sent after a reconnect (1.1.20 forgets it).
    "identifier-resend": True,
    # Worker: grab_job() continues on a clone after NO_JOBS (1.1.20 crashes on the next grab).
    "grab-clone": True,
}


def workarounds() -> Dict[str, bool]:
    """Every workaround by name, with whether it is active for the loaded libgearman; plus
    ``socket-buffers``: whether libgearman's 32 KiB socket-buffer clamp is lifted right now."""
    result = dict(WORKAROUNDS)
    result["socket-buffers"] = socket_buffers.clamp_lifted()
    return result


def active_workarounds() -> List[str]:
    """The names of the active workarounds, in :func:`workarounds` order."""
    return [name for name, on in workarounds().items() if on]


def features() -> Dict[str, object]:
    """What the loaded libgearman offers: its version, TLS, and the calls and options that only
    some releases have (``_features``, detected when gearman_xs was built)."""
    found: Dict[str, object] = {"version": ".".join(map(str, LIBRARY_VERSION))}
    found.update({name.lower(): value for name, value in _features.detected().items()})
    return found
