"""Many finished iterations written fast, straight into a SQL store, for the tests that need more
than one page of them (the way benchmarks/_app_data.py fills a database)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import cast

__all__ = ["bulk_iterations", "sql_uri_behind"]


def sql_uri_behind(tracking_uri: str, tmp_path: Path) -> str:
    """The SQL store a tracking URI writes to: itself, or the SQLite file behind the App that
    the ``store_uri`` fixture started (conftest.py names it)."""
    if tracking_uri.startswith("http"):
        return f"sqlite:///{tmp_path / 'behind-app.db'}"
    return tracking_uri


def bulk_iterations(sql_uri: str, experiment_id: str, count: int) -> list[str]:
    """Write ``count`` finished iterations into the experiment in one transaction (parameter
    ``n`` = their number, metric ``loss`` = n / count) and return their ids, oldest first."""
    from sqlalchemy import Table, insert

    from mlops.store.sql.batch import write_batch
    from mlops.store.sql.engine import transaction
    from mlops.store.sql.models import SqlIteration
    from mlops.store.sql.store import SqlStore

    store = SqlStore(sql_uri)
    try:
        project_id = store.get_experiment(experiment_id).project_id
        t0 = time.time() - count
        ids = [uuid.uuid4().hex for _ in range(count)]
        rows = [
            {
                "id": iteration_id, "project_id": project_id, "experiment_id": experiment_id,
                "name": f"bulk-{n:05d}", "status": "finished", "started_at": t0 + n,
                "ended_at": t0 + n + 0.5, "heartbeat_at": t0 + n + 0.5, "system": {},
            }
            for n, iteration_id in enumerate(ids)
        ]  # fmt: skip
        with transaction(store._engine, True, "write bulk iterations") as conn:
            conn.execute(insert(cast(Table, SqlIteration.__table__)), rows)
            for n, iteration_id in enumerate(ids):
                metrics = [("loss", 0, n / count, t0 + n)]
                write_batch(conn, iteration_id, experiment_id, {"n": n}, metrics, None)
    finally:
        store.close()
    return ids
