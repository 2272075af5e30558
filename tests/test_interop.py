"""Interop tests that every peer passes the same way, parametrized by peer (``perl``, ``php``,
``cli``; see support/peers.py): a gearman_xs Client against each peer's worker, and the Perl and PHP
clients against a gearman_xs Worker. What differs from peer to peer (payload limits, failure and
exception behaviour, the CLI's output) is in test_interop_perl.py, test_interop_php.py and
test_interop_cli.py, which pin each peer's own behaviour (docs/interop.md)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from support.data import ALL_BYTES, EVENTS, MIB, pattern, random_bytes, sha256_hex
from support.interop import (
    check_queued_priorities,
    client_submit,
    collect_events,
    peer_background,
    stack_fixtures,
)
from support.peers import PEER_NAMES, Event, PeerWorker, run_peer_client
from support.polling import wait_for_file, wait_until
from support.workers import PyWorker

import gearman_xs
from gearman_xs.testing import Gearmand

peer, stack, exc_stack, any_stack, server, client = stack_fixtures(PEER_NAMES)

#: The peers whose own client programs (perl_client.pl, php_client.php) the tests run, and whose
#: workers send status, data and warnings (the CLI's cannot).
CLIENT_PEERS = pytest.mark.parametrize("peer", ["perl", "php"], indirect=True)


# == gearman_xs Client -> peer worker =============================================================

@pytest.mark.parametrize("method", ["do_high", "do", "do_low"])
def test_priorities_to_peer_worker(client: gearman_xs.Client, peer: str, method: str) -> None:
    assert getattr(client, method)(f"{peer}.echo", method) == method.encode()


def test_queued_priorities_run_high_normal_low_on_peer_worker(
        server: Gearmand, client: gearman_xs.Client, tmp_path: Path, peer: str) -> None:
    check_queued_priorities(server, tmp_path, f"{peer}q", client_submit(client),
                            lambda prefix: PeerWorker(peer, server, ["record"], prefix=prefix))


def test_background_job_on_peer_worker_runs_to_completion(
        client: gearman_xs.Client, tmp_path: Path, peer: str) -> None:
    """A gearman_xs background job on the peer's ``bg_write`` runs: the file appears with every
    byte value, and gearmand then forgets the job."""
    target = tmp_path / "out"
    handle = client.do_background(f"{peer}.bg_write", os.fsencode(target) + b"\n" + ALL_BYTES)
    assert handle.startswith("H:")
    assert wait_for_file(target) == ALL_BYTES
    wait_until(lambda: not client.job_status(handle).is_known, what="the job to be forgotten")


def test_8mib_workload_to_peer_worker(client: gearman_xs.Client, peer: str) -> None:
    big = random_bytes(8 * MIB, seed=8)
    assert client.do(f"{peer}.sha256", big) == sha256_hex(big)


@CLIENT_PEERS
def test_1mib_result_from_peer_worker(client: gearman_xs.Client, peer: str) -> None:
    assert client.do(f"{peer}.gen", str(MIB)) == pattern(MIB)


@CLIENT_PEERS
def test_job_status_while_peer_worker_reports_progress(
        client: gearman_xs.Client, tmp_path: Path, server: Gearmand, peer: str) -> None:
    """job_status() and job_status_by_unique() see the peer's ``progress`` at 1/4; the unique
    reached gearmand unchanged (Perl's Gearman::Worker itself cannot see it: test_interop_perl.py)."""
    go = tmp_path / "go"
    unique = f"{peer}-{uuid.uuid4().hex[:12]}"
    handle = client.do_background(f"{peer}.progress", os.fsencode(go), unique=unique)
    try:
        wait_until(lambda: client.job_status(handle) == (True, True, 1, 4), what="status 1/4")
        assert unique in server.admin("show unique jobs").split("\n")
        assert client.job_status_by_unique(unique) == (True, True, 1, 4)
    finally:
        go.touch()  # a failed test must not leave the worker busy for 30 s
    wait_until(lambda: not client.job_status(handle).is_known, what="the job to finish")


@CLIENT_PEERS
def test_peer_worker_events_reach_callbacks_in_order(client: gearman_xs.Client, peer: str) -> None:
    assert collect_events(client, f"{peer}.events", b"x") == EVENTS


# == peer client -> gearman_xs Worker =============================================================

@CLIENT_PEERS
def test_peer_client_queued_priorities_run_high_normal_low_on_python_worker(
        server: Gearmand, tmp_path: Path, peer: str) -> None:
    def submit(priority: str, function: str, workload: bytes) -> None:
        peer_background(peer, server, function, workload, priority)

    check_queued_priorities(server, tmp_path, "pyq", submit,
                            lambda prefix: PyWorker(server, ["record"], prefix=prefix))


@CLIENT_PEERS
def test_peer_client_background_job_on_python_worker(server: Gearmand, tmp_path: Path, peer: str) -> None:
    target = tmp_path / "out"
    peer_background(peer, server, "py.bg_write", os.fsencode(target) + b"\n" + ALL_BYTES)
    assert wait_for_file(target) == ALL_BYTES


@CLIENT_PEERS
def test_peer_client_job_status_of_python_worker_progress(server: Gearmand, tmp_path: Path,
                                                         peer: str) -> None:
    """The peer client's job status of the Python worker's ``progress``: 1/4 while it runs, then
    not known."""
    go = tmp_path / "go"
    handle = peer_background(peer, server, "py.progress", os.fsencode(go))

    def status() -> Event:
        return run_peer_client(peer, server, "status", handle).events[0]

    try:
        wait_until(lambda: status() == ("jobstatus", 1, 1, 1, 4), what="status 1/4")
    finally:
        go.touch()
    wait_until(lambda: status()[1] == 0, what="the job to finish")
