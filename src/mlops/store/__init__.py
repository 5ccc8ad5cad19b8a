"""Stores keep what the library tracks. :func:`open_store` picks the backend from the URI."""

from __future__ import annotations

import threading

from mlops.store.base import MetricRow, Store

__all__ = ["MetricRow", "Store", "open_store"]

_stores: dict[str, Store] = {}
_lock = threading.Lock()


def open_store(uri: str) -> Store:
    """The store for a URI (``sqlite:///…`` or ``postgresql://…``), opened once per process."""
    with _lock:
        store = _stores.get(uri)
        if store is None:
            from mlops.store.sql.store import SqlStore  # heavy import, only when first needed

            store = _stores[uri] = SqlStore(uri)
        return store


def close_stores() -> None:
    """Close every store this process opened (used by tests and at exit)."""
    with _lock:
        for store in _stores.values():
            store.close()
        _stores.clear()
