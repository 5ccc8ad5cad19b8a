"""The write path of the SQL store: one iteration's parameters, points and dataset links.

Points go through the driver's ``executemany`` with plain tuples (no ORM, no per-row dicts):
this is where ingestion speed is decided. Every statement is an upsert keyed by
(iteration, metric, step), so re-sending a batch stores it once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection

from mlops.store.base import MetricRow
from mlops.store.sql.rows import encode_parameter
from mlops.store.summaries import summarize

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
        points = [
            (iteration_id, name, step, None if value != value else value, ts)
            for name, step, value, ts in metrics
        ]
        cursor_exec(_sql(conn, _POINTS), points)
        summaries = [(*row, experiment_id) for row in summarize(iteration_id, metrics)]
        cursor_exec(_sql(conn, _SUMMARIES), summaries)
    if dataset_ids:
        cursor_exec(_sql(conn, _DATASET_LINKS), [(iteration_id, d) for d in dataset_ids])
    if tags:
        cursor_exec(_sql(conn, _TAGS), [(iteration_id, k, v) for k, v in tags.items()])
