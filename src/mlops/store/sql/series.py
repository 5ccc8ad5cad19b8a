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

    total, valued, low, high = conn.execute(
        select(func.count(), func.count(c.value), func.min(c.step), func.max(c.step)).where(mine())
    ).one()
    if total <= max_points:
        return None, total
    buckets = _bucket_count(max_points, has_nan=valued < total)
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
        found = select(column).where(mine(q.c), q.c.step == step)
        return found.correlate(picked).scalar_subquery()

    query = select(step, at_step(q.c.value), at_step(q.c.timestamp)).order_by(step)
    rows = conn.execute(query)  # a bucket of NaN only has no lowest or highest: a NULL step
    points = [MetricPoint(s, nan_if_none(v), t) for s, v, t in rows if s is not None]
    return points, total
