"""Text a database cannot hold (NUL) is the caller's mistake on every backend: never a 503 that
the HTTP client would retry for ever, nor a storage error (found by schemathesis on PostgreSQL:
``GET /api/v1/series?iteration_ids=%00x&metric=m`` answered 503)."""

from __future__ import annotations

import time

import pytest

from mlops.errors import InvalidInput, NotFound
from mlops.store.base import Store


def test_nul_in_ids_and_names_is_refused_or_not_found(store: Store) -> None:
    with pytest.raises((InvalidInput, NotFound)):
        store.get_iteration("\x00x")
    with pytest.raises((InvalidInput, NotFound)):
        store.get_project("p\x00")
    project = store.create_project("nul", None, "active", False)
    experiment = store.create_experiment(project.id, "e", None)
    store.create_iteration("it-nul", "run", experiment.id, None, time.time(), {})
    with pytest.raises(InvalidInput):
        store.log_batch("it-nul", tags={"note": "a\x00b"})
    with pytest.raises((InvalidInput, NotFound)):
        store.get_metric_history("it-nul", "m\x00")
