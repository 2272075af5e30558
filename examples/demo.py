"""The README's demo: a private gearmand on loopback, queried, then stopped."""

from __future__ import annotations

import gearman_xs
from gearman_xs.testing import Gearmand


def main() -> int:
    with Gearmand() as server:
        print(f"gearmand {server.admin('version').split()[1]} running on {server.servers}")
        print(f"libgearman {gearman_xs.version()}, gearman_xs {gearman_xs.__version__}")
    print("gearmand stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
