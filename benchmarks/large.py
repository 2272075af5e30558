"""Large payloads against their physical reference on this machine (run.py's ``large`` workload, issue 15).

W4 (gearman_xs client and worker, bench_py.py) is measured at 256 KiB, 1 MiB, 8 MiB and 64 MiB next to:

* the C relay: the same client -> gearmand -> worker -> gearmand -> client path with the C programs
  (bench_client.c, bench_worker.c: the worker just copies the bytes) on the same libgearman, run with
  noclamp.so preloaded so that libgearman's 32 KiB socket-buffer clamp is off, as it is for gearman_xs:
  what C achieves on this path with the kernel's buffers;
* a raw TCP loopback echo (loopback.c): the kernel's floor. It crosses loopback twice per round trip,
  a Gearman round trip four times.

Each connection makes one untimed warm-up trip first; the C relay and gearman_xs alternate. The
gearman_xs client's peak RSS is reported above its baseline (the interpreter before the payload was
built): the payload, libgearman's buffers and the result. Targets: round trip <= 2 x the C relay's at
1 MiB and above; peak RSS above baseline <= 3 x the payload at 64 MiB.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any, Dict, List

from harness import KIB, MIB, Bench, BenchError
from stats import alternate, median, ratio_of

SIZES = (256 * KIB, MIB, 8 * MIB, 64 * MIB)
IMPLS = ("c-noclamp", "gearman_xs")


def _label(size: int) -> str:
    return f"{size // KIB} KiB" if size < MIB else f"{size // MIB} MiB"


def loopback(b: Bench, size: int, trips: int) -> List[float]:
    proc = subprocess.run([os.path.join(b.bindir, "loopback"), str(size), str(trips)], capture_output=True,
                          text=True, timeout=600, check=False)
    if proc.returncode != 0:
        raise BenchError(f"loopback {size}: {proc.stderr[-500:]}")
    return list(json.loads(proc.stdout)["times"])


def _size(b: Bench, size: int, trips: int, runs: int) -> Dict[str, Any]:
    times: Dict[str, List[float]] = {impl: [] for impl in IMPLS}
    rss: Dict[str, List[int]] = {impl: [] for impl in IMPLS}

    def one(impl: str) -> float:
        res, _ = b.pair(impl, impl, "do", trips + 1, size)  # trip 0 warms the connections up
        times[impl].extend(res["times"][1:])
        # above the baseline: the payload was built before rss_before was read
        rss[impl].append(res["rss_peak_kib"] - res["rss_before_kib"] + size // KIB)
        return 0.0

    alternate(runs, IMPLS, one)
    times["loopback"] = loopback(b, size, trips * runs)
    med = {impl: median(t) for impl, t in times.items()}
    entry: Dict[str, Any] = {
        "round_trip_ms": {impl: round(t * 1000, 3) if t else None for impl, t in med.items()},
        "MB/s": {impl: size / t / 1e6 if t else None for impl, t in med.items()},
        "round_trips": {impl: len(t) for impl, t in times.items()},
        "x_relay": ratio_of(med["gearman_xs"], med["c-noclamp"]),       # time ratios: 1 = as fast
        "x_loopback": ratio_of(med["gearman_xs"], med["loopback"]),
        "relay_x_loopback": ratio_of(med["c-noclamp"], med["loopback"]),
        "rss_above_baseline_kib": {impl: max(v) if v else None for impl, v in rss.items()},
    }
    met = size < MIB or (entry["x_relay"] is not None and entry["x_relay"] <= 2.0)
    if size >= 64 * MIB:
        entry["rss_limit_kib"] = 3 * size // KIB
        met = met and entry["rss_above_baseline_kib"]["gearman_xs"] <= entry["rss_limit_kib"]
    entry["met"] = met
    return entry


def large(b: Bench, p: Dict[str, int]) -> Dict[str, Any]:
    sizes = {_label(s): _size(b, s, p["large_trips"] if s < 64 * MIB else max(1, p["large_trips"] - 1),
                              p["large_runs"])
             for s in SIZES if s <= p["large_max"]}
    big = [e["x_relay"] for k, e in sizes.items() if k.endswith("MiB") and e["x_relay"] is not None]
    return {"name": "W4 against the C relay (no clamp) and a loopback echo",
            "unit": "round trip, x the C relay",
            "sizes": sizes, "ratio": max(big) if big else None, "target": "<= 2 x the C relay at >= 1 MiB",
            "met": all(e["met"] for e in sizes.values())}
