#!/usr/bin/env python3
"""Draws the scale curves of a run.py results file (the ``scale`` workload) as a PNG.

    python benchmarks/plot.py benchmarks/results/latest.json docs/img/scale.png [--note TEXT]

Needs matplotlib (``pip install matplotlib``, e.g. into the venv that runs the benchmarks). Three
panels: N client x M worker processes (total jobs/s against N, one line per M, C dashed, gearman_xs
solid), one client process with T threads, one worker process with K threads draining a queue.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Dict, List, Optional


def _median(entry: Dict[str, Any], impl: str) -> Optional[float]:
    value = entry[impl]["median"]
    return float(value) if value is not None else None


def plot(results: Dict[str, Any], out: str, note: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scale = results["workloads"]["scale"]
    rows: Dict[str, Any] = scale["rows"]
    counts: List[int] = scale["counts"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:red"]
    ax = axes[0]
    for i, m in enumerate(counts):
        keys = [f"{n}x{m}" for n in counts if f"{n}x{m}" in rows]
        xs = [int(k.split("x")[0]) for k in keys]
        for impl, style in (("c", "--"), ("gearman_xs", "-")):
            name = "C" if impl == "c" else "gearman_xs"
            ax.plot(xs, [_median(rows[k], impl) for k in keys], style, marker="o", color=colors[i % 4],
                    label=f"{name}, {m} worker process{'es' if m > 1 else ''}")
    ax.set_title("N client processes x M worker processes")
    ax.set_xlabel("client processes (N)")
    ax.set_ylabel("total jobs/s (do() 100 B)")
    ax.set_xscale("log", base=2)
    ax.legend(fontsize=7)
    for ax, prefix, title, xlabel in (
        (axes[1], "client_threads_", "one client process, T threads (T C workers)", "threads (T)"),
        (axes[2], "worker_threads_", "one worker process, K threads, draining", "threads (K)"),
    ):
        keys = sorted((k for k in rows if k.startswith(prefix)), key=lambda k: int(k.rsplit("_", 1)[1]))
        xs = [int(k.rsplit("_", 1)[1]) for k in keys]
        ax.plot(xs, [_median(rows[k], "c") for k in keys], "--", marker="o", color="tab:gray",
                label="C (pthreads)")
        ax.plot(xs, [_median(rows[k], "gearman_xs") for k in keys], "-", marker="o", color="tab:purple",
                label="gearman_xs (threads)")
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("jobs/s")
        ax.set_xscale("log", base=2)
        ax.legend(fontsize=8)
    for ax, ticks in zip(axes, (counts, counts, counts[:3])):
        ax.set_xticks(ticks)
        ax.set_xticklabels([str(c) for c in ticks])
        ax.minorticks_off()
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    date = results.get("date", "")[:16].replace("T", " ")
    fig.suptitle(f"gearman_xs vs C libgearman, one gearmand, {date} UTC. {note}".strip(), fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=90)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("json")
    ap.add_argument("png")
    ap.add_argument("--note", default="", help="appended to the title (e.g. the machine)")
    args = ap.parse_args(argv)
    with open(args.json) as f:
        results = json.load(f)
    if "scale" not in results.get("workloads", {}) or "rows" not in results["workloads"]["scale"]:
        print(f"{args.json} has no scale results (run.py --only scale)", file=sys.stderr)
        return 2
    try:
        plot(results, args.png, args.note)
    except ImportError:
        print("matplotlib is not installed: pip install matplotlib", file=sys.stderr)
        return 2
    print(args.png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
