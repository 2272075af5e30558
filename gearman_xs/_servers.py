"""Which job server a Client submits to next: the first available one in the order given.

``add_servers("A,B")``, repeated ``add_server()`` calls and ``GEARMAN_SERVERS`` list servers in order
of preference (gearman.org's redundancy rule; libgearman itself prefers the last one added). A
``ServerList`` keeps that order and, per server, a pause after failures:

* a server that refused a connection (or did not accept one in time) is *down*: it is skipped while
  another server is available, and tried again after ``RETRY_FIRST`` s, then after doubling pauses
  capped at ``RETRY_MAX`` s while it keeps refusing. When no server is available a down one is still
  tried (a refused connect costs nothing), in the order given;
* a server that accepted a connection and then closed it before answering (or sent something
  libgearman could not read) is *misbehaving*: the same pauses, but it is not tried at all before its
  pause ends, so a Client cannot hammer it;
* any answer from a server (``ok()``) clears its pause and failure count.

So once a preferred server answers again, jobs return to it at the next submission after its pause
ends: within ``RETRY_MAX`` s. Only bookkeeping lives here; the Client does the connecting.
"""

from __future__ import annotations

import socket
import time
from typing import Dict, List, NamedTuple, Optional, Tuple

__all__ = ["RETRY_FIRST", "RETRY_MAX", "ServerList", "join_spec", "reachable", "split_spec"]

#: First pause of a failed server (s), doubled after each further failure up to RETRY_MAX.
RETRY_FIRST = 0.5
#: The longest pause (s): a server that answers again takes jobs back within this time.
RETRY_MAX = 5.0

_DEFAULT_PORT = 4730


class _Pause(NamedTuple):
    until: float
    failures: int
    refused: bool  # True: connection refused (down); False: closed on us (misbehaving)


class ServerList:
    """Servers (``b"host:port"``) in order of preference, with their pauses."""

    def __init__(self) -> None:
        self.specs: List[bytes] = []
        self.pauses: Dict[bytes, _Pause] = {}  # empty while every server is available

    def __bool__(self) -> bool:
        return bool(self.specs)

    def __len__(self) -> int:
        return len(self.specs)

    def add(self, spec: bytes) -> None:
        """Appends a server (a repeated one keeps its first place)."""
        if spec not in self.specs:
            self.specs.append(spec)

    def clear(self) -> None:
        self.specs.clear()
        self.pauses.clear()

    def failed(self, spec: bytes, refused: bool) -> float:
        """Records a failure of ``spec``; returns the length of its new pause (s)."""
        old = self.pauses.get(spec)
        failures = 1 if old is None else old.failures + 1
        pause = min(RETRY_FIRST * float(1 << min(failures - 1, 16)), RETRY_MAX)
        self.pauses[spec] = _Pause(time.monotonic() + pause, failures, refused)
        return pause

    def ok(self, spec: bytes) -> None:
        """``spec`` answered: it is available again."""
        if self.pauses:
            self.pauses.pop(spec, None)

    def paused(self, spec: bytes, now: Optional[float] = None) -> bool:
        p = self.pauses.get(spec)
        return p is not None and p.until > (time.monotonic() if now is None else now)

    def candidates(self) -> List[bytes]:
        """The servers to try, best first: the available ones in the order given, then the down
        ones (refused connections) in the order given. Misbehaving servers in their pause are left out."""
        if not self.pauses:
            return list(self.specs)
        now = time.monotonic()
        available = [s for s in self.specs if not self.paused(s, now)]
        down = [s for s in self.specs if self.paused(s, now) and self.pauses[s].refused]
        return available + down

    def recheck_at(self, current: Optional[bytes]) -> float:
        """When a server preferred over ``current`` ends its pause (monotonic time; 0.0 if one is
        available now, infinity if none is preferred): until then ``current`` stays the choice."""
        at = float("inf")
        for spec in self.specs:
            if spec == current:
                return at
            p = self.pauses.get(spec)
            if p is None:
                return 0.0
            at = min(at, p.until)
        return at

    def pause_text(self) -> str:
        """Which servers pause and for how long (for error messages)."""
        now = time.monotonic()
        parts = []
        for spec in self.specs:
            p = self.pauses.get(spec)
            if p is not None and p.until > now:
                why = "refused" if p.refused else "closed the connection"
                parts.append(f"{spec.decode('utf-8', 'replace')} {why} {p.failures} time(s), "
                             f"next attempt in {p.until - now:.1f} s")
        return "; ".join(parts)


def split_spec(spec: bytes) -> Tuple[str, int]:
    """``b"host:port"``, ``b"host"`` or ``b"[v6]:port"`` -> (host, port); a missing, 0 or
    non-numeric port is 4730 (as libgearman reads it)."""
    text = spec.decode("utf-8", "replace").strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, ""
    return host or "localhost", (int(port) if port.isdigit() else 0) or _DEFAULT_PORT


def join_spec(host: str, port: int) -> bytes:
    """The key of a server: ``b"host:port"`` (``b"[v6]:port"``)."""
    return (f"[{host}]:{port}" if ":" in host else f"{host}:{port}").encode()


def reachable(spec: bytes, timeout: Optional[float]) -> Optional[bool]:
    """Opens (and closes) a TCP connection to ``spec``: True if it opened, False if it was refused
    or failed, None if it did not open within ``timeout`` s (None: the system's connect timeout).
    Interruptible (Ctrl-C raises KeyboardInterrupt at once)."""
    host, port = split_spec(spec)
    try:
        with socket.create_connection((host, port), timeout=None if timeout is None else max(timeout, 0.001)):
            return True
    except socket.timeout:
        return None
    except OSError:
        return False
