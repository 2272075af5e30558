"""A malicious fake gearmand on 127.0.0.1 for tests: answers like a gearmand with no workers, except
that a *policy* may replace any answer with arbitrary bytes and close the connection.

    with FakeServer(policy) as server:     # server.port, server.connections, server.requests
        ...

``policy(command, args, conn_index)`` returns None (answer normally), or ``(reply_bytes, close)``;
with ``rst=True`` such a close is an RST right after the reply (a connection that breaks).
One thread accepts and serves every connection (selectors); ``close()`` stops it and closes every
socket, so nothing outlives the ``with`` block. (tests/fuzz.py has its own single-threaded variant,
because it forks.)"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading
import time
from typing import Callable, Dict, List, Optional, Tuple

from support import protocol as w

Policy = Callable[[int, List[bytes], int], Optional[Tuple[bytes, bool]]]


class FakeServer:
    def __init__(self, policy: Optional[Policy] = None, dribble: float = 0.0, piece: int = 1,
                 rst: bool = False) -> None:
        self.policy = policy
        self.rst = rst  # a policy's close is an RST (SO_LINGER 0) right after its reply, not a FIN
        self.dribble = dribble  # > 0: send replies in pieces of ``piece`` bytes, this many seconds apart
        self.piece = piece
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self.connections = 0  # accepted so far
        self.connect_times: List[float] = []  # time.monotonic() of each accept
        self.requests: List[Tuple[int, int]] = []  # (connection index, command)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ, None)
        self._readers: Dict[socket.socket, Tuple[int, w.RequestReader]] = {}
        self._thread = threading.Thread(target=self._loop, name=f"FakeServer:{self.port}", daemon=True)
        self._thread.start()

    @property
    def servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _loop(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._selector.select(0.05):
                if key.data is None:
                    self._accept()
                else:
                    self._serve(key.fileobj)  # type: ignore[arg-type]

    def _accept(self) -> None:
        try:
            sock, _addr = self._listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        sock.setblocking(False)
        with self._lock:
            index = self.connections
            self.connections += 1
            self.connect_times.append(time.monotonic())
        self._readers[sock] = (index, w.RequestReader())
        self._selector.register(sock, selectors.EVENT_READ, index)

    def _drop(self, sock: socket.socket, rst: bool = False) -> None:
        self._selector.unregister(sock)
        self._readers.pop(sock, None)
        with contextlib.suppress(OSError):
            if rst:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    def _serve(self, sock: socket.socket) -> None:
        try:
            data = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(sock)
            return
        index, reader = self._readers[sock]
        out = b""
        close = False
        for command, args in reader.feed(data):
            with self._lock:
                self.requests.append((index, command))
            decision = self.policy(command, args, index) if self.policy else None
            if decision is not None:
                reply, close = decision
                out += reply
                if close:
                    break
            else:
                out += w.default_answer(command, args)
        if out:
            try:
                sock.setblocking(True)
                sock.settimeout(2.0)
                if self.dribble > 0:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    for i in range(0, len(out), self.piece):
                        sock.sendall(out[i:i + self.piece])
                        time.sleep(self.dribble)
                else:
                    sock.sendall(out)
                sock.setblocking(False)
            except OSError:
                close = True
        if close:
            self._drop(sock, rst=self.rst)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5.0)
        for sock in list(self._readers):
            self._drop(sock)
        self._selector.close()
        self._listener.close()

    def __enter__(self) -> FakeServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def reply_to(commands: frozenset[int], reply: bytes, close: bool = True) -> Policy:
    """A policy: answer the first request of ``commands`` on every connection with ``reply``."""

    def policy(command: int, args: List[bytes], index: int) -> Optional[Tuple[bytes, bool]]:
        if command in commands:
            return reply, close
        return None

    return policy
