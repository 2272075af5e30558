"""Throw-away TLS material for the TLS tests, made with the openssl command line.

``make_pki(directory)`` writes a CA, a server certificate for 127.0.0.1 (subjectAltName IP:127.0.0.1,
as gearmand's clients connect by address) and a client certificate, both signed by that CA, plus a
second, unrelated CA ("wrong CA") with its own server certificate. Keys are P-256 (fast to make),
valid for two days.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import List, NamedTuple


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
