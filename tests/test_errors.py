"""strerror and the exception hierarchy, raised from real libgearman failures."""

from __future__ import annotations

import shutil
import subprocess
from typing import Iterator

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
