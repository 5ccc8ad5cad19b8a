"""Stores keep what the library tracks. :func:`open_store` picks the backend from the URI."""

from __future__ import annotations

import threading

from mlops.config import offline_mode
from mlops.errors import InvalidInput
from mlops.store.base import MetricRow, Store

__all__ = ["MetricRow", "Store", "open_store"]

_stores: dict[str, Store] = {}
_lock = threading.Lock()


def open_store(uri: str) -> Store:
    """The store for a URI, opened once per process: ``sqlite:///…`` or ``postgresql://…`` (a
    SQL database) or ``http(s)://host:port`` (an mlops App; offline with ``MLOPS_MODE=offline``).
    """
    offline = offline_mode()
    is_app = uri.startswith(("http://", "https://"))
    if offline and not is_app:
        raise InvalidInput(
            f"MLOPS_MODE=offline keeps training runs in a journal to send to an mlops App later, "
            f"so MLOPS_TRACKING_URI must be that App's URL (http://host:port), not {uri!r}; "
            "unset MLOPS_MODE to write to this database directly"
        )
    key = f"offline:{uri}" if offline else uri
    with _lock:
        store = _stores.get(key)
        if store is None:
            # Heavy imports (SQLAlchemy, httpx), only when first needed.
            if is_app:
                from mlops.store.http import HttpStore

                store = HttpStore(uri, offline=offline)
            else:
                from mlops.store.sql.store import SqlStore

                store = SqlStore(uri)
            _stores[key] = store
        return store


def close_stores() -> None:
    """Close every store this process opened (used by tests and at exit)."""
    with _lock:
        for store in _stores.values():
            store.close()
        _stores.clear()
