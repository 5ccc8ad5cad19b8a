"""The read targets of issue 12 and W1 through the App, each figure beside its target and the
limit it is measured against in the same run (prints, asserts nothing).

- **histories**: one ``loss`` series of 10,000 and of 1,000,000 steps, read whole with
  ``tracking.get_metric_history(columns=True)`` and ``tracking.history_frame``, embedded and
  through a real App on loopback (HttpStore: packed arrays on the wire), best of ``--repeat``.
  Limit: ``sqlite3`` fetching the same rows, no mlops at all. Targets: 10 / 20 ms (10,000
  steps), 1 / 2 s (1,000,000 steps), embedded / App.
- **search**: ``tracking.list_iterations`` filtered on a metric, ordered by another, first
  100 of 1,000 iterations (10 parameters, 10 metrics each), embedded and through the App,
  median of ``--repeat`` x 4, alternating. Target: App within 1.5x of embedded.
- **JSON of 1,000 iterations**: ``POST /api/v1/iterations/search`` with ``limit=1000`` over one
  kept-alive httpx connection, until the whole answer is in (not parsed); beside it the
  embedded store's ``list_iterations`` of the same 1,000 (the store's share). Target < 100 ms.
- **W1 through the App**: ``run.w1_loop`` (start, 10 parameters, 10 metrics, 2 tags, end)
  in blocks that alternate between the embedded store and the App, so both see the same load.
  Target: App >= 50% of embedded.

Run::

    .venv/bin/python benchmarks/reads.py            # about two minutes on a quiet machine
    .venv/bin/python benchmarks/reads.py --quick    # no 1,000,000-step series, fewer W1
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _app_data import HISTORY_METRIC, generate_w3
from _app_server import AppProcess

HISTORY_TARGETS = {
    (10_000, "embedded"): 10.0,
    (10_000, "App"): 20.0,
    (1_000_000, "embedded"): 1000.0,
    (1_000_000, "App"): 2000.0,
}
TARGET_SEARCH_RATIO = 1.5
TARGET_JSON_MS = 100.0
TARGET_W1_RATIO = 0.5
SEARCH = {"filter": "metrics.m1 > 0.5", "order_by": "metrics.m2 desc", "limit": 100}


def line(
    name: str, value: float, unit: str, target: str = "", met: bool | None = None, limit: str = ""
) -> None:
    """One figure: name, value, target and verdict, then the limit it is compared with."""
    verdict = "" if met is None else ("met" if met else "NOT met")
    shown = f"{value:>10,.2f}" if unit == "x" else f"{value:>10,.1f}"  # a ratio near its target
    print(f"  {name:<52} {shown} {unit:<5} {target:<14} {verdict:<8} {limit}".rstrip())


def best(repeat: int, read: Callable[[], Any]) -> float:
    """The fastest of ``repeat`` calls, in ms."""
    spent = []
    for _ in range(repeat):
        begin = time.perf_counter()
        read()
        spent.append(time.perf_counter() - begin)
    return min(spent) * 1e3


def use(uri: str) -> None:
    """Point the tracking library at ``uri`` (a fresh store object)."""
    from mlops.store import close_stores

    os.environ["MLOPS_TRACKING_URI"] = uri
    close_stores()


def raw_fetch(db: Path, iteration_id: str) -> Callable[[], Any]:
    def read() -> Any:
        with sqlite3.connect(db) as conn:
            return conn.execute(
                "SELECT step, value, timestamp FROM metric_points "
                "WHERE iteration_id = ? AND name = ? ORDER BY step, seq",
                (iteration_id, HISTORY_METRIC),
            ).fetchall()

    return read


def histories(
    db: Path, uri: str, app: AppProcess, iteration_id: str, steps: int, repeat: int
) -> None:
    from mlops import tracking

    limit = best(repeat, raw_fetch(db, iteration_id))
    for where, target_uri in (("embedded", uri), ("App", app.url)):
        use(target_uri)
        target = HISTORY_TARGETS[(steps, where)]
        reads = {
            "get_metric_history(columns=True)": lambda: tracking.get_metric_history(
                iteration_id, HISTORY_METRIC, columns=True
            ),
            "history_frame": lambda: tracking.history_frame(iteration_id, HISTORY_METRIC),
        }
        for name, read in reads.items():
            spent = best(repeat, read)
            line(
                f"{steps:,} steps, {where}, {name}",
                spent,
                "ms",
                f"< {target:,.0f} ms",
                spent < target,
                f"raw sqlite3 fetchall {limit:,.1f} ms (x{spent / limit:.1f})",
            )


def search_and_json(uri: str, app: AppProcess, experiment_id: str, repeat: int) -> None:
    import httpx

    from mlops import tracking

    def search() -> Any:
        return tracking.list_iterations(experiment_id, **SEARCH)  # type: ignore[arg-type]

    times: dict[str, list[float]] = {"embedded": [], "App": []}
    for _ in range(repeat * 4):
        for where, target_uri in (("embedded", uri), ("App", app.url)):
            use(target_uri)
            search()  # the store's first call opens its connection
            begin = time.perf_counter()
            found = search()
            times[where].append((time.perf_counter() - begin) * 1e3)
            assert len(found) == 100
    embedded, remote = (statistics.median(times[w]) for w in ("embedded", "App"))
    line("search top 100 of 1,000, embedded (median)", embedded, "ms")
    ratio = remote / embedded
    line("search top 100 of 1,000, App (median)", remote, "ms")
    line(
        "  App / embedded", ratio, "x", f"<= {TARGET_SEARCH_RATIO:g}", ratio <= TARGET_SEARCH_RATIO
    )

    from mlops.store import open_store

    store = open_store(uri)
    store_ms = best(repeat, lambda: store.list_iterations(experiment_id, limit=1000))
    body = {"experiment_id": experiment_id, "limit": 1000}
    with httpx.Client(base_url=app.url + "/api/v1", timeout=60) as client:
        answer = client.post("/iterations/search", json=body)
        assert len(answer.json()["iterations"]) == 1000
        spent = best(repeat, lambda: client.post("/iterations/search", json=body).content)
    line(
        "JSON of 1,000 iterations through the App",
        spent,
        "ms",
        f"< {TARGET_JSON_MS:g} ms",
        spent < TARGET_JSON_MS,
        f"{len(answer.content) / 1e6:.1f} MB; embedded list_iterations {store_ms:.1f} ms",
    )


def w1(uri: str, app: AppProcess, iterations: int) -> None:
    from run import w1_loop

    from mlops import tracking

    blocks, seconds = 10, {"embedded": 0.0, "App": 0.0}
    size = max(iterations // blocks, 1)
    where_to = {"embedded": uri, "App": app.url}
    active = {}
    for where, target_uri in where_to.items():
        use(target_uri)
        project = tracking.create_project(f"bench-w1-{where}")
        active[where] = (
            project["id"],
            tracking.create_experiment("w1", project_id=project["id"])["id"],
        )
    for _ in range(blocks):
        for where, target_uri in where_to.items():
            use(target_uri)
            tracking.set_active_project(active[where][0])
            tracking.set_active_experiment(active[where][1])
            seconds[where] += w1_loop(size, "w1", 0.0)[0].value
    done = size * blocks
    embedded, remote = done / seconds["embedded"], done / seconds["App"]
    line(f"W1 embedded ({done:,} iterations, in blocks)", embedded, "it/s")
    line("W1 through the App, same blocks", remote, "it/s")
    ratio = remote / embedded
    line("  App / embedded", ratio, "x", f">= {TARGET_W1_RATIO:g}", ratio >= TARGET_W1_RATIO)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="no 1,000,000-step series")
    parser.add_argument("--repeat", type=int, default=5, help="reads per figure (best kept)")
    parser.add_argument("--only", choices=["histories", "search", "w1"], action="append")
    args = parser.parse_args(argv)
    only = set(args.only or ["histories", "search", "w1"])
    root = Path(tempfile.mkdtemp(prefix="mlops-bench-reads-"))
    os.environ.pop("MLOPS_MODE", None)
    os.environ["MLOPS_SYSTEM_METRICS_INTERVAL"] = "0"  # as run.py: without system metrics
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the start")
    try:
        sizes = [10_000] if args.quick else [10_000, 1_000_000]
        for steps in sizes:
            home = root / f"s{steps}"
            home.mkdir()
            os.environ["MLOPS_HOME"] = str(home)
            data = generate_w3(home / "store.db", 1000 if steps == 10_000 else 1, steps)
            with AppProcess(data.uri, home) as app:
                if "histories" in only:
                    print(f"one {steps:,}-step series (written in {data.seconds:.1f} s)")
                    histories(home / "store.db", data.uri, app, data.history_id, steps, args.repeat)
                if steps == 10_000 and "search" in only:
                    print("1,000 iterations, 10 parameters and 10 metrics each")
                    search_and_json(data.uri, app, data.experiment_id, args.repeat)
                if steps == 10_000 and "w1" in only:
                    print("W1 (start, 10 parameters, 10 metrics, 2 tags, end)")
                    w1(data.uri, app, 200 if args.quick else 1000)
            print(f"  (load average {os.getloadavg()[0]:.2f} after it)")
    finally:
        os.environ.pop("MLOPS_TRACKING_URI", None)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
