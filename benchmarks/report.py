"""The benchmark report: the results as a plain-text table (printed after a run) or as Markdown
(``run.py --markdown JSON``, for the docs' performance page)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple


def _fmt(v: Any, digits: int = 0) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return str(v)


def _mark(met: Optional[bool]) -> str:
    return "-" if met is None else ("met" if met else "MISSED")


HEADER = ("workload", "unit", "C", "gearman_xs", "ratio (paired)", "target")


def table(results: Dict[str, Any]) -> str:
    """The results as a plain-text table."""
    rows = table_rows(results)
    widths = [max(len(r[i]) for r in [HEADER, *rows]) for i in range(6)]
    lines = [" | ".join(h.ljust(widths[i]) for i, h in enumerate(HEADER)),
             "-+-".join("-" * wd for wd in widths)]
    lines += [" | ".join(c.ljust(widths[i]) for i, c in enumerate(r)) for r in rows]
    return "\n".join(lines)


def markdown(results: Dict[str, Any]) -> str:
    """The results as a Markdown table (for docs/performance.md)."""
    rows = table_rows(results)
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in r) + " |" for r in rows]
    return "\n".join(lines)


def table_rows(results: Dict[str, Any]) -> List[Tuple[str, str, str, str, str, str]]:
    rows: List[Tuple[str, str, str, str, str, str]] = []

    def cmp_row(entry: Dict[str, Any], digits: int = 0) -> None:
        ratio = _fmt(entry["ratio"], 2)
        if entry.get("paired_ratio") is not None and len(entry["c"]["runs"]) > 1:
            ratio += f" ({entry['paired_ratio']:.2f})"
        rows.append((entry["name"], entry["unit"], _fmt(entry["c"]["median"], digits),
                     _fmt(entry["gearman_xs"]["median"], digits), ratio,
                     f"{entry['target']}: {_mark(entry['met'])}"))

    w = results["workloads"]
    for key in ("W1", "W1-client"):
        if key in w and "error" not in w[key]:
            cmp_row(w[key])
            cmp_row(w[key]["cpu_per_job_us"], 1)
            kept = w[key].get("clamp_kept")
            if kept:
                rows.append(("W1, gearman_xs with libgearman's clamp kept", "jobs/s", "",
                             _fmt(kept["jobs/s"]["median"]), _fmt(kept["lifted_over_kept"], 2),
                             "lifted / kept: no change expected"))
    if "W2" in w and "error" not in w["W2"]:
        cmp_row(w["W2"])
        cmp_row(w["W2"]["drain"])
    for key in ("W3", "W5"):
        if key in w and "error" not in w[key]:
            cmp_row(w[key])
    if "W4" in w and "error" not in w["W4"]:
        for size, e in w["W4"]["sizes"].items():
            mbs = e["MB/s"]
            rows.append((f"W4 {size} round trip", "MB/s", _fmt(mbs["c"], 2), _fmt(mbs["gearman_xs"], 1),
                         _fmt(e["ratio"], 0), f">= 100: {_mark(e['ratio'] >= 100 if e['ratio'] else None)}"))
            rows.append((f"W4 {size}, gearman_xs with libgearman's clamp kept", "MB/s", "",
                         _fmt(mbs.get("gearman_xs-clamped"), 2), "", "(switch off)"))
            if "perl" in mbs:
                perl_target = ">= 1: " + _mark(e["ratio_vs_perl"] >= 1) if size.endswith("MiB") else ""
                rows.append((f"W4 {size}, Perl Gearman::Client/Worker (pure Perl)", "MB/s", "",
                             _fmt(mbs["perl"], 1), _fmt(e["ratio_vs_perl"], 2), perl_target))
            if "client_rss" in e:
                r = e["client_rss"]
                rows.append((f"W4 {size} client peak RSS - before", "MiB", "",
                             _fmt(r["peak_minus_before_kib"] / 1024, 1), "",
                             f"<= {r['limit_kib'] // 1024}: {_mark(r['met'])}"))
    if "user" in w and "error" not in w["user"]:
        for entry in w["user"]["rows"].values():
            cmp_row(entry, 1 if entry["unit"] == "us" else 0)
    if "large" in w and "error" not in w["large"]:
        for size, e in w["large"]["sizes"].items():
            mbs, rss = e["MB/s"], e["rss_above_baseline_kib"]
            target = "<= 2: " + _mark(e["met"]) if size.endswith("MiB") else ""
            rows.append((f"W4 {size} round trip: C relay (no clamp) / gearman_xs", "MB/s",
                         _fmt(mbs["c-noclamp"], 1), _fmt(mbs["gearman_xs"], 1),
                         _fmt(e["x_relay"], 2) + " x the relay's time", target))
            rows.append((f"W4 {size} raw loopback echo (2 of the 4 hops)", "MB/s", _fmt(mbs["loopback"], 1),
                         "", _fmt(e["x_loopback"], 2) + " x its time", ""))
            lim = e.get("rss_limit_kib")
            rows.append((f"W4 {size} client peak RSS above baseline", "MiB", _fmt(rss["c-noclamp"] / 1024, 1),
                         _fmt(rss["gearman_xs"] / 1024, 1), "",
                         f"<= {lim // 1024}: {_mark(rss['gearman_xs'] <= lim)}" if lim else ""))
    if "scale" in w and "error" not in w["scale"]:
        for key, entry in w["scale"]["rows"].items():
            if key.startswith("client_threads_"):
                name = f"scale: 1 client process, {key.rsplit('_', 1)[1]} threads (C workers)"
            elif key.startswith("worker_threads_"):
                name = f"scale: 1 worker process, {key.rsplit('_', 1)[1]} threads, drains a queue"
            else:
                n, m = key.split("x")
                name = f"scale: {n} client x {m} worker processes"
            cmp_row({**entry, "name": name})
    if "threads" in w and "error" not in w["threads"]:
        t = w["threads"]
        rows.append((t["name"], t["unit"], _fmt(t["one_thread"]["median"]) + " (1 thread)",
                     _fmt(t["two_threads"]["median"]) + " (2 threads)", _fmt(t["ratio"], 2),
                     f"{t['target']}: {_mark(t['met'])}"))
    if "soak" in w and "error" not in w["soak"]:
        s = w["soak"]
        for k in ("do", "tasks", "worker"):
            rows.append((f"soak {k} RSS growth", "KiB", "", _fmt(s[k]["growth_kib"]), "",
                         f"<= {s['limit_kib']}: {_mark(s[k]['growth_kib'] <= s['limit_kib'])}"))
    for key, entry in w.items():
        if "error" in entry:
            rows.append((key, "", "", "", "", "ERROR: " + entry["error"][:80]))
    return rows
