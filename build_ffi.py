"""Builds ``gearman_xs._libgearman``: cffi API mode, out of line, against the system libgearman.

setuptools runs this through ``cffi_modules`` (see setup.py); ``python build_ffi.py`` builds the
extension in place for development. This file holds only the build logic; the C lives in ``csrc/``:

``csrc/decl/*.h``
    What cffi sees (``ffi.cdef``), read in the order of ``DECL_FILES`` below: libgearman's API
    grouped like its headers (``/usr/include/libgearman-1.0/*.h``: types.h, util.h, client.h,
    task.h, worker.h, job.h), the ``extern "Python"`` callbacks (callbacks.h), then one file per C
    shim mirroring that shim's own header. Enum members, ``#define`` values and the shims' struct
    layout are written as ``...`` so that the C compiler fills them in from the real headers: no
    value is typed in by hand. Three functions that the 1.1.20 headers declare are not exported by
    ``libgearman.so.8`` (``gearman_worker_set_ssl``, ``gearman_worker_shutdown_handle``,
    ``gearman_client_namespace``); declaring them would make the import fail, so they are left out.
``csrc/*.c`` and their ``csrc/*.h``
    The C shims, each compiled as its own unit and linked into the extension (``SHIM_SOURCES``):
    worker_trampoline.c (the worker function's trampoline), client_acc.c (``do*()`` results
    collected in C, task-callback installer, epoch submit), socket_buffers.c (libgearman's
    setsockopt GOT slot), conn_watch.c (libgearman's connect GOT slot: the Client's connection fd,
    see client.py), tls_verify.c (libgearman's SSL_set_connect_state GOT slot: server certificates
    verified, see _tls.py), net_guard.c (the packet guard on libgearman's recv and socket GOT
    slots), aio.c (the AsyncClient's job outcomes, and libgearman's poll GOT slot: a wait that a
    wake-up pipe interrupts, see _aio_engine.py). ``csrc/callbacks.h`` declares the Python
    callbacks they call; ``csrc/module.h`` is the head of cffi's generated module. Our C must
    compile with ``-Wall -Wextra``: tests/test_build.py compiles each file with ``-Werror`` (the
    build never does). New C goes into a new or existing ``csrc/*.c`` plus its ``csrc/decl/`` mirror.

Where to find libgearman: ``pkg-config gearmand`` (the .pc file is called gearmand, not libgearman);
without pkg-config, ``libraries=["gearman"]`` plus the ``GEARMAN_INCLUDE`` / ``GEARMAN_LIB`` environment
variables that Gearman::XS's Makefile.PL reads. A missing library stops the build with one line that
names the package to install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

from cffi import FFI

MODULE = "gearman_xs._libgearman"

INSTALL_HINT = (
    "gearman_xs needs the libgearman headers and library: install libgearman-dev "
    "(Debian/Ubuntu: apt-get install libgearman-dev pkg-config) or libgearman-devel "
    "(RHEL/CentOS: enable EPEL, then dnf install libgearman-devel), or point GEARMAN_INCLUDE and "
    "GEARMAN_LIB at a libgearman installation."
)

HERE = os.path.dirname(os.path.abspath(__file__))

# The cdefs, in the order cffi reads them (each file may use the types of the files before it).
DECL_FILES = [
    "types.h",              # return.h, constants.h, the interface types, protocol.h, limits.h ...
    "util.h",               # strerror/util/kill/status/task_attr/result, libc malloc/free
    "client.h",             # client.h, client_callbacks.h, cancel.h, execute.h
    "task.h",
    "worker.h",
    "job.h",
    "callbacks.h",          # extern "Python": C calling into gearman_xs
    "worker_trampoline.h",  # the C shims, one cdef file per csrc/*.c
    "client_acc.h",
    "socket_buffers.h",
    "conn_watch.h",
    "library.h",
    "tls_verify.h",
    "net_guard.h",
    "aio.h",
]

# The C shims compiled and linked into the extension next to cffi's generated module.
SHIM_SOURCES = [
    "worker_trampoline.c", "client_acc.c", "socket_buffers.c", "conn_watch.c", "library.c",
    "tls_verify.c", "net_guard.c", "aio.c",
]


def _read(*parts: str) -> str:
    with open(os.path.join(HERE, "csrc", *parts), encoding="utf-8") as f:
        return f.read()


def _pkg_config_available() -> bool:
    if shutil.which("pkg-config") is None:
        return False
    return (
        subprocess.run(
            ["pkg-config", "--exists", "gearmand"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        ).returncode
        == 0
    )


def _fallback_dirs(variable: str) -> list[str]:
    value = os.environ.get(variable, "")
    return [d for d in value.split(os.pathsep) if d]


def _libgearman_dirs() -> tuple[bool, list[str], list[str]]:
    """(found through pkg-config, include directories, library directories)."""
    if not _pkg_config_available():
        return False, _fallback_dirs("GEARMAN_INCLUDE"), _fallback_dirs("GEARMAN_LIB")
    flags = []
    for option in ("--cflags-only-I", "--libs-only-L"):
        flags.append(subprocess.run(
            ["pkg-config", option, "gearmand"], capture_output=True, text=True, check=False,
        ).stdout.split())
    return True, [f[2:] for f in flags[0]], [f[2:] for f in flags[1]]


def _start_probe(name: str, include_dirs: list[str], library_dirs: list[str],
                 tmp: str) -> subprocess.Popen[bytes] | None:
    """Starts compiling and linking csrc/probes/NAME.c against libgearman (None if the compiler
    cannot be started). The program is never run, so cross builds stay possible."""
    cc = os.environ.get("CC", "cc").split()
    cmd = [*cc, os.path.join(HERE, "csrc", "probes", f"{name}.c"), "-o", os.path.join(tmp, name)]
    cmd += [f"-I{d}" for d in include_dirs] + [f"-L{d}" for d in library_dirs] + ["-lgearman"]
    try:
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError:
        return None


def _probe(names: list[str], include_dirs: list[str], library_dirs: list[str]) -> list[str]:
    """The names of the probes that compile and link, all compiled at once."""
    with tempfile.TemporaryDirectory() as tmp:
        procs = {n: _start_probe(n, include_dirs, library_dirs, tmp) for n in names}
        return [n for n, proc in procs.items() if proc is not None and proc.wait() == 0]


def _check_libgearman(include_dirs: list[str], library_dirs: list[str]) -> None:
    """Stops the build with one clear line when gearman.h or libgearman.so cannot be used."""
    if not _probe(["libgearman"], include_dirs, library_dirs):
        raise SystemExit(f"error: {INSTALL_HINT}")


def _optional_features(include_dirs: list[str], library_dirs: list[str]) -> list[str]:
    """The optional declarations this libgearman has: each csrc/probes/NAME.c (but the required
    libgearman.c) that compiles and links names a csrc/decl/optional/NAME.h to add."""
    names = sorted(n[:-2] for n in os.listdir(os.path.join(HERE, "csrc", "probes"))
                   if n.endswith(".c") and n != "libgearman.c")
    return _probe(names, include_dirs, library_dirs)


def _library_file(library_dirs: list[str]) -> str:
    """The libgearman.so the linker takes, resolved to the real file: the first of the -L
    directories that has one, else LIBRARY_PATH's, else the compiler's own search path
    (``cc -print-file-name``). "" when none is found (then nothing is checked at import)."""
    for d in [*library_dirs, *_fallback_dirs("LIBRARY_PATH")]:
        path = os.path.join(d, "libgearman.so")
        if os.path.exists(path):
            return os.path.realpath(path)
    cc = os.environ.get("CC", "cc").split()
    try:
        path = subprocess.run([*cc, "-print-file-name=libgearman.so"], capture_output=True,
                              text=True, check=False).stdout.strip()
    except OSError:
        return ""
    return os.path.realpath(path) if os.path.isabs(path) and os.path.exists(path) else ""


def _run_path(library_dirs: list[str]) -> list[str]:
    """The library directories to record as the extension's run path (DT_RUNPATH): every -L
    directory but the ones the dynamic loader searches anyway. pkg-config already leaves its
    system directories out of --libs-only-L; /lib and /usr/lib (and lib64) are dropped here too."""
    system = {"/lib", "/usr/lib", "/lib64", "/usr/lib64"}
    return [d for d in library_dirs if os.path.realpath(d) not in system]


def _c_string(text: str) -> str:
    """A C string literal of ``text`` (a path), octal escapes for anything but plain ASCII."""
    out = []
    for byte in os.fsencode(text):
        ch = chr(byte)
        out.append(ch if 32 <= byte < 127 and ch not in '"\\?' else f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def make_ffibuilder() -> FFI:
    pkg_config, include_dirs, library_dirs = _libgearman_dirs()
    # Probe first: a .pc file without the headers (a half-removed package) must still give the
    # one-line message, not a compiler traceback.
    _check_libgearman(include_dirs, library_dirs)
    features = _optional_features(include_dirs, library_dirs)

    builder = FFI()
    for name in DECL_FILES:
        builder.cdef(_read("decl", name))
    for name in features:
        builder.cdef(_read("decl", "optional", f"{name}.h"))
    # Relative to the project root: setuptools runs here, and compile() below chdirs here.
    extension = {
        "sources": [f"csrc/{name}" for name in SHIM_SOURCES],
        "include_dirs": ["csrc"],
        "depends": [f"csrc/{name}" for name in sorted(os.listdir(os.path.join(HERE, "csrc")))
                    if name.endswith((".c", ".h"))],
        "runtime_library_dirs": _run_path(library_dirs),
        "define_macros": [("GXS_BUILD_LIBGEARMAN", _c_string(_library_file(library_dirs)))],
    }
    if pkg_config:
        builder.set_source_pkgconfig(MODULE, ["gearmand"], _read("module.h"), **extension)
    else:
        builder.set_source(
            MODULE,
            _read("module.h"),
            libraries=["gearman"],
            include_dirs=[*extension.pop("include_dirs"), *include_dirs],
            library_dirs=library_dirs,
            **extension,
        )
    return builder


ffibuilder = make_ffibuilder()

if __name__ == "__main__":
    # In-place development build: writes gearman_xs/_libgearman*.so next to the sources.
    ffibuilder.compile(tmpdir=os.path.dirname(os.path.abspath(__file__)), verbose=False)
