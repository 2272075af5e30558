"""The exception hierarchy, and the one path that turns a ``gearman_return_t`` into it.

Gearman::XS returns ``($ret, $value)``; gearman_xs returns the value and raises one of these when
``$ret`` is a failure. Every exception carries libgearman's code (``code``), the code's name
(``name``, what ``gearman_xs.strerror(code)`` gives), libgearman's own error text (``message``) and
``errno``: the system errno behind the failure when one is known (a reset connection: ECONNRESET),
else None, never a gearman code (``GearmanTimeout`` and ``GearmanConnectionError`` are ``OSError``s,
whose ``errno`` Python code reads as a system errno). Every class round-trips through pickle (and so
through ``multiprocessing``), its attributes included.

Client, Worker, Job and Admin all raise through here: ``check(rc, source)`` (raise unless
GEARMAN_SUCCESS), ``error_from(rc, source, message)`` (the exception for a failure, with the text of
``source``, the libgearman object that failed) and ``error_for(rc, message)``, which picks the class.
``CONNECTION_CODES`` is the one set of codes that mean "no usable connection to a server": they
raise ``GearmanConnectionError``, make a Client fail over to its next server and a Worker reconnect.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Optional, Tuple

from . import net_guard
from ._libgearman import ffi, lib
from .constants import return_code

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
    """A libgearman failure: ``code`` (a ``GEARMAN_*`` return code), ``name`` (its strerror),
    ``message`` (libgearman's error text, or the name when libgearman gave none) and ``errno`` (the
    system errno behind it, or None; ``strerror`` its text). ``args`` is ``(code, message)``."""

    errno: Optional[int]
    strerror: Optional[str]

    def __init__(self, code: int, message: Optional[str] = None, errno: Optional[int] = None) -> None:
        self.code = return_code(code)  # a ReturnCode member when it is one
        self.name = strerror(code)
        self.message = message or self.name
        super().__init__(code, self.message)
        # OSError's __init__ took ``code`` for the errno: set the real one (and its text)
        self.errno = errno
        self.strerror = os.strerror(errno) if errno else None

    def __reduce__(self) -> Tuple[Any, ...]:
        # Rebuilt without calling __init__ (ClosedError(what), AdminError(...) take other
        # arguments than args holds), with every attribute, errno included.
        state: Dict[str, Any] = dict(self.__dict__)
        state["errno"] = self.errno  # (OSError keeps these two outside __dict__)
        state["strerror"] = self.strerror
        return (_rebuild, (type(self), self.args, state))

    def __str__(self) -> str:
        if self.message == self.name:
            return self.name
        return f"{self.name}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code}, {self.message!r})"


def _rebuild(cls: Any, args: Tuple[Any, ...], state: Dict[str, Any]) -> GearmanError:
    """Unpickles a GearmanError (see GearmanError.__reduce__)."""
    exc: GearmanError = cls.__new__(cls, *args)
    exc.args = args
    for key, value in state.items():
        setattr(exc, key, value)
    return exc


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

    def __init__(self, code: int, message: Optional[str] = None, exception: bytes = b"",
                 errno: Optional[int] = None) -> None:
        self.exception = exception
        super().__init__(code, message, errno)

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


def error_for(
    code: int, message: Optional[str] = None, exception: bytes = b"", errno: Optional[int] = None
) -> GearmanError:
    """The exception for ``code``, of the most specific class. For a reply that the packet guard
    (:mod:`gearman_xs.net_guard`) stopped, the message says what the server sent. ``errno``: the
    system errno behind the failure, if known."""
    if code in _GUARDED_CODES:
        reason = net_guard.take_reason()
        if reason is not None:
            message = reason
    if code == lib.GEARMAN_TIMEOUT:
        return GearmanTimeout(code, message, errno)
    if code in CONNECTION_CODES:
        return GearmanConnectionError(code, message, errno)
    if code == lib.GEARMAN_WORK_FAIL:
        return WorkFail(code, message, errno)
    if code == lib.GEARMAN_WORK_EXCEPTION:
        return WorkException(code, message, exception, errno)
    return GearmanError(code, message, errno)


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


_ERRNO = {
    ffi.typeof("gearman_client_st *"): lib.gearman_client_errno,
    ffi.typeof("gearman_worker_st *"): lib.gearman_worker_errno,
}


def system_errno(source: Any, text: Optional[str]) -> Optional[int]:
    """The system errno libgearman recorded on a client or worker pointer, when the failure's
    ``text`` names it as libgearman does (``flush(Connection reset by peer) ...``): libgearman keeps
    the last errno across later failures, and a stale one is not taken. Else None."""
    if source is None or source == ffi.NULL or not text:
        return None
    getter = _ERRNO.get(ffi.typeof(source))
    if getter is None:
        return None
    number = int(getter(source))
    if number > 0 and f"({os.strerror(number)})" in text:
        return number
    return None


def error_from(
    rc: int, source: Any = None, message: Optional[str] = None, exception: bytes = b""
) -> GearmanError:
    """The exception for the failure ``rc``: its text is ``message``, else the error text of
    ``source`` (the ``gearman_client_st *``, ``gearman_worker_st *``, task or job that failed);
    its ``errno`` the system errno ``source`` recorded for it, if that text names it."""
    text = message or error_text(source)
    return error_for(rc, text, exception, system_errno(source, text))


def check(rc: int, source: Any = None) -> None:
    """Raises the exception for ``rc`` unless it is ``GEARMAN_SUCCESS``. ``source`` is the
    ``gearman_client_st *``, ``gearman_worker_st *``, task or job whose error text explains it."""
    if rc != lib.GEARMAN_SUCCESS:
        raise error_from(rc, source)
