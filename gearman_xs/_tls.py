"""TLS for ``Client.set_ssl()`` and ``Worker.set_ssl()``: everything checked before libgearman sees it.

libgearman's TLS (``gearman_client_set_ssl`` / ``gearman_worker_set_ssl``, libgearman built with
``--enable-ssl``) has four traps this module closes:

* It loads the CA file, certificate and key only when it opens its first connection, and calls
  ``abort()`` when one of them is missing or does not load (``universal.hpp`` ``ctx_ssl()``): the
  whole process dies. :func:`settings` loads all three first with Python's :mod:`ssl` (the same
  OpenSSL calls: verify locations, certificate, private key, key matches certificate) and raises
  ``GearmanError`` naming the file.
* It never asks OpenSSL to verify the server (``SSL_VERIFY_NONE``): any certificate is accepted.
  ``csrc/tls_verify.c`` switches each of its TLS connections to ``SSL_VERIFY_PEER``, so a server
  whose certificate chain does not lead to the CA file fails the handshake (the host name is not
  checked: libgearman does not pass it to OpenSSL).
* Its read path takes a fatal ``SSL_read()`` error (a record that does not decrypt, an alert) for
  "14 bytes received" and parses stale buffer contents as a packet: a segfault or a made-up
  packet. ``csrc/tls_verify.c`` hands such an error to libgearman as "connection closed"
  (``GEARMAN_LOST_CONNECTION``).
* A libgearman built without TLS (Debian 12's libgearman8) exports ``gearman_client_set_ssl`` and
  silently stays in plain text: :func:`settings` raises instead.

A path left out (None) is taken from libgearman's environment variable for it
(``GEARMAND_CA_CERTIFICATE``, ``GEARMAN_CLIENT_PEM``, ``GEARMAN_CLIENT_KEY``), and must then be set
there: libgearman's compiled-in default paths cannot be checked before it aborts on them.
"""

from __future__ import annotations

import os
import ssl
from typing import Any, NamedTuple, Optional, Union

from . import _features
from ._libgearman import ffi, lib
from .errors import GearmanError

__all__ = ["TlsSettings", "settings", "verified_connections"]

PathArg = Optional[Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]]

ENV_VARS = {
    "ca_file": "GEARMAND_CA_CERTIFICATE",
    "certificate": "GEARMAN_CLIENT_PEM",
    "key": "GEARMAN_CLIENT_KEY",
}

HOW_TO_GET_TLS = (
    "build libgearman with TLS (gearmand 1.1.22 or 2.0.0 configured with --enable-ssl; 2.0.0 for "
    "Worker.set_ssl), install it and rebuild gearman_xs against it (PKG_CONFIG_PATH); see "
    "docs/versions.md"
)


class TlsSettings(NamedTuple):
    """The checked paths (file system encoding), in gearman_*_set_ssl()'s order."""

    ca_file: bytes
    certificate: bytes
    key: bytes

    def apply_client(self, c: Any) -> None:
        lib.gearman_client_set_ssl(c, True, self.ca_file, self.certificate, self.key)

    def apply_worker(self, w: Any) -> None:
        lib.gearman_worker_set_ssl(w, True, self.ca_file, self.certificate, self.key)

    def context(self) -> ssl.SSLContext:
        """A Python TLS context for gearman_xs's own connections (admin commands) to the same
        servers: verifies them against the CA file, presents the certificate."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False  # as libgearman's connections (see the module docstring)
        ctx.load_verify_locations(cafile=os.fsdecode(self.ca_file))
        ctx.load_cert_chain(os.fsdecode(self.certificate), os.fsdecode(self.key))
        return ctx


def _error(message: str) -> GearmanError:
    return GearmanError(lib.GEARMAN_INVALID_ARGUMENT, message)


def _path(name: str, value: PathArg, owner: str) -> bytes:
    if value is None:
        env = os.environ.get(ENV_VARS[name])
        if not env:
            raise _error(
                f"{owner}.set_ssl(): no {name} given and {ENV_VARS[name]} is not set"
            )
        value = env
    if not isinstance(value, (str, bytes, os.PathLike)):
        raise TypeError(f"{name} must be a path (str, bytes or os.PathLike), not {type(value).__name__}")
    path = os.fsencode(value)
    if not path or b"\0" in path:
        raise _error(f"{owner}.set_ssl(): {name} {value!r} is not a usable path")
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        raise _error(f"{owner}.set_ssl(): {name} {os.fsdecode(path)!r} is not a readable file")
    return path


def settings(ca_file: PathArg, certificate: PathArg, key: PathArg, owner: str) -> TlsSettings:
    """Checks that TLS is possible with this libgearman (for ``owner``, "Client" or "Worker") and
    that the three files load, and arms certificate verification. Raises GearmanError
    (GEARMAN_INVALID_ARGUMENT) saying what is wrong, TypeError for a non-path argument."""
    call = _features.CLIENT_SET_SSL if owner == "Client" else _features.WORKER_SET_SSL
    if not _features.SSL:
        raise _error(
            f"{owner}.set_ssl(): this libgearman ({ffi.string(lib.gearman_version()).decode()}) "
            f"was built without TLS; {HOW_TO_GET_TLS}"
        )
    if not call:
        raise _error(
            f"{owner}.set_ssl(): this libgearman has no gearman_{owner.lower()}_set_ssl(); "
            f"{HOW_TO_GET_TLS}"
        )
    tls = TlsSettings(
        _path("ca_file", ca_file, owner), _path("certificate", certificate, owner),
        _path("key", key, owner),
    )
    try:
        tls.context()
    except (ssl.SSLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise _error(
            f"{owner}.set_ssl(): the CA file, certificate or key does not load, or the key does not "
            f"belong to the certificate ({reason})"
        ) from None
    status = lib.gxs_tls_install()
    if status != lib.GXS_TLS_OK:
        raise _error(
            f"{owner}.set_ssl(): cannot make libgearman verify server certificates on this "
            f"platform (status {status}); refusing unverified TLS"
        )
    return tls


def verified_connections() -> int:
    """How many libgearman TLS connections this process switched to certificate verification."""
    return int(lib.gxs_tls_verified_connections())
