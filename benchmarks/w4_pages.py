"""W4: the App's web pages on a large experiment, measured on the server and in Chromium.

The data: one project, one experiment of 100,000 iterations (``--quick``: 10,000), each with 20
parameters (numbers, strings and a boolean) and 5 metrics (a summary row and one point each),
all using one dataset. One iteration has 5 series of 100,000 steps (the "long" iteration) and
10 have 5 series of 10,000 steps (the "compare" set). The schema is made by ``SqlStore``; the
rows go in through its engine in one transaction (``executemany`` of plain tuples in creation
order, secondary indexes rebuilt afterwards from their own DDL; no ANALYZE, as on a real
store), so 100,000 iterations take well under a minute instead of the tracking library's many.

The figures (targets: every server response under 200 ms, every page drawn under 1 s):

- **server**: the median of ~10 requests with httpx (one kept-alive connection) to a real
  ``mlops app`` process, for the experiment page sorted by a metric with a filter (first
  page), the iteration page of the long iteration plus its chart data request
  (``?max_points=1000``), and the compare page of the 10 compare iterations plus every data
  request that page makes (the requests are taken from what Chromium fetched);
- **browser**: the median time from navigation start until ``<body data-ready="1">`` (the page
  drew its table or charts) in headless Chromium at 1280 px, after one warm-up load;
- the App's resident memory (RSS, and its peak) from ``/proc``.

Run::

    .venv/bin/python benchmarks/w4_pages.py --quick          # 10,000 iterations
    .venv/bin/python benchmarks/w4_pages.py --keep           # keep the generated DB for next time
    .venv/bin/python benchmarks/w4_pages.py --explain        # why: SQL times, plans, cProfile
    .venv/bin/python benchmarks/run.py --workload w4 --quick # the same, beside W1/W2
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import math
import pstats
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import Figure, machine_info, print_table

TARGET_SERVER_MS = 200.0
TARGET_DRAWN_MS = 1000.0

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CACHE_DIR = Path(tempfile.gettempdir()) / "mlops-bench-w4-cache"
#: Bump when the generated data changes shape, so a kept database is rebuilt.
DATA_VERSION = 4

METRICS = ("accuracy", "loss", "val_accuracy", "val_loss", "f1")
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
ACTIVATIONS = ("relu", "gelu", "tanh", "silu")
SCHEDULERS = ("cosine", "step", "linear", "none")
PRECISIONS = ("fp32", "bf16", "fp16")
MODELS = ("resnet18", "resnet50", "vit-s", "vit-b", "convnext-t")

#: The experiment-page query measured: two metric and two parameter columns, sorted by a
#: metric, filtered on a parameter and a metric (matches about 1 iteration in 15).
PAGE_METRICS = ("accuracy", "val_loss")
PAGE_PARAMS = ("lr", "optimizer")
PAGE_ORDER = "metrics.accuracy desc"
PAGE_FILTER = 'params.optimizer = "adam" and metrics.val_loss < 0.5'


# -- data -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class W4Data:
    """What was generated: where, how much, and the ids the measured pages need."""

    db: str
    iterations: int
    long_steps: int
    compare_steps: int
    project_id: str
    experiment_id: str
    dataset_name: str
    long_id: str
    compare_ids: tuple[str, ...]
    seconds: float
    version: int = DATA_VERSION
    schema: str = ""

    @property
    def uri(self) -> str:
        return f"sqlite:///{self.db}"


def _parameters(rng: random.Random, n: int) -> list[tuple[str, Any]]:
    """The 20 parameters of iteration ``n``: numbers, strings and a boolean."""
    return [
        ("lr", round(10 ** rng.uniform(-5, -1), 8)),
        ("batch_size", rng.choice((16, 32, 64, 128, 256))),
        ("optimizer", OPTIMIZERS[n % len(OPTIMIZERS)]),
        ("dropout", round(rng.uniform(0.0, 0.5), 3)),
        ("weight_decay", round(10 ** rng.uniform(-6, -2), 8)),
        ("epochs", rng.choice((10, 20, 50, 100))),
        ("layers", rng.randint(2, 48)),
        ("hidden", rng.choice((128, 256, 512, 768, 1024))),
        ("activation", rng.choice(ACTIVATIONS)),
        ("scheduler", rng.choice(SCHEDULERS)),
        ("warmup", rng.randint(0, 2000)),
        ("seed", n),
        ("momentum", round(rng.uniform(0.8, 0.99), 4)),
        ("beta1", 0.9),
        ("beta2", rng.choice((0.98, 0.999))),
        ("grad_clip", rng.choice((0.5, 1.0, 5.0))),
        ("label_smoothing", rng.choice((0.0, 0.05, 0.1))),
        ("augment", rng.random() < 0.5),
        ("precision", rng.choice(PRECISIONS)),
        ("model", rng.choice(MODELS)),
    ]


def _curve(name: str, step: int, steps: int, quality: float, noise: float) -> float:
    """A plausible training curve: accuracies rise towards ``quality``, losses fall."""
    progress = 1.0 - math.exp(-5.0 * (step + 1) / steps)
    if name.endswith("loss"):
        return (2.5 - 2.3 * quality * progress) * (1.0 + noise)
    return min(1.0, quality * progress * (1.0 + noise))


def _encoder() -> Callable[[Any], tuple[str, float | None, str | None]]:
    """``mlops.store.sql.rows.encode_parameter`` with a cache (most values repeat)."""
    from mlops.store.sql.rows import encode_parameter

    cache: dict[tuple[type, Any], tuple[str, float | None, str | None]] = {}

    def encode(value: Any) -> tuple[str, float | None, str | None]:
        key = (type(value), value)  # True == 1, but they are stored differently
        found = cache.get(key)
        if found is None:
            found = cache[key] = encode_parameter(value)
        return found

    return encode


def generate(db: Path, n_iterations: int, long_steps: int, compare_steps: int) -> W4Data:
    """Write the W4 experiment into a new SQLite file ``db`` and return what was made."""
    from mlops.store.sql.store import SqlStore

    begin = time.perf_counter()
    rng = random.Random(4)
    store = SqlStore(f"sqlite:///{db}")  # creates the schema
    try:
        project = store.create_project("w4-pages", "W4 benchmark data", "active", False)
        experiment = store.create_experiment(project.id, "sweep-100k", "20 params, 5 metrics")
        dataset = store.create_dataset(
            "w4-images", "s3://bench/w4-images", "W4 data", ["bench"], "1", None, None, None
        )
        encode = _encoder()
        ids = [uuid.uuid4().hex for _ in range(n_iterations)]
        long_id, compare_ids = ids[0], ids[1:11]
        steps_of = {long_id: long_steps, **{i: compare_steps for i in compare_ids}}
        t0 = time.time() - n_iterations * 60.0
        iterations: list[tuple[Any, ...]] = []
        parameters: list[tuple[Any, ...]] = []
        summaries: list[tuple[Any, ...]] = []
        points: list[tuple[Any, ...]] = []
        for n, iteration_id in enumerate(ids):
            started = t0 + n * 60.0
            iterations.append(
                (iteration_id, project.id, experiment.id, f"run-{n:06d}", "finished",
                 started, started + 55.0, started + 55.0, "{}")
            )  # fmt: skip
            for name, value in _parameters(rng, n):
                parameters.append((iteration_id, name, *encode(value)))
            quality = rng.uniform(0.55, 0.99)
            steps = steps_of.get(iteration_id, 1)
            for name in METRICS:
                if steps == 1:
                    value = _curve(name, 9, 10, quality, rng.uniform(-0.03, 0.03))
                    points.append((iteration_id, name, 0, value, started + 55.0))
                    summaries.append((iteration_id, name, value, 0, value, value))
                    continue
                series = [
                    _curve(name, s, steps, quality, rng.gauss(0.0, 0.02)) for s in range(steps)
                ]
                points.extend(
                    (iteration_id, name, s, v, started + s * 0.001) for s, v in enumerate(series)
                )
                summaries.append(
                    (iteration_id, name, series[-1], steps - 1, min(series), max(series))
                )
        # Rowid tables get their rows in creation order, as the tracking library writes them
        # (their physical order decides how costly an index walk is); metric_points is
        # clustered on its primary key whatever the order, so it goes in key order (faster).
        points.sort(key=lambda r: (r[0], r[1], r[2]))
        links = [(i, dataset.id) for i in ids]
        engine = store._engine
        with engine.connect() as conn:
            conn = conn.execution_options(mlops_write=True)
            with conn.begin():
                conn.exec_driver_sql("PRAGMA cache_size=-262144")  # 256 MiB for the bulk load
                # Secondary indexes are rebuilt after the load from their own DDL (a sorted
                # build is several times faster than 2.5 million random index inserts).
                indexes = conn.exec_driver_sql(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                    "AND tbl_name IN ('parameters', 'metric_summaries', 'iteration_datasets')"
                ).all()
                for name, _sql in indexes:
                    conn.exec_driver_sql(f'DROP INDEX "{name}"')
                # Newer schemas repeat the experiment in metric_summaries (for its indexes).
                summary_columns = ["iteration_id", "name", "last", "last_step", "min", "max"]
                present = {
                    r[1] for r in conn.exec_driver_sql("PRAGMA table_info(metric_summaries)")
                }
                if "experiment_id" in present:
                    summary_columns.append("experiment_id")
                    summaries = [(*row, experiment.id) for row in summaries]
                for sql, rows in (
                    ("INSERT INTO iterations (id, project_id, experiment_id, name, status, "
                     "started_at, ended_at, heartbeat_at, system) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", iterations),
                    ("INSERT INTO parameters (iteration_id, name, value_json, value_num, "
                     "value_str) VALUES (?, ?, ?, ?, ?)", parameters),
                    (f"INSERT INTO metric_summaries ({', '.join(summary_columns)}) "
                     f"VALUES ({', '.join('?' * len(summary_columns))})", summaries),
                    ("INSERT INTO metric_points (iteration_id, name, step, seq, value, timestamp) "
                     "VALUES (?, ?, ?, 0, ?, ?)", points),
                    ("INSERT INTO iteration_datasets (iteration_id, dataset_id) VALUES (?, ?)",
                     links),
                ):  # fmt: skip
                    conn.exec_driver_sql(sql, rows)
                for _name, ddl in indexes:
                    conn.exec_driver_sql(ddl)
            # No ANALYZE: mlops never runs it, so the query planner works without statistics
            # here as it does on a real store. Outside any transaction: fold the WAL into the
            # database file.
            driver = conn.connection.driver_connection
            assert driver is not None
            driver.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        store.close()
    return W4Data(
        db=str(db),
        iterations=n_iterations,
        long_steps=long_steps,
        compare_steps=compare_steps,
        project_id=project.id,
        experiment_id=experiment.id,
        dataset_name=dataset.name,
        long_id=long_id,
        compare_ids=tuple(compare_ids),
        seconds=time.perf_counter() - begin,
        schema=schema_fingerprint(),
    )


def schema_fingerprint() -> str:
    """A short hash of the store's tables, columns and indexes: a kept database made for
    another schema is generated again."""
    import hashlib

    from mlops.store.sql.models import Base

    shape = [
        (t.name, [c.name for c in t.columns], sorted(str(i.name) for i in t.indexes))
        for t in Base.metadata.sorted_tables
    ]
    return hashlib.sha256(repr(shape).encode()).hexdigest()[:16]


def prepared_data(
    folder: Path, n_iterations: int, long_steps: int, compare_steps: int, keep: bool
) -> tuple[W4Data, bool]:
    """The W4 data in ``folder`` (reused when ``keep`` and it matches), and whether it was
    reused."""
    manifest = folder / f"w4-{n_iterations}.json"
    if keep and manifest.is_file():
        try:
            raw = json.loads(manifest.read_text())
            raw["compare_ids"] = tuple(raw["compare_ids"])
            data = W4Data(**raw)
            if (
                data.version == DATA_VERSION
                and data.schema == schema_fingerprint()
                and Path(data.db).is_file()
                and (data.long_steps, data.compare_steps) == (long_steps, compare_steps)
            ):
                return data, True
        except (ValueError, TypeError, KeyError):
            pass
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / f"w4-{n_iterations}.db"
    for stale in (db, Path(f"{db}-wal"), Path(f"{db}-shm"), manifest):
        stale.unlink(missing_ok=True)
    data = generate(db, n_iterations, long_steps, compare_steps)
    manifest.write_text(json.dumps(asdict(data), indent=1))
    return data, False


# -- the App -----------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class App:
    """A real ``mlops app`` process on a loopback port (stopped by :meth:`stop`)."""

    def __init__(self, store_uri: str) -> None:
        import httpx

        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "mlops", "app", "--port", str(self.port)]
        self.proc = subprocess.Popen(
            [*command, "--store", store_uri],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the App exited: {self.proc.stderr.read()}")  # type: ignore[union-attr]
            try:
                if httpx.get(f"{self.url}/api/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("the App did not answer within 30 s")

    def memory_mib(self) -> tuple[float, float]:
        """(resident, peak resident) memory of the App process in MiB, from ``/proc``."""
        fields: dict[str, float] = {}
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    fields[key] = float(rest.split()[0]) / 1024
        return fields.get("VmRSS", math.nan), fields.get("VmHWM", math.nan)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# -- what is measured --------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """A page to measure: its label, its address, and whether the browser loads it too."""

    key: str
    label: str
    path: str
    in_browser: bool = True
    required: bool = True  # held against the target (the others are shown for context)


def targets(data: W4Data) -> list[Target]:
    """The W4 pages, then a few more pages of the same data for context."""
    experiment = "/experiments/" + data.experiment_id
    query = urlencode(
        {
            "metrics": ",".join(PAGE_METRICS),
            "params": ",".join(PAGE_PARAMS),
            "order_by": PAGE_ORDER,
            "filter": PAGE_FILTER,
            "page": 1,
        }
    )
    compare = "/compare?" + urlencode({"ids": ",".join(data.compare_ids)})
    long = "/iterations/" + data.long_id
    twin = f"{experiment}.json?{query}"
    n = f"{data.iterations:,}"
    project = "/projects/" + data.project_id
    dataset = "/datasets/" + quote(data.dataset_name, safe="")
    return [
        Target("experiment", "experiment page, sorted + filtered", f"{experiment}?{query}"),
        Target("iteration", f"iteration page (5 x {data.long_steps:,} steps)", long),
        Target("compare", f"compare page (10 x 5 x {data.compare_steps:,} steps)", compare),
        Target("experiment-plain", "experiment page, default order", experiment, True, False),
        Target("experiment-json", "  its .json twin", twin, in_browser=False, required=False),
        Target("projects", "projects page", "/projects", in_browser=False, required=False),
        Target("project", "project page", project, in_browser=False, required=False),
        Target("dataset", f"dataset page (used by all {n})", dataset, False, False),
    ]


def server_times(
    client: Any, path: str, repeat: int, method: str = "GET", body: str | None = None
) -> tuple[float, float, int]:
    """(median ms, max ms, bytes) of ``repeat`` requests of ``path`` (a GET, or ``method``
    with a JSON ``body`` as the page sent it) after one warm-up."""
    headers = {"Content-Type": "application/json"} if body is not None else None

    def send() -> Any:
        return client.request(method, path, content=body, headers=headers)

    response = send()
    if response.status_code != 200:
        raise RuntimeError(
            f"{method} {path} answered {response.status_code}: {response.text[:300]}"
        )
    spent = []
    for _ in range(repeat):
        begin = time.perf_counter()
        response = send()
        spent.append((time.perf_counter() - begin) * 1e3)
        response.raise_for_status()
    return statistics.median(spent), max(spent), len(response.content)


_READY = 'body[data-ready="1"]'
_READY_PROBE = """
(() => {
  const mark = () => {
    if (document.body && document.body.dataset.ready === '1' && window.__w4ReadyAt === undefined)
      window.__w4ReadyAt = performance.now();
  };
  new MutationObserver(mark).observe(document, {attributes: true, subtree: true,
                                                attributeFilter: ['data-ready']});
})();
"""


@dataclass
class BrowserLoad:
    """One page in Chromium: time until drawn (in the page's clock and as seen from Python)
    and the data requests the page made (``fetch``/``xhr``: method, URL, body)."""

    drawn_ms: float
    wall_ms: float
    requests: list[tuple[str, str, str | None]]


def browser_loads(base_url: str, paths: Sequence[str], repeat: int) -> dict[str, BrowserLoad]:
    """Median load time until ``<body data-ready="1">`` per path (after one warm-up load)."""
    from playwright.sync_api import sync_playwright

    out: dict[str, BrowserLoad] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.add_init_script(_READY_PROBE)
            page = context.new_page()
            for path in paths:
                requests: list[tuple[str, str, str | None]] = []

                def record(request: Any, into: list[Any] = requests) -> None:
                    if request.resource_type in ("fetch", "xhr"):
                        into.append((request.method, request.url, request.post_data))

                drawn, wall = [], []
                for attempt in range(repeat + 1):
                    requests.clear()
                    page.on("request", record)
                    begin = time.perf_counter()
                    page.goto(base_url + path, wait_until="commit")
                    page.wait_for_selector(_READY, state="attached", timeout=30_000)
                    elapsed = (time.perf_counter() - begin) * 1e3
                    page.remove_listener("request", record)
                    if attempt:  # the first load warms the browser cache and the App
                        wall.append(elapsed)
                        drawn.append(float(page.evaluate("window.__w4ReadyAt ?? NaN")))
                out[path] = BrowserLoad(
                    statistics.median(drawn), statistics.median(wall), list(requests)
                )
        finally:
            browser.close()
    return out


def workload_w4(
    root: Path,
    n_iterations: int,
    keep: bool = False,
    repeat: int = 10,
    browser_repeat: int = 5,
) -> list[Figure]:
    """Generate (or reuse) the data, start the App, measure the pages; the printed figures."""
    import httpx

    quick = n_iterations < 100_000
    long_steps = 100_000
    compare_steps = 10_000
    folder = CACHE_DIR if keep else root / "w4"
    data, reused = prepared_data(folder, n_iterations, long_steps, compare_steps, keep)
    figures = [
        Figure(
            "w4",
            f"data: {data.iterations:,} iterations x 20 params x 5 metrics"
            + (" (quick)" if quick else "")
            + (" (reused, --keep)" if reused else ", generated in"),
            0.0 if reused else data.seconds,
            "s",
        )
    ]
    pages = targets(data)
    app = App(data.uri)
    try:
        rss_start, _ = app.memory_mib()
        loads: dict[str, BrowserLoad] = {}
        chromium_missing = not Path(CHROMIUM).exists()
        if not chromium_missing:
            loads = browser_loads(app.url, [t.path for t in pages if t.in_browser], browser_repeat)
        with httpx.Client(base_url=app.url, timeout=60) as client:
            for page in pages:
                median, worst, size = server_times(client, page.path, repeat)
                figures.append(_server_figure(page.label, median, page.required))
                figures.append(Figure("w4", f"  max of {repeat}", worst, "ms"))
                figures.append(Figure("w4", "  response size", size / 1024, "KiB"))
                load = loads.get(page.path)
                if load is None:
                    continue
                if load.requests:
                    figures += _data_request_figures(client, load.requests, repeat, page.required)
                figures.append(
                    Figure(
                        "w4",
                        "  in Chromium: navigation -> data-ready (median)",
                        load.drawn_ms,
                        "ms",
                        f"< {TARGET_DRAWN_MS:g}" if page.required else "",
                        load.drawn_ms < TARGET_DRAWN_MS if page.required else None,
                    )
                )
                figures.append(Figure("w4", "  in Chromium: seen from Python", load.wall_ms, "ms"))
        if chromium_missing:
            figures.append(Figure("w4", f"browser figures skipped: {CHROMIUM} missing", 0, ""))
        rss, peak = app.memory_mib()
        figures.append(Figure("w4", "App RSS after start", rss_start, "MiB"))
        figures.append(Figure("w4", "App RSS after the run", rss, "MiB"))
        figures.append(Figure("w4", "App peak RSS (VmHWM)", peak, "MiB"))
    finally:
        app.stop()
    return figures


def _server_figure(label: str, median: float, required: bool) -> Figure:
    return Figure(
        "w4",
        f"{label}: server (median)",
        median,
        "ms",
        f"< {TARGET_SERVER_MS:g}" if required else "",
        median < TARGET_SERVER_MS if required else None,
    )


def _data_request_figures(
    client: Any, sent: Sequence[tuple[str, str, str | None]], repeat: int, required: bool
) -> list[Figure]:
    """The data requests a page made, each timed like a page: the slowest and the sum."""
    from urllib.parse import urlsplit

    medians = []
    slowest = ("", 0.0)
    for method, full, body in dict.fromkeys(sent):
        parts = urlsplit(full)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        median, _, _ = server_times(client, path, repeat, method, body)
        medians.append(median)
        if median >= slowest[1]:
            slowest = (path, median)
    shown = slowest[0].rsplit("/", 1)[-1]  # the metric and the query
    if len(shown) > 48:  # e.g. a compare request naming ten iteration ids
        shown = shown[:45] + "..."
    return [
        Figure(
            "w4",
            f"  {len(medians)} data requests, slowest (median): {shown}",
            slowest[1],
            "ms",
            f"< {TARGET_SERVER_MS:g}" if required else "",
            slowest[1] < TARGET_SERVER_MS if required else None,
        ),
        Figure("w4", "  data requests: sum of medians (one after another)", sum(medians), "ms"),
    ]


# -- why a page is slow ------------------------------------------------------------------------
@dataclass
class Statement:
    """One SQL statement a request ran, with its time and parameters."""

    ms: float
    sql: str
    parameters: Any


@contextlib.contextmanager
def recorded_statements(engine: Any) -> Iterator[list[Statement]]:
    """Every statement run on ``engine`` inside the block, timed (SQLAlchemy cursor events)."""
    from sqlalchemy import event

    found: list[Statement] = []
    started: dict[int, float] = {}

    def before(conn: Any, cursor: Any, sql: str, params: Any, context: Any, many: bool) -> None:
        started[id(cursor)] = time.perf_counter()

    def after(conn: Any, cursor: Any, sql: str, params: Any, context: Any, many: bool) -> None:
        begin = started.pop(id(cursor), time.perf_counter())
        found.append(Statement((time.perf_counter() - begin) * 1e3, sql, params))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield found
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


def explain(data: W4Data, paths: Sequence[str], top: int = 18, slow_ms: float = 5.0) -> None:
    """Why each path takes the time it takes, in-process (``create_app``, requests through
    ``httpx.ASGITransport`` with FastAPI's thread pool made inline so that cProfile sees the
    handler): the request time, each SQL statement re-run alone with ``fetchall`` on the same
    file (with ``EXPLAIN QUERY PLAN`` for the slow ones) and the cProfile top by own time."""
    import asyncio
    import sqlite3

    import fastapi.dependencies.utils
    import fastapi.routing
    import httpx

    from mlops.app import AppSettings, create_app

    async def inline(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    for module in (fastapi.routing, fastapi.dependencies.utils):
        setattr(module, "run_in_threadpool", inline)  # noqa: B010 - patched for this process
    app = create_app(AppSettings(store_uri=data.uri))
    engine = app.state.store._engine
    raw = sqlite3.connect(f"file:{data.db}?mode=ro", uri=True)

    async def get(path: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            return await c.get(path)

    for path in paths:
        asyncio.run(get(path))  # warm the caches, as the timed server figures do
        begin = time.perf_counter()
        asyncio.run(get(path))
        plain = (time.perf_counter() - begin) * 1e3
        profiler = cProfile.Profile()
        with recorded_statements(engine) as statements:
            response = profiler.runcall(asyncio.run, get(path))
        print(f"\n=== GET {path[:160]}")
        print(f"status {response.status_code}, {len(response.content):,} bytes, {plain:.1f} ms "
              f"in-process, {len(statements)} SQL statements")  # fmt: skip
        rerun: list[tuple[float, Statement]] = []
        for s in statements:
            if s.sql.strip().upper() in ("BEGIN", "COMMIT", "ROLLBACK"):
                continue
            begin = time.perf_counter()
            try:
                raw.execute(s.sql, s.parameters).fetchall()
            except sqlite3.Error:
                continue
            rerun.append(((time.perf_counter() - begin) * 1e3, s))
        total = sum(ms for ms, _ in rerun)
        print(f"SQL re-run alone with fetchall: {total:.1f} ms in all")
        for ms, s in sorted(rerun, key=lambda r: -r[0])[:6]:
            print(f"  {ms:8.1f} ms  {' '.join(s.sql.split())[:300]}")
            if ms >= slow_ms:
                for row in raw.execute("EXPLAIN QUERY PLAN " + s.sql, s.parameters):
                    print(f"             plan: {row[-1]}")
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("tottime").print_stats(top)
        lines = [line for line in out.getvalue().splitlines()[4:] if line.strip()]
        print("cProfile, by own time:")
        print("\n".join(lines))
    raw.close()


# -- command line ------------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="W4: the App's web pages at 100,000 iterations.")
    parser.add_argument("--quick", action="store_true", help="10,000 iterations instead")
    parser.add_argument(
        "--keep",
        action="store_true",
        help=f"keep the generated database in {CACHE_DIR} and reuse it next time",
    )
    parser.add_argument("--repeat", type=int, default=10, help="requests per server figure")
    parser.add_argument(
        "--explain",
        action="store_true",
        help="instead of the figures: per page, its SQL statements with times and query "
        "plans, and the cProfile top (in-process)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    n_iterations = 10_000 if args.quick else 100_000
    print("machine")
    for key, value in machine_info():
        print(f"    {key:<11} {value}")
    print(f"workload: w4, {n_iterations:,} iterations\n")
    root = Path(tempfile.mkdtemp(prefix="mlops-bench-w4-"))
    try:
        if args.explain:
            folder = CACHE_DIR if args.keep else root / "w4"
            data, _ = prepared_data(folder, n_iterations, 100_000, 10_000, args.keep)
            series = f"/api/v1/iterations/{{}}/metrics/{METRICS[1]}?max_points={{}}"
            paths = [t.path for t in targets(data)]
            paths += [series.format(data.long_id, 1000), series.format(data.compare_ids[0], 500)]
            explain(data, paths)
            return 0
        figures = workload_w4(root, n_iterations, keep=args.keep, repeat=args.repeat)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print_table(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
