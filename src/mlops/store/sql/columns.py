"""Metric series of the SQL store, read in bulk: each statement goes through the driver's own
cursor, its rows fetched in large chunks and packed into columns
(:class:`~mlops.series.MetricColumns`), with no SQLAlchemy row and no Python object per point.

One read serves one metric of many iterations (a chart of 100 curves, a live page's increments)
in a fixed number of statements, whatever the number of iterations: a count of every series,
one read of those that fit whole or are a few times longer than the chart (downsampled in
memory, :mod:`.series_memory`), one downsampling in SQL of the long ones (:mod:`.series`); or, for
the points after a step, one read of every iteration's page. The single-series methods are
that read for one iteration.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from sqlalchemy import Connection

from mlops.entities import MetricPoint
from mlops.errors import NotFound, Unavailable
from mlops.series import MetricColumns
from mlops.store import rules
from mlops.store.sql.engine import DriverCursor
from mlops.store.sql.runs import IterationMethods, not_found
from mlops.store.sql.series import downsample, shapes
from mlops.store.sql.series_memory import downsample_whole
from mlops.values import INT64_MAX

_HISTORY = (
    "SELECT step, value, timestamp FROM metric_points "
    "WHERE iteration_id = {p} AND name = {p} ORDER BY step, seq"
)
_EXISTS = "SELECT 1 FROM iterations WHERE id = {p}"
_NAMES = "SELECT name FROM metric_summaries WHERE iteration_id = {p}"
#: Iterations of one statement of per-iteration pages (SQLite joins at most 500 SELECTs).
_PAGES_AT_ONCE = 100
#: A series at most this many times longer than the chart is read whole and downsampled in
#: memory (the same points): reading 2,000 points in bulk costs less than the SQL downsampling's
#: scans and lookups per bucket; a longer one is downsampled in SQL, never read whole.
_IN_MEMORY_FACTOR = 4
#: Steps are 0 or more: "after step -1" is the whole series.
_BEFORE_EVERY_STEP = -1


@functools.lru_cache(maxsize=64)
def _counts_sql(count: int) -> str:
    """How many points each of ``count`` iterations' series has (the ids bound, then the
    name), in the order of the iteration ids as the database sorts them (the ids bound are
    text of the database's default collation, which the schema's id columns have): one index
    range count per iteration (a GROUP BY would sort every point first where the planner has
    no statistics yet)."""
    rows = ", ".join(["({p})"] * count)
    return (
        f"WITH i (id) AS (VALUES {rows}) SELECT i.id, (SELECT COUNT(*) FROM metric_points AS m "
        "WHERE m.iteration_id = i.id AND m.name = {p}) FROM i ORDER BY i.id"
    )


@functools.lru_cache(maxsize=64)
def _whole_sql(count: int) -> str:
    """Every point of ``count`` iterations' series one after the other, in the order of
    :func:`_counts_sql` (no id on each row: the counts cut them apart)."""
    marks = ", ".join(["{p}"] * count)
    return (
        "SELECT step, value, timestamp FROM metric_points "
        f"WHERE iteration_id IN ({marks}) AND name = {{p}} ORDER BY iteration_id, step, seq"
    )


def _whole(
    cur: DriverCursor, counted: Sequence[tuple[str, int]], metric_name: str
) -> dict[str, MetricColumns]:
    """Every point of the series counted (iteration id, points, in the database's order of
    ids), read in one statement of the same snapshot as the counts."""
    ids = [iteration_id for iteration_id, _ in counted]
    every = MetricColumns.of_chunks(cur.chunks(_whole_sql(len(ids)), [*ids, metric_name]))
    if len(every) != sum(n for _, n in counted):
        raise Unavailable(
            f"the series of {metric_name!r} changed while they were read in one snapshot "
            f"({len(every):,} points instead of {sum(n for _, n in counted):,}): retry"
        )
    found, start = {}, 0
    for iteration_id, n in counted:
        found[iteration_id] = MetricColumns(
            every.steps[start : start + n],
            every.values[start : start + n],
            every.timestamps[start : start + n],
        )
        start += n
    return found


@functools.lru_cache(maxsize=64)
def _pages_sql(count: int) -> str:
    """The first points after a step of ``count`` iterations' series, each its own index range
    scan that stops at its limit: (id, name, after step, limit) bound for each."""
    page = (
        "SELECT * FROM (SELECT iteration_id, step, value, timestamp, seq FROM metric_points "
        "WHERE iteration_id = {{p}} AND name = {{p}} AND step > {{p}} "
        "ORDER BY step, seq LIMIT {{p}}) AS page{k}"
    )
    return " UNION ALL ".join(page.format(k=k) for k in range(count)) + " ORDER BY 1, 2, 5"


@functools.lru_cache(maxsize=64)
def _steps_sql(count: int) -> str:
    """Every point at one step of ``count`` iterations' series: (id, name, step) bound for
    each."""
    step = (
        "SELECT iteration_id, step, value, timestamp, seq FROM metric_points "
        "WHERE iteration_id = {p} AND name = {p} AND step = {p}"
    )
    return " UNION ALL ".join([step] * count) + " ORDER BY 1, 5"


def _missing(cur: DriverCursor, iteration_id: str, metric_name: str) -> NotFound:
    """Why an iteration has no point of a metric: the iteration is unknown, or which metrics
    it has."""
    if not cur.rows(_EXISTS, (iteration_id,)):
        return not_found(iteration_id)
    known = ", ".join(sorted(name for (name,) in cur.rows(_NAMES, (iteration_id,)))) or "none"
    return NotFound(
        f"iteration {iteration_id!r} has no metric {metric_name!r} (its metrics: {known})"
    )


def _head(columns: MetricColumns, count: int) -> MetricColumns:
    """The first ``count`` points of a series."""
    return MetricColumns(columns.steps[:count], columns.values[:count], columns.timestamps[:count])


def _pages(
    cur: DriverCursor, iteration_ids: Sequence[str], metric_name: str, after_step: int, limit: int
) -> dict[str, MetricColumns]:
    """The points of each series after ``after_step``, by step, ``limit`` of them, a full page
    ending with every point of its last step; an iteration without such points is left out."""
    found: dict[str, MetricColumns] = {}
    for start in range(0, len(iteration_ids), _PAGES_AT_ONCE):
        part = iteration_ids[start : start + _PAGES_AT_ONCE]
        # one point past the limit tells whether the page's last step goes on
        params = [x for i in part for x in (i, metric_name, after_step, min(limit + 1, INT64_MAX))]
        found.update(MetricColumns.of_keyed_chunks(cur.chunks(_pages_sql(len(part)), params)))
    going_on: dict[str, int] = {}  # iteration id -> the step its page cut
    for iteration_id, page in found.items():
        if len(page) > limit:
            if page.steps[limit] == page.steps[limit - 1]:
                going_on[iteration_id] = page.steps[limit]
            found[iteration_id] = _head(page, limit)
    if going_on:  # several values at that step (every_value): rare, so a second look
        params = [x for i, step in going_on.items() for x in (i, metric_name, step)]
        ends = MetricColumns.of_keyed_chunks(cur.chunks(_steps_sql(len(going_on)), params))
        for iteration_id, step in going_on.items():
            page, end = found[iteration_id], ends.get(iteration_id)
            if end is not None:
                keep = page.steps.index(step)  # where the cut step begins
                found[iteration_id] = MetricColumns(
                    page.steps[:keep] + end.steps,
                    page.values[:keep] + end.values,
                    page.timestamps[:keep] + end.timestamps,
                )
    return found


def read_columns(conn: Connection, iteration_id: str, metric_name: str) -> MetricColumns:
    """Every point of one metric (an empty series when there is none: the caller says why)."""
    cursor = DriverCursor(conn)
    return MetricColumns.of_chunks(cursor.chunks(_HISTORY, (iteration_id, metric_name)))


class SeriesReads(IterationMethods):
    """Series of the SQL store read in columns (the history and the charts' series are built
    from them)."""

    def get_metric_columns(self, iteration_id: str, metric_name: str) -> MetricColumns:
        with self._read("get metric history") as conn:
            columns = read_columns(conn, iteration_id, metric_name)
            if not columns:
                raise _missing(DriverCursor(conn), iteration_id, metric_name)
        return columns

    def get_metric_history(self, iteration_id: str, metric_name: str) -> list[MetricPoint]:
        return self.get_metric_columns(iteration_id, metric_name).points()

    def get_metric_page(
        self,
        iteration_id: str,
        metric_name: str,
        after_step: int | None = None,
        limit: int = 50_000,
    ) -> list[MetricPoint]:
        rules.check_page(limit, 0)
        after = (
            _BEFORE_EVERY_STEP if after_step is None else rules.check_int(after_step, "after_step")
        )
        if not limit:
            return []
        with self._read("get metric points") as conn:
            cur = DriverCursor(conn)
            page = _pages(cur, [iteration_id], metric_name, after, limit).get(iteration_id)
            if page is None and after_step is None:  # says what is missing
                raise _missing(cur, iteration_id, metric_name)
        return [] if page is None else page.points()

    def get_metric_series(
        self, iteration_id: str, metric_name: str, max_points: int
    ) -> tuple[list[MetricPoint], int]:
        columns, total = self.get_metric_series_columns(iteration_id, metric_name, max_points)
        return columns.points(), total

    def get_metric_series_columns(
        self, iteration_id: str, metric_name: str, max_points: int
    ) -> tuple[MetricColumns, int]:
        return self.get_metric_series_batch([iteration_id], metric_name, max_points)[iteration_id]

    def get_metric_series_batch(
        self,
        iteration_ids: Sequence[str],
        metric_name: str,
        max_points: int,
        after_step: int | None = None,
    ) -> dict[str, tuple[MetricColumns, int]]:
        ids = rules.check_series_batch(iteration_ids, max_points, after_step)
        if not ids:
            return {}
        if after_step is not None:
            with self._read("get metric series") as conn:
                pages = _pages(DriverCursor(conn), ids, metric_name, after_step, max_points)
            # an iteration with nothing after the step (or no such series): an empty one
            found = {i: pages.get(i) or MetricColumns() for i in ids}
            return {i: (columns, len(columns)) for i, columns in found.items()}
        with self._snapshot("get metric series") as conn:
            cur = DriverCursor(conn)
            counted = [(i, n) for i, n in cur.rows(_counts_sql(len(ids)), [*ids, metric_name]) if n]
            totals = dict(counted)
            missing = next((i for i in ids if i not in totals), None)
            if missing is not None:
                raise _missing(cur, missing, metric_name)
            in_memory = max_points * _IN_MEMORY_FACTOR
            whole = [(i, n) for i, n in counted if n <= in_memory]
            found = _whole(cur, whole, metric_name) if whole else {}
            long = [i for i in ids if totals[i] > in_memory]
            if long:
                found.update(
                    downsample(cur, metric_name, shapes(cur, long, metric_name), max_points)
                )
        for iteration_id, n in whole:
            if n > max_points:
                found[iteration_id] = downsample_whole(found[iteration_id], max_points)
        return {i: (found.get(i) or MetricColumns(), totals[i]) for i in ids}
