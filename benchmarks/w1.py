"""W1 on the embedded store beside its limit, the per-point cost of ``log_metric`` and
``log_metrics``, and the client's memory while logging many points (issue 12).

- **W1**: iterations per second, each ``start_iteration`` + ``log_parameters`` (10) +
  ``log_metrics`` (10, step 0) + ``set_tags`` (2) + ``end_iteration()``, one after another
  (``run.w1_loop``, the one definition). **The ceiling**, measured in the same run: raw
  ``sqlite3`` with mlops' pragmas writing the same rows into a database of mlops' schema, one
  transaction per iteration (the iteration row, 10 parameters, 10 points, 10 summaries, 2 tags,
  the end). Target: W1 >= 50% of the ceiling.
- **per point**: ``log_metric`` in a loop against ``log_metrics`` of 10 metrics a step.
  Target: ``log_metrics`` cheaper per point.
- **memory**: the peak RSS of a child process that logs N points (default 10,000,000) in a
  tight loop and ends the iteration. Target: < 100 MiB.

Run alone::

    .venv/bin/python benchmarks/w1.py [--quick] [--points N]
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from run import Figure, count_rows, fresh_home, setup_experiment, w1_loop

TARGET_W1_VS_CEILING = 0.5
TARGET_RSS_MIB = 100.0


def raw_ceiling(db: Path, experiment_id: str, project_id: str, iterations: int) -> float:
    """Iterations per second writing W1's rows with plain ``sqlite3`` into mlops' tables, one
    transaction per iteration, mlops' pragmas (WAL, synchronous=NORMAL, foreign keys)."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    system = json.dumps({"python": sys.version, "platform": sys.platform})
    params = [(f"param_{i}", json.dumps(i * 0.5 if i % 2 else f"value-{i}")) for i in range(10)]
    clock = time.perf_counter
    begin = clock()
    for n in range(iterations):
        iid = uuid.uuid4().hex
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO iterations (id, project_id, experiment_id, name, status, started_at, "
            "heartbeat_at, system) VALUES (?, ?, ?, ?, 'running', ?, ?, ?)",
            (iid, project_id, experiment_id, f"raw-{n}", now, now, system),
        )
        conn.executemany(
            "INSERT INTO parameters (iteration_id, name, value_json) VALUES (?, ?, ?)",
            [(iid, name, value) for name, value in params],
        )
        conn.executemany(
            "INSERT INTO metric_points (iteration_id, name, step, seq, value, timestamp) "
            "VALUES (?, ?, 0, 0, ?, ?)",
            [(iid, f"metric_{i}", 0.1 * i, now) for i in range(10)],
        )
        conn.executemany(
            "INSERT INTO metric_summaries (iteration_id, name, last, last_step, min, max, "
            "experiment_id) VALUES (?, ?, ?, 0, ?, ?, ?)",
            [(iid, f"metric_{i}", 0.1 * i, 0.1 * i, 0.1 * i, experiment_id) for i in range(10)],
        )
        conn.executemany(
            "INSERT INTO iteration_tags (iteration_id, key, value) VALUES (?, ?, ?)",
            [(iid, "team", "vision"), (iid, "gpu", "a100")],
        )
        conn.execute(
            "UPDATE iterations SET status = 'finished', ended_at = ? WHERE id = ?",
            (time.time(), iid),
        )
        conn.execute("COMMIT")
    elapsed = clock() - begin
    conn.close()
    return iterations / elapsed


def per_point(steps: int, rounds: int = 5) -> tuple[float, float]:
    """(µs per point through log_metric, through log_metrics), 10 metrics a step, until the
    loop returns (the writer works alongside, as in a training loop); the best of ``rounds``
    alternating rounds each, as the machine is shared. ``steps`` x 10 stays below
    ``MLOPS_BUFFER_POINTS`` (100,000), so that this is the call's cost, not the writer's."""
    from mlops import tracking

    names = [f"metric_{i}" for i in range(10)]
    clock = time.perf_counter
    single = many = float("inf")
    for _ in range(rounds):
        it = tracking.start_iteration("per-point-log_metric")
        log_metric = it.log_metric
        begin = clock()
        for step in range(steps):
            value = 1.0 / (step + 1)
            for name in names:
                log_metric(name, value)
        single = min(single, (clock() - begin) / (steps * len(names)) * 1e6)
        it.end_iteration()
        it = tracking.start_iteration("per-point-log_metrics")
        log_metrics = it.log_metrics
        begin = clock()
        for step in range(steps):
            value = 1.0 / (step + 1)
            log_metrics(dict.fromkeys(names, value))
        many = min(many, (clock() - begin) / (steps * len(names)) * 1e6)
        it.end_iteration()
    return single, many


_MEMORY_CHILD = """
import os, resource, sys, time
from mlops import tracking
points = int(sys.argv[1])
p = tracking.create_project(f"memory-{points}")
tracking.set_active_project(p["id"])
it = tracking.start_iteration("memory")
log_metric = it.log_metric
begin = time.perf_counter()
for i in range(points):
    log_metric("loss", i * 1e-7)
it.end_iteration()
seconds = time.perf_counter() - begin
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, seconds)
"""


def peak_rss(points: int) -> tuple[float, float, float]:
    """(peak RSS MiB logging ``points``, seconds, peak RSS MiB of the import alone)."""
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "MLOPS_HOME": home, "MLOPS_SYSTEM_METRICS_INTERVAL": "0"}
        env.pop("MLOPS_TRACKING_URI", None)
        out = subprocess.run(
            [sys.executable, "-c", _MEMORY_CHILD, str(points)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        base = subprocess.run(
            [sys.executable, "-c", _MEMORY_CHILD, "0"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    return float(out[0]), float(out[1]), float(base[0])


def workload(root: Path, iterations: int, steps: int, points: int) -> list[Figure]:
    """W1 beside its raw ceiling, per-point costs, and the client's peak memory."""
    home = fresh_home(root, "w1")
    setup_experiment("bench-w1")
    # mlops and the ceiling alternate in blocks, so that both see the same load of the shared
    # machine; the figures are the sums over the blocks.
    blocks = 10
    size = max(iterations // blocks, 1)
    mlops_seconds = raw_seconds = mlops_cpu = raw_cpu = 0.0
    phases = {"start": 0.0, "log": 0.0, "end": 0.0}
    load_before = os.getloadavg()[0]
    for _ in range(blocks):
        cpu = time.process_time()  # every thread of the process (the writer's, the end's)
        loop = w1_loop(size, "w1", 0.0)
        mlops_cpu += time.process_time() - cpu
        mlops_seconds += loop[0].value
        for figure, phase in zip(loop[2:], phases, strict=True):
            phases[phase] += figure.value / blocks
        with sqlite3.connect(home / "mlops.db") as conn:
            experiment_id, project_id = conn.execute(
                "SELECT experiment_id, project_id FROM iterations LIMIT 1"
            ).fetchone()
        cpu = time.process_time()
        raw_seconds += size / raw_ceiling(home / "mlops.db", experiment_id, project_id, size)
        raw_cpu += time.process_time() - cpu
    done = size * blocks
    rate, ceiling = done / mlops_seconds, done / raw_seconds
    ratio = rate / ceiling
    figures = [
        Figure(
            "w1",
            f"{done:,} iterations (start, 10 params, 10 metrics, 2 tags, end)",
            mlops_seconds,
            "s",
        ),
        Figure("w1", "iterations per second (mlops)", rate, "it/s"),
    ]
    figures += [
        Figure("w1", f"  {phase} (mean per iteration)", ms, "ms") for phase, ms in phases.items()
    ]
    figures += [
        Figure("w1", "raw sqlite3, same rows, one transaction each (ceiling)", ceiling, "it/s"),
        Figure(
            "w1",
            "mlops / ceiling",
            ratio,
            "x",
            f">= {TARGET_W1_VS_CEILING:g}",
            ratio >= TARGET_W1_VS_CEILING,
        ),
        Figure("w1", "  CPU per iteration, mlops (all threads)", mlops_cpu / done * 1e3, "ms"),
        Figure("w1", "  CPU per iteration, raw sqlite3", raw_cpu / done * 1e3, "ms"),
        Figure("w1", "  CPU ratio, raw / mlops", raw_cpu / mlops_cpu, "x"),
        Figure("w1", "  load average (1 min) before / after the W1 blocks", load_before, ""),
        Figure("w1", "  (after)", os.getloadavg()[0], ""),
        Figure(
            "w1",
            "iterations stored, mlops + raw (check)",
            count_rows(home / "mlops.db", "SELECT count(*) FROM iterations"),
            "",
        ),
    ]
    single, many = per_point(steps)
    figures += [
        Figure("w1", "log_metric per point (10 metrics x steps)", single, "µs"),
        Figure(
            "w1",
            "log_metrics per point (dict of 10 a step)",
            many,
            "µs",
            "< log_metric",
            many < single,
        ),
    ]
    rss, seconds, base = peak_rss(points)
    figures += [
        Figure(
            "w1",
            f"peak RSS logging {points:,} points + end",
            rss,
            "MiB",
            f"< {TARGET_RSS_MIB:g}",
            rss < TARGET_RSS_MIB,
        ),
        Figure("w1", "  peak RSS of the same process logging 0 points", base, "MiB"),
        Figure("w1", f"  {points:,} points logged and durable in", seconds, "s"),
    ]
    return figures


def main() -> int:
    quick = "--quick" in sys.argv
    points = 10_000_000
    if "--points" in sys.argv:
        points = int(sys.argv[sys.argv.index("--points") + 1])
    with tempfile.TemporaryDirectory() as root:
        figures = workload(
            Path(root),
            200 if quick else 1000,
            2000 if quick else 9_000,
            points // 10 if quick else points,
        )
    for f in figures:
        mark = "" if f.met is None else ("  met" if f.met else "  NOT MET")
        print(f"{f.workload:<4} {f.name:<58} {f.value:>14,.3f} {f.unit:<6} {f.target}{mark}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
