"""One live tick of the experiment page with 20 running iterations, measured on the server.

The data: one experiment with ``--finished`` finished iterations (default 5,000) and 20 running
ones, each running one with 5 metrics of ``--steps`` steps (default 1,000). A tick is what
static/live.js asks every 2.5 s: ``GET /api/v1/experiments/{id}/live?ids=<the 20>`` and, for
each followed metric (here 2), ``GET /api/v1/series?after_step=&format=columns`` over the 20
iterations after 5 new steps were logged. The live read is by primary key (iterations and
metric summaries of the 20 ids), so the experiment's size does not enter it.

Figures: the median and p95 over ``--repeat`` ticks (default 50) of the store's
``get_live_iterations`` alone, of the ``/live`` request, and of a whole tick, through the App
in-process (FastAPI's TestClient on a real SQLite file, or ``--store postgresql://...``).
Target: a tick under 50 ms on the server.

Run::

    .venv/bin/python benchmarks/live_tick.py
    .venv/bin/python benchmarks/live_tick.py --store postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from mlops.app import create_app
from mlops.app.settings import AppSettings
from mlops.store.sql.store import SqlStore

METRICS = ("loss", "acc", "lr", "grad_norm", "val_loss")


def _fill(store: SqlStore, finished: int, steps: int) -> tuple[str, list[str]]:
    project = store.create_project(f"bench-{time.time()}", None, "active", False)
    experiment = store.create_experiment(project.id, "live", None)
    now = time.time()
    for k in range(finished):
        iteration_id = f"done-{k}-{now}"
        store.create_iteration(iteration_id, f"done-{k}", experiment.id, None, now, {})
        rows = [(m, 0, float(k), now) for m in METRICS]
        store.end_iteration(iteration_id, "finished", now + 1, metrics=rows)
    running = []
    for k in range(20):
        iteration_id = f"run-{k}-{now}"
        store.create_iteration(iteration_id, f"run-{k}", experiment.id, None, now, {})
        rows = [(m, s, 1.0 / (s + 1), now + s) for m in METRICS for s in range(steps)]
        store.log_batch(iteration_id, metrics=rows, heartbeat_at=time.time())
        running.append(iteration_id)
    return experiment.id, running


def median_p95(times: list[float]) -> str:
    """The median and 95th percentile of times in seconds, as milliseconds."""
    ms = sorted(t * 1000 for t in times)
    p95 = ms[max(0, int(len(ms) * 0.95) - 1)]
    return f"median {statistics.median(ms):6.2f} ms   p95 {p95:6.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", help="a store URI (default: a new SQLite file)")
    parser.add_argument("--finished", type=int, default=5000)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="mlops-live-")
    uri = args.store or f"sqlite:///{Path(folder) / 'live.db'}"
    store = SqlStore(uri)
    started = time.perf_counter()
    experiment_id, running = _fill(store, args.finished, args.steps)
    print(
        f"data: {args.finished:,} finished + 20 running iterations x 5 metrics x "
        f"{args.steps:,} steps in {time.perf_counter() - started:.1f} s ({uri.split(':')[0]})"
    )
    ids = ",".join(running)
    store_times, live_times, tick_times = [], [], []
    app = create_app(AppSettings(uri))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        step = args.steps
        for _ in range(args.repeat):
            now = time.time()
            for iteration_id in running:  # 5 new steps of every metric since the last tick
                rows = [(m, s, 0.5, now) for m in METRICS for s in range(step, step + 5)]
                store.log_batch(iteration_id, metrics=rows, heartbeat_at=now)
            t0 = time.perf_counter()
            store.get_live_iterations(experiment_id, running)
            store_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            answer = client.get(f"/api/v1/experiments/{experiment_id}/live", params={"ids": ids})
            live_times.append(time.perf_counter() - t0)
            assert answer.status_code == 200 and len(answer.json()["iterations"]) == 20
            for metric in ("loss", "acc"):
                params = [("metric", metric), ("after_step", str(step - 1)), ("format", "columns"),
                          *(("iteration_ids", i) for i in running)]  # fmt: skip
                series = client.get("/api/v1/series", params=params)
                assert series.status_code == 200
            tick_times.append(time.perf_counter() - t0)
            step += 5
    store.close()
    print(f"store get_live_iterations (20 ids):   {median_p95(store_times)}")
    print(f"GET /experiments/{{id}}/live (20 ids): {median_p95(live_times)}")
    print(f"whole tick (/live + 2 x /series):     {median_p95(tick_times)}   target < 50 ms")


if __name__ == "__main__":
    main()
