"""The build: one clear line when libgearman is missing, and our C (csrc/) free of compiler warnings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run_build_script(env_changes: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **env_changes}
    return subprocess.run(
        [sys.executable, "-c", "import build_ffi"], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=120,
    )


def test_missing_headers_give_one_clear_line() -> None:
    if not (ROOT / "build_ffi.py").exists():  # installed-package test runs have no source tree
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
        pytest.skip("needs the source tree")
    proc = _run_build_script({"PKG_CONFIG_LIBDIR": "/nonexistent"})
    assert proc.returncode == 0, proc.stderr


SHIMS = sorted(p.name for p in (ROOT / "csrc").glob("*.[ch]")) if (ROOT / "csrc").is_dir() else []


def _gearman_cflags() -> list[str]:
    proc = subprocess.run(
        ["pkg-config", "--cflags", "gearmand"], capture_output=True, text=True, check=False
    )
    return proc.stdout.split() if proc.returncode == 0 else []


@pytest.mark.parametrize("name", SHIMS)
def test_csrc_compiles_without_warnings(name: str, tmp_path: Path) -> None:
    """Each csrc/*.c (and each of its headers on its own) compiles with -Wall -Wextra -Werror.

    The build itself never adds -Werror (cffi's generated file may warn on some compilers); this
    test is where warnings in our own C are errors.
    """
    cc = os.environ.get("CC", "cc").split()
    src = ROOT / "csrc" / name
    if name.endswith(".h"):  # a header must compile when included first and alone
        unit = tmp_path / "unit.c"
        unit.write_text(f'#include "{name}"\n')
        src = unit
    cmd = [*cc, "-Wall", "-Wextra", "-Werror", "-O2", "-c", str(src), f"-I{ROOT / 'csrc'}",
           *_gearman_cflags(), "-o", str(tmp_path / "unit.o")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stderr}"


def test_every_c_file_is_wired_into_the_build() -> None:
    """Each csrc/X.c is compiled (SHIM_SOURCES), each csrc/decl/X.h is read (DECL_FILES), and the
    generated module includes csrc/X.h for every shim it declares (else its calls compile as
    implicit declarations and crash at run time)."""
    if not (ROOT / "build_ffi.py").exists():
        pytest.skip("needs the source tree")
    code = "import build_ffi, json; print(json.dumps([build_ffi.DECL_FILES, build_ffi.SHIM_SOURCES]))"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    decl_files, shim_sources = json.loads(proc.stdout)
    csrc = ROOT / "csrc"
    assert sorted(shim_sources) == sorted(p.name for p in csrc.glob("*.c"))
    assert sorted(decl_files) == sorted(p.name for p in (csrc / "decl").glob("*.h"))
    module_h = (csrc / "module.h").read_text()
    for name in decl_files:
        if (csrc / name).exists():
            assert f'#include "{name}"' in module_h, name
