"""Admin against a fake server on loopback that sends malformed, truncated, error or no replies."""

from __future__ import annotations

import socket
import threading
import time
from typing import Callable, Iterator, List, Optional

import pytest
from support.timing import Stopwatch

from gearman_xs import GearmanConnectionError, GearmanError, GearmanTimeout
from gearman_xs.admin import MAX_LINE, Admin, AdminError, AdminProtocolError

#: A script for one connection: gets the socket after the first command line was read.
Script = Callable[[socket.socket, bytes], None]


class FakeServer:
    """Accepts connections on 127.0.0.1 and runs ``scripts[i]`` for the i-th connection
    (the last script for any further ones). Records every command received."""

    def __init__(self, scripts: List[Script]) -> None:
        self.scripts = scripts
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.commands: List[bytes] = []
        self.connections = 0
        self.stopping = False
        self.open: List[socket.socket] = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while not self.stopping:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.open.append(conn)
            script = self.scripts[min(self.connections, len(self.scripts) - 1)]
            self.connections += 1
            threading.Thread(target=self.run, args=(conn, script), daemon=True).start()

    def run(self, conn: socket.socket, script: Script) -> None:
        try:
            line = read_line(conn)
            if line is not None:
                self.commands.append(line)
                script(conn, line)
        except OSError:
            pass

    def close(self) -> None:
        self.stopping = True
        self.listener.close()
        for conn in self.open:
            conn.close()


def read_line(conn: socket.socket) -> Optional[bytes]:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(1)
        if not chunk:
            return None
        data += chunk
    return data


def reply(*chunks: bytes, then: str = "hold") -> Script:
    """Sends ``chunks``; then holds the connection open (``hold``), closes it (``close``) or
    keeps answering further commands with the same chunks (``serve``)."""

    def script(conn: socket.socket, line: bytes) -> None:
        while True:
            for chunk in chunks:
                conn.sendall(chunk)
            if then == "close":
                conn.close()
                return
            if then == "hold":
                while conn.recv(4096):
                    pass
                return
            if read_line(conn) is None:
                return

    return script


@pytest.fixture
def fake() -> Iterator[Callable[..., FakeServer]]:
    servers: List[FakeServer] = []

    def make(*scripts: Script) -> FakeServer:
        server = FakeServer(list(scripts))
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def admin_for(server: FakeServer, timeout: float = 1.0) -> Admin:
    return Admin("127.0.0.1", server.port, timeout=timeout)


@pytest.mark.parametrize(
    "method, payload",
    [
        ("status", b"garbage\n.\n"),
        ("status", b"fn\t1\t2\n.\n"),
        ("status", b"fn\tx\t0\t0\n.\n"),
        ("status", b"fn\t1\t0\t0\r\n.\n"),
        ("status", b"\t1\t0\t0\n.\n"),
        ("priority_status", b"fn\t1\t2\t3\n.\n"),
        ("workers", b"hello world\n.\n"),
        ("workers", b"x 127.0.0.1 - :\n.\n"),
        ("show_jobs", b"H:x:1\t0\t2\t1\n.\n"),
        ("show_jobs", b"H:x:1\t0\t0\n.\n"),
        ("version", b"1.1.20\n"),
        ("version", b"OK\r\n"),
        ("version", b"OK 1.1.20\r\n"),
        ("getpid", b"OK abc\n"),
        ("create_function", b"OK done\n"),
        ("create_function", b"YES\r\n"),
    ],
)
def test_malformed_replies_raise(fake: Callable[..., FakeServer], method: str, payload: bytes) -> None:
    server = fake(reply(payload, then="serve"))
    with admin_for(server) as admin:
        args = ("fn",) if method == "create_function" else ()
        with pytest.raises(AdminProtocolError) as info:
            getattr(admin, method)(*args)
        assert info.value.reply and str(server.port) in str(info.value)
        assert not admin.connected  # a connection out of step is dropped


def test_good_fake_replies_parse(fake: Callable[..., FakeServer]) -> None:
    server = fake(reply(b"a b\tc\t3\t1\t2\n.\n", then="serve"))
    with admin_for(server) as admin:
        (row,) = admin.status()
        assert row == ("a b\tc", 3, 1, 2)  # tabs and spaces in names: the numbers are counted from the right


@pytest.mark.parametrize(
    "payload, code, message",
    [
        (b"ERR UNKNOWN_JOB\r\n", "UNKNOWN_JOB", "UNKNOWN_JOB"),
        (b"ERR QUEUE_ERROR Job+queue+is+full\r\n", "QUEUE_ERROR", "Job queue is full"),
        (b"ERR there are still connected workers\r\n", None, "there are still connected workers"),
        (b"ERR\r\n", None, "error"),
    ],
)
def test_err_replies(
    fake: Callable[..., FakeServer], payload: bytes, code: Optional[str], message: str
) -> None:
    server = fake(reply(payload, then="serve"))
    with admin_for(server) as admin:
        for call in (admin.status, admin.version, lambda: admin.cancel_job("H:1")):
            with pytest.raises(AdminError) as info:
                call()
            assert (info.value.server_code, info.value.message) == (code, message)
        assert admin.connected  # a complete ERR reply keeps the connection
        assert server.connections == 1


@pytest.mark.parametrize(
    "payload",
    [b"", b"fn\t1\t0\t0\n", b"fn\t1\t0", b"OK 1.1", b"fn\t1\t0\t0\n.", b"OK"],
)
def test_truncated_reply_then_close(fake: Callable[..., FakeServer], payload: bytes) -> None:
    server = fake(reply(payload, then="close"))
    with admin_for(server) as admin:
        method = admin.version if payload.startswith(b"OK") else admin.status
        with pytest.raises(GearmanConnectionError) as info:
            method()
        assert info.value.name == "GEARMAN_LOST_CONNECTION"
        assert not admin.connected
    if not payload:  # nothing arrived: a read-only command is retried once on a new connection
        assert server.connections == 2


def test_mutating_command_is_not_retried(fake: Callable[..., FakeServer]) -> None:
    server = fake(reply(b"", then="close"))
    with admin_for(server) as admin, pytest.raises(GearmanConnectionError):
        admin.cancel_job("H:x:1")
    assert server.connections == 1


@pytest.mark.parametrize("payload", [b"", b"fn\t1\t0\t0\n", b"fn\t1\t0\t0", b"OK 1.1"])
def test_silent_or_unterminated_reply_times_out(fake: Callable[..., FakeServer], payload: bytes) -> None:
    server = fake(reply(payload, then="hold"))
    with admin_for(server, timeout=0.5) as admin:
        method = admin.version if payload.startswith(b"OK") else admin.status
        with Stopwatch() as sw, pytest.raises(GearmanTimeout) as info:
            method()
        sw.assert_between(0.4, 1.5)  # the upper bound stretches by the machine's measured delay
        assert info.value.name == "GEARMAN_TIMEOUT" and isinstance(info.value, TimeoutError)


def test_trickling_server_times_out(fake: Callable[..., FakeServer]) -> None:
    def trickle(conn: socket.socket, line: bytes) -> None:
        for _ in range(100):
            conn.sendall(b"fn\t1\t0\t0\n")
            time.sleep(0.05)

    server = fake(trickle)
    with admin_for(server, timeout=0.5) as admin:
        with Stopwatch() as sw, pytest.raises(GearmanTimeout):
            admin.status()
        sw.assert_between(0.4, 1.5)  # the timeout bounds the whole reply


def test_endless_line_is_refused(fake: Callable[..., FakeServer]) -> None:
    server = fake(reply(b"x" * (MAX_LINE + 70000), then="hold"))
    with admin_for(server, timeout=5) as admin, pytest.raises(AdminProtocolError):
        admin.status()


def test_extra_data_after_a_reply_forces_a_new_connection(fake: Callable[..., FakeServer]) -> None:
    server = fake(reply(b"OK 1.0\nleftover\n", then="serve"))
    with admin_for(server) as admin:
        assert admin.version() == "1.0"
        time.sleep(0.05)
        assert admin.version() == "1.0"  # not "leftover": the stale connection was replaced
        assert server.connections == 2


def test_protocol_error_then_recovery(fake: Callable[..., FakeServer]) -> None:
    server = fake(reply(b"nonsense\n.\n", then="serve"), reply(b"fn\t1\t0\t0\n.\n", then="serve"))
    with admin_for(server) as admin:
        with pytest.raises(AdminProtocolError):
            admin.status()
        assert admin.status() == [("fn", 1, 0, 0)]
        assert server.commands == [b"status\r\n", b"status\r\n"]


def test_commands_end_with_crlf(fake: Callable[..., FakeServer]) -> None:
    server = fake(reply(b"OK\r\n", then="serve"))
    with admin_for(server) as admin:
        admin.create_function("abc")
    assert server.commands == [b"create function abc\r\n"]


def test_every_failure_is_a_gearman_error(fake: Callable[..., FakeServer]) -> None:
    server = fake(reply(b"\xff\xfe\n.\n", then="serve"))
    with admin_for(server) as admin, pytest.raises(GearmanError):
        admin.workers()
