"""Payloads the interop tests send and expect, byte for byte."""

from __future__ import annotations

import hashlib
import random

#: The 256 byte values, in order: the "every byte" payload.
ALL_BYTES = bytes(range(256))
#: UTF-8 text with 2-, 3- and 4-byte sequences.
UTF8_TEXT = "grüße, 世界, ✓ 🐍".encode()
MIB = 1 << 20
#: What every ``events`` function sends, as client callbacks see it (and the peer clients print it).
EVENTS = [("data", b"d1"), ("warning", b"w1"), ("status", 1, 2), ("data", b"d2"), ("warning", b"w2"),
          ("status", 2, 2), ("complete", b"done")]
#: What pyx.raise (a send_exceptions=True Python worker whose function raises) sends.
PY_EXCEPTION = b"RuntimeError: python failure"


def pattern(n: int) -> bytes:
    """What the ``gen`` functions return for workload ``n``: n bytes, byte i = i % 256."""
    return (ALL_BYTES * (n // 256 + 1))[:n]


def sha256_hex(data: bytes) -> bytes:
    return hashlib.sha256(data).hexdigest().encode("ascii")


def random_bytes(n: int, seed: int = 6) -> bytes:
    """Deterministic random bytes."""
    return random.Random(seed).randbytes(n)
