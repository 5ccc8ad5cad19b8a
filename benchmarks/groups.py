"""Grouping at scale (issue 14): an experiment of 100,000 iterations with 5 final metrics each,
of which 100 also have a ``loss`` series of 1,000 steps; grouping it by one and by two
parameters, and the groups' mean curves (target: each under 300 ms on the server). Prints the
time to write the experiment, then the median of a few runs of each call in milliseconds beside
the target, on SQLite (and PostgreSQL with ``--postgres URI``). ``--db FILE`` keeps the SQLite
file and reuses it when it is there; a PostgreSQL database that already holds the experiment
is reused too (``--fresh`` writes a new one).

    .venv/bin/python benchmarks/groups.py [--iterations 100000] [--db FILE] [--no-sqlite]
        [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/DB] [--fresh] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from mlops.config import redact_uri

METRICS = ("loss", "acc", "f1", "precision", "recall")
CONFIGS = ("small", "base", "large", "xl")
#: The target of every figure (issue 14: grouping 100,000 iterations under 300 ms).
TARGET_MS = 300.0
RATES = (0.1, 0.01, 0.001)


def fill(uri: str, n_iterations: int, with_series: int, steps: int) -> str:
    """Write the experiment through the SQL store's write path, in one transaction."""
    from sqlalchemy import Table, insert

    from mlops.store.sql.batch import write_batch
    from mlops.store.sql.engine import transaction
    from mlops.store.sql.models import SqlIteration
    from mlops.store.sql.store import SqlStore

    rng = random.Random(14)
    store = SqlStore(uri)
    try:
        project = store.create_project(
            f"bench-groups-{uuid.uuid4().hex[:6]}", None, "active", False
        )
        experiment = store.create_experiment(project.id, "sweep", None)
        t0 = time.time() - n_iterations * 60.0
        rows, batches = [], []
        for n in range(n_iterations):
            iteration_id = uuid.uuid4().hex
            started = t0 + n * 60.0
            rows.append(
                {
                    "id": iteration_id, "project_id": project.id,
                    "experiment_id": experiment.id, "name": f"run-{n:06d}",
                    "status": "finished", "started_at": started, "ended_at": started + 50.0,
                    "heartbeat_at": started + 50.0, "system": {},
                }
            )  # fmt: skip
            params = {"config": rng.choice(CONFIGS), "lr": rng.choice(RATES), "seed": n % 5}
            last = [(m, steps - 1, rng.random(), started + 50.0) for m in METRICS]
            if n < with_series:
                series = [("loss", s, 2.0 / (1 + s * 0.01) + rng.random() * 0.1, started)
                          for s in range(steps - 1)]  # fmt: skip
                last = series + last
            batches.append((iteration_id, params, last))
        with transaction(store._engine, True, "write the iterations") as conn:
            conn.execute(insert(cast(Table, SqlIteration.__table__)), rows)
            for iteration_id, params, metrics in batches:
                write_batch(conn, iteration_id, experiment.id, params, metrics, None)
        return experiment.id
    finally:
        store.close()


def median_ms(call: Callable[[], Any], runs: int = 5) -> tuple[float, float]:
    """The median wall time of ``call`` and the median CPU time of this process during it, in
    ms (on SQLite the store runs in this process, so the CPU time is the query's own work,
    which the machine's other load does not stretch)."""
    call()  # warm the caches and the statement cache
    walls, cpus = [], []
    for _ in range(runs):
        begin, cpu = time.perf_counter(), time.process_time()
        call()
        walls.append((time.perf_counter() - begin) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    return statistics.median(walls), statistics.median(cpus)


def measure(uri: str, n_iterations: int, reuse: bool = False, runs: int = 5) -> None:
    from mlops.store.sql.store import SqlStore

    begin = time.perf_counter()
    backend = uri.split(":", 1)[0]
    existing = []
    if reuse:
        store = SqlStore(uri)
        existing = [e for e in store.list_experiments() if e.name == "sweep"]
        if not existing:
            store.close()
    if existing:
        experiment_id = existing[0].id
        print(f"{backend}: reusing the experiment of {redact_uri(uri)}")
    else:
        experiment_id = fill(uri, n_iterations, 100, 1000)
        seconds = time.perf_counter() - begin
        print(f"{backend}: wrote {n_iterations:,} iterations in {seconds:.1f} s")
        store = SqlStore(uri)
    try:
        cases: list[tuple[str, Callable[[], Any]]] = [
            ("group by params.config, 5 metrics, 100 ids a group",
             lambda: store.group_iterations(experiment_id, "params.config", metrics=METRICS)),
            ("group by params.config, 5 metrics, no ids",
             lambda: store.group_iterations(
                 experiment_id, "params.config", metrics=METRICS, ids_per_group=0)),
            ("group by params.config, params.lr, 5 metrics",
             lambda: store.group_iterations(
                 experiment_id, "params.config, params.lr", metrics=METRICS)),
            ("group by params.seed, by mean(metrics.acc)",
             lambda: store.group_iterations(
                 experiment_id, "params.seed", order="mean(metrics.acc) desc")),
            ("group by params.config, filter metrics.acc > 0.5",
             lambda: store.group_iterations(
                 experiment_id, "params.config", "metrics.acc > 0.5", METRICS)),
            ("mean curves of loss by params.config (100 with series)",
             lambda: store.group_series(experiment_id, "params.config", "loss")),
        ]  # fmt: skip
        load = os.getloadavg()[0]
        print(f"  (load {load:.1f}; median of {runs} runs, wall and this process's CPU)")
        for label, call in cases:
            ms, cpu = median_ms(call, runs)
            verdict = "under" if ms < TARGET_MS else "OVER"
            print(
                f"  {label:58s} {ms:8.1f} ms  ({verdict} {TARGET_MS:.0f} ms)  cpu {cpu:7.1f} ms",
                flush=True,
            )
        print(f"  (load {os.getloadavg()[0]:.1f} at the end)")
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=100_000)
    parser.add_argument("--postgres", help="also measure on this PostgreSQL database")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each call")
    parser.add_argument("--db", type=Path, help="keep the SQLite file here (reused if there)")
    parser.add_argument("--no-sqlite", action="store_true", help="measure PostgreSQL only")
    parser.add_argument("--fresh", action="store_true", help="write a new PostgreSQL experiment")
    args = parser.parse_args()
    if args.no_sqlite:
        pass
    elif args.db is not None:
        measure(f"sqlite:///{args.db}", args.iterations, args.db.exists(), args.runs)
    else:
        with tempfile.TemporaryDirectory() as folder:
            measure(f"sqlite:///{Path(folder) / 'groups.db'}", args.iterations, False, args.runs)
    if args.postgres:
        measure(args.postgres, args.iterations, not args.fresh, args.runs)


if __name__ == "__main__":
    main()
