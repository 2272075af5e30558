"""gearman_xs: Perl's Gearman::XS for Python, a cffi binding of the system's libgearman.

Gearman::XS's packages map to modules: ``Gearman::XS`` (constants, ``strerror``) is this package,
``Gearman::XS::Client`` is ``gearman_xs.client.Client`` and so on. Every constant of
``use Gearman::XS qw(:constants)`` is an attribute here, and ``from gearman_xs import *`` imports
them. Where Perl returns ``($ret, $value)``, gearman_xs returns ``$value`` and raises a
``GearmanError`` when ``$ret`` is a failure.
"""

from __future__ import annotations

from typing import List

# _library first: ImportError when the loaded libgearman is not the one gearman_xs was built
# against; then socket_buffers lifts libgearman's 32 KiB socket-buffer clamp and net_guard keeps
# any reply a server sends from crashing libgearman (see their docstrings).
from . import _library, net_guard, socket_buffers  # noqa: F401  (_library: imported for its check)
from ._libgearman import ffi, lib
from .admin import Admin, AdminError, AdminGroup, AdminGroupError, AdminProtocolError
from .client import Client, JobStatus
from .constants import *  # noqa: F403  (every GEARMAN_* constant)
from .constants import CONSTANTS, ClientOptions, JobPriority, ReturnCode, Verbose, WorkerOptions
from .errors import (
    ClosedError,
    ConcurrentUseError,
    GearmanConnectionError,
    GearmanError,
    GearmanTimeout,
    WorkException,
    WorkFail,
    strerror,
)
from .job import Job
from .task import Task
from .worker import Worker

__version__ = "0.1.0"


def version() -> str:
    """The version of the libgearman in use, e.g. ``"1.1.20+ds"`` (``gearman_version()``)."""
    return str(ffi.string(lib.gearman_version()).decode("ascii"))


__all__: List[str] = [
    *CONSTANTS,
    "strerror",
    "version",
    "ReturnCode",
    "ClientOptions",
    "WorkerOptions",
    "JobPriority",
    "Verbose",
    "Client",
    "JobStatus",
    "Task",
    "GearmanError",
    "GearmanTimeout",
    "GearmanConnectionError",
    "WorkFail",
    "WorkException",
    "ClosedError",
    "ConcurrentUseError",
    "Admin", "AdminGroup", "AdminError", "AdminGroupError", "AdminProtocolError",
    "Worker", "Job",
    "socket_buffers",
    "net_guard",
]
