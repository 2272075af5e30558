"""Porting Gearman::XS programs (issue 17): literal ports, each Perl line in a comment and its Python
form below it, against a real gearmand. docs/porting.md is the guide these tests keep honest."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from support.peers import require_peer, run_peer_client
from support.polling import function_status, wait_until
from support.workers import WorkerThread

import gearman_xs
from gearman_xs import (
    GEARMAN_COULD_NOT_CONNECT,
    Client,
    GearmanConnectionError,
    Job,
    Task,
    Worker,
    WorkFail,
)
from gearman_xs import cli as gearman_cli
from gearman_xs._worker_call import takes_one_positional as _takes_one_positional
from gearman_xs.testing import Gearmand, free_port

P = "porting_"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TIMEOUT_MS = 15000  # no client call in this module waits longer


def _env() -> Dict[str, str]:
    """The environment for the example scripts: no GEARMAN_SERVERS, PYTHONPATH made absolute."""
    env = {k: v for k, v in os.environ.items() if k != "GEARMAN_SERVERS"}
    if env.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(p) for p in env["PYTHONPATH"].split(os.pathsep))
    return env


@pytest.fixture
def worker(shared_gearmand: Gearmand) -> Iterator[Worker]:
    # my $worker = new Gearman::XS::Worker;
    # $worker->add_server($host, $port);
    w = Worker()
    w.add_server("127.0.0.1", shared_gearmand.port)
    with w:
        yield w


@pytest.fixture
def client(shared_gearmand: Gearmand) -> Iterator[Client]:
    # my $client = new Gearman::XS::Client;
    # $client->add_server($host, $port);
    c = Client()
    c.add_server("127.0.0.1", shared_gearmand.port)
    c.set_timeout(TIMEOUT_MS)
    with c:
        yield c


# -- "Done when": a one-argument function registered with a context ----------------------------------


def test_done_when_length_of_hello_is_5(gearmand: Gearmand) -> None:
    # sub f { my $job = shift; return length($job->workload); }
    def f(job: Job) -> int:
        return len(job.workload())

    with Worker() as worker, Client() as client:
        worker.add_server("127.0.0.1", gearmand.port)
        client.add_server("127.0.0.1", gearmand.port)
        client.set_timeout(TIMEOUT_MS)
        # $worker->add_function("f", 0, \&f, 0);
        worker.add_function("f", 0, f, 0)
        with WorkerThread(worker):
            # my ($ret, $result) = $client->do("f", "hello");
            result = client.do("f", "hello")
        assert result == b"5"


def test_done_when_served_to_a_perl_client(gearmand: Gearmand) -> None:
    """The same worker, with a Perl client (Gearman::Client) sending "hello", gets the same bytes."""

    def f(job: Job) -> int:
        return len(job.workload())

    with Worker() as worker:
        worker.add_server("127.0.0.1", str(gearmand.port))
        worker.add_function("f", 0, f, 0)
        with WorkerThread(worker):
            run = run_peer_client("perl", gearmand, "do", "f", b"hello")
    assert run.value("complete") == b"5", run


# -- add_function's context ---------------------------------------------------------------------------


class _Counter:
    """A callable object and a bound method, as a port of a Perl object's method might be."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, job: Job) -> bytes:
        self.calls += 1
        return b"object:" + job.workload()

    def method(self, job: Job) -> bytes:
        self.calls += 1
        return b"method:" + job.workload()

    def method_with_context(self, job: Job, context: Any) -> bytes:
        return b"method+context:" + repr(context).encode()


def _prefixed(prefix: bytes, job: Job) -> bytes:
    return prefix + job.workload()


def test_context_is_passed_only_to_functions_that_take_it(worker: Worker, client: Client) -> None:
    counter = _Counter()

    # sub one { my $job = shift; ... }                  add_function("one", 0, \&one, {});
    def one(job: Job) -> bytes:
        return b"one:" + job.workload()

    # sub two { my ($job, $context) = @_; ... }         add_function("two", 0, \&two, "ctx");
    def two(job: Job, context: Any) -> bytes:
        return b"two:" + job.workload() + b":" + context

    # sub opt { my ($job, $context) = @_; ... }   (a Python default does not make it one-argument)
    def optional(job: Job, context: Any = None) -> bytes:
        return b"optional:" + repr(context).encode()

    def variadic(*args: Any) -> bytes:
        return b"variadic:%d" % len(args)

    def keyword_only(job: Job, *, flag: bool = True) -> bytes:
        return b"keyword_only:" + job.workload()

    functions = {
        "one": (one, {}),
        "lambda": (lambda job: b"lambda:" + job.workload(), 0),
        "two": (two, b"ctx"),
        "optional": (optional, 0),
        "variadic": (variadic, 0),
        "keyword_only": (keyword_only, {}),
        "object": (counter, 0),
        "method": (counter.method, {}),
        "method_context": (counter.method_with_context, {"k": 1}),
        "partial": (functools.partial(_prefixed, b"partial:"), 0),
        "builtin": (repr, 0),  # repr(job): a builtin that takes one positional argument
        "no_context": (two, None),  # no context given: fn(job), which a two-argument fn refuses
    }
    for name, (fn, context) in functions.items():
        worker.add_function(P + name, 0, fn, context)
    with WorkerThread(worker):
        assert client.do(P + "one", "x") == b"one:x"
        assert client.do(P + "lambda", "x") == b"lambda:x"
        assert client.do(P + "two", "x") == b"two:x:ctx"
        assert client.do(P + "optional", "x") == b"optional:0"
        assert client.do(P + "variadic", "x") == b"variadic:2"
        assert client.do(P + "keyword_only", "x") == b"keyword_only:x"
        assert client.do(P + "object", "x") == b"object:x"
        assert client.do(P + "method", "x") == b"method:x"
        assert client.do(P + "method_context", "x") == b"method+context:{'k': 1}"
        assert client.do(P + "partial", "x") == b"partial:x"
        assert client.do(P + "builtin", "x").startswith(b"<gearman_xs.Job")
        with pytest.raises(WorkFail):
            client.do(P + "no_context", "x")
    # add_function again: the rule is decided again for the new function
    worker.add_function(P + "one", 0, two, b"again")
    worker.add_function(P + "two", 0, one, b"again")
    with WorkerThread(worker):
        assert client.do(P + "one", "y") == b"two:y:again"
        assert client.do(P + "two", "y") == b"one:y"
    assert counter.calls == 2


def test_one_positional_rule_on_callables() -> None:
    def f(job: Job) -> None: ...

    def g(job: Job, context: Any) -> None: ...

    @functools.wraps(f)
    def decorated(*args: Any, **kwargs: Any) -> None: ...

    assert _takes_one_positional(f)
    assert _takes_one_positional(lambda job, *, x=1: None)
    assert _takes_one_positional(functools.partial(g, None))
    assert _takes_one_positional(_Counter())
    assert _takes_one_positional(_Counter().method)
    assert _takes_one_positional(decorated)  # judged by the function it wraps
    assert _takes_one_positional(repr)
    assert not _takes_one_positional(g)
    assert not _takes_one_positional(lambda job, context=None: None)
    assert not _takes_one_positional(lambda *args: None)
    assert not _takes_one_positional(lambda job, *rest: None)
    assert not _takes_one_positional(lambda: None)
    assert not _takes_one_positional(_Counter().method_with_context)


# -- numbers returned by a worker function ------------------------------------------------------------

# (Perl expression, the Python value a literal port returns); Perl prints each number as text.
NUMBERS = [
    ("3 + 4", 3 + 4),
    ("1", 1),
    ("-42", -42),
    ("1.5", 1.5),
    ("-2.5", -2.5),
    ("3.7 + 4.3", 3.7 + 4.3),
    ("0.1 + 0.2", 0.1 + 0.2),
    ("1 / 3", 1 / 3),
    ("2 ** 0.5", 2**0.5),
    ("1e15", 1e15),
    ("1e20", 1e20),
    ("1e-5", 1e-5),
    ("0.0001", 0.0001),
    ("100 / 4", 100 / 4),
    ("123456789.123456789", 123456789.123456789),
    ("2 ** 53", 2.0**53),
    ("18446744073709551615", 18446744073709551615),
    ("9 ** 9 ** 9", float("inf")),
    ("-9 ** 9 ** 9", float("-inf")),
    ("9 ** 9 ** 9 / 9 ** 9 ** 9", float("nan")),
    ("-1.0 * 0.0", -0.0),
]


def _perl_prints(expressions: List[str]) -> List[bytes]:
    require_peer("perl")
    script = "".join(f"print(({e}), qq(\\n));\n" for e in expressions)
    done = subprocess.run(["perl", "-e", script], capture_output=True, timeout=30, check=True)
    return done.stdout.split(b"\n")[:-1]


def test_numbers_are_sent_as_perl_prints_them(worker: Worker, client: Client) -> None:
    expected = _perl_prints([perl for perl, _ in NUMBERS])

    # sub number { my $job = shift; return <expression>; }
    def number(job: Job) -> Any:
        return NUMBERS[int(job.workload())][1]

    worker.add_function(P + "number", 0, number, 0)
    with WorkerThread(worker):
        got = [client.do(P + "number", str(i)) for i in range(len(NUMBERS))]
    assert dict(zip([perl for perl, _ in NUMBERS], got)) == dict(zip([perl for perl, _ in NUMBERS], expected))
    assert got[3] == b"1.5" and got[6] == b"0.3"


def test_other_types_still_fail_the_job(worker: Worker, client: Client, caplog: Any) -> None:
    results = {"bool": True, "dict": {}, "decimal": Decimal("1.5"), "list": [1], "huge": 10**5000}
    for name, value in results.items():
        worker.add_function(P + "type_" + name, 0, lambda job, v=value: v)
    worker.add_function(P + "type_int", 0, lambda job: 7)
    with caplog.at_level("ERROR", logger="gearman_xs"), WorkerThread(worker):
        for name in results:
            with pytest.raises(WorkFail):
                client.do(P + "type_" + name, "x")
        assert client.do(P + "type_int", "x") == b"7"  # the worker lives on
    for type_name in ("bool", "dict", "Decimal", "list"):
        assert f"returned {type_name};" in caplog.text
    if sys.version_info >= (3, 11):  # int -> str conversion is bounded (sys.set_int_max_str_digits)
        assert "Exceeds the limit" in caplog.text


# -- add_server with the port as a string -------------------------------------------------------------


def test_port_as_a_string_of_digits(shared_gearmand: Gearmand) -> None:
    port = str(shared_gearmand.port)
    with Worker() as worker, Client() as client:
        # $worker->add_server($host, '4730');   (the port read from a config file)
        worker.add_server("127.0.0.1", port)
        client.add_server("127.0.0.1", port)
        client.set_timeout(TIMEOUT_MS)
        worker.add_function(P + "port", 0, lambda job: job.workload()[::-1])
        with WorkerThread(worker):
            assert client.do(P + "port", "abc") == b"cba"
        client.add_server("127.0.0.1", "0")  # "0" is the default port, as 0 is


ARABIC_4730 = "\u0664\u0667\u0663\u0660"  # str.isdigit() and int() accept these digits


@pytest.mark.parametrize(
    "port", ["", "47x0", " 4730", "4730 ", "+4730", "-1", "4_730", ARABIC_4730, "0x12", "70000", 70000, -1]
)
def test_bad_port_strings_are_refused(port: Any) -> None:
    for cls in (Worker, Client):
        with cls() as connection, pytest.raises(ValueError, match="port must be"):
            connection.add_server("127.0.0.1", port)


@pytest.mark.parametrize("port", [4730.0, b"4730", True, None, [4730]])
def test_bad_port_types_are_refused(port: Any) -> None:
    for cls in (Worker, Client):
        with cls() as connection, pytest.raises(TypeError, match="port must be an int or a string of digits"):
            connection.add_server("127.0.0.1", port)


@pytest.mark.parametrize("port", ["4_730", "+4730", " 4730", ARABIC_4730])
def test_example_scripts_refuse_what_int_would_accept(port: str) -> None:
    path = str(EXAMPLES / "echo_client.py")
    argv = [sys.executable, path, "-p", port, "abc"]
    done = subprocess.run(argv, capture_output=True, env=_env(), timeout=30)
    assert done.returncode == 1
    assert "port must be a string of digits" in done.stderr.decode()
    assert "usage:" in done.stdout.decode()


def test_example_script_takes_the_port_string(shared_gearmand: Gearmand) -> None:
    # echo_client.pl -h 127.0.0.1 -p 0<port>   ('04730' is 4730 for Perl too)
    path = str(EXAMPLES / "echo_client.py")
    args = ["-h", "127.0.0.1", "-p", f"0{shared_gearmand.port}", "abc"]
    done = subprocess.run([sys.executable, path, *args], capture_output=True, env=_env(), timeout=30)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")


@pytest.mark.parametrize("port", ["4_730", "+4730", "abc", "70000"])
def test_cli_refuses_bad_ports(port: str, capsys: Any) -> None:
    assert gearman_cli.main(["-p", port, "status"]) == 2
    assert "port must be" in capsys.readouterr().err


def test_cli_port_string_and_zero() -> None:
    args = gearman_cli.build_parser().parse_args(["-h", "127.0.0.1", "-p", "04730", "status"])
    assert args.port == 4730
    assert gearman_cli.resolve_servers(args, {}) == "127.0.0.1:4730"
    args = gearman_cli.build_parser().parse_args(["-h", "127.0.0.1", "-p", "0", "status"])
    assert gearman_cli.resolve_servers(args, {}) == "127.0.0.1:4730"  # 0 is the default, as in add_server


# -- error() --------------------------------------------------------------------------------------------


def test_client_and_worker_error_are_libgearman_text() -> None:
    dead = free_port()
    with Client() as client, Worker() as worker:
        client.add_server("127.0.0.1", dead)
        worker.add_server("127.0.0.1", dead)
        # my $ret = $client->echo("x"); print STDERR $client->error(), "\n" if $ret != GEARMAN_SUCCESS;
        with pytest.raises(GearmanConnectionError) as client_exc:
            client.echo("x")
        with pytest.raises(GearmanConnectionError) as worker_exc:
            worker.echo("x")
        client_text, worker_text = client.error(), worker.error()
    assert client_exc.value.code == worker_exc.value.code == GEARMAN_COULD_NOT_CONNECT
    for text, exc in ((client_text, client_exc.value), (worker_text, worker_exc.value)):
        assert text is not None
        assert not text.startswith("GEARMAN_COULD_NOT_CONNECT:"), text  # str(exc) has that prefix
        assert text == exc.message
        assert str(exc) == f"GEARMAN_COULD_NOT_CONNECT: {text}"
        # libgearman's text: "flush(GEARMAN_COULD_NOT_CONNECT) Connection to 127.0.0.1:N failed -> ..."
        assert "(GEARMAN_COULD_NOT_CONNECT)" in text and str(dead) in text, text


def test_client_error_after_a_failed_job(worker: Worker, client: Client) -> None:
    worker.add_function(P + "die", 0, lambda job: 1 / 0)
    # my ($ret, $result) = $client->do("die", "x");  # $ret == GEARMAN_WORK_FAIL
    with WorkerThread(worker), pytest.raises(WorkFail) as exc:
        client.do(P + "die", "x")
    assert client.error() == exc.value.message
    assert not client.error().startswith("GEARMAN_WORK_FAIL:")  # type: ignore[union-attr]


# -- work()'s return code: last_job_failed ------------------------------------------------------------


def test_work_loop_that_stops_after_a_failed_job(
    shared_gearmand: Gearmand, worker: Worker, client: Client
) -> None:
    """XAS's worker loop: it stops after a failed job."""
    ran: List[bytes] = []

    def job_fn(job: Job) -> bytes:
        ran.append(job.workload())
        if job.workload() == b"bad":
            raise RuntimeError("die in a Perl worker")
        return b"ok"

    worker.add_function(P + "xas", 0, job_fn, 0)
    for workload in ("good", "bad", "never"):
        client.do_background(P + "xas", workload)
    worker.set_timeout(TIMEOUT_MS)
    for _ in range(3):
        # my $ret = $worker->work();
        # last if $ret != GEARMAN_SUCCESS;
        if not worker.work() or worker.last_job_failed:
            break
    assert ran == [b"good", b"bad"]
    assert worker.last_job_failed
    # "never" is still queued; the failed job leaves gearmand's running count once gearmand has read
    # the WORK_FAIL, which can come after work() returned (the admin connection may be quicker)
    wait_until(lambda: function_status(shared_gearmand).get(P + "xas", (0, 0, 0))[:2] == (1, 0),
               what=f"{P}xas: 1 queued, 0 running")
    worker.set_timeout(100)
    assert worker.work() and not worker.last_job_failed  # the third job
    assert ran[-1] == b"never"


def test_last_job_failed_for_each_kind_of_ending(worker: Worker, client: Client) -> None:
    def explicit_fail(job: Job) -> bytes:
        job.send_fail()
        return b"not sent"

    def complete_then_fail(job: Job) -> None:
        job.send_complete(b"done")
        job.send_fail()  # a no-op after the complete

    endings = {
        "bytes": (lambda job: b"r", False),
        "int": (lambda job: 1, False),
        "none": (lambda job: None, False),
        "raise": (lambda job: 1 / 0, True),
        "dict": (lambda job: {}, True),
        "send_fail": (explicit_fail, True),
        "complete_then_fail": (complete_then_fail, False),
    }
    for name, (fn, _) in endings.items():
        worker.add_function(P + "end_" + name, 0, fn)
    worker.set_timeout(TIMEOUT_MS)
    for name, (_, failed) in endings.items():
        client.do_background(P + "end_" + name, "x")
        assert worker.work()
        assert worker.last_job_failed is failed, name
    worker.set_timeout(50)
    with pytest.raises(gearman_xs.GearmanTimeout):
        worker.work()
    assert not worker.last_job_failed  # a work() that ran no job


# -- loops that ignored return codes: run() ---------------------------------------------------------------


def test_run_survives_a_gearmand_restart_where_work_raises(gearmand: Gearmand) -> None:
    def do(workload: str) -> bytes:
        with Client() as c:
            c.add_server("127.0.0.1", gearmand.port)
            c.set_timeout(TIMEOUT_MS)
            return c.do(P + "restart", workload)

    with Worker() as worker:
        worker.add_server("127.0.0.1", gearmand.port)
        worker.add_function(P + "restart", 0, lambda job: job.workload().upper(), 0)
        # while (1) { $worker->work(); }      (Perl spins through a restart; so would this port:)
        with WorkerThread(worker):
            assert do("before") == b"BEFORE"
            gearmand.restart()
            assert do("after") == b"AFTER"
        gearmand.stop()
        with pytest.raises(GearmanConnectionError):  # ...so a literal work() loop ends here
            worker.work()
        gearmand.start()
        t0 = time.monotonic()
        with WorkerThread(worker):
            assert do("again") == b"AGAIN"
        assert time.monotonic() - t0 < TIMEOUT_MS / 1000


# -- the Client methods the README did not mention ---------------------------------------------------


def test_remove_servers_do_status_add_task_status(worker: Worker, client: Client) -> None:
    """The job broker's status polling, ported: a background job, its status through
    add_task_status and job_status, do_status, then remove_servers."""
    release = threading.Event()

    def slow(job: Job) -> bytes:
        job.send_status(1, 4)
        release.wait(TIMEOUT_MS / 1000)
        return b"done"

    worker.add_function(P + "slow", 0, slow)
    statuses: List[Tuple[bool, bool, int, int]] = []
    with WorkerThread(worker):
        # my ($ret, $handle) = $client->do_high_background("slow", "x");
        handle = client.do_high_background(P + "slow", "x")
        # $client->set_status_fn(sub { my $task = shift; push @s, [...]; return GEARMAN_SUCCESS; });
        def on_status(task: Task) -> None:
            statuses.append((task.is_known(), task.is_running(), task.numerator(), task.denominator()))

        client.set_status_fn(on_status)
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while True:  # until the worker sent its status
            # my ($ret, $task) = $client->add_task_status($handle); $client->run_tasks();
            task = client.add_task_status(handle)
            client.run_tasks()
            if task.numerator() == 1 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert statuses[-1] == (True, True, 1, 4)
        assert (task.is_known(), task.is_running(), task.numerator(), task.denominator()) == statuses[-1]
        # my ($ret, $known, $running, $n, $d) = $client->job_status($handle);
        known, running, n, d = client.job_status(handle)
        assert (known, running, n, d) == (True, True, 1, 4)
        # printf("Known=%d, Running=%d\n", $known, $running);   Perl's 1/0: Python's bools need %d
        assert "Known=%d, Running=%d" % (known, running) == "Known=1, Running=1"  # noqa: UP031
        assert f"Known={known}" == "Known=True"
        release.set()
        # my ($n, $d) = $client->do_status();      (a stub in libgearman 1.x)
        assert client.do_status() == (0, 0)
    # $client->remove_servers();
    client.remove_servers()
    # my ($ret, $result) = $client->do("slow", "x");    # $ret == GEARMAN_NO_SERVERS
    with pytest.raises(GearmanConnectionError) as exc:
        client.do(P + "slow", "x")
    assert exc.value.code == gearman_xs.GEARMAN_NO_SERVERS
