"""Benchmarks through the App: a real ``mlops app`` process on loopback, SQLite behind it.

Prints figures beside their targets, asserts nothing. Every workload starts its own App
(``python -m mlops app --port P --store sqlite:///... [--workers N]``) on a fresh database in a
temporary ``MLOPS_HOME``, so your own data is never touched.

- **w1**: 1,000 iterations, each 10 parameters + 10 metrics, through the tracking library with
  ``MLOPS_TRACKING_URI=http://127.0.0.1:P`` (``start_iteration`` is one request, and
  ``end_iteration`` one more that carries the buffered parameters and metrics). Figure:
  iterations per second over the whole loop. Target > 200/s.
- **w2**: one iteration, 10 metrics x 10,000 steps through ``log_metric`` in a loop, the same
  way. Figures: the cost of a call as the loop sees it (the background writer sends batches to
  the App meanwhile), and the time until all 100,000 points are durable (``end_iteration()``
  returned) as points per second. Target >= 100,000 points/s.
- **w3**: 10,000 finished iterations (10 parameters, 10 metrics each) in one experiment,
  written before the App starts (see ``_app_data.py``), then read with httpx over one
  kept-alive connection: a search filtered on a metric and ordered by another, first 100
  (median and p95 of ~50 requests; target < 50 ms median), and one iteration's full history of
  10,000 steps (median). The App's resident memory (VmRSS from ``/proc``, the whole process
  tree with ``--workers``) is sampled during the workload; target < 300 MB.
- **latency**: a trivial GET (``/api/v1/health``) over one kept-alive connection, to show there
  are no ~40 ms Nagle / delayed-ACK stalls (median ~1 ms), and the same for a small batch POST,
  once with a plain httpx client and once with the library's own transport.

Beside the wall-clock figures: the CPU time the App (``/proc/<pid>/stat``, with its workers)
and this process used, and the machine's 1-minute load average when each workload started. On
a shared machine the wall-clock figures move with the load; the CPU figures much less.

Run::

    .venv/bin/python benchmarks/run.py --workload w1-app,w2-app,w3,latency
    .venv/bin/python benchmarks/run.py --workload w3,latency --quick --workers 2
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _app_data import HISTORY_METRIC, generate_w3
from _app_server import AppProcess, MemorySampler
from run import (
    TARGET_US_PER_CALL,
    Figure,
    count_rows,
    setup_experiment,
    w1_loop,
)

# Targets (from the issue); the figures are printed beside them.
TARGET_W1_PER_SECOND = 200.0
TARGET_W2_POINTS_PER_SECOND = 250_000.0  # issue 12
TARGET_SEARCH_MS = 50.0
TARGET_RSS_MB = 300.0
TARGET_LATENCY_MS = 2.0
#: A request slower than this over a kept-alive loopback connection smells of Nagle's
#: algorithm meeting a delayed ACK (~40 ms on Linux).
STALL_MS = 20.0

API = "/api/v1"


# -- helpers --------------------------------------------------------------------------------
def fresh_home(root: Path, name: str) -> Path:
    """A new, empty ``MLOPS_HOME`` under ``root``, set in the environment, and returned."""
    home = root / name
    home.mkdir()
    os.environ["MLOPS_HOME"] = str(home)
    os.environ.pop("MLOPS_TRACKING_URI", None)
    os.environ.pop("MLOPS_MODE", None)
    # Write-path figures without system metrics, comparable with earlier results (their cost
    # is benchmarks/system_metrics.py's); set the variable to measure with them.
    os.environ.setdefault("MLOPS_SYSTEM_METRICS_INTERVAL", "0")
    return home


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, interpolated."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def timed_requests(
    send: Callable[[], httpx.Response], repeat: int, warmup: int = 3
) -> tuple[list[float], httpx.Response]:
    """Milliseconds of ``repeat`` calls of ``send`` (after ``warmup`` untimed ones), and the
    last response; any error status raises."""
    response = send()
    for _ in range(warmup - 1):
        response = send()
    if response.status_code >= 400:
        url, status = response.request.url, response.status_code
        raise RuntimeError(f"{url} answered {status}: {response.text[:300]}")
    spent = []
    clock = time.perf_counter
    for _ in range(repeat):
        begin = clock()
        response = send()
        spent.append((clock() - begin) * 1e3)
        response.raise_for_status()
    return spent, response


class CpuMeter:
    """CPU seconds used by the App and by this process since it was made (wall-clock figures
    on a shared machine vary with the load; these much less)."""

    def __init__(self, app: AppProcess) -> None:
        self.app = app
        self.app_start = app.cpu_seconds()
        self.client_start = time.process_time()

    def read(self) -> tuple[float, float]:
        """(App CPU seconds, client CPU seconds) since the meter was made."""
        return (
            self.app.cpu_seconds() - self.app_start,
            time.process_time() - self.client_start,
        )


def _tracking_to(app: AppProcess, title: str) -> None:
    """Point the tracking library at the App and make an experiment there active."""
    os.environ["MLOPS_TRACKING_URI"] = app.url
    setup_experiment(title)


# -- W1: many small iterations through the App ------------------------------------------------
def workload_w1(root: Path, iterations: int, workers: int) -> list[Figure]:
    """Iterations per second for small iterations (10 parameters, 10 metrics each), each
    costing two requests (start, end) to the App."""
    from mlops.store import close_stores

    home = fresh_home(root, "w1")
    db = home / "app.db"
    with AppProcess(f"sqlite:///{db}", home, workers) as app:
        _tracking_to(app, "bench-w1")
        cpu = CpuMeter(app)
        figures = w1_loop(iterations, "w1-app", TARGET_W1_PER_SECOND)
        app_cpu, client_cpu = cpu.read()
        close_stores()
        stored = count_rows(db, "SELECT count(*) FROM iterations WHERE status = 'finished'")
        points = count_rows(db, "SELECT count(*) FROM metric_points")
    return [
        *figures,
        Figure("w1-app", "App CPU per iteration (2 requests)", app_cpu / iterations * 1e3, "ms"),
        Figure("w1-app", "client CPU per iteration", client_cpu / iterations * 1e3, "ms"),
        Figure("w1-app", "finished iterations stored (check)", stored, ""),
        Figure("w1-app", "metric points stored (check)", points, ""),
    ]


# -- W2: one iteration, many points through the App -------------------------------------------
def workload_w2(
    root: Path, steps: int, workers: int, n_metrics: int = 10, store_uri: str | None = None
) -> list[Figure]:
    """log_metric call cost and the time until 10 x ``steps`` points are durable in the App
    (on a fresh SQLite file, or on the empty database ``store_uri``)."""
    from mlops import tracking
    from mlops.store import close_stores

    home = fresh_home(root, "w2")
    db = home / "app.db"
    uri = store_uri or f"sqlite:///{db}"
    names = [f"metric_{i}" for i in range(n_metrics)]
    values = [1.0 / (step + 1) for step in range(steps)]
    total = steps * n_metrics
    clock = time.perf_counter
    with AppProcess(uri, home, workers) as app:
        _tracking_to(app, "bench-w2")
        it = tracking.start_iteration("w2")
        log_metric = it.log_metric
        cpu = CpuMeter(app)
        begin = clock()
        for step in range(steps):
            value = values[step]
            for name in names:
                log_metric(name, value)
        looped = clock() - begin
        it.end_iteration()
        durable = clock() - begin
        app_cpu, client_cpu = cpu.read()
        close_stores()
        stored = _count_points(uri, it.id)
    us_per_call = looped / total * 1e6
    rate = total / durable
    return [
        Figure(
            "w2-app", f"{total:,} log_metric calls ({n_metrics} x {steps:,}), loop", looped, "s"
        ),
        Figure("w2-app", "log_metric calls per second", total / looped, "calls/s"),
        Figure(
            "w2-app",
            "log_metric per call, as the loop sees it",
            us_per_call,
            "µs",
            f"< {TARGET_US_PER_CALL:g}",
            us_per_call < TARGET_US_PER_CALL,
        ),
        Figure("w2-app", "loop end -> end_iteration() returned", durable - looped, "s"),
        Figure("w2-app", "loop start -> end_iteration() returned (durable)", durable, "s"),
        Figure(
            "w2-app",
            "durable points per second",
            rate,
            "points/s",
            f">= {TARGET_W2_POINTS_PER_SECOND:,.0f}",
            rate >= TARGET_W2_POINTS_PER_SECOND,
        ),
        Figure("w2-app", "App CPU, loop start -> durable", app_cpu, "s"),
        Figure("w2-app", "client CPU (all threads), loop start -> durable", client_cpu, "s"),
        Figure("w2-app", "points stored (check)", stored, ""),
    ]


def _count_points(uri: str, iteration_id: str) -> int:
    """The points of one iteration in the App's database, read from outside the App."""
    from sqlalchemy import create_engine, text

    engine = create_engine(uri.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            query = text("SELECT count(*) FROM metric_points WHERE iteration_id = :i")
            return int(conn.execute(query, {"i": iteration_id}).scalar_one())
    finally:
        engine.dispose()


# -- W3: search and history at 10,000 iterations ----------------------------------------------
def workload_w3(
    root: Path,
    n_iterations: int,
    history_steps: int,
    workers: int,
    search_repeat: int = 50,
    history_repeat: int = 20,
) -> list[Figure]:
    """Search latency (filter + order + limit) and a full metric history, with the App's
    memory sampled meanwhile."""
    home = fresh_home(root, "w3")
    data = generate_w3(home / "app.db", n_iterations, history_steps)
    figures = [
        Figure(
            "w3-app",
            f"data: {n_iterations:,} iterations x 10 params x 10 metrics (not timed below)",
            data.seconds,
            "s",
        )
    ]
    search: dict[str, str | int] = {
        "experiment_id": data.experiment_id,
        "filter": "metrics.m1 > 0.5",
        "order_by": "metrics.m2 desc",
        "limit": 100,
    }
    history = f"{API}/iterations/{data.history_id}/metrics/{HISTORY_METRIC}"
    with AppProcess(data.uri, home, workers) as app:
        rss_start = app.rss_mib()
        with (
            MemorySampler(app) as memory,
            httpx.Client(base_url=app.url, timeout=60) as client,
        ):
            cpu = CpuMeter(app)
            found, answer = timed_requests(
                lambda: client.get(f"{API}/iterations", params=search), search_repeat
            )
            search_cpu, _ = cpu.read()
            page = answer.json()
            shown, size = page["iterations"], len(answer.content)
            in_order = _check_page(shown)
            cpu = CpuMeter(app)
            points_ms, answer = timed_requests(lambda: client.get(history), history_repeat)
            history_cpu, _ = cpu.read()
            points = len(answer.json()["points"])
            points_size = len(answer.content)
        rss_end = app.rss_mib()
    median = statistics.median(found)
    figures += [
        Figure(
            "w3-app",
            "search m1 > 0.5, order by m2 desc, first 100: median",
            median,
            "ms",
            f"< {TARGET_SEARCH_MS:g}",
            median < TARGET_SEARCH_MS,
        ),
        Figure("w3-app", f"  p95 of {search_repeat}", percentile(found, 95), "ms"),
        Figure("w3-app", "  max", max(found), "ms"),
        Figure("w3-app", "  App CPU per request", search_cpu / (search_repeat + 3) * 1e3, "ms"),
        Figure("w3-app", "  response size", size / 1024, "KiB"),
        Figure("w3-app", "  iterations matching (total)", page["total"], ""),
        Figure("w3-app", "  iterations returned", len(shown), ""),
        Figure(
            "w3-app",
            "  page filtered and ordered right (1 = yes)",
            in_order,
            "",
            "1",
            in_order == 1,
        ),
        Figure(
            "w3-app",
            f"history of {history_steps:,} steps, full: median",
            statistics.median(points_ms),
            "ms",
        ),
        Figure("w3-app", f"  p95 of {history_repeat}", percentile(points_ms, 95), "ms"),
        Figure("w3-app", "  App CPU per request", history_cpu / (history_repeat + 3) * 1e3, "ms"),
        Figure("w3-app", "  response size", points_size / 1024, "KiB"),
        Figure("w3-app", "  points returned (check)", points, ""),
        Figure("w3-app", "App RSS after start" + _workers_note(workers), _mb(rss_start), "MB"),
        Figure(
            "w3-app",
            f"App RSS, max of {memory.samples} samples during W3",
            _mb(memory.peak),
            "MB",
            f"< {TARGET_RSS_MB:g}",
            _mb(memory.peak) < TARGET_RSS_MB,
        ),
        Figure("w3-app", "App RSS at the end", _mb(rss_end), "MB"),
    ]
    return figures


def _check_page(iterations: Sequence[dict[str, object]]) -> int:
    """1 when every iteration of the page has m1 > 0.5 and m2 is descending, else 0."""

    def last(it: dict[str, object], name: str) -> float:
        metrics = it.get("metrics")
        assert isinstance(metrics, dict)
        return float(metrics[name])

    try:
        m2 = [last(it, "m2") for it in iterations]
        ok = all(last(it, "m1") > 0.5 for it in iterations) and m2 == sorted(m2, reverse=True)
    except (AssertionError, KeyError, TypeError, ValueError):
        return 0
    return int(ok and bool(iterations))


def _mb(mib: float) -> float:
    """MiB (what ``/proc`` counts, in KiB) as MB (10^6 bytes), the unit of the target."""
    return mib * 1.048576


def _workers_note(workers: int) -> str:
    return f" ({workers} workers + supervisor)" if workers > 1 else ""


# -- latency: small requests over one kept-alive connection -----------------------------------
def workload_latency(root: Path, repeat: int, workers: int) -> list[Figure]:
    """Round trips of a trivial GET and a small POST over a kept-alive connection."""
    from mlops.store.http_client import Transport

    home = fresh_home(root, "latency")
    figures: list[Figure] = []
    with AppProcess(f"sqlite:///{home / 'app.db'}", home, workers) as app:
        with httpx.Client(base_url=app.url, timeout=30) as client:
            project = client.post(f"{API}/projects", json={"title": "bench-latency"}).json()
            experiment = client.post(
                f"{API}/experiments", json={"project_id": project["id"], "name": "latency"}
            ).json()
            iteration = client.post(
                f"{API}/iterations",
                json={
                    "id": "latency0" * 4,
                    "name": "latency",
                    "started_at": time.time(),
                    "experiment_id": experiment["id"],
                },
            ).json()
            batch = f"{API}/iterations/{iteration['id']}/batch"
            step = iter(range(10**9))

            def small_body() -> dict[str, object]:
                return {"metrics": [["loss", next(step), 0.5, time.time()]]}

            health, _ = timed_requests(lambda: client.get(f"{API}/health"), repeat)
            figures += _latency_figures("GET /health, httpx keep-alive", health, required=True)
            posted, _ = timed_requests(lambda: client.post(batch, json=small_body()), repeat)
            figures += _latency_figures(
                "POST 1-point batch, plain httpx (no TCP_NODELAY)", posted, required=False
            )
        transport = Transport(app.url)
        try:
            path = batch.removeprefix(API)
            spent = []
            for n in range(repeat + 3):
                begin = time.perf_counter()
                transport.request("POST", path, body=small_body())
                if n >= 3:
                    spent.append((time.perf_counter() - begin) * 1e3)
        finally:
            transport.close()
        figures += _latency_figures(
            "POST 1-point batch, the library's transport", spent, required=True
        )
    return figures


def _latency_figures(label: str, spent: Sequence[float], required: bool) -> list[Figure]:
    median = statistics.median(spent)
    stalls = sum(1 for ms in spent if ms > STALL_MS)
    return [
        Figure(
            "latency",
            f"{label}: median",
            median,
            "ms",
            f"< {TARGET_LATENCY_MS:g}" if required else "",
            median < TARGET_LATENCY_MS if required else None,
        ),
        Figure("latency", f"  p99 of {len(spent):,}", percentile(spent, 99), "ms"),
        Figure("latency", "  max", max(spent), "ms"),
        Figure(
            "latency",
            f"  requests over {STALL_MS:g} ms (Nagle stalls)",
            stalls,
            "",
            "0" if required else "",
            stalls == 0 if required else None,
        ),
    ]


def run_workloads(names: Sequence[str], quick: bool = False, workers: int = 1) -> list[Figure]:
    """Run the named workloads (each on its own App and temporary home) and return their
    figures; the environment is restored afterwards."""
    from mlops.store import close_stores

    scale = 10 if quick else 1
    root = Path(tempfile.mkdtemp(prefix="mlops-bench-app-"))
    runners: dict[str, Callable[[], list[Figure]]] = {
        "w1": lambda: workload_w1(root, 1000 // scale, workers),
        "w2": lambda: workload_w2(root, 10_000 // scale, workers),
        "w3": lambda: workload_w3(root, 10_000 // scale, 10_000 // scale, workers),
        "latency": lambda: workload_latency(root, 1000 // scale, workers),
    }
    saved = {k: os.environ.get(k) for k in ("MLOPS_HOME", "MLOPS_TRACKING_URI", "MLOPS_MODE")}
    figures: list[Figure] = []
    try:
        for name in names:
            load = os.getloadavg()[0]
            found = runners[name]()
            figures += found
            figures.append(
                Figure(found[0].workload, "machine load (1-min average) at start", load, "")
            )
            close_stores()
    finally:
        close_stores()
        shutil.rmtree(root, ignore_errors=True)
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
    return figures
