"""MkDocs hook for the docs build (mkdocs.yml ``hooks:``): drops one known, harmless griffe warning.

``gearman_xs.__all__`` is ``[*CONSTANTS, ...]``: griffe reads the package statically and cannot expand
``CONSTANTS`` (a tuple built in constants.py), so it warns, and ``mkdocs build --strict`` would fail.
The reference pages do not use ``__all__``; every other warning still fails the build.
"""

from __future__ import annotations

import logging


class _DropConstantsExport(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("Unsupported item in gearman_xs.__all__" in message and "CONSTANTS" in message)


logging.getLogger("mkdocs.plugins.griffe").addFilter(_DropConstantsExport())
