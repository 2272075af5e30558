"""The quick fault suite (tests/support/faults.py at its quick sizes): real gearmand processes,
worker processes that log every execution, a fault-injecting proxy. Each case asserts what the
results table of docs/faults.md reports for the full run (scripts/fault-suite): no job lost, none
run twice, only GearmanError subclasses, timeouts within T + 0.5 s, flat RSS and fds. The fuzzed
replies are tests/test_fuzz.py's."""

from __future__ import annotations

import signal

import pytest
from support import faults


def _check(result: faults.Result) -> None:
    assert result.passed, "\n".join([faults.HEADER, result.row()])
    assert result.runs > 0


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_persistent_queue_survives_restart(sig: signal.Signals) -> None:
    result = faults.queue_restart(sig, quick=True)
    _check(result)
    assert result.ok == result.runs


def test_worker_killed_inside_a_job() -> None:
    result = faults.worker_kill(quick=True)
    _check(result)
    assert result.ok == result.runs


@pytest.mark.parametrize("background", [True, False], ids=["do_background", "do"])
def test_failover_after_idle_server_killed(background: bool) -> None:
    result = faults.failover(quick=True, background=background)
    _check(result)
    assert result.ok == result.runs


def test_connection_reset_mid_job() -> None:
    # RST at an arbitrary point of each call: each call returned the right result or handle (its
    # job ran, once) or raised a GearmanError (the Client never submits a job again unless the
    # server says it holds it running, which gearmand then coalesces); no job ran twice
    result = faults.reset(quick=True)
    _check(result)
    assert sum(result.errors.values()) <= result.runs
    assert all(k.startswith("Gearman") for k in result.errors), result.errors
    assert result.ok == result.runs  # and the same Client worked at once


@pytest.mark.parametrize("fresh", [False, True], ids=["established", "new-client"])
def test_blackhole_client_timeout(fresh: bool) -> None:
    result = faults.blackhole(quick=True, fresh=fresh)
    _check(result)
    assert result.ok == result.runs


def test_blackhole_worker_timeout() -> None:
    result = faults.worker_blackhole(quick=True)
    _check(result)
    assert result.ok == result.runs


def test_latency() -> None:
    result = faults.latency(quick=True)
    _check(result)
    assert result.ok == result.runs


def test_soak_rss_and_fds_flat() -> None:
    result = faults.soak(quick=True)
    _check(result)
    assert result.ok == result.runs
