"""The one ``repr()`` style of gearman_xs's objects: ``<gearman_xs.Client servers=['127.0.0.1:4730']
timeout=-1 tasks=0>``, ``<gearman_xs.Worker closed>``.

The class is named with its public module path (``gearman_xs.``, or the subclass's own module and
name), followed by ``key=value`` fields (values as ``repr()`` gives them), or by the single word
``closed`` once the object can no longer be used.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CLOSED", "object_repr"]

CLOSED = {"closed": True}


def object_repr(obj: object, **fields: Any) -> str:
    """``<gearman_xs.Name key=value ...>``; ``object_repr(obj, **CLOSED)`` gives
    ``<gearman_xs.Name closed>``."""
    cls = type(obj)
    module = cls.__module__
    name = f"{'gearman_xs' if module.startswith('gearman_xs') else module}.{cls.__qualname__}"
    if fields == CLOSED:
        return f"<{name} closed>"
    parts = " ".join(f"{key}={value!r}" for key, value in fields.items())
    return f"<{name} {parts}>" if parts else f"<{name}>"
