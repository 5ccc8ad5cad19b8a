"""``GET /api/v1/series`` for the curves of a chart panel, measured on the server (issue 14).

The data: one experiment of ``--curves`` iterations (default 100), each with 5 metrics of
``--steps`` steps (default 1,000), written with ``log_batch`` (not timed). The figures are the
median and p95 over ``--repeat`` requests through the App in-process (FastAPI's TestClient on a
real SQLite file, or ``--store postgresql://...``) of:

- ``/series?metric=loss`` of all the curves in columns with ``max_points=1000`` (every series
  fits: read as it is) and ``max_points=500`` (every series downsampled), and in points;
- the live increment: ``/series?after_step=`` of 20 of them after 5 new steps were logged.

Target: the 100 curves under 200 ms on the server.

Run::

    .venv/bin/python benchmarks/series_batch.py
    .venv/bin/python benchmarks/series_batch.py --store postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from mlops.app import create_app
from mlops.app.settings import AppSettings
from mlops.store.sql.store import SqlStore

sys.path.insert(0, str(Path(__file__).resolve().parent))

from live_tick import median_p95

METRICS = ("loss", "acc", "f1", "lr_now", "grad_norm")


def _fill(store: SqlStore, curves: int, steps: int) -> list[str]:
    project = store.create_project(f"bench-{time.time()}", None, "active", False)
    experiment = store.create_experiment(project.id, "series", None)
    now = time.time()
    ids = []
    for n in range(curves):
        iteration_id = f"curve-{n:03d}-{now}"
        store.create_iteration(iteration_id, f"curve-{n:03d}", experiment.id, None, now, {})
        rows = [
            (m, s, (k + 1) / (1 + s / 50) + (n % 97) / 1000 + (s % 7) / 100, now + s)
            for k, m in enumerate(METRICS)
            for s in range(steps)
        ]
        store.log_batch(iteration_id, metrics=rows)
        ids.append(iteration_id)
    return ids


def _timed(client: TestClient, params: list[tuple[str, str]], repeat: int) -> tuple[str, int]:
    times = []
    size = 0
    for _ in range(repeat):
        began = time.perf_counter()
        answer = client.get("/api/v1/series", params=params)
        times.append(time.perf_counter() - began)
        assert answer.status_code == 200, answer.text[:300]
        size = len(answer.content)
    return median_p95(times), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", help="a store URI (default: a new SQLite file)")
    parser.add_argument("--curves", type=int, default=100)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="mlops-series-")
    uri = args.store or f"sqlite:///{Path(folder) / 'series.db'}"
    store = SqlStore(uri)
    began = time.perf_counter()
    ids = _fill(store, args.curves, args.steps)
    print(
        f"data: {args.curves} iterations x 5 metrics x {args.steps:,} steps in "
        f"{time.perf_counter() - began:.1f} s ({uri.split(':')[0]})"
    )
    every: list[tuple[str, str]] = [("metric", "loss"), *(("iteration_ids", i) for i in ids)]
    cases: dict[str, list[tuple[str, str]]] = {
        "columns, max_points=1000 (whole series)": [
            *every, ("format", "columns"), ("max_points", "1000"),
        ],
        "columns, max_points=500 (downsampled)": [
            *every, ("format", "columns"), ("max_points", "500"),
        ],
        "points, max_points=1000": [*every, ("max_points", "1000")],
    }  # fmt: skip
    with TestClient(create_app(AppSettings(uri)), base_url="http://127.0.0.1") as client:
        client.get("/api/v1/series", params=cases["points, max_points=1000"])  # warm up
        for name, params in cases.items():
            figure, size = _timed(client, params, args.repeat)
            print(f"/series {args.curves} curves {name:<40} {figure}  {size / 1024:7.0f} KiB")
        live = ids[:20]
        times: list[float] = []
        step = args.steps
        for _ in range(args.repeat):
            now = time.time()
            for iteration_id in live:
                rows: Any = [(m, s, 0.5, now) for m in METRICS for s in range(step, step + 5)]
                store.log_batch(iteration_id, metrics=rows)
            params = [("metric", "loss"), ("after_step", str(step - 1)), ("format", "columns"),
                      *(("iteration_ids", i) for i in live)]  # fmt: skip
            began = time.perf_counter()
            answer = client.get("/api/v1/series", params=params)
            times.append(time.perf_counter() - began)
            assert answer.status_code == 200 and len(answer.json()["series"]) == 20
            step += 5
        print(f"/series after_step, 20 live iterations (5 new steps each)      {median_p95(times)}")
    store.close()


if __name__ == "__main__":
    main()
