"""strerror and the exception hierarchy, raised from real libgearman failures."""

from __future__ import annotations

import errno
import multiprocessing
import os
import pickle
import shutil
import socket
import struct
import subprocess
import threading
import time
from typing import Iterator, List

import pytest
from gearman_xs._libgearman import ffi, lib

import gearman_xs
from gearman_xs import errors
from gearman_xs.constants import EXTRA_CONSTANTS, RETURN_CODES
from gearman_xs.testing import Gearmand, free_port


def test_strerror_names_every_code() -> None:
    names = [n for n in RETURN_CODES + EXTRA_CONSTANTS if n.startswith("GEARMAN_")]
    codes = {getattr(gearman_xs, n): n for n in names if n in RETURN_CODES or n in (
        "GEARMAN_INVALID_ARGUMENT", "GEARMAN_IN_PROGRESS", "GEARMAN_INVALID_SERVER_OPTION",
        "GEARMAN_JOB_NOT_FOUND")}
    assert sorted(codes) == list(range(gearman_xs.GEARMAN_MAX_RETURN + 1))
    for code, name in codes.items():
        assert gearman_xs.strerror(code) == name


def test_strerror_out_of_range_and_bad_type() -> None:
    assert gearman_xs.strerror(1000) == "GEARMAN_MAX_RETURN"
    assert gearman_xs.strerror(-1) == "GEARMAN_MAX_RETURN"
    with pytest.raises(TypeError):
        gearman_xs.strerror("GEARMAN_SUCCESS")  # type: ignore[arg-type]


@pytest.fixture
def client() -> Iterator[object]:
    c = lib.gearman_client_create(ffi.NULL)
    yield c
    lib.gearman_client_free(c)


def test_check_passes_success(client: object) -> None:
    errors.check(lib.GEARMAN_SUCCESS, client)


def test_no_servers(client: object) -> None:
    rc = lib.gearman_client_echo(client, b"x", 1)
    with pytest.raises(gearman_xs.GearmanConnectionError) as info:
        errors.check(rc, client)
    assert info.value.code == gearman_xs.GEARMAN_NO_SERVERS
    assert isinstance(info.value, ConnectionError)
    assert info.value.name == "GEARMAN_NO_SERVERS"


def test_could_not_connect_carries_libgearmans_message(client: object) -> None:
    port = free_port()
    assert lib.gearman_client_add_server(client, b"127.0.0.1", port) == 0
    rc = lib.gearman_client_echo(client, b"x", 1)
    with pytest.raises(gearman_xs.GearmanConnectionError) as info:
        errors.check(rc, client)
    assert info.value.code == gearman_xs.GEARMAN_COULD_NOT_CONNECT
    assert f"127.0.0.1:{port}" in info.value.message
    assert str(info.value).startswith("GEARMAN_COULD_NOT_CONNECT: ")


def test_getaddrinfo(client: object) -> None:
    rc = lib.gearman_client_add_server(client, b"no-such-host.invalid", 4730)
    with pytest.raises(gearman_xs.GearmanConnectionError) as info:
        errors.check(rc, client)
    assert info.value.code == gearman_xs.GEARMAN_GETADDRINFO


def test_timeout_is_a_builtin_timeout(client: object, shared_gearmand: Gearmand) -> None:
    lib.gearman_client_add_servers(client, shared_gearmand.servers.encode())
    lib.gearman_client_set_timeout(client, 50)
    rc = ffi.new("gearman_return_t *")
    size = ffi.new("size_t *")
    result = lib.gearman_client_do(client, b"nobody_serves_this", ffi.NULL, b"x", 1, size, rc)
    assert result == ffi.NULL
    with pytest.raises(gearman_xs.GearmanTimeout) as info:
        errors.check(rc[0], client)
    assert isinstance(info.value, TimeoutError)
    assert "timeout" in info.value.message


@pytest.mark.skipif(shutil.which("gearman") is None, reason="needs the gearman CLI (gearman-tools)")
def test_work_fail_from_a_failing_worker(client: object, shared_gearmand: Gearmand) -> None:
    worker = subprocess.Popen(
        ["gearman", "-w", "-c", "1", "-h", shared_gearmand.host, "-p", str(shared_gearmand.port),
         "-f", "errors_fail", "--", "false"],
    )
    try:
        lib.gearman_client_add_servers(client, shared_gearmand.servers.encode())
        lib.gearman_client_set_timeout(client, 10000)
        rc = ffi.new("gearman_return_t *")
        lib.gearman_client_do(client, b"errors_fail", ffi.NULL, b"x", 1, ffi.NULL, rc)
        with pytest.raises(gearman_xs.WorkFail) as info:
            errors.check(rc[0], client)
        assert info.value.code == gearman_xs.GEARMAN_WORK_FAIL
    finally:
        worker.wait(timeout=10)


def test_error_for_picks_the_class() -> None:
    cases = {
        gearman_xs.GEARMAN_TIMEOUT: gearman_xs.GearmanTimeout,
        gearman_xs.GEARMAN_COULD_NOT_CONNECT: gearman_xs.GearmanConnectionError,
        gearman_xs.GEARMAN_LOST_CONNECTION: gearman_xs.GearmanConnectionError,
        gearman_xs.GEARMAN_NO_SERVERS: gearman_xs.GearmanConnectionError,
        gearman_xs.GEARMAN_GETADDRINFO: gearman_xs.GearmanConnectionError,
        gearman_xs.GEARMAN_NOT_CONNECTED: gearman_xs.GearmanConnectionError,
        gearman_xs.GEARMAN_WORK_FAIL: gearman_xs.WorkFail,
        gearman_xs.GEARMAN_WORK_EXCEPTION: gearman_xs.WorkException,
        gearman_xs.GEARMAN_QUEUE_ERROR: gearman_xs.GearmanError,
    }
    for code, cls in cases.items():
        err = errors.error_for(code, "msg")
        assert type(err) is cls
        assert isinstance(err, gearman_xs.GearmanError)
        assert err.code == code and err.message == "msg"


def test_work_exception_carries_the_payload() -> None:
    err = errors.error_for(gearman_xs.GEARMAN_WORK_EXCEPTION, None, b"ValueError: boom")
    assert isinstance(err, gearman_xs.WorkException)
    assert err.exception == b"ValueError: boom"
    assert "ValueError: boom" in str(err)
    assert err.message == "GEARMAN_WORK_EXCEPTION"


# -- errno: a system errno or None, never a gearman code -------------------------------------------


def test_errno_is_none_when_there_is_no_system_error(client: object, shared_gearmand: Gearmand) -> None:
    port = free_port()
    assert lib.gearman_client_add_server(client, b"127.0.0.1", port) == 0
    rc = lib.gearman_client_echo(client, b"x", 1)
    with pytest.raises(gearman_xs.GearmanConnectionError) as info:
        errors.check(rc, client)
    err = info.value
    assert err.code == gearman_xs.GEARMAN_COULD_NOT_CONNECT == 26
    assert err.errno is None and err.strerror is None  # was 26 (reads as ETXTBSY)
    assert err.args == (26, err.message)
    timeout = errors.error_for(gearman_xs.GEARMAN_TIMEOUT, "t")
    assert timeout.errno is None and isinstance(timeout, OSError)
    assert errors.error_for(gearman_xs.GEARMAN_WORK_FAIL).errno is None


def test_a_reset_connection_carries_econnreset(client: object) -> None:
    # A server that answers one ECHO_REQ, then resets the connection (RST): the client's next
    # send fails with ECONNRESET, which libgearman records (flush(Connection reset by peer)).
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(10)
    answered = threading.Event()
    sent = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(10)
            data = b""
            while len(data) < 12 or len(data) < 12 + struct.unpack(">I", data[8:12])[0]:
                data += conn.recv(100)
            size = struct.unpack(">I", data[8:12])[0]
            conn.sendall(b"\0RES" + struct.pack(">II", 17, size) + data[12:12 + size])  # ECHO_RES
            answered.wait(10)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sent.set()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        lib.gearman_client_add_server(client, b"127.0.0.1", listener.getsockname()[1])
        lib.gearman_client_set_timeout(client, 5000)
        assert lib.gearman_client_echo(client, b"x", 1) == lib.GEARMAN_SUCCESS
        answered.set()
        assert sent.wait(10)
        time.sleep(0.05)  # the RST reaches the client's socket
        rc = lib.gearman_client_echo(client, b"x", 1)
        with pytest.raises(gearman_xs.GearmanConnectionError) as info:
            errors.check(rc, client)
    finally:
        answered.set()
        thread.join(10)
        listener.close()
    err = info.value
    assert err.code == gearman_xs.GEARMAN_LOST_CONNECTION
    assert err.errno == errno.ECONNRESET and err.strerror == os.strerror(errno.ECONNRESET)
    assert "(Connection reset by peer)" in err.message
    assert lib.gearman_client_errno(client) == errno.ECONNRESET
    # libgearman keeps that errno for later failures: a stale one is not taken
    stale = errors.error_from(lib.GEARMAN_COULD_NOT_CONNECT, client, "Connection to 127.0.0.1:1 failed")
    assert stale.errno is None


def test_admin_refused_carries_econnrefused() -> None:
    with gearman_xs.Admin("127.0.0.1", free_port(), timeout=2) as admin, \
            pytest.raises(gearman_xs.GearmanConnectionError) as info:
        admin.version()
    assert info.value.code == gearman_xs.GEARMAN_COULD_NOT_CONNECT
    assert info.value.errno == errno.ECONNREFUSED


# -- pickle and multiprocessing ----------------------------------------------------------------------


def every_exception() -> List[gearman_xs.GearmanError]:
    from gearman_xs.admin import AdminError, AdminGroupError, AdminProtocolError

    return [
        gearman_xs.GearmanError(gearman_xs.GEARMAN_QUEUE_ERROR, "queue"),
        gearman_xs.GearmanError(gearman_xs.GEARMAN_SUCCESS + 999),
        gearman_xs.GearmanTimeout(gearman_xs.GEARMAN_TIMEOUT, "no progress within 5 ms"),
        gearman_xs.GearmanConnectionError(gearman_xs.GEARMAN_LOST_CONNECTION, "reset", errno.ECONNRESET),
        gearman_xs.GearmanConnectionError(gearman_xs.GEARMAN_COULD_NOT_CONNECT, "refused"),
        gearman_xs.WorkFail(gearman_xs.GEARMAN_WORK_FAIL),
        gearman_xs.WorkException(gearman_xs.GEARMAN_WORK_EXCEPTION, None, b"ValueError: boom"),
        gearman_xs.ClosedError("Client"),
        gearman_xs.ConcurrentUseError("Worker"),
        AdminError("UNKNOWN_COMMAND", "Unknown command", "frob", "127.0.0.1:4730"),
        AdminProtocolError("bad reply", "garbage", "127.0.0.1:4730"),
        AdminGroupError({"a:1": gearman_xs.GearmanTimeout(gearman_xs.GEARMAN_TIMEOUT, "t")},
                        {"b:2": "OK"}),
    ]


def same(a: BaseException, b: BaseException) -> None:
    assert type(a) is type(b)
    assert a.args == b.args and str(a) == str(b) and repr(a) == repr(b)
    for name in ("code", "name", "message", "errno", "strerror", "exception", "server_code",
                 "command", "server", "reply"):
        assert getattr(a, name, None) == getattr(b, name, None), name
    if isinstance(a, gearman_xs.AdminGroupError):
        assert isinstance(b, gearman_xs.AdminGroupError)
        assert a.results == b.results and list(a.errors) == list(b.errors)
        for x, y in zip(a.errors.values(), b.errors.values()):
            same(x, y)


def test_every_exception_round_trips_through_pickle() -> None:
    for err in every_exception():
        for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
            back = pickle.loads(pickle.dumps(err, protocol))
            same(err, back)


def _raise_nth(n: int) -> None:
    raise every_exception()[n]


def test_every_exception_crosses_multiprocessing() -> None:
    ctx = multiprocessing.get_context("spawn")  # (fork: the test process has threads)
    expected = every_exception()
    with ctx.Pool(1) as pool:
        for n, err in enumerate(expected):
            with pytest.raises(type(err)) as info:
                pool.apply(_raise_nth, (n,))
            same(err, info.value)
