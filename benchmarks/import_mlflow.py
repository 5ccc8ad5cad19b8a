"""Import speed from an MLflow SQLite database: runs per second (target: at least 300/s).

The source is the issue's workload: 10,000 runs with 10 params and 10 metrics x 100 steps
each (10 million metric values). It is built fast: MLflow's own ``SqlAlchemyStore`` creates
the schema (its migrations: the database is exactly what ``mlflow server`` would use), then
plain ``sqlite3`` bulk-inserts the rows (``executemany``, one transaction, MLflow's metric
indexes dropped during the load and rebuilt after). The built source is kept in ``--cache``
and reused by later runs with the same shape.

The import is the library call ``import_mlflow(source, SqlStore(target))`` into a fresh
SQLite store, timed end to end; the time the reader alone needs (the same queries, nothing
written) is shown beside it.

    python benchmarks/import_mlflow.py [--runs 10000] [--steps 100] [--cache DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path

PARAMS = 10
METRICS = 10
TARGET = 300.0


def build_source(path: Path, runs: int, steps: int) -> None:
    """An MLflow database with ``runs`` runs of PARAMS params and METRICS x ``steps`` values."""
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    started = time.perf_counter()
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    store = SqlAlchemyStore(f"sqlite:///{partial}", str(path.parent / "mlflow-artifacts"))
    experiment_id = int(store.create_experiment("benchmark"))
    store.engine.dispose()
    schema = time.perf_counter() - started
    db = sqlite3.connect(partial)
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
    indexes = db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'metrics' "
        "AND sql IS NOT NULL"
    ).fetchall()
    for name, _ in indexes:
        db.execute(f"DROP INDEX {name}")
    rng = random.Random(0)
    t0 = 1_700_000_000_000
    with db:
        for r in range(runs):
            run_id = uuid.UUID(int=rng.getrandbits(128)).hex
            start = t0 + r * 1000
            db.execute(
                "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, "
                "user_id, status, start_time, end_time, source_version, lifecycle_stage, "
                "artifact_uri, experiment_id) VALUES (?, ?, 'LOCAL', '', '', 'bench', "
                "'FINISHED', ?, ?, '', 'active', ?, ?)",
                (run_id, f"run-{r}", start, start + 900,
                 str(path.parent / "mlflow-artifacts" / run_id), experiment_id),
            )  # fmt: skip
            db.executemany(
                "INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)",
                [(f"param_{p}", str(rng.random()), run_id) for p in range(PARAMS)],
            )
            db.execute(
                "INSERT INTO tags (key, value, run_uuid) VALUES ('mlflow.runName', ?, ?)",
                (f"run-{r}", run_id),
            )
            points = [
                (f"metric_{m}", rng.random(), start + s, s, 0, run_id)
                for m in range(METRICS)
                for s in range(steps)
            ]
            db.executemany(
                "INSERT INTO metrics (key, value, timestamp, step, is_nan, run_uuid) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                points,
            )
            db.executemany(
                "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                points[steps - 1 :: steps],
            )
        for _, sql in indexes:
            db.execute(sql)
    db.close()
    partial.rename(path)
    print(
        f"built {path} in {time.perf_counter() - started:.1f} s (MLflow's schema "
        f"{schema:.1f} s, then sqlite3 bulk inserts)",
        file=sys.stderr,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "mlops-bench")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    source = args.cache / f"mlflow-{args.runs}x{PARAMS}x{METRICS}x{args.steps}.db"
    if not source.exists():
        build_source(source, args.runs, args.steps)

    from mlops.importers import import_mlflow
    from mlops.importers.mlflow_db import DatabaseReader
    from mlops.store.sql.store import SqlStore

    uri = f"sqlite:///{source}"
    started = time.perf_counter()
    reader = DatabaseReader(uri)
    for experiment in reader.experiments():
        for run in reader.runs(experiment):
            reader.run_data(run)
    reader.close()
    read_only = time.perf_counter() - started

    with tempfile.TemporaryDirectory(prefix="mlops-import-bench-") as folder:
        store = SqlStore(f"sqlite:///{Path(folder) / 'mlops.db'}")
        started, cpu = time.perf_counter(), time.process_time()
        report = import_mlflow(uri, store)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        stored = store.count_iterations()
        store.close()
    assert report.problems == [], report.problems[:5]
    rate = report.runs_copied / elapsed
    verdict = "ok" if rate >= TARGET else "BELOW TARGET"
    print(f"source: {args.runs:,} runs x {PARAMS} params x {METRICS} metrics x {args.steps} steps")
    print(f"reading the source alone          {read_only:8.2f} s")
    print(f"import, end to end                {elapsed:8.2f} s")
    print(
        f"runs per second                   {rate:8.1f} runs/s  (target >= {TARGET:.0f}: {verdict})"
    )
    print(f"metric values per second          {report.points / elapsed:8,.0f}")
    print(
        f"CPU time of the import (threads)  {cpu:8.2f} s  "
        f"({cpu / report.runs_copied * 1000:.2f} ms/run)"
    )
    print(
        f"machine load (1-min average)      {os.getloadavg()[0]:8.2f}  (on {os.cpu_count()} cores)"
    )
    print(f"iterations stored (check)         {stored:8,}")


if __name__ == "__main__":
    main()
