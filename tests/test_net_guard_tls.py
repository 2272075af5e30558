"""The packet guard on TLS connections: libgearman reads them with ``SSL_read()``, not ``recv()``,
and gearman_xs routes those reads through the same checks (tls_verify.c into net_guard.c).

Each malformed reply comes from a fake server speaking TLS (support.tls.TlsFakeServer) to a Client
or Worker in a child process (a crash must not take pytest down), and must end as it does on plain
TCP (tests/test_net_guard.py): a GearmanError naming what came, never a crash or a hang.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import time
from typing import Dict

import pytest
from support import protocol as w
from support.tls import Pki, TlsFakeServer, make_pki, needs_client_tls, needs_tls, openssl_available

pytestmark = [
    pytest.mark.skipif(not openssl_available(), reason="needs the openssl command"),
    needs_client_tls,  # the Worker's cases need gearman_worker_set_ssl (2.0.0) too: needs_tls
]

LIMIT = 15.0  # a child alive after this long is a hang
TOP_BIT_COMMAND = b"\0RES" + (0xFFFFFFFF).to_bytes(4, "big") + b"\0\0\0\0"

TRIGGERS = {
    "do": w.SUBMITS, "do_background": w.SUBMITS, "add_task_run": w.SUBMITS,
    "client_echo": frozenset({w.ECHO_REQ}), "job_status": frozenset({w.GET_STATUS}),
    "work": w.GRABS, "grab_job": w.GRABS,
}

CHILD = r"""
import sys
from gearman_xs import Client, GearmanError, Worker, net_guard
op, servers, ca, cert, key = sys.argv[1:6]
ran = []
try:
    if op in ("work", "grab_job"):
        with Worker() as wk:
            wk.set_ssl(ca, cert, key)
            wk.add_servers(servers)
            wk.set_timeout(500)
            if op == "work":
                wk.add_function("f", 0, lambda job: ran.append(job.workload()) or b"r")
                wk.work()
            else:
                wk.register("f")
                job = wk.grab_job()
                if job is not None:
                    job.send_complete(b"r")
    else:
        with Client() as c:
            c.set_ssl(ca, cert, key)
            c.add_servers(servers)
            c.set_timeout(2000)
            if op == "do":
                c.do("f", b"x")
            elif op == "do_background":
                print("handle", c.do_background("f", b"x"))
            elif op == "add_task_run":
                c.add_task("f", b"x")
                c.run_tasks()
            elif op == "client_echo":
                c.echo(b"ping")
            elif op == "job_status":
                c.job_status("H:fake:1")
    print("ok")
except GearmanError as exc:
    print(f"{type(exc).__name__}:{exc.name}")
    print("message", exc)
print("counters", net_guard.counters())
print("ran", ran)
"""


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(str(tmp_path_factory.mktemp("pki")))


def run_case(pki: Pki, op: str, reply: bytes, close: bool = True, dribble: float = 0.0,
             piece: int = 1) -> str:
    """Runs ``op`` in a child against a TLS fake server that answers with ``reply``; returns what the
    child printed (its first line: ``ok`` or the GearmanError's ``Class:CODE``)."""
    with TlsFakeServer(pki, TRIGGERS[op], reply, close=close, dribble=dribble, piece=piece) as server:
        start = time.monotonic()
        try:
            done = subprocess.run(
                [sys.executable, "-c", CHILD, op, server.servers, pki.ca, pki.client_cert,
                 pki.client_key], capture_output=True, text=True, timeout=LIMIT,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"{op}: hang (no answer in {LIMIT} s)")
        assert time.monotonic() - start < LIMIT
        assert server.triggered >= 1  # the reply was sent over TLS
    assert done.returncode == 0, f"{op}: exit {done.returncode} (a crash?)\n{done.stderr[-2000:]}"
    return done.stdout


# (name, reply, the GearmanError expected or None for any, the guard's counter that names it)
def counters(out: str) -> Dict[str, int]:
    """The child's net_guard.counters()."""
    line = out.split("counters ", 1)[1].split("\n", 1)[0]
    return ast.literal_eval(line)  # type: ignore[no-any-return]


CRASHERS = [
    ("command 0xFFFFFFFF", TOP_BIT_COMMAND, "GearmanError:GEARMAN_INVALID_COMMAND", "command"),
    ("command 0x80000000", b"\0RES" + (0x80000000).to_bytes(4, "big") + b"\0\0\0\0",
     "GearmanError:GEARMAN_INVALID_COMMAND", "command"),
    ("text line without a space", b"hello\n", "GearmanError:GEARMAN_INVALID_MAGIC", "text"),
    ("top-bit command after a good packet", w.packet(w.NOOP) + TOP_BIT_COMMAND, None, "command"),
]


WORK = pytest.param("work", marks=needs_tls)
GRAB_JOB = pytest.param("grab_job", marks=needs_tls)


@pytest.mark.parametrize("op", ["do_background", "add_task_run", WORK, GRAB_JOB])
@pytest.mark.parametrize(("name", "reply", "expected", "counter"), CRASHERS,
                         ids=[c[0] for c in CRASHERS])
def test_reply_that_crashed_libgearman_raises_over_tls(pki: Pki, op: str, name: str, reply: bytes,
                                                       expected: str, counter: str) -> None:
    out = run_case(pki, op, reply)
    kind = out.split("\n", 1)[0]
    assert kind.startswith("Gearman"), out
    if expected is not None:
        assert kind == expected, out
    assert counters(out)[counter] == 1, out  # the guard stopped it, not libgearman's own check


HALF_OPEN = [
    ("arguments past the size", w.raw_header(w.JOB_ASSIGN_ALL, 8) + b"H:fake:1"),
    ("half a STATUS_RES", w.raw_header(w.STATUS_RES, 0x3851FABE) + b"H:fake:1\0" + b"A" * 100),
    ("half a WORK_EXCEPTION", w.raw_header(w.WORK_EXCEPTION, 64) + b"\0" + b"A" * 20),
]


@pytest.mark.parametrize("op", ["job_status", "client_echo", WORK])
@pytest.mark.parametrize(("name", "reply"), HALF_OPEN, ids=[c[0] for c in HALF_OPEN])
def test_half_packets_left_open_over_tls(pki: Pki, op: str, name: str, reply: bytes) -> None:
    kind = run_case(pki, op, reply, close=False).split("\n", 1)[0]
    assert kind == "ok" or kind.startswith("Gearman"), kind


def test_header_split_across_tls_records_is_checked(pki: Pki) -> None:
    # One byte per TLS record: the guard holds the header back until it is whole.
    out = run_case(pki, "do_background", TOP_BIT_COMMAND, dribble=0.005)
    assert out.startswith("GearmanError:GEARMAN_INVALID_COMMAND"), out
    assert "0xffffffff" in out, out


@pytest.mark.parametrize(("handle", "words"), [(b"", "empty job handle"), (b"H" * 300, "300 bytes")],
                         ids=["empty", "300 bytes"])
def test_do_background_refuses_a_handle_libgearman_cannot_keep_over_tls(pki: Pki, handle: bytes,
                                                                       words: str) -> None:
    out = run_case(pki, "do_background", w.packet(w.JOB_CREATED, handle), close=False)
    assert out.startswith("Gearman"), out
    assert words in out, out


def test_good_replies_pass_over_tls(pki: Pki) -> None:
    # A well-formed JOB_CREATED after the "exceptions" OPTION_RES: both counted by the guard.
    handle = b"H:tls:12345"
    out = run_case(pki, "do_background", w.packet(w.JOB_CREATED, handle), close=False)
    assert out.startswith("handle H:tls:12345\nok"), out
    assert counters(out)["headers"] >= 2, out


@needs_tls
def test_worker_job_arriving_in_slow_tls_records_is_run(pki: Pki) -> None:
    # A JOB_ASSIGN_ALL in 8-byte TLS records 350 ms apart, more than the Worker's 200 ms poll
    # slice (tests/test_worker_slow_reply.py on plain TCP): the guard waits for it inside
    # SSL_read() and the job runs once.
    job = w.packet(w.JOB_ASSIGN_ALL, b"H:x:1", b"f", b"u", b"", b"payload")
    out = run_case(pki, "work", job, close=False, dribble=0.35, piece=8)
    assert out.startswith("ok\n"), out
    assert "ran [b'payload']" in out, out
