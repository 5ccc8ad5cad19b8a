"""Benchmark of whole-series reads (issue 12): prints each figure beside its target and the
raw-sqlite3 limit of the same run, asserts nothing.

A 10,000-step and a 1,000,000-step ``loss`` series are written into new SQLite files (not
timed); each is read with ``get_metric_history(columns=True)`` and ``history_frame``, from the
embedded store and through a real App on loopback (packed arrays on the wire), best of
``--repeat``. The limit is ``sqlite3`` fetching the same rows with no mlops at all.

Run::

    .venv/bin/python benchmarks/series_reads.py
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _app_data import HISTORY_METRIC, generate_w3
from _app_server import AppProcess
from reads import best, raw_fetch

TARGETS = {  # (steps, where) -> ms
    (10_000, "sqlite"): 10.0,
    (10_000, "App"): 20.0,
    (1_000_000, "sqlite"): 1000.0,
    (1_000_000, "App"): 2000.0,
}


def _measure(
    label: str, uri: str, steps: int, iteration_id: str, repeat: int, limit: float
) -> None:
    from mlops import tracking
    from mlops.store import close_stores

    os.environ["MLOPS_TRACKING_URI"] = uri
    close_stores()
    target = TARGETS[(steps, label)]
    reads = {
        "get_metric_history(columns=True)": lambda: tracking.get_metric_history(
            iteration_id, HISTORY_METRIC, columns=True
        ),
        "history_frame": lambda: tracking.history_frame(iteration_id, HISTORY_METRIC),
    }
    for name, read in reads.items():
        try:
            spent = best(repeat, read)
        except Exception as exc:  # a loaded machine: the App's answer may miss the read timeout
            print(f"  {steps:>9,} steps {label:<6} {name:<34} failed: {exc}"[:200])
            continue
        verdict = "met" if spent < target else "NOT met"
        print(
            f"  {steps:>9,} steps {label:<6} {name:<34} {spent:9.1f} ms  target < {target:,.0f} ms"
            f" ({verdict}); raw sqlite3 fetchall {limit:.1f} ms (x{spent / limit:.1f})"
        )
    close_stores()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=5, help="reads per figure (best kept)")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="mlops-bench-series-"))
    try:
        for steps in args.steps:
            home = root / f"s{steps}"
            home.mkdir()
            os.environ["MLOPS_HOME"] = str(home)
            data = generate_w3(home / "store.db", 1, steps)
            print(f"one {steps:,}-point series (written in {data.seconds:.1f} s, not timed)")
            limit = best(args.repeat, raw_fetch(home / "store.db", data.history_id))
            _measure("sqlite", data.uri, steps, data.history_id, args.repeat, limit)
            with AppProcess(data.uri, home) as app:
                _measure("App", app.url, steps, data.history_id, args.repeat, limit)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
