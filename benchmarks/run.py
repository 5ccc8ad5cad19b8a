"""Benchmarks of the tracking library: prints figures beside their targets, asserts nothing.

Workloads (each on a fresh embedded store in a temporary ``MLOPS_HOME``, so your own data is
never touched; ``MLOPS_TRACKING_URI`` is ignored):

- **w1**: 1,000 iterations, each with 10 parameters, 10 metrics (step 0) and 2 tags. The figure
  is iterations per second over the whole loop (``start_iteration``, ``log_parameters``,
  ``log_metrics``, ``set_tags``, ``end_iteration``) beside raw sqlite3 writing the same rows
  (the ceiling); then log_metric against log_metrics per point, and the client's peak RSS
  logging 10,000,000 points (see ``benchmarks/w1.py``).
- **w2**: one iteration, 10 metrics x 10,000 steps through ``log_metric`` in a loop. The figures
  are the cost of a call as the loop sees it, the time until all 100,000 points are durable
  (``end_iteration()`` has returned) and, as the limit, the same rows inserted by raw
  ``sqlite3.executemany`` in one transaction into a table shaped like ``metric_points``.
- **w1-app, w2-app, w3, latency**: W1 and W2 through a real App on loopback, W3 (search among
  10,000 iterations, a 10,000-step history, the App's memory) and keep-alive request latency
  (see ``benchmarks/app_workloads.py``).
- **reads**: the read targets (10,000- and 1,000,000-step histories, search, the JSON of 1,000
  iterations, W1 through the App beside embedded, alternating), printed as it goes (see
  ``benchmarks/reads.py``).
- **w4**: the App's web pages at 100,000 iterations, on the server and in Chromium (see
  ``benchmarks/w4_pages.py``; ``--keep`` reuses its generated database).

Run::

    .venv/bin/python benchmarks/run.py                 # or: make bench
    .venv/bin/python benchmarks/run.py --workload w2 --quick
    .venv/bin/python benchmarks/run.py --profile       # plus the top cProfile entries
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

# Targets (see the project's README): the figures are printed beside them.
TARGET_US_PER_CALL = 2.0
TARGET_DURABLE_VS_RAW = 0.5

WORKLOADS = ("w1", "w2", "w1-app", "w2-app", "w3", "latency", "reads", "w4")


@dataclass(frozen=True)
class Figure:
    """One printed line: what was measured, its value, and the target it is held against."""

    workload: str
    name: str
    value: float
    unit: str
    target: str = ""
    met: bool | None = None


# -- environment ----------------------------------------------------------------------------
def fresh_home(root: Path, name: str) -> Path:
    """Point mlops at a new, empty ``MLOPS_HOME`` under ``root`` and return it."""
    home = root / name
    home.mkdir()
    os.environ["MLOPS_HOME"] = str(home)
    os.environ.pop("MLOPS_TRACKING_URI", None)
    # Write-path figures without system metrics, comparable with earlier results (their cost
    # is benchmarks/system_metrics.py's); set the variable to measure with them.
    os.environ.setdefault("MLOPS_SYSTEM_METRICS_INTERVAL", "0")
    return home


def setup_experiment(title: str) -> None:
    """Create a project with one experiment and make it active."""
    from mlops import tracking

    project = tracking.create_project(title)
    tracking.set_active_project(project["id"])
    experiment = tracking.create_experiment("bench")
    tracking.set_active_experiment(experiment["id"])


def machine_info() -> list[tuple[str, str]]:
    """Python, OS, CPU count, SQLite and library versions."""
    import sqlalchemy

    import mlops

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 0
    return [
        ("python", f"{platform.python_version()} ({platform.python_implementation()})"),
        ("platform", platform.platform()),
        ("nproc", f"{usable} usable of {os.cpu_count()}"),
        ("sqlite", sqlite3.sqlite_version),
        ("sqlalchemy", sqlalchemy.__version__),
        ("mlops", mlops.__version__),
    ]


def profiled(enabled: bool, top: int, run: Callable[[], list[Figure]]) -> list[Figure]:
    """Run a workload, under cProfile when ``enabled`` (then print its top entries)."""
    if not enabled:
        return run()
    profiler = cProfile.Profile()
    figures = profiler.runcall(run)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    print(out.getvalue())
    return figures


# -- W1: many small iterations --------------------------------------------------------------
def w1_loop(iterations: int, tag: str, target: float) -> list[Figure]:
    """Run W1 against whatever store the tracking library points at: ``iterations`` small
    iterations (10 parameters, 10 metrics at step 0, 2 tags each: issue 12's definition),
    and the figures of the loop."""
    from mlops import tracking

    params = {f"param_{i}": i * 0.5 if i % 2 else f"value-{i}" for i in range(10)}
    metrics = {f"metric_{i}": 0.1 * i for i in range(10)}
    tags = {"team": "vision", "gpu": "a100"}
    spent = {"start": 0.0, "log": 0.0, "end": 0.0}
    clock = time.perf_counter
    begin = clock()
    for n in range(iterations):
        t0 = clock()
        it = tracking.start_iteration(f"w1-{n}")
        t1 = clock()
        it.log_parameters(params)
        it.log_metrics(metrics, step=0)
        it.set_tags(tags)
        t2 = clock()
        it.end_iteration()
        t3 = clock()
        spent["start"] += t1 - t0
        spent["log"] += t2 - t1
        spent["end"] += t3 - t2
    elapsed = clock() - begin
    rate = iterations / elapsed
    figures = [
        Figure(tag, f"{iterations:,} iterations, whole loop", elapsed, "s"),
        Figure(tag, "iterations per second", rate, "it/s", f"> {target:g}", rate > target),
    ]
    for phase, seconds in spent.items():
        figures.append(
            Figure(tag, f"  {phase} (mean per iteration)", seconds / iterations * 1e3, "ms")
        )
    return figures


def workload_w1(root: Path, iterations: int) -> list[Figure]:
    """W1 on the embedded store beside its raw-sqlite3 ceiling measured in the same run, the
    per-point cost of log_metric and log_metrics, and the client's peak memory logging
    10,000 points per iteration of W1 (10,000,000 for the full run): ``benchmarks/w1.py``."""
    import w1

    return w1.workload(root, iterations, 9 * iterations, 10_000 * iterations)


# -- W2: one iteration, many points ---------------------------------------------------------
def workload_w2(root: Path, steps: int, n_metrics: int = 10) -> list[Figure]:
    """log_metric call cost, time until durable, and the raw SQLite limit beside it."""
    from mlops import tracking

    fresh_home(root, "w2")
    setup_experiment("bench-w2")
    names = [f"metric_{i}" for i in range(n_metrics)]
    values = [1.0 / (step + 1) for step in range(steps)]
    total = steps * n_metrics
    clock = time.perf_counter

    # What the bare Python loop costs, so the call cost can be read with and without it.
    begin = clock()
    for step in range(steps):
        value = values[step]
        for name in names:
            _noop(name, value)
    baseline = clock() - begin

    it = tracking.start_iteration("w2")
    log_metric = it.log_metric
    begin = clock()
    for step in range(steps):
        value = values[step]
        for name in names:
            log_metric(name, value)
    looped = clock() - begin
    it.end_iteration()
    durable = clock() - begin

    stored = count_rows(
        root / "w2" / "mlops.db",
        f"SELECT count(*) FROM metric_points WHERE iteration_id = '{it.id}'",
    )
    raw_seconds = raw_sqlite_limit(root / "raw.db", it.id, names, values)

    us_per_call = looped / total * 1e6
    durable_rate = total / durable
    raw_rate = total / raw_seconds
    ratio = durable_rate / raw_rate
    return [
        Figure("w2", f"{total:,} log_metric calls ({n_metrics} x {steps:,}), loop", looped, "s"),
        Figure("w2", "log_metric calls per second", total / looped, "calls/s"),
        Figure(
            "w2",
            "log_metric per call, as the loop sees it",
            us_per_call,
            "µs",
            f"< {TARGET_US_PER_CALL:g}",
            us_per_call < TARGET_US_PER_CALL,
        ),
        Figure("w2", "  of which the bare Python loop", baseline / total * 1e6, "µs"),
        Figure("w2", "loop start -> end_iteration() returned (durable)", durable, "s"),
        Figure("w2", "durable points per second", durable_rate, "points/s"),
        Figure("w2", "raw sqlite3.executemany, one transaction", raw_seconds, "s"),
        Figure("w2", "raw rows per second (the limit)", raw_rate, "rows/s"),
        Figure(
            "w2",
            "durable / raw (points per second)",
            ratio,
            "x",
            f">= {TARGET_DURABLE_VS_RAW:g}",
            ratio >= TARGET_DURABLE_VS_RAW,
        ),
        Figure("w2", "points stored (check)", stored, ""),
    ]


def _noop(name: str, value: float) -> None:
    pass


_RAW_TABLE = """
CREATE TABLE metric_points (
    iteration_id VARCHAR(36) NOT NULL,
    name VARCHAR(250) NOT NULL,
    step BIGINT NOT NULL,
    value FLOAT,
    timestamp FLOAT NOT NULL,
    PRIMARY KEY (iteration_id, name, step)
) WITHOUT ROWID
"""


def raw_sqlite_limit(
    path: Path, iteration_id: str, names: Sequence[str], values: Sequence[float]
) -> float:
    """Seconds to insert the W2 rows (same order, same shape) with plain ``executemany`` in one
    transaction, on a fresh file with mlops' PRAGMAs. Building the rows is not timed."""
    now = time.time()
    rows = [
        (iteration_id, name, step, value, now)
        for step, value in enumerate(values)
        for name in names
    ]
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(_RAW_TABLE)
        begin = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO metric_points VALUES (?, ?, ?, ?, ?)", rows)
        conn.execute("COMMIT")
        return time.perf_counter() - begin
    finally:
        conn.close()


def count_rows(db: Path, sql: str) -> int:
    """A count read straight from the SQLite file (what is durable, seen from outside)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


def _app() -> ModuleType:
    """The workloads through a real App (W1/W2 over HTTP, W3 search, keep-alive latency)."""
    import app_workloads

    return app_workloads


def _reads(quick: bool) -> list[Figure]:
    """The read targets (``benchmarks/reads.py``): it prints its own table of figures."""
    import reads

    reads.main(["--quick"] if quick else [])
    return []


def _w4() -> ModuleType:
    """The W4 module (web pages at 100,000 iterations; see ``benchmarks/w4_pages.py``)."""
    import w4_pages

    return w4_pages


# -- output ---------------------------------------------------------------------------------
def format_value(value: float) -> str:
    if value == int(value) and abs(value) >= 10:
        return f"{int(value):,}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}" if abs(value) < 0.01 else f"{value:.3f}"


def print_table(figures: Sequence[Figure]) -> None:
    width = max(len(f.name) for f in figures)
    print(f"{'':4}{'figure':<{width}}  {'value':>12} {'unit':<9} {'target':<8} result")
    print("-" * (width + 45))
    workload = None
    for f in figures:
        if f.workload != workload:
            workload = f.workload
            print(f"{workload.upper()}")
        result = "" if f.met is None else ("ok" if f.met else "MISSED")
        value = format_value(f.value)
        print(f"{'':4}{f.name:<{width}}  {value:>12} {f.unit:<9} {f.target:<8} {result}".rstrip())


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark the mlops tracking library.")
    parser.add_argument(
        "--workload",
        default=",".join(WORKLOADS),
        help=f"comma-separated workloads to run, of {', '.join(WORKLOADS)} (default: all)",
    )
    parser.add_argument("--quick", action="store_true", help="10x smaller workloads")
    parser.add_argument(
        "--profile", action="store_true", help="run under cProfile and print the top entries"
    )
    parser.add_argument("--top", type=int, default=25, help="profile entries to print")
    parser.add_argument(
        "--workers", type=int, default=1, help="App worker processes for the App workloads"
    )
    parser.add_argument(
        "--keep", action="store_true", help="w4: keep its generated database for the next run"
    )
    args = parser.parse_args(argv)
    chosen = [w.strip().lower() for w in args.workload.split(",") if w.strip()]
    unknown = [w for w in chosen if w not in WORKLOADS]
    if unknown or not chosen:
        parser.error(
            f"unknown workload {', '.join(unknown) or '(none)'}: use {', '.join(WORKLOADS)}"
        )
    args.workloads = chosen
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    scale = 10 if args.quick else 1
    print("machine")
    for key, value in machine_info():
        print(f"    {key:<11} {value}")
    print(
        f"workloads: {', '.join(args.workloads)}{' (quick: 10x smaller)' if args.quick else ''}\n"
    )

    from mlops.store import close_stores

    root = Path(tempfile.mkdtemp(prefix="mlops-bench-"))
    figures: list[Figure] = []
    runners: dict[str, Callable[[], list[Figure]]] = {
        "w1": lambda: workload_w1(root, 1000 // scale),
        "w2": lambda: workload_w2(root, 10_000 // scale),
        "w4": lambda: _w4().workload_w4(root, 100_000 // scale, keep=args.keep),
        # through a real App process (benchmarks/app_workloads.py)
        "w1-app": lambda: _app().run_workloads(["w1"], args.quick, args.workers),
        "w2-app": lambda: _app().run_workloads(["w2"], args.quick, args.workers),
        "w3": lambda: _app().run_workloads(["w3"], args.quick, args.workers),
        "latency": lambda: _app().run_workloads(["latency"], args.quick, args.workers),
        "reads": lambda: _reads(args.quick),
    }
    saved = {k: os.environ.get(k) for k in ("MLOPS_HOME", "MLOPS_TRACKING_URI")}
    try:
        for name in args.workloads:
            figures += profiled(args.profile, args.top, runners[name])
            close_stores()
    finally:
        close_stores()
        shutil.rmtree(root, ignore_errors=True)
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
    print_table(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
