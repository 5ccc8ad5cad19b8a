"""W3 data: many finished iterations in one experiment, written fast, before the App starts.

Rows go through the SQL store's own write path (``write_batch``: the same upserts, parameter
encoding and metric summaries as a batch sent to the App), but all iterations in one write
transaction, so 10,000 iterations take about a second instead of the ~15 s that 20,000
separate ``create_iteration`` / ``end_iteration`` transactions take. The one iteration with a
long series is written through the store's public methods. No ``ANALYZE`` is run: a database
the App filled itself has no planner statistics either.
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import cast

__all__ = ["W3Data", "generate_w3"]

N_PARAMS = 10
N_METRICS = 10
HISTORY_METRIC = "loss"


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
    from sqlalchemy import Table, insert

    from mlops.store.sql.batch import write_batch
    from mlops.store.sql.engine import transaction
    from mlops.store.sql.models import SqlIteration
    from mlops.store.sql.store import SqlStore

    begin = time.perf_counter()
    rng = random.Random(seed)
    uri = f"sqlite:///{db}"
    store = SqlStore(uri)  # creates the schema
    try:
        project = store.create_project("bench-w3", "App benchmark W3", "active", False)
        experiment = store.create_experiment(project.id, "sweep", "W3: search at scale")
        t0 = time.time() - n_iterations * 60.0
        rows = []
        batches = []
        for n in range(n_iterations):
            iteration_id = uuid.uuid4().hex
            started = t0 + n * 60.0
            rows.append(
                {
                    "id": iteration_id, "project_id": project.id,
                    "experiment_id": experiment.id, "name": f"run-{n:05d}",
                    "status": "finished", "started_at": started, "ended_at": started + 50.0,
                    "heartbeat_at": started + 50.0, "system": {},
                }
            )  # fmt: skip
            parameters = {
                "p0": rng.choice(("adam", "sgd", "adamw")),
                **{f"p{k}": round(rng.uniform(0, 10), 4) for k in range(1, N_PARAMS)},
            }
            metrics = [(f"m{k}", 0, rng.random(), started + 50.0) for k in range(1, N_METRICS + 1)]
            batches.append((iteration_id, parameters, metrics))
        with transaction(store._engine, True, "write the W3 iterations") as conn:
            conn.execute(insert(cast(Table, SqlIteration.__table__)), rows)
            for iteration_id, parameters, metrics in batches:
                write_batch(conn, iteration_id, experiment.id, parameters, metrics, None)

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
