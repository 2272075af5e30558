"""What the tests share, one module per job (the fixtures themselves are in tests/conftest.py):

- ``polling``: waiting for a condition (``poll``, ``wait_until``) and for gearmand's ``status``
  (parsed with ``gearman_xs.admin.parse_status``: ``status_table``, ``function_status``,
  ``wait_for_workers``);
- ``standin``: the scaffolding of a stand-in server on 127.0.0.1 (listener, accept thread, close),
  for servers that close or hold connections (``StandInServer``);
- ``protocol``: the binary protocol on a plain socket, a raw client (``RawClient``, ``do``) and a raw
  worker (``RawWorker``), so tests see and control every packet;
- ``tools``: the ``gearadmin`` and ``gearman`` command-line tools (gearman-tools);
- ``functions``: the worker functions the tests serve, for every suite;
- ``workers``: workers to serve them: a gearman_xs Worker in a thread (``WorkerThread``,
  ``PyWorker``) or in processes of their own (``worker_processes``, running ``worker_process.py``);
- ``data``: the payloads the interop tests send (every byte, UTF-8, patterns);
- ``peers``: the Perl, PHP and CLI peer programs of tests/peers/: discovery, workers, clients;
- ``interop``: a gearmand with a peer worker and Python workers on it (``Stack``), the interop
  modules' fixtures (``stack_fixtures``) and the checks they share.
"""
