"""Task, add_task* and run_tasks with callbacks, against a real gearmand. Fixtures ``server`` and
``client`` (conftest.py): worker processes serve ``support.functions.CLIENT_FUNCTIONS`` as ``P + name``."""

from __future__ import annotations

from typing import Any, List, Tuple

import pytest

import gearman_xs
from gearman_xs import Client, ClosedError, GearmanError, Task
from gearman_xs.testing import Gearmand

P = "tx_"  # the prefix of the worker processes' functions (conftest.py `server`)
UUID_RE = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


def record(client: Client) -> List[Tuple[Any, ...]]:
    events: List[Tuple[Any, ...]] = []

    def make(kind: str) -> Any:
        def fn(task: Task) -> Any:
            events.append((kind, task, task.data(), task.data_size(), task.numerator(),
                           task.denominator(), task.is_known(), task.is_running(), task.job_handle()))
            return gearman_xs.GEARMAN_SUCCESS  # ignored, as a Perl port would return it
        return fn

    for kind in ("created", "data", "warning", "status", "complete", "fail", "exception"):
        getattr(client, f"set_{kind}_fn")(make(kind))
    return events


def test_every_callback_with_the_accessors(client: Client) -> None:
    task = client.add_task(P + "chunks", "x")
    events = record(client)  # set after add_task: still applies
    client.run_tasks()
    kinds = [e[0] for e in events]
    assert kinds == ["created", "data", "status", "warning", "data", "complete"]
    assert all(e[1] is task for e in events)
    created, data_a, status, warning, data_b, complete = events
    assert created[6:8] == (True, False) and created[2] is None and created[8].startswith("H:")
    assert data_a[2:4] == (b"A", 1) and data_a[6:8] == (True, True)
    assert status[4:6] == (1, 2)
    assert warning[2] == b"W"
    assert data_b[2] == b"B"
    assert complete[2:4] == (b"C", 1)
    assert task.data() == b"C" and task.returncode() == gearman_xs.GEARMAN_SUCCESS
    assert task.is_finished() and task.function_name() == P + "chunks"
    assert task.exception() is None


def test_fail_and_exception_callbacks(client: Client) -> None:
    events = record(client)
    fail = client.add_task(P + "fail", "x")
    exc = client.add_task(P + "exc", "x")
    client.run_tasks()
    by_task = {(e[0], id(e[1])) for e in events}
    assert ("fail", id(fail)) in by_task and ("exception", id(exc)) in by_task
    assert fail.returncode() == gearman_xs.GEARMAN_WORK_FAIL
    assert exc.returncode() == gearman_xs.GEARMAN_WORK_EXCEPTION
    assert exc.exception() == b"boom"


def test_priorities_background_and_results(client: Client) -> None:
    tasks = [
        client.add_task(P + "reverse", "abc"),
        client.add_task_high(P + "reverse", b"high"),
        client.add_task_low(P + "echo", bytearray(b"low"), "low-unique"),
        client.add_task(P + "echo", b""),
    ]
    bg = [
        client.add_task_background(P + "echo", "bg"),
        client.add_task_high_background(P + "echo", "bg"),
        client.add_task_low_background(P + "echo", "bg"),
    ]
    created: List[Task] = []
    client.set_created_fn(created.append)
    completed: List[Task] = []
    client.set_complete_fn(completed.append)
    client.run_tasks()
    assert [t.data() for t in tasks] == [b"cba", b"hgih", b"low", b""]
    assert tasks[2].unique() == "low-unique"
    import re

    assert re.match(UUID_RE, tasks[0].unique() or "")
    assert all(t.job_handle() and t.is_finished() and t.is_background() for t in bg)
    assert all(t in created for t in bg) and not any(t in completed for t in bg)
    assert len(completed) == 4


def test_duplicate_uniques_in_one_batch_do_not_hang(client: Client) -> None:
    tasks = [client.add_task(P + "count", "dup", "same-unique") for _ in range(3)]
    hashed = [client.add_task(P + "reverse", "hash me", "#") for _ in range(2)]
    client.run_tasks()
    assert all(t.returncode() == gearman_xs.GEARMAN_SUCCESS for t in tasks + hashed)
    assert all(t.data() for t in tasks)
    assert [t.data() for t in hashed] == [b"em hsah", b"em hsah"]


def test_callback_exception_propagates_and_no_event_repeats(client: Client) -> None:
    calls: List[Tuple[str, Task]] = []

    def created(task: Task) -> None:
        calls.append(("created", task))
        if len([c for c in calls if c[0] == "created"]) == 1:
            raise ValueError("from the callback")

    client.set_created_fn(created)
    client.set_complete_fn(lambda t: calls.append(("complete", t)))
    tasks = [client.add_task(P + "echo", str(i)) for i in range(3)]
    with pytest.raises(ValueError, match="from the callback"):
        client.run_tasks()
    client.run_tasks()
    for task in tasks:
        assert calls.count(("created", task)) == 1
        assert calls.count(("complete", task)) == 1
        assert task.data() is not None
    client.run_tasks()  # nothing left


def test_complete_callback_exception(client: Client) -> None:
    seen: List[Task] = []

    def complete(task: Task) -> None:
        seen.append(task)
        raise RuntimeError("complete failed")

    client.set_complete_fn(complete)
    task = client.add_task(P + "echo", "x")
    with pytest.raises(RuntimeError):
        client.run_tasks()
    client.run_tasks()
    assert seen == [task] and task.data() == b"x"


def test_clear_fn_and_replacing_a_callback(client: Client) -> None:
    first: List[Task] = []
    second: List[Task] = []
    client.set_complete_fn(first.append)
    task = client.add_task(P + "echo", "x")
    client.set_complete_fn(second.append)
    client.run_tasks()
    assert (first, second) == ([], [task])
    client.clear_fn()
    client.add_task(P + "echo", "y")
    client.run_tasks()
    assert second == [task]


def test_adding_tasks_from_a_callback(client: Client) -> None:
    follow: List[Task] = []

    def complete(task: Task) -> None:
        if task.data() == b"first":
            follow.append(client.add_task(P + "echo", "second"))

    client.set_complete_fn(complete)
    client.add_task(P + "echo", "first")
    client.run_tasks()
    assert [t.data() for t in follow] == [b"second"]

    def nested(task: Task) -> None:
        client.do(P + "echo", "nested")

    client.set_complete_fn(nested)
    client.add_task(P + "echo", "x")
    with pytest.raises(GearmanError, match="inside a Client callback"):
        client.run_tasks()


def test_add_task_status(client: Client) -> None:
    handle = client.do_background(P + "sleep", "0.5")
    statuses: List[Task] = []
    client.set_status_fn(statuses.append)
    status = client.add_task_status(handle)
    unknown = client.add_task_status("H:nosuch:1")
    client.run_tasks()
    assert statuses == [status, unknown] or statuses == [unknown, status]
    assert status.is_known() and status.job_handle() == handle
    assert not unknown.is_known() and not unknown.is_running()
    assert status.function_name() is None and status.unique() is None


def test_task_outlives_its_client(server: Gearmand) -> None:
    c = Client()
    c.add_servers(server.servers)
    task = c.add_task(P + "reverse", "abc")
    pending = c.add_task(P + "echo", "never run")
    c.run_tasks()  # runs both
    c.close()
    assert task.data() == b"cba" and task.job_handle() and task.unique()
    assert pending.data() == b"never run"
    c2 = Client()
    c2.add_servers(server.servers)
    left = c2.add_task(P + "echo", "x")
    c2.close()
    assert left.data() is None and left.returncode() == gearman_xs.GEARMAN_UNKNOWN_STATE
    with pytest.raises(ClosedError):
        c2.add_task(P + "echo", "x")


def test_finished_tasks_are_freed(client: Client) -> None:
    from gearman_xs._libgearman import lib

    for _ in range(5):
        for i in range(20):
            client.add_task(P + "echo", str(i))
        client.run_tasks()
    assert not client._tasks.live and not client._tasks.pending
    assert not lib.gearman_client_has_tasks(client._cc.c)


def test_run_tasks_timeout_keeps_the_tasks(client: Client) -> None:
    client.set_timeout(300)
    task = client.add_task(P + "sleep", "0.8")
    with pytest.raises(gearman_xs.GearmanTimeout):
        client.run_tasks()
    assert not task.is_finished()
    client.set_timeout(5000)
    client.run_tasks()
    assert task.data() == b"slept"


def test_repr(client: Client, server: Gearmand) -> None:
    task = client.add_task(P + "echo", "x", "u-repr")
    assert repr(task) == (f"<gearman_xs.Task function='{P}echo' unique='u-repr' handle=None "
                          "state='pending' returncode='UNKNOWN_STATE'>")
    assert repr(client) == f"<gearman_xs.Client servers=['{server.servers}'] timeout=10000 tasks=1>"
    client.run_tasks()
    assert repr(task).startswith(f"<gearman_xs.Task function='{P}echo' unique='u-repr' handle='H:")
    assert repr(task).endswith(" state='finished' returncode='SUCCESS'>")
    assert not client.closed
    with Client() as c:
        assert repr(c) == "<gearman_xs.Client servers=[] timeout=-1 tasks=0>"

        class MyClient(Client):
            pass

        assert repr(MyClient()).startswith(f"<{__name__}.test_repr.<locals>.MyClient servers=[]")
    assert c.closed and repr(c) == "<gearman_xs.Client closed>"
    with gearman_xs.Admin(server.host, server.port) as admin:
        assert repr(admin) == f"<gearman_xs.Admin server='{server.servers}' timeout=5.0 connected=False>"
        admin.version()
        assert repr(admin).endswith(" connected=True>")
    with gearman_xs.AdminGroup(server.servers) as group:
        assert repr(group) == f"<gearman_xs.AdminGroup servers=['{server.servers}']>"


def test_return_codes_and_options_are_enums_equal_to_ints(client: Client) -> None:
    assert gearman_xs.GEARMAN_SUCCESS == 0 and gearman_xs.GEARMAN_SUCCESS is gearman_xs.ReturnCode.SUCCESS
    assert gearman_xs.GEARMAN_WORK_FAIL == 24 and gearman_xs.GEARMAN_FAIL is gearman_xs.ReturnCode.WORK_FAIL
    assert repr(gearman_xs.GEARMAN_TIMEOUT) == "<ReturnCode.TIMEOUT: 47>"
    assert str(gearman_xs.GEARMAN_TIMEOUT) == f"{gearman_xs.GEARMAN_TIMEOUT}" == "%s" % 47 == "47"  # noqa: UP031
    assert "%d" % gearman_xs.GEARMAN_TIMEOUT == "47"  # noqa: UP031  (what Perl ports write)
    assert gearman_xs.GEARMAN_TIMEOUT + 1 == 48
    opts = client.options()
    assert isinstance(opts, gearman_xs.ClientOptions) and opts == 161 and str(opts) == "161"
    assert gearman_xs.ClientOptions.FREE_TASKS in opts
    assert opts & gearman_xs.GEARMAN_CLIENT_EXCEPTION == gearman_xs.GEARMAN_CLIENT_EXCEPTION
    client.add_options(gearman_xs.ClientOptions.NON_BLOCKING)
    client.remove_options(gearman_xs.GEARMAN_CLIENT_NON_BLOCKING | 0)
    assert client.options() == 161
    assert gearman_xs.GEARMAN_WORKER_GRAB_UNIQ is gearman_xs.WorkerOptions.GRAB_UNIQ
    assert gearman_xs.GEARMAN_JOB_PRIORITY_LOW is gearman_xs.JobPriority.LOW == 2
    assert gearman_xs.GEARMAN_VERBOSE_ERROR is gearman_xs.Verbose.ERROR == 2
    assert type(gearman_xs.GEARMAN_WORKER_WAIT_TIMEOUT) is int and type(gearman_xs.GEARMAN_CLIENT_MAX) is int
    fail = client.add_task(P + "fail", "x")
    client.run_tasks()
    assert fail.returncode() is gearman_xs.ReturnCode.WORK_FAIL
    with pytest.raises(gearman_xs.WorkFail) as info:
        fail.result()
    assert info.value.code is gearman_xs.ReturnCode.WORK_FAIL and info.value.code == 24
    assert gearman_xs.GearmanError(999).code == 999


# -- a callback's return code (Gearman::XS / libgearman: anything but GEARMAN_SUCCESS stops run_tasks) --


def test_callback_returning_a_code_stops_run_tasks_and_is_called_again(client: Client) -> None:
    # Perl: sub { return GEARMAN_WORK_FAIL } -> $client->run_tasks() returns 24; a later run_tasks()
    # resumes, and libgearman calls the callback again for the same event.
    calls: List[Task] = []
    stop = {"code": gearman_xs.GEARMAN_WORK_FAIL}

    def complete(task: Task) -> Any:
        calls.append(task)
        if task.data() == b"stop":
            return stop["code"]
        return None

    client.set_complete_fn(complete)
    first = client.add_task(P + "echo", "stop")
    others = [client.add_task(P + "echo", str(i)) for i in range(3)]
    with pytest.raises(gearman_xs.WorkFail) as info:
        client.run_tasks()
    assert info.value.code == gearman_xs.GEARMAN_WORK_FAIL
    assert "complete callback returned GEARMAN_WORK_FAIL (24)" in str(info.value)
    assert client.error() == info.value.message
    assert calls.count(first) == 1
    with pytest.raises(gearman_xs.WorkFail):  # called again for the same event: stops again
        client.run_tasks()
    assert calls.count(first) == 2
    stop["code"] = gearman_xs.GEARMAN_SUCCESS
    assert client.run_tasks() is True
    assert calls.count(first) == 3
    assert all(calls.count(t) == 1 for t in others)
    assert first.data() == b"stop" and first.returncode() == gearman_xs.GEARMAN_SUCCESS
    assert [t.data() for t in others] == [b"0", b"1", b"2"]
    assert not client._tasks.live and not lib_has_tasks(client)


def lib_has_tasks(client: Client) -> bool:
    from gearman_xs._libgearman import lib

    return bool(lib.gearman_client_has_tasks(client._cc.c))


def test_callback_returning_pause_from_data_records_the_event_once(client: Client) -> None:
    seen: List[bytes] = []
    paused: List[bytes] = []

    def data(task: Task) -> int:
        seen.append(task.data() or b"")
        if task.data() == b"A" and not paused:
            paused.append(b"A")
            return gearman_xs.GEARMAN_PAUSE
        return gearman_xs.GEARMAN_SUCCESS

    client.set_data_fn(data)
    task = client.add_task(P + "chunks", "x")
    with pytest.raises(GearmanError) as info:
        client.run_tasks()
    assert info.value.code == gearman_xs.GEARMAN_PAUSE and type(info.value) is GearmanError
    assert not task.is_finished()
    client.run_tasks()
    assert seen == [b"A", b"A", b"B"]  # A again on resume, as libgearman calls it
    assert task.data() == b"C" and task.is_finished()
    assert task.data_chunks() == [b"A", b"B"] and task.result() == b"ABC"  # recorded once


@pytest.mark.parametrize("value", [None, 0, True, False, "1", b"24", 1.0, object()])
def test_callback_values_that_do_not_stop_run_tasks(client: Client, value: Any) -> None:
    calls: List[Task] = []

    def created(task: Task) -> Any:
        calls.append(task)
        return value

    client.set_created_fn(created)
    client.set_complete_fn(created)
    tasks = [client.add_task(P + "echo", str(i)) for i in range(2)]
    assert client.run_tasks() is True
    assert len(calls) == 4 and all(t.is_finished() for t in tasks)


def test_callback_code_classes_and_unknown_codes(client: Client) -> None:
    for code, cls in [(gearman_xs.GEARMAN_TIMEOUT, gearman_xs.GearmanTimeout),
                      (gearman_xs.GEARMAN_COULD_NOT_CONNECT, gearman_xs.GearmanConnectionError),
                      (gearman_xs.GEARMAN_IO_WAIT, GearmanError), (999, GearmanError)]:
        client.set_created_fn(lambda t, code=code: code)
        task = client.add_task_background(P + "echo", "bg")
        with pytest.raises(cls) as info:
            client.run_tasks()
        assert info.value.code == code
        client.set_created_fn(None)
        client.run_tasks()
        assert task.is_finished() and task.job_handle()


# -- per-task context, every chunk and warning, result() ------------------------------------------


def test_context_on_every_add_task_variant(client: Client) -> None:
    handle = client.do_background(P + "echo", "for status")
    marker = object()
    variants = [
        client.add_task(P + "echo", "n", context={"n": 1}),
        client.add_task_high(P + "echo", "h", None, context=[1]),
        client.add_task_low(P + "echo", "l", "ctx-low", context=marker),
        client.add_task_background(P + "echo", "b", context=42),
        client.add_task_high_background(P + "echo", "hb", context="s"),
        client.add_task_low_background(P + "echo", "lb", context=b"bytes"),
        client.add_task_status(handle, context=("status",)),
    ]
    plain = client.add_task(P + "echo", "none")
    seen: List[Any] = []
    client.set_created_fn(lambda t: seen.append(t.context))
    client.run_tasks()
    contexts = [{"n": 1}, [1], marker, 42, "s", b"bytes", ("status",)]
    assert [t.context for t in variants] == contexts
    assert variants[2].context is marker and variants[2].unique() == "ctx-low"
    assert plain.context is None
    for ctx in contexts[:6]:
        assert ctx in seen  # the created callbacks saw the same object
    variants[0].context = "replaced"
    assert variants[0].context == "replaced"
    with pytest.raises(TypeError):
        client.add_task(P + "echo", "x", "u", "positional context")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        client.add_task_status(handle, "positional")  # type: ignore[call-arg]


def test_task_keeps_every_chunk_and_warning(client: Client) -> None:
    task = client.add_task(P + "chunks", "x")
    seen: List[Tuple[List[bytes], List[bytes]]] = []
    client.set_data_fn(lambda t: seen.append((t.data_chunks(), t.warnings())))
    client.run_tasks()
    assert task.data_chunks() == [b"A", b"B"] and task.warnings() == [b"W"]
    assert seen == [([b"A"], []), ([b"A", b"B"], [b"W"])]  # so far, inside the data callback
    assert task.data() == b"C" and task.result() == b"ABC"  # what do() returns
    assert client.do(P + "chunks", "x") == task.result()
    task.data_chunks().append(b"not kept")
    assert task.data_chunks() == [b"A", b"B"]
    plain = client.add_task(P + "echo", "")
    client.run_tasks()
    assert plain.data_chunks() == [] and plain.warnings() == [] and plain.result() == b""


def test_task_result_raises_what_do_raises(client: Client) -> None:
    fail = client.add_task(P + "fail", "x")
    exc = client.add_task(P + "exc", "x")
    bg = client.add_task_background(P + "echo", "x")
    pending = client.add_task(P + "echo", "x")
    with pytest.raises(GearmanError) as info:
        pending.result()
    assert info.value.code == gearman_xs.GEARMAN_UNKNOWN_STATE and "not finished" in str(info.value)
    client.run_tasks()
    with pytest.raises(gearman_xs.WorkFail):
        fail.result()
    with pytest.raises(gearman_xs.WorkException) as exc_info:
        exc.result()
    assert exc_info.value.exception == b"boom"
    handle = bg.result()
    assert isinstance(handle, str) and handle == bg.job_handle() and handle.startswith("H:")
    assert pending.result() == b"x"
    status = client.add_task_status(handle)
    client.run_tasks()
    assert status.result() == gearman_xs.JobStatus(
        status.is_known(), status.is_running(), status.numerator(), status.denominator())
