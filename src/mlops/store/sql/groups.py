"""Grouping iterations in SQL: one GROUP BY over the iterations joined to the grouping keys'
parameter/tag rows and the chosen metrics' summary rows (each an outer join on its primary
key), ranked by a window function, with every group past the first ``limit`` gathered into one
"others" row by the same statement. Mean and standard deviation come from sums of the values
shifted by a per-metric reference (read from the summaries' index), so the variance stays exact
to many digits. A second statement lists the first iteration ids of each listed group. The
groups' mean curves are in :mod:`mlops.store.sql.group_curves`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    case,
    func,
    literal,
    literal_column,
    select,
    tuple_,
)
from sqlalchemy.sql import FromClause

from mlops.errors import InvalidInput
from mlops.groups import (
    MAX_GROUP_LIMIT,
    MAX_GROUP_METRICS,
    MAX_IDS_PER_GROUP,
    IterationGroup,
    IterationGroups,
    field_name,
    parse_group_by,
    parse_group_order,
    spread,
)
from mlops.query import Field
from mlops.store.sql.hints import indexed_alias
from mlops.store.sql.iterations import _scoped, live
from mlops.store.sql.models import (
    ITERATION_TAGS,
    ITERATIONS,
    METRIC_SUMMARIES,
    PARAMETERS,
)
from mlops.store.sql.rows import decode_parameter
from mlops.values import check_name

__all__ = ["GroupPlan", "as_float", "find_groups", "group_iterations", "references"]

#: (iteration_id, name, last): a metric's final value of an iteration without its row.
_SUMMARY_INDEX = "ix_metric_summaries_iteration_last"
#: (iteration_id, name, value_json, value_num): a key's value of an iteration without its row
#: (SQLite only; see :data:`mlops.store.sql.models.SQLITE_ONLY_INDEXES`).
_PARAMETER_INDEX = "ix_parameters_iteration_value"

_ONE: ColumnElement[int] = literal_column("1")
_ZERO: ColumnElement[int] = literal_column("0")


def _check(metrics: Sequence[str], limit: int, ids_per_group: int) -> list[str]:
    if isinstance(metrics, str):
        raise InvalidInput(f"metrics must be a list of metric names, not the string {metrics!r}")
    names = list(dict.fromkeys(metrics))
    if len(names) > MAX_GROUP_METRICS:
        raise InvalidInput(f"a grouping aggregates at most {MAX_GROUP_METRICS} metrics")
    for name in names:
        check_name(name, "metric name")
    for what, value, top in (("limit", limit, MAX_GROUP_LIMIT),
                             ("ids_per_group", ids_per_group, MAX_IDS_PER_GROUP)):  # fmt: skip
        low = 1 if what == "limit" else 0
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= top:
            raise InvalidInput(f"{what} must be a whole number from {low} to {top}, got {value!r}")
    return names


class GroupPlan:
    """The FROM clause of a grouping (iterations outer-joined to each key's rows and each
    metric's summary) and its key and value columns."""

    def __init__(self, fields: list[Field], metrics: list[str]) -> None:
        source: FromClause = ITERATIONS
        self.values_of_keys: list[ColumnElement[Any]] = []
        self.keys: list[ColumnElement[Any]] = []
        self.flags: list[ColumnElement[Any]] = []
        self.numbers: list[ColumnElement[Any] | None] = []
        for n, found in enumerate(fields):
            row: FromClause
            if found.kind == "param":
                row = indexed_alias(PARAMETERS, _PARAMETER_INDEX, f"group_key_{n}")
                on = and_(row.c.iteration_id == ITERATIONS.c.id, row.c.name == found.name)
                value, number = row.c.value_json, row.c.value_num
            else:
                row = ITERATION_TAGS.alias(f"group_key_{n}")
                on = and_(row.c.iteration_id == ITERATIONS.c.id, row.c.key == found.name)
                value, number = row.c.value, None
            source = source.outerjoin(row, on)
            # NULL only where the iteration lacks the key (the stored value is never NULL)
            self.values_of_keys.append(value)
            # '' is never a parameter's JSON; a tag may be '': the flag tells missing apart
            self.keys.append(func.coalesce(value, ""))
            self.flags.append(case((value.is_(None), _ONE), else_=_ZERO))
            self.numbers.append(number)
        self.values: list[ColumnElement[Any]] = []
        for n, name in enumerate(metrics):
            # the final value from the covering index, not the row behind the primary key
            summary = indexed_alias(METRIC_SUMMARIES, _SUMMARY_INDEX, f"group_metric_{n}")
            on = and_(summary.c.iteration_id == ITERATIONS.c.id, summary.c.name == name)
            source = source.outerjoin(summary, on)
            self.values.append(summary.c.last)
        self.source = source


def references(conn: Connection, experiment_id: str, metrics: list[str]) -> list[float]:
    """A value near each metric's values (the middle of its range in the experiment, from the
    summaries' index): the sums are taken of the values minus it."""
    s = METRIC_SUMMARIES.c
    refs = []
    for name in metrics:
        where = (s.experiment_id == experiment_id, s.name == name, s.last.is_not(None))
        low = conn.execute(select(s.last).where(*where).order_by(s.last.asc()).limit(1)).scalar()
        high = conn.execute(select(s.last).where(*where).order_by(s.last.desc()).limit(1)).scalar()
        middle = 0.0 if low is None or high is None else (float(low) + float(high)) / 2
        refs.append(middle if middle - middle == 0 else 0.0)  # not for ±inf
    return refs


def group_iterations(
    conn: Connection,
    experiment_id: str,
    group_by: str | Sequence[str],
    filter: str | None,
    metrics: Sequence[str],
    order: str | None,
    limit: int,
    ids_per_group: int,
    now: float,
) -> IterationGroups:
    """The groups of the live iterations of an experiment matching ``filter`` (see
    :meth:`mlops.store.base.Store.group_iterations`)."""
    args = (conn, experiment_id, group_by, filter, metrics, order, limit, ids_per_group, now)
    return find_groups(*args)[0]


def find_groups(
    conn: Connection,
    experiment_id: str,
    group_by: str | Sequence[str],
    filter: str | None,
    metrics: Sequence[str],
    order: str | None,
    limit: int,
    ids_per_group: int,
    now: float,
) -> tuple[IterationGroups, list[tuple[Any, ...]]]:
    """:func:`group_iterations`, and the stored keys of the listed groups, in order."""
    fields = parse_group_by(group_by)
    names = _check(metrics, limit, ids_per_group)
    ordering = parse_group_order(order)
    if ordering.metric is not None and ordering.metric not in names:
        names.append(ordering.metric)
    plan = GroupPlan(fields, names)
    refs = references(conn, experiment_id, names)
    stored_values = [v.label(f"v{n}") for n, v in enumerate(plan.values_of_keys)]
    numbers = [
        func.min(number).label(f"num{n}")
        for n, number in enumerate(plan.numbers)
        if number is not None
    ]
    sums: list[ColumnElement[Any]] = []
    for n, (value, ref) in enumerate(zip(plan.values, refs, strict=True)):
        shifted = value - literal(ref)
        sums += [
            func.count(value).label(f"c{n}"),
            func.sum(shifted).label(f"s{n}"),
            func.sum(shifted * shifted).label(f"q{n}"),
            func.min(value).label(f"lo{n}"),
            func.max(value).label(f"hi{n}"),
        ]
    totals = [*numbers, func.count().label("n"), *sums]
    grouped_query = select(*stored_values, *totals)
    grouped_query = _scoped(
        grouped_query.select_from(plan.source), experiment_id, None, filter, now, live(conn)
    )
    # grouped by the stored values themselves (NULL: the key is missing); each group's key
    # text and missing flag are made after, once per group: made per iteration, they cost
    # ~30 of ~330 ms at 100,000 iterations (measured on SQLite)
    by_value = grouped_query.group_by(*plan.values_of_keys).subquery("by_value")
    b = by_value.c
    stored = [b[f"v{n}"] for n in range(len(fields))]
    grouped = select(
        *(func.coalesce(v, "").label(f"k{n}") for n, v in enumerate(stored)),
        *(case((v.is_(None), _ONE), else_=_ZERO).label(f"x{n}") for n, v in enumerate(stored)),
        *(b[total.name] for total in totals),
    ).cte("grouped")
    g = grouped.c

    def nulls_last(column: ColumnElement[Any]) -> ColumnElement[Any]:
        return case((column.is_(None), _ONE), else_=_ZERO)

    order_by: list[ColumnElement[Any]] = []
    if ordering.metric is None:
        order_by.append(g.n.desc() if ordering.descending else g.n.asc())
    else:
        k = names.index(ordering.metric)
        valued = g[f"c{k}"]
        measure = {
            "mean": case((valued > 0, g[f"s{k}"] / valued)),
            "min": g[f"lo{k}"],
            "max": g[f"hi{k}"],
        }[ordering.by]
        order_by += [nulls_last(measure), measure.desc() if ordering.descending else measure]
    for n in range(len(fields)):  # ties: missing last, numbers by value, then the text
        order_by.append(g[f"x{n}"])
        if f"num{n}" in g:
            order_by += [nulls_last(g[f"num{n}"]), g[f"num{n}"]]
        order_by.append(g[f"k{n}"])
    rank = func.row_number().over(order_by=order_by)
    bucket = case((rank <= limit, rank), else_=literal(limit + 1)).label("bucket")
    ranked = select(grouped, bucket).subquery("ranked")
    r = ranked.c
    gathered: list[ColumnElement[Any]] = [r.bucket, func.count().label("groups"), func.sum(r.n)]
    gathered += [func.min(r[f"k{n}"]) for n in range(len(fields))]
    gathered += [func.min(r[f"x{n}"]) for n in range(len(fields))]
    for n in range(len(names)):
        gathered += [
            func.sum(r[f"c{n}"]),
            func.sum(r[f"s{n}"]),
            func.sum(r[f"q{n}"]),
            func.min(r[f"lo{n}"]),
            func.max(r[f"hi{n}"]),
        ]
    rows = conn.execute(select(*gathered).group_by(r.bucket).order_by(r.bucket)).all()
    width = len(fields)
    groups: list[IterationGroup] = []
    raw_keys: list[tuple[Any, ...]] = []
    for row in rows:
        bucket_no, count_groups, count = int(row[0]), int(row[1]), int(row[2])
        texts, missing = row[3 : 3 + width], [bool(int(x)) for x in row[3 + width : 3 + 2 * width]]
        spreads = {}
        for n, name in enumerate(names):
            c, s, q, lo, hi = row[3 + 2 * width + 5 * n : 3 + 2 * width + 5 * (n + 1)]
            spreads[name] = spread(int(c or 0), as_float(s), as_float(q), lo, hi, refs[n])
        if bucket_no > limit:
            groups.append(IterationGroup((), (), count, spreads, (), True, count_groups))
            continue
        values = tuple(
            None if gone else _decode(found, text)
            for found, text, gone in zip(fields, texts, missing, strict=True)
        )
        raw_keys.append((*texts, *(int(m) for m in missing)))
        groups.append(IterationGroup(values, tuple(missing), count, spreads))
    if ids_per_group and raw_keys:
        ids = _first_ids(conn, experiment_id, fields, filter, now, raw_keys, ids_per_group)
        groups = [
            _with_ids(group, ids.get(raw_keys[n], ())) if not group.others else group
            for n, group in enumerate(groups)
        ]
    found = IterationGroups(
        tuple(field_name(f) for f in fields),
        tuple(names),
        ordering.text(),
        groups,
        sum(g.count for g in groups),
        sum(g.groups for g in groups),
    )
    return found, raw_keys


def as_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _decode(found: Field, text: str) -> Any:
    return decode_parameter(text) if found.kind == "param" else text


def _with_ids(group: IterationGroup, ids: Sequence[str]) -> IterationGroup:
    return IterationGroup(group.key, group.missing, group.count, group.metrics, tuple(ids))


def _members(
    conn: Connection,
    experiment_id: str,
    plan: GroupPlan,
    filter: str | None,
    now: float,
    raw_keys: list[tuple[Any, ...]],
    *columns: ColumnElement[Any],
) -> Any:
    """The iterations of the listed groups: their id, key columns and ``columns``."""
    keys = [*plan.keys, *plan.flags]
    query = select(ITERATIONS.c.id, *(k.label(f"k{n}") for n, k in enumerate(keys)), *columns)
    # the filter is checked on each row read (newest first, stopping early), not by listing
    # all of the experiment's matches first: no experiment for where_clause's range form
    query = _scoped(query.select_from(plan.source), None, None, filter, now, live(conn))
    query = query.where(ITERATIONS.c.experiment_id == experiment_id)
    return query.where(tuple_(*keys).in_(raw_keys))


def _first_ids(
    conn: Connection,
    experiment_id: str,
    fields: list[Field],
    filter: str | None,
    now: float,
    raw_keys: list[tuple[Any, ...]],
    cap: int,
) -> dict[tuple[Any, ...], list[str]]:
    """The first ``cap`` iteration ids (newest first) of each listed group, by raw key.

    One query reads the listed groups' members newest first (their keys only, no metric) and
    is read row by row until every group has ``cap`` ids: big groups cost ``cap`` rows each,
    and the filter's conditions are evaluated once, not once per group. On PostgreSQL the rows
    come from a server-side cursor, so they are not all sent when reading stops early."""
    plan = GroupPlan(fields, [])
    newest = _members(conn, experiment_id, plan, filter, now, raw_keys)
    newest = newest.order_by(ITERATIONS.c.started_at.desc(), ITERATIONS.c.id)
    found: dict[tuple[Any, ...], list[str]] = {key: [] for key in raw_keys}
    waiting = len(found)
    result = conn.execution_options(stream_results=True, max_row_buffer=1000).execute(newest)
    try:
        for row in result:
            ids = found[_raw(row[1:])]
            if len(ids) < cap:
                ids.append(row[0])
                if len(ids) == cap:
                    waiting -= 1
                    if not waiting:
                        break
    finally:
        result.close()
    return found


def _raw(values: Sequence[Any]) -> tuple[Any, ...]:
    half = len(values) // 2
    return (*values[:half], *(int(v) for v in values[half:]))
