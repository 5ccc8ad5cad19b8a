"""Pages of iterations as columns (for DataFrames, and the chosen values the experiment page's
charts draw): the same page of ids as a search, then one bulk query per kind of value, read as
plain tuples, with every parameter of the page decoded by a single JSON parse. No entity is
built per iteration."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Select, select

from mlops.charts import IterationValues
from mlops.entities import effective_status
from mlops.store.base import IterationTable
from mlops.store.sql.engine import DriverCursor, driver_rows
from mlops.store.sql.iterations import decoded_parameters, page_ids
from mlops.store.sql.models import ITERATION_TAGS, ITERATIONS, METRIC_SUMMARIES, PARAMETERS
from mlops.store.sql.rows import nan_if_none

__all__ = ["iteration_table", "iteration_values"]


def iteration_table(
    conn: Connection,
    experiment_id: str | None,
    project_id: str | None,
    filter: str | None,
    order_by: str | Sequence[str] | None,
    limit: int,
    offset: int,
    now: float,
) -> IterationTable:
    """One page of at most ``limit`` iterations (keep it at a few thousand: the ids are bound
    parameters of each query) as columns, in the search's order."""
    ids = page_ids(conn, experiment_id, project_id, filter, order_by, limit, offset, now)
    table = IterationTable()
    if not ids:
        return table

    i = ITERATIONS.c
    found = {
        row[0]: row
        for row in _tuples(
            conn,
            select(
                i.id, i.name, i.status, i.heartbeat_at, i.experiment_id, i.started_at, i.ended_at
            ).where(i.id.in_(ids)),
        )
    }
    position: dict[str, int] = {}
    for iteration_id in ids:
        row = found.get(iteration_id)
        if row is None:  # deleted between the two queries
            continue
        position[iteration_id] = len(table.ids)
        table.ids.append(iteration_id)
        table.names.append(row[1])
        table.statuses.append(effective_status(row[2], row[3], now))
        table.experiment_ids.append(row[4])
        table.started_at.append(row[5])
        table.ended_at.append(row[6])
    p, m, t = PARAMETERS.c, METRIC_SUMMARIES.c, ITERATION_TAGS.c
    params = _tuples(
        conn, select(p.iteration_id, p.name, p.value_json).where(p.iteration_id.in_(ids))
    )
    table.parameters[0].extend(position[r[0]] for r in params)
    table.parameters[1].extend(r[1] for r in params)
    table.parameters[2].extend(decoded_parameters([r[2] for r in params]))
    metrics = _tuples(conn, select(m.iteration_id, m.name, m.last).where(m.iteration_id.in_(ids)))
    for iteration_id, name, last in metrics:
        table.metrics[0].append(position[iteration_id])
        table.metrics[1].append(name)
        table.metrics[2].append(nan_if_none(last))
    for iteration_id, key, value in _tuples(
        conn, select(t.iteration_id, t.key, t.value).where(t.iteration_id.in_(ids))
    ):
        table.tags[0].append(position[iteration_id])
        table.tags[1].append(key)
        table.tags[2].append(value)
    return table


def iteration_values(
    conn: Connection,
    experiment_id: str,
    filter: str | None,
    order_by: str | Sequence[str] | None,
    limit: int,
    parameter_names: Sequence[str],
    metric_names: Sequence[str],
    now: float,
) -> IterationValues:
    """The first ``limit`` live iterations of an experiment matching the filter, with only the
    named parameters and metrics (names checked by the caller), in columns: one statement per
    few thousand ids, each value a lookup by primary key (iteration_id, name)."""
    ids = page_ids(conn, experiment_id, None, filter, order_by, limit + 1, 0, now)
    more, ids = len(ids) > limit, ids[:limit]
    cur = DriverCursor(conn)
    p = cur.sql("{p}")
    picked = [
        *(f"(SELECT value_json FROM parameters WHERE iteration_id = i.id AND name = {p})"
          for _ in parameter_names),
        # a stored NULL is NaN (see nan_if_none); no row at all gives NULL: no such metric
        *(f"(SELECT COALESCE(last, 'NaN') FROM metric_summaries "
          f"WHERE iteration_id = i.id AND name = {p})" for _ in metric_names),
    ]  # fmt: skip
    columns = ", ".join(["i.id", "i.name", *picked])
    names = [*parameter_names, *metric_names]
    found: dict[str, Any] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        statement = f"SELECT {columns} FROM iterations AS i WHERE i.id IN ({cur.marks(len(chunk))})"
        found.update((row[0], row) for row in cur.fetch(statement, [*names, *chunk]))
    rows = [found[i] for i in ids if i in found]  # an iteration deleted since is left out
    width = len(parameter_names)
    texts = [text for row in rows for text in row[2 : 2 + width] if text is not None]
    decoded = iter(decoded_parameters(texts))
    parameters: dict[str, list[Any]] = {name: [] for name in parameter_names}
    for row in rows:
        for name, text in zip(parameter_names, row[2 : 2 + width], strict=True):
            parameters[name].append(None if text is None else next(decoded))
    metrics = {
        name: [_number(row[2 + width + k]) for row in rows] for k, name in enumerate(metric_names)
    }
    return IterationValues(
        ids=[row[0] for row in rows],
        names=[row[1] for row in rows],
        parameters=parameters,
        metrics=metrics,
        more=more,
    )


def _number(last: Any) -> float | None:
    """A metric's last value as :func:`iteration_values` reads it: None (no such metric), the
    text ``'NaN'`` on SQLite (a NULL summary), else the float."""
    return math.nan if isinstance(last, str) else last


#: Ids bound in one statement of :func:`iteration_values` (SQLite's limit is 32,766).
_CHUNK = 5_000


def _tuples(conn: Connection, query: Select[Any]) -> list[Any]:
    """The rows of a query of text and number columns as the driver's own tuples: building
    SQLAlchemy rows costs more than the database's work here."""
    return driver_rows(conn, conn.execute(query))
