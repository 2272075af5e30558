"""Lifts libgearman's 32 KiB socket-buffer clamp for gearman_xs clients and workers.

libgearman 1.1.20 calls ``setsockopt(SOL_SOCKET, SO_SNDBUF, 32768)`` and the same for ``SO_RCVBUF`` on
every connection it opens (hard-coded in its connection setup; there is no API to change it). With
32 KiB buffers a payload larger than about 128 KiB waits on a ~40 ms delayed ACK for every window:
a 256 KiB round trip takes 70-170 ms instead of under a millisecond, 8 MiB moves at about 1 MB/s.

At import, gearman_xs redirects libgearman's own GOT/PLT slot for ``setsockopt`` (found through
``dl_iterate_phdr`` and the library's dynamic section; see ``csrc/socket_buffers.c``) to a
small C function that ignores exactly those two calls and forwards every other ``setsockopt`` to libc.
Nothing else changes: libc, Python's own sockets and every other library keep their ``setsockopt``,
and the kernel's default buffer sizes and autotuning apply to libgearman's sockets.

The switch is read at connect time: a connection libgearman opens while the clamp is lifted has the
kernel's buffers; one opened while it is in force has 32 KiB (the kernel reports 65536). Turn it off
for a whole process with the environment variable ``GEARMAN_XS_SOCKET_BUFFERS=libgearman`` (read once,
at import), or at run time with :func:`set_clamp`.

Where the slot cannot be found or written (another architecture than x86_64/aarch64, a libgearman
without a dynamic ``setsockopt`` import, a kernel that refuses ``mprotect``), nothing is patched,
:func:`status` says why, a debug message goes to the ``gearman_xs.socket_buffers`` logger, and
libgearman keeps its clamp: slower large payloads, never a crash.
"""

from __future__ import annotations

import enum
import logging
import os
import threading
import warnings
from typing import Dict, Optional

from ._libgearman import ffi, lib

__all__ = [
    "ENV_VAR",
    "Status",
    "clamp_lifted",
    "ignored_calls",
    "library",
    "lift_clamp",
    "restore_clamp",
    "set_clamp",
    "status",
]

ENV_VAR = "GEARMAN_XS_SOCKET_BUFFERS"
"""``libgearman``: keep libgearman's 32 KiB clamp; ``kernel`` (or unset): lift it (the default)."""

log = logging.getLogger(__name__)


class Status(enum.Enum):
    """Where the clamp stands. Only ``LIFTED`` and ``CLAMPED`` mean the switch works."""

    LIFTED = "lifted"
    """libgearman's setsockopt slot points at gearman_xs's filter: new connections get kernel buffers."""
    CLAMPED = "clamped"
    """The switch works and is off: libgearman's 32 KiB clamp applies to new connections."""
    LIBRARY_NOT_FOUND = "libgearman not found among the loaded objects"
    NO_DYNAMIC_SECTION = "libgearman has no usable dynamic section"
    SLOT_NOT_FOUND = "libgearman has no GOT/PLT slot for setsockopt"
    UNSUPPORTED_PLATFORM = "only x86_64 and aarch64 relocations are supported"
    MPROTECT_FAILED = "the slot's page could not be made writable (mprotect)"
    VERIFY_FAILED = "the slot did not read back the value written"

    @property
    def available(self) -> bool:
        """True when the switch works (the clamp can be lifted and restored)."""
        return self in (Status.LIFTED, Status.CLAMPED)


_FAILURES: Dict[int, Status] = {
    lib.GXS_SB_LIBRARY_NOT_FOUND: Status.LIBRARY_NOT_FOUND,
    lib.GXS_SB_NO_DYNAMIC: Status.NO_DYNAMIC_SECTION,
    lib.GXS_SB_SLOT_NOT_FOUND: Status.SLOT_NOT_FOUND,
    lib.GXS_SB_UNSUPPORTED: Status.UNSUPPORTED_PLATFORM,
    lib.GXS_SB_MPROTECT_FAILED: Status.MPROTECT_FAILED,
    lib.GXS_SB_VERIFY_FAILED: Status.VERIFY_FAILED,
}

_lock = threading.Lock()
_failure: Optional[Status] = None  # a failure to find or write the slot, remembered for status()


def _from_code(code: int) -> Status:
    return _FAILURES.get(code, Status.VERIFY_FAILED)


def status() -> Status:
    """The state read back from libgearman's slot now, or why the switch is unavailable."""
    with _lock:
        if _failure is not None:
            return _failure
        lifted = lib.gxs_sb_is_lifted()
    if lifted == 1:
        return Status.LIFTED
    if lifted == 0:
        return Status.CLAMPED
    return Status.VERIFY_FAILED


def clamp_lifted() -> bool:
    """True when libgearman's slot (read back now) points at gearman_xs's filter."""
    return status() is Status.LIFTED


def set_clamp(enabled: bool) -> Status:
    """``set_clamp(True)`` puts libgearman's 32 KiB clamp back; ``set_clamp(False)`` lifts it.

    Applies to connections libgearman opens from now on; open connections keep their buffers.
    Returns the resulting :class:`Status` (read back from the slot). Never raises for a platform
    where the switch is unavailable: the returned status says why, and the clamp stays in force.
    """
    global _failure
    if not isinstance(enabled, bool):
        raise TypeError(f"set_clamp() takes a bool, not {type(enabled).__name__}")
    with _lock:
        code = lib.gxs_sb_set_lifted(0 if enabled else 1)
        if code != lib.GXS_SB_OK:
            failure = _from_code(code)
            if _failure is None or failure is not _failure:
                log.debug("libgearman's socket-buffer clamp cannot be switched: %s", failure.value)
            # A failure to locate the slot is permanent; a failed write leaves the slot as it was.
            if code in (lib.GXS_SB_LIBRARY_NOT_FOUND, lib.GXS_SB_NO_DYNAMIC, lib.GXS_SB_SLOT_NOT_FOUND,
                        lib.GXS_SB_UNSUPPORTED):
                _failure = failure
            return failure
    result = status()
    log.debug("libgearman's socket-buffer clamp: %s (%s)", result.value, library())
    return result


def lift_clamp() -> Status:
    """``set_clamp(False)``: new libgearman connections get the kernel's socket buffers."""
    return set_clamp(False)


def restore_clamp() -> Status:
    """``set_clamp(True)``: new libgearman connections get libgearman's 32 KiB buffers again."""
    return set_clamp(True)


def ignored_calls() -> int:
    """How many SO_SNDBUF/SO_RCVBUF calls of libgearman have been ignored in this process (two per
    connection opened while the clamp was lifted)."""
    return int(lib.gxs_sb_ignored_calls())


def library() -> Optional[str]:
    """The path of the libgearman whose slot is switched, or None when it was not found."""
    path = ffi.string(lib.gxs_sb_library()).decode("utf-8", "replace")
    return path or None


def _probe(symbol: str) -> Status:
    """Looks for libgearman's GOT/PLT slots for ``symbol`` without writing (diagnostics, tests):
    ``LIFTED`` stands for "found" here."""
    count = ffi.new("int *")
    code = lib.gxs_sb_probe(symbol.encode("ascii"), count)
    return Status.LIFTED if code == lib.GXS_SB_OK and count[0] > 0 else _from_code(code)


def _apply_from_environment() -> Status:
    value = os.environ.get(ENV_VAR, "").strip().lower()
    if value in ("", "kernel"):
        return set_clamp(False)
    if value != "libgearman":
        warnings.warn(
            f"{ENV_VAR}={value!r} is not 'libgearman' or 'kernel': keeping libgearman's socket buffers",
            RuntimeWarning,
            stacklevel=2,
        )
    global _failure
    with _lock:
        code = lib.gxs_sb_init()
        if code != lib.GXS_SB_OK:
            _failure = _from_code(code)
            log.debug("libgearman's socket-buffer clamp cannot be switched: %s", _failure.value)
    return status()


_apply_from_environment()
