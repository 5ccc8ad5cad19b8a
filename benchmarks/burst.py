"""A burst of writers through the App on PostgreSQL: does the App push back early, or stall?

An App with ``--workers 2`` (a real ``mlops app`` process) on a fresh schema of the PostgreSQL
database ``test`` at 127.0.0.1:5432 (``--postgres`` to change it); 16 client processes start at
once, each logs 20,000 points (one metric, one point per step, as fast as the loop goes) with
``mlops.tracking`` through the App, then ends its iteration. Every HTTP attempt a client makes is
timed (``httpx.Client.send`` wrapped in the client process). Printed afterwards:

- points held by the App (counted in PostgreSQL) / points sent;
- iterations finished vs still running;
- the slowest batch (one POST of points, ``/batch`` or ``/end``), the median and the 99th
  percentile, against the client's 15 s read timeout;
- how many answers were 503 (the App pushing back, with ``Retry-After``), read timeouts and
  other failures; records left in the clients' journals.

Bounded in time: clients still running after ``--deadline`` seconds are killed, the App is
stopped and the schema dropped. Options of the App can be passed on (``--app-arg=--max-writes=8``).

Run::

    .venv/bin/python benchmarks/burst.py
    .venv/bin/python benchmarks/burst.py --clients 8 --points 5000 --app-arg=--max-writes=8
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _app_server import AppProcess

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
READ_TIMEOUT = 15.0

# One client process: argv = App URL, experiment id, iteration name, points, start time.
_CLIENT = r"""
import json, os, sys, time
import httpx

records = []
_send = httpx.Client.send

def send(self, request, **kwargs):
    started = time.monotonic()
    try:
        response = _send(self, request, **kwargs)
    except Exception as exc:
        records.append([request.method, request.url.path, type(exc).__name__,
                        time.monotonic() - started,
                        request.extensions.get("timeout", {}).get("read")])
        raise
    why = None
    if response.status_code == 503:
        response.read()
        why = response.text
    records.append([request.method, request.url.path, response.status_code,
                    time.monotonic() - started, why])
    return response

httpx.Client.send = send
from mlops import tracking

url, experiment_id, name, points, start_at = sys.argv[1:]
while time.time() < float(start_at):  # every client starts at the same moment: a burst
    time.sleep(0.001)
began = time.monotonic()
iteration = tracking.start_iteration(name, experiment_id=experiment_id)
for step in range(int(points)):
    iteration.log_metric("loss", 1.0 / (step + 1), step=step)
logged = time.monotonic() - began
final = iteration.end_iteration()
print(json.dumps({"id": iteration.id, "status": final["status"], "records": records,
                  "logged_s": logged, "ended_s": time.monotonic() - began}))
"""


#: Words of the App's 503 messages, to count them by cause.
_REASONS = ("busy writing", "this client already has", "requests in flight", "connection")


def _schema(postgres: str) -> tuple[str, str]:
    import psycopg

    schema = f"burst_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return schema, f"{postgres}?options=-csearch_path%3D{schema}"


def _drop(postgres: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(postgres, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _held(postgres: str, schema: str) -> tuple[int, dict[str, int]]:
    import psycopg

    with psycopg.connect(postgres, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        points = conn.execute("SELECT count(*) FROM metric_points").fetchone()
        rows = conn.execute("SELECT status, count(*) FROM iterations GROUP BY status").fetchall()
    return int(points[0] if points else 0), {str(s): int(n) for s, n in rows}


def _journal_records(home: Path) -> int:
    return sum(
        sum(1 for line in path.read_bytes().splitlines() if line.strip())
        for path in home.rglob("*")
        if path.is_file() and "journal" in str(path.relative_to(home))
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--points", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--deadline", type=float, default=180.0, help="seconds in all")
    parser.add_argument("--postgres", default=POSTGRES)
    parser.add_argument("--app-arg", action="append", default=[], help="passed to mlops app")
    args = parser.parse_args(argv)

    from mlops.store.sql.store import SqlStore

    schema, uri = _schema(args.postgres)
    with tempfile.TemporaryDirectory(prefix="mlops-burst-") as tmp:
        root = Path(tmp)
        try:
            store = SqlStore(uri)
            experiment = store.create_experiment(
                store.create_project("burst", None, "active", False).id, "burst", None
            ).id
            store.close()
            app_home = root / "app-home"
            app_home.mkdir()
            app = AppProcess(uri, app_home, workers=args.workers, args=args.app_arg)
            try:
                report = _burst(args, app.url, experiment, root)
            finally:
                app.stop()
            held, statuses = _held(args.postgres, schema)
        finally:
            _drop(args.postgres, schema)
        _print(args, report, held, statuses)
    return 0


def _burst(args: argparse.Namespace, url: str, experiment: str, root: Path) -> dict[str, Any]:
    start_at = time.time() + 2.0
    procs = []
    for n in range(args.clients):
        home = root / f"client-{n}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
        env.update(MLOPS_HOME=str(home), MLOPS_TRACKING_URI=url)
        command = [sys.executable, "-c", _CLIENT, url, experiment, f"burst-{n}"]
        procs.append(
            subprocess.Popen(
                [*command, str(args.points), str(start_at)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
        )
    deadline = time.monotonic() + args.deadline
    results, killed, failed = [], 0, []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            killed += 1
            continue
        if proc.returncode != 0 or not out.strip():
            failed.append(err.strip().splitlines()[-1:] or [f"exit {proc.returncode}"])
            continue
        results.append(json.loads(out.strip().splitlines()[-1]))
    journal = sum(_journal_records(root / f"client-{n}") for n in range(args.clients))
    return {"results": results, "killed": killed, "failed": failed, "journal": journal,
            "wall_s": time.monotonic() - (deadline - args.deadline)}  # fmt: skip


def _print(
    args: argparse.Namespace, report: dict[str, Any], held: int, statuses: dict[str, int]
) -> None:
    records = [r for result in report["results"] for r in result["records"]]
    writes = [r for r in records if r[0] == "POST" and r[1].endswith(("/batch", "/end"))]
    answered = [r[3] for r in writes if isinstance(r[2], int) and r[2] < 400]
    sent = args.clients * args.points
    codes: dict[str, int] = {}
    for record in records:
        codes[str(record[2])] = codes.get(str(record[2]), 0) + 1
    print(
        f"burst: {args.clients} clients x {args.points:,} points, App --workers {args.workers}"
        f" {' '.join(args.app_arg)} on PostgreSQL; {report['wall_s']:.1f} s in all"
    )
    print(f"  points held by the App / sent   {held:,} / {sent:,} ({held / sent:.1%})")
    finished = statuses.get("finished", 0)
    print(
        f"  iterations finished / running   {finished} / {statuses.get('running', 0)}"
        f"  (all statuses: {statuses})"
    )
    if answered:
        ranked = sorted(answered)
        p99 = ranked[min(len(ranked) - 1, math.ceil(0.99 * len(ranked)) - 1)]  # nearest rank
        print(
            f"  batch latency (answered 2xx)    max {ranked[-1]:.2f} s, median "
            f"{statistics.median(ranked):.2f} s, p99 {p99:.2f} s; client read "
            f"timeout {READ_TIMEOUT:g} s; {len(ranked)} batches"
        )
    else:
        print("  batch latency (answered 2xx)    no batch was answered before the client gave up")
    timeouts = [r[4] for r in records if r[2] == "ReadTimeout" and r[4] is not None]
    if timeouts:
        print(
            f"  read timeouts came at           {min(timeouts):.1f} to {max(timeouts):.1f} s "
            "(the client reads for what is left of its retry budget, at most 15 s)"
        )
    reasons: dict[str, int] = {}
    for record in records:
        if record[2] == 503:
            text = str(record[4])
            why = next((w for w in _REASONS if w in text), text[:60])
            reasons[why] = reasons.get(why, 0) + 1
    print(f"  503 answers (pushed back)       {codes.get('503', 0)} {reasons}")
    print(
        f"  read timeouts / other failures  {codes.get('ReadTimeout', 0)} / "
        f"{sum(n for c, n in codes.items() if not c.isdigit() and c != 'ReadTimeout')}"
    )
    print(f"  all attempts by answer          {dict(sorted(codes.items()))}")
    print(f"  records left in client journals {report['journal']}")
    print(f"  clients killed at the deadline  {report['killed']}; failed {report['failed']}")


if __name__ == "__main__":
    sys.exit(main())
