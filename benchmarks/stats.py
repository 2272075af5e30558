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


def compare(name: str, unit: str, values: Dict[str, List[float]], target: float,
             higher_is_better: bool = True) -> Dict[str, Any]:
    c = median(values["c"])
    x = median(values["gearman_xs"])
    ratio = ratio_of(x, c)
    met = None if ratio is None else (ratio >= target if higher_is_better else ratio <= target)
    # Run i of each side ran back to back: the median of the per-run ratios is less sensitive to
    # the load of a shared machine drifting during the run. Shown beside the ratio of the medians,
    # which is what the targets are judged on.
    pairs = [ratio_of(a, b) for a, b in zip(values["gearman_xs"], values["c"])]
    return {
        "name": name, "unit": unit, "c": summary(values["c"]), "gearman_xs": summary(values["gearman_xs"]),
        "ratio": ratio, "paired_ratio": median([r for r in pairs if r is not None]),
        "target": (">= " if higher_is_better else "<= ") + str(target), "met": met,
    }


def loadavg() -> List[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []
