"""``mlops import mlflow sqlite:///...`` into an SQLite store copies the metric values by SQL
(the MLflow database ATTACHed to the store's connection); what it stores must be exactly what
the Python path stores. A real MLflow database (written by the real ``mlflow`` client, plus a
few rows only MLflow's own store would let through, written into its tables) is imported both
ways and the stores are compared row for row."""

from __future__ import annotations

import math
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from mlops.importers import import_mlflow
from mlops.importers import mlflow as mlflow_importer
from mlops.importers.mlflow import _Importer
from mlops.store.sql import bulk
from mlops.store.sql.store import SqlStore

pytestmark = pytest.mark.timeout(300)

T0 = 1_700_000_000_000


def _source(folder: Path) -> tuple[str, dict[str, str]]:
    """An MLflow database: runs of every shape the SQL path must copy like the Python path
    (NaN, +/-Inf, the same time for several steps, unordered logging, no metrics, running,
    deleted), and runs it must leave to the Python path (a step logged twice, a negative step,
    a text value, a blank metric name)."""
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    uri = f"sqlite:///{folder / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("sweep", artifact_location=(folder / "a").as_uri())
    ids: dict[str, str] = {}

    def run(role: str, metrics: list[Any], end: str | None = "FINISHED") -> str:
        run_id = client.create_run(experiment, run_name=role, start_time=T0).info.run_id
        client.log_batch(run_id, metrics=metrics, params=[], tags=[])
        client.log_param(run_id, "lr", "0.01")
        client.set_tag(run_id, "stage", role)
        if end is not None:
            client.set_terminated(run_id, end, end_time=T0 + 10_000)
        ids[role] = run_id
        return run_id

    run(
        "odd values",
        [Metric("loss", v, T0 + s, s) for s, v in enumerate((3.0, math.nan, 1.0, -0.5))]
        + [Metric("inf", math.inf, T0, 0), Metric("inf", -math.inf, T0, 1)]
        + [Metric("inf", 2.0, T0, 2), Metric("nan_last", 1.0, T0, 0)]
        + [Metric("nan_last", math.nan, T0, 1), Metric("all_nan", math.nan, T0, 5)],
    )
    run(
        "same times, unordered",
        [Metric("acc", 0.1 * s, T0 + 5, s) for s in (4, 0, 3, 1, 2)]
        + [Metric("big", 1e300, T0 + 5, 10**12), Metric("int", 7, T0 + 6, 3)],
    )
    run("no metrics", [])
    run("running", [Metric("loss", 1.0, T0 + 20_000, 0)], end=None)
    deleted = run("deleted", [Metric("loss", 2.0, T0 + 1, 0)], end="KILLED")
    client.delete_run(deleted)
    run("repeated step", [Metric("loss", v, T0 + i, 0) for i, v in enumerate((3.0, 2.0, 1.0))])
    run("negative step", [Metric("loss", 1.0, T0, -1), Metric("loss", 2.0, T0, 1)])
    text = run("text value", [Metric("loss", 1.0, T0, 0)])
    blank = run("blank name", [Metric("loss", 1.0, T0, 0), Metric("acc", 1.0, T0, 0)])
    db = sqlite3.connect(folder / "mlflow.db")
    with db:  # values MLflow's own store would refuse, as an old or hand-made database has them
        db.execute("UPDATE metrics SET value = 'oops' WHERE run_uuid = ?", (text,))
        db.execute("UPDATE metrics SET key = ' \t' WHERE run_uuid = ? AND key = 'acc'", (blank,))
    db.close()
    return uri, ids


def _rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(path)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def _dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Everything an import writes, comparable between two stores (typeof: a value stored as
    an integer would differ from one stored as a real)."""
    return {
        "points": _rows(
            path,
            "SELECT iteration_id, name, step, seq, value, typeof(value), timestamp "
            "FROM metric_points ORDER BY 1, 2, 3, 4",
        ),
        "summaries": _rows(
            path,
            "SELECT s.iteration_id, s.name, last, typeof(last), last_step, min, max, typeof(min), "
            "typeof(max), e.name FROM metric_summaries s JOIN experiments e "
            "ON e.id = s.experiment_id ORDER BY 1, 2",
        ),
        "iterations": _rows(
            path,
            "SELECT id, name, status, started_at, ended_at, heartbeat_at, deleted_at IS NULL, "
            "system FROM iterations ORDER BY id",
        ),
        "parameters": _rows(path, "SELECT * FROM parameters ORDER BY 1, 2"),
        "tags": _rows(path, "SELECT * FROM iteration_tags ORDER BY 1, 2"),
    }


def _import(uri: str, path: Path, monkeypatch: pytest.MonkeyPatch, in_sql: bool) -> Any:
    copied: list[str] = []
    real = bulk._copy_points

    def spy(conn: Any, items: Any) -> int:
        count = real(conn, items)  # raises NotCopyable for a row it cannot copy (rolled back)
        copied.extend(i.id for i in items)
        return count

    with monkeypatch.context() as patch:
        patch.setattr(bulk, "_copy_points", spy)
        if not in_sql:
            patch.setattr(_Importer, "sql_source", lambda self: None)
        store = SqlStore(f"sqlite:///{path}")
        try:
            report = import_mlflow(uri, store, artifacts=False)
        finally:
            store.close()
    return report, copied


def test_sql_copy_stores_what_the_python_path_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri, ids = _source(tmp_path)
    python, in_sql = tmp_path / "python.db", tmp_path / "sql.db"
    by_python, none = _import(uri, python, monkeypatch, in_sql=False)
    by_sql, copied = _import(uri, in_sql, monkeypatch, in_sql=True)
    assert none == []
    simple = ("odd values", "same times, unordered", "running", "deleted", "no metrics")
    # runs without metrics have nothing to copy; the others' values went through SQL
    assert sorted(copied) == sorted(ids[r] for r in simple if r != "no metrics")
    assert by_sql.problems == by_python.problems
    assert any("negative step" in p for p in by_sql.problems)
    assert any(ids["text value"] in p for p in by_sql.problems)
    assert any(ids["blank name"] in p and "a name mlops cannot keep" in p for p in by_sql.problems)
    assert (by_sql.runs_copied, by_sql.points) == (by_python.runs_copied, by_python.points)
    dumped_python, dumped_sql = _dump(python), _dump(in_sql)
    for table, rows in dumped_python.items():
        assert dumped_sql[table] == rows, table
    points = {(r[0], r[1], r[2], r[3]): r[4] for r in dumped_sql["points"]}
    odd = ids["odd values"]
    assert points[(odd, "loss", 1, 0)] is None  # NaN
    assert points[(odd, "inf", 0, 0)] == math.inf and points[(odd, "inf", 1, 0)] == -math.inf
    repeated = [r for r in dumped_sql["points"] if r[0] == ids["repeated step"]]
    assert [(r[2], r[3], r[4]) for r in repeated] == [(0, 0, 3.0), (0, 1, 2.0), (0, 2, 1.0)]
    summaries = {(r[0], r[1]): r for r in dumped_sql["summaries"]}
    assert summaries[(odd, "inf")][2:7] == (2.0, "real", 2, -math.inf, math.inf)
    assert summaries[(odd, "nan_last")][2] is None and summaries[(odd, "all_nan")][5] is None


def test_sql_copy_is_idempotent_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri, ids = _source(tmp_path)
    path = tmp_path / "mlops.db"
    # an import interrupted after its first transaction (of up to two runs): the rest not copied
    real = bulk.write_iterations
    calls: list[int] = []

    def interrupted(
        store: Any, items: Any, mlflow_source: str | None = None, copied: Any = None
    ) -> list[str]:
        if calls:
            raise KeyboardInterrupt
        written = real(store, items, mlflow_source, copied)  # may raise NotCopyable
        calls.append(1)
        return written

    with monkeypatch.context() as patch:
        patch.setattr(bulk, "write_iterations", interrupted)
        patch.setattr(mlflow_importer, "RUNS_PER_WRITE", 2)
        store = SqlStore(f"sqlite:///{path}")
        with pytest.raises(KeyboardInterrupt):
            import_mlflow(uri, store, artifacts=False)
        store.close()
    interrupted_at = len(_rows(path, "SELECT id FROM iterations"))
    assert 0 < interrupted_at < len(ids) - 1
    resumed, _ = _import(uri, path, monkeypatch, in_sql=True)
    assert resumed.runs_copied == len(ids) - 1 - interrupted_at
    once = _dump(path)
    again, copied = _import(uri, path, monkeypatch, in_sql=True)
    assert copied == [] and again.runs_copied == 0
    assert _dump(path) == once
    assert len(once["iterations"]) == len(ids) - 1  # the run with a text value: not copied
    fresh = tmp_path / "fresh.db"
    _import(uri, fresh, monkeypatch, in_sql=True)
    assert _dump(fresh)["points"] == once["points"]
    assert _dump(fresh)["summaries"] == once["summaries"]


def test_unchecked_copy_falls_back_per_transaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One run per transaction: each good run is copied unchecked (its rows checked by the
    copy itself), each bad one (a text value, a negative step, a step logged twice, a blank
    name) makes its unchecked copy fail and goes the checked way; the store is the same."""
    uri, ids = _source(tmp_path)
    unchecked: list[str] = []
    failed: list[str] = []
    real = bulk._copy_points

    def spy(conn: Any, items: Any) -> int:
        try:
            count = real(conn, items)
        except bulk.NotCopyable:
            failed.extend(i.id for i in items if i.points_in_source == -1)
            raise
        unchecked.extend(i.id for i in items if i.points_in_source == -1)
        return count

    python, in_sql = tmp_path / "python.db", tmp_path / "sql.db"
    by_python, _ = _import(uri, python, monkeypatch, in_sql=False)
    with monkeypatch.context() as patch:
        patch.setattr(mlflow_importer, "RUNS_PER_WRITE", 1)
        patch.setattr(bulk, "_copy_points", spy)
        store = SqlStore(f"sqlite:///{in_sql}")
        try:
            by_sql = import_mlflow(uri, store, artifacts=False)
        finally:
            store.close()
    good = ("odd values", "same times, unordered", "running", "deleted", "no metrics")
    assert sorted(unchecked) == sorted(ids[r] for r in good)
    bad = ("repeated step", "negative step", "text value", "blank name")
    assert sorted(failed) == sorted(ids[r] for r in bad)
    # the same problems (one run per transaction lists them in another order)
    assert sorted(by_sql.problems) == sorted(by_python.problems)
    assert (by_sql.runs_copied, by_sql.points) == (by_python.runs_copied, by_python.points)
    dumped_python, dumped_sql = _dump(python), _dump(in_sql)
    for table, rows in dumped_python.items():
        assert dumped_sql[table] == rows, table
