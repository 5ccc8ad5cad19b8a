"""Long metric series downsampled for charts, in SQL: true points only, in step order.

The steps are cut into buckets of equal width. Each bucket gives the point where its lowest value
first occurs, the point where its highest value first occurs and, when it holds NaN, its first
NaN point (a gap in the chart); the first and the last point of the series are always kept.
Every point returned is a stored point: its step, its exact value, its timestamp.

Two queries: one counts the series; the other groups its points by bucket (one index range
scan), looks in each bucket's own steps for the first step of its minimum, its maximum and its
first NaN (index range scans that stop at the first match) and reads the points at those steps
by primary key. Each step is written as a correlated subquery on purpose: a join would let
PostgreSQL, without statistics on a new iteration yet, loop over the whole series once per
bucket.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Select,
    and_,
    func,
    literal,
    select,
    text,
    union,
)

from mlops.entities import MetricPoint
from mlops.store.sql.models import METRIC_POINTS
from mlops.store.sql.rows import nan_if_none


def _bucket_count(max_points: int, has_nan: bool) -> int:
    """How many buckets fit in ``max_points``: two points each (three with a gap) plus the
    first and last point of the series; at least one."""
    per_bucket = 3 if has_nan else 2
    return max(1, (max_points - 2) // per_bucket)


def downsample(
    conn: Connection, iteration_id: str, metric_name: str, max_points: int
) -> tuple[list[MetricPoint] | None, int]:
    """(the points of the chart, how many the series has); ``None`` instead of points when the
    whole series fits in ``max_points`` (read it as it is)."""
    c = METRIC_POINTS.c

    def mine(table: Any = c) -> ColumnElement[bool]:
        return and_(table.iteration_id == iteration_id, table.name == metric_name)

    total, valued, low, high, seqs = conn.execute(
        select(
            func.count(), func.count(c.value), func.min(c.step), func.max(c.step), func.max(c.seq)
        ).where(mine())
    ).one()
    if total <= max_points:
        return None, total
    buckets = _bucket_count(max_points, has_nan=valued < total)
    if seqs:
        return _by_position(conn, iteration_id, metric_name, total, buckets), total
    width = -(-(high - low + 1) // buckets)  # ceiling: the last bucket ends at or after high
    bucket = ((c.step - low) // width).label("bucket")
    spans = (
        select(
            bucket,
            func.min(c.step).label("first"),
            func.max(c.step).label("last"),
            func.min(c.value).label("lowest"),
            func.max(c.value).label("highest"),
            (func.count() - func.count(c.value)).label("gaps"),
        )
        .where(mine())
        .group_by(bucket)
        .cte("spans")
    )
    q = METRIC_POINTS.alias("q")

    def first_step(where: ColumnElement[bool]) -> Select[tuple[int]]:
        """The first step of each bucket where ``where`` holds: a scan of that bucket's steps
        that stops at the first match."""
        inside = q.c.step.between(spans.c.first, spans.c.last)
        found = select(q.c.step).where(mine(q.c), inside, where).order_by(q.c.step).limit(1)
        return select(found.correlate(spans).scalar_subquery()).select_from(spans)

    picked = union(
        first_step(q.c.value == spans.c.lowest),
        first_step(q.c.value == spans.c.highest),
        first_step(q.c.value.is_(None)).where(spans.c.gaps > 0),
        select(literal(low, BigInteger)),
        select(literal(high, BigInteger)),
    ).subquery("picked")
    step = picked.c[0]

    def at_step(column: ColumnElement[Any]) -> ColumnElement[Any]:
        """``column`` of the point at the picked step: one primary-key lookup per point."""
        found = select(column).where(mine(q.c), q.c.step == step, q.c.seq == 0)
        return found.correlate(picked).scalar_subquery()

    query = select(step, at_step(q.c.value), at_step(q.c.timestamp)).order_by(step)
    rows = conn.execute(query)  # a bucket of NaN only has no lowest or highest: a NULL step
    points = [MetricPoint(s, nan_if_none(v), t) for s, v, t in rows if s is not None]
    return points, total


_BY_POSITION = text(
    """
    WITH numbered AS (
        SELECT step, value, timestamp, ROW_NUMBER() OVER (ORDER BY step, seq) - 1 AS pos
        FROM metric_points WHERE iteration_id = :iteration_id AND name = :name
    ),
    bucketed AS (SELECT pos, value, pos / :width AS bucket FROM numbered),
    spans AS (
        SELECT bucket, MIN(value) AS lowest, MAX(value) AS highest FROM bucketed GROUP BY bucket
    ),
    picked AS (
        SELECT MIN(b.pos) AS pos FROM bucketed AS b
            JOIN spans AS s ON s.bucket = b.bucket AND b.value = s.lowest GROUP BY b.bucket
        UNION SELECT MIN(b.pos) FROM bucketed AS b
            JOIN spans AS s ON s.bucket = b.bucket AND b.value = s.highest GROUP BY b.bucket
        UNION SELECT MIN(pos) FROM bucketed WHERE value IS NULL GROUP BY bucket
        UNION SELECT 0
        UNION SELECT :last
    )
    SELECT step, value, timestamp FROM numbered WHERE pos IN (SELECT pos FROM picked)
    ORDER BY pos
    """
)


def _by_position(
    conn: Connection, iteration_id: str, metric_name: str, total: int, buckets: int
) -> list[MetricPoint]:
    """The picks of :func:`downsample` over buckets of equal counts of points, numbered in
    (step, seq) order: for a series with several values at some steps."""
    width = -(-total // buckets)
    rows = conn.execute(
        _BY_POSITION,
        {"iteration_id": iteration_id, "name": metric_name, "width": width, "last": total - 1},
    )
    return [MetricPoint(s, nan_if_none(None if v is None else float(v)), t) for s, v, t in rows]
