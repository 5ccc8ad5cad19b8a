"""Whole metric series read in bulk: one statement through the driver's own cursor, its rows
fetched in large chunks and packed into columns (:class:`~mlops.series.MetricColumns`), with no
SQLAlchemy row and no Python object per point left behind."""

from __future__ import annotations

from sqlalchemy import Connection

from mlops.entities import MetricPoint
from mlops.errors import InvalidInput
from mlops.series import MetricColumns
from mlops.store.sql.engine import DriverCursor
from mlops.store.sql.runs import IterationMethods
from mlops.store.sql.series import downsample

_SERIES = (
    "SELECT step, value, timestamp FROM metric_points "
    "WHERE iteration_id = {p} AND name = {p} ORDER BY step, seq"
)


def read_columns(conn: Connection, iteration_id: str, metric_name: str) -> MetricColumns:
    """Every point of one metric (an empty series when there is none: the caller says why)."""
    cursor = DriverCursor(conn)
    return MetricColumns.of_chunks(cursor.chunks(_SERIES, (iteration_id, metric_name)))


class SeriesReads(IterationMethods):
    """Series of the SQL store read in columns (the history is built from them)."""

    def get_metric_columns(self, iteration_id: str, metric_name: str) -> MetricColumns:
        with self._read("get metric history") as conn:
            columns = read_columns(conn, iteration_id, metric_name)
        if not columns:
            IterationMethods.get_metric_history(self, iteration_id, metric_name)  # says why
        return columns

    def get_metric_history(self, iteration_id: str, metric_name: str) -> list[MetricPoint]:
        return self.get_metric_columns(iteration_id, metric_name).points()

    def get_metric_series_columns(
        self, iteration_id: str, metric_name: str, max_points: int
    ) -> tuple[MetricColumns, int]:
        # one read: the count, then the whole series in bulk when it fits (no point objects)
        if max_points < 4:
            raise InvalidInput(f"max_points must be at least 4, got {max_points}")
        with self._read("get metric series") as conn:
            points, total = downsample(conn, iteration_id, metric_name, max_points)
            columns = read_columns(conn, iteration_id, metric_name) if points is None else None
        if columns is None:
            return MetricColumns.of_points(points or []), total
        if not columns:
            IterationMethods.get_metric_history(self, iteration_id, metric_name)  # says why
        return columns, total
