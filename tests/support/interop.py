"""The interop tests' setting: one private gearmand with a peer worker and two gearman_xs Workers on it
(``Stack``), the fixtures of the interop modules (``stack_fixtures``), and the checks that several
of them run (``check_queued_priorities``, ``collect_events``, the background submitters)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterator, List, Optional, Sequence, Tuple, Union

import pytest

import gearman_xs
from gearman_xs.testing import Gearmand
from support.peers import STACK_FUNCTIONS, Event, PeerWorker, require_peer, run_peer_client
from support.polling import function_status, wait_until
from support.workers import PyWorker


def new_client(server: Gearmand, timeout_ms: int = 20000) -> gearman_xs.Client:
    """A gearman_xs Client on ``server``; a timeout turns a hang into GearmanTimeout."""
    client = gearman_xs.Client()
    client.add_servers(server.servers)
    client.set_timeout(timeout_ms)
    return client


class Stack:
    """One private gearmand (``args``, e.g. ``["--exceptions"]``) with, on it:
    ``peer_worker`` (a PeerWorker of ``peer`` serving ``peer_functions``), ``py`` (a default Python
    worker serving every ``py.*`` function, identifier ``gxs-interop-PEER``) and ``pyx`` (a
    ``send_exceptions=True`` Python worker serving ``pyx.raise``)."""

    def __init__(self, peer: str, args: Sequence[str] = (),
                 peer_functions: Optional[Sequence[str]] = None) -> None:
        require_peer(peer)
        self.server = Gearmand(args).start()
        self.peer_worker: Optional[PeerWorker] = None
        self.py: Optional[PyWorker] = None
        self.pyx: Optional[PyWorker] = None
        try:
            self.peer_worker = PeerWorker(peer, self.server, peer_functions)
            self.py = PyWorker(self.server, identifier=f"gxs-interop-{peer}")
            self.pyx = PyWorker(self.server, ["raise"], prefix="pyx", send_exceptions=True)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        errors: List[BaseException] = []
        for w in (self.pyx, self.py, self.peer_worker):
            if w is not None:
                try:
                    w.stop()
                except BaseException as exc:
                    errors.append(exc)
        self.server.close()
        if errors:
            raise errors[0]


def stack_fixtures(peers: Union[str, Sequence[str]]) -> Tuple[Any, ...]:
    """The fixtures of an interop test module, to assign at module level:
    ``peer, stack, exc_stack, any_stack, server, client = stack_fixtures("perl")``.

    ``peer`` is the peer's name. Given several peers (test_interop.py), it is parametrized: every
    test runs once per peer (ids ``perl``, ``php``, ``cli``), or for the peers it names with
    ``@pytest.mark.parametrize("peer", [...], indirect=True)``. ``stack`` and ``exc_stack`` are
    module-scoped Stacks of the peer (its worker serving ``STACK_FUNCTIONS[peer]``) on a default
    gearmand and on one started with --exceptions, ``any_stack`` each of the two in turn, ``server``
    the default stack's gearmand and ``client`` a gearman_xs Client on it."""
    names = [peers] if isinstance(peers, str) else list(peers)

    if len(names) == 1:
        @pytest.fixture(scope="module", name="peer")
        def peer() -> str:
            return names[0]
    else:
        @pytest.fixture(scope="module", name="peer", params=names)
        def peer(request: pytest.FixtureRequest) -> str:
            name: str = request.param
            return name

    @pytest.fixture(scope="module", name="stack")
    def stack(peer: str) -> Iterator[Stack]:
        s = Stack(peer, peer_functions=STACK_FUNCTIONS[peer])
        yield s
        s.close()

    @pytest.fixture(scope="module", name="exc_stack")
    def exc_stack(peer: str) -> Iterator[Stack]:
        s = Stack(peer, ["--exceptions"], peer_functions=STACK_FUNCTIONS[peer])
        yield s
        s.close()

    @pytest.fixture(params=["default", "exceptions"], name="any_stack")
    def any_stack(request: pytest.FixtureRequest) -> Stack:
        chosen: Stack = request.getfixturevalue("stack" if request.param == "default" else "exc_stack")
        return chosen

    @pytest.fixture(name="server")
    def server(stack: Stack) -> Gearmand:
        return stack.server

    @pytest.fixture(name="client")
    def client(server: Gearmand) -> Iterator[gearman_xs.Client]:
        with new_client(server) as c:
            yield c

    return peer, stack, exc_stack, any_stack, server, client


def collect_events(client: gearman_xs.Client, function: str, workload: bytes) -> List[Event]:
    """Runs one task and returns its callbacks in order, as the peer clients print them."""
    seen: List[Event] = []
    client.set_data_fn(lambda t: seen.append(("data", t.data())))
    client.set_warning_fn(lambda t: seen.append(("warning", t.data())))
    client.set_status_fn(lambda t: seen.append(("status", t.numerator(), t.denominator())))
    client.set_complete_fn(lambda t: seen.append(("complete", t.data())))
    client.set_fail_fn(lambda t: seen.append(("fail",)))
    client.set_exception_fn(lambda t: seen.append(("exception", t.exception())))
    client.add_task(function, workload)
    client.run_tasks()
    return seen


#: Submits a background ``record`` job: ``submit(priority, function, workload)``, priority being
#: "low", "normal" or "high".
Submit = Callable[[str, str, bytes], None]

_BACKGROUND_METHODS = {"low": "do_low_background", "normal": "do_background", "high": "do_high_background"}
_BACKGROUND_MODES = {"low": "bg_low", "normal": "bg", "high": "bg_high"}  # perl_client.pl/php_client.php


def check_queued_priorities(server: Gearmand, tmp_path: Path, stem: str, submit: Submit,
                            record_worker: Callable[[str], ContextManager[Any]]) -> None:
    """Queues a low, a normal and a high priority ``record`` job for a function nobody serves yet
    (named ``STEM<random>.record``), then starts ``record_worker(prefix)``: the jobs must run high,
    normal, low."""
    log = tmp_path / "order"
    prefix = f"{stem}{uuid.uuid4().hex[:8]}"
    for priority in ("low", "normal", "high"):
        submit(priority, f"{prefix}.record", os.fsencode(log) + b"\n" + priority.encode())
    assert function_status(server)[f"{prefix}.record"] == (3, 0, 0)
    with record_worker(prefix):
        wait_until(lambda: log.exists() and log.read_bytes().count(b"\n") == 3, what="3 records")
    assert log.read_bytes() == b"high\nnormal\nlow\n"


def client_submit(client: gearman_xs.Client) -> Submit:
    """Submits through gearman_xs's ``do_low_background`` / ``do_background`` / ``do_high_background``."""
    def submit(priority: str, function: str, workload: bytes) -> None:
        handle = getattr(client, _BACKGROUND_METHODS[priority])(function, workload)
        assert handle.startswith("H:"), handle
    return submit


def peer_background(peer: str, server: Gearmand, function: str, workload: bytes,
                    priority: str = "normal") -> str:
    """Submits a background job through perl_client.pl / php_client.php; returns the handle as the
    peer gives it (Perl's Gearman::Client: ``HOST:PORT//H:...``, PHP: ``H:...``)."""
    run = run_peer_client(peer, server, _BACKGROUND_MODES[priority], function, workload)
    handle: str = run.value("handle")
    assert handle.startswith(f"{server.servers}//H:" if peer == "perl" else "H:"), run
    return handle
