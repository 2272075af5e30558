"""Argument checks and conversions shared by every class, done in Python before any C call.

Payloads (workloads, results, data chunks) accept ``bytes``, ``bytearray``, ``memoryview`` and
``str`` (sent as UTF-8) and are passed to C without a copy. An empty payload becomes ``NULL, 0``:
libgearman rejects a non-NULL pointer with size 0 (``GEARMAN_INVALID_ARGUMENT``, "invalid workload").
Names (functions, uniques, handles, identifiers) are checked for type, length and NUL bytes so that
libgearman never truncates one silently.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple, Union

from ._libgearman import ffi, lib

Payload = Union[bytes, bytearray, memoryview, str]

NULL = ffi.NULL

#: Longest unique id libgearman keeps whole (64 bytes are silently cut to 63).
MAX_UNIQUE = lib.GEARMAN_MAX_UNIQUE_SIZE - 1
#: Longest function name (GEARMAN_FUNCTION_MAX_SIZE).
MAX_FUNCTION_NAME = lib.GEARMAN_FUNCTION_MAX_SIZE
#: Longest job handle (gearman_job_handle_t is char[64], NUL included).
MAX_JOB_HANDLE = lib.GEARMAN_JOB_HANDLE_SIZE - 1
#: Longest client or worker identifier.
MAX_IDENTIFIER = lib.GEARMAN_MAX_IDENTIFIER


def payload(data: Any, what: str = "workload") -> Tuple[Any, int]:
    """``(pointer, size)`` for a C ``const void *, size_t`` pair; ``(NULL, 0)`` when empty.

    The pointer refers to the caller's buffer (no copy); it is valid while ``data`` is alive."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    elif not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"{what} must be bytes, bytearray, memoryview or str, not {type(data).__name__}"
        )
    size = data.nbytes if isinstance(data, memoryview) else len(data)
    if size == 0:
        return NULL, 0
    if isinstance(data, memoryview) and not data.c_contiguous:
        raise ValueError(f"{what} must be a contiguous buffer")
    return ffi.from_buffer(data), size


def name(value: Any, what: str, max_size: int, allow_empty: bool = False) -> bytes:
    """A NUL-free byte string of at most ``max_size`` bytes, from ``str`` (UTF-8) or bytes."""
    if isinstance(value, str):
        value = value.encode("utf-8")
    elif isinstance(value, (bytearray, memoryview)):
        value = bytes(value)
    elif not isinstance(value, bytes):
        raise TypeError(f"{what} must be str or bytes, not {type(value).__name__}")
    if not value and not allow_empty:
        raise ValueError(f"{what} must not be empty")
    if len(value) > max_size:
        raise ValueError(f"{what} is {len(value)} bytes long; the limit is {max_size}")
    if b"\0" in value:
        raise ValueError(f"{what} must not contain NUL bytes")
    return bytes(value)


def function_name(value: Any) -> bytes:
    """A function name: 1 to 512 bytes, no NUL."""
    return name(value, "function_name", MAX_FUNCTION_NAME)


def unique(value: Any) -> Any:
    """A unique id, or NULL for None (libgearman then generates a UUID): 1 to 63 bytes."""
    if value is None:
        return NULL
    return name(value, "unique", MAX_UNIQUE)


def job_handle(value: Any) -> bytes:
    """A job handle as returned by do_background(): 1 to 63 bytes, no NUL."""
    return name(value, "job_handle", MAX_JOB_HANDLE)


def optional_host(host: Optional[Union[str, bytes]]) -> Any:
    """A server host for add_server(): None or "" mean libgearman's default, localhost."""
    if host is None:
        return NULL
    encoded = name(host, "host", 1024, allow_empty=True)
    return encoded or NULL


def port(value: Any) -> int:
    """A TCP port for add_server(): an int, or a str of ASCII digits (as read from a config file
    or a command line; Perl numifies ``'4730'``). 0 means libgearman's default, 4730."""
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit()):
            raise ValueError(
                f"port must be a number from 0 to 65535 (an int or a string of digits), not {value!r}"
            )
        number = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = int(value)
    else:
        raise TypeError(f"port must be an int or a string of digits, not {type(value).__name__}")
    if not 0 <= number <= 65535:
        raise ValueError(f"port must be between 0 and 65535, not {value!r}")
    return number


def int_arg(value: Any, what: str, low: int, high: int) -> int:
    """An int within ``[low, high]``; bool is refused."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{what} must be between {low} and {high}, not {value}")
    return value


def c_string(pointer: Any) -> Optional[str]:
    """A NUL-terminated string owned by libgearman, copied out; None for NULL or empty."""
    if pointer == NULL:
        return None
    text = ffi.string(pointer)
    return text.decode("utf-8", "surrogateescape") if text else None


def c_bytes(pointer: Any, size: int) -> bytes:
    """``size`` bytes at a pointer owned by libgearman, copied out; b"" for NULL or 0."""
    if pointer == NULL or size == 0:
        return b""
    return bytes(ffi.unpack(ffi.cast("char *", pointer), size))


def take_bytes(pointer: Any, size: int) -> bytes:
    """Copies ``size`` bytes that libgearman handed over, then frees them (once) with free()."""
    if pointer == NULL:
        return b""
    try:
        return bytes(ffi.unpack(ffi.cast("char *", pointer), size)) if size else b""
    finally:
        lib.free(pointer)
