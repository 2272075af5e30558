"""The exception hierarchy, and the one path that turns a ``gearman_return_t`` into it.

Gearman::XS returns ``($ret, $value)``; gearman_xs returns the value and raises one of these when
``$ret`` is a failure. Every exception carries libgearman's code (``code``), the code's name
(``name``, what ``gearman_xs.strerror(code)`` gives) and libgearman's own error text (``message``).

Client, Worker, Job and Admin all raise through here: ``check(rc, source)`` (raise unless
GEARMAN_SUCCESS), ``error_from(rc, source, message)`` (the exception for a failure, with the text of
``source``, the libgearman object that failed) and ``error_for(rc, message)``, which picks the class.
``CONNECTION_CODES`` is the one set of codes that mean "no usable connection to a server": they
raise ``GearmanConnectionError``, make a Client fail over to its next server and a Worker reconnect.
"""

from __future__ import annotations

from typing import Any, Optional

from . import net_guard
from ._libgearman import ffi, lib

__all__ = [
    "GearmanError",
    "GearmanTimeout",
    "GearmanConnectionError",
    "WorkFail",
    "WorkException",
    "ClosedError",
    "ConcurrentUseError",
    "strerror",
    "error_for",
    "error_from",
    "error_text",
    "check",
    "CONNECTION_CODES",
]


def strerror(code: int) -> str:
    """The name of a ``gearman_return_t`` (``Gearman::XS::strerror``): ``strerror(47)`` is
    ``"GEARMAN_TIMEOUT"``; codes outside the enum give ``"GEARMAN_MAX_RETURN"``."""
    if not isinstance(code, int) or isinstance(code, bool):
        raise TypeError(f"strerror() needs an int return code, not {type(code).__name__}")
    if not 0 <= code < lib.GEARMAN_MAX_RETURN:
        code = lib.GEARMAN_MAX_RETURN
    return str(ffi.string(lib.gearman_strerror(code)).decode("ascii"))


class GearmanError(Exception):
    """A libgearman failure: ``code`` (a ``GEARMAN_*`` return code), ``name`` (its strerror) and
    ``message`` (libgearman's error text, or the name when libgearman gave none)."""

    def __init__(self, code: int, message: Optional[str] = None) -> None:
        self.code = code
        self.name = strerror(code)
        self.message = message or self.name
        super().__init__(code, self.message)

    def __str__(self) -> str:
        if self.message == self.name:
            return self.name
        return f"{self.name}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code}, {self.message!r})"


class GearmanTimeout(GearmanError, TimeoutError):
    """``GEARMAN_TIMEOUT``: nothing arrived within the object's timeout."""


class GearmanConnectionError(GearmanError, ConnectionError):
    """No usable server: COULD_NOT_CONNECT, LOST_CONNECTION, NO_SERVERS, GETADDRINFO,
    NOT_CONNECTED or NO_ACTIVE_FDS (``CONNECTION_CODES``)."""


class WorkFail(GearmanError):
    """``GEARMAN_WORK_FAIL``: the worker failed the job (WORK_FAIL)."""


class WorkException(GearmanError):
    """``GEARMAN_WORK_EXCEPTION``: the worker sent WORK_EXCEPTION; ``exception`` holds its
    payload (bytes, possibly empty)."""

    def __init__(self, code: int, message: Optional[str] = None, exception: bytes = b"") -> None:
        self.exception = exception
        super().__init__(code, message)

    def __str__(self) -> str:
        base = super().__str__()
        if self.exception:
            return f"{base}: {self.exception.decode('utf-8', 'replace')}"
        return base


class ClosedError(GearmanError, ValueError):
    """The Client or Worker was closed; like a closed file, it raises instead of reaching C.
    ``code`` is ``GEARMAN_INVALID_ARGUMENT``."""

    def __init__(self, what: str) -> None:
        super().__init__(lib.GEARMAN_INVALID_ARGUMENT, f"{what} is closed")


class ConcurrentUseError(GearmanError, RuntimeError):
    """A second thread called into a Client or Worker that another thread is using. libgearman
    objects are not thread-safe: use one object per thread. ``code`` is ``GEARMAN_IN_PROGRESS``."""

    def __init__(self, what: str) -> None:
        super().__init__(
            lib.GEARMAN_IN_PROGRESS,
            f"{what} is in use by another thread; use one {what} per thread",
        )


#: The codes that mean "no usable connection to a server" (GearmanConnectionError).
CONNECTION_CODES = frozenset(
    {
        lib.GEARMAN_COULD_NOT_CONNECT,
        lib.GEARMAN_LOST_CONNECTION,
        lib.GEARMAN_NO_SERVERS,
        lib.GEARMAN_GETADDRINFO,
        lib.GEARMAN_NOT_CONNECTED,
        lib.GEARMAN_NO_ACTIVE_FDS,
    }
)


_GUARDED_CODES = frozenset({lib.GEARMAN_INVALID_COMMAND, lib.GEARMAN_INVALID_MAGIC,
                            lib.GEARMAN_LOST_CONNECTION})


def error_for(code: int, message: Optional[str] = None, exception: bytes = b"") -> GearmanError:
    """The exception for ``code``, of the most specific class. For a reply that the packet guard
    (:mod:`gearman_xs.net_guard`) stopped, the message says what the server sent."""
    if code in _GUARDED_CODES:
        reason = net_guard.take_reason()
        if reason is not None:
            message = reason
    if code == lib.GEARMAN_TIMEOUT:
        return GearmanTimeout(code, message)
    if code in CONNECTION_CODES:
        return GearmanConnectionError(code, message)
    if code == lib.GEARMAN_WORK_FAIL:
        return WorkFail(code, message)
    if code == lib.GEARMAN_WORK_EXCEPTION:
        return WorkException(code, message, exception)
    return GearmanError(code, message)


_ERROR_TEXT = {
    ffi.typeof("gearman_client_st *"): lib.gearman_client_error,
    ffi.typeof("gearman_worker_st *"): lib.gearman_worker_error,
    ffi.typeof("gearman_task_st *"): lib.gearman_task_error,
    ffi.typeof("gearman_job_st *"): lib.gearman_job_error,
}


def error_text(source: Any) -> Optional[str]:
    """libgearman's last error text of a client, worker, task or job pointer (None if none)."""
    if source is None or source == ffi.NULL:
        return None
    getter = _ERROR_TEXT.get(ffi.typeof(source))
    if getter is None:
        raise TypeError(f"no libgearman error text for {ffi.typeof(source)}")
    text = getter(source)
    if text == ffi.NULL:
        return None
    return ffi.string(text).decode("utf-8", "replace") or None


def error_from(
    rc: int, source: Any = None, message: Optional[str] = None, exception: bytes = b""
) -> GearmanError:
    """The exception for the failure ``rc``: its text is ``message``, else the error text of
    ``source`` (the ``gearman_client_st *``, ``gearman_worker_st *``, task or job that failed)."""
    return error_for(rc, message or error_text(source), exception)


def check(rc: int, source: Any = None) -> None:
    """Raises the exception for ``rc`` unless it is ``GEARMAN_SUCCESS``. ``source`` is the
    ``gearman_client_st *``, ``gearman_worker_st *``, task or job whose error text explains it."""
    if rc != lib.GEARMAN_SUCCESS:
        raise error_from(rc, source)
