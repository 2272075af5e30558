"""The libgearman gearman_xs is built against is the one it loads (issue 12).

A libgearman outside the default library path, found through its own .pc file: a copy of the
system's libgearman.so in a temporary prefix (same headers). gearman_xs is built from the source
tree against it (``python build_ffi.py`` in a copy of the tree), then imported in subprocesses:
the recorded run path makes it load the prefix's library; a different libgearman in front of it
(LD_LIBRARY_PATH) or the prefix gone makes ``import gearman_xs`` fail with a message naming both.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def _system_library() -> Path:
    cc = os.environ.get("CC", "cc").split()
    out = subprocess.run([*cc, "-print-file-name=libgearman.so"], capture_output=True, text=True,
                         check=True, timeout=60).stdout.strip()
    path = Path(out).resolve()
    if not path.is_file():
        pytest.skip("no libgearman.so in the compiler's library path")
    return path


def _make_prefix(prefix: Path, library: Path, include_dir: str) -> Path:
    """prefix/lib holds a copy of ``library`` (libgearman.so -> .so.8 -> the file) and a .pc file."""
    lib = prefix / "lib"
    (lib / "pkgconfig").mkdir(parents=True)
    shutil.copy2(library, lib / library.name)
    (lib / "libgearman.so.8").symlink_to(library.name)
    (lib / "libgearman.so").symlink_to("libgearman.so.8")
    (lib / "pkgconfig" / "gearmand.pc").write_text(
        f"prefix={prefix}\nlibdir={lib}\nincludedir={include_dir}\n\n"
        "Name: gearmand\nDescription: test copy\nVersion: 0.0.test\n"
        "Libs: -L${libdir} -lgearman\nCflags: -I${includedir}\n"
    )
    return lib


def _import(tree: Path, tmp: Path, **env_changes: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("LD_LIBRARY_PATH", "GEARMAN_XS_SKIP_LIBRARY_CHECK")}
    env.update(PYTHONPATH=str(tree), **env_changes)
    code = ("import gearman_xs, gearman_xs._library as l\n"
            "print(l.built_against()); print(l.loaded())")
    return subprocess.run([sys.executable, "-c", code], cwd=tmp, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(the source-tree copy with the built extension, the prefix's lib directory, a temp dir)."""
    if not (ROOT / "build_ffi.py").exists():
        pytest.skip("needs the source tree")
    pytest.importorskip("setuptools")  # cffi's compile() needs it on Python >= 3.12
    if shutil.which("pkg-config") is None:
        pytest.skip("needs pkg-config")
    include_dir = subprocess.run(["pkg-config", "--variable=includedir", "gearmand"],
                                 capture_output=True, text=True, timeout=60).stdout.strip()
    if not include_dir:
        pytest.skip("no gearmand.pc for the system libgearman")
    tmp = tmp_path_factory.mktemp("library_check")
    lib = _make_prefix(tmp / "prefix", _system_library(), include_dir)
    tree = tmp / "tree"
    tree.mkdir()
    shutil.copy2(ROOT / "build_ffi.py", tree)
    shutil.copytree(ROOT / "csrc", tree / "csrc")
    shutil.copytree(ROOT / "gearman_xs", tree / "gearman_xs",
                    ignore=shutil.ignore_patterns("_libgearman*", "__pycache__"))
    env = {**os.environ, "PKG_CONFIG_PATH": str(lib / "pkgconfig")}
    proc = subprocess.run([sys.executable, "build_ffi.py"], cwd=tree, env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr
    return tree, lib, tmp


def _runpath(extension: Path) -> list[str]:
    if shutil.which("readelf") is None:
        pytest.skip("needs readelf")
    out = subprocess.run(["readelf", "-d", str(extension)], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    paths: list[str] = []
    for line in out.splitlines():
        if "(RUNPATH)" in line or "(RPATH)" in line:
            paths += line.split("[", 1)[1].rstrip("]").split(":")
    return paths


def test_run_path_loads_the_library_built_against(built: tuple[Path, Path, Path]) -> None:
    tree, lib, tmp = built
    (extension,) = (tree / "gearman_xs").glob("_libgearman*.so")
    assert str(lib) in _runpath(extension)
    proc = _import(tree, tmp)
    assert proc.returncode == 0, proc.stderr
    built_against, loaded = proc.stdout.split()
    assert Path(built_against) == (lib / "libgearman.so").resolve()
    assert Path(loaded).parent == lib


def test_other_library_in_front_is_an_import_error(built: tuple[Path, Path, Path]) -> None:
    tree, lib, tmp = built
    other = tmp / "other"
    other.mkdir(exist_ok=True)
    real = (lib / "libgearman.so").resolve()
    if not (other / "libgearman.so.8").exists():
        shutil.copy2(real, other / "libgearman.so.8")
    proc = _import(tree, tmp, LD_LIBRARY_PATH=str(other))
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: gearman_xs was compiled against the libgearman in "), last
    assert str(lib) in last and str(other / "libgearman.so.8") in last
    assert "GEARMAN_XS_SKIP_LIBRARY_CHECK=1" in last
    # the escape hatch imports it anyway, and then the other library is the one in use
    proc = _import(tree, tmp, LD_LIBRARY_PATH=str(other), GEARMAN_XS_SKIP_LIBRARY_CHECK="1")
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.split()[1]) == other / "libgearman.so.8"


def test_library_gone_falls_back_to_the_system_one_and_says_so(
    built: tuple[Path, Path, Path],
) -> None:
    tree, lib, tmp = built
    system = _system_library()
    moved = lib.with_name("lib.moved")
    lib.rename(moved)
    try:
        proc = _import(tree, tmp)
    finally:
        moved.rename(lib)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: gearman_xs was compiled against the libgearman in "), last
    assert str(lib) in last
    assert Path(last.split("loader gave it ", 1)[1].split(":", 1)[0]).resolve() == system


def test_mismatch_compares_directories_not_files() -> None:
    from gearman_xs import _library

    assert _library.mismatch("", "/usr/lib/libgearman.so.8") is None
    assert _library.mismatch("/opt/g/lib/libgearman.so.8.0.0", "") is None
    # an update of the same installation (another file name in the same directory) still matches
    assert _library.mismatch("/opt/g/lib/libgearman.so.8.0.0", "/opt/g/lib/libgearman.so.8.0.1") is None
    message = _library.mismatch("/opt/g/lib/libgearman.so.8.0.0", "/usr/lib/libgearman.so.8")
    assert message is not None and "/opt/g/lib" in message and "/usr/lib/libgearman.so.8" in message


def test_installed_package_loads_the_library_it_was_built_against() -> None:
    from gearman_xs import _library

    built_against, loaded = _library.built_against(), _library.loaded()
    assert built_against and loaded
    assert Path(built_against).parent == Path(loaded).resolve().parent
