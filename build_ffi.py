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
    see client.py). ``csrc/callbacks.h`` declares the Python callbacks they call;
    ``csrc/module.h`` is the head of cffi's generated module. Our C must compile with ``-Wall
    -Wextra``: tests/test_build.py compiles each file with ``-Werror`` (the build never does).
    New C goes into a new or existing ``csrc/*.c`` plus its ``csrc/decl/`` mirror.

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
]

# The C shims compiled and linked into the extension next to cffi's generated module.
SHIM_SOURCES = ["worker_trampoline.c", "client_acc.c", "socket_buffers.c", "conn_watch.c"]


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


def _check_libgearman(include_dirs: list[str], library_dirs: list[str]) -> None:
    """Stops the build with one clear line when gearman.h or libgearman.so cannot be used."""
    cc = os.environ.get("CC", "cc").split()
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write(
                "#include <libgearman-1.0/gearman.h>\n"
                "int main(void) { return gearman_version() == 0; }\n"
            )
        cmd = [*cc, src, "-o", os.path.join(tmp, "probe")]
        cmd += [f"-I{d}" for d in include_dirs] + [f"-L{d}" for d in library_dirs] + ["-lgearman"]
        try:
            ok = subprocess.run(cmd, capture_output=True, check=False).returncode == 0
        except OSError:
            ok = False
    if not ok:
        raise SystemExit(f"error: {INSTALL_HINT}")


def make_ffibuilder() -> FFI:
    builder = FFI()
    for name in DECL_FILES:
        builder.cdef(_read("decl", name))
    # Relative to the project root: setuptools runs here, and compile() below chdirs here.
    extension = {
        "sources": [f"csrc/{name}" for name in SHIM_SOURCES],
        "include_dirs": ["csrc"],
        "depends": [f"csrc/{name}" for name in sorted(os.listdir(os.path.join(HERE, "csrc")))
                    if name.endswith((".c", ".h"))],
    }
    if _pkg_config_available():
        # Probe first: a .pc file without the headers (a half-removed package) must still give
        # the one-line message, not a compiler traceback.
        cflags = subprocess.run(
            ["pkg-config", "--cflags-only-I", "gearmand"], capture_output=True, text=True,
            check=False,
        ).stdout.split()
        libs = subprocess.run(
            ["pkg-config", "--libs-only-L", "gearmand"], capture_output=True, text=True,
            check=False,
        ).stdout.split()
        _check_libgearman([f[2:] for f in cflags], [f[2:] for f in libs])
        builder.set_source_pkgconfig(MODULE, ["gearmand"], _read("module.h"), **extension)
    else:
        include_dirs = _fallback_dirs("GEARMAN_INCLUDE")
        library_dirs = _fallback_dirs("GEARMAN_LIB")
        _check_libgearman(include_dirs, library_dirs)
        builder.set_source(
            MODULE,
            _read("module.h"),
            libraries=["gearman"],
            include_dirs=[*extension.pop("include_dirs"), *include_dirs],
            library_dirs=library_dirs,
            runtime_library_dirs=library_dirs,
            **extension,
        )
    return builder


ffibuilder = make_ffibuilder()

if __name__ == "__main__":
    # In-place development build: writes gearman_xs/_libgearman*.so next to the sources.
    ffibuilder.compile(tmpdir=os.path.dirname(os.path.abspath(__file__)), verbose=False)
