"""The experiment page as a workspace (issue 14): the chart panel and parallel coordinates.

The data: one experiment of ``--iterations`` iterations (default 100,000) with 5 final metrics
each (one point), of which ``--curves`` (default 100) also have 5 metrics of ``--steps``
(default 1,000) steps. It goes in through the store's public methods (``create_iteration``
and ``end_iteration`` with every point, as the tracking library's background writer sends
them); the population time is printed.

The figures:

- **server**: the median of ``--repeat`` requests (httpx, one kept-alive connection to a real
  ``mlops app``) of every request the chart panel makes: the page itself with
  ``charts=loss&curves=100``, the search of the 100 iterations in view, one ``/series`` per
  metric for the 100 curves (downsampled to 1,000 points), and the parallel coordinates'
  ``POST /experiments/{id}/points`` of 10,000 iterations (with its JSON size);
- **browser**: the median time from navigation start until the panel marks itself drawn
  (``[data-testid=ws-panel][data-ready="1"]``: 100 curves on the canvas) and until the
  parallel coordinates of 10,000 lines are drawn, in headless Chromium at 1280 px.

Run::

    .venv/bin/python benchmarks/workspace.py                    # 100,000 iterations
    .venv/bin/python benchmarks/workspace.py --iterations 12000 # a loaded machine
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

from _app_server import AppProcess

METRICS = ["loss", "acc", "f1", "lr_now", "grad_norm"]


def populate(uri: str, iterations: int, curves: int, steps: int) -> tuple[str, float]:
    """The experiment through the store's public methods; (its id, seconds taken)."""
    from mlops.store.sql.store import SqlStore

    began = time.perf_counter()
    store = SqlStore(uri)
    project = store.create_project("bench", None, "active", False)
    experiment = store.create_experiment(project.id, "workspace", None)
    now = time.time() - 86_400
    for n in range(iterations):
        iteration_id = f"ws{n:030d}"
        start = now + n
        store.create_iteration(iteration_id, f"run-{n:06d}", experiment.id, None, start, {})
        long = n < curves
        points = [
            (name, step, (k + 1) / (1 + step / 50) + (n % 97) / 1000, start + step)
            for k, name in enumerate(METRICS)
            for step in (range(steps) if long else (0,))
        ]
        params = {"lr": 10.0 ** -(n % 5), "model": ("rf", "gb", "mlp")[n % 3], "seed": n % 10}
        store.end_iteration(iteration_id, "finished", start + 1, parameters=params, metrics=points)
    store.close()
    return experiment.id, time.perf_counter() - began


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=100_000)
    parser.add_argument("--curves", type=int, default=100)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    import httpx

    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{Path(tmp) / 'ws.db'}"
        experiment_id, took = populate(uri, args.iterations, args.curves, args.steps)
        print(
            f"populated {args.iterations:,} iterations ({args.curves} with 5 x {args.steps:,} "
            f"steps) through the store's methods in {took:.1f} s"
        )
        (Path(tmp) / "home").mkdir()
        with AppProcess(uri, Path(tmp) / "home") as app, httpx.Client(timeout=120) as client:
            page = f"{app.url}/experiments/{experiment_id}"
            search = {"experiment_id": experiment_id, "filter": "name <= 'run-000099'",
                      "order_by": "name", "limit": 100, "parameter_names": [],
                      "metric_names": ["loss"]}  # fmt: skip
            ids = [f"ws{n:030d}" for n in range(args.curves)]
            figures = {
                "page ?charts=loss&curves=100": median_ms(
                    client, "GET", page + "?charts=loss&curves=100", args.repeat
                ),
                "POST /iterations/search (100 in view)": median_ms(
                    client, "POST", f"{app.url}/api/v1/iterations/search", args.repeat, json=search
                ),
                "GET /series (100 curves, 1,000 points each)": median_ms(
                    client,
                    "GET",
                    f"{app.url}/api/v1/series",
                    args.repeat,
                    params={"metric": "loss", "iteration_ids": ids, "max_points": 1000},
                ),
                "POST /experiments/{id}/points (10,000)": median_ms(
                    client,
                    "POST",
                    f"{app.url}/api/v1/experiments/{experiment_id}/points",
                    args.repeat,
                    json={
                        "parameters": ["lr", "model", "seed"],
                        "metrics": ["loss"],
                        "limit": 10_000,
                    },
                ),
            }
            for name, (ms, size) in figures.items():
                print(f"server median  {name:<48} {ms:8.1f} ms  {size / 1024:8.1f} KiB")
            query = "?filter=name%20%3C%3D%20%22run-000099%22&order_by=name&charts=loss&curves=100"
            drawn = browser_ms(page + query, '[data-testid="ws-panel"][data-ready="1"]', 3)
            print(f"browser median chart panel, 100 curves drawn               {drawn:8.1f} ms")
            pc = browser_ms(
                page + "?pc=lr,model,seed&pc_metric=loss&charts=,",
                '[data-testid="ws-pc-box"][data-ready="1"]',
                3,
            )
            print(f"browser median parallel coordinates of {min(args.iterations, 10_000):,} lines "
                  f"drawn   {pc:8.1f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
