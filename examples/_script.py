"""What the six example scripts share, as the Perl originals share Getopt::Std and their boilerplate.

Not an example itself: each script imports it as ``_script`` (Python puts the running script's
directory first on ``sys.path``, so this works from any working directory).

- ``getopts(spec, ...)``: Getopt::Std's ``getopts("h:p:t:", \\%opts)`` on argparse: one letter per
  option, ``:`` after a letter that takes a value. ``-h`` is the job server host (there is no
  ``--help``); ``-p`` is the port as given, a string of digits that add_server() takes as Perl's
  does; every other option with a value is an integer. A bad option prints argparse's complaint to
  stderr and the script's usage text to stdout, like a missing ``<string>``.
- ``add_server(...)``: ``add_server(host, port)`` with the options' host and port, printing the
  error on failure.
- ``write_line(...)``: prints bytes unchanged, as Perl prints byte strings.
- ``run(main)``: the exit code of ``main()``; 130 on Ctrl-C, without a traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, List, NoReturn, Optional, Sequence, Union

from gearman_xs import Client, GearmanError, Worker

#: The long names of the options the examples have (the attributes of ``getopts()``'s result).
OPTION_NAMES = {
    "h": "host",
    "p": "port",
    "c": "count",
    "t": "timeout",
    "d": "data",
    "s": "status",
    "u": "unique",
}

#: The synopsis and the option lines of the usage text of most examples.
STRING_SYNOPSIS = "[-h <host>] [-p <port>] <string>"
HOST_PORT_LINES = ("-h <host> - job server host", "-p <port> - job server port")


class _UsageError(Exception):
    """A bad option: getopts() prints the usage text and returns None."""


class _Parser(argparse.ArgumentParser):
    """Getopt::Std-like options: -h is the host (no --help), errors raise _UsageError."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def _digits(text: str) -> str:
    """``-p``: a string of digits, passed to add_server() as it is (add_server checks the range)."""
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"port must be a string of digits, not {text!r}")
    return text


def usage(synopsis: str, lines: Sequence[str]) -> None:
    """Prints the Perl script's usage text to stdout: an empty line, ``usage: $0 SYNOPSIS``, then
    each of ``lines`` after a tab."""
    print(f"\nusage: {sys.argv[0]} {synopsis}")
    for line in lines:
        print(f"\t{line}")


def getopts(
    spec: str,
    argv: Optional[List[str]],
    synopsis: str = STRING_SYNOPSIS,
    lines: Sequence[str] = HOST_PORT_LINES,
    string: bool = True,
) -> Optional[argparse.Namespace]:
    """Parses ``argv`` (``sys.argv[1:]`` when None) by ``spec``; returns None after printing the
    usage text for a bad option or, with ``string``, a missing ``<string>``.

    The result has one attribute per option, named by ``OPTION_NAMES`` (the host defaults to
    ``""``, the port to ``"0"``, the other values to 0, the flags to False), and ``args``: the
    arguments after the options, a leading ``--`` removed (with ``string``, ``args[0]`` is the
    string).
    """
    parser = _Parser(add_help=False)
    for i, letter in enumerate(spec):
        if letter == ":":
            continue
        dest = OPTION_NAMES[letter]
        if spec[i + 1 : i + 2] != ":":
            parser.add_argument(f"-{letter}", dest=dest, action="store_true")
        elif letter == "h":
            parser.add_argument("-h", dest=dest, default="")
        elif letter == "p":
            parser.add_argument("-p", dest=dest, type=_digits, default="0")
        else:
            parser.add_argument(f"-{letter}", dest=dest, type=int, default=0)
    parser.add_argument("args", nargs=argparse.REMAINDER)
    try:
        opts = parser.parse_args(argv)
    except _UsageError as e:
        print(e, file=sys.stderr)
        usage(synopsis, lines)
        return None
    if opts.args[:1] == ["--"]:
        opts.args = opts.args[1:]
    if string and not opts.args:
        usage(synopsis, lines)
        return None
    return opts


def error(e: Exception) -> int:
    """Prints ``e`` (a GearmanError reads ``GEARMAN_*: libgearman's text``) to stderr; returns 1,
    the exit code."""
    print(e, file=sys.stderr, flush=True)
    return 1


def add_server(connection: Union[Client, Worker], opts: argparse.Namespace) -> bool:
    """``connection.add_server(host, port)`` with the options' ``-h`` and ``-p`` (libgearman's
    defaults, localhost:4730, when not given); prints the error and returns False on failure."""
    try:
        connection.add_server(opts.host or None, opts.port)
    except (GearmanError, ValueError) as e:
        error(e)
        return False
    return True


def write_line(*parts: object) -> None:
    """Prints ``parts`` as one line; bytes are written as they are (Perl prints byte strings
    unchanged), anything else as ``str()``."""
    line = b"".join(p if isinstance(p, bytes) else str(p).encode("utf-8", "surrogateescape") for p in parts)
    sys.stdout.flush()
    sys.stdout.buffer.write(line + b"\n")
    sys.stdout.buffer.flush()


def run(main: Callable[[], int]) -> NoReturn:
    """Exits with ``main()``'s return value; on Ctrl-C with 130 (the shell's code for SIGINT)
    and no traceback."""
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
