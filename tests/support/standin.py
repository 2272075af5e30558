"""A stand-in server's scaffolding: a listener on 127.0.0.1 and a thread that accepts connections.

``StandInServer`` owns the listener, the accept loop (bounded waits of ``accept_timeout`` s, so
``close()`` ends it within that) and closing; a subclass says what happens to each connection in
``handle(conn)`` (close it at once, hold it and read, ...). Nothing outlives ``close()``: the accept
thread is joined, then ``closed()`` lets the subclass end what it started.

    class Closing(StandInServer):
        def handle(self, conn): conn.close()
"""

from __future__ import annotations

import socket
import threading


class StandInServer:
    """Listens on a free 127.0.0.1 port (``servers``: ``"127.0.0.1:PORT"``) and hands every accepted
    connection to ``handle()`` from its accept thread; ``stop`` is set by ``close()``."""

    def __init__(self, backlog: int = 16, accept_timeout: float = 0.1) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(backlog)
        self.listener.settimeout(accept_timeout)
        self.servers = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    def handle(self, conn: socket.socket) -> None:
        """What happens to an accepted connection (in the accept thread: hand long work to a thread)."""
        raise NotImplementedError

    def _accept_loop(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.handle(conn)

    def closed(self) -> None:
        """After the accept thread ended and the listener closed: end what ``handle()`` started."""

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.listener.close()
        self.closed()
