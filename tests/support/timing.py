"""Timing assertions that measure the product, not the machine.

A call that should take T seconds takes longer on a loaded machine (the 2-core CI VM shared by
other jobs, ``stress-ng --cpu 2``) because the process waits for a CPU, not because the product is
slow. ``Stopwatch`` runs a probe thread beside the timed call that sleeps in 10 ms steps and sums
how late each wake-up was: the machine's delay during exactly that call. Assertions then allow
the upper bound to stretch by that measured delay (the lower bound never stretches: returning early
is always the product's fault).

    with Stopwatch() as sw:
        worker.work()
    sw.assert_between(0.68, 1.5)      # elapsed >= 0.68, and elapsed - machine delay < 1.5
"""

from __future__ import annotations

import threading
import time
from typing import Optional


class Stopwatch:
    STEP = 0.01

    def __init__(self) -> None:
        self.elapsed = 0.0
        self.lateness = 0.0  # seconds the probe woke up late in total while the stopwatch ran
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._t0 = 0.0

    def _probe(self) -> None:
        late = 0.0
        while not self._stop.is_set():
            t = time.monotonic()
            time.sleep(self.STEP)
            late += max(0.0, time.monotonic() - t - self.STEP)
            self.lateness = late

    def __enter__(self) -> Stopwatch:
        self._thread = threading.Thread(target=self._probe, daemon=True)
        self._thread.start()
        self._t0 = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.monotonic() - self._t0
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    @property
    def product(self) -> float:
        """The elapsed time less the machine's measured delay (never below 0)."""
        return max(0.0, self.elapsed - self.lateness)

    def assert_between(self, low: float, high: float) -> None:
        assert self.elapsed >= low, f"returned after {self.elapsed:.3f} s, before {low} s"
        assert self.product < high, (
            f"took {self.elapsed:.3f} s ({self.lateness:.3f} s of it the machine's delay): over {high} s"
        )

    def assert_under(self, high: float) -> None:
        self.assert_between(0.0, high)
