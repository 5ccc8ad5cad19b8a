"""Long metric series downsampled for charts, in SQL: true points only, in step order.

The steps are cut into buckets of equal width. Each bucket gives the point where its lowest value
first occurs, the point where its highest value first occurs and, when it holds NaN, its first
NaN point (a gap in the chart); the first and the last point of the series are always kept.
Every point returned is a stored point: its step, its exact value, its timestamp.

Every statement here serves the series of many iterations at once (one metric of each): one
counts them (:func:`shapes`), one downsamples every long series with one value per step
(:func:`downsample`). On SQLite it groups their points by bucket (one index range scan per
series), looks in each bucket's own steps for the first step of its minimum, its maximum and its
first NaN (index range scans that stop at the first match) and reads the points at those steps
by primary key. Each step is written as a correlated subquery on purpose: a join would let a
planner without statistics on a new iteration loop over the whole series once per bucket. On
PostgreSQL, where each correlated subquery costs microseconds of executor set-up (three per
bucket were most of the time of 100 series), the points are read in one pass, sorted once by
bucket and compared with their bucket's lowest and highest value (window aggregates): the same
points, 3 times faster there (see benchmarks/series_batch.py). A series with several values at
some step (``every_value``) is cut into buckets of equal counts of points instead, numbered in
(step, seq) order, by a third statement.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from mlops.series import MetricColumns
from mlops.store.sql.engine import DriverCursor


class Shape(NamedTuple):
    """What counting one series gives: how many points it has, how many of them have a value
    (not NaN), its first and last step, and its highest ``seq`` (0: one value per step)."""

    total: int
    valued: int
    low: int
    high: int
    seqs: int


def _marks(count: int, mark: str = "{p}") -> str:
    return ", ".join([mark] * count)


@functools.lru_cache(maxsize=64)
def _shapes_sql(count: int) -> str:
    return (
        "SELECT iteration_id, COUNT(*), COUNT(value), MIN(step), MAX(step), MAX(seq) "
        f"FROM metric_points WHERE iteration_id IN ({_marks(count)}) AND name = {{p}} "
        "GROUP BY iteration_id"
    )


def shapes(cur: DriverCursor, iteration_ids: Sequence[str], metric_name: str) -> dict[str, Shape]:
    """The shape of the series of ``metric_name`` of each iteration that has one (one
    statement; an iteration without a point of it is left out)."""
    rows = cur.rows(_shapes_sql(len(iteration_ids)), [*iteration_ids, metric_name])
    return {row[0]: Shape._make(row[1:]) for row in rows}


def bucket_count(max_points: int, has_nan: bool) -> int:
    """How many buckets fit in ``max_points``: two points each (three with a gap) plus the
    first and last point of the series; at least one."""
    per_bucket = 3 if has_nan else 2
    return max(1, (max_points - 2) // per_bucket)


def downsample(
    cur: DriverCursor, metric_name: str, long: Mapping[str, Shape], max_points: int
) -> dict[str, MetricColumns]:
    """The points of the chart of each series in ``long`` (iteration id -> its shape, each
    longer than ``max_points``): one statement for the series with one value per step, one
    for those with several values at some step."""
    by_step = {i: s for i, s in long.items() if not s.seqs}
    by_position = {i: s for i, s in long.items() if s.seqs}
    found: dict[str, MetricColumns] = {}
    if by_step:
        params: list[object] = []
        for iteration_id, shape in by_step.items():
            buckets = bucket_count(max_points, shape.valued < shape.total)
            width = -(-(shape.high - shape.low + 1) // buckets)  # the last bucket reaches high
            params += [iteration_id, shape.low, shape.high, width]
        if cur.postgresql:
            rows = cur.chunks(_by_step_windows_sql(len(by_step)), [*params, metric_name])
        else:
            rows = cur.chunks(_by_step_sql(len(by_step)), [*params, *[metric_name] * 6])
        found.update(MetricColumns.of_keyed_chunks(rows))
    if by_position:
        params = []
        for iteration_id, shape in by_position.items():
            buckets = bucket_count(max_points, shape.valued < shape.total)
            params += [iteration_id, -(-shape.total // buckets), shape.total - 1]
        params += [*by_position, metric_name]
        rows = cur.chunks(_by_position_sql(len(by_position)), params)
        found.update(MetricColumns.of_keyed_chunks(rows))
    return found


def _first_step(condition: str) -> str:
    """The first step of a bucket (a row of ``spans``) where ``condition`` holds: a scan of
    that bucket's steps that stops at the first match."""
    return (
        "(SELECT q.step FROM metric_points AS q WHERE q.iteration_id = spans.iteration_id "
        "AND q.name = {p} AND q.step BETWEEN spans.first_step AND spans.last_step "
        f"AND {condition} ORDER BY q.step LIMIT 1)"
    )


def _at_step(column: str) -> str:
    """``column`` of the point at a picked step: one primary-key lookup per point."""
    return (
        f"(SELECT q.{column} FROM metric_points AS q WHERE q.iteration_id = p.iteration_id "
        "AND q.name = {p} AND q.step = p.step AND q.seq = 0)"
    )


@functools.lru_cache(maxsize=64)
def _by_step_sql(count: int) -> str:
    """Buckets of equal widths of steps: ``count`` rows of (iteration id, first step, last
    step, width) then the metric name six times."""
    row = "({p}, CAST({p} AS BIGINT), CAST({p} AS BIGINT), CAST({p} AS BIGINT))"
    # a bucket of NaN only has no lowest or highest: a NULL step, left out
    return f"""
    WITH shapes (iteration_id, low, high, width) AS (VALUES {_marks(count, row)}),
    spans AS (
        SELECT s.iteration_id, MIN(m.step) AS first_step, MAX(m.step) AS last_step,
            MIN(m.value) AS lowest, MAX(m.value) AS highest,
            COUNT(*) - COUNT(m.value) AS gaps
        FROM shapes AS s JOIN metric_points AS m
            ON m.iteration_id = s.iteration_id AND m.name = {{p}}
        GROUP BY s.iteration_id, (m.step - s.low) / s.width
    ),
    picked (iteration_id, step) AS (
        SELECT iteration_id, {_first_step("q.value = spans.lowest")} FROM spans
        UNION SELECT iteration_id, {_first_step("q.value = spans.highest")} FROM spans
        UNION SELECT iteration_id, {_first_step("q.value IS NULL")} FROM spans WHERE gaps > 0
        UNION SELECT iteration_id, low FROM shapes
        UNION SELECT iteration_id, high FROM shapes
    )
    SELECT p.iteration_id, p.step, {_at_step("value")}, {_at_step("timestamp")}
    FROM picked AS p WHERE p.step IS NOT NULL ORDER BY p.iteration_id, p.step
    """


@functools.lru_cache(maxsize=64)
def _by_step_windows_sql(count: int) -> str:
    """:func:`_by_step_sql` for PostgreSQL, where each correlated subquery costs microseconds
    of executor set-up (three per bucket: most of the time for 100 series): the points of the
    series in one pass, sorted once by bucket, each point compared with its bucket's lowest
    and highest value (window aggregates over the bucket, no ordering within it). The same
    parameters, the metric name once."""
    row = "({p}, CAST({p} AS BIGINT), CAST({p} AS BIGINT), CAST({p} AS BIGINT))"
    return f"""
    WITH shapes (iteration_id, low, high, width) AS (VALUES {_marks(count, row)}),
    bucketed AS (
        SELECT s.iteration_id, s.low, s.high, m.step, m.value, m.timestamp,
            (m.step - s.low) / s.width AS bucket
        FROM shapes AS s JOIN metric_points AS m
            ON m.iteration_id = s.iteration_id AND m.name = {{p}}
    ),
    spans AS (
        SELECT *, MIN(value) OVER bucket AS lowest, MAX(value) OVER bucket AS highest
        FROM bucketed WINDOW bucket AS (PARTITION BY iteration_id, bucket)
    ),
    firsts AS (
        SELECT iteration_id, low, high, step, value, timestamp,
            MIN(CASE WHEN value = lowest THEN step END) OVER bucket AS at_lowest,
            MIN(CASE WHEN value = highest THEN step END) OVER bucket AS at_highest,
            MIN(CASE WHEN value IS NULL THEN step END) OVER bucket AS at_gap
        FROM spans WINDOW bucket AS (PARTITION BY iteration_id, bucket)
    )
    SELECT iteration_id, step, value, timestamp FROM firsts
    WHERE step IN (at_lowest, at_highest, at_gap, low, high)
    ORDER BY iteration_id, step
    """


@functools.lru_cache(maxsize=64)
def _by_position_sql(count: int) -> str:
    """Buckets of equal counts of points: ``count`` rows of (iteration id, width, position of
    the last point), the ``count`` ids again, then the metric name."""
    row = "({p}, CAST({p} AS BIGINT), CAST({p} AS BIGINT))"
    return f"""
    WITH shapes (iteration_id, width, last_pos) AS (VALUES {_marks(count, row)}),
    numbered AS (
        SELECT m.iteration_id, m.step, m.value, m.timestamp,
            ROW_NUMBER() OVER (PARTITION BY m.iteration_id ORDER BY m.step, m.seq) - 1 AS pos
        FROM metric_points AS m
        WHERE m.iteration_id IN ({_marks(count)}) AND m.name = {{p}}
    ),
    bucketed AS (
        SELECT n.iteration_id, n.pos, n.value, n.pos / s.width AS bucket
        FROM numbered AS n JOIN shapes AS s ON s.iteration_id = n.iteration_id
    ),
    spans AS (
        SELECT iteration_id, bucket, MIN(value) AS lowest, MAX(value) AS highest
        FROM bucketed GROUP BY iteration_id, bucket
    ),
    picked (iteration_id, pos) AS (
        SELECT b.iteration_id, MIN(b.pos) FROM bucketed AS b JOIN spans AS s
            ON s.iteration_id = b.iteration_id AND s.bucket = b.bucket AND b.value = s.lowest
            GROUP BY b.iteration_id, b.bucket
        UNION SELECT b.iteration_id, MIN(b.pos) FROM bucketed AS b JOIN spans AS s
            ON s.iteration_id = b.iteration_id AND s.bucket = b.bucket AND b.value = s.highest
            GROUP BY b.iteration_id, b.bucket
        UNION SELECT iteration_id, MIN(pos) FROM bucketed WHERE value IS NULL
            GROUP BY iteration_id, bucket
        UNION SELECT iteration_id, 0 FROM shapes
        UNION SELECT iteration_id, last_pos FROM shapes
    )
    SELECT n.iteration_id, n.step, n.value, n.timestamp FROM numbered AS n
        JOIN picked AS p ON p.iteration_id = n.iteration_id AND p.pos = n.pos
    ORDER BY n.iteration_id, n.pos
    """
