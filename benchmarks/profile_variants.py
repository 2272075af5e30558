"""Variants of user_client.py's do() loop for benchmarks/profile.py: how much of a gearman_xs job is the
user's own loop, how much a bare cffi call of the same C shim, how much Client.do().

    python profile_variants.py loop|bare|client HOST PORT do COUNT SIZE

loop    the user's loop alone: the payload built per job and the result compared, no Gearman
bare    the loop around gearman_xs's C fast path called directly through cffi (lib.gxs_acc_do: make
        the unique, add the task, run_tasks(), collect the result), as a minimal cffi binding would:
        no argument checks, no lock, no error mapping, no connection watch
client  the loop around Client.do() (= user_client.py)
Prints the same JSON line as user_client.py.
"""

from __future__ import annotations

import json
import sys
import time
from typing import List


def main(argv: List[str]) -> int:
    variant, host, port = argv[0], argv[1], int(argv[2])
    count, size = int(argv[4]), int(argv[5])
    failures = 0
    t0, c0 = time.monotonic(), time.process_time()
    if variant == "loop":
        for n in range(count):
            payload = b"%0*d" % (size, n)
            result = bytes(payload)
            if result != payload:
                failures += 1
    elif variant == "bare":
        from gearman_xs._libgearman import ffi, lib

        c = lib.gearman_client_create(ffi.NULL)
        lib.gearman_client_add_server(c, host.encode(), port)
        acc = ffi.new("gxs_acc *")
        acc.unique[0:lib.GXS_UNIQUE_PREFIX] = b"%024x" % 1  # the prefix of the uniques made in C
        for n in range(count):
            payload = b"%0*d" % (size, n)
            # the unique made in C (NULL), no connection watch (-1); returns the result size
            r = lib.gxs_acc_do(c, 1, acc, b"echo", ffi.NULL, payload, len(payload), -1)
            if r < 0:  # not finished in one run_tasks() (never with the default timeout)
                if acc.task != ffi.NULL:
                    lib.gearman_task_free(acc.task)
                failures += 1
            elif ffi.unpack(acc.buf, r) != payload:
                failures += 1
        lib.gxs_acc_release(acc)
        lib.gearman_client_free(c)
    elif variant == "client":
        import gearman_xs

        client = gearman_xs.Client()
        client.add_server(host, port)
        for n in range(count):
            payload = b"%0*d" % (size, n)
            if client.do("echo", payload) != payload:
                failures += 1
        client.close()
    else:
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps({"impl": variant, "mode": "do", "count": count, "size": size,
                      "seconds": time.monotonic() - t0, "cpu": time.process_time() - c0,
                      "failures": failures}), flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
