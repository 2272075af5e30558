"""A fault-injecting TCP proxy on 127.0.0.1 for tests: clients connect to ``proxy.port``, the proxy
connects each one to the target (a real gearmand) and forwards both ways, unless told otherwise:

* ``reset()``: every open connection stops forwarding at once and is closed with an RST
  (SO_LINGER 0), both sides, before ``reset()`` returns; new connections are forwarded again;
* ``blackhole(True)``: connections stay open (and new ones are accepted) but nothing is forwarded
  any more, in either direction, until ``blackhole(False)`` (what was held back is then dropped);
* ``latency(seconds)``: each chunk is forwarded that much later (both directions).

One thread per direction per connection; ``close()`` stops and joins them all and closes every
socket, so nothing outlives the ``with`` block. Loopback only.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
import time
from typing import Dict, List, Optional, Set, Tuple


class FaultProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self.port: int = self._listener.getsockname()[1]
        self.connections = 0
        self._delay = 0.0
        self._blackhole = False
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pairs: List[Tuple[socket.socket, socket.socket]] = []
        self._dead: Set[socket.socket] = set()  # reset: their pumps stop, then they are closed
        self._pumps: Dict[socket.socket, threading.Thread] = {}  # source socket -> its pump
        self._threads: List[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept_loop, name=f"FaultProxy:{self.port}",
                                          daemon=True)
        self._acceptor.start()

    @property
    def servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    # -- faults ------------------------------------------------------------------------------------

    def latency(self, seconds: float) -> None:
        self._delay = max(0.0, seconds)

    def blackhole(self, on: bool = True) -> None:
        self._blackhole = on

    def reset(self) -> int:
        """RSTs every open connection (both sides); returns how many were open. Nothing more is
        forwarded on them from the call on, and the RSTs are out when it returns: a socket is
        closed only once its pump threads stopped selecting on it (a socket another thread holds
        in select() would send its RST only when that select() returns)."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
            for a, b in pairs:
                self._dead.update((a, b))
            pumps = [self._pumps.pop(s) for a, b in pairs for s in (a, b) if s in self._pumps]
        for t in pumps:
            t.join(5)
        for a, b in pairs:
            for s in (a, b):
                _rst(s)
        return len(pairs)

    # -- plumbing ----------------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._listener], [], [], 0.05)
            if not ready:
                continue
            try:
                client, _addr = self._listener.accept()
            except OSError:
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _rst(client)
                continue
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self.connections += 1
                self._pairs.append((client, upstream))
                for src, dst in ((client, upstream), (upstream, client)):
                    t = threading.Thread(target=self._pump, args=(src, dst), daemon=True)
                    self._threads.append(t)
                    self._pumps[src] = t
                    t.start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([src], [], [], 0.05)
            except (OSError, ValueError):
                return
            if src in self._dead:
                return  # reset: reset() closes both sockets once this thread is gone
            if not ready:
                continue
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                _shutdown(dst)
                return
            if self._blackhole:
                continue  # swallowed: the peer never sees it
            if self._delay:
                time.sleep(self._delay)
            try:
                dst.sendall(data)
            except OSError:
                _shutdown(src)
                return

    def close(self) -> None:
        self._stop.set()
        self._acceptor.join(5)
        for t in self._threads:
            t.join(5)
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for a, b in pairs:
            a.close()
            b.close()
        self._listener.close()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _rst(s: socket.socket) -> None:
    with contextlib.suppress(OSError):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def _shutdown(s: Optional[socket.socket]) -> None:
    if s is None:
        return
    with contextlib.suppress(OSError):
        s.shutdown(socket.SHUT_WR)
