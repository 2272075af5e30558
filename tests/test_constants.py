"""Every constant has the value of the installed headers, checked by compiling a C program."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

import gearman_xs
from gearman_xs import constants


@pytest.fixture(scope="module")
def header_values(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("consts")
    lines = ["#include <stdio.h>", "#include <libgearman-1.0/gearman.h>", "int main(void) {"]
    for name in constants.CONSTANTS:
        if name == "GEARMAN_DEFAULT_TCP_HOST":
            lines.append(f'  printf("{name}=%s\\n", {name});')
        else:
            lines.append(f'  printf("{name}=%lld\\n", (long long)({name}));')
    lines += ["  return 0;", "}"]
    src = Path(tmp, "c.c")
    src.write_text("\n".join(lines))
    exe = Path(tmp, "c")
    cflags = subprocess.run(
        ["pkg-config", "--cflags", "--libs", "gearmand"], capture_output=True, text=True,
        check=True,
    ).stdout.split()
    subprocess.run(["cc", str(src), "-o", str(exe), *cflags], check=True)
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines())


def test_gearman_xs_exports_its_140_constants() -> None:
    assert len(constants.GEARMAN_XS_CONSTANTS) == 140
    assert len(set(constants.GEARMAN_XS_CONSTANTS)) == 140


@pytest.mark.parametrize("name", constants.CONSTANTS)
def test_constant_has_the_header_value(name: str, header_values: dict[str, str]) -> None:
    assert str(getattr(gearman_xs, name)) == header_values[name]


def test_forgotten_constants_are_there() -> None:
    assert gearman_xs.GEARMAN_INVALID_ARGUMENT == 49
    assert gearman_xs.GEARMAN_IN_PROGRESS == 50
    assert gearman_xs.GEARMAN_INVALID_SERVER_OPTION == 51
    assert gearman_xs.GEARMAN_JOB_NOT_FOUND == 52
    assert gearman_xs.GEARMAN_CLIENT_GENERATE_UNIQUE == 64
    assert gearman_xs.GEARMAN_CLIENT_EXCEPTION == 128
    assert gearman_xs.GEARMAN_WORKER_GRAB_ALL == 512
    assert gearman_xs.GEARMAN_WORKER_IDENTIFIER == 2048


def test_star_import_gives_the_constants() -> None:
    namespace: dict[str, object] = {}
    exec("from gearman_xs import *", namespace)
    for name in constants.CONSTANTS:
        assert namespace[name] == getattr(gearman_xs, name)
    assert namespace["strerror"] is gearman_xs.strerror


def test_versions() -> None:
    assert re.match(r"\d+\.\d+\.\d+", gearman_xs.version())  # 1.1.20+ds, 2.0.0, ...
    assert gearman_xs.version() == subprocess.run(
        ["pkg-config", "--modversion", "gearmand"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert isinstance(gearman_xs.__version__, str) and gearman_xs.__version__
