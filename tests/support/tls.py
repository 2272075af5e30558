"""What the TLS tests share: throw-away TLS material made with the openssl command line, a
gearmand --ssl, and a malicious fake server that speaks TLS.

``make_pki(directory)`` writes a CA, a server certificate for 127.0.0.1 (subjectAltName IP:127.0.0.1,
as gearmand's clients connect by address) and a client certificate, both signed by that CA, plus a
second, unrelated CA ("wrong CA") with its own server certificate. Keys are P-256 (fast to make),
valid for two days. ``tls_gearmand(pki.gearmand_args())`` starts a gearmand --ssl (or skips);
``TlsFakeServer`` answers one request with bytes of the test's choosing.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from typing import List, NamedTuple

import pytest

from gearman_xs import _features
from gearman_xs.testing import Gearmand, GearmandError
from support import protocol

TLS = _features.SSL and _features.CLIENT_SET_SSL and _features.WORKER_SET_SSL
"""This libgearman speaks TLS on both sides (2.0.0 --enable-ssl: gearman_worker_set_ssl)."""
needs_tls = pytest.mark.skipif(
    not TLS, reason="this libgearman has no TLS with gearman_worker_set_ssl (build 2.0.0 --enable-ssl)"
)
needs_client_tls = pytest.mark.skipif(
    not (_features.SSL and _features.CLIENT_SET_SSL), reason="this libgearman has no TLS"
)


class Pki(NamedTuple):
    ca: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str
    other_ca: str
    other_server_cert: str
    other_server_key: str

    def gearmand_args(self, other: bool = False) -> List[str]:
        """gearmand's TLS arguments (``other``: the server certificate of the unrelated CA)."""
        return [
            "--ssl", "--ssl-ca-file", self.other_ca if other else self.ca,
            "--ssl-certificate", self.other_server_cert if other else self.server_cert,
            "--ssl-key", self.other_server_key if other else self.server_key,
        ]


def _openssl(*args: str, cwd: str) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _key_and_csr(name: str, subject: str, cwd: str) -> None:
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject, cwd=cwd)


def _ca(name: str, cwd: str) -> None:
    # The extensions Python 3.13's strict verification (VERIFY_X509_STRICT) wants of a CA.
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
             "-subj", f"/CN=gearman_xs test {name}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=cwd)


def _sign(name: str, ca: str, cwd: str, extfile: str = "") -> None:
    args = ["x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-out", f"{name}.pem", "-days", "2"]
    if extfile:
        args += ["-extfile", extfile]
    _openssl(*args, cwd=cwd)


def openssl_available() -> bool:
    return shutil.which("openssl") is not None


def make_pki(directory: str) -> Pki:
    d = directory
    with open(os.path.join(d, "server.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nauthorityKeyIdentifier=keyid\n"
                "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
    with open(os.path.join(d, "client.ext"), "w") as f:
        f.write("authorityKeyIdentifier=keyid\nkeyUsage=critical,digitalSignature\n"
                "extendedKeyUsage=clientAuth\n")
    _ca("ca", d)
    _ca("otherca", d)
    for name, ca in (("server", "ca"), ("otherserver", "otherca")):
        _key_and_csr(name, "/CN=127.0.0.1", d)
        _sign(name, ca, d, "server.ext")
    _key_and_csr("client", "/CN=gearman_xs test client", d)
    _sign("client", "ca", d, "client.ext")
    p = lambda name: os.path.join(d, name)  # noqa: E731
    return Pki(
        ca=p("ca.pem"), server_cert=p("server.pem"), server_key=p("server.key"),
        client_cert=p("client.pem"), client_key=p("client.key"),
        other_ca=p("otherca.pem"), other_server_cert=p("otherserver.pem"),
        other_server_key=p("otherserver.key"),
    )


def tls_gearmand(args: List[str]) -> Gearmand:
    """A started gearmand with ``args`` (``Pki.gearmand_args()``); skips the test when it does not
    speak TLS (Debian 12's gearmand 1.1.20 takes --ssl and then serves plain text: its TLS
    handshake never answers)."""
    server = Gearmand(args)
    try:
        return server.start()
    except GearmandError as exc:
        server.close()
        pytest.skip(f"this gearmand does not serve TLS ({server.binary}): {exc}")


class TlsFakeServer:
    """support.fake_server's malicious fake gearmand, over TLS (the server certificate of ``pki``):
    answers like a gearmand with no workers, except that the first request of ``triggers`` on each
    connection gets ``reply`` (then the connection is closed when ``close``). ``dribble`` > 0
    sends that reply ``piece`` bytes per TLS record, this many seconds apart. One thread per connection,
    at most ``limit`` connections; ``close()`` ends them all.

        with TlsFakeServer(pki, triggers, reply) as server:   # server.servers
    """

    def __init__(self, pki: Pki, triggers: frozenset, reply: bytes, close: bool = True,
                 dribble: float = 0.0, piece: int = 1, limit: int = 8) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(pki.server_cert, pki.server_key)
        self.triggers, self.reply, self.close_after, self.dribble = triggers, reply, close, dribble
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.servers = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.piece = piece
        self.limit = limit
        self.triggered = 0  # connections that got the reply
        self.stopping = threading.Event()
        self.held: List[socket.socket] = []
        self.threads: List[threading.Thread] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stopping.is_set() and len(self.threads) < self.limit:
            try:
                raw, _ = self.listener.accept()
            except (socket.timeout, OSError):
                continue
            raw.settimeout(0.2)
            self.held.append(raw)
            t = threading.Thread(target=self._serve, args=(raw,), daemon=True)
            self.threads.append(t)
            t.start()

    def _serve(self, raw: socket.socket) -> None:
        reader = protocol.RequestReader()
        triggered = False
        try:
            raw.settimeout(10.0)
            conn = self.context.wrap_socket(raw, server_side=True)
            self.held.append(conn)
            conn.settimeout(0.2)
            while not self.stopping.is_set():
                try:
                    data = conn.recv(65536)
                except (socket.timeout, ssl.SSLWantReadError):
                    continue
                if not data:
                    return
                for command, args in reader.feed(data):
                    if command in self.triggers and not triggered:
                        triggered = True
                        self.triggered += 1
                        if self.dribble:
                            for i in range(0, len(self.reply), self.piece):
                                conn.sendall(self.reply[i:i + self.piece])
                                time.sleep(self.dribble)
                        else:
                            conn.sendall(self.reply)
                        if self.close_after:
                            conn.close()
                            return
                    else:
                        conn.sendall(protocol.default_answer(command, args))
        except (OSError, ssl.SSLError):
            return

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(5)
        for t in self.threads:
            t.join(5)
        for sock in self.held:
            sock.close()
        self.listener.close()
        assert not self.thread.is_alive() and not any(t.is_alive() for t in self.threads)

    def __enter__(self) -> TlsFakeServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
