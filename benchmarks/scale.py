"""Scale: the experiment page's requests, search and counting at 1,000,000 iterations in one
experiment, beside the same figures at 100,000 (issue 12, "Fast at every size").

The data, per size (default 100,000 and 1,000,000; ``--sizes``): one SQLite store with one
experiment of N finished iterations, each with 10 parameters (``p0`` a string of 3 values,
``p1..p9`` numbers) and 10 one-point metrics ``m1..m10`` uniform in [0, 1) (so
``metrics.m1 > 0.5`` matches about half). The rows go through the SQL store's own write path
(``_app_data.bulk_write``: ``write_batch``, 20,000 iterations to a transaction); the population
time, iterations per second and the database's size are printed. No ANALYZE is run (mlops
never runs it). ``--keep`` keeps each database in ``/tmp/mlops-bench-scale-cache`` and reuses
it next time.

The figures, per size, on a real ``mlops app`` process (``_app_server.AppProcess``): the median
of ``--repeat`` (5) requests over one kept-alive httpx connection, after one warm-up, of

- the experiment page, default (no filter, no sort) and sorted + filtered
  (``?filter=metrics.m1 > 0.5&order_by=metrics.m2 desc``), and their ``.json`` twins;
- the data requests the page's scripts make on load (recorded once per page in headless
  Chromium, as ``w4_pages.py`` does; the chart panel's search and ``/series``);
- ``POST /api/v1/iterations/search``, limit 100: ``metrics.m1 > 0.5`` ordered by
  ``metrics.m2 desc`` with its capped count (the default) and with ``count_total: false``, a
  parameter filter (``params.p0 = "adam"``), ordered by a parameter, ordered by
  ``started_at``;
- counting, as the API offers it (the search's ``total``, limit 1, no columns): capped at
  10,000 (the default) and exact (``exact_total``), unfiltered and filtered, and the count the
  page's arrivals.js asks at each live tick (``started_at > <page opened>``).

Each figure is printed beside the target (under 200 ms), then a table of all sizes side by
side with the ratio of the largest to the smallest.

Why a figure is slow: ``--explain`` runs each request in-process instead (``create_app``,
``httpx.ASGITransport``) and prints its SQL statements, each re-run alone on the same file
with its time and, when slow, its ``EXPLAIN QUERY PLAN``; ``--py-spy`` records the App with
py-spy (``record -f raw``) while it answers each figure that missed the target at the largest
size, and prints the top frames (own time, and mlops/SQLAlchemy frames by inclusive time).

Run::

    .venv/bin/python benchmarks/scale.py --keep                  # 100,000 and 1,000,000
    .venv/bin/python benchmarks/scale.py --sizes 10000 --repeat 3 # quick
    .venv/bin/python benchmarks/scale.py --keep --py-spy          # plus profiles of the misses
    .venv/bin/python benchmarks/scale.py --keep --explain --sizes 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime as dt
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _app_data import N_METRICS, N_PARAMS, BulkIteration, bulk_write
from _app_server import AppProcess
from run import Figure, format_value, machine_info, print_table
from w4_pages import CHROMIUM, CHROMIUM_ARGS, recorded_statements, schema_fingerprint

TARGET_MS = 200.0
CACHE_DIR = Path(tempfile.gettempdir()) / "mlops-bench-scale-cache"
#: Bump when the generated data changes shape, so a kept database is written again.
DATA_VERSION = 1
CHUNK = 20_000
OPTIMIZERS = ("adam", "sgd", "adamw")
PAGE_FILTER = "metrics.m1 > 0.5"
PAGE_ORDER = "metrics.m2 desc"


def say(*parts: Any) -> None:
    """Progress on stderr (the figures go to stdout)."""
    print(*parts, file=sys.stderr, flush=True)


# -- data ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScaleData:
    """One populated store: where, how many iterations, and how long writing them took."""

    db: str
    iterations: int
    experiment_id: str
    seconds: float
    version: int = DATA_VERSION
    schema: str = ""

    @property
    def uri(self) -> str:
        return f"sqlite:///{self.db}"

    def size_mib(self) -> float:
        files = (Path(self.db), Path(f"{self.db}-wal"))
        return sum(p.stat().st_size for p in files if p.exists()) / 2**20


def _chunks(n_iterations: int, seed: int) -> Iterator[list[BulkIteration]]:
    """The iterations, ``CHUNK`` at a time (a million at once would take gigabytes)."""
    rng = random.Random(seed)
    t0 = time.time() - n_iterations * 60.0
    for first in range(0, n_iterations, CHUNK):
        part = []
        for n in range(first, min(first + CHUNK, n_iterations)):
            started = t0 + n * 60.0
            parameters = {
                "p0": rng.choice(OPTIMIZERS),
                **{f"p{k}": round(rng.uniform(0, 10), 4) for k in range(1, N_PARAMS)},
            }
            metrics = [(f"m{k}", 0, rng.random(), started + 50.0) for k in range(1, N_METRICS + 1)]
            part.append(
                BulkIteration(uuid.uuid4().hex, f"run-{n:07d}", started, parameters, metrics)
            )
        yield part


def generate(db: Path, n_iterations: int, seed: int = 12) -> ScaleData:
    """Write ``n_iterations`` into one experiment of a new SQLite file through the store's
    write path, ``CHUNK`` to a transaction."""
    from mlops.store.sql.store import SqlStore

    begin = time.perf_counter()
    store = SqlStore(f"sqlite:///{db}")  # creates the schema
    try:
        project = store.create_project("bench-scale", "Scale benchmark", "active", False)
        experiment = store.create_experiment(project.id, "sweep", "10 params x 10 metrics")
        written = 0
        for part in _chunks(n_iterations, seed):
            bulk_write(store, project.id, experiment.id, part, chunk=CHUNK)
            written += len(part)
            if written % 100_000 == 0 or written == n_iterations:
                spent = time.perf_counter() - begin
                say(f"  populated {written:,} in {spent:.0f} s ({written / spent:,.0f}/s)")
        with store._engine.connect() as conn:  # fold the WAL in: the size is the file's
            driver = conn.connection.driver_connection
            assert driver is not None
            driver.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        store.close()
    return ScaleData(
        str(db), n_iterations, experiment.id, time.perf_counter() - begin, DATA_VERSION,
        schema_fingerprint(),
    )  # fmt: skip


def prepared(folder: Path, n_iterations: int, keep: bool) -> tuple[ScaleData, bool]:
    """The data of ``n_iterations`` in ``folder`` (reused when ``keep`` and it matches), and
    whether it was reused."""
    manifest = folder / f"scale-{n_iterations}.json"
    if keep and manifest.is_file():
        try:
            data = ScaleData(**json.loads(manifest.read_text()))
            if (
                data.version == DATA_VERSION
                and data.schema == schema_fingerprint()
                and Path(data.db).is_file()
            ):
                return data, True
        except (ValueError, TypeError, KeyError):
            pass
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / f"scale-{n_iterations}.db"
    for stale in (db, Path(f"{db}-wal"), Path(f"{db}-shm"), manifest):
        stale.unlink(missing_ok=True)
    data = generate(db, n_iterations)
    manifest.write_text(json.dumps(asdict(data), indent=1))
    return data, False


# -- what is measured ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Request:
    """One measured request: a key (the same at every size), a label, and what is sent."""

    key: str
    label: str
    method: str
    path: str
    body: dict[str, Any] | None = None

    def content(self) -> str | None:
        return None if self.body is None else json.dumps(self.body)


def _search(experiment_id: str, **fields: Any) -> dict[str, Any]:
    return {"experiment_id": experiment_id, "limit": 100, **fields}


def _count(experiment_id: str, filter: str | None, exact: bool) -> dict[str, Any]:
    body = _search(experiment_id, filter=filter, limit=1, parameter_names=[], metric_names=[])
    return {**body, "exact_total": exact}


def requests_of(experiment_id: str, opened_at: str) -> list[Request]:
    """Every request measured at each size, but the page's script requests (recorded)."""
    page = "/experiments/" + experiment_id
    query = "?" + urlencode({"filter": PAGE_FILTER, "order_by": PAGE_ORDER})
    search = "/api/v1/iterations/search"
    e = experiment_id
    since = f'started_at > "{opened_at}"'
    return [
        Request("page", "experiment page, default", "GET", page),
        Request("page-json", "  its .json twin", "GET", page + ".json"),
        Request("page-sorted", "experiment page, sorted + filtered", "GET", page + query),
        Request("page-sorted-json", "  its .json twin", "GET", page + ".json" + query),
        Request("s-sorted", f"search {PAGE_FILTER}, {PAGE_ORDER}, capped count", "POST", search,
                _search(e, filter=PAGE_FILTER, order_by=[PAGE_ORDER])),
        Request("s-sorted-nocount", "  the same, count_total: false", "POST", search,
                _search(e, filter=PAGE_FILTER, order_by=[PAGE_ORDER], count_total=False)),
        Request("s-param", 'search params.p0 = "adam" (default order), capped count', "POST",
                search, _search(e, filter='params.p0 = "adam"')),
        Request("s-param-nocount", "  the same, count_total: false", "POST", search,
                _search(e, filter='params.p0 = "adam"', count_total=False)),
        Request("s-by-param", "search ordered by params.p1 desc, capped count", "POST", search,
                _search(e, order_by=["params.p1 desc"])),
        Request("s-by-param-nocount", "  the same, count_total: false", "POST", search,
                _search(e, order_by=["params.p1 desc"], count_total=False)),
        Request("s-started", "search ordered by started_at desc, capped count", "POST", search,
                _search(e, order_by=["started_at desc"])),
        Request("s-started-nocount", "  the same, count_total: false", "POST", search,
                _search(e, order_by=["started_at desc"], count_total=False)),
        Request("c-all", "count, no filter (capped at 10,000)", "POST", search,
                _count(e, None, False)),
        Request("c-all-exact", "count, no filter, exact_total", "POST", search,
                _count(e, None, True)),
        Request("c-m1", f"count, {PAGE_FILTER} (capped at 10,000)", "POST", search,
                _count(e, PAGE_FILTER, False)),
        Request("c-m1-exact", f"count, {PAGE_FILTER}, exact_total", "POST", search,
                _count(e, PAGE_FILTER, True)),
        Request("c-p0-exact", 'count, params.p0 = "adam", exact_total', "POST", search,
                _count(e, 'params.p0 = "adam"', True)),
        Request("c-arrivals", "arrivals.js count: started_at > opened (none)", "POST", search,
                _count(e, since, False)),
        Request("c-arrivals-filtered", f"  the same and ({PAGE_FILTER})", "POST", search,
                _count(e, f"({PAGE_FILTER}) and {since}", False)),
    ]  # fmt: skip


def page_script_requests(base_url: str, pages: Sequence[Request]) -> list[Request]:
    """The data requests (fetch/xhr) each page's scripts made on load in headless Chromium,
    waited for until ``<body data-ready>`` and the chart panel are drawn (one load each)."""
    from playwright.sync_api import sync_playwright

    found: list[Request] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            for target in pages:
                sent: list[tuple[str, str, str | None]] = []

                def record(request: Any, into: list[Any] = sent) -> None:
                    if request.resource_type in ("fetch", "xhr"):
                        into.append((request.method, request.url, request.post_data))

                page.on("request", record)
                page.goto(base_url + target.path, wait_until="load", timeout=300_000)
                with_panel = '[data-testid=ws-panel][data-ready="1"]'
                if page.query_selector("[data-testid=ws-panel]") is not None:
                    page.wait_for_selector(with_panel, state="attached", timeout=300_000)
                page.wait_for_timeout(500)  # a request started right after the panel drew
                page.remove_listener("request", record)
                for n, (method, url, body) in enumerate(dict.fromkeys(sent), 1):
                    parts = urlsplit(url)
                    path = parts.path + (f"?{parts.query}" if parts.query else "")
                    shown = path.split("?")[0].removeprefix("/api/v1")
                    metric = dict(parse_qsl(parts.query)).get("metric")
                    shown += f" ({metric})" if metric else ""
                    found.append(
                        Request(
                            f"{target.key}-js{n}",
                            f"  its script's {method} {shown}",
                            method,
                            path,
                            json.loads(body) if body else None,
                        )
                    )
        finally:
            browser.close()
    return found


@dataclass
class Timing:
    median_ms: float
    max_ms: float
    size: int
    note: str = ""
    times: list[float] = field(default_factory=list)


def timed(client: Any, request: Request, repeat: int) -> Timing:
    """The median of ``repeat`` requests after one warm-up."""
    headers = {"Content-Type": "application/json"} if request.body is not None else None
    content = request.content()

    def send() -> Any:
        return client.request(request.method, request.path, content=content, headers=headers)

    answer = send()
    if answer.status_code != 200:
        raise RuntimeError(f"{request.method} {request.path} answered {answer.status_code}: "
                           f"{answer.text[:300]}")  # fmt: skip
    note = ""
    if request.key.startswith("c-"):
        total = answer.json().get("total")
        note = f"total {total:,}" if isinstance(total, int) else ""
    spent = []
    for _ in range(repeat):
        begin = time.perf_counter()
        answer = send()
        spent.append((time.perf_counter() - begin) * 1e3)
        answer.raise_for_status()
    return Timing(statistics.median(spent), max(spent), len(answer.content), note, spent)


# -- py-spy -------------------------------------------------------------------------------------
def py_spy(app: AppProcess, client: Any, request: Request, seconds: float, out: Path) -> str:
    """Record the App with py-spy while it answers ``request`` again and again for about
    ``seconds``; the top frames as text."""
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        return f"py-spy missing ({spy}): .venv/bin/pip install py-spy"
    headers = {"Content-Type": "application/json"} if request.body is not None else None
    recorder = subprocess.Popen(
        [str(spy), "record", "-p", str(app.proc.pid), "-f", "raw", "-o", str(out),
         "-r", "200", "-d", str(int(seconds) + 30), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    time.sleep(1.0)  # py-spy attaches
    sent = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline or sent < 2:
        client.request(request.method, request.path, content=request.content(), headers=headers)
        sent += 1
    recorder.send_signal(2)  # SIGINT: py-spy writes what it has and stops
    try:
        recorder.wait(timeout=60)
    except subprocess.TimeoutExpired:
        recorder.kill()
        recorder.wait()
    if not out.exists():
        return f"py-spy wrote nothing: {recorder.stderr.read().decode()[-500:]}"  # type: ignore[union-attr]
    return f"{sent} requests\n" + summarise_raw(out.read_text())


def _short(frame: str) -> str:
    """``func (path/to/file.py:12)`` -> ``func (file.py:12)`` with the package kept."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    for marker in ("site-packages/", "src/", "lib/python3.11/"):
        if marker in where:
            where = where.split(marker, 1)[1]
            break
    return f"{name} ({where})"


def summarise_raw(raw: str, top: int = 14) -> str:
    """Own-time and inclusive-time tops of a py-spy ``-f raw`` (collapsed stacks) file, of
    the threads that were busy (the stacks that reach the request's handler)."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = [_short(f) for f in stack.split(";")[1:]]  # the first is the thread
        if not any("mlops/" in f for f in frames):
            continue  # idle event loop, the pool's waiting threads
        n = int(count)
        total += n
        own[frames[-1]] += n
        for frame in dict.fromkeys(f for f in frames if "mlops/" in f or "sqlalchemy/" in f):
            inclusive[frame] += n
    if not total:
        return "  (no samples in mlops frames)"
    lines = [f"  {total} samples in mlops frames; by own time:"]
    lines += [f"    {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    lines.append("  mlops and SQLAlchemy frames, by inclusive time:")
    lines += [f"    {100 * n / total:5.1f}%  {f}" for f, n in inclusive.most_common(top)]
    return "\n".join(lines)


# -- one size -----------------------------------------------------------------------------------
def label_of(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k"


def measure(
    data: ScaleData, reused: bool, root: Path, repeat: int, spy: bool, largest: bool
) -> tuple[list[Figure], dict[str, tuple[str, Timing]]]:
    """Start the App on ``data`` and time every request; the printed figures and, by key,
    (label, timing)."""
    import httpx

    tag = label_of(data.iterations)
    figures = [
        Figure(tag, f"data: {data.iterations:,} iterations x 10 params x 10 metrics"
               + (", reused (--keep); populated in" if reused else ", populated in"),
               data.seconds, "s"),
        Figure(tag, "  population rate", data.iterations / data.seconds, "it/s"),
        Figure(tag, "  database size", data.size_mib(), "MiB"),
    ]  # fmt: skip
    results: dict[str, tuple[str, Timing]] = {}
    home = root / f"home-{data.iterations}"
    home.mkdir(exist_ok=True)
    opened = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    with AppProcess(data.uri, home) as app:
        measured = requests_of(data.experiment_id, opened)
        pages = [r for r in measured if r.key in ("page", "page-sorted")]
        if Path(CHROMIUM).exists():
            say(f"[{tag}] recording the pages' script requests in Chromium")
            scripted = page_script_requests(app.url, pages)
            for r in reversed(scripted):  # after the page they belong to
                at = next(i for i, m in enumerate(measured) if m.key == r.key.rsplit("-js", 1)[0])
                measured.insert(at + 2, r)  # after the page and its .json twin
        else:
            figures.append(Figure(tag, f"page script requests skipped: {CHROMIUM} missing", 0, ""))
        with httpx.Client(base_url=app.url, timeout=600) as client:
            for r in measured:
                t = timed(client, r, repeat)
                results[r.key] = (r.label, t)
                say(f"[{tag}] {r.label}: {t.median_ms:.1f} ms (max {t.max_ms:.1f}) {t.note}")
                figures.append(
                    Figure(tag, r.label + (f" [{t.note}]" if t.note else ""), t.median_ms, "ms",
                           f"< {TARGET_MS:g}", t.median_ms < TARGET_MS)
                )  # fmt: skip
            figures.append(Figure(tag, "App RSS after the run", app.rss_mib(), "MiB"))
            if spy and largest:
                for r in measured:
                    t = results[r.key][1]
                    if t.median_ms < TARGET_MS:
                        continue
                    seconds = max(8.0, min(30.0, t.median_ms * 8 / 1e3))
                    say(f"[{tag}] py-spy: {r.label} ({seconds:.0f} s)")
                    text = py_spy(app, client, r, seconds, root / f"spy-{r.key}.txt")
                    print(f"\n=== py-spy, {tag}: {r.key}: {r.label.strip()} "
                          f"({r.method} {r.path[:120]})\n{text}", flush=True)  # fmt: skip
    return figures, results


def side_by_side(sizes: Sequence[int], results: dict[int, dict[str, tuple[str, Timing]]]) -> None:
    """One line a request: its median at each size, the ratio largest / smallest, and whether
    the largest meets the target."""
    keys = list(dict.fromkeys(k for n in sizes for k in results[n]))
    labels = {k: results[n][k][0] for n in sizes for k in results[n]}
    width = max(len(labels[k]) for k in keys)
    heads = "".join(f"{label_of(n) + ' ms':>11}" for n in sizes)
    ratio = f"{label_of(sizes[-1])}/{label_of(sizes[0])}" if len(sizes) > 1 else ""
    print(f"\n    {'request (median)':<{width}}{heads}{ratio:>9}  target  at {label_of(sizes[-1])}")
    print("-" * (width + 11 * len(sizes) + 35))
    for k in keys:
        values = [results[n][k][1].median_ms if k in results[n] else float("nan") for n in sizes]
        cells = "".join(f"{format_value(v):>11}" for v in values)
        times = f"{values[-1] / values[0]:8.1f}x" if len(sizes) > 1 and values[0] else ""
        met = "ok" if values[-1] < TARGET_MS else "MISSED"
        print(f"    {labels[k]:<{width}}{cells}{times:>9}  < {TARGET_MS:g}   {met}")


# -- why, in-process ----------------------------------------------------------------------------
def explain(data: ScaleData, only: Sequence[str] = (), slow_ms: float = 20.0) -> None:
    """Each request in-process: its time, its SQL statements re-run alone on the same file
    (``fetchall``) and the plans of the slow ones."""
    import httpx

    from mlops.app import AppSettings, create_app

    app = create_app(AppSettings(store_uri=data.uri))
    engine = app.state.store._engine
    raw = sqlite3.connect(f"file:{data.db}?mode=ro", uri=True)
    opened = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")

    async def send(r: Request) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            headers = {"Content-Type": "application/json"} if r.body is not None else None
            return await c.request(r.method, r.path, content=r.content(), headers=headers)

    for r in requests_of(data.experiment_id, opened):
        if only and r.key not in only:
            continue
        asyncio.run(send(r))  # warm up
        begin = time.perf_counter()
        with recorded_statements(engine) as statements:
            response = asyncio.run(send(r))
        spent = (time.perf_counter() - begin) * 1e3
        print(f"\n=== {r.key}: {r.label.strip()}: {r.method} {r.path[:140]}"
              + (f" {r.content()}" if r.body else ""))  # fmt: skip
        print(f"status {response.status_code}, {len(response.content):,} bytes, {spent:.1f} ms "
              f"in-process, {len(statements)} SQL statements")  # fmt: skip
        for s in statements:
            if s.sql.strip().upper() in ("BEGIN", "COMMIT", "ROLLBACK"):
                continue
            begin = time.perf_counter()
            try:
                raw.execute(s.sql, s.parameters).fetchall()
            except sqlite3.Error as exc:
                print(f"  (re-run failed: {exc})")
                continue
            ms = (time.perf_counter() - begin) * 1e3
            print(f"  {ms:8.1f} ms  {' '.join(s.sql.split())[:400]}")
            if ms >= slow_ms:
                for row in raw.execute("EXPLAIN QUERY PLAN " + s.sql, s.parameters):
                    print(f"             plan: {row[-1]}")
    raw.close()


# -- command line -------------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default="100000,1000000",
        help="comma-separated iteration counts (default: 100000,1000000)",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help=f"keep the databases in {CACHE_DIR} and reuse them next time",
    )
    parser.add_argument("--repeat", type=int, default=5, help="requests per figure")
    parser.add_argument(
        "--py-spy",
        action="store_true",
        help="profile the App on each figure that misses at the largest size",
    )
    parser.add_argument(
        "--only", default="", help="comma-separated request keys (see requests_of) for --explain"
    )
    parser.add_argument("--explain", action="store_true",
                        help="instead of the figures: each request in-process, its SQL with "
                             "times and the plans of the slow statements")  # fmt: skip
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = sorted({int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()})
    print("machine")
    for key, value in machine_info():
        print(f"    {key:<11} {value}")
    print(f"    load        {' '.join(f'{x:.2f}' for x in os.getloadavg())} (at the start)")
    print(f"workload: scale, {', '.join(f'{n:,}' for n in sizes)} iterations in one experiment\n",
          flush=True)  # fmt: skip
    root = Path(tempfile.mkdtemp(prefix="mlops-bench-scale-"))
    figures: list[Figure] = []
    results: dict[int, dict[str, tuple[str, Timing]]] = {}
    try:
        for n in sizes:
            folder = CACHE_DIR if args.keep else root
            say(f"[{label_of(n)}] preparing {n:,} iterations in {folder}")
            data, reused = prepared(folder, n, args.keep)
            say(f"[{label_of(n)}] data ready ({'reused' if reused else f'{data.seconds:.0f} s'})")
            if args.explain:
                print(f"\n##### {n:,} iterations: {data.db}")
                explain(data, [k for k in args.only.split(",") if k])
                continue
            got, results[n] = measure(data, reused, root, args.repeat, args.py_spy, n == sizes[-1])
            figures += got
            if not args.keep:  # a million iterations take ~1 GB of /tmp
                for f in (Path(data.db), Path(f"{data.db}-wal"), Path(f"{data.db}-shm")):
                    f.unlink(missing_ok=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if figures:
        print()
        print_table(figures)
        side_by_side(sizes, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
