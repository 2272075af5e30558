"""Optional libgearman declarations are detected at build time and exposed as flags (issue 12).

Each flag of ``gearman_xs._features`` is compared with evidence gathered independently of the
build's probes: the installed headers' text (pkg-config's includedir) and the symbols the loaded
library exports (ctypes), and its DT_NEEDED entries (readelf) for ``SSL``.
"""

from __future__ import annotations

import ctypes
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from gearman_xs._libgearman import lib

import gearman_xs
from gearman_xs import _features, _library


def _pkg_config(variable: str) -> str:
    return subprocess.run(["pkg-config", f"--variable={variable}", "gearmand"], capture_output=True,
                          text=True, timeout=60, check=False).stdout.strip()


def _headers() -> str:
    """The text of the libgearman headers the installed gearman_xs was compiled with."""
    if shutil.which("pkg-config") is None:
        pytest.skip("needs pkg-config")
    libdir, include_dir = _pkg_config("libdir"), _pkg_config("includedir")
    built = _library.built_against()
    if not libdir or not built or Path(libdir).resolve() != Path(built).parent:
        pytest.skip("gearman_xs was not built against pkg-config's libgearman")
    headers = sorted(Path(include_dir, "libgearman-1.0").glob("*.h"))
    assert headers, include_dir
    return "\n".join(h.read_text(errors="replace") for h in headers)


def _exported(symbol: str) -> bool:
    return hasattr(ctypes.CDLL(_library.loaded()), symbol)


@pytest.mark.parametrize("side", ["client", "worker"])
def test_stop_wait_on_signal_flag_matches_the_headers(side: str) -> None:
    name = f"GEARMAN_{side.upper()}_STOP_WAIT_ON_SIGNAL"
    in_headers = re.search(rf"\b{name}\b", _headers()) is not None
    assert getattr(_features, f"{side.upper()}_STOP_WAIT_ON_SIGNAL") is in_headers
    assert hasattr(lib, name) is in_headers
    if in_headers:  # the value comes from the headers: an option bit, as 2.0.0's (1 << 10 / 13)
        value = getattr(lib, name)
        assert value > 0 and value & (value - 1) == 0


@pytest.mark.parametrize("side", ["client", "worker"])
def test_set_ssl_flag_means_declared_and_exported(side: str) -> None:
    name = f"gearman_{side}_set_ssl"
    declared = re.search(rf"\b{name}\s*\(", _headers()) is not None
    expected = declared and _exported(name)
    assert getattr(_features, f"{side.upper()}_SET_SSL") is expected
    assert hasattr(lib, name) is expected


def test_ssl_flag_matches_the_loaded_library_dependencies() -> None:
    if shutil.which("readelf") is None:
        pytest.skip("needs readelf")
    out = subprocess.run(["readelf", "-d", _library.loaded()], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)
    assert needed, out
    assert _features.SSL is any(n.startswith(("libssl.", "libwolfssl.")) for n in needed)


def test_debian_1_1_20_flags() -> None:
    """Debian 12's libgearman8 1.1.20: the client's set_ssl exported (no SSL inside), the worker's
    declared but not exported, no STOP_WAIT_ON_SIGNAL."""
    if gearman_xs.version() != "1.1.20+ds":
        pytest.skip("not Debian's libgearman 1.1.20")
    assert _features.detected() == {
        "CLIENT_STOP_WAIT_ON_SIGNAL": False,
        "WORKER_STOP_WAIT_ON_SIGNAL": False,
        "CLIENT_SET_SSL": True,
        "WORKER_SET_SSL": False,
        "SSL": False,
    }
