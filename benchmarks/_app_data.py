"""Benchmark data written fast, before the App starts: W3 (many finished iterations in one
experiment) and the bulk writer the workspace benchmark shares.

Rows go through the SQL store's own write path (``write_batch``: the same upserts, parameter
encoding and metric summaries as a batch sent to the App), but many iterations to a write
transaction, so 10,000 iterations take about a second instead of the ~15 s that 20,000
separate ``create_iteration`` / ``end_iteration`` transactions take. The one iteration with a
long series is written through the store's public methods. No ``ANALYZE`` is run: a database
the App filled itself has no planner statistics either.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from mlops.store.sql.store import SqlStore

__all__ = ["BulkIteration", "W3Data", "bulk_write", "generate_w3"]

N_PARAMS = 10
N_METRICS = 10
HISTORY_METRIC = "loss"


@dataclass(frozen=True)
class BulkIteration:
    """One iteration for :func:`bulk_write`: finished 50 s after it started, unless ``running``
    (then no end, and a heartbeat now)."""

    id: str
    name: str
    started_at: float
    parameters: dict[str, Any]
    metrics: list[tuple[str, int, float, float]]
    running: bool = False


def bulk_write(
    store: SqlStore,
    project_id: str,
    experiment_id: str,
    iterations: Sequence[BulkIteration],
    chunk: int = 20_000,
) -> None:
    """Write iterations through the SQL store's own write path (``write_batch``: the same
    upserts, parameter encoding and metric summaries as a batch sent to the App), ``chunk``
    iterations to a write transaction."""
    from sqlalchemy import Table, insert

    from mlops.store.sql.batch import write_batch
    from mlops.store.sql.engine import transaction
    from mlops.store.sql.models import SqlIteration

    now = time.time()
    for first in range(0, len(iterations), chunk):
        part = iterations[first : first + chunk]
        rows = [
            {
                "id": it.id, "project_id": project_id, "experiment_id": experiment_id,
                "name": it.name, "status": "running" if it.running else "finished",
                "started_at": it.started_at,
                "ended_at": None if it.running else it.started_at + 50.0,
                "heartbeat_at": now if it.running else it.started_at + 50.0, "system": {},
            }
            for it in part
        ]  # fmt: skip
        with transaction(store._engine, True, "write the benchmark's iterations") as conn:
            conn.execute(insert(cast(Table, SqlIteration.__table__)), rows)
            for it in part:
                write_batch(conn, it.id, experiment_id, it.parameters, it.metrics, None)


@dataclass(frozen=True)
class W3Data:
    """What :func:`generate_w3` wrote and the ids the measured requests need."""

    uri: str
    experiment_id: str
    iterations: int
    history_id: str
    history_steps: int
    seconds: float


def generate_w3(db: Path, n_iterations: int, history_steps: int, seed: int = 3) -> W3Data:
    """Write ``n_iterations`` finished iterations (``N_PARAMS`` parameters ``p0..p9`` and
    ``N_METRICS`` one-point metrics ``m1..m10`` uniform in [0, 1), so ``metrics.m1 > 0.5``
    matches about half) into one experiment of a new SQLite file, plus one more iteration with
    a ``loss`` series of ``history_steps`` steps."""
    from mlops.store.sql.store import SqlStore

    begin = time.perf_counter()
    rng = random.Random(seed)
    uri = f"sqlite:///{db}"
    store = SqlStore(uri)  # creates the schema
    try:
        project = store.create_project("bench-w3", "App benchmark W3", "active", False)
        experiment = store.create_experiment(project.id, "sweep", "W3: search at scale")
        t0 = time.time() - n_iterations * 60.0
        written = []
        for n in range(n_iterations):
            started = t0 + n * 60.0
            parameters = {
                "p0": rng.choice(("adam", "sgd", "adamw")),
                **{f"p{k}": round(rng.uniform(0, 10), 4) for k in range(1, N_PARAMS)},
            }
            metrics = [(f"m{k}", 0, rng.random(), started + 50.0) for k in range(1, N_METRICS + 1)]
            written.append(
                BulkIteration(uuid.uuid4().hex, f"run-{n:05d}", started, parameters, metrics)
            )
        bulk_write(store, project.id, experiment.id, written)

        history_id = uuid.uuid4().hex
        now = time.time()
        store.create_iteration(history_id, "long-history", experiment.id, None, now, {})
        series = [
            (HISTORY_METRIC, step, 2.0 / (1.0 + step * 0.01), now + step * 0.001)
            for step in range(history_steps)
        ]
        store.end_iteration(history_id, "finished", time.time(), metrics=series)
    finally:
        store.close()
    return W3Data(
        uri=uri,
        experiment_id=experiment.id,
        iterations=n_iterations,
        history_id=history_id,
        history_steps=history_steps,
        seconds=time.perf_counter() - begin,
    )
