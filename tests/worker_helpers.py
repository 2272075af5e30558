"""Client side for the Worker/Job tests: a Gearman protocol client on a plain socket (so tests see
every packet a worker sends: WORK_DATA, WORK_STATUS, WORK_WARNING, WORK_EXCEPTION...) and a worker
thread helper. Talks to a real gearmand."""

from __future__ import annotations

import socket
import struct
import threading
from typing import Any, List, Optional, Tuple

from gearman_xs.worker import Worker

SUBMIT_JOB = 7
JOB_CREATED = 8
WORK_STATUS = 12
WORK_COMPLETE = 13
WORK_FAIL = 14
SUBMIT_JOB_BG = 18
ERROR = 19
WORK_EXCEPTION = 25
OPTION_REQ = 26
OPTION_RES = 27
WORK_DATA = 28
WORK_WARNING = 29

TERMINAL = (WORK_COMPLETE, WORK_FAIL, WORK_EXCEPTION)


class RawClient:
    """One client connection speaking the binary protocol."""

    def __init__(self, port: int, timeout: float = 15.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, ptype: int, payload: bytes) -> None:
        self.sock.sendall(b"\0REQ" + struct.pack(">II", ptype, len(payload)) + payload)

    def recv(self) -> Tuple[int, bytes]:
        while len(self.buf) < 12:
            self._fill()
        magic, ptype, size = self.buf[:4], *struct.unpack(">II", self.buf[4:12])
        assert magic == b"\0RES", magic
        while len(self.buf) < 12 + size:
            self._fill()
        payload = self.buf[12 : 12 + size]
        self.buf = self.buf[12 + size :]
        return ptype, payload

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("gearmand closed the connection")
        self.buf += chunk

    def option(self, name: bytes) -> None:
        self.send(OPTION_REQ, name)
        ptype, _ = self.recv()
        assert ptype == OPTION_RES, ptype

    def submit(self, function: bytes, data: bytes, unique: bytes = b"", background: bool = False) -> str:
        self.send(SUBMIT_JOB_BG if background else SUBMIT_JOB, function + b"\0" + unique + b"\0" + data)
        ptype, payload = self.recv()
        assert ptype == JOB_CREATED, (ptype, payload)
        return payload.decode()

    def result(self) -> Tuple[int, bytes, List[Tuple[int, bytes]]]:
        """(terminal packet type, its data, the packets before it) for the submitted job."""
        seen: List[Tuple[int, bytes]] = []
        while True:
            ptype, payload = self.recv()
            _, _, data = payload.partition(b"\0")
            if ptype in TERMINAL:
                return ptype, data, seen
            seen.append((ptype, data))

    def do(self, function: bytes, data: bytes, unique: bytes = b"") -> Tuple[int, bytes]:
        self.submit(function, data, unique)
        ptype, data, _ = self.result()
        return ptype, data


def do(port: int, function: bytes, data: bytes, unique: bytes = b"") -> Tuple[int, bytes]:
    with RawClient(port) as c:
        return c.do(function, data, unique)


class WorkerThread:
    """Runs ``worker.run(handle_signals=False)`` in a thread; stops and joins it on exit."""

    def __init__(self, worker: Worker, count: Optional[int] = None) -> None:
        self.worker = worker
        self.done: Optional[int] = None
        self.error: Optional[BaseException] = None
        self.thread = threading.Thread(target=self._main, args=(count,), daemon=True)

    def _main(self, count: Optional[int]) -> None:
        try:
            self.done = self.worker.run(count, handle_signals=False)
        except BaseException as exc:  # reported by join()
            self.error = exc

    def __enter__(self) -> WorkerThread:
        self.thread.start()
        return self

    def join(self, timeout: float = 10.0) -> Any:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "worker thread did not stop"
        if self.error is not None:
            raise self.error
        return self.done

    def __exit__(self, *exc: object) -> None:
        self.worker.stop()
        self.thread.join(10.0)
