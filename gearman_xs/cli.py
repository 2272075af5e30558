"""``gearman-xs`` / ``python -m gearman_xs``: gearadmin's and gearman's jobs, with exit codes that mean
something.

Exit status: 0 on success, 1 when any server or job failed (unreachable, timeout, ``ERR`` reply,
malformed reply, job failure), 2 for a usage error, 130 after Ctrl-C (except in ``--watch``, which
Ctrl-C ends normally). The C tools exit 0 on most of these.
Servers: ``--servers h:p,h2:p2``, or ``-h/--host`` and ``-p/--port`` (like gearadmin; ``--help``
is the help flag), else ``$GEARMAN_SERVERS``, else localhost:4730. Every server is asked and the
answers are kept apart (a SERVER column, or one JSON key per server).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime
from typing import IO, Any, Callable, Dict, List, Optional, Sequence, TextIO, Tuple, Union

from . import _args
from ._libgearman import lib
from .admin import (
    DEFAULT_PORT,
    DEFAULT_TIMEOUT,
    Admin,
    AdminError,
    AdminGroup,
    AdminGroupError,
    FunctionStatus,
    JobInfo,
    PriorityStatus,
    WorkerInfo,
    parse_servers,
)
from .cli_jobs import add_job_commands, run_submit, run_worker
from .errors import GearmanError

__all__ = ["main", "build_parser"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A usage mistake found after parsing (exit status 2)."""


# -- argument parsing ---------------------------------------------------------------------------------------


def _port(text: str) -> int:
    """-p/--port: digits only, 0 to 65535 (0: the default port), as Worker/Client.add_server()."""
    try:
        return _args.port(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _common() -> argparse.ArgumentParser:
    """Options accepted both before and after the command (SUPPRESS: unset ones stay unset)."""
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    group = common.add_argument_group("server and output options")
    group.add_argument("-h", "--host", help="server host (default localhost; -h is not help, use --help)")
    group.add_argument("-p", "--port", type=_port, help=f"server port (default {DEFAULT_PORT})")
    group.add_argument("--servers", help="several servers, 'h:p,h2:p2' (default $GEARMAN_SERVERS)")
    group.add_argument("--timeout", type=float, metavar="SECONDS",
                       help=f"bound for each server command (default {DEFAULT_TIMEOUT:g})")
    group.add_argument("--json", action="store_true", help="print JSON instead of tables")
    group.add_argument("--help", action="help", help="show this help and exit")
    return common


def _watch_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-w", "--watch", action="store_true", default=False,
                        help="refresh like top (Ctrl-C ends)")
    parser.add_argument("--interval", type=float, default=2.0, metavar="SECONDS",
                        help="seconds between refreshes (default 2)")
    parser.add_argument("--count", type=int, default=None, metavar="N", help="stop after N refreshes")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``gearman-xs``."""
    common = _common()
    parser = argparse.ArgumentParser(
        prog="gearman-xs", add_help=False, parents=[common],
        description="Monitor and drive gearmand job servers (like gearadmin and gearman, "
                    "with meaningful exit codes).",
        epilog="Exit status: 0 success, 1 any server or job failure, 2 usage error.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, parents=[common], add_help=False, help=help_text,
                                   description=help_text)

    _watch_options(add("status", "functions: jobs queued (running included), running, workers"))
    _watch_options(add("priority-status", "functions: jobs queued per priority, workers"))
    _watch_options(add("workers", "connections: fd, address, client id, functions"))
    _watch_options(add("jobs", "jobs: handle, retries, cancelled (ignored), queued"))
    add("unique-jobs", "unique ids of all jobs")
    add("version", "server version")
    add("getpid", "server process id")
    add("verbose", "server log level")
    cancel = add("cancel", "cancel a queued job (on whichever server holds it)")
    cancel.add_argument("handle")
    maxqueue = add("maxqueue", "limit a function's queue: N for all priorities, or HIGH NORMAL LOW; "
                               "none = unlimited; 0 = unlimited")
    maxqueue.add_argument("function")
    maxqueue.add_argument("sizes", nargs="*", type=int, metavar="N")
    create = add("create-function", "make a function known to the server")
    create.add_argument("function")
    drop = add("drop-function", "forget a function (refused while workers are connected)")
    drop.add_argument("function")
    send = add("send", "send any admin command and print the raw reply")
    send.add_argument("words", nargs="+", metavar="WORD")
    add_job_commands(add)
    return parser


def resolve_servers(args: argparse.Namespace, environ: Optional[Dict[str, str]] = None) -> str:
    """The server list from --servers, -h/-p, $GEARMAN_SERVERS, else localhost:4730."""
    env = os.environ if environ is None else environ
    servers = getattr(args, "servers", None)
    host = getattr(args, "host", None)
    port = getattr(args, "port", None)
    if servers is not None and (host is not None or port is not None):
        raise UsageError("--servers cannot be combined with -h/--host or -p/--port")
    if servers is not None:
        return str(servers)
    if host is not None or port is not None:
        h = host or "localhost"
        if ":" in h and not h.startswith("["):
            h = f"[{h}]"
        return f"{h}:{port or DEFAULT_PORT}"
    return env.get("GEARMAN_SERVERS") or f"localhost:{DEFAULT_PORT}"


# -- output ------------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain text table; numbers right-aligned."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    numeric = [bool(rows) and all(isinstance(row[i], int) for row in rows) for i in range(len(headers))]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for r in cells:
        parts = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(r, widths, numeric)]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines) + "\n"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


Row = Tuple[Any, ...]
#: command -> (headers, rows of one server's value)
VIEWS: Dict[str, Tuple[Tuple[str, ...], Callable[[Any], List[Row]]]] = {
    "status": (("FUNCTION", "QUEUED", "RUNNING", "WORKERS"),
               lambda v: [tuple(s) for s in v]),
    "priority-status": (("FUNCTION", "HIGH", "NORMAL", "LOW", "WORKERS"),
                        lambda v: [tuple(s) for s in v]),
    "workers": (("FD", "ADDRESS", "CLIENT-ID", "FUNCTIONS"),
                lambda v: [(w.fd, w.address, w.client_id, " ".join(w.functions)) for w in v]),
    "jobs": (("HANDLE", "RETRIES", "CANCELLED", "QUEUED"),
             lambda v: [(j.handle, j.retries, _yes(j.ignore_job), _yes(j.queued)) for j in v]),
    "unique-jobs": (("UNIQUE",), lambda v: [(u,) for u in v]),
}


def to_json(value: Any) -> Any:
    if isinstance(value, (FunctionStatus, PriorityStatus, JobInfo)):
        return value._asdict()
    if isinstance(value, WorkerInfo):
        d = value._asdict()
        d["functions"] = list(value.functions)
        return d
    if isinstance(value, list):
        return [to_json(v) for v in value]
    return "OK" if value is None else value


def error_json(error: GearmanError) -> Dict[str, Any]:
    out: Dict[str, Any] = {"error": type(error).__name__, "code": error.name, "message": error.message}
    if isinstance(error, AdminError):
        out["server_code"] = error.server_code
    return out


class Output:
    """Prints one command's per-server results and errors; remembers whether anything failed."""

    def __init__(self, as_json: bool, out: TextIO, err: TextIO) -> None:
        self.as_json = as_json
        self.out = out
        self.err = err
        self.failed = False

    def error(self, server: str, error: BaseException) -> None:
        self.failed = True
        text = str(error)
        self.err.write(f"gearman-xs: {text if server in text else f'{server}: {text}'}\n")

    def results(self, command: str, results: Dict[str, Union[Any, GearmanError]]) -> None:
        good = {s: v for s, v in results.items() if not isinstance(v, GearmanError)}
        bad = {s: v for s, v in results.items() if isinstance(v, GearmanError)}
        if self.as_json:
            doc = {s: error_json(v) if isinstance(v, GearmanError) else to_json(v)
                   for s, v in results.items()}
            self.out.write(json.dumps(doc, sort_keys=False) + "\n")
        elif command in VIEWS:
            headers, rows_of = VIEWS[command]
            if len(results) == 1:
                rows = [r for v in good.values() for r in rows_of(v)]
                if good:
                    self.out.write(table(headers, rows))
            else:
                rows = [(s, *r) for s, v in good.items() for r in rows_of(v)]
                self.out.write(table(("SERVER", *headers), rows))
        else:
            for server, value in good.items():
                text = "OK" if value is None else str(value)
                if command == "send":
                    self.out.write(text if len(results) == 1 else f"== {server}\n{text}")
                else:
                    self.out.write(text + "\n" if len(results) == 1 else f"{server}\t{text}\n")
        for server, error in bad.items():
            self.error(server, error)
        self.out.flush()


# -- commands ------------------------------------------------------------------------------------


def _query(command: str, args: argparse.Namespace) -> Callable[[Admin], Any]:
    calls: Dict[str, Callable[[Admin], Any]] = {
        "status": Admin.status,
        "priority-status": Admin.priority_status,
        "workers": Admin.workers,
        "jobs": Admin.show_jobs,
        "unique-jobs": Admin.show_unique_jobs,
        "version": Admin.version,
        "getpid": Admin.getpid,
        "verbose": Admin.verbose,
    }
    if command in calls:
        return calls[command]
    if command == "create-function":
        return lambda a: a.create_function(args.function)
    if command == "drop-function":
        return lambda a: a.drop_function(args.function)
    if command == "send":
        return lambda a: a.send(" ".join(args.words))
    if command == "maxqueue":
        sizes = args.sizes
        if len(sizes) not in (0, 1, 3):
            raise UsageError("maxqueue takes FUNCTION [N | HIGH NORMAL LOW]")
        if any(n < 0 for n in sizes):
            raise UsageError("maxqueue sizes must be >= 0 (0 = unlimited)")
        if len(sizes) == 3:
            return lambda a: _maxqueue(a, args.function, *sizes)
        return lambda a: _maxqueue(a, args.function, sizes[0] if sizes else None)
    raise UsageError(f"unknown command {command!r}")  # pragma: no cover - argparse refuses first


def _maxqueue(admin: Admin, function: str, high: Optional[int], normal: Optional[int] = None,
              low: Optional[int] = None) -> None:
    admin.maxqueue(function, high, normal, low)
    # gearmand answers OK but ignores maxqueue for a function it does not know yet.
    if not any(s.function == function for s in admin.status()):
        raise GearmanError(
            lib.GEARMAN_INVALID_FUNCTION_NAME,
            f"gearmand ignores maxqueue for {function!r}, a function it does not know; "
            f"run create-function {function} first",
        )


def run_admin(args: argparse.Namespace, group: AdminGroup, output: Output) -> int:
    command = args.command
    if command == "cancel":
        try:
            server = group.cancel_job(args.handle)
        except AdminGroupError as exc:
            output.results(command, dict(exc.errors))
            return EXIT_FAILURE
        output.results(command, {server: None})
        return EXIT_OK
    call = _query(command, args)
    if not getattr(args, "watch", False):
        output.results(command, group.gather(call))
        return EXIT_FAILURE if output.failed else EXIT_OK
    return watch(command, call, group, output, args.interval, args.count)


def watch(command: str, call: Callable[[Admin], Any], group: AdminGroup, output: Output,
          interval: float, count: Optional[int]) -> int:
    """Refreshes ``command`` every ``interval`` seconds (``count`` times, or until Ctrl-C); the
    exit status is 1 when any refresh failed."""
    if interval <= 0:
        raise UsageError("--interval must be > 0")
    if count is not None and count < 1:
        raise UsageError("--count must be >= 1")
    clear = output.out.isatty() and not output.as_json
    done = 0
    try:
        while True:
            results = group.gather(call)
            if clear:
                output.out.write("\x1b[H\x1b[2J")
            if not output.as_json:
                stamp = datetime.now().strftime("%H:%M:%S")
                output.out.write(f"gearman-xs {command}  {', '.join(group.servers)}  {stamp}\n")
            output.results(command, results)
            done += 1
            if count is not None and done >= count:
                break
            if not output.as_json:
                output.out.write("\n")
            time.sleep(interval)
    except KeyboardInterrupt:
        pass
    return EXIT_FAILURE if output.failed else EXIT_OK


def run_job_command(args: argparse.Namespace, after: List[str], servers: str, stdin: Optional[IO[Any]],
                    out: TextIO, err: TextIO) -> int:
    """``submit`` and ``worker`` (gearman_xs.Client / gearman_xs.Worker)."""
    try:
        parse_servers(servers)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    # libgearman adds $GEARMAN_SERVERS to every client and worker by itself: the servers were
    # resolved above (it is the default there), so keep it from adding them a second time.
    os.environ.pop("GEARMAN_SERVERS", None)
    if args.command == "submit":
        if after:
            raise UsageError("'--' is only for worker FUNCTION -- COMMAND...")
        timeout = getattr(args, "timeout", None)
        if timeout is not None and not timeout > 0:
            raise UsageError("--timeout must be > 0")
        return run_submit(args, servers, timeout, stdin, out)
    if args.command_words and after:
        raise UsageError("give the worker command either after '--' or before it, not both")
    return run_worker(args, args.command_words or after, servers, out, err)


def main(argv: Optional[Sequence[str]] = None, *, stdin: Optional[IO[Any]] = None,
         stdout: Optional[TextIO] = None, stderr: Optional[TextIO] = None) -> int:
    """Runs ``gearman-xs`` with ``argv`` (default ``sys.argv[1:]``) and returns the exit status."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    words = list(sys.argv[1:] if argv is None else argv)
    after: List[str] = []
    if "--" in words:  # worker FUNCTION -- COMMAND...: the command is never parsed as options
        cut = words.index("--")
        words, after = words[:cut], words[cut + 1 :]
    parser = build_parser()
    try:
        args = parser.parse_args(words)
    except SystemExit as exc:  # --help (0) or a usage error (2)
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_USAGE
    try:
        servers = resolve_servers(args)
        timeout = getattr(args, "timeout", DEFAULT_TIMEOUT)
        if not timeout > 0:
            raise UsageError("--timeout must be > 0")
        if args.command in ("submit", "worker"):
            return run_job_command(args, after, servers, stdin, out, err)
        if after:
            raise UsageError("'--' is only for worker FUNCTION -- COMMAND...")
        try:
            group = AdminGroup(servers, timeout)
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
        output = Output(getattr(args, "json", False), out, err)
        with group:
            return run_admin(args, group, output)
    except UsageError as exc:
        err.write(f"gearman-xs: {exc}\n")
        return EXIT_USAGE
    except (TypeError, ValueError) as exc:  # bad names etc., refused before anything is sent
        err.write(f"gearman-xs: {exc}\n")
        return EXIT_USAGE
    except GearmanError as exc:  # admin errors are reported per server by Output
        err.write(f"gearman-xs: {exc}\n")
        return EXIT_FAILURE
    except BrokenPipeError:
        return EXIT_FAILURE
    except KeyboardInterrupt:
        err.write("gearman-xs: interrupted\n")
        return 130
