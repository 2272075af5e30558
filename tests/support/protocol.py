"""Gearman's binary protocol on a plain socket: a raw client (``RawClient``, ``do``) that shows the
tests every packet a worker sends (WORK_DATA, WORK_STATUS, WORK_WARNING, WORK_EXCEPTION...), and a raw
worker (``RawWorker``: SET_CLIENT_ID, CAN_DO, GRAB_JOB) that tests drive step by step. Both talk to a
real gearmand like any other client or worker. The server side, for fake servers (fake_server.py,
fuzz.py): ``packet``/``raw_header`` build replies, ``RequestReader`` splits requests,
``default_answer`` answers like a gearmand without workers."""

from __future__ import annotations

import socket
import struct
from typing import List, Optional, Sequence, Tuple

from gearman_xs.testing import Gearmand

# Packet types (gearmand's protocol.txt; libgearman-1.0/protocol.h).
CAN_DO = 1
CANT_DO = 2
RESET_ABILITIES = 3
PRE_SLEEP = 4
NOOP = 6
SUBMIT_JOB = 7
JOB_CREATED = 8
GRAB_JOB = 9
NO_JOB = 10
JOB_ASSIGN = 11
WORK_STATUS = 12
WORK_COMPLETE = 13
WORK_FAIL = 14
GET_STATUS = 15
ECHO_REQ = 16
ECHO_RES = 17
SUBMIT_JOB_BG = 18
ERROR = 19
STATUS_RES = 20
SUBMIT_JOB_HIGH = 21
SET_CLIENT_ID = 22
CAN_DO_TIMEOUT = 23
ALL_YOURS = 24
WORK_EXCEPTION = 25
OPTION_REQ = 26
OPTION_RES = 27
WORK_DATA = 28
WORK_WARNING = 29
GRAB_JOB_UNIQ = 30
JOB_ASSIGN_UNIQ = 31
SUBMIT_JOB_HIGH_BG = 32
SUBMIT_JOB_LOW = 33
SUBMIT_JOB_LOW_BG = 34
SUBMIT_JOB_SCHED = 35
SUBMIT_JOB_EPOCH = 36
SUBMIT_REDUCE_JOB = 37
SUBMIT_REDUCE_JOB_BACKGROUND = 38
GRAB_JOB_ALL = 39
JOB_ASSIGN_ALL = 40
GET_STATUS_UNIQUE = 41
STATUS_RES_UNIQUE = 42
COMMAND_MAX = 43  # GEARMAN_COMMAND_MAX: every valid number is below it

SUBMITS = frozenset({SUBMIT_JOB, SUBMIT_JOB_BG, SUBMIT_JOB_HIGH, SUBMIT_JOB_HIGH_BG, SUBMIT_JOB_LOW,
                     SUBMIT_JOB_LOW_BG, SUBMIT_JOB_SCHED, SUBMIT_JOB_EPOCH, SUBMIT_REDUCE_JOB,
                     SUBMIT_REDUCE_JOB_BACKGROUND})
GRABS = frozenset({GRAB_JOB, GRAB_JOB_UNIQ, GRAB_JOB_ALL})
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


class RawWorker:
    """A worker connection driven step by step; ``sync()`` waits until gearmand processed
    everything sent before (ECHO round trip on the same connection)."""

    def __init__(
        self, server: Gearmand, client_id: Optional[str] = None, functions: Sequence[str] = ()
    ) -> None:
        self.sock = socket.create_connection((server.host, server.port), timeout=10)
        self.buffer = b""
        if client_id is not None:
            self.send(SET_CLIENT_ID, client_id.encode())
        for function in functions:
            self.send(CAN_DO, function.encode())
        self.sync()

    def send(self, kind: int, *args: bytes) -> None:
        data = b"\0".join(args)
        self.sock.sendall(b"\0REQ" + struct.pack(">II", kind, len(data)) + data)

    def recv(self) -> Tuple[int, List[bytes]]:
        while True:
            if len(self.buffer) >= 12:
                kind, size = struct.unpack(">II", self.buffer[4:12])
                if len(self.buffer) >= 12 + size:
                    data = self.buffer[12 : 12 + size]
                    self.buffer = self.buffer[12 + size :]
                    return kind, data.split(b"\0")
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("gearmand closed the worker connection")
            self.buffer += chunk

    def sync(self) -> None:
        self.send(ECHO_REQ, b"sync")
        while True:
            kind, _ = self.recv()
            if kind == ECHO_RES:
                return

    def grab(self) -> List[bytes]:
        """GRAB_JOB; returns [handle, function, workload] of the assigned job."""
        self.send(GRAB_JOB)
        while True:
            kind, args = self.recv()
            if kind == JOB_ASSIGN:
                return args
            if kind == NO_JOB:
                raise AssertionError("no job to grab")

    def complete(self, handle: bytes, result: bytes = b"") -> None:
        self.send(WORK_COMPLETE, handle, result)
        self.sync()

    def close(self) -> None:
        self.sock.close()


# -- the server side: replies and requests, for fake servers ---------------------------------------

HEADER = struct.Struct(">4sII")
REQ = b"\0REQ"
RES = b"\0RES"


def packet(command: int, *args: bytes, magic: bytes = RES) -> bytes:
    """One packet: ``args`` joined by NUL bytes (the last one is not terminated)."""
    body = b"\0".join(args)
    return HEADER.pack(magic, command, len(body)) + body


def raw_header(command: int, size: int, magic: bytes = RES) -> bytes:
    """A 12-byte header with any command and size (both taken modulo 2**32)."""
    return HEADER.pack(magic, command & 0xFFFFFFFF, size & 0xFFFFFFFF)


class RequestReader:
    """Splits what a client or worker sends into ``(command, args)`` requests. Text (admin) lines
    come out as ``(-1, [line])``; bytes that are neither stop the reader (``broken``)."""

    def __init__(self) -> None:
        self.buffer = b""
        self.broken = False

    def feed(self, data: bytes) -> List[Tuple[int, List[bytes]]]:
        self.buffer += data
        out: List[Tuple[int, List[bytes]]] = []
        while not self.broken:
            item = self._next()
            if item is None:
                break
            out.append(item)
        return out

    def _next(self) -> Optional[Tuple[int, List[bytes]]]:
        buf = self.buffer
        if not buf:
            return None
        if buf[:1] != b"\0":
            end = buf.find(b"\n")
            if end < 0:
                return None
            self.buffer = buf[end + 1:]
            return -1, [buf[:end].rstrip(b"\r")]
        if len(buf) < HEADER.size:
            return None
        magic, command, size = HEADER.unpack_from(buf)
        if magic != REQ:
            self.broken = True
            return None
        if len(buf) < HEADER.size + size:
            return None
        body = buf[HEADER.size:HEADER.size + size]
        self.buffer = buf[HEADER.size + size:]
        return command, body.split(b"\0")


def default_answer(command: int, args: List[bytes], handle: bytes = b"H:fake:1") -> bytes:
    """What a well-behaved gearmand with no workers would answer (b"" for nothing)."""
    if command == OPTION_REQ:
        return packet(OPTION_RES, args[0] if args else b"")
    if command == ECHO_REQ:
        return packet(ECHO_RES, b"\0".join(args))
    if command in GRABS:
        return packet(NO_JOB)
    if command in SUBMITS:
        return packet(JOB_CREATED, handle)
    if command == GET_STATUS:
        return packet(STATUS_RES, args[0] if args else b"", b"0", b"0", b"0", b"0")
    return b""
