"""The libgearman gearman_xs was built against is the one it loaded: checked at import.

The build (build_ffi.py) records the real path of the libgearman.so it linked
(``gxs_build_libgearman()``) and, for a libgearman outside the loader's default directories, its
directory as the extension's run path. At import, this module asks which object holds
``gearman_version()`` (``gxs_loaded_libgearman()``, csrc/library.c) and raises ImportError when
the two files are not in the same directory: the headers the extension was compiled with came from
another libgearman (e.g. built with ``PKG_CONFIG_PATH=/opt/gearman/lib/pkgconfig`` and run with
``LD_LIBRARY_PATH`` pointing elsewhere, or with /opt/gearman removed). Directories are compared,
not files or versions: a distribution's update of the same library keeps working, and upstream
source builds report an empty version string.

``GEARMAN_XS_SKIP_LIBRARY_CHECK=1`` skips the check (for repackaged wheels whose library moved).
"""

from __future__ import annotations

import os

SKIP_VARIABLE = "GEARMAN_XS_SKIP_LIBRARY_CHECK"

REINSTALL = (
    "reinstall gearman_xs against the libgearman you run (pip install --force-reinstall "
    "--no-binary gearman_xs gearman_xs, with PKG_CONFIG_PATH set to its lib/pkgconfig)"
)

try:
    from ._libgearman import ffi, lib
except ImportError as error:
    # A libgearman without a symbol the headers declared (e.g. built against 2.0.0, loaded
    # 1.1.20 through LD_LIBRARY_PATH): the loader refuses the module before check() can run.
    if "undefined symbol" not in str(error):
        raise
    raise ImportError(
        f"{error}: gearman_xs was compiled against a libgearman that has this symbol, but the "
        f"dynamic loader found another libgearman.so without it (check LD_LIBRARY_PATH), or "
        f"{REINSTALL}"
    ) from error


def built_against() -> str:
    """The real path of the libgearman.so the extension was linked with ("" if the build could not
    tell)."""
    return str(ffi.string(lib.gxs_build_libgearman()).decode("utf-8", "surrogateescape"))


def loaded() -> str:
    """The path of the loaded libgearman as the dynamic loader reports it ("" if not found)."""
    buf = ffi.new("char[]", 4096)
    if lib.gxs_loaded_libgearman(buf, len(buf)) != 0:
        return ""
    return str(ffi.string(buf).decode("utf-8", "surrogateescape"))


def mismatch(built: str, found: str) -> str | None:
    """The ImportError message when ``found`` (the loaded library) is not in the directory of
    ``built``; None when they match or either is unknown."""
    if not built or not found:
        return None
    built_dir = os.path.dirname(os.path.realpath(built))
    found_dir = os.path.dirname(os.path.realpath(found))
    if built_dir == found_dir:
        return None
    return (
        f"gearman_xs was compiled against the libgearman in {built_dir} ({built}) but the dynamic "
        f"loader gave it {found}: the headers and the library differ. Make the loader find "
        f"{built_dir} first (remove LD_LIBRARY_PATH entries that point elsewhere, or restore that "
        f"libgearman), or {REINSTALL}. {SKIP_VARIABLE}=1 skips this check."
    )


def check() -> None:
    """Raises ImportError when the loaded libgearman is not the one gearman_xs was built against."""
    if os.environ.get(SKIP_VARIABLE, "") not in ("", "0"):
        return
    message = mismatch(built_against(), loaded())
    if message is not None:
        raise ImportError(message)


check()
