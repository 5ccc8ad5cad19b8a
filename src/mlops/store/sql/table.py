"""Pages of iterations as columns (for DataFrames): the same page of ids as a search, then one
bulk query per kind of value, read as plain tuples, with every parameter of the page decoded by
a single JSON parse. No entity is built per iteration."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Select, select

from mlops.entities import effective_status
from mlops.store.base import IterationTable
from mlops.store.sql.engine import driver_rows
from mlops.store.sql.iterations import page_ids
from mlops.store.sql.models import ITERATION_TAGS, ITERATIONS, METRIC_SUMMARIES, PARAMETERS
from mlops.store.sql.rows import nan_if_none

__all__ = ["iteration_table"]


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
    # one parse for the page: json.loads per value costs more than the value's parsing
    table.parameters[2].extend(json.loads("[" + ",".join(r[2] for r in params) + "]"))
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


def _tuples(conn: Connection, query: Select[Any]) -> list[Any]:
    """The rows of a query of text and number columns as the driver's own tuples: building
    SQLAlchemy rows costs more than the database's work here."""
    return driver_rows(conn, conn.execute(query))
