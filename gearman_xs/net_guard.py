"""Guards libgearman's packet parser: no byte sequence a server sends crashes the process.

libgearman 1.1.20 dies with SIGSEGV on two kinds of reply header (see ``csrc/net_guard.c`` for the
lines in ``libgearman/packet.cc``): a command number of 0x80000000 or more (a negative enum passes
its range check, and a NULL command-info pointer is read), and a text line without a space (its
text parser writes through NULL). Anyone who can answer on a server's port, or tamper with a
plain-TCP link, could kill every Client and Worker with 12 bytes.

At import, gearman_xs redirects libgearman's own GOT slots for ``recv`` and ``socket`` (found the
way :mod:`gearman_xs.socket_buffers` finds ``setsockopt``'s) to C functions that follow the binary
protocol's framing per socket and neutralise such headers before libgearman parses them: the call
then fails with ``GEARMAN_INVALID_COMMAND`` (command number) or ``GEARMAN_INVALID_MAGIC`` (text),
raised as :class:`~gearman_xs.GearmanError`, and libgearman closes the connection as it does for
any other malformed packet. Payload bytes pass through untouched: the cost is one check per packet.
libc, Python's sockets and other libraries keep their ``recv``. TLS connections (``set_ssl()``),
which libgearman reads with ``SSL_read()``, go through the same checks: the ``SSL_read`` slot that
``csrc/tls_verify.c`` redirects reads through the guard.

The guard also marks job handles (every release; libgearman 2.0.0 needs it): 2.0.0 hands a result
to the first task whose handle is a *prefix* of the packet's, so ``H:host:1``'s task could take
``H:host:10``'s result. In JOB_CREATED and the WORK_* packets the handle's last digit and first byte
are changed in place to bytes no real handle has there, so no handle in flight is a prefix of
another; ``gxs_task_job_handle()`` (the only way gearman_xs reads a task's handle) undoes it, so
users, logs and servers only ever see real handles. Where the guard is not installed, 2.0.0's
matching is unprotected (``docs/versions.md``).

Where the slots cannot be found or written (another architecture than x86_64/aarch64, a libgearman
linked statically, a kernel that refuses ``mprotect``), nothing is redirected, :func:`status` says
why, a warning goes to the ``gearman_xs.net_guard`` logger, and those packets still crash the
process. ``GEARMAN_XS_NET_GUARD=off`` in the environment (read once, at import) leaves libgearman
unguarded on purpose (for tests and measurements only).
"""

from __future__ import annotations

import logging
import os
from typing import Dict, Optional

from ._libgearman import ffi, lib
from .socket_buffers import Status

__all__ = ["ENV_VAR", "active", "counters", "reads_broken_connections", "status", "take_reason"]

ENV_VAR = "GEARMAN_XS_NET_GUARD"
"""``off``: do not install the guard (tests, measurements); anything else or unset: install it."""

log = logging.getLogger(__name__)

_DISABLED = "disabled by GEARMAN_XS_NET_GUARD=off"


def _install() -> str:
    if os.environ.get(ENV_VAR, "").strip().lower() == "off":
        return _DISABLED
    code = lib.gxs_ng_install()
    if code == lib.GXS_SB_OK:
        return "active"
    reason = _status_text(code)
    log.warning("gearman_xs: libgearman's packet guard is not installed (%s): a malformed reply "
                "can crash this process", reason)
    return reason


def _status_text(code: int) -> str:
    for status in Status:
        if getattr(lib, "GXS_SB_" + status.name, None) == code:
            return status.value
    return Status.VERIFY_FAILED.value


def status() -> str:
    """``"active"``, or why the guard is not installed (a :class:`~gearman_xs.socket_buffers.Status`
    text, or the environment switch)."""
    return _STATUS


def active() -> bool:
    """True when every libgearman connection opened from now on is guarded."""
    return _STATUS == "active"


def reads_broken_connections() -> bool:
    """True when libgearman's ``poll()`` slot is redirected too: during a Client's run_tasks(), a
    connection that broke (RST) with bytes still waiting reports only "readable", so libgearman
    reads what the server had sent (a JOB_CREATED, a result) before it meets the error, instead of
    dropping it (and the Client taking an accepted job for one it may submit again)."""
    return _STATUS == "active" and lib.gxs_ng_poll_status_code() == lib.GXS_SB_OK


def counters() -> Dict[str, int]:
    """How many reply headers the guard checked in this process (``headers``) and how many it
    neutralised: ``command`` (number >= 0x80000000), ``text`` (a packet that starts like a text
    line), ``handle`` (JOB_CREATED with an empty handle or one over 63 bytes); how many
    connections a Worker dropped because a reply stalled (``stall``); how many job handles it marked
    so that libgearman 2.0.0 matches results by the whole handle (``marked``); and how many times a Client's
    broken connection was read to its end before libgearman saw the error (``read_first``)."""
    return {
        "headers": int(lib.gxs_ng_counter(lib.GXS_NG_HEADERS)),
        "command": int(lib.gxs_ng_counter(lib.GXS_NG_COMMAND)),
        "text": int(lib.gxs_ng_counter(lib.GXS_NG_TEXT)),
        "handle": int(lib.gxs_ng_counter(lib.GXS_NG_HANDLE)),
        "args": int(lib.gxs_ng_counter(lib.GXS_NG_ARGS)),
        "too_large": int(lib.gxs_ng_counter(lib.GXS_NG_TOO_LARGE)),
        "stall": int(lib.gxs_ng_counter(lib.GXS_NG_STALL)),
        "marked": int(lib.gxs_ng_counter(lib.GXS_NG_MARKED)),
        "read_first": int(lib.gxs_ng_read_first_count()),
    }


def take_reason() -> Optional[str]:
    """What the guard stopped last in this thread, as a sentence (then forgotten), or None. The
    error helper (:func:`gearman_xs.errors.error_for`) puts it into the exception's message."""
    detail = ffi.new("uint32_t *")
    reason = lib.gxs_ng_take_reason(detail)
    value = int(detail[0])
    if reason == lib.GXS_NG_COMMAND:
        return (f"the server sent command number {value:#010x}, which is invalid (libgearman 1.1.20 "
                "would crash on it; gearman_xs's packet guard stopped it)")
    if reason == lib.GXS_NG_TEXT:
        return (f"the server sent a text line (first byte {value:#04x}) where a binary packet was "
                "expected (libgearman 1.1.20 can crash on it; gearman_xs's packet guard stopped it)")
    if reason == lib.GXS_NG_ARGS:
        return (f"the server sent a packet of {value} bytes whose arguments run past its end "
                "(libgearman would read the next packets as part of it; gearman_xs's packet guard "
                "stopped it)")
    if reason == lib.GXS_NG_TOO_LARGE:
        return (f"the server sent a packet of {value} bytes whose header and arguments do not fit "
                "libgearman's 8 KiB receive buffer")
    if reason == lib.GXS_NG_STALL:
        return (f"the server stopped sending for {value} ms in the middle of a reply; the worker "
                "closed the connection (an unfinished job goes back to the server's queue)")
    if reason == lib.GXS_NG_INTERRUPTED:
        return "a signal interrupted the worker while it was receiving a reply; the connection was closed"
    if reason == lib.GXS_NG_HANDLE:
        if value == 0:
            return "the server sent JOB_CREATED with an empty job handle"
        return (f"the server sent a job handle of {value} bytes; libgearman keeps at most "
                f"{lib.GEARMAN_JOB_HANDLE_SIZE - 1}, so the job could not be followed")
    return None


_STATUS = _install()
