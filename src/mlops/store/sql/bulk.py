"""Many iterations written at once, for importers (``mlops import mlflow`` into a SQL store).

:meth:`SqlStore.create_iteration`, ``log_batch`` and ``end_iteration`` cost a transaction each;
an import of 10,000 runs would spend most of its time committing. :func:`write_iterations`
writes whole iterations (created, logged, ended or left running, deleted or not) many per
transaction, through the same rules (:mod:`mlops.store.rules`) and the same batch writer
(:func:`~mlops.store.sql.batch.write_batch`) as the one-at-a-time methods, so what is stored is
exactly what those calls would have stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select

from mlops.errors import NotFound
from mlops.store import rules
from mlops.store.base import MetricRow
from mlops.store.sql.batch import (
    _DATASET_LINKS,
    _PARAMETERS,
    _POINTS,
    _SUMMARIES,
    _TAGS,
    _sql,
    write_batch,
)
from mlops.store.sql.engine import transaction
from mlops.store.sql.models import EXPERIMENTS, ITERATIONS
from mlops.store.sql.rows import encode_parameter
from mlops.store.sql.store import SqlStore
from mlops.store.summaries import summarize_batch

__all__ = [
    "NewIteration",
    "NotCopyable",
    "RepeatedSteps",
    "mlflow_metric_stats",
    "repeated_steps",
    "stored_states",
    "write_iterations",
]

#: The page cache (KiB) of an SQLite connection that writes in bulk (SQLite's default is 2 MiB,
#: and an import into a store of millions of points then waits on the disk).
_CACHE_KIB = 64 * 1024
#: Ids asked about in one query at most.
_IDS_PER_QUERY = 500


@dataclass
class NewIteration:
    """An iteration as it is to be stored, whole."""

    id: str
    name: str
    experiment_id: str
    started_at: float
    system: Mapping[str, Any]
    #: ``running``, or the ended status (with ``ended_at``).
    status: str = rules.RUNNING
    ended_at: float | None = None
    deleted_at: float | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    metrics: Sequence[MetricRow] = ()
    dataset_ids: Sequence[str] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    #: Keep several values at one step (MLflow's way), as ``log_batch(every_value=True)``.
    every_value: bool = False
    #: The metric values are not in ``metrics`` but in the MLflow SQLite database given to
    #: :func:`write_iterations` as ``mlflow_source`` (run id = this id), checked already by
    #: :func:`mlflow_metric_stats`; their number. ``-1``: not checked nor counted (the copy
    #: checks them itself: see ``write_iterations(checked=False)``).
    points_in_source: int | None = None


def stored_states(
    store: SqlStore, ids: Sequence[str]
) -> dict[str, tuple[float | None, float | None]]:
    """``{id: (ended_at, deleted_at)}`` of the given iterations that are stored."""
    found: dict[str, tuple[float | None, float | None]] = {}
    c = ITERATIONS.c
    with store._read("look up iterations") as conn:
        for start in range(0, len(ids), _IDS_PER_QUERY):
            chunk = list(ids[start : start + _IDS_PER_QUERY])
            query = select(c.id, c.ended_at, c.deleted_at).where(c.id.in_(chunk))
            found.update({i: (ended, deleted) for i, ended, deleted in _rows(conn, query)})
    return found


def _rows(conn: Any, query: Any) -> list[Any]:
    return list(conn.execute(query))


def write_iterations(
    store: SqlStore,
    items: Sequence[NewIteration],
    mlflow_source: str | None = None,
    copied: list[int] | None = None,
) -> list[str]:
    """Store new iterations in one transaction; returns the ids written. An id that is already
    stored is left as it is (and not returned). Raises ``InvalidInput`` as the one-at-a-time
    methods do (nothing is written then), ``NotFound`` for an unknown experiment.

    ``mlflow_source``: the file of an MLflow SQLite database, attached to the store's (SQLite)
    connection: the points of the items with ``points_in_source`` are copied from it by one
    ``INSERT ... SELECT`` and their summaries computed from the copied points in SQL; the
    number of values copied is appended to ``copied`` (when given). Items with
    ``points_in_source=-1`` are checked by the copy itself: a value, step, time or name mlops
    would not keep as it is, or a step with several values, raises :class:`NotCopyable`
    (nothing written: the caller checks those runs with :func:`mlflow_metric_stats`).

    The copy runs with SQLite's foreign-key checks off: every row it writes belongs to an
    iteration written in the same transaction (or to the experiment and project read in it),
    so the parent exists by construction; the check would look up the parent for each of
    the millions of points (a quarter of the copy's time)."""
    for item in items:
        rules.check_iteration(item.id, item.name, item.started_at, item.system)
        rules.check_batch(item.parameters, item.metrics, item.dataset_ids, None, item.tags)
        if item.status != rules.RUNNING:
            rules.check_end(item.status, item.ended_at, None, None)  # type: ignore[arg-type]
    if not items:
        return []
    attach = (_SOURCE, mlflow_source) if mlflow_source is not None else None
    what = f"import {len(items)} iterations"
    with transaction(
        store._engine, write=True, what=what, attach=attach, foreign_keys=attach is None
    ) as conn:
        if conn.dialect.name == "sqlite":  # a bigger page cache for this connection's bulk
            conn.exec_driver_sql(f"PRAGMA cache_size = -{_CACHE_KIB}")
        wanted = sorted({item.experiment_id for item in items})
        projects = dict(
            _rows(
                conn,
                select(EXPERIMENTS.c.id, EXPERIMENTS.c.project_id).where(
                    EXPERIMENTS.c.id.in_(wanted)
                ),
            )
        )
        missing = [e for e in wanted if e not in projects]
        if missing:
            raise NotFound(f"experiment {missing[0]!r} not found")
        ids = [item.id for item in items]
        present = {
            row[0] for row in _rows(conn, select(ITERATIONS.c.id).where(ITERATIONS.c.id.in_(ids)))
        }
        fresh = [item for item in items if item.id not in present]
        if fresh:
            conn.execute(
                insert(ITERATIONS),
                [
                    dict(
                        id=i.id,
                        project_id=projects[i.experiment_id],
                        experiment_id=i.experiment_id,
                        name=i.name,
                        status=i.status,
                        started_at=i.started_at,
                        ended_at=i.ended_at,
                        heartbeat_at=i.started_at,
                        system=dict(i.system),
                        deleted_at=i.deleted_at,
                    )
                    for i in fresh
                ],
            )
        _write_fresh(conn, [i for i in fresh if not i.every_value])
        in_source = [i for i in fresh if i.points_in_source]
        if in_source:
            count = _copy_points(conn, in_source)
            if copied is not None:
                copied.append(count)
        for i in fresh:
            if i.every_value:  # several values at one step: the seq rules of write_batch
                write_batch(
                    conn, i.id, i.experiment_id, i.parameters, i.metrics, i.dataset_ids,
                    i.tags, every_value=True,
                )  # fmt: skip
    return [i.id for i in fresh]


def _write_fresh(conn: Any, items: Sequence[NewIteration]) -> None:
    """The batches of iterations just created, one value per step: what ``write_batch`` would
    write, each statement once for all of them (nothing is stored yet, so no summary needs
    recomputing and no stored step is compared)."""
    run = conn.exec_driver_sql
    points = [
        (i.id, name, step, 0, None if value != value else float(value), ts)
        for i in items
        for name, step, value, ts in i.metrics
    ]
    if points:
        run(_sql(conn, _POINTS), points)
        summaries = [
            (i.id, s.name, s.last, s.last_step, s.min, s.max, i.experiment_id)
            for i in items
            for s in summarize_batch(i.metrics)
        ]
        run(_sql(conn, _SUMMARIES), summaries)
    parameters = [
        (i.id, name, *encode_parameter(v)) for i in items for name, v in i.parameters.items()
    ]
    if parameters:
        run(_sql(conn, _PARAMETERS), parameters)
    links = [(i.id, d) for i in items for d in i.dataset_ids]
    if links:
        run(_sql(conn, _DATASET_LINKS), links)
    tags = [(i.id, k, v) for i in items for k, v in i.tags.items()]
    if tags:
        run(_sql(conn, _TAGS), tags)


# -- metric values straight from an attached MLflow SQLite database ---------------------------
_SOURCE = "mlflow_source"
#: MLflow keeps NaN as is_nan (value 0) and +/-Inf as the largest double: what the reader's
#: rows turn into (NaN is NULL here, as every mlops writer stores it; 9e999 is SQLite's Inf).
_MLFLOW_VALUE = (
    "CASE WHEN is_nan THEN NULL WHEN value >= 1.7976931348623157e308 THEN 9e999 "
    "WHEN value <= -1.7976931348623157e308 THEN -9e999 ELSE CAST(value AS REAL) END"
)
#: A row whose step, time and value mlops' rules (rules._check_metrics, the importer's
#: metric_rows) take as they are: an integer step >= 0, an integer time in ms from 1970 to the
#: year 9999, a numeric value or NaN. Names are checked once per run and name, in Python. A
#: run with any other row goes the Python way, which names what is wrong.
_ROW_OK = (
    "(typeof(step) = 'integer' AND step >= 0 "
    "AND typeof(timestamp) = 'integer' AND timestamp BETWEEN 0 AND {max_ms} "
    "AND is_nan IN (0, 1) AND (is_nan = 1 OR typeof(value) IN ('integer', 'real')))"
)


class NotCopyable(Exception):
    """A run copied by SQL without a check beforehand has a row mlops would not keep as it
    is, or several values at one step: the transaction is rolled back; the caller checks the
    runs with :func:`mlflow_metric_stats` and copies them the checked way."""


class RepeatedSteps(NotCopyable):
    """A run copied by SQL has several values at one step (which take the ``every_value``
    path): the transaction is rolled back; :func:`repeated_steps` names the runs."""


def _name_ok(name: object) -> bool:
    from mlops.values import MAX_NAME

    return (
        isinstance(name, str)
        and bool(name.strip())
        and len(name) <= MAX_NAME
        and ("\x00" not in name)
    )


def mlflow_metric_stats(
    cursor: Any, run_ids: Sequence[str]
) -> dict[str, tuple[bool, int, int | None, int | None]]:
    """Per MLflow run of an SQLite database (``cursor`` on it): whether every metric row is
    one mlops keeps as it is (names, steps, times, values; several values at one step are
    found when the points are copied: see :class:`RepeatedSteps`), and the number of rows,
    first and last time (ms). Runs without metrics are ``(True, 0, None, None)``."""
    from mlops.values import MAX_TIMESTAMP

    ok = _ROW_OK.format(max_ms=MAX_TIMESTAMP * 1000)
    found: dict[str, tuple[bool, int, int | None, int | None]] = {
        run_id: (True, 0, None, None) for run_id in run_ids
    }
    for start in range(0, len(run_ids), _IDS_PER_QUERY):
        chunk = list(run_ids[start : start + _IDS_PER_QUERY])
        marks = ", ".join("?" * len(chunk))
        cursor.execute(
            f"SELECT run_uuid, count(*), min(timestamp), max(timestamp), min({ok}) "
            f"FROM metrics WHERE run_uuid IN ({marks}) GROUP BY run_uuid",
            chunk,
        )
        for run_id, count, first, last, good in cursor.fetchall():
            found[run_id] = (bool(good), count, first, last)
        cursor.execute(
            f"SELECT DISTINCT run_uuid, key FROM metrics WHERE run_uuid IN ({marks})", chunk
        )
        for run_id, key in cursor.fetchall():
            if not _name_ok(key):
                found[run_id] = (False, *found[run_id][1:])
    return found


def repeated_steps(cursor: Any, run_ids: Sequence[str]) -> set[str]:
    """The runs of an MLflow SQLite database (``cursor`` on it) with several values at one
    step of a metric."""
    found: set[str] = set()
    for start in range(0, len(run_ids), _IDS_PER_QUERY):
        chunk = list(run_ids[start : start + _IDS_PER_QUERY])
        marks = ", ".join("?" * len(chunk))
        cursor.execute(
            f"SELECT DISTINCT run_uuid FROM metrics WHERE run_uuid IN ({marks}) "
            "GROUP BY run_uuid, key, step HAVING count(*) > 1",
            chunk,
        )
        found.update(row[0] for row in cursor.fetchall())
    return found


def _copy_points(conn: Any, items: Sequence[NewIteration]) -> int:
    """The points of new iterations from the attached MLflow database, then their summaries
    (what :func:`summarize_batch` gives for one value per step: the value at the highest
    step, min and max without NaN) from the points just copied; returns the number copied.

    Items with ``points_in_source=-1`` are not checked yet: their step is copied as NULL
    when the row is not one mlops keeps as it is (``_ROW_OK``), which the NOT NULL step
    refuses, a repeated step breaks the primary key, and a name is checked from the
    summaries' ``RETURNING``: each raises :class:`NotCopyable` (the transaction is rolled
    back). One pass over the source instead of a checking pass and a copying pass."""
    from sqlalchemy.exc import IntegrityError

    from mlops.values import MAX_TIMESTAMP

    run = conn.exec_driver_sql
    by_experiment: dict[tuple[str, bool], list[str]] = {}
    counts: dict[str, int] = {}
    for item in items:
        checked = (item.points_in_source or 0) >= 0
        by_experiment.setdefault((item.experiment_id, checked), []).append(item.id)
        counts[item.id] = item.points_in_source or 0
    total = 0
    ok = _ROW_OK.format(max_ms=MAX_TIMESTAMP * 1000)
    for (experiment_id, checked), ids in by_experiment.items():
        for start in range(0, len(ids), _IDS_PER_QUERY):
            chunk = ids[start : start + _IDS_PER_QUERY]
            marks = ", ".join("?" * len(chunk))
            step = "step" if checked else f"CASE WHEN {ok} THEN step END"
            conflict = " ON CONFLICT (iteration_id, name, step, seq) DO NOTHING" if checked else ""
            try:
                copied = run(
                    "INSERT INTO metric_points (iteration_id, name, step, seq, value, timestamp) "
                    f"SELECT run_uuid, key, {step}, 0, {_MLFLOW_VALUE}, "
                    f"CAST(timestamp AS REAL) / 1000 FROM {_SOURCE}.metrics "
                    f"WHERE run_uuid IN ({marks}) ORDER BY run_uuid, key, step{conflict}",
                    tuple(chunk),
                ).rowcount
            except IntegrityError as exc:  # unchecked only: a bad row or a repeated step
                raise NotCopyable(f"{len(chunk)} runs: {exc.orig}") from None
            if checked and copied != sum(counts[i] for i in chunk):  # several values a step
                raise RepeatedSteps(f"{len(chunk)} runs")
            total += copied
            names = run(
                "INSERT INTO metric_summaries "
                "(iteration_id, name, last, last_step, min, max, experiment_id) "
                "SELECT g.iteration_id, g.name, p.value, g.last_step, g.low, g.high, ? FROM ("
                "SELECT iteration_id, name, max(step) AS last_step, min(value) AS low, "
                "max(value) AS high FROM metric_points "
                f"WHERE iteration_id IN ({marks}) GROUP BY iteration_id, name) AS g "
                "JOIN metric_points AS p ON p.iteration_id = g.iteration_id "
                "AND p.name = g.name AND p.step = g.last_step AND p.seq = 0"
                + ("" if checked else " RETURNING name"),
                (experiment_id, *chunk),
            )
            if not checked:
                bad = next((n for (n,) in set(names.fetchall()) if not _name_ok(n)), None)
                if bad is not None:
                    raise NotCopyable(f"{len(chunk)} runs: metric name {bad!r:.80}")
    return total
