"""An admin client for gearmand's text protocol: queue depth, running jobs, connected workers.

gearmand answers plain-text commands on its job port (``status``, ``workers``, ``show jobs``...).
``Admin`` speaks that protocol over one plain TCP connection (it does not use libgearman) and
returns parsed values instead of text. ``AdminGroup`` asks several servers and keeps each
server's answer apart. Gearman::XS has no equivalent; the commands are those of ``gearadmin``::

    from gearman_xs.admin import Admin

    with Admin("127.0.0.1", 4730) as admin:
        for fn in admin.status():
            print(fn.function, fn.queued, fn.running, fn.workers)

Failures raise: ``AdminError`` for a server reply ``ERR <code> <message>``, ``AdminProtocolError``
for a reply that does not parse (never half a result), ``GearmanConnectionError`` for a server
that cannot be reached or closes the connection, ``GearmanTimeout`` for one that does not answer
within ``timeout`` seconds.
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import ssl
import threading
import time
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    List,
    NamedTuple,
    Optional,
    Tuple,
    TypeVar,
    Union,
)

from ._libgearman import lib
from ._repr import object_repr
from .errors import GearmanConnectionError, GearmanError, error_for

__all__ = [
    "Admin",
    "AdminGroup",
    "AdminError",
    "AdminProtocolError",
    "AdminGroupError",
    "FunctionStatus",
    "PriorityStatus",
    "WorkerInfo",
    "JobInfo",
    "parse_servers",
    "DEFAULT_PORT",
    "DEFAULT_TIMEOUT",
]

DEFAULT_PORT = 4730
DEFAULT_TIMEOUT = 5.0
#: The longest timeout Admin accepts (s): socket timeouts overflow a little above 2**33 s.
MAX_TIMEOUT = 2**31 - 1
#: A reply line longer than this is refused as malformed (gearmand's lines are short).
MAX_LINE = 1 << 20

T = TypeVar("T")


# -- errors -----------------------------------------------------------------------------------------


class AdminError(GearmanError):
    """The server answered ``ERR ...``. ``code`` is ``GEARMAN_SERVER_ERROR``; ``server_code`` is
    gearmand's error word (``"UNKNOWN_COMMAND"``, ``"UNKNOWN_JOB"``, ``"INVALID_ARGUMENTS"``...) or
    None when the reply has none (``ERR function not found``); ``message`` is the decoded text
    (gearmand encodes spaces as ``+``); ``command`` and ``server`` say what was asked of whom."""

    def __init__(self, server_code: Optional[str], message: str, command: str = "", server: str = "") -> None:
        self.server_code = server_code
        self.command = command
        self.server = server
        text = message or server_code or "error"
        super().__init__(lib.GEARMAN_SERVER_ERROR, text)

    def __str__(self) -> str:
        where = f"{self.server}: " if self.server else ""
        code = f"{self.server_code}: " if self.server_code and self.server_code != self.message else ""
        what = f" (command {self.command!r})" if self.command else ""
        return f"{where}ERR {code}{self.message}{what}"


class AdminProtocolError(GearmanError):
    """A reply that does not parse (``code`` is ``GEARMAN_INVALID_PACKET``); ``reply`` holds the
    offending text. The connection is dropped, since it can no longer be trusted."""

    def __init__(self, message: str, reply: str = "", server: str = "") -> None:
        self.reply = reply
        self.server = server
        where = f"{server}: " if server else ""
        super().__init__(lib.GEARMAN_INVALID_PACKET, f"{where}{message}: {reply[:200]!r}")


class AdminGroupError(GearmanError):
    """At least one server of an ``AdminGroup`` failed. ``errors`` maps each failed server to its
    exception, ``results`` each other server to its value; ``code`` is the first error's code."""

    def __init__(self, errors: Dict[str, GearmanError], results: Dict[str, Any]) -> None:
        self.errors = errors
        self.results = results
        first = next(iter(errors.values()))
        text = "; ".join(f"{server}: {error}" for server, error in errors.items())
        super().__init__(first.code, text)


# -- parsed values ----------------------------------------------------------------------------------


class FunctionStatus(NamedTuple):
    """One line of ``status``: jobs queued (including running ones), jobs running, and workers
    that registered the function."""

    function: str
    queued: int
    running: int
    workers: int


class PriorityStatus(NamedTuple):
    """One line of ``prioritystatus``: jobs queued per priority, and workers."""

    function: str
    high: int
    normal: int
    low: int
    workers: int


class WorkerInfo(NamedTuple):
    """One line of ``workers``: every connection (the admin connection itself included), its
    file descriptor on the server, peer address, client id (``"-"`` when unset) and the
    functions it registered."""

    fd: int
    address: str
    client_id: str
    functions: Tuple[str, ...]


class JobInfo(NamedTuple):
    """One line of ``show jobs``: a cancelled job stays listed with ``ignore_job`` true."""

    handle: str
    retries: int
    ignore_job: bool
    queued: bool


# -- servers --------------------------------------------------------------------------------------


def parse_servers(
    servers: Union[str, Iterable[str]], default_port: int = DEFAULT_PORT
) -> List[Tuple[str, int]]:
    """``"h:p,h2,[::1]:4731"`` (libgearman's add_servers format, or an iterable of such entries)
    as ``[(host, port), ...]``; a missing port is ``default_port``."""
    if isinstance(servers, str):
        entries = servers.split(",")
    elif isinstance(servers, Iterable):
        entries = []
        for entry in servers:
            if not isinstance(entry, str):
                raise TypeError(f"servers must be strings, not {type(entry).__name__}")
            entries.extend(entry.split(","))
    else:
        raise TypeError(f"servers must be a str or an iterable of str, not {type(servers).__name__}")
    result = []
    for raw in entries:
        entry = raw.strip()
        if not entry:
            continue
        host, port_text = entry, ""
        if entry.startswith("["):
            end = entry.find("]")
            if end < 0:
                raise ValueError(f"bad server {entry!r}: missing ']'")
            host, rest = entry[1:end], entry[end + 1 :]
            if rest:
                if not rest.startswith(":"):
                    raise ValueError(f"bad server {entry!r}")
                port_text = rest[1:]
        elif entry.count(":") == 1:
            host, port_text = entry.split(":")
        if not host:
            raise ValueError(f"bad server {entry!r}: empty host")
        port = default_port
        if port_text:
            if not port_text.isdigit() or not 0 < int(port_text) <= 65535:
                raise ValueError(f"bad server {entry!r}: port must be 1-65535")
            port = int(port_text)
        result.append((host, port))
    if not result:
        raise ValueError(f"no server in {servers!r}")
    return result


def _server_name(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# -- reply shapes ------------------------------------------------------------------------------------

_LIST, _VALUE, _OK, _ANY = "list", "value", "ok", "any"
_SHAPES = {
    "status": _LIST,
    "prioritystatus": _LIST,
    "workers": _LIST,
    "show jobs": _LIST,
    "show unique jobs": _LIST,
    "version": _VALUE,
    "getpid": _VALUE,
    "verbose": _VALUE,
    "maxqueue": _OK,
    "cancel job": _OK,
    "create function": _OK,
    "drop function": _OK,
}
#: Commands that change nothing on the server: retried once on a fresh connection when the old
#: one turns out to be dead after the command was sent.
_READ_ONLY = frozenset({"status", "prioritystatus", "workers", "show jobs", "show unique jobs",
                        "version", "getpid", "verbose"})


def _command_key(command: str) -> str:
    words = command.lower().split()
    for n in (3, 2, 1):
        key = " ".join(words[:n])
        if len(words) >= n and key in _SHAPES:
            return key
    return ""


def _decode_err(line: str, command: str, server: str) -> AdminError:
    text = line[3:].strip()
    head, _, rest = text.partition(" ")
    if re.fullmatch(r"[A-Z][A-Z0-9_]*", head):
        return AdminError(head, rest.replace("+", " "), command, server)
    return AdminError(None, text.replace("+", " ") if " " not in text else text, command, server)


def _token(value: Any, what: str) -> str:
    """A single admin-protocol word: str or bytes, non-empty, no whitespace or NUL."""
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", "surrogateescape")
    if not isinstance(value, str):
        raise TypeError(f"{what} must be str or bytes, not {type(value).__name__}")
    if not value:
        raise ValueError(f"{what} must not be empty")
    if any(c.isspace() or c == "\0" for c in value):
        raise ValueError(f"{what} {value!r} cannot be sent over the admin protocol (whitespace or NUL)")
    return value


def _queue_size(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if not 0 <= value <= 0x7FFFFFFF:
        raise ValueError(f"{what} must be between 0 (unlimited) and 2147483647, not {value}")
    return value


def _int(text: str, what: str, line: str, server: str) -> int:
    if not re.fullmatch(r"-?[0-9]+", text):
        raise AdminProtocolError(f"{what} is not a number", line, server)
    return int(text)


def _flag(text: str, what: str, line: str, server: str) -> bool:
    if text not in ("0", "1"):
        raise AdminProtocolError(f"{what} is not 0 or 1", line, server)
    return text == "1"


def _fields(line: str, count: int, server: str) -> List[str]:
    parts = line.rsplit("\t", count - 1)
    if len(parts) != count or not parts[0]:
        raise AdminProtocolError(f"expected {count} tab-separated fields", line, server)
    return parts


def parse_status(lines: List[str], server: str = "") -> List[FunctionStatus]:
    """``status`` reply lines (without the final ``.``) as FunctionStatus values."""
    result = []
    for line in lines:
        name, queued, running, workers = _fields(line, 4, server)
        result.append(FunctionStatus(name, _int(queued, "queued", line, server),
                                     _int(running, "running", line, server),
                                     _int(workers, "workers", line, server)))
    return result


def parse_priority_status(lines: List[str], server: str = "") -> List[PriorityStatus]:
    """``prioritystatus`` reply lines as PriorityStatus values."""
    result = []
    for line in lines:
        name, high, normal, low, workers = _fields(line, 5, server)
        result.append(PriorityStatus(name, *(_int(v, w, line, server) for v, w in
                                             ((high, "high"), (normal, "normal"), (low, "low"),
                                              (workers, "workers")))))
    return result


_WORKER_LINE = re.compile(r"(-?[0-9]+) (\S+) (.*?) :((?: [^ ]+)*) ?")


def parse_workers(lines: List[str], server: str = "") -> List[WorkerInfo]:
    """``workers`` reply lines (``fd address client_id : function...``) as WorkerInfo values."""
    result = []
    for line in lines:
        match = _WORKER_LINE.fullmatch(line)
        if match is None:
            raise AdminProtocolError("expected 'fd address client_id : functions'", line, server)
        fd, address, client_id, functions = match.groups()
        result.append(WorkerInfo(int(fd), address, client_id, tuple(functions.split())))
    return result


def parse_jobs(lines: List[str], server: str = "") -> List[JobInfo]:
    """``show jobs`` reply lines as JobInfo values."""
    result = []
    for line in lines:
        handle, retries, ignore, queued = _fields(line, 4, server)
        result.append(JobInfo(handle, _int(retries, "retries", line, server),
                              _flag(ignore, "ignore_job", line, server),
                              _flag(queued, "job_queued", line, server)))
    return result


# -- one server ---------------------------------------------------------------------------------------


class Admin:
    """An admin connection to one gearmand (``host``, ``port``); ``timeout`` in seconds bounds each
    command (connect, send and the whole reply). The connection is opened on the first command,
    reused by the following ones, and reopened when the server closed it (e.g. after a restart).
    Thread-safe: commands from several threads are serialised. ``ssl_context`` (an
    :class:`ssl.SSLContext`) makes it speak TLS, for a gearmand started with ``--ssl``."""

    def __init__(
        self, host: str = "localhost", port: int = DEFAULT_PORT, timeout: float = DEFAULT_TIMEOUT,
        *, ssl_context: Optional[ssl.SSLContext] = None,
    ) -> None:
        if not isinstance(host, str):
            raise TypeError(f"host must be a str, not {type(host).__name__}")
        if not host:
            raise ValueError("host must not be empty")
        if not isinstance(port, int) or isinstance(port, bool):
            raise TypeError(f"port must be an int, not {type(port).__name__}")
        if not 0 < port <= 65535:
            raise ValueError(f"port must be between 1 and 65535, not {port}")
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool):
            raise TypeError(f"timeout must be a number, not {type(timeout).__name__}")
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0, not {timeout}")
        if not timeout <= MAX_TIMEOUT:  # inf, 2**100: socket timeouts would overflow at the first command
            raise ValueError(f"timeout must be a finite number of seconds up to {MAX_TIMEOUT} (68 years), "
                             f"not {timeout}")
        self.host = host
        self.port = port
        self.timeout = float(timeout)
        self.ssl_context = ssl_context  # a gearmand --ssl: TLS with this context
        self._sock: Optional[socket.socket] = None
        self._buffer = b""
        self._lock = threading.Lock()

    @classmethod
    def for_servers(cls, servers: Union[str, Iterable[str]], timeout: float = DEFAULT_TIMEOUT) -> AdminGroup:
        """An ``AdminGroup`` over ``"h:p,h2:p2"``: each method returns ``{server: result}``."""
        return AdminGroup(servers, timeout)

    @property
    def server(self) -> str:
        """``"host:port"``."""
        return _server_name(self.host, self.port)

    @property
    def connected(self) -> bool:
        return self._sock is not None

    # -- connection ----------------------------------------------------------------------------

    def connect(self) -> None:
        """Opens the connection now (otherwise the first command does)."""
        with self._lock:
            self._ensure(time.monotonic() + self.timeout)

    def close(self) -> None:
        """Closes the connection; a later command reopens it."""
        with self._lock:
            self._drop()

    def __enter__(self) -> Admin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return object_repr(self, server=self.server, timeout=self.timeout, connected=self._sock is not None)

    def _drop(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
        self._sock = None
        self._buffer = b""

    def _connection_error(self, code: int, what: str, exc: Optional[BaseException] = None) -> GearmanError:
        """GearmanTimeout or GearmanConnectionError (errors.error_for) for a socket failure."""
        detail = f": {exc}" if exc is not None and str(exc) and code != lib.GEARMAN_TIMEOUT else ""
        errno = getattr(exc, "errno", None)
        if not isinstance(errno, int) or errno <= 0 or isinstance(exc, socket.gaierror):
            errno = None  # (a gaierror's is an EAI_* code)
        return error_for(code, f"{self.server}: {what}{detail}", errno=errno)

    def _stale(self) -> bool:
        """True when the idle connection was closed by the server or has unexpected data."""
        assert self._sock is not None
        try:
            readable, _, _ = select.select([self._sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable) or bool(self._buffer)

    def _ensure(self, deadline: float) -> socket.socket:
        if self._sock is not None and self._stale():
            self._drop()
        if self._sock is None:
            remaining = max(deadline - time.monotonic(), 0.001)
            try:
                sock = socket.create_connection((self.host, self.port), timeout=remaining)
            except socket.gaierror as exc:
                raise self._connection_error(lib.GEARMAN_GETADDRINFO, "cannot resolve host", exc) from exc
            except socket.timeout as exc:
                raise self._connection_error(
                    lib.GEARMAN_TIMEOUT, f"no connection within {self.timeout}s") from exc
            except OSError as exc:
                raise self._connection_error(lib.GEARMAN_COULD_NOT_CONNECT, "cannot connect", exc) from exc
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.ssl_context is not None:
                sock = self._tls(sock)
            self._sock = sock
            self._buffer = b""
        return self._sock

    def _tls(self, sock: socket.socket) -> socket.socket:
        ctx = self.ssl_context
        assert ctx is not None
        try:
            return ctx.wrap_socket(sock, server_hostname=self.host if ctx.check_hostname else None)
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            sock.close()
            code = lib.GEARMAN_TIMEOUT if isinstance(exc, socket.timeout) else lib.GEARMAN_COULD_NOT_CONNECT
            raise self._connection_error(code, "TLS handshake failed", exc) from exc

    def _readline(self, sock: socket.socket, deadline: float, command: str) -> bytes:
        """One line including its ``\\n``."""
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line, self._buffer = self._buffer[: end + 1], self._buffer[end + 1 :]
                return line
            if len(self._buffer) > MAX_LINE:
                raise AdminProtocolError(f"reply line longer than {MAX_LINE} bytes",
                                         self._buffer[:200].decode("utf-8", "replace"), self.server)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._connection_error(lib.GEARMAN_TIMEOUT,
                                             f"no complete reply to {command!r} within {self.timeout}s")
            sock.settimeout(remaining)
            try:
                chunk = sock.recv(65536)
            except socket.timeout as exc:
                raise self._connection_error(
                    lib.GEARMAN_TIMEOUT, f"no complete reply to {command!r} within {self.timeout}s") from exc
            except OSError as exc:
                raise self._connection_error(lib.GEARMAN_LOST_CONNECTION,
                                             f"connection lost during {command!r}", exc) from exc
            if not chunk:
                what = "connection closed before the reply" if not self._buffer else "reply truncated"
                raise self._connection_error(lib.GEARMAN_LOST_CONNECTION, f"{what} to {command!r}")
            self._buffer += chunk

    def _exchange(self, command: str, shape: str, fenced: bool = False) -> Tuple[str, List[str]]:
        """Sends ``command`` and reads one reply of ``shape``; returns (raw text, payload lines).

        ``fenced``: a list whose lines may themselves be ``.`` (``show unique jobs``: a job's
        unique id can be ``"."``) is followed by a ``version`` command, and only a ``.`` line
        followed by its ``OK`` reply ends the list."""
        retry = _command_key(command) in _READ_ONLY
        with self._lock:
            while True:
                deadline = time.monotonic() + self.timeout
                sock = self._ensure(deadline)
                got_any = False
                try:
                    try:
                        sock.settimeout(max(deadline - time.monotonic(), 0.001))
                        wire = command.encode("utf-8", "surrogateescape") + b"\r\n"
                        sock.sendall(wire + b"version\r\n" if fenced else wire)
                    except socket.timeout as exc:
                        raise self._connection_error(lib.GEARMAN_TIMEOUT, f"cannot send {command!r}") from exc
                    except OSError as exc:
                        raise self._connection_error(lib.GEARMAN_LOST_CONNECTION,
                                                     f"cannot send {command!r}", exc) from exc
                    first = self._readline(sock, deadline, command)
                    got_any = True
                    return self._read_reply(sock, deadline, command, shape, first, fenced)
                except GearmanConnectionError:
                    self._drop()
                    if retry and not got_any:
                        retry = False
                        continue
                    raise
                except AdminError:
                    raise  # a complete ERR reply: the connection is fine
                except GearmanError:
                    self._drop()
                    raise

    def _read_reply(self, sock: socket.socket, deadline: float, command: str, shape: str,
                    first: bytes, fenced: bool) -> Tuple[str, List[str]]:
        server = self.server
        raw = [first]
        text = first.decode("utf-8", "surrogateescape")
        if text.startswith("ERR") and text.endswith("\r\n") and (len(text) == 5 or text[3] == " "):
            raise _decode_err(text.rstrip("\r\n"), command, server)
        if shape == _ANY:  # a command this module does not know: shape from the first line
            shape = _OK if text == "OK\r\n" else _VALUE if text.startswith("OK ") else _LIST
        if shape == _OK:
            if text != "OK\r\n":
                raise AdminProtocolError(f"expected 'OK' or 'ERR' in reply to {command!r}", text, server)
            return text, []
        if shape == _VALUE:
            if not text.startswith("OK ") or not text.endswith("\n") or text.endswith("\r\n"):
                raise AdminProtocolError(f"expected 'OK <value>' in reply to {command!r}", text, server)
            value = text[3:-1]
            if not value:
                raise AdminProtocolError(f"empty value in reply to {command!r}", text, server)
            return text, [value]
        lines: List[str] = []
        while True:
            if text == ".\n":
                if not fenced:
                    return "".join(r.decode("utf-8", "surrogateescape") for r in raw), lines
                after = self._readline(sock, deadline, command)
                after_text = after.decode("utf-8", "surrogateescape")
                if after_text.startswith("OK ") and not after_text.endswith("\r\n"):
                    return "".join(r.decode("utf-8", "surrogateescape") for r in raw), lines
                raw.append(after)  # the "." was a unique id: the list goes on
                lines.append(".")
                text = after_text
                continue
            if text.endswith("\r\n"):
                raise AdminProtocolError(f"unexpected CRLF line in list reply to {command!r}", text, server)
            lines.append(text[:-1])
            line = self._readline(sock, deadline, command)
            raw.append(line)
            text = line.decode("utf-8", "surrogateescape")

    def _list(
        self, command: str, parse: Callable[[List[str], str], List[T]], fenced: bool = False
    ) -> List[T]:
        _, lines = self._exchange(command, _LIST, fenced)
        try:
            return parse(lines, self.server)
        except AdminProtocolError:
            with self._lock:
                self._drop()
            raise

    # -- commands ------------------------------------------------------------------------------------

    def send(self, command: str) -> str:
        """Sends any admin command and returns the raw reply text as received (a list reply
        includes its final ``.`` line). ``ERR`` replies raise ``AdminError``. The reply's shape
        (list, ``OK value`` or ``OK``) is known for gearmand's commands; for others it is taken
        from the first line."""
        if not isinstance(command, str):
            raise TypeError(f"command must be a str, not {type(command).__name__}")
        if "\n" in command or "\r" in command or "\0" in command:
            raise ValueError("command must be one line without NUL")
        key = _command_key(command)
        raw, _ = self._exchange(command, _SHAPES.get(key, _ANY), fenced=key == "show unique jobs")
        return raw

    def status(self) -> List[FunctionStatus]:
        """``status``: per function, jobs queued (running ones included), running, and workers
        able to do it. Functions appear once a job or worker used them, or after create_function."""
        return self._list("status", parse_status)

    def priority_status(self) -> List[PriorityStatus]:
        """``prioritystatus``: per function, queued jobs per priority (high, normal, low), workers.

        gearmand before 1.1.20 (1.1.19.1 and older) counts 1 for every priority with any queued
        jobs (its upstream issue #337); :meth:`status` and :meth:`show_jobs` count right there."""
        return self._list("prioritystatus", parse_priority_status)

    def workers(self) -> List[WorkerInfo]:
        """``workers``: every connection to the server, this admin connection included."""
        return self._list("workers", parse_workers)

    def show_jobs(self) -> List[JobInfo]:
        """``show jobs``: every job the server holds (handle, retries, ignore_job, queued)."""
        return self._list("show jobs", parse_jobs)

    def show_unique_jobs(self) -> List[str]:
        """``show unique jobs``: the unique id of every job the server holds. gearmand ends the
        list with a ``.`` line, which is also a valid unique id; a ``version`` command sent right
        after tells the two apart (``gearadmin`` stops at such a job)."""
        return self._list("show unique jobs", lambda lines, server: list(lines), fenced=True)

    def version(self) -> str:
        """``version``: the server's version, e.g. ``"1.1.20+ds"``."""
        return self._exchange("version", _VALUE)[1][0]

    def getpid(self) -> int:
        """``getpid``: the server's process id."""
        raw, (value,) = self._exchange("getpid", _VALUE)
        if not value.isdigit():
            self.close()
            raise AdminProtocolError("pid is not a number", raw, self.server)
        return int(value)

    def verbose(self) -> str:
        """``verbose``: the server's log level, e.g. ``"INFO"``."""
        return self._exchange("verbose", _VALUE)[1][0]

    def maxqueue(self, function: Union[str, bytes], high: Optional[int] = None, normal: Optional[int] = None,
                 low: Optional[int] = None) -> None:
        """``maxqueue``: the most jobs the server queues for ``function``; 0 means unlimited.

        ``maxqueue(fn, 10)`` sets 10 for every priority; ``maxqueue(fn, high=1, normal=2, low=3)``
        per priority (a priority left None is then unlimited, as gearmand does);
        ``maxqueue(fn)`` makes every priority unlimited. A full queue makes submissions fail
        with ``GEARMAN_QUEUE_ERROR``."""
        name = _token(function, "function")
        sizes = [high, normal, low]
        if normal is None and low is None:
            args = [] if high is None else [str(_queue_size(high, "high"))]
        else:
            args = [str(_queue_size(v, w)) if v is not None else "0"
                    for v, w in zip(sizes, ("high", "normal", "low"))]
        self._exchange(" ".join(["maxqueue", name, *args]), _OK)

    def cancel_job(self, handle: Union[str, bytes]) -> None:
        """``cancel job``: removes a queued job (gearmand keeps listing it with ignore_job set);
        an unknown handle raises AdminError with server_code ``"UNKNOWN_JOB"``."""
        self._exchange(f"cancel job {_token(handle, 'handle')}", _OK)

    def create_function(self, name: Union[str, bytes]) -> None:
        """``create function``: makes ``name`` known to the server (it then appears in status)."""
        self._exchange(f"create function {_token(name, 'function')}", _OK)

    def drop_function(self, name: Union[str, bytes]) -> None:
        """``drop function``: forgets ``name``; refused (AdminError) while workers are connected
        or clients executing, and for unknown functions."""
        self._exchange(f"drop function {_token(name, 'function')}", _OK)


# -- several servers ------------------------------------------------------------------------------------


class AdminGroup:
    """``Admin`` for several servers: each method asks every server in turn and returns
    ``{"host:port": result}`` in the order given. When any server fails, ``AdminGroupError`` is
    raised carrying both the errors and the other servers' results."""

    def __init__(self, servers: Union[str, Iterable[str]], timeout: float = DEFAULT_TIMEOUT) -> None:
        self.admins: Dict[str, Admin] = {}
        for host, port in parse_servers(servers):
            admin = Admin(host, port, timeout)
            self.admins.setdefault(admin.server, admin)

    @property
    def servers(self) -> List[str]:
        return list(self.admins)

    def close(self) -> None:
        for admin in self.admins.values():
            admin.close()

    def __enter__(self) -> AdminGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return object_repr(self, servers=self.servers)

    def gather(self, call: Callable[[Admin], T]) -> Dict[str, Union[T, GearmanError]]:
        """``call(admin)`` for every server; each value is the result or the GearmanError raised."""
        out: Dict[str, Union[T, GearmanError]] = {}
        for server, admin in self.admins.items():
            try:
                out[server] = call(admin)
            except GearmanError as exc:
                out[server] = exc
        return out

    def _all(self, call: Callable[[Admin], T]) -> Dict[str, T]:
        results: Dict[str, T] = {}
        errors: Dict[str, GearmanError] = {}
        for server, value in self.gather(call).items():
            if isinstance(value, GearmanError):
                errors[server] = value
            else:
                results[server] = value
        if errors:
            raise AdminGroupError(errors, results)
        return results

    def send(self, command: str) -> Dict[str, str]:
        return self._all(lambda a: a.send(command))

    def status(self) -> Dict[str, List[FunctionStatus]]:
        return self._all(Admin.status)

    def priority_status(self) -> Dict[str, List[PriorityStatus]]:
        return self._all(Admin.priority_status)

    def workers(self) -> Dict[str, List[WorkerInfo]]:
        return self._all(Admin.workers)

    def show_jobs(self) -> Dict[str, List[JobInfo]]:
        return self._all(Admin.show_jobs)

    def show_unique_jobs(self) -> Dict[str, List[str]]:
        return self._all(Admin.show_unique_jobs)

    def version(self) -> Dict[str, str]:
        return self._all(Admin.version)

    def getpid(self) -> Dict[str, int]:
        return self._all(Admin.getpid)

    def verbose(self) -> Dict[str, str]:
        return self._all(Admin.verbose)

    def maxqueue(self, function: Union[str, bytes], high: Optional[int] = None, normal: Optional[int] = None,
                 low: Optional[int] = None) -> Dict[str, None]:
        return self._all(lambda a: a.maxqueue(function, high, normal, low))

    def create_function(self, name: Union[str, bytes]) -> Dict[str, None]:
        return self._all(lambda a: a.create_function(name))

    def drop_function(self, name: Union[str, bytes]) -> Dict[str, None]:
        return self._all(lambda a: a.drop_function(name))

    def cancel_job(self, handle: Union[str, bytes]) -> str:
        """Cancels ``handle`` on whichever server knows it (handles belong to one server) and
        returns that server; raises AdminGroupError when none accepted it."""
        outcome = self.gather(lambda a: a.cancel_job(handle))
        for server, value in outcome.items():
            if not isinstance(value, GearmanError):
                return server
        raise AdminGroupError({s: v for s, v in outcome.items() if isinstance(v, GearmanError)}, {})
