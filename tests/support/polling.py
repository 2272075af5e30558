"""Waiting in tests: every loop bounded in time, and gearmand's ``status`` read through
``gearman_xs.admin.parse_status`` (never parsed by hand)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Dict, Sequence, Tuple

from gearman_xs.admin import parse_status
from gearman_xs.testing import Gearmand


def poll(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.01) -> Any:
    """Calls ``predicate`` every ``interval`` s until it returns a true value, which it returns, or
    until ``timeout`` s have passed: then it returns the last (false) value. For tests that assert
    with a message of their own."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def wait_until(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "condition",
               interval: float = 0.01) -> Any:
    """``poll()`` that fails the test (AssertionError) on the timeout; returns the true value."""
    value = poll(predicate, timeout, interval)
    if not value:
        raise AssertionError(f"timed out after {timeout} s waiting for {what}")
    return value


def status_table(text: str) -> Dict[str, Tuple[int, int, int]]:
    """A ``status`` reply (gearmand's, or what ``gearadmin --status`` prints): function ->
    (queued, running, available workers)."""
    lines = [line for line in text.splitlines() if line and line != "."]
    return {s.function: (s.queued, s.running, s.workers) for s in parse_status(lines)}


def function_status(server: Gearmand) -> Dict[str, Tuple[int, int, int]]:
    """gearmand's ``status`` now: function -> (queued, running, available workers)."""
    return status_table(server.admin("status"))


def wait_for_workers(server: Gearmand, functions: Sequence[str], count: int = 1,
                     timeout: float = 15.0) -> None:
    """Waits until every function has at least ``count`` registered workers on ``server``."""
    def ready() -> bool:
        table = function_status(server)
        return all(table.get(f, (0, 0, 0))[2] >= count for f in functions)
    wait_until(ready, timeout, f"{count} worker(s) for {list(functions)} on {server}")


def wait_for_file(path: Path, timeout: float = 15.0) -> bytes:
    """Waits until ``path`` exists; returns its content."""
    wait_until(path.exists, timeout, f"{path} to appear")
    return path.read_bytes()
