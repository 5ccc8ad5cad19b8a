"""The write path of the SQL store: one iteration's parameters, points and dataset links.

Points go through the driver's ``executemany`` with plain tuples (no ORM, no per-row dicts):
this is where ingestion speed is decided. Every statement is an upsert keyed by
(iteration, metric, step), so re-sending a batch stores it once.

Summaries follow the stored series. A metric whose batch only appends (its steps increase and
all lie beyond the stored last step) merges into its summary as it is; any other (a step
written again, a retry, a late point) has its summary recomputed from its stored points.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, select

from mlops.store.base import MetricRow
from mlops.store.sql.models import METRIC_SUMMARIES
from mlops.store.sql.rows import encode_parameter
from mlops.store.summaries import BatchSummary, summarize_batch

_POINTS = (
    "INSERT INTO metric_points (iteration_id, name, step, value, timestamp) "
    "VALUES ({p}, {p}, {p}, {p}, {p}) ON CONFLICT (iteration_id, name, step) "
    "DO UPDATE SET value = excluded.value, timestamp = excluded.timestamp"
)
_PARAMETERS = (
    "INSERT INTO parameters (iteration_id, name, value_json, value_num, value_str) "
    "VALUES ({p}, {p}, {p}, {p}, {p}) ON CONFLICT (iteration_id, name) "
    "DO UPDATE SET value_json = excluded.value_json, value_num = excluded.value_num, "
    "value_str = excluded.value_str"
)
# min/max ignore NaN (stored as NULL); last is the value at the highest step.
_SUMMARIES = (
    "INSERT INTO metric_summaries (iteration_id, name, last, last_step, min, max, experiment_id) "
    "VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}) ON CONFLICT (iteration_id, name) DO UPDATE SET "
    "last = CASE WHEN excluded.last_step >= metric_summaries.last_step "
    "THEN excluded.last ELSE metric_summaries.last END, "
    "last_step = CASE WHEN excluded.last_step >= metric_summaries.last_step "
    "THEN excluded.last_step ELSE metric_summaries.last_step END, "
    "min = CASE WHEN metric_summaries.min IS NULL THEN excluded.min "
    "WHEN excluded.min IS NULL THEN metric_summaries.min "
    "WHEN excluded.min < metric_summaries.min THEN excluded.min ELSE metric_summaries.min END, "
    "max = CASE WHEN metric_summaries.max IS NULL THEN excluded.max "
    "WHEN excluded.max IS NULL THEN metric_summaries.max "
    "WHEN excluded.max > metric_summaries.max THEN excluded.max ELSE metric_summaries.max END"
)
# The summary of a metric as its stored points tell it (after a step was written again).
_POINTS_OF = (
    "FROM metric_points AS p WHERE p.iteration_id = metric_summaries.iteration_id "
    "AND p.name = metric_summaries.name"
)
_RECOMPUTE = (
    f"UPDATE metric_summaries SET last_step = (SELECT max(p.step) {_POINTS_OF}), "
    f"last = (SELECT p.value {_POINTS_OF} ORDER BY p.step DESC LIMIT 1), "
    f"min = (SELECT min(p.value) {_POINTS_OF}), max = (SELECT max(p.value) {_POINTS_OF}) "
    "WHERE iteration_id = {p} AND name = {p}"
)
_TAGS = (
    "INSERT INTO iteration_tags (iteration_id, key, value) VALUES ({p}, {p}, {p}) "
    "ON CONFLICT (iteration_id, key) DO UPDATE SET value = excluded.value"
)
_DATASET_LINKS = (
    "INSERT INTO iteration_datasets (iteration_id, dataset_id) VALUES ({p}, {p}) "
    "ON CONFLICT (iteration_id, dataset_id) DO NOTHING"
)


def _sql(conn: Connection, template: str) -> str:
    placeholder = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    return template.format(p=placeholder)


def write_batch(
    conn: Connection,
    iteration_id: str,
    experiment_id: str,
    parameters: Mapping[str, Any] | None,
    metrics: Sequence[MetricRow] | None,
    dataset_ids: Sequence[str] | None,
    tags: Mapping[str, str] | None = None,
) -> None:
    """Write one iteration's batch on an open write transaction."""
    cursor_exec = conn.exec_driver_sql
    if parameters:
        rows = [(iteration_id, name, *encode_parameter(v)) for name, v in parameters.items()]
        cursor_exec(_sql(conn, _PARAMETERS), rows)
    if metrics:
        # float(): an int would stay an integer in SQLite's value column (see ExactDouble)
        points = [
            (iteration_id, name, step, None if value != value else float(value), ts)
            for name, step, value, ts in metrics
        ]
        summaries = summarize_batch(metrics)
        stale = _rewritten(conn, iteration_id, summaries)
        cursor_exec(_sql(conn, _POINTS), points)
        merged = [
            (iteration_id, s.name, s.last, s.last_step, s.min, s.max, experiment_id)
            for s in summaries
        ]
        cursor_exec(_sql(conn, _SUMMARIES), merged)
        if stale:
            cursor_exec(_sql(conn, _RECOMPUTE), [(iteration_id, name) for name in stale])
    if dataset_ids:
        cursor_exec(_sql(conn, _DATASET_LINKS), [(iteration_id, d) for d in dataset_ids])
    if tags:
        cursor_exec(_sql(conn, _TAGS), [(iteration_id, k, v) for k, v in tags.items()])


def _rewritten(conn: Connection, iteration_id: str, summaries: Sequence[BatchSummary]) -> list[str]:
    """The metrics of a batch that write a step at or below their stored last step (or the
    same step twice): their summaries cannot be merged, they are recomputed."""
    c = METRIC_SUMMARIES.c
    query = select(c.name, c.last_step).where(
        c.iteration_id == iteration_id, c.name.in_([s.name for s in summaries])
    )
    stored: dict[str, int] = {name: step for name, step in conn.execute(query)}
    return [
        s.name
        for s in summaries
        if not s.increasing or (s.name in stored and s.first_step <= stored[s.name])
    ]
