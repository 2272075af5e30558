"""``python -m gearman_xs``: the ``gearman-xs`` command line (see gearman_xs.cli)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
