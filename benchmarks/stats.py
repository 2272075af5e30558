"""Benchmark statistics: medians, ratios gearman_xs / C (of the medians and paired run by run), the
alternating order of runs, and the machine's load average."""

from __future__ import annotations

import os
import statistics
from typing import Any, Callable, Dict, List, Optional, Sequence


def median(values: Sequence[float]) -> Optional[float]:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def ratio_of(a: Optional[float], b: Optional[float]) -> Optional[float]:
    if a is None or b is None or b == 0:
        return None
    return a / b


def summary(runs: List[float]) -> Dict[str, Any]:
    return {"runs": [round(r, 6) for r in runs], "median": median(runs)}


def alternate(runs: int, impls: Sequence[str], one: Callable[[str], float]) -> Dict[str, List[float]]:
    """Runs ``one(impl)`` ``runs`` times per impl, alternating the order from run to run."""
    out: Dict[str, List[float]] = {impl: [] for impl in impls}
    for i in range(runs):
        order = list(impls) if i % 2 == 0 else list(reversed(impls))
        for impl in order:
            out[impl].append(one(impl))
    return out


def alternate_steps(runs: int, impls: Sequence[str],
                    steps: Sequence[Callable[[str], Dict[str, float]]]) -> Dict[str, Dict[str, List[float]]]:
    """Runs every step for every impl ``runs`` times: step by step, the impls back to back, their
    order alternating from run to run. Returns metric -> impl -> values (a step returns metric ->
    value)."""
    out: Dict[str, Dict[str, List[float]]] = {}
    for i in range(runs):
        order = list(impls) if i % 2 == 0 else list(reversed(impls))
        for step in steps:
            for impl in order:
                for key, value in step(impl).items():
                    out.setdefault(key, {x: [] for x in impls})[impl].append(value)
    return out


def compare(name: str, unit: str, values: Dict[str, List[float]], target: Optional[float],
             higher_is_better: bool = True, base: str = "c", test: str = "gearman_xs") -> Dict[str, Any]:
    """The ratio test / base of the medians (and paired), against ``target`` (None: not judged)."""
    c = median(values[base])
    x = median(values[test])
    ratio = ratio_of(x, c)
    met = None
    if ratio is not None and target is not None:
        met = ratio >= target if higher_is_better else ratio <= target
    # Run i of each side ran back to back: the median of the per-run ratios is less sensitive to
    # the load of a shared machine drifting during the run. Shown beside the ratio of the medians,
    # which is what the targets are judged on.
    pairs = [ratio_of(a, b) for a, b in zip(values[test], values[base])]
    return {
        "name": name, "unit": unit, base: summary(values[base]), test: summary(values[test]),
        "ratio": ratio, "paired_ratio": median([r for r in pairs if r is not None]),
        "target": "" if target is None else (">= " if higher_is_better else "<= ") + str(target), "met": met,
    }


def loadavg() -> List[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []
