"""W2 through a real App on PostgreSQL beside the same on SQLite, in one run (issue 12).

W2 is ``app_workloads.workload_w2``: 10 metrics x ``--steps`` (default 10,000) ``log_metric``
calls in one iteration, then ``end_iteration()``; the figure is the durable points per second.
The PostgreSQL database ``--database`` (default ``mlops_bench_w2``) is made afresh on the
server of ``--server`` (default the machine's, trust auth) and dropped after the run.

Run::

    .venv/bin/python benchmarks/w2_postgresql.py
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from app_workloads import workload_w2
from run import print_table


def _fresh_database(server: str, name: str, drop: bool = False) -> str:
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop:
            conn.execute(f'CREATE DATABASE "{name}"')
    return f"{server}/{name}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default="mlops_bench_w2")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "sqlite").mkdir()
        (root / "postgresql").mkdir()
        sqlite = workload_w2(root / "sqlite", args.steps, workers=1)
        uri = _fresh_database(args.server, args.database)
        try:
            postgresql = workload_w2(root / "postgresql", args.steps, 1, store_uri=uri)
        finally:
            _fresh_database(args.server, args.database, drop=True)
    figures = [*sqlite, *(replace(f, workload="w2-app-postgresql") for f in postgresql)]
    print_table(figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
