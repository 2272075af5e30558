"""``ClientSettings``: the settings methods of ``Client`` (servers, options, timeout, identifier,
namespace, TLS, server options, the last error).

Each checks its arguments, takes the Client's lock (``_guard.py``) and records the setting in the
``CClient`` (``_client_c.py``), which replays it on every C client it builds; a setting libgearman
cannot change on a live C client marks that one ``dirty`` (replaced before the next job). Nothing
here submits a job. ``Client`` (client.py) inherits these methods; they are part of its public
API (Gearman::XS's ``add_server`` ... ``set_*`` and ``error``).
"""

from __future__ import annotations

from typing import Optional, Union

from . import _args, _tls
from ._client_c import PYTHON_OPTIONS, CClient, spec_of
from ._guard import Guard
from ._libgearman import ffi, lib
from ._servers import join_spec
from .constants import ClientOptions

__all__ = ["ClientSettings"]

NULL = ffi.NULL


class ClientSettings:
    """The settings half of ``Client``: its servers and options, applied to its ``CClient`` under
    its lock."""

    _guard: Guard
    _cc: CClient

    # -- servers -------------------------------------------------------------------------------

    def add_server(self, host: Optional[Union[str, bytes]] = None, port: Union[int, str] = 0) -> None:
        """Adds one job server. ``host`` None or "" means localhost, ``port`` (an int or a string of
        digits, like ``"4730"`` from a config file) 0 means 4730. The
        host is resolved now (``GearmanConnectionError`` GEARMAN_GETADDRINFO if it cannot be).
        Several servers are used in the order added: every job goes to the first one that is
        available, the next ones take over only while it is not (libgearman and Gearman::XS
        prefer the last one added; see docs/operations.md, "Failover")."""
        h = _args.optional_host(host)
        p = _args.port(port)
        with self._guard.enter("add_server"):
            self._cc.check_servers(lambda c: lib.gearman_client_add_server(c, h, p))
            self._cc.drop_env_servers()
            name = "localhost" if h == NULL else bytes(h).decode("utf-8", "replace")
            self._cc.servers.add(join_spec(name, p or lib.GEARMAN_DEFAULT_TCP_PORT))

    def add_servers(self, servers: Union[str, bytes]) -> None:
        """Adds servers from ``"host[:port][,host[:port]]..."``, in order of preference (see
        add_server())."""
        spec = _args.name(servers, "servers", 1 << 16, allow_empty=True)
        with self._guard.enter("add_servers"):
            self._cc.check_servers(lambda c: lib.gearman_client_add_servers(c, spec))
            self._cc.drop_env_servers()
            for one in (spec or b"localhost").split(b","):
                if one.strip():
                    self._cc.servers.add(spec_of(one.strip()))

    def remove_servers(self) -> None:
        """Forgets every server."""
        with self._guard.enter("remove_servers"):
            self._cc.servers.clear()
            self._cc.env_servers = False
            self._cc.dirty = True

    # -- options and settings ------------------------------------------------------------------

    def options(self) -> ClientOptions:
        """The option bitmask (a ``ClientOptions``, equal to the int Gearman::XS returns). A new
        Client has ``GEARMAN_CLIENT_ALLOCATED | FREE_TASKS | EXCEPTION``:
        finished tasks are always freed (Task objects keep their state in Python), and the
        "exceptions" server option is requested before the first job (remove EXCEPTION to skip it)."""
        with self._guard.enter("options", run=False):
            c_opts = int(lib.gearman_client_options(self._cc.c)) & ~PYTHON_OPTIONS
            return ClientOptions(c_opts | (self._cc.options & PYTHON_OPTIONS))

    def set_options(self, options: int) -> None:
        """Replaces the options (``GEARMAN_CLIENT_*`` bits; see options())."""
        value = _args.int_arg(options, "options", 0, 0xFFFFFFFF)
        self._set_options(value | lib.GEARMAN_CLIENT_ALLOCATED)

    def add_options(self, options: int) -> None:
        """Adds ``GEARMAN_CLIENT_*`` option bits."""
        value = _args.int_arg(options, "options", 0, 0xFFFFFFFF)
        self._set_options(self._cc.options | value)

    def remove_options(self, options: int) -> None:
        """Removes ``GEARMAN_CLIENT_*`` option bits."""
        value = _args.int_arg(options, "options", 0, 0xFFFFFFFF)
        self._set_options(self._cc.options & ~value)

    def _set_options(self, value: int) -> None:
        with self._guard.enter("set_options"):
            self._cc.set_options(value)

    def timeout(self) -> int:
        """The timeout in ms (-1, the default, waits forever)."""
        return self._cc.timeout

    def set_timeout(self, timeout: int) -> None:
        """Sets the timeout in ms: the longest time a blocking call waits without any progress
        (libgearman's meaning) before raising ``GearmanTimeout``. -1 waits forever. 0 and values
        below -1 raise ValueError (libgearman fails every call at once with 0)."""
        value = _args.int_arg(timeout, "timeout", -1, 2**31 - 1)
        if value == 0:
            raise ValueError("timeout must be -1 (wait forever) or a positive number of milliseconds")
        with self._guard.enter("set_timeout", run=False):
            self._cc.timeout = value
            lib.gearman_client_set_timeout(self._cc.c, self._cc.slice_ms())

    def set_identifier(self, identifier: Union[str, bytes]) -> None:
        """Sets the client id the server shows in ``workers`` (1-254 printable bytes)."""
        value = _args.name(identifier, "identifier", _args.MAX_IDENTIFIER)
        with self._guard.enter("set_identifier"):
            cc = self._cc
            rc = lib.gearman_client_set_identifier(cc.c, value, len(value))
            if rc != lib.GEARMAN_SUCCESS:
                cc.raise_error(rc, cc.c)
            cc.identifier = value

    def set_ssl(self, ca_file: _tls.PathArg = None, certificate: _tls.PathArg = None,
                key: _tls.PathArg = None) -> None:
        """Speaks TLS to every server from now on (``gearman_client_set_ssl``; not in Gearman::XS):
        ``ca_file`` is the CA that signed the servers' certificates (verified: libgearman alone
        would accept any), ``certificate`` and ``key`` the client's own (libgearman requires
        them). A path left out comes from ``GEARMAND_CA_CERTIFICATE``, ``GEARMAN_CLIENT_PEM`` or
        ``GEARMAN_CLIENT_KEY``. The files are loaded here: GearmanError names a missing or bad one,
        and says so when this libgearman was built without TLS (see docs/versions.md)."""
        tls = _tls.settings(ca_file, certificate, key, "Client")
        with self._guard.enter("set_ssl"):
            self._cc.tls = tls
            self._cc.dirty = True  # a connection opened in plain text is replaced

    def set_namespace(self, namespace: Union[str, bytes]) -> None:
        """Prefixes every function name with ``namespace`` (workers must use the same one);
        "" removes it."""
        value = _args.name(namespace, "namespace", _args.MAX_FUNCTION_NAME, allow_empty=True)
        with self._guard.enter("set_namespace"):
            cc = self._cc
            cc.namespace = value or None
            if value:
                lib.gearman_client_set_namespace(cc.c, value, len(value))
            else:
                cc.dirty = True

    def set_server_option(self, option: Union[str, bytes]) -> None:
        """Sends OPTION_REQ ``option`` to the server in use now and on every later connection
        (gearmand 1.1.20 knows only "exceptions", which a Client already requests by default).
        Raises ``GearmanError`` if the server refuses it, ``GearmanConnectionError`` if no server
        can be reached, ``GearmanTimeout`` if none answers within the timeout."""
        value = _args.name(option, "option", 1024)
        with self._guard.enter("set_server_option"):
            self._cc.set_server_option(value)

    def error(self) -> Optional[str]:
        """The text of the last failure raised by this Client (the exception's ``message``:
        libgearman's error text, as Gearman::XS ``error()`` and ``Worker.error()`` give it, without
        the ``GEARMAN_NAME: `` prefix of ``str()``), or None before any."""
        return self._cc.error
