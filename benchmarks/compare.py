"""run.py --compare REV: this tree's gearman_xs against the one of git revision REV, in the same run.

Both are built and installed into their own temporary venvs (``git archive`` of REV, and of this
checkout's tracked files with their uncommitted changes, each ``pip install``-ed: the extension is
compiled against the same libgearman), then every workload runs the same benchmark programs (this
tree's bench_py.py, user_client.py, user_worker.py) under each venv's interpreter, alternately ("old"
and "new" back to back, their order swapped from run to run), and the table shows the medians and the
ratios new / old, so that a change can be judged before it lands. The C programs serve where a
workload needs a peer (W1-client, W3, W5, the user W1 with the C worker).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from functools import partial
from typing import Any, Dict, List, Optional, Tuple

import user
from harness import MIB, ROOT, Bench, BenchError
from stats import alternate_steps, compare

OLD, NEW = "old", "new"


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", ROOT, *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def resolve(rev: Optional[str]) -> Tuple[str, str]:
    """(commit to archive, label): REV's commit, or for None this checkout's tracked files with
    their uncommitted changes (``git stash create``; HEAD when there are none)."""
    if rev is None:
        head = _git("rev-parse", "HEAD")
        stash = _git("stash", "create")
        return (stash, f"working tree (HEAD {head[:10]} + changes)") if stash else (head, f"HEAD {head[:10]}")
    commit = _git("rev-parse", "--verify", rev + "^{commit}")
    return commit, f"{rev} ({commit[:10]})"


def build(commit: str, workdir: str, name: str) -> str:
    """Installs gearman_xs of ``commit`` into a new venv under ``workdir``; returns its python."""
    src = os.path.join(workdir, "src-" + name)
    venv = os.path.join(workdir, "venv-" + name)
    os.makedirs(src)
    archive = subprocess.run(["git", "-C", ROOT, "archive", "--format=tar", commit], capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", src], input=archive, check=True)
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    python = os.path.join(venv, "bin", "python")
    proc = subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", src],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BenchError(f"pip install of {commit[:10]} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    # where the interpreter imports gearman_xs from (never this checkout)
    where = subprocess.run([python, "-c", "import gearman_xs; print(gearman_xs.__file__)"], cwd=workdir,
                           capture_output=True, text=True, check=True).stdout.strip()
    if not where.startswith(venv):
        raise BenchError(f"{name}: gearman_xs imported from {where}, not from {venv}")
    return python


# -- the steps: the tuned path of bench_py.py, then the user-shaped pair ------------------------------

def _w1(b: Bench, n: int, worker: Optional[str], key: str, impl: str) -> Dict[str, float]:
    res, _ = b.pair(impl, worker or impl, "do", n, 100)
    return {key: n / res["seconds"], key + "_cpu": res["cpu"] / n * 1e6}


def _w2(b: Bench, n: int, impl: str) -> Dict[str, float]:
    res = b.client(impl, "background", n, 100)
    if b.queue()[0] != n:
        raise BenchError(f"W2: {b.queue()[0]} jobs queued after {n} submits")
    wres = b.drain(impl, n)
    return {"W2_submit": n / res["seconds"], "W2_drain": n / wres["seconds"]}


def _w3(b: Bench, n: int, impl: str) -> Dict[str, float]:
    res, _ = b.pair(impl, "c", "tasks", n, 100)
    return {"W3": n / res["seconds"]}


def _w5(b: Bench, n: int, impl: str) -> Dict[str, float]:
    b.client("c", "background", n, 100)
    wres = b.drain(impl, n)
    return {"W5": n / wres["seconds"]}


def _w4(b: Bench, trips: int, impl: str) -> Dict[str, float]:
    res, _ = b.pair(impl, impl, "do", trips + 1, MIB)
    times = sorted(res["times"][1:])
    return {"W4_1MiB": MIB / times[len(times) // 2] / 1e6}


# metric -> (title, unit, higher is better)
METRICS: Dict[str, Tuple[str, str, bool]] = {
    "W1": ("W1 do() 100 B, bench_py client+worker", "jobs/s", True),
    "W1_cpu": ("W1 client CPU per job", "us", False),
    "W1-client": ("W1 do() 100 B, bench_py client, C worker", "jobs/s", True),
    "W1-client_cpu": ("W1 client CPU per job, C worker", "us", False),
    "W2_submit": ("W2 do_background() 100 B", "submits/s", True),
    "W2_drain": ("W2 one worker drains", "jobs/s", True),
    "W3": ("W3 add_task() x N + run_tasks(), C worker", "jobs/s", True),
    "W5": ("W5 worker drains a queue the C client filled", "jobs/s", True),
    "W4_1MiB": ("W4 1 MiB round trip", "MB/s", True),
    **{k: (t, u, h) for k, (t, u, _, h) in user.METRICS.items()},
}


def run_compare(b: Bench, p: Dict[str, int]) -> Dict[str, Any]:
    steps: List[user.Step] = [
        partial(_w1, b, p["w1"], None, "W1"), partial(_w1, b, p["w1"], "c", "W1-client"),
        partial(_w2, b, p["w2"]), partial(_w3, b, p["w3"]), partial(_w5, b, p["w5"]),
        partial(_w4, b, p["w4_small_count"]), *user.steps(b, p)]
    values = alternate_steps(p["runs"], [OLD, NEW], steps)
    return {key: compare(title, unit, values[key], None, higher_is_better=higher, base=OLD, test=NEW)
            for key, (title, unit, higher) in METRICS.items() if key in values}


def table(rows: Dict[str, Any], labels: Dict[str, str]) -> str:
    header = ("workload", "unit", "old", "new", "new / old (paired)", "better")
    lines: List[Tuple[str, ...]] = []
    for entry in rows.values():
        higher = entry["unit"] != "us"
        ratio = entry["ratio"]
        digits = 1 if entry["unit"] in ("us", "MB/s") else 0
        verdict = "-" if ratio is None else ("new" if (ratio > 1) == higher else "old")
        lines.append((entry["name"], entry["unit"], f"{entry[OLD]['median']:,.{digits}f}",
                      f"{entry[NEW]['median']:,.{digits}f}",
                      "-" if ratio is None else f"{ratio:.3f} ({entry['paired_ratio']:.3f})", verdict))
    widths = [max(len(r[i]) for r in [header, *lines]) for i in range(len(header))]
    out = [f"old: {labels[OLD]}", f"new: {labels[NEW]}",
           " | ".join(h.ljust(widths[i]) for i, h in enumerate(header)),
           "-+-".join("-" * w for w in widths)]
    out += [" | ".join(c.ljust(widths[i]) for i, c in enumerate(r)) for r in lines]
    return "\n".join(out)


def main(b: Bench, old_rev: str, new_rev: Optional[str], p: Dict[str, int]) -> Dict[str, Any]:
    """Builds both, runs the steps, returns the JSON-ready results (rows, labels)."""
    labels: Dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="gearman_xs-compare-") as workdir:
        for name, rev in ((OLD, old_rev), (NEW, new_rev)):
            commit, labels[name] = resolve(rev)
            print(f"[compare] building {name}: {labels[name]} ...", file=sys.stderr, flush=True)
            b.pythons[name] = build(commit, workdir, name)
        rows = run_compare(b, p)
    return {"labels": labels, "rows": rows}
