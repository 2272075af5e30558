"""Admin against a real gearmand, each method compared with what gearadmin prints for the same state."""

from __future__ import annotations

import re
from typing import Iterator

import pytest
from support.polling import wait_until
from support.protocol import RawWorker
from support.timing import Stopwatch
from support.tools import (
    gearadmin,
    gearadmin_out,
    needs_gearadmin,
    needs_gearman,
    start_cli_worker,
    status_text,
    stop_process_group,
    submit_background,
)

from gearman_xs import GEARMAN_SERVER_ERROR, GearmanConnectionError, GearmanError
from gearman_xs.admin import (
    Admin,
    AdminError,
    AdminGroup,
    AdminGroupError,
    FunctionStatus,
    JobInfo,
    PriorityStatus,
    WorkerInfo,
    parse_servers,
)
from gearman_xs.testing import Gearmand, free_port

pytestmark = [needs_gearadmin]


@pytest.fixture
def admin(gearmand: Gearmand) -> Iterator[Admin]:
    with Admin(gearmand.host, gearmand.port, timeout=5) as a:
        yield a


def queued_as_counted(admin: Admin, queued: int) -> int:
    """``queued`` as ``prioritystatus`` counts it on this gearmand: before 1.1.20 it follows the
    wrong list and says 1 for every priority with any queued jobs (upstream issue #337, fixed in
    1.1.20 by #338; docs/versions.md). ``status`` and ``show jobs`` count right on every release."""
    found = re.match(r"(\d+)\.(\d+)\.(\d+)", admin.version())
    assert found, admin.version()
    return min(queued, 1) if tuple(map(int, found.groups())) < (1, 1, 20) else queued


def settle(admin: Admin) -> None:
    """Waits until this admin connection is the only connection without functions: the
    Gearmand fixture's startup probe may still be closing on the server side."""
    wait_until(lambda: len([w for w in admin.workers() if not w.functions]) == 1, what="probe closed")


def test_empty_server_matches_gearadmin(gearmand: Gearmand, admin: Admin) -> None:
    assert admin.status() == []
    assert status_text(admin.status()) == gearadmin_out(gearmand, "--status") == ".\n"
    assert admin.priority_status() == []
    assert admin.show_jobs() == [] and admin.show_unique_jobs() == []
    assert admin.version() == gearadmin_out(gearmand, "--server-version").strip()
    assert re.match(r"\d+\.\d+\.\d+", admin.version())  # 1.1.20+ds, 2.0.0, ...
    assert admin.getpid() == gearmand.pid == int(gearadmin_out(gearmand, "--getpid"))
    assert admin.verbose() == gearadmin_out(gearmand, "--server-verbose").strip() == "INFO"


@needs_gearman
def test_queued_background_jobs_match_gearadmin(gearmand: Gearmand, admin: Admin) -> None:
    for args in (("qa", "1"), ("qa", "2"), ("qb", "3", "-I"), ("qb", "4", "-L", "-u", "myuniq")):
        result = submit_background(gearmand, *args)
        assert result.returncode == 0 and not result.stderr, result.stderr
    status = admin.status()
    assert sorted(status) == [FunctionStatus("qa", 2, 0, 0), FunctionStatus("qb", 2, 0, 0)]
    assert status_text(status) == gearadmin_out(gearmand, "--status")
    priority = admin.priority_status()
    two = queued_as_counted(admin, 2)  # 1 on gearmand 1.1.19.1
    assert sorted(priority) == [PriorityStatus("qa", 0, two, 0, 0), PriorityStatus("qb", 1, 0, 1, 0)]
    assert status_text(priority) == gearadmin_out(gearmand, "--priority-status")
    jobs = admin.show_jobs()
    assert len(jobs) == 4 and all(j.queued and not j.ignore_job and j.retries == 0 for j in jobs)
    assert status_text(jobs) == gearadmin_out(gearmand, "--show-jobs")
    uniques = admin.show_unique_jobs()
    assert "myuniq" in uniques and len(uniques) == 4
    assert "".join(u + "\n" for u in uniques) + ".\n" == gearadmin_out(gearmand, "--show-unique-jobs")


@needs_gearman
def test_unique_id_dot_does_not_end_the_list(gearmand: Gearmand, admin: Admin) -> None:
    # gearmand ends lists with a "." line; a job whose unique id is "." prints the same line.
    for unique in ("before", ".", "after"):
        assert submit_background(gearmand, "dots", "x", "-u", unique).returncode == 0
    assert sorted(admin.show_unique_jobs()) == [".", "after", "before"]
    assert admin.version()  # the connection is still in step
    assert sorted(admin.send("show unique jobs").splitlines()) == [".", ".", "after", "before"]


@needs_gearman
def test_busy_worker_matches_gearadmin(gearmand: Gearmand, admin: Admin) -> None:
    worker = start_cli_worker(gearmand, "busy", "sleep", "5")
    try:
        wait_until(lambda: any(s.function == "busy" and s.workers == 1 for s in admin.status()),
                   what="worker")
        assert submit_background(gearmand, "busy", "zzz").returncode == 0
        assert submit_background(gearmand, "busy", "second").returncode == 0
        wait_until(lambda: admin.status() == [FunctionStatus("busy", 2, 1, 1)], what="running job")
        assert status_text(admin.status()) == gearadmin_out(gearmand, "--status")
        assert status_text(admin.priority_status()) == gearadmin_out(gearmand, "--priority-status")
        jobs = admin.show_jobs()
        assert len(jobs) == 2 and not any(j.ignore_job for j in jobs)
        assert status_text(jobs) == gearadmin_out(gearmand, "--show-jobs")
        busy = [w for w in admin.workers() if w.functions]
        assert [(w.client_id, w.functions) for w in busy] == [("-", ("busy",))]
        assert [f"{w.fd} {w.address} {w.client_id} : busy" for w in busy] == [
            line for line in gearadmin_out(gearmand, "--workers").splitlines() if line.endswith(": busy")
        ]
    finally:
        stop_process_group(worker)
    # the job the dead worker was running goes back to the queue
    wait_until(lambda: admin.status() == [FunctionStatus("busy", 2, 0, 0)], what="requeue")


def test_workers_with_ids_match_gearadmin(gearmand: Gearmand, admin: Admin) -> None:
    settle(admin)
    alpha = RawWorker(gearmand, "alpha", ["w1", "w2"])
    beta = RawWorker(gearmand, "beta-2", ["w2"])
    anonymous = RawWorker(gearmand, None, ["w3"])
    try:
        workers = admin.workers()
        ours = [w for w in workers if not w.functions]
        assert len(ours) == 1 and ours[0].client_id == "-" and ours[0].address == "127.0.0.1"
        named = sorted((w.client_id, tuple(sorted(w.functions))) for w in workers if w.functions)
        assert named == [("-", ("w3",)), ("alpha", ("w1", "w2")), ("beta-2", ("w2",))]
        text = gearadmin_out(gearmand, "--workers").splitlines()
        assert text[-1] == "."
        theirs = sorted(line for line in text[:-1] if not line.endswith(" :"))
        mine = sorted(
            f"{w.fd} {w.address} {w.client_id} : {' '.join(w.functions)}" for w in workers if w.functions
        )
        assert mine == theirs
        # gearadmin's own connection and ours are the function-less lines
        assert len([line for line in text[:-1] if line.endswith(" :")]) == 2
        assert sorted(admin.status()) == [FunctionStatus("w1", 0, 0, 1), FunctionStatus("w2", 0, 0, 2),
                                          FunctionStatus("w3", 0, 0, 1)]
        assert status_text(admin.status()) == gearadmin_out(gearmand, "--status")
    finally:
        for w in (alpha, beta, anonymous):
            w.close()
    wait_until(lambda: all(not w.functions for w in admin.workers()), what="workers gone")


@needs_gearman
def test_running_job_of_raw_worker(gearmand: Gearmand, admin: Admin) -> None:
    worker = RawWorker(gearmand, "runner", ["rj"])
    try:
        assert submit_background(gearmand, "rj", "payload").returncode == 0
        handle, function, workload = worker.grab()
        assert (function, workload) == (b"rj", b"payload")
        assert admin.status() == [FunctionStatus("rj", 1, 1, 1)]
        (job,) = admin.show_jobs()
        assert (job.handle, job.retries, job.ignore_job) == (handle.decode(), 0, False)
        assert status_text(admin.show_jobs()) == gearadmin_out(gearmand, "--show-jobs")
        worker.complete(handle, b"done")
        assert admin.status() == [FunctionStatus("rj", 0, 0, 1)]
        assert admin.show_jobs() == []
    finally:
        worker.close()


@needs_gearman
def test_maxqueue_reached(gearmand: Gearmand, admin: Admin) -> None:
    admin.create_function("mq")  # maxqueue only applies to a function the server knows
    admin.maxqueue("mq", 2)
    results = [submit_background(gearmand, "mq", str(i)) for i in range(3)]
    assert [not r.stderr for r in results] == [True, True, False]
    assert "QUEUE_ERROR" in results[2].stderr  # (and gearman exits 0 anyway)
    assert admin.status() == [FunctionStatus("mq", 2, 0, 0)]
    assert status_text(admin.status()) == gearadmin_out(gearmand, "--status")
    admin.maxqueue("mq")  # back to unlimited
    assert not submit_background(gearmand, "mq", "3").stderr
    assert admin.status() == [FunctionStatus("mq", 3, 0, 0)]


@needs_gearman
def test_maxqueue_per_priority(gearmand: Gearmand, admin: Admin) -> None:
    # gearmand compares each priority's limit with the function's total of queued jobs.
    admin.create_function("pq")
    admin.maxqueue("pq", high=1, normal=2, low=0)
    outcome = {}
    for flags in (("-I",), ("-I",), (), (), ("-L",), ("-L",)):
        result = submit_background(gearmand, "pq", "x", *flags)
        outcome.setdefault(flags, []).append("QUEUE_ERROR" not in result.stderr)
    assert outcome == {("-I",): [True, False], (): [True, False], ("-L",): [True, True]}
    assert admin.priority_status() == [PriorityStatus("pq", 1, 1, queued_as_counted(admin, 2), 0)]
    assert status_text(admin.priority_status()) == gearadmin_out(gearmand, "--priority-status")


def test_maxqueue_arguments(admin: Admin) -> None:
    with pytest.raises(TypeError):
        admin.maxqueue("fn", "3")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        admin.maxqueue("fn", True)
    with pytest.raises(ValueError):
        admin.maxqueue("fn", -1)
    with pytest.raises(ValueError):
        admin.maxqueue("two words", 1)
    with pytest.raises(ValueError):
        admin.maxqueue("", 1)
    assert not admin.connected  # refused before anything was sent
    admin.maxqueue("unknown_fn", 1)  # gearmand accepts and ignores an unknown function
    assert admin.status() == []


@needs_gearman
def test_cancel_job(gearmand: Gearmand, admin: Admin) -> None:
    for i in range(2):
        assert submit_background(gearmand, "cj", str(i)).returncode == 0
    first = admin.show_jobs()[0]
    admin.cancel_job(first.handle)
    jobs = admin.show_jobs()
    assert JobInfo(first.handle, 0, True, False) in jobs
    assert status_text(jobs) == gearadmin_out(gearmand, "--show-jobs")
    # a cancelled job still counts in status, as gearadmin shows too
    assert admin.status() == [FunctionStatus("cj", 2, 0, 0)]
    assert status_text(admin.status()) == gearadmin_out(gearmand, "--status")
    with pytest.raises(AdminError) as info:
        admin.cancel_job("H:nowhere:1")
    assert info.value.server_code == "UNKNOWN_JOB"
    assert info.value.code == GEARMAN_SERVER_ERROR
    assert isinstance(info.value, GearmanError)
    theirs = gearadmin(gearmand, "--cancel-job", "H:nowhere:1")
    assert theirs.returncode == 0 and theirs.stderr.strip() == "Error: UNKNOWN_JOB"  # the C tool exits 0


def test_create_and_drop_function(gearmand: Gearmand, admin: Admin) -> None:
    admin.create_function("made")
    assert admin.status() == [FunctionStatus("made", 0, 0, 0)]
    assert status_text(admin.status()) == gearadmin_out(gearmand, "--status")
    worker = RawWorker(gearmand, "holder", ["made"])
    try:
        with pytest.raises(AdminError) as busy:
            admin.drop_function("made")
        assert "still connected workers" in busy.value.message
    finally:
        worker.close()
    wait_until(lambda: admin.status() == [FunctionStatus("made", 0, 0, 0)], what="worker gone")
    admin.drop_function("made")
    assert admin.status() == []
    with pytest.raises(AdminError) as info:
        admin.drop_function("made")
    assert info.value.server_code is None and info.value.message == "function not found"
    assert gearadmin(gearmand, "--drop-function", "made").stderr.strip() == "Error: function not found"


def test_err_replies_are_decoded(admin: Admin) -> None:
    with pytest.raises(AdminError) as info:
        admin.send("bogus")
    assert info.value.server_code == "UNKNOWN_COMMAND"
    assert info.value.message == "Unknown server commandbogus"  # '+' decoded to spaces
    assert info.value.command == "bogus" and info.value.server == admin.server
    with pytest.raises(AdminError) as gone:
        admin.send("shutdown")  # removed from gearmand
    assert gone.value.server_code == "UNKNOWN_COMMAND"
    with pytest.raises(AdminError) as args:
        admin.send("maxqueue")
    assert args.value.server_code == "INVALID_ARGUMENTS"
    assert "incomplete set of arguments" in str(args.value)
    assert admin.version()  # an ERR reply leaves the connection usable


def test_send_returns_raw_replies(gearmand: Gearmand, admin: Admin) -> None:
    admin.create_function("rawfn")
    assert admin.send("status") == "rawfn\t0\t0\t0\n.\n" == gearadmin_out(gearmand, "--status")
    assert admin.send("version") == f"OK {admin.version()}\n"
    assert admin.send("create function other") == "OK\r\n"
    assert admin.send("STATUS").endswith(".\n")  # gearmand's commands are case-insensitive
    with pytest.raises(ValueError):
        admin.send("status\r\nversion")
    with pytest.raises(TypeError):
        admin.send(b"status")  # type: ignore[arg-type]


def test_one_connection_is_reused(admin: Admin) -> None:
    assert not admin.connected
    admin.version()
    assert admin.connected
    settle(admin)
    mine = [w for w in admin.workers() if not w.functions]
    for _ in range(5):
        admin.status()
        admin.version()
    assert [w for w in admin.workers() if not w.functions] == mine
    admin.close()
    assert not admin.connected
    assert admin.version()


def test_reconnects_after_restart(gearmand: Gearmand, admin: Admin) -> None:
    admin.create_function("before")
    old_pid = admin.getpid()
    gearmand.restart()
    assert gearmand.pid != old_pid
    assert admin.getpid() == gearmand.pid
    assert admin.status() == []  # a fresh server
    gearmand.kill()
    with Stopwatch() as sw, pytest.raises(GearmanConnectionError):
        admin.status()
    sw.assert_under(2)
    gearmand.start()
    assert admin.getpid() == gearmand.pid


def test_dead_server_raises_quickly() -> None:
    port = free_port()
    with Stopwatch() as sw, Admin("127.0.0.1", port, timeout=2) as admin, \
            pytest.raises(GearmanConnectionError) as info:
        admin.status()
    sw.assert_under(2)
    assert str(port) in str(info.value) and info.value.name == "GEARMAN_COULD_NOT_CONNECT"
    with pytest.raises(GearmanConnectionError) as unresolvable:
        Admin("no-such-host.invalid", 4730, timeout=2).version()
    assert unresolvable.value.name in ("GEARMAN_GETADDRINFO", "GEARMAN_COULD_NOT_CONNECT")


def test_constructor_arguments() -> None:
    with pytest.raises(TypeError):
        Admin(4730)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Admin("")
    with pytest.raises(TypeError):
        Admin("localhost", "4730")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Admin("localhost", 70000)
    with pytest.raises(ValueError):
        Admin("localhost", 4730, timeout=0)
    with pytest.raises(TypeError):
        Admin("localhost", 4730, timeout="1")  # type: ignore[arg-type]
    a = Admin()
    assert (a.host, a.port, a.server) == ("localhost", 4730, "localhost:4730")
    assert repr(a) == "<gearman_xs.Admin server='localhost:4730' timeout=5.0 connected=False>"


def test_parse_servers() -> None:
    assert parse_servers("a:1,b , [::1]:7,[fe80::1], c:4731") == [
        ("a", 1), ("b", 4730), ("::1", 7), ("fe80::1", 4730), ("c", 4731)
    ]
    assert parse_servers(["x:2", "y:3,z"]) == [("x", 2), ("y", 3), ("z", 4730)]
    for bad in ("", ",", "a:0", "a:x", "a:99999", ":5", "[::1", "[::1]x"):
        with pytest.raises(ValueError):
            parse_servers(bad)
    with pytest.raises(TypeError):
        parse_servers(5)  # type: ignore[arg-type]


def test_group_keeps_results_per_server(gearmand: Gearmand) -> None:
    with Gearmand() as other:
        with Admin(other.host, other.port) as a:
            a.create_function("only_on_other")
        with Admin.for_servers(f"{gearmand.servers},{other.servers}") as group:
            assert isinstance(group, AdminGroup)
            assert group.servers == [gearmand.servers, other.servers]
            assert group.status() == {
                gearmand.servers: [],
                other.servers: [FunctionStatus("only_on_other", 0, 0, 0)],
            }
            assert group.getpid() == {gearmand.servers: gearmand.pid, other.servers: other.pid}
            assert set(group.version()) == {gearmand.servers, other.servers}
            group.create_function("everywhere")
            assert all(any(s.function == "everywhere" for s in v) for v in group.status().values())
            other.kill()
            with pytest.raises(AdminGroupError) as info:
                group.status()
            assert set(info.value.errors) == {other.servers}
            assert isinstance(info.value.errors[other.servers], GearmanConnectionError)
            assert info.value.results == {gearmand.servers: [FunctionStatus("everywhere", 0, 0, 0)]}
            gathered = group.gather(Admin.verbose)
            assert gathered[gearmand.servers] == "INFO"
            assert isinstance(gathered[other.servers], GearmanConnectionError)


@needs_gearman
def test_group_cancel_finds_the_server(gearmand: Gearmand) -> None:
    with Gearmand() as other:
        assert submit_background(other, "gc", "x").returncode == 0
        with AdminGroup([gearmand.servers, other.servers]) as group:
            handle = group.show_jobs()[other.servers][0].handle
            assert group.cancel_job(handle) == other.servers
            with pytest.raises(AdminGroupError) as info:
                group.cancel_job("H:nowhere:9")
            assert all(isinstance(e, AdminError) for e in info.value.errors.values())
            assert len(info.value.errors) == 2


def test_workers_info_type(admin: Admin) -> None:
    settle(admin)
    (me,) = admin.workers()
    assert isinstance(me, WorkerInfo) and me.fd >= 0 and me.functions == ()


def test_threads_share_one_admin(gearmand: Gearmand, admin: Admin) -> None:
    import threading

    admin.create_function("threaded")
    expected = [FunctionStatus("threaded", 0, 0, 0)]
    failures: list = []

    def hammer() -> None:
        try:
            for _ in range(30):
                if admin.status() != expected or admin.getpid() != gearmand.pid:
                    failures.append("wrong answer")
        except Exception as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert failures == []
