"""Fixtures: real gearmand servers on loopback, started and stopped by pid (gearman_xs.testing)."""

from __future__ import annotations

import os
from typing import Iterator

import pytest

from gearman_xs.testing import Gearmand

# libgearman adds the servers in $GEARMAN_SERVERS to every new client and worker.
os.environ.pop("GEARMAN_SERVERS", None)


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
