"""The write path of the SQL store: one iteration's parameters, points and dataset links.

Points go through the driver's ``executemany`` with plain tuples (no ORM, no per-row dicts):
this is where ingestion speed is decided. Every statement is an upsert keyed by
(iteration, metric, step, seq), so re-sending a batch stores it once. mlops' own writes keep
one value per step, at seq 0: a step written again replaces it. With ``every_value`` (MLflow's
way) a point at an occupied step is kept after the others (the next seq), unless the same
(step, timestamp, value) is already there: then it is a retry, and skipped.

Summaries follow the stored series. A metric whose batch only appends (its steps increase and
all lie beyond the stored last step; with ``every_value``, its steps never decrease and start at
or after the stored last step) merges into its summary as it is; any other (a step written
again, a retry, a late point) has its summary recomputed from its stored points.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select

from mlops.store.base import MetricRow
from mlops.store.sql.engine import DriverCursor
from mlops.store.sql.models import METRIC_POINTS
from mlops.store.sql.rows import encode_parameter
from mlops.store.summaries import BatchSummary, summarize_batch

_POINTS = (
    "INSERT INTO metric_points (iteration_id, name, step, seq, value, timestamp) "
    "VALUES ({p}, {p}, {p}, {p}, {p}, {p}) ON CONFLICT (iteration_id, name, step, seq) "
    "DO UPDATE SET value = excluded.value, timestamp = excluded.timestamp"
)
_PARAMETERS = (
    "INSERT INTO parameters (iteration_id, name, value_json, value_num, value_str) "
    "VALUES ({p}, {p}, {p}, {p}, {p}) ON CONFLICT (iteration_id, name) "
    "DO UPDATE SET value_json = excluded.value_json, value_num = excluded.value_num, "
    "value_str = excluded.value_str"
)
# min/max ignore NaN (stored as NULL); last is the value at the highest (step, seq).
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
# The summary of a metric as its stored points tell it (after a step was written again); the
# series' change marker grows, so a live page refetches it (see mlops.views).
_POINTS_OF = (
    "FROM metric_points AS p WHERE p.iteration_id = metric_summaries.iteration_id "
    "AND p.name = metric_summaries.name"
)
_RECOMPUTE = (
    f"UPDATE metric_summaries SET last_step = (SELECT max(p.step) {_POINTS_OF}), "
    f"last = (SELECT p.value {_POINTS_OF} ORDER BY p.step DESC, p.seq DESC LIMIT 1), "
    f"min = (SELECT min(p.value) {_POINTS_OF}), max = (SELECT max(p.value) {_POINTS_OF}), "
    "rewrites = rewrites + 1 WHERE iteration_id = {p} AND name = {p}"
)
_TAGS = (
    "INSERT INTO iteration_tags (iteration_id, key, value) VALUES ({p}, {p}, {p}) "
    "ON CONFLICT (iteration_id, key) DO UPDATE SET value = excluded.value"
)
_DATASET_LINKS = (
    "INSERT INTO iteration_datasets (iteration_id, dataset_id) VALUES ({p}, {p}) "
    "ON CONFLICT (iteration_id, dataset_id) DO NOTHING"
)


def driver_sql(conn: Connection, template: str) -> str:
    """``template`` with the placeholders of the connection's driver (``?`` or ``%s``)."""
    placeholder = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    return template.format(p=placeholder)


_sql = driver_sql  # the name other modules import


def write_batch(
    conn: Connection | DriverCursor,
    iteration_id: str,
    experiment_id: str,
    parameters: Mapping[str, Any] | None,
    metrics: Sequence[MetricRow] | None,
    dataset_ids: Sequence[str] | None,
    tags: Mapping[str, str] | None = None,
    every_value: bool = False,
) -> None:
    """Write one iteration's batch on an open write transaction (through the driver's cursor:
    these statements are the write hot path)."""
    cur = conn if isinstance(conn, DriverCursor) else DriverCursor(conn)
    if parameters:
        rows = [(iteration_id, name, *encode_parameter(v)) for name, v in parameters.items()]
        cur.run_many(_PARAMETERS, rows)
    stored: dict[str, int] | None = None
    if every_value and metrics:
        points, metrics, stored = _every_value(cur, iteration_id, metrics)
    elif metrics:
        # float(): an int would stay an integer in SQLite's value column (see ExactDouble)
        points = [
            (iteration_id, name, step, 0, None if value != value else float(value), ts)
            for name, step, value, ts in metrics
        ]
    if metrics:
        summaries = summarize_batch(metrics)
        if stored is None:
            stored = _last_steps(cur, iteration_id, [s.name for s in summaries])
        stale = _rewritten(summaries, stored, every_value)
        cur.run_many(_POINTS, points)
        merged = [
            (iteration_id, s.name, s.last, s.last_step, s.min, s.max, experiment_id)
            for s in summaries
        ]
        cur.run_many(_SUMMARIES, merged)
        if stale:
            cur.run_many(_RECOMPUTE, [(iteration_id, name) for name in stale])
    if dataset_ids:
        cur.run_many(_DATASET_LINKS, [(iteration_id, d) for d in dataset_ids])
    if tags:
        cur.run_many(_TAGS, [(iteration_id, k, v) for k, v in tags.items()])


#: The stored last steps of some metrics of an iteration (the names bound, up to _NAMES).
_LAST_STEPS = "SELECT name, last_step FROM metric_summaries WHERE iteration_id = {p} AND name IN "
_NAMES = 500


def _last_steps(cur: DriverCursor, iteration_id: str, names: Sequence[str]) -> dict[str, int]:
    """The stored last step (the greatest step stored) of each of ``names`` that has points."""
    stored: dict[str, int] = {}
    for start in range(0, len(names), _NAMES):
        chunk = names[start : start + _NAMES]
        marks = "(" + ", ".join(["{p}"] * len(chunk)) + ")"
        stored.update(cur.rows(_LAST_STEPS + marks, (iteration_id, *chunk)))
    return stored


def _rewritten(
    summaries: Sequence[BatchSummary], stored: Mapping[str, int], every_value: bool
) -> list[str]:
    """The metrics of a batch that write a step at or below their stored last step (or the
    same step twice): their summaries cannot be merged, they are recomputed. With
    ``every_value`` nothing is replaced: only a point before the stored last step (or steps
    going back within the batch) needs the recomputation."""
    if every_value:
        return [
            s.name
            for s in summaries
            if not s.ordered or (s.name in stored and s.first_step < stored[s.name])
        ]
    return [
        s.name
        for s in summaries
        if not s.increasing or (s.name in stored and s.first_step <= stored[s.name])
    ]


def _value_key(value: float | None) -> str | None:
    """A stored value as an exact key (-0.0 and 0.0 differ; NaN is None)."""
    return None if value is None else float(value).hex()


def _every_value(
    cur: DriverCursor, iteration_id: str, metrics: Sequence[MetricRow]
) -> tuple[list[tuple[Any, ...]], list[MetricRow], dict[str, int]]:
    """(rows to insert, the batch's points that are new, the stored last steps) for an
    ``every_value`` batch: each new point goes after the points stored at its step; one whose
    (step, timestamp, value) is stored already, or came earlier in this batch, is a retry and
    is left out. Only a metric whose stored steps reach into the batch's (its last step, the
    greatest stored, at or after the batch's first) is looked up: a new metric, or one logged
    on past its last step (every batch of a training loop), costs no query."""
    spans: dict[str, tuple[int, int]] = {}
    for name, step, _value, _ts in metrics:
        low, high = spans.get(name, (step, step))
        spans[name] = (min(low, step), max(high, step))
    last_steps = _last_steps(cur, iteration_id, list(spans))
    names = [n for n, (low, _high) in spans.items() if last_steps.get(n, low - 1) >= low]
    if not names and len({(m[0], m[1]) for m in metrics}) == len(metrics):
        # nothing stored within reach and one point a (metric, step): no retry to look for
        fresh = [
            (iteration_id, name, step, 0, None if value != value else float(value), ts)
            for name, step, value, ts in metrics
        ]
        return fresh, list(metrics), last_steps
    next_seq: dict[tuple[str, int], int] = {}
    seen: set[tuple[str, int, float, str | None]] = set()
    if names:
        _stored_points(cur.conn, iteration_id, metrics, spans, names, next_seq, seen)
    rows: list[tuple[Any, ...]] = []
    kept: list[MetricRow] = []
    for name, step, value, ts in metrics:
        number = None if value != value else float(value)
        key = (name, step, ts, _value_key(number))
        if key in seen:
            continue
        seen.add(key)
        seq = next_seq.get((name, step), 0)
        next_seq[(name, step)] = seq + 1
        rows.append((iteration_id, name, step, seq, number, ts))
        kept.append((name, step, value, ts))
    return rows, kept, last_steps


def _stored_points(
    conn: Connection,
    iteration_id: str,
    metrics: Sequence[MetricRow],
    spans: Mapping[str, tuple[int, int]],
    names: Sequence[str],
    next_seq: dict[tuple[str, int], int],
    seen: set[tuple[str, int, float, str | None]],
) -> None:
    """Fill ``next_seq`` (the next sequence number at each stored (name, step)) and ``seen``
    (the stored points at the batch's timestamps) for ``names`` within their ``spans``."""
    stamps = sorted({ts for _n, _s, _v, ts in metrics})
    c = METRIC_POINTS.c
    for start in range(0, len(names), 500):
        chunk = names[start : start + 500]
        where = and_(
            c.iteration_id == iteration_id,
            or_(*(and_(c.name == n, c.step.between(*spans[n])) for n in chunk)),
        )
        counted = select(c.name, c.step, func.max(c.seq)).where(where).group_by(c.name, c.step)
        for name, step, seq in conn.execute(counted):
            next_seq[(name, step)] = seq + 1
        for first in range(0, len(stamps), 5000):
            same_time = c.timestamp.in_(stamps[first : first + 5000])
            query = select(c.name, c.step, c.timestamp, c.value).where(where, same_time)
            for name, step, ts, value in conn.execute(query):
                seen.add((name, step, ts, _value_key(value)))
