"""The sdist holds everything the build needs, and every file git tracks.

Under tox (``package = sdist``) the tests check the very sdist that tox built and installed
(``TOX_PACKAGE``); elsewhere they build one from the source tree with ``python -m build --sdist``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# What `pip install <sdist>` needs to build and install (issue 12: build_ffi.py was missing).
NEEDED = ["build_ffi.py", "setup.py", "pyproject.toml", "README.md", "LICENSE", "MANIFEST.in",
          "gearman_xs/__init__.py", "gearman_xs/py.typed"]
# Tracked files that have no business in an sdist.
NOT_SHIPPED = {".gitignore"}
# Build outputs and caches that must never be shipped.
FORBIDDEN_SUFFIXES = (".so", ".o", ".pyc")
FORBIDDEN_PARTS = {"__pycache__", ".tox", ".venv", "build", "dist", ".mypy_cache", ".ruff_cache"}


@pytest.fixture(scope="module")
def sdist_names(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The sdist's members, without the leading ``gearman_xs-<version>/``."""
    packages = [Path(p) for p in os.environ.get("TOX_PACKAGE", "").split(os.pathsep) if p]
    sdists = [p for p in packages if p.name.endswith(".tar.gz")]
    if sdists:
        path = sdists[0]
    else:
        if not (ROOT / "build_ffi.py").exists():
            pytest.skip("needs the source tree or a TOX_PACKAGE sdist")
        try:
            import build  # noqa: F401
        except ImportError:
            pytest.skip("python -m build is not installed (tox builds the sdist itself)")
        out = tmp_path_factory.mktemp("sdist")
        subprocess.run([sys.executable, "-m", "build", "--sdist", "--outdir", str(out), str(ROOT)],
                       check=True, capture_output=True, timeout=600)
        (path,) = out.glob("*.tar.gz")
    with tarfile.open(path) as tar:
        names = [m.name for m in tar.getmembers() if m.isfile()]
    prefix = names[0].split("/", 1)[0] + "/"
    assert all(n.startswith(prefix) for n in names)
    return {n[len(prefix):] for n in names}


def test_sdist_has_what_the_build_needs(sdist_names: set[str]) -> None:
    missing = [n for n in NEEDED if n not in sdist_names]
    assert not missing, f"sdist lacks {missing}"
    # every cdef file and C shim the build reads
    csrc = ROOT / "csrc"
    if csrc.is_dir():
        wanted = {str(p.relative_to(ROOT)) for p in csrc.rglob("*") if p.suffix in (".c", ".h")}
        assert wanted, "no csrc files found"
        assert wanted <= sdist_names, f"sdist lacks {sorted(wanted - sdist_names)}"
    else:
        assert any(n.startswith("csrc/decl/") for n in sdist_names)


def test_sdist_has_no_build_outputs(sdist_names: set[str]) -> None:
    bad = sorted(n for n in sdist_names
                 if n.endswith(FORBIDDEN_SUFFIXES) or FORBIDDEN_PARTS & set(n.split("/")[:-1])
                 or n == "gearman_xs/_libgearman.c")
    assert not bad, f"sdist ships build outputs: {bad}"


def test_sdist_has_every_tracked_file(sdist_names: set[str]) -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout")
    tracked = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True,
                             text=True, check=True, timeout=60).stdout.split("\0")
    expected = {n for n in tracked if n and n not in NOT_SHIPPED and (ROOT / n).is_file()}
    missing = sorted(expected - sdist_names)
    assert not missing, f"tracked but not in the sdist (add them to MANIFEST.in): {missing}"
