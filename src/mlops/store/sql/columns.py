"""Whole metric series read in bulk: one statement through the driver's own cursor, its rows
fetched at once and packed into columns (:class:`~mlops.series.MetricColumns`), with no
SQLAlchemy row and no Python object per point left behind."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from mlops.entities import MetricPoint
from mlops.series import MetricColumns
from mlops.store.sql.engine import driver_rows
from mlops.store.sql.runs import IterationMethods

_SERIES = (
    "SELECT step, value, timestamp FROM metric_points "
    "WHERE iteration_id = {iteration_id} AND name = {name} ORDER BY step, seq"
)


def read_columns(conn: Connection, iteration_id: str, metric_name: str) -> MetricColumns:
    """Every point of one metric (an empty series when there is none: the caller says why)."""
    style = conn.dialect.paramstyle
    marks = {"named": (":iteration_id", ":name"), "pyformat": ("%(iteration_id)s", "%(name)s")}
    if style not in marks:  # a driver this code does not know: its positional marks
        mark = "?" if style == "qmark" else "%s"
        sql = _SERIES.format(iteration_id=mark, name=mark)
        params: Any = (iteration_id, metric_name)
    else:
        first, second = marks[style]
        sql = _SERIES.format(iteration_id=first, name=second)
        params = {"iteration_id": iteration_id, "name": metric_name}
    return MetricColumns.of_rows(driver_rows(conn, conn.exec_driver_sql(sql, params)))


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
