"""The quick fuzz run of the normal suite: a few hundred seeded malformed replies (tests/fuzz.py) to
Client and Worker, each case in a forked child: no crash, no hang, only GearmanError subclasses.
The full run (10,000+ cases) is scripts/fault-suite's (or tests/support/fuzz.py's own)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import gearman_xs

QUICK_CASES = 250


def test_quick_fuzz_no_crash_no_hang_only_gearman_errors() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    seed = int(os.environ.get("GEARMAN_XS_FUZZ_SEED", "20261129"))
    # the child imports the gearman_xs this test imported (installed, or an in-place build)
    root = os.path.dirname(os.path.dirname(os.path.abspath(gearman_xs.__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run(
        [sys.executable, os.path.join(here, "support", "fuzz.py"), "--cases", str(QUICK_CASES),
         "--seed", str(seed), "--json"],
        capture_output=True, text=True, timeout=600, check=False, env=env,
    )
    assert out.stdout, out.stderr[-3000:]
    summary = json.loads(out.stdout)
    assert summary["cases"] >= QUICK_CASES
    assert summary["failures"] == [], json.dumps(summary["failures"], indent=1)
    assert summary["crashes"] == summary["hangs"] == summary["bad"] == 0
    assert out.returncode == 0
    # every outcome is a success or a GearmanError subclass, named by its class (WorkFail and
    # WorkException among them: libgearman 2.0.0 delivers a WORK_FAIL that 1.1.20 drops)
    def is_gearman_error(kind: str) -> bool:
        cls = getattr(gearman_xs, kind.split(":")[0], None)
        return isinstance(cls, type) and issubclass(cls, gearman_xs.GearmanError)

    assert all(k == "ok" or is_gearman_error(k) for k in summary["kinds"]), summary["kinds"]
