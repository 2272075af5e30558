"""What this build of gearman_xs found in its libgearman beyond the API every version has.

Build time (build_ffi.py): each ``csrc/probes/NAME.c`` is compiled and linked against the
libgearman headers and library; when it builds, ``csrc/decl/optional/NAME.h`` is added to the cdefs,
so the name exists on ``lib``, otherwise it does not (nothing is typed in, and a header without
it never fails the build). The flags below read that:

- ``CLIENT_STOP_WAIT_ON_SIGNAL`` / ``WORKER_STOP_WAIT_ON_SIGNAL``: ``lib.GEARMAN_*_STOP_WAIT_ON_SIGNAL``
  exists (2.0.0's constants.h).
- ``CLIENT_SET_SSL`` / ``WORKER_SET_SSL``: ``lib.gearman_*_set_ssl`` is declared by the headers and
  exported by the library (Debian's 1.1.20 declares both but exports only the client's).

Run time: ``SSL`` is True when the loaded libgearman links an SSL library (libssl or libwolfssl,
from its DT_NEEDED entries): Debian 12's libgearman8 exports ``gearman_client_set_ssl`` but has no
SSL, so calling it would silently do nothing.

Use: ``from gearman_xs import _features`` then ``if _features.WORKER_SET_SSL and _features.SSL:
lib.gearman_worker_set_ssl(...)``; ``detected()`` lists them all. To add one: a probe and its
cdef under the same NAME, and a flag here.
"""

from __future__ import annotations

from typing import Dict

from ._libgearman import lib

CLIENT_STOP_WAIT_ON_SIGNAL: bool = hasattr(lib, "GEARMAN_CLIENT_STOP_WAIT_ON_SIGNAL")
WORKER_STOP_WAIT_ON_SIGNAL: bool = hasattr(lib, "GEARMAN_WORKER_STOP_WAIT_ON_SIGNAL")
CLIENT_SET_SSL: bool = hasattr(lib, "gearman_client_set_ssl")
WORKER_SET_SSL: bool = hasattr(lib, "gearman_worker_set_ssl")
SSL: bool = any(lib.gxs_libgearman_needs(prefix) == 1 for prefix in (b"libssl.", b"libwolfssl."))


def detected() -> Dict[str, bool]:
    """Every flag of this module by name, e.g. ``{"CLIENT_SET_SSL": True, ...}``."""
    return {
        "CLIENT_STOP_WAIT_ON_SIGNAL": CLIENT_STOP_WAIT_ON_SIGNAL,
        "WORKER_STOP_WAIT_ON_SIGNAL": WORKER_STOP_WAIT_ON_SIGNAL,
        "CLIENT_SET_SSL": CLIENT_SET_SSL,
        "WORKER_SET_SSL": WORKER_SET_SSL,
        "SSL": SSL,
    }
