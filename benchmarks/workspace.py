"""The experiment page as a workspace (issue 14): W4 at scale, every figure the issue names.

The data: one experiment of ``--iterations`` iterations (default 100,000) with 5 final metrics
each (one point), of which ``--curves`` (default 100) also have 5 metrics of ``--steps``
(default 1,000) steps, and ``--running`` (default 20) of those are still running. It is
written through the SQL store's own write path (``write_batch``, many iterations to a
transaction: see ``_app_data.bulk_write``); the population time is printed.

The figures:

- **server**: the median of ``--repeat`` requests (httpx, one kept-alive connection to a real
  ``mlops app``) of every request the workspace makes: the page itself with
  ``charts=loss&curves=100``, the search of the 100 iterations in view, ``/series`` of the 100
  curves in columns (at the page's ``max_points`` and at 1,000), the parallel coordinates'
  ``POST /experiments/{id}/points`` of 10,000 iterations, grouping every iteration by a
  parameter (``POST /experiments/{id}/groups``, and the page with ``group_by=``), and a live
  tick with the running iterations (``/live`` and the ``/series`` increment, after the
  running ones logged 5 more steps);
- **browser**: the median time from navigation start until the panel marks itself drawn
  (``[data-testid=ws-panel][data-ready="1"]``: 100 curves on the canvas) and until the
  parallel coordinates of 10,000 lines are drawn, in headless Chromium at 1280 px.

Each figure is printed beside its target (every request under 200 ms, grouping under 300 ms,
the live tick under 50 ms, drawing under 1 s).

Run::

    .venv/bin/python benchmarks/workspace.py                    # 100,000 iterations
    .venv/bin/python benchmarks/workspace.py --iterations 10000 # quicker
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _app_data import BulkIteration, bulk_write
from _app_server import AppProcess

METRICS = ["loss", "acc", "f1", "lr_now", "grad_norm"]
#: What the chart panel asks for at 1280 px (the plot's width in pixels).
PAGE_MAX_POINTS = 500


def iteration_id(n: int) -> str:
    return f"ws{n:030d}"


def populate(
    uri: str, iterations: int, curves: int, steps: int, running: int
) -> tuple[str, list[str], float]:
    """The experiment; (its id, the running iterations' ids, seconds taken)."""
    from mlops.store.sql.store import SqlStore

    began = time.perf_counter()
    store = SqlStore(uri)
    project = store.create_project("bench", None, "active", False)
    experiment = store.create_experiment(project.id, "workspace", None)
    now = time.time() - 86_400 * 30
    written = []
    for n in range(iterations):
        start = now + n * 10
        long = n < curves
        points = [
            (name, step, (k + 1) / (1 + step / 50) + (n % 97) / 1000, start + step)
            for k, name in enumerate(METRICS)
            for step in (range(steps) if long else (0,))
        ]
        params = {"lr": 10.0 ** -(n % 5), "model": ("rf", "gb", "mlp")[n % 3], "seed": n % 10}
        written.append(
            BulkIteration(iteration_id(n), f"run-{n:06d}", start, params, points, n < running)
        )
    bulk_write(store, project.id, experiment.id, written)
    store.close()
    return experiment.id, [iteration_id(n) for n in range(running)], time.perf_counter() - began


def median_ms(client: Any, method: str, url: str, repeat: int, **kwargs: Any) -> tuple[float, int]:
    times, size = [], 0
    for _ in range(repeat):
        began = time.perf_counter()
        answer = client.request(method, url, **kwargs)
        times.append((time.perf_counter() - began) * 1000)
        assert answer.status_code == 200, answer.text[:300]
        size = len(answer.content)
    return statistics.median(times), size


def browser_ms(url: str, selector: str, repeat: int, before: str | None = None) -> float:
    from playwright.sync_api import sync_playwright

    times = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        for i in range(repeat + 1):  # the first load warms up
            began = time.perf_counter()
            page.goto(url)
            page.wait_for_selector(selector, state="attached", timeout=120_000)
            if i:
                times.append((time.perf_counter() - began) * 1000)
        browser.close()
    return statistics.median(times)


def live_tick_ms(client: Any, url: str, uri: str, running: list[str], steps: int, repeat: int,
                 experiment_id: str) -> float:  # fmt: skip
    """The median server time of a live tick: ``/live`` of the running iterations, then the
    increment of the two followed metrics, after each running iteration logged 5 more steps."""
    from mlops.store.sql.store import SqlStore

    store = SqlStore(uri)
    times, step = [], steps
    try:
        for _ in range(repeat):
            now = time.time()
            for it in running:
                rows = [(m, s, 0.5, now) for m in METRICS for s in range(step, step + 5)]
                store.log_batch(it, metrics=rows, heartbeat_at=now)
            began = time.perf_counter()
            live = client.get(f"{url}/api/v1/experiments/{experiment_id}/live",
                              params={"ids": ",".join(running)})  # fmt: skip
            assert live.status_code == 200 and len(live.json()["iterations"]) == len(running)
            for metric in ("loss", "acc"):
                params = [("metric", metric), ("after_step", str(step - 1)), ("format", "columns"),
                          *(("iteration_ids", i) for i in running)]  # fmt: skip
                answer = client.get(f"{url}/api/v1/series", params=params)
                assert answer.status_code == 200, answer.text[:300]
            times.append((time.perf_counter() - began) * 1000)
            step += 5
    finally:
        store.close()
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=100_000)
    parser.add_argument("--curves", type=int, default=100)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--running", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    import httpx

    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{Path(tmp) / 'ws.db'}"
        experiment_id, running, took = populate(
            uri, args.iterations, args.curves, args.steps, args.running
        )
        print(
            f"populated {args.iterations:,} iterations ({args.curves} with 5 x {args.steps:,} "
            f"steps, {args.running} running) through the store's write path in {took:.1f} s"
        )
        (Path(tmp) / "home").mkdir()
        with AppProcess(uri, Path(tmp) / "home") as app, httpx.Client(timeout=120) as client:
            page = f"{app.url}/experiments/{experiment_id}"
            search = {"experiment_id": experiment_id, "filter": "name <= 'run-000099'",
                      "order_by": "name", "limit": 100, "parameter_names": [],
                      "metric_names": ["loss"]}  # fmt: skip
            ids = [iteration_id(n) for n in range(args.curves)]

            def series(max_points: int) -> dict[str, Any]:
                return {"metric": "loss", "iteration_ids": ids, "max_points": max_points,
                        "format": "columns"}  # fmt: skip

            points = {"parameters": ["lr", "model", "seed"], "metrics": ["loss"], "limit": 10_000}
            groups = {"group_by": "params.model", "metrics": METRICS}
            api = f"{app.url}/api/v1"
            figures = {
                "page ?charts=loss&curves=100": (
                    200, median_ms(client, "GET", page + "?charts=loss&curves=100", args.repeat)
                ),
                "POST /iterations/search (100 in view)": (
                    200, median_ms(client, "POST", f"{api}/iterations/search", args.repeat,
                                   json=search),
                ),
                f"GET /series columns (100 curves, max_points={PAGE_MAX_POINTS})": (
                    200, median_ms(client, "GET", f"{api}/series", args.repeat,
                                   params=series(PAGE_MAX_POINTS)),
                ),
                "GET /series columns (100 curves, max_points=1000)": (
                    200, median_ms(client, "GET", f"{api}/series", args.repeat,
                                   params=series(1000)),
                ),
                "POST /experiments/{id}/points (10,000)": (
                    200, median_ms(client, "POST", f"{api}/experiments/{experiment_id}/points",
                                   args.repeat, json=points),
                ),
                f"POST /experiments/{{id}}/groups (all {args.iterations:,}, by model)": (
                    300, median_ms(client, "POST", f"{api}/experiments/{experiment_id}/groups",
                                   args.repeat, json=groups),
                ),
                "page ?group_by=params.model": (
                    300, median_ms(client, "GET", page + "?group_by=params.model", args.repeat)
                ),
            }  # fmt: skip
            for name, (target, (ms, size)) in figures.items():
                print(f"server median  {name:<58} {ms:8.1f} ms  {size / 1024:8.1f} KiB"
                      f"   target < {target} ms")  # fmt: skip
            if running:
                tick = live_tick_ms(client, app.url, uri, running, args.steps, args.repeat * 4,
                                    experiment_id)  # fmt: skip
                print(f"server median  live tick ({len(running)} running: /live + 2 x /series "
                      f"increment)     {tick:8.1f} ms              target < 50 ms")  # fmt: skip
            query = "?filter=name%20%3C%3D%20%22run-000099%22&order_by=name&charts=loss&curves=100"
            drawn = browser_ms(page + query, '[data-testid="ws-panel"][data-ready="1"]', 3)
            print(f"browser median chart panel, 100 curves drawn          {drawn:8.1f} ms"
                  "   target < 1000 ms")  # fmt: skip
            pc = browser_ms(
                page + "?pc=lr,model,seed&pc_metric=loss&charts=,",
                '[data-testid="ws-pc-box"][data-ready="1"]',
                3,
            )
            print(f"browser median parallel coordinates of {min(args.iterations, 10_000):,} lines "
                  f"drawn   {pc:8.1f} ms   target < 1000 ms")  # fmt: skip


if __name__ == "__main__":
    main()
