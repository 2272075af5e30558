"""Fuzzes gearman_xs's Client and Worker with malformed server replies, each case in a forked child.

A malicious fake gearmand on 127.0.0.1 answers one request of each case (the *trigger*: the job
submission, GRAB_JOB, ECHO_REQ, GET_STATUS or OPTION_REQ, depending on the operation) with seeded
random or mutated bytes (headers, sizes, command numbers, argument separators, truncations, text
lines), then closes the connection or keeps it open. Every other request gets a well-formed answer.

The parent imports gearman_xs once and forks a child per case; the child runs one operation with a
timeout and reports how it ended. The parent serves the child's connections in a single thread (no
threads, so fork() is safe) and classifies the case:

* ``crash``: the child died of a signal (SIGSEGV, SIGABRT...);
* ``hang``: the child outlived the case deadline (it is killed);
* ``bad``: the operation raised something that is not a ``GearmanError`` subclass, or the child
  exited without a report;
* otherwise the kind it reported: ``ok`` (the operation succeeded on a reply that happened to be
  valid) or the exception's class and code name.

``python tests/support/fuzz.py --cases 10000 --seed 1`` runs the full set and prints a table;
``--json`` prints the summary as JSON (tests/test_fuzz.py runs a quick set that way).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import selectors
import signal
import socket
import sys
import time
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

if __name__ == "__main__":  # run as a script: make ``support`` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import contextlib

from support import protocol as w

# The client-side operations and the request whose answer is fuzzed.
OPERATIONS: Dict[str, Tuple[str, frozenset]] = {
    "do": ("client", w.SUBMITS),
    "do_background": ("client", w.SUBMITS),
    "do_high": ("client", w.SUBMITS),
    "add_task_run": ("client", w.SUBMITS),
    "do_option_phase": ("client", frozenset({w.OPTION_REQ})),
    "job_status": ("client", frozenset({w.GET_STATUS})),
    "client_echo": ("client", frozenset({w.ECHO_REQ})),
    "server_option": ("client", frozenset({w.OPTION_REQ})),
    "work": ("worker", w.GRABS),
    "grab_job": ("worker", w.GRABS),
    "worker_echo": ("worker", frozenset({w.ECHO_REQ})),
}

TIMEOUT_MS = 300  # the operations' own timeout
CASE_DEADLINE = 15.0  # a child alive after this long is a hang

HANDLE = b"H:fake:1"
EDGE_COMMANDS = [0, 5, 43, 44, 255, 999, 0x7FFFFFFF, 0x80000000, 0x80000001, 0xFFFFFFFE, 0xFFFFFFFF,
                 0xDEADBEEF, 0x00010000]
EDGE_SIZES = [0, 1, 2, 11, 12, 255, 4096, 8180, 8192, 65536, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]


class Case(NamedTuple):
    index: int
    op: str
    family: str
    reply: bytes
    close: bool  # close the connection after the reply (else keep it open)


# -- case generation ---------------------------------------------------------------------------


def _arg(rng: random.Random) -> bytes:
    choice = rng.randrange(10)
    if choice == 0:
        return b""
    if choice == 1:
        return HANDLE
    if choice == 2:
        return str(rng.choice([0, 1, -1, 100, 2**31, 2**32, 2**64])).encode()
    if choice == 3:
        return b"A" * rng.choice([63, 64, 65, 300, 5000, 70000])
    if choice == 4:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
    if choice == 5:
        return b"GEARMAN_" + rng.choice([b"SUCCESS", b"TIMEOUT", b"WORK_FAIL", b"INVALID_COMMAND", b"x"])
    return bytes(rng.randrange(32, 127) for _ in range(rng.randrange(1, 20)))


def _valid(rng: random.Random) -> bytes:
    """A well-formed reply of a random server-side command with plausible arguments."""
    h = HANDLE if rng.random() < 0.8 else _arg(rng)
    data = _arg(rng)
    choices: List[Callable[[], bytes]] = [
        lambda: w.packet(w.JOB_CREATED, h),
        lambda: w.packet(w.JOB_CREATED, h) + w.packet(w.WORK_COMPLETE, h, data),
        lambda: w.packet(w.WORK_COMPLETE, h, data),
        lambda: w.packet(w.WORK_DATA, h, data),
        lambda: w.packet(w.WORK_WARNING, h, data),
        lambda: w.packet(w.WORK_STATUS, h, _arg(rng), _arg(rng)),
        lambda: w.packet(w.WORK_FAIL, h),
        lambda: w.packet(w.WORK_EXCEPTION, h, data),
        lambda: w.packet(w.ERROR, _arg(rng), _arg(rng)),
        lambda: w.packet(w.NOOP),
        lambda: w.packet(w.NO_JOB),
        lambda: w.packet(w.ECHO_RES, data),
        lambda: w.packet(w.OPTION_RES, rng.choice([b"exceptions", data])),
        lambda: w.packet(w.STATUS_RES, h, _arg(rng), _arg(rng), _arg(rng), _arg(rng)),
        lambda: w.packet(w.STATUS_RES_UNIQUE, _arg(rng), _arg(rng), _arg(rng), _arg(rng), _arg(rng),
                         _arg(rng)),
        lambda: w.packet(w.JOB_ASSIGN, h, b"f", data),
        lambda: w.packet(w.JOB_ASSIGN_UNIQ, h, b"f", _arg(rng), data),
        lambda: w.packet(w.JOB_ASSIGN_ALL, h, b"f", _arg(rng), _arg(rng), data),
        lambda: w.packet(rng.randrange(w.COMMAND_MAX), *[_arg(rng) for _ in range(rng.randrange(7))]),
    ]
    return rng.choice(choices)()


def _mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randrange(1, 6)):
        op = rng.randrange(5)
        if op == 0 and b:
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        elif op == 1 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op == 2:
            b.insert(rng.randrange(len(b) + 1), rng.choice([0, 0, 10, 32, 255, rng.randrange(256)]))
        elif op == 3 and b:
            del b[rng.randrange(len(b))]
        elif op == 4 and len(b) >= 12:  # a random field of the first header
            at = rng.choice([0, 4, 8])
            b[at:at + 4] = rng.randrange(2**32).to_bytes(4, "big")
    return bytes(b)


def _family_reply(rng: random.Random, family: str) -> bytes:
    if family == "valid":
        return _valid(rng)
    if family == "command":
        body = b"\0".join(_arg(rng) for _ in range(rng.randrange(4)))
        cmd = rng.choice(EDGE_COMMANDS) if rng.random() < 0.7 else rng.randrange(2**32)
        return w.raw_header(cmd, len(body)) + body
    if family == "size":
        good = _valid(rng)
        size = rng.choice(EDGE_SIZES) if rng.random() < 0.7 else rng.randrange(2**32)
        return good[:8] + size.to_bytes(4, "big") + good[12:]
    if family == "args":
        cmd = rng.choice([w.JOB_CREATED, w.WORK_COMPLETE, w.WORK_STATUS, w.WORK_FAIL, w.WORK_EXCEPTION,
                          w.ERROR, w.STATUS_RES, w.STATUS_RES_UNIQUE, w.JOB_ASSIGN, w.JOB_ASSIGN_UNIQ,
                          w.JOB_ASSIGN_ALL, w.ECHO_RES, w.OPTION_RES, w.WORK_DATA, w.NO_JOB, w.NOOP])
        args = [_arg(rng) for _ in range(rng.randrange(0, 9))]
        body = b"\0".join(args)
        if rng.random() < 0.3:
            body += b"\0" * rng.randrange(1, 4)
        return w.raw_header(cmd, len(body)) + body
    if family == "truncate":
        good = _valid(rng) + (_valid(rng) if rng.random() < 0.5 else b"")
        return good[: rng.randrange(1, len(good))] if len(good) > 1 else good
    if family == "text":
        line = rng.choice([b"x", b"OK", b"ERR bad", b"status", b"A" * 9000, b"a b c d e f g", b" ",
                           b"\xff\xfe", b"1\t2"])
        end = rng.choice([b"\n", b"\r\n", b"", b"\n\n"])
        prefix = _valid(rng) if rng.random() < 0.3 else b""
        return prefix + line + end
    if family == "magic":
        good = _valid(rng)
        magic = rng.choice([b"\0REQ", b"\0RE\0", b"\0\0\0\0", b"\0res", b"\0RESX"[:4], b"\0" + _arg(rng)[:3]])
        return magic.ljust(4, b"\0")[:4] + good[4:]
    if family == "mutate":
        return _mutate(rng, b"".join(_valid(rng) for _ in range(rng.randrange(1, 4))))
    if family == "multi":
        parts = [rng.choice([_valid, lambda r: _family_reply(r, "command"),
                             lambda r: _family_reply(r, "size")])(rng) for _ in range(rng.randrange(2, 5))]
        return b"".join(parts)
    return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 120)))  # random


FAMILIES = ["valid", "command", "size", "args", "truncate", "text", "magic", "mutate", "multi", "random"]


def make_case(seed: int, index: int) -> Case:
    rng = random.Random(seed * 1_000_003 + index)
    op = list(OPERATIONS)[index % len(OPERATIONS)]
    family = FAMILIES[(index // len(OPERATIONS)) % len(FAMILIES)]
    reply = _family_reply(rng, family)
    return Case(index, op, family, reply, rng.random() < 0.9)


def regression_cases() -> List[Tuple[str, bytes, bool]]:
    """The known crash classes, run first in every mode (family ``known``): (name, reply, close)."""
    out = []
    for cmd in (0xFFFFFFFF, 0x80000000, 0x7FFFFFFF, 999):
        out.append((f"cmd={cmd:#x}", b"\0RES" + cmd.to_bytes(4, "big") + b"\0\0\0\0", True))
    out.append(("text no space", b"hello\n", True))
    out.append(("text with space", b"hello world\n", True))
    out.append(("text no newline", b"A" * 9000, True))
    out.append(("handle 300 bytes", w.packet(w.JOB_CREATED, b"H" * 300), True))
    out.append(("handle empty", w.packet(w.JOB_CREATED, b""), True))
    # arguments that run past the size (JOB_ASSIGN_ALL needs 4 NULs), and half packets left open:
    # the calls gearman_xs repeats in slices (option, echo, status) then crashed libgearman
    out.append(("args past the size", w.raw_header(w.JOB_ASSIGN_ALL, 8) + b"H:fake:1", False))
    out.append(("half a STATUS_RES", w.raw_header(w.STATUS_RES, 0x3851FABE) + b"H:fake:1\0" + b"A" * 100,
                False))
    out.append(("half a WORK_EXCEPTION", w.raw_header(w.WORK_EXCEPTION, 64) + b"\0" + b"A" * 20, False))
    return out


# -- the child: one operation ---------------------------------------------------------------------


def _child(op: str, port: int, report: int) -> None:
    """Runs in the forked child; never returns."""
    code = 0
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        kind = _run_op(op, port)
    except BaseException as exc:  # classified below; the parent decides what is acceptable
        from gearman_xs import GearmanError

        if isinstance(exc, GearmanError):
            kind = f"{type(exc).__name__}:{exc.name}"
        else:
            kind = f"BAD:{type(exc).__name__}:{str(exc)[:200]}"
    try:
        os.write(report, kind.encode("utf-8", "replace") + b"\n")
    except OSError:
        code = 3
    os._exit(code)


def _run_op(op: str, port: int) -> str:
    from gearman_xs import Client, Worker

    side = OPERATIONS[op][0]
    if side == "client":
        with Client() as c:
            c.add_server("127.0.0.1", port)
            c.set_timeout(TIMEOUT_MS)
            if op == "do" or op == "do_option_phase":
                c.do("f", b"x")
            elif op == "do_background":
                handle = c.do_background("f", b"x")
                if not handle:
                    return "BAD:empty handle"
            elif op == "do_high":
                c.do_high("f", b"x")
            elif op == "add_task_run":
                c.add_task("f", b"x")
                c.run_tasks()
            elif op == "job_status":
                c.job_status("H:fake:1")
            elif op == "client_echo":
                c.echo(b"ping")
            elif op == "server_option":
                c.set_server_option("exceptions")
        return "ok"
    with Worker() as wk:
        wk.add_server("127.0.0.1", port)
        wk.set_timeout(TIMEOUT_MS)
        if op == "work":
            wk.add_function("f", 0, lambda job: b"r")
            wk.work()
        elif op == "grab_job":
            wk.register("f")
            job = wk.grab_job()
            if job is not None:
                job.send_complete(b"r")
        elif op == "worker_echo":
            wk.echo(b"ping")
    return "ok"


# -- the parent: a fake server per case ---------------------------------------------------------------


class _Conn:
    __slots__ = ("reader", "sock", "triggered")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = w.RequestReader()
        self.triggered = False


def run_case(listener: socket.socket, port: int, op: str, reply: bytes, close: bool,
             deadline: float = CASE_DEADLINE) -> Tuple[str, float]:
    """Forks a child that runs ``op`` against this process's fake server; returns (kind, seconds)."""
    triggers = OPERATIONS[op][1]
    rfd, wfd = os.pipe()
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        listener.close()
        _child(op, port, wfd)
    os.close(wfd)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, None)
    sel.register(rfd, selectors.EVENT_READ, "report")
    conns: List[_Conn] = []
    report = b""
    report_done = False
    status: Optional[int] = None
    try:
        end = t0 + deadline
        while status is None:
            left = end - time.monotonic()
            if left <= 0:
                break
            for key, _ in sel.select(min(left, 0.05)):
                if key.data == "report":
                    chunk = os.read(rfd, 4096)
                    report += chunk
                    if not chunk:
                        report_done = True
                        sel.unregister(rfd)
                elif key.data is None:
                    try:
                        s, _addr = listener.accept()
                    except BlockingIOError:
                        continue
                    s.setblocking(False)
                    conn = _Conn(s)
                    conns.append(conn)
                    sel.register(s, selectors.EVENT_READ, conn)
                else:
                    _serve(sel, key.data, triggers, reply, close)
            while report_done and status is None and time.monotonic() < end:
                got, st = os.waitpid(pid, os.WNOHANG)  # the pipe closes just before the exit
                if got == pid:
                    status = st
                else:
                    time.sleep(0.0005)
        if status is None:
            got, st = os.waitpid(pid, os.WNOHANG)
            if got == pid:
                status = st
            else:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return "hang", time.monotonic() - t0
    finally:
        for conn in conns:
            with contextlib.suppress(KeyError, ValueError):
                sel.unregister(conn.sock)
            conn.sock.close()
        sel.close()
        os.close(rfd)
    seconds = time.monotonic() - t0
    if os.WIFSIGNALED(status):
        return f"crash:{signal.Signals(os.WTERMSIG(status)).name}", seconds
    text = report.decode("utf-8", "replace").strip()
    if not text:
        return f"bad:exit {os.WEXITSTATUS(status)} without a report", seconds
    if text.startswith("BAD:"):
        return "bad:" + text[4:], seconds
    return text, seconds


def _serve(sel: selectors.BaseSelector, conn: _Conn, triggers: frozenset, reply: bytes, close: bool) -> None:
    try:
        data = conn.sock.recv(65536)
    except (BlockingIOError, InterruptedError):
        return
    except OSError:
        data = b""
    if not data:
        sel.unregister(conn.sock)
        conn.sock.close()
        return
    out = b""
    shut = False
    for command, args in conn.reader.feed(data):
        if command in triggers and not conn.triggered:
            conn.triggered = True
            out += reply
            shut = close
            break
        out += w.default_answer(command, args, HANDLE)
    if out:
        try:
            conn.sock.setblocking(True)
            conn.sock.settimeout(1.0)
            conn.sock.sendall(out)
            conn.sock.setblocking(False)
        except OSError:
            shut = True
    if shut:
        sel.unregister(conn.sock)
        with contextlib.suppress(OSError):
            conn.sock.shutdown(socket.SHUT_RDWR)
        conn.sock.close()


# -- driver -----------------------------------------------------------------------------------------


def _acceptable(kind: str) -> bool:
    return not (kind == "hang" or kind.startswith(("crash", "bad")))


def run(cases: int, seed: int, progress: bool = False, shard: Tuple[int, int] = (0, 1)) -> Dict[str, object]:
    import gearman_xs  # noqa: F401  (imported once, before the forks)

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    kinds: Dict[str, int] = {}
    per_op: Dict[str, Dict[str, int]] = {}
    failures: List[Dict[str, object]] = []
    slowest = 0.0
    total = 0
    t0 = time.monotonic()
    plan: List[Tuple[str, str, bytes, bool, int]] = []
    for name, reply, close in regression_cases():
        for op in OPERATIONS:
            plan.append((op, "known:" + name, reply, close, -1))
    for i in range(cases):
        case = make_case(seed, i)
        plan.append((case.op, case.family, case.reply, case.close, i))
    plan = plan[shard[0]::shard[1]]
    try:
        for n, (op, family, reply, close, index) in enumerate(plan):
            kind, seconds = run_case(listener, port, op, reply, close)
            total += 1
            slowest = max(slowest, seconds)
            kinds[kind] = kinds.get(kind, 0) + 1
            per_op.setdefault(op, {})
            per_op[op][kind] = per_op[op].get(kind, 0) + 1
            if not _acceptable(kind):
                failure = {"index": index, "op": op, "family": family, "kind": kind, "close": close,
                           "reply": reply[:200].hex()}
                failures.append(failure)
                print("FAILURE", json.dumps(failure), file=sys.stderr, flush=True)
            if progress and n % 500 == 0:
                print(f"  {n}/{len(plan)} cases, {len(failures)} failures, "
                      f"{time.monotonic() - t0:.0f}s", file=sys.stderr, flush=True)
    finally:
        listener.close()
    return {
        "seed": seed,
        "cases": total,
        "crashes": sum(v for k, v in kinds.items() if k.startswith("crash")),
        "hangs": kinds.get("hang", 0),
        "bad": sum(v for k, v in kinds.items() if k.startswith("bad")),
        "kinds": dict(sorted(kinds.items(), key=lambda kv: -kv[1])),
        "per_op": per_op,
        "failures": failures[:50],
        "seconds": round(time.monotonic() - t0, 1),
        "slowest_case_s": round(slowest, 2),
    }


def print_table(summary: Dict[str, object]) -> None:
    print(f"fuzz: {summary['cases']} cases (seed {summary['seed']}) in {summary['seconds']} s: "
          f"{summary['crashes']} crashes, {summary['hangs']} hangs, {summary['bad']} other failures; "
          f"slowest case {summary['slowest_case_s']} s")
    print("| outcome | cases |")
    print("|---|---:|")
    for kind, count in summary["kinds"].items():  # type: ignore[attr-defined]
        print(f"| {kind} | {count} |")
    for failure in summary["failures"]:  # type: ignore[attr-defined]
        print("FAILURE", json.dumps(failure))


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--op", action="append", help="only these operations (repeatable)")
    parser.add_argument("--shard", default="0/1", help="K/N: run every N-th case from the K-th")
    args = parser.parse_args(argv)
    if args.op:
        for name in list(OPERATIONS):
            if name not in args.op:
                del OPERATIONS[name]
    k, n = (int(x) for x in args.shard.split("/"))
    summary = run(args.cases, args.seed, progress=not args.json, shard=(k, n))
    if args.json:
        print(json.dumps(summary))
    else:
        print_table(summary)
    return 0 if summary["crashes"] == summary["hangs"] == summary["bad"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
