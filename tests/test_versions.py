"""What differs between the libgearman releases gearman_xs runs on, pinned (docs/versions.md).

scripts/test-matrix runs the whole suite on 1.1.19.1, 1.1.20 (Debian 12), 1.1.21, 1.1.22 and 2.0.0,
on 2.0.0 linked eagerly (-z relro -z now, Fedora's hardening flags) and lazily (partial RELRO); these
tests say which of those the loaded library is and that gearman_xs adapts to it.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from gearman_xs import _features, compat, socket_buffers


def _dynamic(path: str) -> str:
    if shutil.which("readelf") is None:
        pytest.skip("needs readelf (binutils)")
    return subprocess.run(["readelf", "-W", "-d", "-l", path], capture_output=True, text=True,
                          check=True, timeout=30).stdout


def link_style(path: str) -> str:
    """``full RELRO`` (bound at load: -z relro -z now), ``partial RELRO`` (lazily bound) or
    ``no RELRO``."""
    out = _dynamic(path)
    now = "BIND_NOW" in out or "Flags: NOW" in out
    relro = "GNU_RELRO" in out
    return "full RELRO" if relro and now else "partial RELRO" if relro else "no RELRO"


def test_socket_buffer_lift_works_on_this_link_style(record_property: pytest.RecordProperty) -> None:
    # Full RELRO: libgearman's setsockopt slot is read-only after load, the lift mprotect()s its
    # page; partial RELRO: the slot is writable and may still point into libgearman's PLT (lazy
    # binding), the lift forwards to libc's setsockopt itself. Both must work.
    path = socket_buffers.library()
    assert path is not None, socket_buffers.status()
    style = link_style(path)
    record_property("libgearman_link_style", style)
    assert socket_buffers.status() is socket_buffers.Status.LIFTED, f"{path} ({style})"
    try:
        assert socket_buffers.set_clamp(True) is socket_buffers.Status.CLAMPED, style
        assert socket_buffers.set_clamp(False) is socket_buffers.Status.LIFTED, style
    finally:
        socket_buffers.set_clamp(False)
    print(f"{path}: {style}, socket-buffer lift {socket_buffers.status().value}")


def test_lost_work_fail_workaround_only_where_libgearman_drops_work_fail() -> None:
    assert compat.WORKAROUNDS["lost-work-fail"] is (compat.LIBRARY_VERSION < (2, 0, 0))
    assert ("lost-work-fail" in compat.active_workarounds()) is (compat.LIBRARY_VERSION < (2, 0, 0))


def test_optional_calls_match_the_release() -> None:
    # Detected at build time from the headers and the library, never typed in (gearman_xs._features).
    two = compat.LIBRARY_VERSION >= (2, 0, 0)
    assert _features.WORKER_SET_SSL is two  # gearman_worker_set_ssl: exported from 2.0.0 on
    assert _features.CLIENT_STOP_WAIT_ON_SIGNAL is two  # constants.h of 2.0.0 only
    assert _features.WORKER_STOP_WAIT_ON_SIGNAL is two
    assert _features.CLIENT_SET_SSL  # every release exports it (a no-op without TLS)
    assert compat.features()["ssl"] is compat.has_ssl() is _features.SSL
