"""Fixtures: real gearmand servers on loopback, started and stopped by pid (gearman_xs.testing), and
the Client tests' worker processes. What the tests share besides fixtures is in tests/support/.

- ``shared_gearmand`` (one per session), ``gearmand`` (fresh per test), ``gearmand_exceptions``
  (fresh, started with ``--exceptions``);
- ``server`` and ``client``, for modules that set ``P`` (a function-name prefix; test_client.py,
  test_task.py): ``server`` is the shared gearmand with two worker processes serving
  ``support.functions.CLIENT_FUNCTIONS`` as ``P + name``, ``client`` a gearman_xs Client on it. Other
  modules define their own ``server`` / ``client`` (the interop modules: ``support.interop.stack_fixtures``).
"""

from __future__ import annotations

import os
import signal
from typing import Iterator

import pytest
from support.workers import worker_processes

from gearman_xs import Client
from gearman_xs.testing import Gearmand

# libgearman adds the servers in $GEARMAN_SERVERS to every new client and worker.
os.environ.pop("GEARMAN_SERVERS", None)

# A shell without job control starts background commands with SIGINT ignored, and Python then leaves
# it ignored: Ctrl-C never becomes KeyboardInterrupt. The Ctrl-C tests (and the worker processes
# they start, which inherit the disposition) would then wait forever in a call without a timeout;
# that is what hung test_timeouts_every_phase.py's "option" phase in an earlier stress run. Python's
# own handler makes SIGINT what every test expects (KeyboardInterrupt), wherever the run started.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def shared_gearmand() -> Iterator[Gearmand]:
    """One gearmand for the whole session: for tests that use their own function names."""
    with Gearmand() as server:
        yield server


@pytest.fixture
def gearmand() -> Iterator[Gearmand]:
    """A fresh gearmand for one test."""
    with Gearmand() as server:
        yield server


@pytest.fixture
def gearmand_exceptions() -> Iterator[Gearmand]:
    """A fresh gearmand started with --exceptions."""
    with Gearmand(["--exceptions"]) as server:
        yield server


@pytest.fixture(scope="module")
def server(shared_gearmand: Gearmand, request: pytest.FixtureRequest) -> Iterator[Gearmand]:
    """The shared gearmand, with two worker processes serving the functions of the module's ``P``."""
    prefix = getattr(request.module, "P", None)
    if not isinstance(prefix, str):
        pytest.fail(f"{request.module.__name__} uses the `server` fixture of conftest.py without setting P")
    with worker_processes(shared_gearmand, prefix, count=2):
        yield shared_gearmand


@pytest.fixture
def client(server: Gearmand) -> Iterator[Client]:
    """A Client on ``server``, with a timeout: a hang fails the test instead of blocking the run."""
    with Client() as c:
        c.add_servers(server.servers)
        c.set_timeout(10000)
        yield c
