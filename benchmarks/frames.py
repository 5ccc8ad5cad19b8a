"""Benchmark of the DataFrames: prints figures, asserts nothing.

- ``iterations_frame`` of one experiment at 10,000 and 100,000 finished iterations, each with
  10 parameters (one text, nine numbers) and 10 one-point metrics, read from the embedded
  SQLite store and through a real App on loopback (the App on the same SQLite file);
- ``history_frame`` of one iteration's 100,000-point series, both ways.

The data is written straight into a new SQLite file by the SQL store's own batch write path
(``benchmarks/_app_data.py``), not timed; each figure is the best of ``--repeat`` reads in
this process (the first one included: nothing is cached between reads but the connection).

Run::

    .venv/bin/python benchmarks/frames.py             # 10,000 and 100,000
    .venv/bin/python benchmarks/frames.py --sizes 10000 --repeat 1
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _app_data import HISTORY_METRIC, generate_w3
from _app_server import AppProcess

HISTORY_STEPS = 100_000


def _best(repeat: int, read: object) -> tuple[float, object]:
    """The fastest of ``repeat`` calls of ``read`` (seconds) and its last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        begin = time.perf_counter()
        result = read()  # type: ignore[operator]
        best = min(best, time.perf_counter() - begin)
    return best, result


def _measure(label: str, uri: str, experiment_id: str, history_id: str, repeat: int) -> None:
    from mlops import tracking
    from mlops.store import close_stores

    os.environ["MLOPS_TRACKING_URI"] = uri
    close_stores()
    spent, frame = _best(repeat, lambda: tracking.iterations_frame(experiment_id))
    rows, columns = frame.shape  # type: ignore[attr-defined]
    print(
        f"  {label:<8} iterations_frame: {spent:7.2f} s  ({rows:,} rows x {columns} columns, "
        f"{rows / spent:,.0f} iterations/s)"
    )
    spent, history = _best(repeat, lambda: tracking.history_frame(history_id, HISTORY_METRIC))
    print(
        f"  {label:<8} history_frame:    {spent:7.2f} s  ({len(history):,} points, "  # type: ignore[arg-type]
        f"{len(history) / spent:,.0f} points/s)"  # type: ignore[arg-type]
    )
    close_stores()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=3, help="reads per figure (best kept)")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="mlops-bench-frames-"))
    try:
        for size in args.sizes:
            home = root / f"n{size}"
            home.mkdir()
            os.environ["MLOPS_HOME"] = str(home)
            data = generate_w3(home / "store.db", size, HISTORY_STEPS)
            print(
                f"{size:,} iterations x 10 params x 10 metrics, and a {HISTORY_STEPS:,}-point "
                f"series (written in {data.seconds:.1f} s, not timed)"
            )
            _measure("sqlite", data.uri, data.experiment_id, data.history_id, args.repeat)
            with AppProcess(data.uri, home) as app:
                _measure("App", app.url, data.experiment_id, data.history_id, args.repeat)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
