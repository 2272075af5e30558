"""The build stops with one line naming the package to install when libgearman is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run_build_script(env_changes: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **env_changes}
    return subprocess.run(
        [sys.executable, "-c", "import build_ffi"], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=120,
    )


def test_missing_headers_give_one_clear_line() -> None:
    if not (ROOT / "build_ffi.py").exists():  # installed-package test runs have no source tree
        import pytest

        pytest.skip("needs the source tree")
    # No pkg-config entry and a compiler that cannot see /usr/include: as on a machine without
    # libgearman-dev.
    proc = _run_build_script({"PKG_CONFIG_LIBDIR": "/nonexistent", "CC": "cc -nostdinc"})
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "libgearman-dev" in lines[0] and "libgearman-devel" in lines[0]
    assert "Traceback" not in proc.stderr


def test_fallback_without_pkg_config_finds_the_system_library() -> None:
    if not (ROOT / "build_ffi.py").exists():
        import pytest

        pytest.skip("needs the source tree")
    proc = _run_build_script({"PKG_CONFIG_LIBDIR": "/nonexistent"})
    assert proc.returncode == 0, proc.stderr
